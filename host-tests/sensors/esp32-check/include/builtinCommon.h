/* stand-in for $(MODDABLE)/modules/io/common/builtinCommon.h (pin ownership) */
#include <stdint.h>
#define kPinBanks (1)
uint8_t builtinArePinsFree(uint32_t bank, uint32_t pin);
uint8_t builtinUsePins(uint32_t bank, uint32_t pin);
void builtinFreePins(uint32_t bank, uint32_t pin);
#define builtinIsPinFree(pin) builtinArePinsFree(pin >> 5, 1 << (pin & 0x1F))
#define builtinUsePin(pin) builtinUsePins(pin >> 5, 1 << (pin & 0x1F))
#define builtinFreePin(pin) builtinFreePins(pin >> 5, 1 << (pin & 0x1F))
