// Empty: SwiftPM builds a C target only from at least one source file; CFutex.h is all header.
#include "CFutex.h"
