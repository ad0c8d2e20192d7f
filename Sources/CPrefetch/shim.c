// Empty: SwiftPM builds a C target only from at least one source file; CPrefetch.h is all header.
#include "CPrefetch.h"
