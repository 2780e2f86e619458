/* generic.cuh: compile a kernel file once per dtype, as csrc/generic.h does for the C kernels.
 *
 * A kernel file is written once, with `real` for the element type and NAME(f) for its kernel
 * names. It defines GENERIC_FILE as its own name and includes this header, which includes the
 * file again twice: with real = float and NAME(f) = f##_f32, then with real = double and
 * NAME(f) = f##_f64. No templates reach a kernel signature, so every kernel keeps a plain
 * `extern "C"` name that CuPy's RawModule can look up. */
#ifndef GENERIC_FILE
#error "define GENERIC_FILE (the kernel file's own name) before including generic.cuh"
#endif

#define real float
#define NAME(f) f##_f32
#include GENERIC_FILE
#undef real
#undef NAME

#define real double
#define NAME(f) f##_f64
#include GENERIC_FILE
#undef real
#undef NAME

#undef GENERIC_FILE
