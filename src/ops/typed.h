/* Writing a kernel once for float and double.
 *
 * A family's typed loops live in "<family>_kern.h", written with the element
 * type T and the name macro K(name). The op file includes it twice:
 *
 *     #define T float
 *     #define K(n) n##_f32
 *     #include "pool_kern.h"
 *     #undef T
 *     #undef K
 *     #define T double
 *     #define K(n) n##_f64
 *     #include "pool_kern.h"
 *     #undef T
 *     #undef K
 *
 * and dispatches with ED_DISPATCH_FLOAT(x->dtype, fn, args...), which calls
 * fn_f32(args) or fn_f64(args). float32 is the compute type; float64 serves
 * the finite-difference gradient checks. */
#ifndef ED_OPS_TYPED_H
#define ED_OPS_TYPED_H

#define ED_DISPATCH_FLOAT(dt, fn, ...) \
    do { if ((dt) == ED_F64) fn##_f64(__VA_ARGS__); else fn##_f32(__VA_ARGS__); } while (0)

#endif
