/* kernel.h: what every kernel file shares (not read by cffi; minicnn.h is the public list).
 *
 * - Sizes and indices are int64_t, so N*C*H*W past 2^31 is fine.
 * - A kernel returns MINICNN_OK, or MINICNN_BAD_ARGUMENT without touching memory when its
 *   sizes make no sense (the Python wrappers check first; C re-checks and never trusts them).
 * - What a sum accumulates in, per kernel family (`accum` is double):
 *   - batch norm's per-channel sums (over N*H*W values) and the cross-entropy's per-row sums
 *     (over C classes): in double for both dtypes, so float32 sums over a whole batch stay
 *     within 1e-5 of the reference;
 *   - the GEMM and the convolutions on it (gemm.c, conv2d_gemm.c): in the element type, float32
 *     in float32 as in a BLAS sgemm (and NumPy's matmul in the reference): fused multiply-adds
 *     into a register per entry of an MR x NR tile, or for the weight gradient per vector lane,
 *     the lanes added at the end; the direct loops of conv2d_direct.c, the tests' reference for
 *     them, in double;
 *   - pooling's and LRN's window sums: in the element type, in the reference's order;
 *   - the optimizers' a * b + c: for float32 in double, then rounded once (optim.c).
 * - minicnn_parallel_ranges(n, work, ...) splits a loop over the thread pool when `work`
 *   (elements touched) is large enough to pay for waking the threads; a product of sizes that
 *   could pass int64 is written in double.
 */
#ifndef MINICNN_KERNEL_H
#define MINICNN_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <tgmath.h>

#include "minicnn.h"
#include "window.cuh"  /* in kernels/: the window arithmetic, shared with the CUDA kernels */

typedef double accum;

/* threadpool.c: run(ctx, item, worker) for every item in [0, items) on at most `threads`
 * threads (worker 0 is the caller, workers < threads), items claimed dynamically;
 * minicnn_pool_threads(items) is the thread count to size per-worker buffers for */
int minicnn_pool_threads(int64_t items);
void minicnn_parallel_for(int64_t items, int threads, void (*run)(void *, int64_t, int),
                          void *ctx);
/* run(ctx, begin, end) over pieces of [0, n) on the pool, about four a thread, when `work`
 * (elements touched) is large enough to pay for waking the threads; else run(ctx, 0, n) */
void minicnn_parallel_ranges(int64_t n, double work, void (*run)(void *, int64_t, int64_t),
                             void *ctx);

#define MINICNN_PARALLEL_MIN 32768

/* runtime.c: malloc and calloc that record the size of a failed request, which
 * minicnn_failed_allocation reports after a kernel returned MINICNN_OUT_OF_MEMORY */
void *minicnn_malloc(size_t bytes);
void *minicnn_calloc(size_t count, size_t size);

/* A memory-bound loop compiled also for AVX2 and AVX-512, picked at load time by what the CPU
 * runs (GCC / Clang function multi-versioning, which needs glibc's ifunc): the extension itself
 * is built for the baseline target, whose 128-bit vectors leave such loops compute-bound
 * (batch norm's double sums). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && defined(__GLIBC__) \
    && !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
/* (not under a sanitizer: the clones' resolver runs at load, before the sanitizer's runtime is
 * set up, and crashes there) */
#define WIDE_VECTORS __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WIDE_VECTORS
#endif

/* a * b into *out; false on overflow or a negative factor */
static inline int checked_mul(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return 0;
    return !__builtin_mul_overflow(a, b, out);
}

/* the product of n sizes, each >= 1, without overflow: the element count of an array */
static inline int checked_count(int64_t *count, int n, const int64_t *sizes) {
    int64_t total = 1;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 1 || !checked_mul(total, sizes[i], &total)) return 0;
    }
    *count = total;
    return 1;
}

#define COUNT(out, ...) \
    checked_count((out), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                  (int64_t[]){__VA_ARGS__})

/* window hyper-parameters in a range where the index arithmetic cannot overflow */
static inline int window_ok(int64_t k, int64_t stride, int64_t pad, int64_t dilation) {
    const int64_t limit = (int64_t)1 << 31;
    return k >= 1 && k < limit && stride >= 1 && stride < limit && pad >= 0 && pad < limit
        && dilation >= 1 && dilation < limit;
}

#endif
