/* gemm.h: the GEMM engine of gemm.c, shared with the convolutions of conv2d_gemm.c (not read by cffi).
 *
 * A product C (m x n) = A (m x k) @ B (k x n) is described by a gemm_product: A arrives packed
 * (gemm_pack_a_*), B is packed panel by panel by the product's own pack_b (a strided matrix, or
 * the columns of im2col built on the fly) or, without pack_b, read where it lies through the
 * addresses of its rows (b_rows), and each MR x NR tile of C goes either straight into
 * memory (tile() returns where: rows rs apart, columns contiguous) or through update() (any
 * other layout, such as col2im's scatter into the input gradient). */
#ifndef MINICNN_GEMM_H
#define MINICNN_GEMM_H

#include "kernel.h"

#define GEMM_MAX_MR 16
#define GEMM_MAX_NR 64
#define GEMM_MAX_KC 256

/* a register-blocked micro-kernel: c (MR x NR, rows rs apart) = or += a @ b over kc steps,
 * a packed as kc columns of MR, b as kc rows of NR, each row NR / lanes vectors `vs` elements
 * apart: rows packed one after another (run, vs = lanes), or each where the p-th of kc row
 * pointers points (run_rows: B read in place, see gemm_product.b_rows) */
struct gemm_kernel {
    const char *name;
    int mr, nr, lanes;
    int64_t kc, nc;  /* cache blocks: k steps of a packed panel, columns of a packed B block */
    void (*run)(int64_t kc, const void *a, const void *b, int64_t vs, void *c, int64_t rs,
                int accumulate);
    void (*run_rows)(int64_t kc, const void *a, const void *b_rows, int64_t vs, void *c,
                     int64_t rs, int accumulate);
};

struct gemm_product {
    int64_t m, n, k;
    /* B rows [p0, p0 + kc), columns [j0, j0 + nc) into panels of nr columns: panel t holds
     * kc rows of nr at dst + t * kc * nr, columns past n zero */
    void (*pack_b)(const struct gemm_product *product, int64_t p0, int64_t kc, int64_t j0,
                   int64_t nc, int nr, void *dst);
    /* where the tile at (i, j), NR columns wide, lives, its rows *rs apart; NULL: use update */
    void *(*tile)(const struct gemm_product *product, int64_t i, int64_t j, int64_t *rs);
    /* C[i + r, j + t] = or += ab[r * rs_ab + t] for r < mr, t < nr */
    void (*update)(const struct gemm_product *product, int64_t i, int64_t j, int mr, int nr,
                   const void *ab, int64_t rs_ab, int accumulate);
    const void *context;
    /* when pack_b is NULL, B read in place: rows[p] = where B[p0 + p, j .. j + nr) starts,
     * its nr / lanes vectors b_vector_stride apart (columns past n computed and dropped) */
    void (*b_rows)(const struct gemm_product *product, int64_t p0, int64_t kc, int64_t j,
                   const void **rows);
    int64_t b_vector_stride;  /* the distance between a row's vectors there */
};

/* the micro-kernel the CPU runs for float32 / float64 (see minicnn_set_gemm_kernel) */
const struct gemm_kernel *gemm_kernel_f32(void);
const struct gemm_kernel *gemm_kernel_f64(void);

/* A dot-product micro-kernel, for products whose k runs along memory in both operands (the
 * weight gradient sums over pixels, contiguous in dy and in the rows of im2col):
 * c[r * rs + t] += sum over p < k of a[r * lda + p] * b[t][p] for r < mr, t < nr, with k a
 * multiple of `lanes` (the operands zero-padded). Vectors run along p; each of the mr * nr
 * sums is reduced across its lanes at the end. B's rows come as pointers: they may be views
 * of one buffer at different offsets. */
struct gemm_dot_kernel {
    const char *name;
    int mr, nr, lanes;
    void (*run)(int64_t k, const void *a, int64_t lda, const void *const *b, void *c,
                int64_t rs);
};

const struct gemm_dot_kernel *gemm_dot_kernel_f32(void);
const struct gemm_dot_kernel *gemm_dot_kernel_f64(void);

/* k split into equal blocks of at most kc_max: the block length */
static inline int64_t gemm_block_k(int64_t k, int64_t kc_max) {
    const int64_t blocks = (k + kc_max - 1) / kc_max;
    return (k + blocks - 1) / blocks;
}

static inline int64_t round_up(int64_t value, int64_t multiple) {
    return (value + multiple - 1) / multiple * multiple;
}

/* Packed A of rows [0, m) and k-range [p0, p1): for each k block (gemm_block_k) in turn, its
 * panels of MR rows, each kc columns of MR (rows past m zero). rows_padded = round_up(m, MR);
 * the block at p starts at (p - p0) * rows_padded. */
#define GEMM_DECLARE(real, suffix) \
    void gemm_pack_a##suffix(const real *a, int64_t rs, int64_t cs, int64_t m, int64_t p0, \
                             int64_t p1, const struct gemm_kernel *kernel, real *dst); \
    void gemm_run##suffix(const struct gemm_product *product, const struct gemm_kernel *kernel, \
                          const real *packed_a, int64_t i0, int64_t i1, int64_t j0, int64_t j1, \
                          int64_t p0, int64_t p1, int accumulate, real *packed_b);
GEMM_DECLARE(float, _f32)
GEMM_DECLARE(double, _f64)
#undef GEMM_DECLARE

/* bytes of a packed B block for this kernel */
static inline size_t gemm_packed_b_bytes(const struct gemm_kernel *kernel, size_t element) {
    return (size_t)(kernel->kc * round_up(kernel->nc, kernel->nr)) * element;
}

#endif
