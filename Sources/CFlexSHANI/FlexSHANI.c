#include "FlexSHANI.h"
