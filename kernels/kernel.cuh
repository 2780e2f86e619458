/* kernel.cuh: what every kernel file shares (the CUDA counterpart of csrc/kernel.h).
 *
 * - Kernels are `extern "C" __global__`, one per dtype (see generic.cuh), so CuPy finds them by
 *   name (im2col_f32, im2col_f64, ...). No standard headers: NVRTC compiles these files alone,
 *   and tests/cuda_emulation.h compiles them for the CPU with g++.
 * - Sizes and indices are 64-bit (`int64`), so N*C*H*W past 2^31 is fine.
 * - Every kernel walks its work with a grid-stride loop, so any grid size is correct; the
 *   Python launcher picks the grid, and the tests pick grids smaller than the work.
 * - What a sum accumulates in, per kernel family (`accum` is double), as in the C kernels:
 *   batch norm's per-channel sums and the cross-entropy's per-row sums in double for both
 *   dtypes (block_sum); pooling's, LRN's and col2im's sums in the element type, in the
 *   reference's order; the optimizers' a * b + c for float32 in double, then rounded once. The
 *   convolution's products are cuBLAS's (cupy.matmul), float32 in float32.
 * - Kernels trust nothing they cannot check cheaply: minicnn/backend/cuda.py validates every
 *   argument before a launch. */
#ifndef MINICNN_KERNEL_CUH
#define MINICNN_KERNEL_CUH

#include "window.cuh"

typedef long long int64;
typedef double accum;

#define MINICNN_INFINITY __longlong_as_double(0x7ff0000000000000LL)
#define MINICNN_NAN __longlong_as_double(0x7ff8000000000000LL)

/* for (int64 i = first index of this thread; i < n; i += threads in the grid) */
#define GRID_STRIDE_LOOP(i, n)                                                        \
    for (int64 i = (int64)blockIdx.x * blockDim.x + threadIdx.x; i < (int64)(n);     \
         i += (int64)blockDim.x * gridDim.x)

/* for (int64 i = this block's first item; i < n; i += blocks in the grid): a block per item */
#define BLOCK_STRIDE_LOOP(i, n) \
    for (int64 i = blockIdx.x; i < (int64)(n); i += gridDim.x)

/* for (int64 i = this thread's first element; i < n; i += threads in the block) */
#define THREAD_STRIDE_LOOP(i, n) \
    for (int64 i = threadIdx.x; i < (int64)(n); i += blockDim.x)

/* The sum of `value` over the threads of the block, returned to every thread. `shared` holds
 * blockDim.x values; any block size works (pairs (t, t + stride) with stride 1, 2, 4, ...), and
 * the order of the additions is fixed, so the result is the same on every run. Every thread of
 * the block must call it. */
__device__ accum block_sum(accum value, accum *shared) {
    const unsigned t = threadIdx.x;
    shared[t] = value;
    __syncthreads();
    for (unsigned stride = 1; stride < blockDim.x; stride *= 2) {
        if (t % (2 * stride) == 0 && t + stride < blockDim.x) shared[t] += shared[t + stride];
        __syncthreads();
    }
    const accum total = shared[0];
    __syncthreads();  /* the next reduction may overwrite shared[0] */
    return total;
}

/* The largest `value` of the block (a NaN wins, as in NumPy's max), as block_sum. */
__device__ accum block_max(accum value, accum *shared) {
    const unsigned t = threadIdx.x;
    shared[t] = value;
    __syncthreads();
    for (unsigned stride = 1; stride < blockDim.x; stride *= 2) {
        if (t % (2 * stride) == 0 && t + stride < blockDim.x) {
            const accum other = shared[t + stride];
            if (other > shared[t] || isnan(other)) shared[t] = other;
        }
        __syncthreads();
    }
    const accum largest = shared[0];
    __syncthreads();
    return largest;
}

#endif
