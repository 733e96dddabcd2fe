// libxml2's parser and tree API, for OpenADR 2.0b's XML (Sources/OpenADR2b/XMLDocument.swift).
#include <libxml/xmlversion.h>
// Debian builds libxml2 with ICU, whose headers then come in through encoding.h and clash with the copy
// of ICU inside Foundation (the same enums, other members). Nothing here uses libxml2's ICU converters
// (only a pointer to the struct that holds them), so the ICU part of the headers is left out.
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
