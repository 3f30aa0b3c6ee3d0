/*
 * 1-Wire bus master for ESP32 (written for the ESP32-C3) on one open-drain GPIO,
 * bit-banged with microsecond delays: the device side of `sensors/bus`.
 * Compiled only in the device build (esp32/ folders are not built into the
 * simulator host); bus.js is its JS shim and turns the reset status into typed errors.
 *
 * Facts implemented (notes/ds18b20.md; Maxim application note 126, standard speed):
 * reset low 480 us, presence sampled 70 us after release, 410 us to the end of the
 * presence window; write-1 low 6 us then 64 us released; write-0 low 60 us then
 * 10 us recovery; read slot low 6 us, sample at 15 us, 55 us to the slot end;
 * bits LSB first. A line that is low before a reset pulse (after 250 us of grace
 * for a slot in progress) or still low 480 us after it is reported as stuck.
 * Parasite power: strongPullUp(true) drives the pin push-pull high until the next
 * bus operation.
 *
 * Timing: each slot's timed part (at most 75 us) runs in a critical section so an
 * interrupt cannot stretch a low pulse into another symbol; between slots
 * interrupts run (1-Wire sets no upper bound on the recovery time). The 480 us
 * reset pulse itself runs with interrupts on: a longer pulse is still a reset.
 */
#include "xsmc.h"
#include "xsHost.h"
#include "mc.xs.h"			// xsID_* values
#include "builtinCommon.h"	// pin ownership shared with embedded:io/digital

#include "driver/gpio.h"
#include "esp_rom_sys.h"
#include "freertos/FreeRTOS.h"

enum {
	kResetLowUs = 480,
	kPresenceSampleUs = 70,
	kResetRestUs = 410,
	kWrite1LowUs = 6,
	kWrite1RestUs = 64,
	kWrite0LowUs = 60,
	kWrite0RestUs = 10,
	kReadLowUs = 6,
	kReadSampleUs = 9,
	kReadRestUs = 55,
	kIdleGraceSteps = 25,		// 25 x 10 us waiting for a slot in progress to end
	kIdleGraceStepUs = 10,
	kMaxReadBytes = 255,
};

enum {
	kResetStuck = -1,
	kResetNoPresence = 0,
	kResetPresence = 1,
};

typedef struct {
	uint8_t		pin;
	uint8_t		strong;		// strong pull-up active
} OneWireGpioRecord, *OneWireGpio;

static portMUX_TYPE gOneWireMux = portMUX_INITIALIZER_UNLOCKED;

void xs_onewire_gpio_destructor(void *data);

static inline void lineLow(OneWireGpio ow)
{
	gpio_set_level(ow->pin, 0);
}

static inline void lineRelease(OneWireGpio ow)
{
	gpio_set_level(ow->pin, 1);		// open drain: 1 lets the pull-up raise the line
}

static inline int lineLevel(OneWireGpio ow)
{
	return gpio_get_level(ow->pin);
}

static void endStrongPullUp(OneWireGpio ow)
{
	if (!ow->strong)
		return;
	gpio_set_direction(ow->pin, GPIO_MODE_INPUT_OUTPUT_OD);
	lineRelease(ow);
	ow->strong = 0;
}

static int busReset(OneWireGpio ow)
{
	int presence, i;

	endStrongPullUp(ow);
	for (i = 0; !lineLevel(ow) && (i < kIdleGraceSteps); i++)
		esp_rom_delay_us(kIdleGraceStepUs);
	if (!lineLevel(ow))
		return kResetStuck;

	lineLow(ow);
	esp_rom_delay_us(kResetLowUs);
	portENTER_CRITICAL(&gOneWireMux);
	lineRelease(ow);
	esp_rom_delay_us(kPresenceSampleUs);
	presence = !lineLevel(ow);
	portEXIT_CRITICAL(&gOneWireMux);
	esp_rom_delay_us(kResetRestUs);

	if (!lineLevel(ow))
		return kResetStuck;		// presence pulses end within 300 us of the release
	return presence ? kResetPresence : kResetNoPresence;
}

static void busWriteBit(OneWireGpio ow, int bit)
{
	endStrongPullUp(ow);
	portENTER_CRITICAL(&gOneWireMux);
	lineLow(ow);
	esp_rom_delay_us(bit ? kWrite1LowUs : kWrite0LowUs);
	lineRelease(ow);
	portEXIT_CRITICAL(&gOneWireMux);
	esp_rom_delay_us(bit ? kWrite1RestUs : kWrite0RestUs);
}

static int busReadBit(OneWireGpio ow)
{
	int bit;

	endStrongPullUp(ow);
	portENTER_CRITICAL(&gOneWireMux);
	lineLow(ow);
	esp_rom_delay_us(kReadLowUs);
	lineRelease(ow);
	esp_rom_delay_us(kReadSampleUs);
	bit = lineLevel(ow);
	portEXIT_CRITICAL(&gOneWireMux);
	esp_rom_delay_us(kReadRestUs);
	return bit;
}

