/*
 * What the Moddable SDK's runtime does to a machine that a plain XS machine does not.
 * The SDK's linker (xs/tools/xsl.c and xslSlot.c, SDK 8.2.3) runs the manifest's
 * preloaded modules on the build machine, then freezes, and the device and the
 * desktop simulator run that heap from flash:
 *
 * 1. The built-ins (fxFreezeBuiltIns): `this.name = "X"` in an Error subclass throws
 *    "set name: not writable", because the inherited `name` is a frozen data property.
 *    The host freezes the same list before any module runs (the SDK freezes after its
 *    preloaded modules ran; nothing here patches a built-in while preloading, so
 *    freezing first is only stricter). Left out: the linker's own module and host
 *    tables (mxProgram, mxHosts), which no script can reach.
 *
 * 2. Preloaded modules (hostPreload, the manifest's "preload"): they run before the
 *    app, where native code cannot run (a host function called then throws here; the
 *    SDK's build fails), and what they leave behind is prepared as fxPrepareHeap does:
 *    every function, class constructor and class prototype is frozen; Maps, Sets,
 *    WeakMaps, WeakSets, WeakRefs, FinalizationRegistries, ArrayBuffers, DataViews,
 *    typed arrays, Promises, Proxies and RegExps are frozen, and the contents of a
 *    frozen one become read-only ("Map instance is read-only"); a module variable
 *    that holds a function becomes const. Plain objects, arrays and the other module
 *    variables stay writable (on the device, copied to RAM on the first write).
 */
#include "xsAll.h"

/* this file sees the engine's internals (xsAll.h), so it declares the host.h piece it needs */
extern void hostDrainJobs(void);

static void freezeTop(txMachine* the, txSlot* freeze)
{
	/* the object to freeze is on the stack: call Object.freeze(it) and drop the result */
	txSlot* target = the->stack;
	mxPush(mxObjectConstructor);
	mxPushSlot(freeze);
	mxCall();
	mxPushSlot(target);
	mxRunCount(1);
	mxPop();
	mxPop();
}

static void freezeSlot(txMachine* the, txSlot* freeze, txSlot* slot)
{
	mxPushSlot(slot);
	freezeTop(the, freeze);
}

static void freezeProperty(txMachine* the, txSlot* freeze, txSlot* slot, txID id)
{
	mxPushSlot(slot);
	mxGetID(id);
	freezeTop(the, freeze);
}

void hostFreezeBuiltIns(txMachine* the)
{
	txSlot* freeze;
	txInteger index;
	const txTypeDispatch* dispatch;
	txSlot* objects[] = {
		&mxAtomicsObject, &mxJSONObject, &mxMathObject,
	};
	txSlot* prototypes[] = {
		&mxAggregateErrorPrototype, &mxArgumentsSloppyPrototype, &mxArgumentsStrictPrototype,
		&mxArrayBufferPrototype, &mxArrayIteratorPrototype, &mxArrayPrototype,
		&mxAsyncFromSyncIteratorPrototype, &mxAsyncFunctionPrototype,
		&mxAsyncGeneratorFunctionPrototype, &mxAsyncGeneratorPrototype, &mxAsyncIteratorPrototype,
		&mxBigIntPrototype, &mxBooleanPrototype, &mxCompartmentPrototype, &mxDataViewPrototype,
		&mxDatePrototype, &mxErrorPrototype, &mxEvalErrorPrototype,
		&mxFinalizationRegistryPrototype, &mxFunctionPrototype, &mxGeneratorFunctionPrototype,
		&mxGeneratorPrototype, &mxHostPrototype, &mxIteratorPrototype, &mxMapIteratorPrototype,
		&mxMapPrototype, &mxModulePrototype, &mxNumberPrototype, &mxObjectPrototype,
		&mxPromisePrototype, &mxProxyPrototype, &mxRangeErrorPrototype,
		&mxReferenceErrorPrototype, &mxRegExpPrototype, &mxRegExpStringIteratorPrototype,
		&mxSetIteratorPrototype, &mxSetPrototype, &mxSharedArrayBufferPrototype,
		&mxStringIteratorPrototype, &mxStringPrototype, &mxSymbolPrototype,
		&mxSyntaxErrorPrototype, &mxTransferPrototype, &mxTypedArrayPrototype,
		&mxTypeErrorPrototype, &mxURIErrorPrototype, &mxWeakMapPrototype, &mxWeakRefPrototype,
		&mxWeakSetPrototype,
	};

	mxTemporary(freeze);
	mxPush(mxObjectConstructor);
	mxGetID(mxID(_freeze));
	mxPullSlot(freeze);

	for (index = 0; index < (txInteger)(sizeof(objects) / sizeof(objects[0])); index++)
		freezeSlot(the, freeze, objects[index]);
	freezeProperty(the, freeze, &mxGlobal, mxID(_Math));
	freezeSlot(the, freeze, &mxReflectObject);
	for (index = 0; index < (txInteger)(sizeof(prototypes) / sizeof(prototypes[0])); index++)
		freezeSlot(the, freeze, prototypes[index]);
	for (index = 0, dispatch = &gxTypeDispatches[0]; index < mxTypeArrayCount; index++, dispatch++)
		freezeProperty(the, freeze, &the->stackPrototypes[-1 - (txInteger)dispatch->constructorID], mxID(_prototype));
	freezeProperty(the, freeze, &mxEnumeratorFunction, mxID(_prototype));
	freezeProperty(the, freeze, &mxArrayPrototype, mxID(_Symbol_unscopables));
	mxPop();
}

