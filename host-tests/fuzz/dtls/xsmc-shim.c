/*
 * The stand-in for xsmc.h (see xsmc.h beside this file): slots with owned, exactly
 * sized buffers and strings, host data validated by destructor, errors by longjmp.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsmc.h"

#define SHIM_ID_LENGTH 1

static void* allocate(size_t size)
{
	void* p = malloc(size ? size : 1);
	if (!p) {
		fprintf(stderr, "xsmc-shim: out of memory\n");
		abort();
	}
	return p;
}

void shimClear(xsSlot* slot)
{
	size_t i;
	if (slot->kind == shimString)
		free(slot->string);
	else if (slot->kind == shimBuffer)
		free(slot->data);
	else if ((slot->kind == shimArray) || (slot->kind == shimObject)) {
		for (i = 0; i < slot->length; i++)
			shimClear(&slot->items[i]);
		free(slot->items);
	}
	else if (slot->kind == shimHost)
		return;   /* host objects are cleared by their owner (the harness), never by a setter */
	memset(slot, 0, sizeof(*slot));
}

/* a setter overwrites a slot: a host object slot may only be overwritten by the harness */
static void prepare(xsSlot* slot)
{
	if (slot->kind == shimHost) {
		fprintf(stderr, "xsmc-shim: the binding overwrote a host object slot\n");
		abort();
	}
	shimClear(slot);
}

void shimThrow(xsMachine* the, const char* kind, const char* format, ...)
{
	va_list list;
	int n = snprintf(the->error, sizeof(the->error), "%s: ", kind);
	va_start(list, format);
	vsnprintf(the->error + n, sizeof(the->error) - (size_t)n, format, list);
	va_end(list);
	if (!the->jump) {
		fprintf(stderr, "xsmc-shim: uncaught %s\n", the->error);
		abort();
	}
	longjmp(*the->jump, 1);
}

const char* shimToString(xsMachine* the, xsSlot* slot)
{
	if (slot->kind != shimString)
		shimThrow(the, "TypeError", "shim: not a string (kind %d)", slot->kind);
	return slot->string;
}

int32_t shimToInteger(xsMachine* the, xsSlot* slot)
{
	switch (slot->kind) {
	case shimInteger: return slot->integer;
	case shimNumber: return (int32_t)slot->number;
	case shimBoolean: return slot->boolean;
	case shimUndefined:
	case shimNull: return 0;
	default: shimThrow(the, "TypeError", "shim: not a number (kind %d)", slot->kind);
	}
}

double shimToNumber(xsMachine* the, xsSlot* slot)
{
	if (slot->kind == shimNumber)
		return slot->number;
	return shimToInteger(the, slot);
}

int shimTest(xsSlot* slot)
{
	switch (slot->kind) {
	case shimUndefined:
	case shimNull: return 0;
	case shimBoolean: return slot->boolean;
	case shimInteger: return slot->integer != 0;
	case shimNumber: return slot->number != 0 && slot->number == slot->number;
	case shimString: return slot->string[0] != 0;
	default: return 1;
	}
}

void shimGetBuffer(xsMachine* the, xsSlot* slot, void** data, xsUnsignedValue* length)
{
	if (slot->kind != shimBuffer)
		shimThrow(the, "TypeError", "shim: not a buffer (kind %d)", slot->kind);
	*data = slot->data;
	*length = (xsUnsignedValue)slot->length;
}

void shimSetBuffer(xsMachine* the, xsSlot* slot, const void* data, size_t length)
{
	unsigned char* copy = allocate(length);
	(void)the;
	if (length)
		memcpy(copy, data, length);   /* reads every byte the binding claims: ASan checks the source */
	prepare(slot);
	slot->kind = shimBuffer;
	slot->data = copy;
	slot->length = length;
}

void shimSetString(xsMachine* the, xsSlot* slot, const char* text)
{
	size_t length = strlen(text);
	char* copy = allocate(length + 1);
	(void)the;
	memcpy(copy, text, length + 1);
	prepare(slot);
	slot->kind = shimString;
	slot->string = copy;
}

void shimSetNumber(xsSlot* slot, double number)
{
	prepare(slot);
	slot->kind = shimNumber;
	slot->number = number;
}

void shimSetInteger(xsSlot* slot, int32_t integer)
{
	prepare(slot);
	slot->kind = shimInteger;
	slot->integer = integer;
}

void shimSetBoolean(xsSlot* slot, int value)
{
	prepare(slot);
	slot->kind = shimBoolean;
	slot->boolean = value ? 1 : 0;
}

void shimSetHostData(xsMachine* the, xsSlot* slot, void* data)
{
	if (slot->kind != shimHost)
		shimThrow(the, "SyntaxError", "C: xsSetHostData: no host object");
	slot->host = data;
}

