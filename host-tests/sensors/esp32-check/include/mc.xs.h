/* stand-in for the mcconfig-generated mc.xs.h: the xsID_* this module uses */
#define xsID_pin ((xsIdentifier)1)
