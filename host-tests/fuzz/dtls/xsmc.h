/*
 * A stand-in for the XS engine's xsmc.h, for fuzzing the C files of modules/dtls-psk
 * without an XS machine. The binding's surface is positional (arguments, results,
 * ArrayBuffers, host data, thrown errors), so this header gives exactly that surface
 * with the semantics XS gives it:
 *
 * - a buffer argument is its own malloc'd block of exactly its length, and every
 *   ArrayBuffer the binding returns is copied into one, so AddressSanitizer sees any
 *   read or write past a datagram (XS would keep them in its chunk heap, where ASan
 *   sees nothing);
 * - host data is validated against the destructor as fxGetHostDataValidate does
 *   (a wrong object throws; a closed one yields NULL);
 * - xsRangeError / xsUnknownError / xsTypeError unwind with longjmp to the caller,
 *   as XS's fxThrowMessage does, with the message kept for the harness.
 *
 * Only what the binding uses is here; a new xsmc call in the binding fails to compile
 * the harness, which is the signal to add it.
 */
#ifndef DTLS_FUZZ_XSMC_H
#define DTLS_FUZZ_XSMC_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

typedef uint32_t xsUnsignedValue;
typedef int32_t xsIntegerValue;
typedef double xsNumberValue;
typedef int16_t xsIdentifier;

enum {
	shimUndefined = 0,
	shimNull,
	shimBoolean,
	shimInteger,
	shimNumber,
	shimString,
	shimBuffer,
	shimHost,
	shimArray,
	shimObject,                /* an options object: items[id] for each property id (shimID) */
};

typedef struct shimSlot {
	int kind;
	int boolean;
	int32_t integer;
	double number;
	char* string;              /* owned */
	unsigned char* data;       /* shimBuffer: owned, exactly `length` bytes */
	size_t length;             /* shimBuffer, shimArray, shimObject (SHIM_PROPERTIES) */
	void* host;                /* shimHost: host data */
	void* destructor;          /* shimHost: the class's destructor, as XS keeps it */
	struct shimSlot* items;    /* shimArray, shimObject: owned */
} xsSlot;

#define SHIM_VARS 16
#define SHIM_PROPERTIES 13        /* "length" and the DTLSContext options, see shimID */

typedef struct {
	xsSlot* args;
	int argc;
	xsSlot* thisSlot;
	xsSlot result;
	xsSlot vars[SHIM_VARS];
	jmp_buf* jump;
	char error[256];
} xsMachine;

/* the shim's functions (xsmc-shim.c) */
void shimClear(xsSlot* slot);
void shimThrow(xsMachine* the, const char* kind, const char* format, ...) __attribute__((noreturn, format(printf, 3, 4)));
const char* shimToString(xsMachine* the, xsSlot* slot);
int32_t shimToInteger(xsMachine* the, xsSlot* slot);
double shimToNumber(xsMachine* the, xsSlot* slot);
int shimTest(xsSlot* slot);
void shimGetBuffer(xsMachine* the, xsSlot* slot, void** data, xsUnsignedValue* length);
void shimSetBuffer(xsMachine* the, xsSlot* slot, const void* data, size_t length);
void shimSetString(xsMachine* the, xsSlot* slot, const char* text);
void shimSetNumber(xsSlot* slot, double number);
void shimSetInteger(xsSlot* slot, int32_t integer);
void shimSetBoolean(xsSlot* slot, int value);
void shimSetHostData(xsMachine* the, xsSlot* slot, void* data);
void* fxGetHostDataValidate(xsMachine* the, xsSlot* slot, void* validator);
void shimSetNewArray(xsMachine* the, xsSlot* slot, int length);
void shimSetIndex(xsMachine* the, xsSlot* array, int index, xsSlot* value);
void shimGetIndex(xsMachine* the, xsSlot* into, xsSlot* array, int index);
void shimGet(xsMachine* the, xsSlot* into, xsSlot* object, int id);
int shimHas(xsMachine* the, xsSlot* object, int id);
void shimSetNewObject(xsMachine* the, xsSlot* slot);
void shimSet(xsMachine* the, xsSlot* object, int id, xsSlot* value);
int shimID(const char* name);
void shimVars(xsMachine* the, int count);

#define xsArg(_INDEX) (the->args[_INDEX])
#define xsThis (*the->thisSlot)
#define xsResult (the->result)
#define xsVar(_INDEX) (the->vars[_INDEX])
#define xsmcArgc (the->argc)
#define xsmcVars(_COUNT) shimVars(the, _COUNT)
#define xsID(_NAME) shimID(_NAME)

#define xsmcToString(_SLOT) shimToString(the, &(_SLOT))
#define xsmcToInteger(_SLOT) shimToInteger(the, &(_SLOT))
#define xsmcToNumber(_SLOT) shimToNumber(the, &(_SLOT))
#define xsmcTest(_SLOT) shimTest(&(_SLOT))
#define xsmcGetBufferReadable(_SLOT, _DATA, _COUNT) shimGetBuffer(the, &(_SLOT), _DATA, _COUNT)
#define xsmcSetArrayBuffer(_SLOT, _BUFFER, _SIZE) shimSetBuffer(the, &(_SLOT), _BUFFER, _SIZE)
#define xsmcSetString(_SLOT, _TEXT) shimSetString(the, &(_SLOT), _TEXT)
#define xsmcSetNumber(_SLOT, _NUMBER) shimSetNumber(&(_SLOT), _NUMBER)
#define xsmcSetInteger(_SLOT, _INTEGER) shimSetInteger(&(_SLOT), _INTEGER)
#define xsmcSetBoolean(_SLOT, _VALUE) shimSetBoolean(&(_SLOT), _VALUE)
#define xsmcSetFalse(_SLOT) shimSetBoolean(&(_SLOT), 0)
#define xsmcSetTrue(_SLOT) shimSetBoolean(&(_SLOT), 1)
#define xsmcSetUndefined(_SLOT) shimClear(&(_SLOT))
#define xsmcSetHostData(_SLOT, _DATA) shimSetHostData(the, &(_SLOT), _DATA)
#define xsmcGetHostDataValidate(_SLOT, _VALIDATOR) fxGetHostDataValidate(the, &(_SLOT), _VALIDATOR)
#define xsmcSetNewArray(_SLOT, _LENGTH) shimSetNewArray(the, &(_SLOT), _LENGTH)
#define xsmcSetIndex(_ARRAY, _INDEX, _VALUE) shimSetIndex(the, &(_ARRAY), _INDEX, &(_VALUE))
#define xsmcGetIndex(_INTO, _ARRAY, _INDEX) shimGetIndex(the, &(_INTO), &(_ARRAY), _INDEX)
#define xsmcGet(_INTO, _OBJECT, _ID) shimGet(the, &(_INTO), &(_OBJECT), _ID)
#define xsmcHas(_OBJECT, _ID) shimHas(the, &(_OBJECT), _ID)

#define xsRangeError(...) shimThrow(the, "RangeError", __VA_ARGS__)
#define xsTypeError(...) shimThrow(the, "TypeError", __VA_ARGS__)
#define xsUnknownError(...) shimThrow(the, "Error", __VA_ARGS__)

#endif
