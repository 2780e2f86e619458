/* gemm.c: the matrix product under minicnn's convolutions, C (m x n) = A (m x k) @ B (k x n).
 *
 * The structure is GotoBLAS / BLIS: K. Goto and R. van de Geijn, "Anatomy of high-performance
 * matrix multiplication", ACM TOMS 34(3), 2008; F. Van Zee and R. van de Geijn, "BLIS: a
 * framework for rapidly instantiating BLAS functionality", ACM TOMS 41(3), 2015.
 *
 *   for each block of nc columns of C            (a packed B block, kc x nc, stays in L2)
 *     for each block of kc steps of k            (B packed into panels of NR columns)
 *       for each panel of NR columns             (the panel stays in L1)
 *         for each panel of MR rows              (A packed once into panels of MR rows)
 *           micro-kernel: an MR x NR tile of C held in registers, kc rank-1 updates
 *
 * Three micro-kernels, chosen at run time by what the CPU supports (the extension is built
 * with the default flags; each kernel is compiled for its instruction set with a target
 * attribute): AVX-512 (8 x 32 float, 8 x 16 double), AVX2 + FMA (6 x 16 float, 6 x 8
 * double), and portable C that the compiler vectorises for the default target (4 x 16 float,
 * 4 x 8 double). MINICNN_GEMM_KERNEL=portable|avx2|avx512 in the environment, or
 * minicnn_set_gemm_kernel(), forces one (tests force the portable one); "auto" is the default.
 * Each comes twice: reading B from a packed panel (run), or each row of B where one of kc
 * pointers says (run_rows), the NR columns of a row contiguous except that a kernel's vectors
 * may lie a stride apart (conv2d_gemm.c reads an image's copies in place so, without packing).
 *
 * A tile is summed over k in the same order by every kernel that has the same kc, but the
 * vector kernels fuse multiply and add (one rounding) where the portable one may not: results
 * agree to rounding, not bit for bit.
 *
 * gemm_f32 / gemm_f64 are the plain product on strided matrices (BLAS's transposes and leading
 * dimensions); conv2d_gemm.c builds the convolutions on gemm_run with products of its own.
 *
 * Beside them, dot-product micro-kernels (gemm_dot_kernel, same three instruction sets) for a
 * product whose k runs along memory in both operands, as the weight gradient's sum over pixels
 * does: vectors along k, an MR x NR block of sums reduced across lanes at the end, so that
 * neither operand needs transposing into panels. */
#ifndef real
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GEMM_X86 1
#include <immintrin.h>

/* one vector micro-kernel: MR rows x NV vectors of `lanes` elements; B_ROW(p) is where B's
 * row p starts: in the packed panel, or at the p-th of the row pointers pb holds, and
 * B_VECTORS the distance between its NV vectors (packed: lanes; in place: vs) */
#define GEMM_MICRO_KERNEL_B(name, B_ROW, B_VECTORS, isa, real_t, vec, lanes, MR, NV, zero, load, store, \
                            fmadd, add, broadcast) \
    __attribute__((target(isa))) static void name(int64_t kc, const void *pa, const void *pb, \
                                                  int64_t vs, void *pc, int64_t rs, \
                                                  int accumulate) { \
        const real_t *a = pa; \
        real_t *c = pc; \
        const int64_t b_vectors = B_VECTORS(lanes, vs); \
        vec acc[MR][NV]; \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[r][v] = zero(); \
        for (int64_t p = 0; p < kc; p++, a += MR) { \
            const real_t *b = B_ROW(real_t, p, NV * lanes); \
            vec bv[NV]; \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) bv[v] = load(b + v * b_vectors); \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) { \
                const vec ar = broadcast(a[r]); \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) \
                    acc[r][v] = fmadd(ar, bv[v], acc[r][v]); \
            } \
        } \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) { \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) { \
                real_t *out = c + r * rs + v * lanes; \
                store(out, accumulate ? add(load(out), acc[r][v]) : acc[r][v]); \
            } \
        } \
    }