void* fxGetHostDataValidate(xsMachine* the, xsSlot* slot, void* validator)
{
	if (slot->kind != shimHost)
		shimThrow(the, "SyntaxError", "C: xsGetHostData: no host object");
	if (slot->destructor != validator)
		shimThrow(the, "SyntaxError", "C: xsGetHostData: invalid");
	return slot->host;
}

void shimSetNewArray(xsMachine* the, xsSlot* slot, int length)
{
	(void)the;
	prepare(slot);
	slot->kind = shimArray;
	slot->length = (size_t)length;
	slot->items = allocate(sizeof(xsSlot) * (size_t)(length ? length : 1));
	memset(slot->items, 0, sizeof(xsSlot) * (size_t)(length ? length : 1));
}

static void copySlot(xsSlot* into, const xsSlot* from)
{
	switch (from->kind) {
	case shimString: {
		size_t length = strlen(from->string);
		char* copy = allocate(length + 1);
		memcpy(copy, from->string, length + 1);
		prepare(into);
		into->kind = shimString;
		into->string = copy;
		break;
	}
	case shimBuffer: {
		unsigned char* copy = allocate(from->length);
		memcpy(copy, from->data, from->length);
		prepare(into);
		into->kind = shimBuffer;
		into->data = copy;
		into->length = from->length;
		break;
	}
	case shimArray:
	case shimObject: {
		size_t i, length = from->length;
		xsSlot* items = allocate(sizeof(xsSlot) * (length ? length : 1));
		memset(items, 0, sizeof(xsSlot) * (length ? length : 1));
		for (i = 0; i < length; i++)
			copySlot(&items[i], &from->items[i]);
		prepare(into);
		into->kind = from->kind;
		into->items = items;
		into->length = length;
		break;
	}
	default:
		prepare(into);
		*into = *from;
	}
}

void shimSetIndex(xsMachine* the, xsSlot* array, int index, xsSlot* value)
{
	if ((array->kind != shimArray) || (index < 0))
		shimThrow(the, "TypeError", "shim: not an array");
	if ((size_t)index >= array->length) {
		size_t length = (size_t)index + 1;
		xsSlot* items = allocate(sizeof(xsSlot) * length);
		memset(items, 0, sizeof(xsSlot) * length);
		memcpy(items, array->items, sizeof(xsSlot) * array->length);
		free(array->items);
		array->items = items;
		array->length = length;
	}
	copySlot(&array->items[index], value);
}

void shimGetIndex(xsMachine* the, xsSlot* into, xsSlot* array, int index)
{
	if (array->kind != shimArray)
		shimThrow(the, "TypeError", "shim: not an array");
	if ((index < 0) || ((size_t)index >= array->length)) {
		prepare(into);
		return;
	}
	copySlot(into, &array->items[index]);
}

void shimGet(xsMachine* the, xsSlot* into, xsSlot* object, int id)
{
	if (object->kind == shimObject) {
		copySlot(into, &object->items[id]);
		return;
	}
	if ((id != SHIM_ID_LENGTH) || (object->kind != shimArray))
		shimThrow(the, "TypeError", "shim: only the length of an array or an option");
	shimSetInteger(into, (int32_t)object->length);
}

int shimHas(xsMachine* the, xsSlot* object, int id)
{
	if (object->kind != shimObject)
		shimThrow(the, "TypeError", "shim: not an options object");
	return object->items[id].kind != shimUndefined;
}

void shimSetNewObject(xsMachine* the, xsSlot* slot)
{
	(void)the;
	prepare(slot);
	slot->kind = shimObject;
	slot->length = SHIM_PROPERTIES;
	slot->items = allocate(sizeof(xsSlot) * SHIM_PROPERTIES);
	memset(slot->items, 0, sizeof(xsSlot) * SHIM_PROPERTIES);
}

void shimSet(xsMachine* the, xsSlot* object, int id, xsSlot* value)
{
	if (object->kind != shimObject)
		shimThrow(the, "TypeError", "shim: not an options object");
	copySlot(&object->items[id], value);
}

/* "length" of arrays, and the names DTLSContext's constructor reads from its options */
int shimID(const char* name)
{
	static const char* const names[SHIM_PROPERTIES] = { "", "length", "identity", "key", "flags", "suites", "certificate", "privateKey", "ca", "tickets", "cache", "cid", "psks" };
	int i;
	for (i = 1; i < SHIM_PROPERTIES; i++) {
		if (!strcmp(name, names[i]))
			return i;
	}
	fprintf(stderr, "xsmc-shim: unknown property %s\n", name);
	abort();
}

void shimVars(xsMachine* the, int count)
{
	int i;
	if (count > SHIM_VARS) {
		fprintf(stderr, "xsmc-shim: %d vars, at most %d\n", count, SHIM_VARS);
		abort();
	}
	for (i = 0; i < SHIM_VARS; i++)
		shimClear(&the->vars[i]);
}
