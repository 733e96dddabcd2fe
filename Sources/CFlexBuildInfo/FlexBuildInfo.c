#include "FlexBuildInfo.h"

// `scripts/package` writes this header (one #define) into its scratch path and adds that directory to
// the include path: only this file is rebuilt when the commit changes, not every module (a -D flag
// would change every compile command).
#if __has_include("flexminer_build_commit.h")
#include "flexminer_build_commit.h"
#endif

#ifndef FLEXMINER_COMMIT
#define FLEXMINER_COMMIT "unknown"
#endif

const char *fm_build_commit(void) { return FLEXMINER_COMMIT; }
