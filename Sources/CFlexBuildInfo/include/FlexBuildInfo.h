// What a build knows about itself that Swift cannot take from the command line: the commit it was built
// from. `scripts/package` provides it (see FlexBuildInfo.c); other builds say "unknown".
#ifndef FLEX_BUILD_INFO_H
#define FLEX_BUILD_INFO_H

/// The commit this binary was built from (a git hash, "+dirty" when the tree had changes), or "unknown".
const char *fm_build_commit(void);

#endif
