// Any-Precision quantizer hot loops (native, see native/quant.cpp).
export {};