/* ---- Preloading ---- */

typedef struct {
	txSlot* instance;           /* the host function */
	txCallback callback;        /* its C function, installed once preloading is over */
	char* name;
} hostPreloadedHost;

static int gPreloading = 0;
static hostPreloadedHost* gPreloadedHosts = NULL;
static int gPreloadedHostCount = 0;
static int gPreloadedHostCapacity = 0;

int hostIsPreloading(void)
{
	return gPreloading;
}

/* what a host function does while preloading: the SDK's linker cannot run native code */
void hostPreloadGuard(txMachine* the)
{
	txSlot* function = mxFunction->value.reference;
	for (int i = 0; i < gPreloadedHostCount; i++) {
		if (gPreloadedHosts[i].instance == function)
			mxTypeError("%s: native code does not run in a preloaded module's body (the SDK's linker runs it on the build machine)", gPreloadedHosts[i].name);
	}
	mxTypeError("native code does not run in a preloaded module's body");
}

/*
 * The host functions a module just built with hostPreloadGuard in place of their C
 * function (the array on the stack, as fxBuildHosts leaves it): remembered until
 * preloading ends. Nothing collects them meanwhile: the module's environment holds
 * them, and preloaded modules stay loaded.
 */
void hostGuardPreloadedHosts(txMachine* the, txSlot* array, const txCallback* callbacks, const char* const* names, int count)
{
	txSlot* items = array->value.reference->next->value.array.address;
	for (int i = 0; i < count; i++) {
		if (!callbacks[i] || (items[i].kind != XS_REFERENCE_KIND))
			continue;   /* a destructor: nothing to call */
		if (gPreloadedHostCount == gPreloadedHostCapacity) {
			int capacity = gPreloadedHostCapacity ? 2 * gPreloadedHostCapacity : 64;
			hostPreloadedHost* grown = c_realloc(gPreloadedHosts, capacity * sizeof(hostPreloadedHost));
			if (!grown)
				fxAbort(the, XS_NOT_ENOUGH_MEMORY_EXIT);
			gPreloadedHosts = grown;
			gPreloadedHostCapacity = capacity;
		}
		gPreloadedHosts[gPreloadedHostCount].instance = items[i].value.reference;
		gPreloadedHosts[gPreloadedHostCount].callback = callbacks[i];
		gPreloadedHosts[gPreloadedHostCount].name = strdup(names[i]);
		gPreloadedHostCount++;
	}
}

static void freezeInstance(txSlot* instance)
{
	for (txSlot* property = instance->next; property; property = property->next) {
		if (property->kind != XS_ACCESSOR_KIND)
			property->flag |= XS_DONT_SET_FLAG;
		property->flag |= XS_DONT_DELETE_FLAG;
	}
	instance->flag |= XS_DONT_PATCH_FLAG;
}

static int isFunction(txSlot* instance)
{
	txSlot* internal = instance->next;
	return internal && (internal->flag & XS_INTERNAL_FLAG) && ((internal->kind == XS_CALLBACK_KIND) || (internal->kind == XS_CALLBACK_X_KIND) ||
		(internal->kind == XS_CODE_KIND) || (internal->kind == XS_CODE_X_KIND));
}

/* fxPrepareHeap's first pass: the instances the linker freezes */
static void freezePreloadedInstance(txSlot* instance)
{
	txSlot* internal = instance->next;
	if (!internal || !(internal->flag & XS_INTERNAL_FLAG) || (internal->ID == XS_ENVIRONMENT_BEHAVIOR))
		return;
	if (isFunction(instance)) {
		freezeInstance(instance);
		if (instance->flag & XS_CAN_CONSTRUCT_FLAG) {
			for (txSlot* property = internal->next; property; property = property->next) {
				if ((property->ID == mxID(_prototype)) && (property->kind == XS_REFERENCE_KIND)) {
					freezeInstance(property->value.reference);
					break;
				}
			}
		}
		return;
	}
	switch (internal->kind) {
	case XS_MAP_KIND: case XS_SET_KIND: case XS_WEAK_MAP_KIND: case XS_WEAK_SET_KIND: case XS_WEAK_REF_KIND:
	case XS_ARRAY_BUFFER_KIND: case XS_DATA_VIEW_KIND: case XS_TYPED_ARRAY_KIND: case XS_PROXY_KIND: case XS_REGEXP_KIND:
		freezeInstance(instance);
		break;
	case XS_PROMISE_KIND:
		freezeInstance(instance);
		if (internal->next && (internal->next->kind == XS_REFERENCE_KIND))
			freezeInstance(internal->next->value.reference);   /* its reactions */
		break;
	case XS_CLOSURE_KIND:
		if (internal->value.closure && (internal->value.closure->kind == XS_FINALIZATION_REGISTRY_KIND))
			freezeInstance(instance);
		break;
	}
}

