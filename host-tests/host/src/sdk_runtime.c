/*
 * What the Moddable SDK's runtime does to a machine that a plain XS machine does not:
 * the built-ins frozen. The SDK's linker (xs/tools/xsl.c, fxFreezeBuiltIns, SDK 8.2.3)
 * freezes these objects once preloading is done, and the device and the desktop
 * simulator run that frozen heap: `this.name = "X"` in an Error subclass then throws
 * "set name: not writable", because the inherited `name` is a frozen data property.
 *
 * The host freezes the same list, in the same order, before any module runs (the
 * SDK freezes after its preloaded modules ran; nothing here patches a built-in while
 * preloading, so freezing first is only stricter). Left out: the linker's own module
 * and host tables (mxProgram, mxHosts), which no script can reach.
 */
#include "xsAll.h"

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
