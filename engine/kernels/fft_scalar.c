/* The own FFT's reference: fft_body.h with one lane, plain C floats. */
typedef float vf;
#define V 1
#define LD(p) (*(p))
#define ST(p, v) (*(p) = (v))
#define BC(x) (x)
#define FMA(a, b, c) ((a) * (b) + (c))
#define FMS(a, b, c) ((a) * (b) - (c))
#define FNMA(a, b, c) ((c) - (a) * (b))
#define TPOSE(r) ((void)(r))
#define ILV(a, b, lo, hi) ((lo) = (a), (hi) = (b))
#define DILV(lo, hi, a, b) ((a) = (lo), (b) = (hi))
#define KERN_NAME "scalar"
#define KERN_FN ibex__offt_kern_scalar

#include "fft_body.h"