#define GEMM_PACKED_ROW(real_t, p, step) ((const real_t *)pb + (p) * (step))
#define GEMM_POINTED_ROW(real_t, p, step) (((const real_t *const *)pb)[p])
#define GEMM_PACKED_VECTORS(lanes, vs) (lanes)
#define GEMM_POINTED_VECTORS(lanes, vs) (vs)
#define GEMM_MICRO_KERNEL(name, rows_name, ...) \
    GEMM_MICRO_KERNEL_B(name, GEMM_PACKED_ROW, GEMM_PACKED_VECTORS, __VA_ARGS__) \
    GEMM_MICRO_KERNEL_B(rows_name, GEMM_POINTED_ROW, GEMM_POINTED_VECTORS, __VA_ARGS__)

GEMM_MICRO_KERNEL(micro_avx2_f32, micro_avx2_rows_f32, "avx2,fma", float, __m256, 8, 6, 2,
                  _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_fmadd_ps,
                  _mm256_add_ps, _mm256_set1_ps)
GEMM_MICRO_KERNEL(micro_avx2_f64, micro_avx2_rows_f64, "avx2,fma", double, __m256d, 4, 6, 2,
                  _mm256_setzero_pd, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_fmadd_pd,
                  _mm256_add_pd, _mm256_set1_pd)
GEMM_MICRO_KERNEL(micro_avx512_f32, micro_avx512_rows_f32, "avx512f", float, __m512, 16, 8, 2,
                  _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_fmadd_ps,
                  _mm512_add_ps, _mm512_set1_ps)
GEMM_MICRO_KERNEL(micro_avx512_f64, micro_avx512_rows_f64, "avx512f", double, __m512d, 8, 8, 2,
                  _mm512_setzero_pd, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_fmadd_pd,
                  _mm512_add_pd, _mm512_set1_pd)

/* one vector dot-product kernel: MR x NR sums along p, vectors of `lanes` */
#define GEMM_DOT_KERNEL(name, isa, real_t, vec, lanes, MR, NR, zero, load, fmadd, reduce) \
    __attribute__((target(isa))) static void name(int64_t k, const void *pa, int64_t lda, \
                                                  const void *const *pb, void *pc, \
                                                  int64_t rs) { \
        const real_t *a = pa; \
        const real_t *const *b = (const real_t *const *)pb; \
        real_t *c = pc; \
        vec acc[MR][NR]; \
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) \
            _Pragma("GCC unroll 8") for (int t = 0; t < NR; t++) acc[r][t] = zero(); \
        for (int64_t p = 0; p < k; p += lanes) { \
            vec av[MR]; \
            _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) av[r] = load(a + r * lda + p); \
            _Pragma("GCC unroll 8") for (int t = 0; t < NR; t++) { \
                const vec bv = load(b[t] + p); \
                _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) \
                    acc[r][t] = fmadd(av[r], bv, acc[r][t]); \
            } \
        } \
        _Pragma("GCC unroll 8") for (int r = 0; r < MR; r++) \
            _Pragma("GCC unroll 8") for (int t = 0; t < NR; t++) \
                c[r * rs + t] += reduce(acc[r][t]); \
    }

__attribute__((target("avx2,fma"))) static float sum_avx2_f32(__m256 v) {
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    return _mm_cvtss_f32(_mm_add_ss(half, _mm_movehdup_ps(half)));
}

__attribute__((target("avx2,fma"))) static double sum_avx2_f64(__m256d v) {
    __m128d half = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(half, _mm_unpackhi_pd(half, half)));
}

GEMM_DOT_KERNEL(dot_avx2_f32, "avx2,fma", float, __m256, 8, 3, 4, _mm256_setzero_ps,
                _mm256_loadu_ps, _mm256_fmadd_ps, sum_avx2_f32)
GEMM_DOT_KERNEL(dot_avx2_f64, "avx2,fma", double, __m256d, 4, 3, 4, _mm256_setzero_pd,
                _mm256_loadu_pd, _mm256_fmadd_pd, sum_avx2_f64)
