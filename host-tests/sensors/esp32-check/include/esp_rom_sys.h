/* stand-in for ESP-IDF components/esp_rom/include/esp_rom_sys.h */
#include <stdint.h>
void esp_rom_delay_us(uint32_t us);
