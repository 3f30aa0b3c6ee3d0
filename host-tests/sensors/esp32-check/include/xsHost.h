/* stand-in for Moddable's xsHost.h (esp32): c_malloc/c_free */
#include <stdlib.h>
#define c_malloc malloc
#define c_free free
