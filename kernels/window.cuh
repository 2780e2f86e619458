/* window.cuh: the arithmetic of a convolution or pooling window along one axis (kernel k,
 * stride, zero padding `pad` on each side, dilation), one copy for the C kernels (csrc/kernel.h)
 * and the CUDA kernels (kernel.cuh). Plain C that is also CUDA C++: sizes are long long (int64_t
 * in C, int64 in CUDA: 64 bits in both); a function is __device__ under a CUDA compiler. */
#ifndef MINICNN_WINDOW_CUH
#define MINICNN_WINDOW_CUH

#ifdef __CUDACC__
#define WINDOW_FUNCTION static __device__ inline
#else
#define WINDOW_FUNCTION static inline
#endif

/* the output size: floor((in + 2 pad - dilation (k - 1) - 1) / stride) + 1, which is 0 (not
 * what C's truncating division gives) when the window does not fit */
WINDOW_FUNCTION long long window_output_size(long long in, long long k, long long stride,
                                             long long pad, long long dilation) {
    const long long span = in + 2 * pad - dilation * (k - 1) - 1;
    return span < 0 ? 0 : span / stride + 1;
}

/* the output position of tap i that reads input position h, or -1 when none does */
WINDOW_FUNCTION long long window_of_tap(long long h, long long i, long long stride,
                                        long long pad, long long dilation, long long out_size) {
    const long long offset = h + pad - i * dilation;
    if (offset < 0 || offset % stride != 0) return -1;
    const long long a = offset / stride;
    return a < out_size ? a : -1;
}

/* the extent of average-pooling window `a` that its average divides by: clipped to
 * [-pad, size + pad) with count_include_pad, else to [0, size) */
WINDOW_FUNCTION long long divisor_extent(long long a, long long stride, long long pad,
                                         long long k, long long size, int count_include_pad) {
    const long long start = a * stride - pad;
    const long long end = start + k < size + pad ? start + k : size + pad;
    if (count_include_pad) return end - start;
    return (end < size ? end : size) - (start > 0 ? start : 0);
}

#undef WINDOW_FUNCTION

#endif
