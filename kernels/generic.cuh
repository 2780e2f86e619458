/* generic.cuh: compile a kernel file once per dtype, the way PyTorch's TH library did; the one
 * copy for the C kernels (csrc/, whose build puts kernels/ on its include path) and the CUDA
 * kernels (kernels/).
 *
 * A kernel file is written once, with `real` for the element type and NAME(f) for its function
 * names. It defines GENERIC_FILE as its own name and includes this header, which includes the
 * file again twice: with real = float and NAME(f) = f##_f32, then with real = double and
 * NAME(f) = f##_f64. Line numbers in compiler and sanitizer messages stay those of the kernel
 * file. In CUDA no template reaches a kernel signature, so every kernel keeps a plain
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