GEMM_DOT_KERNEL(dot_avx512_f32, "avx512f", float, __m512, 16, 4, 6, _mm512_setzero_ps,
                _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_reduce_add_ps)
GEMM_DOT_KERNEL(dot_avx512_f64, "avx512f", double, __m512d, 8, 4, 6, _mm512_setzero_pd,
                _mm512_loadu_pd, _mm512_fmadd_pd, _mm512_reduce_add_pd)
#endif

enum gemm_isa { GEMM_AUTO = -1, GEMM_PORTABLE = 0, GEMM_AVX2 = 1, GEMM_AVX512 = 2 };
static const char *const gemm_isa_names[] = {"portable", "avx2", "avx512"};
static int gemm_forced = GEMM_AUTO - 1;  /* below GEMM_AUTO: the environment not read yet */

static int gemm_isa_supported(int isa) {
#ifdef GEMM_X86
    if (isa == GEMM_AVX512) return __builtin_cpu_supports("avx512f");
    if (isa == GEMM_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return isa == GEMM_PORTABLE;
}

static int gemm_isa_named(const char *name) {
    if (name == NULL) return GEMM_AUTO - 1;
    if (strcmp(name, "auto") == 0) return GEMM_AUTO;
    for (int isa = GEMM_PORTABLE; isa <= GEMM_AVX512; isa++)
        if (strcmp(name, gemm_isa_names[isa]) == 0) return isa;
    return GEMM_AUTO - 1;
}

static int gemm_isa(void) {
    if (gemm_forced < GEMM_AUTO) {
        const int isa = gemm_isa_named(getenv("MINICNN_GEMM_KERNEL"));
        gemm_forced = isa >= GEMM_AUTO && (isa == GEMM_AUTO || gemm_isa_supported(isa))
            ? isa : GEMM_AUTO;
    }
    if (gemm_forced != GEMM_AUTO) return gemm_forced;
    return gemm_isa_supported(GEMM_AVX512) ? GEMM_AVX512
        : gemm_isa_supported(GEMM_AVX2) ? GEMM_AVX2 : GEMM_PORTABLE;
}

int minicnn_set_gemm_kernel(const char *name) {
    const int isa = gemm_isa_named(name);
    if (isa < GEMM_AUTO || (isa != GEMM_AUTO && !gemm_isa_supported(isa)))
        return MINICNN_BAD_ARGUMENT;
    gemm_forced = isa;
    return MINICNN_OK;
}

const char *minicnn_gemm_kernel(void) {
    return gemm_isa_names[gemm_isa()];
}

#define GENERIC_FILE "gemm.c"
#include "generic.cuh"
#else

#define PORTABLE_MR 4
#define PORTABLE_NR ((int)(64 / sizeof(real)))

/* the portable micro-kernel: plain loops over a tile the compiler keeps in vector registers;
 * B's rows packed (pointed == 0) or at the row pointers pb holds */
static inline void NAME(micro_portable_b)(int64_t kc, const void *pa, const void *pb, void *pc,
                                          int64_t rs, int accumulate, int pointed) {
    const real *a = pa;
    real *c = pc;
    real acc[PORTABLE_MR][PORTABLE_NR] = {{0}};
    for (int64_t p = 0; p < kc; p++, a += PORTABLE_MR) {
        const real *b = pointed ? ((const real *const *)pb)[p]
                                : (const real *)pb + p * PORTABLE_NR;
        for (int r = 0; r < PORTABLE_MR; r++) {
            for (int t = 0; t < PORTABLE_NR; t++) acc[r][t] += a[r] * b[t];
        }
    }
    for (int r = 0; r < PORTABLE_MR; r++) {
        real *out = c + r * rs;
        for (int t = 0; t < PORTABLE_NR; t++) out[t] = accumulate ? out[t] + acc[r][t] : acc[r][t];
    }
}

static void NAME(micro_portable)(int64_t kc, const void *pa, const void *pb, int64_t vs,
                                 void *pc, int64_t rs, int accumulate) {
    (void)vs;  /* one vector: the whole row */
    NAME(micro_portable_b)(kc, pa, pb, pc, rs, accumulate, 0);
}

static void NAME(micro_portable_rows)(int64_t kc, const void *pa, const void *pb, int64_t vs,
                                      void *pc, int64_t rs, int accumulate) {
    (void)vs;
    NAME(micro_portable_b)(kc, pa, pb, pc, rs, accumulate, 1);
}

const struct gemm_kernel *NAME(gemm_kernel)(void) {
    static const struct gemm_kernel kernels[] = {
        {"portable", PORTABLE_MR, PORTABLE_NR, PORTABLE_NR, 256, 1024 / sizeof(real),
         NAME(micro_portable), NAME(micro_portable_rows)},
#ifdef GEMM_X86
        {"avx2", 6, 64 / (int)sizeof(real), 32 / (int)sizeof(real), 256, 1024 / sizeof(real),
         NAME(micro_avx2), NAME(micro_avx2_rows)},
        {"avx512", 8, 128 / (int)sizeof(real), 64 / (int)sizeof(real), 256 * 4 / sizeof(real),
         1024 / sizeof(real), NAME(micro_avx512), NAME(micro_avx512_rows)},
#endif
    };
    return &kernels[gemm_isa()];
}

#define PORTABLE_DOT_MR 2
#define PORTABLE_DOT_NR 4
#define PORTABLE_LANES ((int)(32 / sizeof(real)))

/* the portable dot-product kernel: partial sums in lanes the compiler maps onto vectors */
static void NAME(dot_portable)(int64_t k, const void *pa, int64_t lda,
                               const void *const *pb, void *pc, int64_t rs) {
    const real *a = pa;
    const real *const *b = (const real *const *)pb;
    real *c = pc;
    real acc[PORTABLE_DOT_MR][PORTABLE_DOT_NR][PORTABLE_LANES] = {{{0}}};
    for (int64_t p = 0; p < k; p += PORTABLE_LANES) {
        for (int r = 0; r < PORTABLE_DOT_MR; r++) {
            for (int t = 0; t < PORTABLE_DOT_NR; t++) {
                for (int l = 0; l < PORTABLE_LANES; l++)
                    acc[r][t][l] += a[r * lda + p + l] * b[t][p + l];
            }
        }
    }
    for (int r = 0; r < PORTABLE_DOT_MR; r++) {
        for (int t = 0; t < PORTABLE_DOT_NR; t++) {
            real sum = 0;
            for (int l = 0; l < PORTABLE_LANES; l++) sum += acc[r][t][l];
            c[r * rs + t] += sum;
        }
    }
}

const struct gemm_dot_kernel *NAME(gemm_dot_kernel)(void) {
    static const struct gemm_dot_kernel kernels[] = {
        {"portable", PORTABLE_DOT_MR, PORTABLE_DOT_NR, PORTABLE_LANES, NAME(dot_portable)},
#ifdef GEMM_X86
        {"avx2", 3, 4, 32 / (int)sizeof(real), NAME(dot_avx2)},
        {"avx512", 4, 6, 64 / (int)sizeof(real), NAME(dot_avx512)},
#endif
    };
    return &kernels[gemm_isa()];
}

void NAME(gemm_pack_a)(const real *a, int64_t rs, int64_t cs, int64_t m, int64_t p0, int64_t p1,
                       const struct gemm_kernel *kernel, real *dst) {
    const int mr = kernel->mr;
    const int64_t kc_max = gemm_block_k(p1 - p0, kernel->kc);
    for (int64_t pc = p0; pc < p1; pc += kc_max) {
        const int64_t kc = p1 - pc < kc_max ? p1 - pc : kc_max;
        for (int64_t ir = 0; ir < m; ir += mr) {
            const int rows = m - ir < mr ? (int)(m - ir) : mr;
            for (int64_t p = 0; p < kc; p++, dst += mr) {
                const real *from = a + ir * rs + (pc + p) * cs;
                int r = 0;
                for (; r < rows; r++) dst[r] = from[r * rs];
                for (; r < mr; r++) dst[r] = 0;
            }
        }
    }
}

void NAME(gemm_run)(const struct gemm_product *product, const struct gemm_kernel *kernel,
                    const real *packed_a, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                    int64_t p0, int64_t p1, int accumulate, real *packed_b) {
    const int mr = kernel->mr, nr = kernel->nr;
    const int64_t rows_padded = round_up(product->m, mr);
    const int64_t kc_max = gemm_block_k(p1 - p0, kernel->kc);
    if (i1 > product->m) i1 = product->m;
    real ab[GEMM_MAX_MR * GEMM_MAX_NR];
    const void *b_rows[GEMM_MAX_KC];
    for (int64_t jc = j0; jc < j1; jc += kernel->nc) {
        const int64_t nc = j1 - jc < kernel->nc ? j1 - jc : kernel->nc;
        for (int64_t pc = p0; pc < p1; pc += kc_max) {
            const int64_t kc = p1 - pc < kc_max ? p1 - pc : kc_max;
            const int add = accumulate || pc > p0;
            if (product->pack_b != NULL) product->pack_b(product, pc, kc, jc, nc, nr, packed_b);
            const real *a_block = packed_a + (pc - p0) * rows_padded;
            for (int64_t jr = 0; jr < nc; jr += nr) {
                const int columns = nc - jr < nr ? (int)(nc - jr) : nr;
                const void *b_panel = b_rows;
                void (*micro)(int64_t, const void *, const void *, int64_t, void *, int64_t, int)
                    = kernel->run_rows;
                int64_t vs = product->b_vector_stride;
                if (product->pack_b != NULL) {
                    b_panel = packed_b + jr * kc;
                    micro = kernel->run;
                    vs = kernel->lanes;
                } else {  /* B in place: its rows' addresses */
                    product->b_rows(product, pc, kc, jc + jr, b_rows);
                }
                for (int64_t ir = i0; ir < i1; ir += mr) {
                    const int rows = i1 - ir < mr ? (int)(i1 - ir) : mr;
                    const real *a_panel = a_block + ir * kc;
                    int64_t rs;
                    real *c = columns == nr ? product->tile(product, ir, jc + jr, &rs) : NULL;
                    if (c != NULL && rows == mr) {
                        micro(kc, a_panel, b_panel, vs, c, rs, add);
                    } else if (c != NULL) {  /* the last rows of C: row by row, contiguous */
                        micro(kc, a_panel, b_panel, vs, ab, nr, 0);
                        for (int r = 0; r < rows; r++) {
                            real *out = c + r * rs;
                            const real *in = ab + r * nr;
                            for (int t = 0; t < nr; t++) out[t] = add ? out[t] + in[t] : in[t];
                        }
                    } else {
                        micro(kc, a_panel, b_panel, vs, ab, nr, 0);
                        product->update(product, ir, jc + jr, rows, columns, ab, nr, add);
                    }
                }
            }
        }
    }
}

/* ----- the plain product on strided matrices ------------------------------------------------ */

struct NAME(strided) {
    const real *b;
    int64_t b_rs, b_cs;
    real *c;
    int64_t ldc;
};

static void NAME(strided_pack_b)(const struct gemm_product *product, int64_t p0, int64_t kc,
                                 int64_t j0, int64_t nc, int nr, void *out) {
    const struct NAME(strided) *s = product->context;
    real *dst = out;
    for (int64_t p = 0; p < kc; p++) {  /* along B's rows: one stream of memory at a time */
        const real *from = s->b + (p0 + p) * s->b_rs + j0 * s->b_cs;
        for (int64_t jr = 0; jr < nc; jr += nr) {
            const int columns = nc - jr < nr ? (int)(nc - jr) : nr;
            real *to = dst + jr * kc + p * nr;
            int t = 0;
            if (s->b_cs == 1) {
                for (; t < columns; t++) to[t] = from[jr + t];
            } else {
                for (; t < columns; t++) to[t] = from[(jr + t) * s->b_cs];
            }
            for (; t < nr; t++) to[t] = 0;
        }
    }
}

static void *NAME(strided_tile)(const struct gemm_product *product, int64_t i, int64_t j,
                                int64_t *rs) {
    const struct NAME(strided) *s = product->context;
    *rs = s->ldc;
    return s->c + i * s->ldc + j;
}

static void NAME(strided_update)(const struct gemm_product *product, int64_t i, int64_t j,
                                 int mr, int nr, const void *ab, int64_t rs_ab, int accumulate) {
    const struct NAME(strided) *s = product->context;
    const real *from = ab;
    for (int r = 0; r < mr; r++) {
        real *out = s->c + (i + r) * s->ldc + j;
        const real *in = from + r * rs_ab;
        for (int t = 0; t < nr; t++) out[t] = accumulate ? out[t] + in[t] : in[t];
    }
}

struct NAME(gemm_job) {
    const struct gemm_product *product;
    const struct gemm_kernel *kernel;
    const real *packed_a;
    real *packed_b;  /* one block per worker */
    size_t packed_b_elements;
    int64_t row_blocks, block_rows;
    int accumulate;
};

static void NAME(gemm_item)(void *context, int64_t item, int worker) {
    const struct NAME(gemm_job) *job = context;
    const int64_t i0 = item % job->row_blocks * job->block_rows;
    const int64_t j0 = item / job->row_blocks * job->kernel->nc;
    const int64_t j1 = j0 + job->kernel->nc < job->product->n ? j0 + job->kernel->nc
                                                               : job->product->n;
    NAME(gemm_run)(job->product, job->kernel, job->packed_a, i0, i0 + job->block_rows, j0, j1, 0,
                   job->product->k, job->accumulate,
                   job->packed_b + (size_t)worker * job->packed_b_elements);
}

int NAME(gemm)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const real *a,
               int64_t lda, const real *b, int64_t ldb, int accumulate, real *c, int64_t ldc) {
    int64_t count;
    if (!COUNT(&count, M, N, K) || lda < (trans_a ? M : K) || ldb < (trans_b ? K : N)
        || ldc < N || !COUNT(&count, M + K, lda) || !COUNT(&count, N + K, ldb)
        || !COUNT(&count, M, ldc) || (accumulate != 0 && accumulate != 1))
        return MINICNN_BAD_ARGUMENT;
    const struct gemm_kernel *kernel = NAME(gemm_kernel)();
    const struct NAME(strided) s = {b, trans_b ? 1 : ldb, trans_b ? ldb : 1, c, ldc};
    const struct gemm_product product = {M, N, K, NAME(strided_pack_b), NAME(strided_tile),
                                         NAME(strided_update), &s};
    const int64_t block_rows = 16 * kernel->mr;
    const int64_t row_blocks = (M + block_rows - 1) / block_rows;
    const int64_t items = row_blocks * ((N + kernel->nc - 1) / kernel->nc);
    const int threads = minicnn_pool_threads(items);
    const size_t packed_b_elements = gemm_packed_b_bytes(kernel, sizeof(real)) / sizeof(real);
    real *packed_a = minicnn_malloc((size_t)(round_up(M, kernel->mr) * K) * sizeof(real));
    real *packed_b = minicnn_malloc((size_t)threads * packed_b_elements * sizeof(real));
    if (packed_a == NULL || packed_b == NULL) {
        free(packed_a);
        free(packed_b);
        return MINICNN_OUT_OF_MEMORY;
    }
    NAME(gemm_pack_a)(a, trans_a ? 1 : lda, trans_a ? lda : 1, M, 0, K, kernel, packed_a);
    struct NAME(gemm_job) job = {&product, kernel, packed_a, packed_b, packed_b_elements,
                                 row_blocks, block_rows, accumulate};
    minicnn_parallel_for(items, threads, NAME(gemm_item), &job);
    free(packed_a);
    free(packed_b);
    return MINICNN_OK;
}

#endif
