// Empty: SwiftPM builds a C target only from at least one source file; CSched.h is all header.
#include "CSched.h"
