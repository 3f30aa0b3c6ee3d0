/* stand-in for ESP-IDF FreeRTOS portmacro (RISC-V): spinlock critical sections */
#include <stdint.h>
typedef struct { uint32_t owner; uint32_t count; } spinlock_t;
typedef spinlock_t portMUX_TYPE;
#define portMUX_INITIALIZER_UNLOCKED { 0xB33FFFFF, 0 }
void vPortEnterCritical(portMUX_TYPE *mux);
void vPortExitCritical(portMUX_TYPE *mux);
#define portENTER_CRITICAL(mux) vPortEnterCritical(mux)
#define portEXIT_CRITICAL(mux) vPortExitCritical(mux)
