// AnyBCQ quantizer hot loops (native, see native/bcq.cpp).
export {};