static int isFrozen(txMachine* the, txSlot* instance)
{
	txSlot* property = instance->next;
	if (!(instance->flag & XS_DONT_PATCH_FLAG))
		return 0;
	for (; property && (property->flag & XS_INTERNAL_FLAG); property = property->next) {
		if (property->kind == XS_ARRAY_KIND) {
			txSlot* item = property->value.array.address;
			txIndex length = item ? fxGetIndexSize(the, property) : 0;
			for (txIndex i = 0; i < length; i++, item++) {
				if ((item->kind != XS_ACCESSOR_KIND) && !(item->flag & XS_DONT_SET_FLAG))
					return 0;
				if (!(item->flag & XS_DONT_DELETE_FLAG))
					return 0;
			}
		}
	}
	for (; property; property = property->next) {
		if ((property->kind != XS_ACCESSOR_KIND) && !(property->flag & XS_DONT_SET_FLAG))
			return 0;
		if (!(property->flag & XS_DONT_DELETE_FLAG))
			return 0;
	}
	return 1;
}

/* fxPetrifyInstance: the contents of a frozen Map, Set, buffer, date or regexp, and its private fields, become read-only */
static void petrifyInstance(txSlot* instance)
{
	for (txSlot* property = instance->next; property && (property->flag & XS_INTERNAL_FLAG); property = property->next) {
		switch (property->kind) {
		case XS_ARRAY_BUFFER_KIND: case XS_DATE_KIND: case XS_MAP_KIND: case XS_REGEXP_KIND:
		case XS_SET_KIND: case XS_WEAK_MAP_KIND: case XS_WEAK_SET_KIND:
			property->flag |= XS_DONT_SET_FLAG;
			break;
		case XS_PRIVATE_KIND:
			for (txSlot* field = property->value.private.first; field; field = field->next) {
				if (field->kind != XS_ACCESSOR_KIND)
					field->flag |= XS_DONT_SET_FLAG;
				field->flag |= XS_DONT_DELETE_FLAG;
			}
			break;
		}
	}
}

/* calls visit(the, slot) for every live slot of the heap (free slots are marked while walking) */
static void walkHeap(txMachine* the, void (*visit)(txMachine*, txSlot*))
{
	for (txSlot* slot = the->freeHeap; slot; slot = slot->next)
		slot->flag |= XS_MARK_FLAG;
	for (txSlot* heap = the->firstHeap; heap; heap = heap->next) {
		txSlot* limit = heap->value.reference;
		for (txSlot* slot = heap + 1; slot < limit; slot++)
			if (!(slot->flag & XS_MARK_FLAG))
				visit(the, slot);
	}
	for (txSlot* slot = the->freeHeap; slot; slot = slot->next)
		slot->flag &= ~XS_MARK_FLAG;
}

static void constFunctionVariable(txSlot* slot);

/* fxPrepareHeap's first pass and its closure pass: they touch different slots, so one walk does both */
static void visitFreeze(txMachine* the, txSlot* slot)
{
	if (slot->kind == XS_INSTANCE_KIND)
		freezePreloadedInstance(slot);
	else if (slot->kind == XS_CLOSURE_KIND)
		constFunctionVariable(slot);
}

static void visitPetrify(txMachine* the, txSlot* slot)
{
	if ((slot->kind == XS_INSTANCE_KIND) && isFrozen(the, slot))
		petrifyInstance(slot);
}

/* a module variable (or any captured one) that holds a function becomes const */
static void constFunctionVariable(txSlot* slot)
{
	txSlot* variable = slot->value.closure;
	if (!variable)
		return;
	if (((variable->kind == XS_REFERENCE_KIND) && isFunction(variable->value.reference)))
		variable->flag |= XS_DONT_SET_FLAG;
}

/*
 * Imports the modules the manifest preloads, with native code refused, then
 * prepares what they left as the SDK's linker does. Called once, before anything
 * else imports a module; an exception propagates (the host reports it and exits).
 */
void hostPreload(txMachine* the, const char** specifiers, int count)
{
	gPreloading = 1;
	mxTry(the) {
		for (int i = 0; i < count; i++) {
			mxPushStringX((txString)specifiers[i]);
			fxAwaitImport(the, 0);
			mxPop();
		}
		hostDrainJobs();
	}
	mxCatch(the) {
		gPreloading = 0;
		fxJump(the);
	}
	gPreloading = 0;
	for (int i = 0; i < gPreloadedHostCount; i++) {
		mxFunctionInstanceCode(gPreloadedHosts[i].instance)->value.callback.address = gPreloadedHosts[i].callback;
		c_free(gPreloadedHosts[i].name);
	}
	c_free(gPreloadedHosts);
	gPreloadedHosts = NULL;
	gPreloadedHostCount = gPreloadedHostCapacity = 0;
	fxCollectGarbage(the);
	walkHeap(the, visitFreeze);
	walkHeap(the, visitPetrify);   /* after every freeze: whether an instance is frozen depends on them all */
}