static void busWriteByte(OneWireGpio ow, uint8_t byte)
{
	int i;
	for (i = 0; i < 8; i++, byte >>= 1)
		busWriteBit(ow, byte & 1);
}

static uint8_t busReadByte(OneWireGpio ow)
{
	uint8_t byte = 0;
	int i;
	for (i = 0; i < 8; i++)
		byte |= (uint8_t)(busReadBit(ow) << i);
	return byte;
}

static OneWireGpio getBus(xsMachine *the)
{
	if (!xsmcGetHostData(xsThis))
		xsUnknownError("closed");
	return xsmcGetHostDataValidate(xsThis, (void *)xs_onewire_gpio_destructor);
}

void xs_onewire_gpio_destructor(void *data)
{
	OneWireGpio ow = data;
	if (!ow)
		return;
	gpio_reset_pin(ow->pin);
	builtinFreePin(ow->pin);
	c_free(ow);
}

void xs_onewire_gpio(xsMachine *the)
{
	OneWireGpio ow;
	int pin;
	gpio_config_t config = {0};

	xsmcVars(1);
	if (!xsmcHas(xsArg(0), xsID_pin))
		xsUnknownError("pin missing");
	xsmcGet(xsVar(0), xsArg(0), xsID_pin);
	pin = xsmcToInteger(xsVar(0));
	if ((pin < 0) || !GPIO_IS_VALID_OUTPUT_GPIO(pin))
		xsRangeError("invalid pin");
	if (!builtinIsPinFree(pin))
		xsUnknownError("in use");

	ow = c_malloc(sizeof(OneWireGpioRecord));
	if (!ow)
		xsUnknownError("no memory");
	ow->pin = (uint8_t)pin;
	ow->strong = 0;

	config.pin_bit_mask = 1ULL << pin;
	config.mode = GPIO_MODE_INPUT_OUTPUT_OD;
	config.pull_up_en = GPIO_PULLUP_ENABLE;		// weak (~45 kOhm): an external 4.7 kOhm is still required
	config.pull_down_en = GPIO_PULLDOWN_DISABLE;
	config.intr_type = GPIO_INTR_DISABLE;
	if (ESP_OK != gpio_config(&config)) {
		c_free(ow);
		xsUnknownError("can't configure pin");
	}
	lineRelease(ow);
	builtinUsePin(pin);
	xsmcSetHostData(xsThis, ow);
}

void xs_onewire_gpio_close(xsMachine *the)
{
	OneWireGpio ow = xsmcGetHostData(xsThis);
	if (ow && xsmcGetHostDataValidate(xsThis, (void *)xs_onewire_gpio_destructor)) {	// a second close() finds NULL
		xs_onewire_gpio_destructor(ow);
		xsmcSetHostData(xsThis, NULL);
		xsmcSetHostDestructor(xsThis, NULL);
	}
}

/* -1 line stuck low, 0 no presence pulse, 1 presence */
void xs_onewire_gpio_reset(xsMachine *the)
{
	xsmcSetInteger(xsResult, busReset(getBus(the)));
}

void xs_onewire_gpio_write_bit(xsMachine *the)
{
	OneWireGpio ow = getBus(the);
	busWriteBit(ow, xsmcToInteger(xsArg(0)) ? 1 : 0);
}

void xs_onewire_gpio_read_bit(xsMachine *the)
{
	xsmcSetInteger(xsResult, busReadBit(getBus(the)));
}

void xs_onewire_gpio_write_byte(xsMachine *the)
{
	OneWireGpio ow = getBus(the);
	int byte = xsmcToInteger(xsArg(0));
	if ((byte < 0) || (byte > 255))
		xsRangeError("bad byte");
	busWriteByte(ow, (uint8_t)byte);
}

void xs_onewire_gpio_read_byte(xsMachine *the)
{
	xsmcSetInteger(xsResult, busReadByte(getBus(the)));
}

/* reads count bytes into a new ArrayBuffer */
void xs_onewire_gpio_read(xsMachine *the)
{
	OneWireGpio ow = getBus(the);
	int count = xsmcToInteger(xsArg(0));
	uint8_t *bytes;
	xsUnsignedValue length;
	int i;

	if ((count < 0) || (count > kMaxReadBytes))
		xsRangeError("bad count");
	xsmcSetArrayBuffer(xsResult, NULL, count);
	xsmcGetBufferWritable(xsResult, (void **)&bytes, &length);	// after the allocation
	for (i = 0; i < count; i++)
		bytes[i] = busReadByte(ow);
}

void xs_onewire_gpio_strong_pull_up(xsMachine *the)
{
	OneWireGpio ow = getBus(the);
	if (xsmcTest(xsArg(0))) {
		if (ow->strong)
			return;
		gpio_set_direction(ow->pin, GPIO_MODE_OUTPUT);		// push-pull: the pin sources the conversion current
		gpio_set_level(ow->pin, 1);
		ow->strong = 1;
	}
	else
		endStrongPullUp(ow);
}
