/* conv2d_gemm.c: 2-d convolution, forward and both gradients, on the GEMM of gemm.c with im2col
 * and col2im fused into it: the column matrix is never built beyond one packed panel (or one
 * image's shifted copies). conv2d_direct.c holds the same three as plain loops, the reference
 * the tests compare these with.
 *
 * x (N, C, H, W), weight (F, C/G, kh, kw), y (N, F, oh, ow), G groups; per group g, with
 * cols = im2col(x_g) (C/G*kh*kw, N*oh*ow) as in reference.im2col (column q = n*oh*ow + oy*ow + ox),
 * five algorithms, each with its struct, in the order of the math:
 *
 *   forward          y_g  (F/G, N*oh*ow)      = W_g (F/G, C/G*kh*kw) @ cols
 *                    forward_in_place: B read where it lies, in phase copies of each image
 *                    forward_packed: else B packed straight from x;
 *                    either way a tile lands in y's NCHW layout
 *   input gradient   dx_g = col2im(W_g^T (C/G*kh*kw, F/G) @ dy_g (F/G, N*oh*ow))
 *                    input_gradient_col2im: each tile of W_g^T @ dy_g is added into dx where
 *                    im2col read it; at stride 1 the forward instead
 *                    (backward_input_as_convolution):
 *                    dx = conv2d(dy, W flipped, transposed)
 *   weight gradient  dW_g (F/G, C/G*kh*kw)     = dy_g @ cols^T
 *                    weight_gradient: a sum over columns q, contiguous in dy_g's rows and in
 *                    cols' rows: dot products of dy's rows and views of phase copies of x's
 *                    rows (backward_weight_rows_item), else of rows packed straight from dy and
 *                    x (backward_weight_item; no transposition)
 *
 * Threads (threadpool.c): one parallel call per convolution, over independent items claimed
 * dynamically. Forward: (group, image), or (group, block of columns). Input gradient: (group,
 * images, block of channels): an item owns its part of dx, so no two items write the same
 * element (no atomics) and every element sums in a fixed order. Weight gradient: (group, chunk
 * of columns q), each chunk into its own partial dW; the item that finishes a group's last chunk
 * adds the partials in chunk order, so the result does not depend on the thread count either. */
#ifndef real
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "conv2d.h"
#include "gemm.h"

/* the widest panel packed: NR columns of a micro-kernel, or a slice of the weight gradient */
#define MAX_PANEL_COLUMNS 1024
/* the weight gradient by rows: at most this many columns a slice (the longer the sums of a
 * dot-product call, the less its final reductions cost), and no more than ROWS_SLICE_ELEMENTS
 * in its slice of dy (kept in L2) unless that leaves fewer than MAX_PANEL_COLUMNS */
#define ROWS_SLICE_COLUMNS 4096
#define ROWS_SLICE_ELEMENTS (1 << 17)

/* A stretch of columns q = n*P + oy*ow + ox with one (n, oy) and consecutive ox. */
struct column_run {
    int64_t n, oy, ox, length, start;  /* start: its offset from the first column */
};

/* columns [q, q + count) as runs; returns how many (at most count) */
static int column_runs(const struct conv_geometry *g, int64_t q, int64_t count,
                       struct column_run *runs) {
    int n_runs = 0;
    int64_t n = q / g->P, oy = q % g->P / g->ow, ox = q % g->ow;
    for (int64_t start = 0; start < count;) {
        const int64_t length = g->ow - ox < count - start ? g->ow - ox : count - start;
        runs[n_runs++] = (struct column_run){n, oy, ox, length, start};
        start += length;
        ox = 0;
        if (++oy == g->oh) {
            oy = 0;
            n++;
        }
    }
    return n_runs;
}

/* The entries u < limit of a row whose input column u sw + offset lies inside [0, W):
 * [*first, *last), empty (first == last) when there are none. */
static void columns_inside(const struct conv_geometry *g, int64_t offset, int64_t limit,
                           int64_t *first, int64_t *last) {
    int64_t lo = offset >= 0 ? 0 : (-offset + g->sw - 1) / g->sw;
    int64_t hi = g->W - 1 - offset >= 0 ? (g->W - 1 - offset) / g->sw + 1 : 0;
    if (hi > limit) hi = limit;
    *first = lo < hi ? lo : hi;
    *last = hi;
}

/* One row (c, i, j) of im2col: where its entries come from, worked out once per call. */
struct im2col_row {
    int64_t channel;   /* c * H * W */
    int64_t h_offset;  /* i * dh - ph: row oy reads input row oy * sh + h_offset */
    int64_t w_offset;  /* j * dw - pw: column ox reads input column ox * sw + w_offset */
    int64_t ox_first, ox_last;  /* the ox whose input column is inside [0, W) */
};

static struct im2col_row *im2col_rows(const struct conv_geometry *g) {
    const int64_t K = g->Cg * g->taps;
    struct im2col_row *rows = minicnn_malloc((size_t)K * sizeof(*rows));
    if (rows == NULL) return NULL;
    for (int64_t row = 0; row < K; row++) {
        const int64_t offset = row % g->kw * g->dw - g->pw;
        int64_t first, last;
        columns_inside(g, offset, g->ow, &first, &last);
        rows[row] = (struct im2col_row){row / g->taps * g->H * g->W,
                                        row / g->kw % g->kh * g->dh - g->ph, offset, first, last};
    }
    return rows;
}

/* the part [*first, *last) of a run that a row reads from inside the image (empty when the
 * run's input row is padding); returns the input row, or -1 */
static int64_t run_inside(const struct conv_geometry *g, const struct column_run *run,
                          const struct im2col_row *row, int64_t *first, int64_t *last) {
    const int64_t h = run->oy * g->sh + row->h_offset;
    int64_t lo = row->ox_first > run->ox ? row->ox_first : run->ox;
    int64_t hi = row->ox_last < run->ox + run->length ? row->ox_last : run->ox + run->length;
    if (h < 0 || h >= g->H || hi < lo) lo = hi = run->ox;
    *first = lo;
    *last = hi;
    return lo == hi ? -1 : h;
}

/* items of a parallel call split into `parts` nearly equal ranges: range `part` of `total` */
static void split_range(int64_t total, int64_t parts, int64_t part, int64_t *begin,
                        int64_t *end) {
    *begin = total * part / parts;
    *end = total * (part + 1) / parts;
}

static int64_t gcd(int64_t a, int64_t b) {
    while (b) {
        const int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Phase copies, along one axis of a window of k taps, dilation d, stride s: output o's tap t
 * reads input coordinate o s + t d - p = (o + t d / s) s + (t d % s) - p. A copy of phase a
 * holds input coordinate u s + a - p at entry u, so tap t reads entry o + t d / s (its shift)
 * of the copy of phase t d % s: contiguous in o whatever the stride. The phases in use are the
 * multiples of gcd(d, s) below s, every one of them when k >= s / gcd(d, s) (the copy of phase
 * a is then number a / gcd), else k different ones (copy t is tap t's). At stride 1, one copy
 * of phase 0, tap t shifted by t d. */
static int64_t phase_copies(int64_t k, int64_t d, int64_t s) {
    const int64_t period = s / gcd(d, s);
    return k < period ? k : period;
}

static int64_t phase_copy_of_tap(int64_t t, int64_t k, int64_t d, int64_t s) {
    const int64_t g = gcd(d, s);
    return k < s / g ? t : t * d % s / g;
}

static int64_t phase_of_copy(int64_t copy, int64_t k, int64_t d, int64_t s) {
    const int64_t g = gcd(d, s);
    return k < s / g ? copy * d % s : copy * g;
}

#define GENERIC_FILE "conv2d_gemm.c"
#include "generic.cuh"
#else

/* ----- forward: y_g = W_g @ im2col(x_g) ----------------------------------------------------- */

/* What the packers of B read for one group: im2col(x_g) (pack_im2col: x and im2col's rows) or
 * dy_g (pack_grad_y). It is the first member of each product context that packs, so a packer
 * takes that context as one. */
struct NAME(panel_source) {
    const struct conv_geometry *g;
    const real *x, *dy;
    const struct im2col_row *rows;  /* the rows of im2col(x_g), the same for every group */
    int64_t group;
};

/* The forward from packed panels: items (group, block of nc columns q). */
struct NAME(forward_packed) {
    struct conv_geometry g;
    const struct gemm_kernel *kernel;
    const real *x;
    real *y;
    const struct im2col_row *rows;
    const real *packed_a;   /* W_g packed, per group, group_stride elements apart */
    int64_t group_stride;
    int64_t blocks;         /* of nc columns */
    real *workspace;        /* a packed B block per worker, worker_stride elements apart */
    size_t worker_stride;
};

struct NAME(forward_packed_product) {
    struct NAME(panel_source) source;
    const struct NAME(forward_packed) *job;
};

/* B = im2col(x_g): rows (c, i, j), columns q */
static void NAME(pack_im2col)(const struct gemm_product *product, int64_t p0, int64_t kc,
                              int64_t j0, int64_t nc, int nr, void *out) {
    const struct NAME(panel_source) *source = product->context;
    const struct conv_geometry *g = source->g;
    const real *x = source->x + source->group * g->Cg * g->H * g->W;
    real *dst = out;
    struct column_run runs[MAX_PANEL_COLUMNS];
    for (int64_t jr = 0; jr < nc; jr += nr, dst += kc * nr) {
        const int64_t columns = nc - jr < nr ? nc - jr : nr;
        const int n_runs = column_runs(g, j0 + jr, columns, runs);
        for (int64_t p = 0; p < kc; p++) {
            const struct im2col_row *row = &source->rows[p0 + p];
            real *to = dst + p * nr;
            for (int r = 0; r < n_runs; r++) {
                const struct column_run *run = &runs[r];
                real *o = to + run->start - run->ox;  /* o[ox] is column ox of the run */
                int64_t first, last;
                const int64_t h = run_inside(g, run, row, &first, &last);
                const int64_t end = run->ox + run->length;
                for (int64_t ox = run->ox; ox < first; ox++) o[ox] = 0;
                if (first < last) {
                    const real *in = x + run->n * g->C * g->H * g->W + row->channel + h * g->W
                        + row->w_offset;
                    if (g->sw == 1 && last - first >= 16) {  /* the C library's vector copy */
                        memcpy(o + first, in + first, (size_t)(last - first) * sizeof(real));
                    } else {
                        for (int64_t ox = first; ox < last; ox++) o[ox] = in[ox * g->sw];
                    }
                }
                for (int64_t ox = last; ox < end; ox++) o[ox] = 0;
            }
            if (columns < nr) memset(to + columns, 0, (size_t)(nr - columns) * sizeof(real));
        }
    }
}

static void *NAME(forward_tile)(const struct gemm_product *product, int64_t i, int64_t j,
                                int64_t *rs) {
    const struct NAME(forward_packed_product) *fp = product->context;
    const struct conv_geometry *g = &fp->job->g;
    const int64_t n = j / g->P, p = j % g->P;
    if (p + fp->job->kernel->nr > g->P) return NULL;  /* the tile spans two images */
    *rs = g->P;
    return fp->job->y + (n * g->F + fp->source.group * g->Fg + i) * g->P + p;
}

static void NAME(forward_update)(const struct gemm_product *product, int64_t i, int64_t j,
                                 int mr, int nr, const void *ab, int64_t rs_ab, int accumulate) {
    const struct NAME(forward_packed_product) *fp = product->context;
    const struct conv_geometry *g = &fp->job->g;
    const real *from = ab;
    for (int t = 0; t < nr; t++) {
        const int64_t n = (j + t) / g->P, p = (j + t) % g->P;
        real *out = fp->job->y + (n * g->F + fp->source.group * g->Fg + i) * g->P + p;
        for (int r = 0; r < mr; r++) {
            out[r * g->P] = accumulate ? out[r * g->P] + from[r * rs_ab + t] : from[r * rs_ab + t];
        }
    }
}

static void NAME(forward_item)(void *context, int64_t item, int worker) {
    const struct NAME(forward_packed) *job = context;
    const struct conv_geometry *g = &job->g;
    const int64_t group = item / job->blocks, block = item % job->blocks;
    const struct NAME(forward_packed_product) fp = {{g, job->x, NULL, job->rows, group}, job};
    const struct gemm_product product = {g->Fg, g->N * g->P, g->Cg * g->taps,
                                         NAME(pack_im2col), NAME(forward_tile),
                                         NAME(forward_update), &fp};
    const int64_t j0 = block * job->kernel->nc;
    const int64_t j1 = j0 + job->kernel->nc < product.n ? j0 + job->kernel->nc : product.n;
    NAME(gemm_run)(&product, job->kernel, job->packed_a + group * job->group_stride, 0, g->Fg,
                   j0, j1, 0, product.k, 0, job->workspace + worker * job->worker_stride);
}

/* Forward from shifted copies: per image of the group, phase copies of x_g[c] with their
 * padding (see phase_copies), so that row (c, i, j) of im2col, over the image's columns
 * q = oy ow + ox, lies in one copy at offsets[(c, i, j)] + (oy pitch + ox): the micro-kernel
 * reads B's rows where they lie, and its tiles land in y directly.
 * - Rows: a copy per row phase, oh + (kh-1) dh / sh rows (at stride 1, one copy; row i starts
 *   i dh rows down).
 * - Columns: when each vector of a panel of NR columns lies in one output row (panels tile a
 *   row, or a vector is a whole row and the panel's vectors are rows pitch apart), a copy per
 *   column phase, pitch = ow + (kw-1) dw / sw (column j starts (j dw) / sw in); else a copy
 *   per j of ow columns (pitch = ow), in which output rows follow each other without a gap, so
 *   that a panel may run on into the next row.
 * The copies cost one to kw passes over an image, which stays in cache, where packing im2col
 * panels cost kh kw passes per block of columns. Items (group, image). */
struct NAME(forward_in_place) {
    struct conv_geometry g;
    const struct gemm_kernel *kernel;
    const real *x;
    real *y;
    const real *packed_a;   /* W_g packed, per group, group_stride elements apart */
    int64_t group_stride;
    int64_t row_copies, copy_rows;  /* copies along the rows, and the rows of each */
    int64_t column_copies, pitch;   /* copies along the columns, and the columns of each */
    int column_phases;              /* the column copies are phases (else one per j) */
    int64_t vector_stride;          /* between the vectors of a row of B, in the copies */
    int64_t tail;                   /* zeros after the copies, read by the last panel */
    int64_t *offsets;               /* row (c, i, j) of im2col: where it starts in the copies */
    real *workspace;                /* an image's copies per worker, worker_stride apart */
    size_t worker_stride;
};

struct NAME(in_place_product) {
    const struct NAME(forward_in_place) *job;
    int64_t group, image;
    const real *copies;     /* the image's copies */
};

static void NAME(in_place_rows)(const struct gemm_product *product, int64_t p0, int64_t kc,
                                int64_t j, const void **rows) {
    const struct NAME(in_place_product) *ip = product->context;
    const struct NAME(forward_in_place) *job = ip->job;
    const int64_t *offsets = job->offsets + p0;
    const real *start = ip->copies + j / job->g.ow * job->pitch + j % job->g.ow;
    for (int64_t p = 0; p < kc; p++) rows[p] = start + offsets[p];
}

static void *NAME(in_place_tile)(const struct gemm_product *product, int64_t i, int64_t j,
                                 int64_t *rs) {
    const struct NAME(in_place_product) *ip = product->context;
    const struct conv_geometry *g = &ip->job->g;
    *rs = g->P;
    return ip->job->y + (ip->image * g->F + ip->group * g->Fg + i) * g->P + j;
}

static void NAME(in_place_update)(const struct gemm_product *product, int64_t i, int64_t j,
                                  int mr, int nr, const void *ab, int64_t rs_ab,
                                  int accumulate) {
    const struct NAME(in_place_product) *ip = product->context;
    const struct conv_geometry *g = &ip->job->g;
    real *y = ip->job->y + (ip->image * g->F + ip->group * g->Fg + i) * g->P + j;
    for (int r = 0; r < mr; r++) {
        const real *in = (const real *)ab + r * rs_ab;
        real *out = y + r * g->P;
        for (int t = 0; t < nr; t++) out[t] = accumulate ? out[t] + in[t] : in[t];
    }
}

static void NAME(forward_in_place_item)(void *context, int64_t item, int worker) {
    const struct NAME(forward_in_place) *job = context;
    const struct conv_geometry *g = &job->g;
    const int64_t group = item / g->N, n = item % g->N, pitch = job->pitch;
    const int64_t rows = job->copy_rows;
    const real *x = job->x + (n * g->C + group * g->Cg) * g->H * g->W;
    real *copies = job->workspace + worker * job->worker_stride, *to = copies;
    for (int64_t i = 0; i < job->row_copies; i++) {
        const int64_t h_offset = phase_of_copy(i, g->kh, g->dh, g->sh) - g->ph;
        for (int64_t j = 0; j < job->column_copies; j++) {
            /* column u of a copy reads input column u sw + w_offset */
            const int64_t w_offset = (job->column_phases ? phase_of_copy(j, g->kw, g->dw, g->sw)
                                                         : j * g->dw) - g->pw;
            int64_t first, last;
            columns_inside(g, w_offset, pitch, &first, &last);
            for (int64_t c = 0; c < g->Cg; c++) {
                for (int64_t y = 0; y < rows; y++, to += pitch) {
                    const int64_t h = y * g->sh + h_offset;
                    int64_t u = 0;
                    if (h >= 0 && h < g->H && first < last) {
                        const real *in = x + (c * g->H + h) * g->W + w_offset;
                        for (; u < first; u++) to[u] = 0;
                        if (g->sw == 1) {
                            memcpy(to + u, in + u, (size_t)(last - u) * sizeof(real));
                            u = last;
                        }
                        for (; u < last; u++) to[u] = in[u * g->sw];
                    }
                    for (; u < pitch; u++) to[u] = 0;
                }
            }
        }
    }
    memset(to, 0, (size_t)job->tail * sizeof(real));  /* read by the last panel, dropped */
    const struct NAME(in_place_product) ip = {job, group, n, copies};
    const struct gemm_product product = {g->Fg, g->P, g->Cg * g->taps, NULL,
                                         NAME(in_place_tile), NAME(in_place_update), &ip,
                                         NAME(in_place_rows), job->vector_stride};
    NAME(gemm_run)(&product, job->kernel, job->packed_a + group * job->group_stride, 0, g->Fg,
                   0, g->P, 0, product.k, 0, NULL);
}

/* Plans the forward from shifted copies when the copies of an image are at most 2^20 elements
 * (4 MiB of float32 a thread, a padded 64-channel 112x112 image); returns 0 (pack im2col
 * panels instead) otherwise. */
static int NAME(forward_in_place_plan)(struct NAME(forward_in_place) *job) {
    const struct conv_geometry *g = &job->g;
    job->row_copies = phase_copies(g->kh, g->dh, g->sh);
    job->copy_rows = g->oh + (g->kh - 1) * g->dh / g->sh;
    const int nr = job->kernel->nr, lanes = job->kernel->lanes;
    const int row_vectors = g->ow % nr != 0 && g->ow == lanes;  /* a vector an output row */
    job->column_phases = g->ow % nr == 0 || row_vectors;
    job->column_copies = job->column_phases ? phase_copies(g->kw, g->dw, g->sw) : g->kw;
    job->pitch = job->column_phases ? g->ow + (g->kw - 1) * g->dw / g->sw : g->ow;
    job->vector_stride = job->column_phases && row_vectors ? job->pitch : lanes;
    job->tail = nr + nr / lanes * job->pitch;  /* the last panel's vectors, nr / lanes rows */
    int64_t elements;
    if (!COUNT(&elements, job->row_copies, job->column_copies, g->Cg, job->copy_rows, job->pitch)
        || elements > ((int64_t)1 << 20))
        return 0;
    job->worker_stride = (size_t)(elements + job->tail);
    const int64_t K = g->Cg * g->taps;
    job->offsets = minicnn_malloc((size_t)K * sizeof(*job->offsets));
    if (job->offsets == NULL) return 0;
    for (int64_t row = 0; row < K; row++) {
        const int64_t c = row / g->taps, i = row / g->kw % g->kh, j = row % g->kw;
        const int64_t copy = phase_copy_of_tap(i, g->kh, g->dh, g->sh) * job->column_copies
            + (job->column_phases ? phase_copy_of_tap(j, g->kw, g->dw, g->sw) : j);
        job->offsets[row] = ((copy * g->Cg + c) * job->copy_rows + i * g->dh / g->sh) * job->pitch
            + (job->column_phases ? j * g->dw / g->sw : 0);
    }
    return 1;
}

/* the packed weights of every group, as A (rows f, columns (c, i, j)) or transposed */
static real *NAME(pack_weights)(const struct conv_geometry *g, const real *weight,
                                const struct gemm_kernel *kernel, int transposed,
                                int64_t *group_stride) {
    const int64_t K = g->Cg * g->taps;
    const int64_t m = transposed ? K : g->Fg, k = transposed ? g->Fg : K;
    *group_stride = round_up(m, kernel->mr) * k;
    real *packed = minicnn_malloc((size_t)(*group_stride * g->G) * sizeof(real));
    if (packed == NULL) return NULL;
    for (int64_t group = 0; group < g->G; group++) {
        NAME(gemm_pack_a)(weight + group * g->Fg * K, transposed ? 1 : K, transposed ? K : 1, m,
                          0, k, kernel, packed + group * *group_stride);
    }
    return packed;
}

/* a packed B block per worker, *worker_stride elements apart; NULL when out of memory */
static real *NAME(packed_b_workspace)(const struct gemm_kernel *kernel, int threads,
                                      size_t *worker_stride) {
    *worker_stride = gemm_packed_b_bytes(kernel, sizeof(real)) / sizeof(real);
    return minicnn_malloc((size_t)threads * *worker_stride * sizeof(real));
}

int NAME(conv2d_forward)(const real *x, const real *weight, real *y, int64_t N, int64_t C,
                         int64_t H, int64_t W, int64_t F, int64_t groups, int64_t kh,
                         int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                         int64_t dw) {
    struct conv_geometry g;
    if (!conv_geometry_set(&g, N, C, H, W, F, groups, kh, kw, sh, sw, ph, pw, dh, dw))
        return MINICNN_BAD_ARGUMENT;
    const struct gemm_kernel *kernel = NAME(gemm_kernel)();
    int64_t group_stride;
    real *packed = NAME(pack_weights)(&g, weight, kernel, 0, &group_stride);
    if (packed == NULL) return MINICNN_OUT_OF_MEMORY;
    struct NAME(forward_in_place) in_place = {.g = g, .kernel = kernel, .x = x, .y = y,
                                              .packed_a = packed, .group_stride = group_stride};
    if (NAME(forward_in_place_plan)(&in_place)) {  /* items (group, image) */
        const int threads = minicnn_pool_threads(groups * N);
        in_place.workspace = minicnn_malloc((size_t)threads * in_place.worker_stride
                                            * sizeof(real));
        if (in_place.workspace != NULL)
            minicnn_parallel_for(groups * N, threads, NAME(forward_in_place_item), &in_place);
        free(packed);
        free(in_place.offsets);
        free(in_place.workspace);
        return in_place.workspace == NULL ? MINICNN_OUT_OF_MEMORY : MINICNN_OK;
    }
    struct NAME(forward_packed) job = {.g = g, .kernel = kernel, .x = x, .y = y,
                                       .packed_a = packed, .group_stride = group_stride};
    job.blocks = (N * g.P + kernel->nc - 1) / kernel->nc;
    const int threads = minicnn_pool_threads(groups * job.blocks);
    struct im2col_row *rows = im2col_rows(&g);
    job.rows = rows;
    if (rows != NULL)
        job.workspace = NAME(packed_b_workspace)(kernel, threads, &job.worker_stride);
    if (job.workspace != NULL)
        minicnn_parallel_for(groups * job.blocks, threads, NAME(forward_item), &job);
    free(packed);
    free(rows);
    free(job.workspace);
    return job.workspace == NULL ? MINICNN_OUT_OF_MEMORY : MINICNN_OK;
}

/* ----- input gradient: dx_g = col2im(W_g^T @ dy_g) ------------------------------------------ */

/* Through col2im: items (group, block of images, block of channels), each owning its part of
 * dx. */
struct NAME(input_gradient_col2im) {
    struct conv_geometry g;
    const struct gemm_kernel *kernel;
    const real *dy;
    real *dx;
    const struct im2col_row *rows;
    const real *packed_a;   /* W_g^T packed, per group, group_stride elements apart */
    int64_t group_stride;
    int64_t channel_block, images_per_item;
    real *workspace;        /* a packed B block per worker, worker_stride elements apart */
    size_t worker_stride;
};

struct NAME(col2im_product) {
    struct NAME(panel_source) source;
    real *dx;
};

/* B = dy_g: rows f, columns q */
static void NAME(pack_grad_y)(const struct gemm_product *product, int64_t p0, int64_t kc,
                              int64_t j0, int64_t nc, int nr, void *out) {
    const struct NAME(panel_source) *source = product->context;
    const struct conv_geometry *g = source->g;
    real *dst = out;
    for (int64_t jr = 0; jr < nc; jr += nr, dst += kc * nr) {
        const int64_t q = j0 + jr;
        const int64_t columns = nc - jr < nr ? nc - jr : nr;
        for (int64_t p = 0; p < kc; p++) {
            real *to = dst + p * nr;
            for (int64_t t = 0; t < columns;) {  /* one image at a time */
                const int64_t n = (q + t) / g->P, pixel = (q + t) % g->P;
                const int64_t length = g->P - pixel < columns - t ? g->P - pixel : columns - t;
                const real *in = source->dy + (n * g->F + source->group * g->Fg + p0 + p) * g->P
                    + pixel;
                memcpy(to + t, in, (size_t)length * sizeof(real));
                t += length;
            }
            if (columns < nr) memset(to + columns, 0, (size_t)(nr - columns) * sizeof(real));
        }
    }
}

static void *NAME(no_tile)(const struct gemm_product *product, int64_t i, int64_t j,
                           int64_t *rs) {
    (void)product, (void)i, (void)j, (void)rs;
    return NULL;
}

/* add a tile of dcols (rows (c, i, j), columns q) into dx where im2col read it from */
static void NAME(col2im_update)(const struct gemm_product *product, int64_t i, int64_t j,
                                int mr, int nr, const void *ab, int64_t rs_ab, int accumulate) {
    (void)accumulate;  /* always add: each item zeroes its part of dx first */
    const struct NAME(col2im_product) *cp = product->context;
    const struct conv_geometry *g = cp->source.g;
    struct column_run runs[GEMM_MAX_NR];
    const int n_runs = column_runs(g, j, nr, runs);
    for (int r = 0; r < mr; r++) {
        const struct im2col_row *row = &cp->source.rows[i + r];
        const real *from = (const real *)ab + r * rs_ab;
        for (int u = 0; u < n_runs; u++) {
            const struct column_run *run = &runs[u];
            int64_t first, last;
            const int64_t h = run_inside(g, run, row, &first, &last);
            if (h < 0) continue;
            real *out = cp->dx + (run->n * g->C + cp->source.group * g->Cg) * g->H * g->W
                + row->channel + h * g->W + row->w_offset;
            const real *in = from + run->start - run->ox;
            if (g->sw == 1) {
                for (int64_t ox = first; ox < last; ox++) out[ox] += in[ox];
            } else {
                for (int64_t ox = first; ox < last; ox++) out[ox * g->sw] += in[ox];
            }
        }
    }
}

static void NAME(backward_input_item)(void *context, int64_t item, int worker) {
    const struct NAME(input_gradient_col2im) *job = context;
    const struct conv_geometry *g = &job->g;
    const int64_t channel_blocks = (g->Cg + job->channel_block - 1) / job->channel_block;
    const int64_t image_blocks = (g->N + job->images_per_item - 1) / job->images_per_item;
    const int64_t group = item / (image_blocks * channel_blocks);
    const int64_t n0 = item / channel_blocks % image_blocks * job->images_per_item;
    const int64_t c0 = item % channel_blocks * job->channel_block;
    const int64_t n1 = n0 + job->images_per_item < g->N ? n0 + job->images_per_item : g->N;
    const int64_t c1 = c0 + job->channel_block < g->Cg ? c0 + job->channel_block : g->Cg;
    for (int64_t n = n0; n < n1; n++) {  /* this item's part of dx, summed into below */
        memset(job->dx + (n * g->C + group * g->Cg + c0) * g->H * g->W, 0,
               (size_t)((c1 - c0) * g->H * g->W) * sizeof(real));
    }
    const struct NAME(col2im_product) cp = {{g, NULL, job->dy, job->rows, group}, job->dx};
    const struct gemm_product product = {g->Cg * g->taps, g->N * g->P, g->Fg,
                                         NAME(pack_grad_y), NAME(no_tile),
                                         NAME(col2im_update), &cp};
    NAME(gemm_run)(&product, job->kernel, job->packed_a + group * job->group_stride,
                   c0 * g->taps, c1 * g->taps, n0 * g->P, n1 * g->P, 0, g->Fg, 0,
                   job->workspace + worker * job->worker_stride);
}

/* At stride 1 the input gradient is a convolution of dy: with the weights flipped in space and
 * their two channel axes swapped, W'[c, f, i, j] = W[f, c, kh-1-i, kw-1-j], and the padding
 * d (k - 1) - p (when that is >= 0), dx = conv2d(dy, W') reaches every dx[h] from the
 * dy[h + p - i d] that im2col read from it. The forward's packing and direct NCHW stores then
 * replace col2im's scatter. */
static int NAME(backward_input_as_convolution)(const real *grad_y, const real *weight,
                                               real *grad_x, const struct conv_geometry *g) {
    const int64_t taps = g->taps, size = g->F * g->Cg * taps;
    real *flipped = minicnn_malloc((size_t)size * sizeof(real));
    if (flipped == NULL) return MINICNN_OUT_OF_MEMORY;
    for (int64_t group = 0; group < g->G; group++) {
        for (int64_t f = 0; f < g->Fg; f++) {
            for (int64_t c = 0; c < g->Cg; c++) {
                const real *from = weight + ((group * g->Fg + f) * g->Cg + c) * taps;
                real *to = flipped + ((group * g->Cg + c) * g->Fg + f) * taps;
                for (int64_t t = 0; t < taps; t++) to[t] = from[taps - 1 - t];
            }
        }
    }
    const int status = NAME(conv2d_forward)(grad_y, flipped, grad_x, g->N, g->F, g->oh, g->ow,
                                            g->C, g->G, g->kh, g->kw, 1, 1,
                                            g->dh * (g->kh - 1) - g->ph,
                                            g->dw * (g->kw - 1) - g->pw, g->dh, g->dw);
    free(flipped);
    return status;
}

int NAME(conv2d_backward_input)(const real *grad_y, const real *weight, real *grad_x, int64_t N,
                                int64_t C, int64_t H, int64_t W, int64_t F, int64_t groups,
                                int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                                int64_t pw, int64_t dh, int64_t dw) {
    struct NAME(input_gradient_col2im) job = {0};
    if (!conv_geometry_set(&job.g, N, C, H, W, F, groups, kh, kw, sh, sw, ph, pw, dh, dw))
        return MINICNN_BAD_ARGUMENT;
    const struct conv_geometry *g = &job.g;
    /* as a convolution unless dx has too few channels a group to fill a panel of rows */
    if (sh == 1 && sw == 1 && dh * (kh - 1) >= ph && dw * (kw - 1) >= pw
        && g->Cg >= NAME(gemm_kernel)()->mr)
        return NAME(backward_input_as_convolution)(grad_y, weight, grad_x, g);
    job.kernel = NAME(gemm_kernel)();
    job.dy = grad_y;
    job.dx = grad_x;
    /* channel blocks of about 128 rows (c, i, j) that start on a panel of MR rows */
    const int64_t unit = job.kernel->mr / gcd(job.kernel->mr, g->taps);
    const int64_t units = 128 / (unit * g->taps) > 1 ? 128 / (unit * g->taps) : 1;
    job.channel_block = unit * units < g->Cg ? unit * units : g->Cg;
    job.images_per_item = g->P >= 1024 ? 1 : 1024 / g->P;
    const int64_t items = groups * ((g->Cg + job.channel_block - 1) / job.channel_block)
        * ((N + job.images_per_item - 1) / job.images_per_item);
    const int threads = minicnn_pool_threads(items);
    real *packed = NAME(pack_weights)(g, weight, job.kernel, 1, &job.group_stride);
    struct im2col_row *rows = im2col_rows(g);
    job.packed_a = packed;
    job.rows = rows;
    if (packed != NULL && rows != NULL)
        job.workspace = NAME(packed_b_workspace)(job.kernel, threads, &job.worker_stride);
    if (job.workspace != NULL)
        minicnn_parallel_for(items, threads, NAME(backward_input_item), &job);
    free(packed);
    free(rows);
    free(job.workspace);
    return job.workspace == NULL ? MINICNN_OUT_OF_MEMORY : MINICNN_OK;
}

/* ----- weight gradient: dW_g = dy_g @ im2col(x_g)^T ----------------------------------------- */

/* Items (group, chunk of columns q), by rows (backward_weight_rows_item) or by columns
 * (backward_weight_item), which also re-runs a call by rows whose dW is not finite. */
struct NAME(weight_gradient) {
    struct conv_geometry g;
    const struct gemm_dot_kernel *dot;
    const real *x, *dy;
    real *dw;
    const struct im2col_row *rows;
    int64_t chunks;                 /* of columns q a group, fixed by the shapes */
    real *partials;                 /* per (group, chunk), when chunks > 1 */
    _Atomic int64_t *chunks_done;   /* per group */
    real *workspace;                /* per worker, worker_stride elements apart */
    size_t worker_stride;
    struct {
        int64_t pairs;              /* (c, i) pairs packed at a time */
        int64_t slice;              /* the columns of a slice */
        int64_t phases;             /* copies of an input row, one per column phase */
        int64_t segment;            /* an output row's place in a slice: ow + (kw-1) dw / sw */
        int64_t tail;               /* the views' largest shift, (kw-1) dw / sw */
        int64_t *offsets;           /* tap j's view of a pair's copies starts at offsets[j] */
    } by_rows;
};

/* out[r * ldo + t] += the dot products of A's rows r < m (packed, lda apart, zero rows up to
 * a multiple of MR) and B's rows t < columns (b_rows[t]; rows past `columns` are read, their
 * products dropped), over k */
static void NAME(dot_block)(const struct gemm_dot_kernel *dot, int64_t k, const real *a,
                            int64_t lda, const real *const *b_rows, int64_t m, int columns,
                            real *out, int64_t ldo) {
    real tile[GEMM_MAX_MR * GEMM_MAX_NR];
    for (int64_t r0 = 0; r0 < m; r0 += dot->mr) {
        const int rows = m - r0 < dot->mr ? (int)(m - r0) : dot->mr;
        if (rows == dot->mr && columns == dot->nr) {
            dot->run(k, a + r0 * lda, lda, (const void *const *)b_rows, out + r0 * ldo, ldo);
            continue;
        }
        memset(tile, 0, sizeof(tile));
        dot->run(k, a + r0 * lda, lda, (const void *const *)b_rows, tile, dot->nr);
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < columns; t++) out[(r0 + r) * ldo + t] += tile[r * dot->nr + t];
        }
    }
}

/* 1 when v[0 .. n) holds no inf and no NaN */
static int NAME(all_finite)(const real *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) return 0;
    }
    return 1;
}

/* The last chunk of a group to finish adds the group's partials into dW, in chunk order. */
static void NAME(add_partials)(const struct NAME(weight_gradient) *job, int64_t group,
                               int64_t size) {
    if (atomic_fetch_add(&job->chunks_done[group], 1) != job->chunks - 1) return;
    real *dw = job->dw + group * size;
    const real *partials = job->partials + group * job->chunks * size;
    memcpy(dw, partials, (size_t)size * sizeof(real));
    for (int64_t c = 1; c < job->chunks; c++) {  /* a partial at a time: vector adds */
        const real *partial = partials + c * size;
        for (int64_t e = 0; e < size; e++) dw[e] += partial[e];
    }
}

/* By output rows: the im2col rows (c, i, j) for j = 0 .. kw-1 read one input row, at the
 * column phases of j (see phase_copies; at stride 1, one phase, shifted by j dw). A slice of
 * whole output rows is laid out with each row in a segment of ow + (kw-1) dw / sw columns; per
 * (c, i) and column phase, one copy of the input rows (zeros where the window reads padding)
 * gives the rows of im2col as views at offsets[j] past the pair's first copy, and dy's rows
 * sit in the same
 * segments, zero past ow. So the packing writes x once per (c, i) and phase, not once per
 * (c, i, j). */
static void NAME(backward_weight_rows_item)(void *context, int64_t item, int worker) {
    const struct NAME(weight_gradient) *job = context;
    const struct conv_geometry *g = &job->g;
    const struct gemm_dot_kernel *dot = job->dot;
    const int64_t group = item / job->chunks, chunk = item % job->chunks;
    const int64_t K = g->Cg * g->taps, size = g->Fg * K;
    real *out = job->chunks == 1 ? job->dw + group * size : job->partials + item * size;
    memset(out, 0, (size_t)size * sizeof(real));
    const int64_t segment = job->by_rows.segment, phases = job->by_rows.phases;
    const int64_t pairs = job->by_rows.pairs, span = job->by_rows.slice + job->by_rows.tail;
    real *a = job->workspace + worker * job->worker_stride;   /* rows_padded x slice */
    real *rows_x = a + round_up(g->Fg, dot->mr) * job->by_rows.slice;  /* pairs, phases, span */
    real *zeros = rows_x + pairs * phases * span;              /* a slice of zeros */
    int64_t y0, y1;  /* output rows (n, oy) of this chunk */
    split_range(g->N * g->oh, job->chunks, chunk, &y0, &y1);
    const int64_t slice_rows = (job->by_rows.slice - dot->lanes) / segment;
    for (int64_t y = y0; y < y1; y += slice_rows) {
        const int64_t count = y1 - y < slice_rows ? y1 - y : slice_rows;
        const int64_t length = round_up(count * segment, dot->lanes);
        memset(a, 0, (size_t)(round_up(g->Fg, dot->mr) * length) * sizeof(real));
        memset(zeros, 0, (size_t)length * sizeof(real));
        for (int64_t f = 0; f < g->Fg; f++) {
            for (int64_t r = 0; r < count; r++) {
                const int64_t n = (y + r) / g->oh, oy = (y + r) % g->oh;
                memcpy(a + f * length + r * segment,
                       job->dy + ((n * g->F + group * g->Fg + f) * g->oh + oy) * g->ow,
                       (size_t)g->ow * sizeof(real));
            }
        }
        for (int64_t p0 = 0; p0 < g->Cg * g->kh; p0 += pairs) {  /* pairs (c, i) */
            const int64_t p1 = p0 + pairs < g->Cg * g->kh ? p0 + pairs : g->Cg * g->kh;
            for (int64_t p = p0; p < p1; p++) {
                const int64_t c = p / g->kh, i = p % g->kh;
                for (int64_t phase = 0; phase < phases; phase++) {
                    /* segment column u reads input column u sw + w_offset */
                    const int64_t w_offset = phase_of_copy(phase, g->kw, g->dw, g->sw) - g->pw;
                    int64_t first, last;
                    columns_inside(g, w_offset, segment, &first, &last);
                    real *row = rows_x + ((p - p0) * phases + phase) * span;
                    memset(row, 0, (size_t)(length + job->by_rows.tail) * sizeof(real));
                    for (int64_t r = 0; r < count && first < last; r++) {
                        const int64_t n = (y + r) / g->oh, oy = (y + r) % g->oh;
                        const int64_t h = oy * g->sh - g->ph + i * g->dh;
                        if (h < 0 || h >= g->H) continue;
                        const real *in = job->x + ((n * g->C + group * g->Cg + c) * g->H + h) * g->W
                            + w_offset;
                        real *to = row + r * segment;
                        if (g->sw == 1) {
                            memcpy(to + first, in + first, (size_t)(last - first) * sizeof(real));
                        } else {
                            for (int64_t u = first; u < last; u++) to[u] = in[u * g->sw];
                        }
                    }
                }
            }
            /* the rows (c, i, j) of these pairs, nr at a time */
            const int64_t t_begin = p0 * g->kw, t_end = p1 * g->kw;
            for (int64_t t0 = t_begin; t0 < t_end; t0 += dot->nr) {
                const real *b_rows[GEMM_MAX_NR];
                const int columns = t_end - t0 < dot->nr ? (int)(t_end - t0) : dot->nr;
                for (int t = 0; t < dot->nr; t++) {
                    const int64_t row = t0 + t, j = row % g->kw;
                    b_rows[t] = t < columns ? rows_x + (row / g->kw - p0) * phases * span
                                                  + job->by_rows.offsets[j]
                                            : zeros;
                }
                NAME(dot_block)(dot, length, a, length, b_rows, g->Fg, columns, out + t0, K);
            }
        }
    }
    if (job->chunks > 1) NAME(add_partials)(job, group, size);
}

/* For each slice of the item's chunk of columns q, dy_g's rows and im2col's rows are packed as
 * rows of the slice (contiguous copies, zero-padded to whole vectors), and each MR x NR block
 * of dW gets the dot products of its rows (gemm_dot_kernel). */
static void NAME(backward_weight_item)(void *context, int64_t item, int worker) {
    const struct NAME(weight_gradient) *job = context;
    const struct conv_geometry *g = &job->g;
    const struct gemm_dot_kernel *dot = job->dot;
    const int mr = dot->mr, nr = dot->nr;
    const int64_t group = item / job->chunks, chunk = item % job->chunks;
    const int64_t K = g->Cg * g->taps, size = g->Fg * K;  /* dW_g is (F/G, K) */
    real *out = job->chunks == 1 ? job->dw + group * size : job->partials + item * size;
    memset(out, 0, (size_t)size * sizeof(real));
    const struct NAME(panel_source) source = {g, job->x, job->dy, job->rows, group};
    const struct gemm_product product = {g->Fg, g->N * g->P, K, NULL, NULL, NULL, &source};
    const int64_t rows_padded = round_up(g->Fg, mr);
    real *a = job->workspace + worker * job->worker_stride;  /* rows_padded x slice */
    real *b = a + rows_padded * MAX_PANEL_COLUMNS;           /* nr x slice */
    int64_t q0, q1;
    split_range(product.n, job->chunks, chunk, &q0, &q1);
    const int64_t slice = gemm_block_k(q1 - q0, MAX_PANEL_COLUMNS - dot->lanes);
    for (int64_t q = q0; q < q1; q += slice) {
        const int64_t length = q1 - q < slice ? q1 - q : slice;
        const int64_t padded = round_up(length, dot->lanes);
        NAME(pack_grad_y)(&product, 0, g->Fg, q, length, (int)padded, a);
        memset(a + g->Fg * padded, 0, (size_t)((rows_padded - g->Fg) * padded) * sizeof(real));
        for (int64_t t0 = 0; t0 < K; t0 += nr) {
            const int columns = K - t0 < nr ? (int)(K - t0) : nr;
            NAME(pack_im2col)(&product, t0, columns, q, length, (int)padded, b);
            memset(b + columns * padded, 0, (size_t)((nr - columns) * padded) * sizeof(real));
            const real *b_rows[GEMM_MAX_NR];
            for (int t = 0; t < nr; t++) b_rows[t] = b + t * padded;
            NAME(dot_block)(dot, padded, a, padded, b_rows, g->Fg, columns, out + t0, K);
        }
    }
    if (job->chunks > 1) NAME(add_partials)(job, group, size);
}

int NAME(conv2d_backward_weight)(const real *x, const real *grad_y, real *grad_weight, int64_t N,
                                 int64_t C, int64_t H, int64_t W, int64_t F, int64_t groups,
                                 int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                                 int64_t pw, int64_t dh, int64_t dw) {
    struct NAME(weight_gradient) job = {0};
    if (!conv_geometry_set(&job.g, N, C, H, W, F, groups, kh, kw, sh, sw, ph, pw, dh, dw))
        return MINICNN_BAD_ARGUMENT;
    const struct conv_geometry *g = &job.g;
    job.dot = NAME(gemm_dot_kernel)();
    job.x = x;
    job.dy = grad_y;
    job.dw = grad_weight;
    /* whole output rows in a slice's segments (rows that fit), else any columns */
    const struct gemm_dot_kernel *dot = job.dot;
    const int64_t rows_padded = round_up(g->Fg, dot->mr);
    int64_t slice = ROWS_SLICE_ELEMENTS / rows_padded < ROWS_SLICE_COLUMNS
        ? ROWS_SLICE_ELEMENTS / rows_padded : ROWS_SLICE_COLUMNS;
    if (slice < MAX_PANEL_COLUMNS) slice = MAX_PANEL_COLUMNS;
    const int64_t tail = (kw - 1) * dw / sw, span = slice + tail;
    /* pairs * kw rows: whole blocks of nr */
    job.by_rows.pairs = dot->nr / gcd(dot->nr, kw);
    job.by_rows.slice = slice;
    job.by_rows.phases = phase_copies(kw, dw, sw);
    job.by_rows.segment = g->ow + tail;
    job.by_rows.tail = tail;
    const int64_t copies = job.by_rows.pairs * job.by_rows.phases * span;
    const int by_rows = job.by_rows.segment <= slice - dot->lanes
        && copies <= ((int64_t)1 << 20);  /* 4 MiB of float32 */
    /* chunks of at least 1024 columns, at most 16: a fixed split, whatever the thread count
     * (at most one a row when splitting rows) */
    const int64_t columns = N * g->P, most = by_rows ? N * g->oh : 16;
    job.chunks = columns / 1024 < 1 ? 1 : columns / 1024 > 16 ? 16 : columns / 1024;
    if (job.chunks > most) job.chunks = most;
    const int64_t items = groups * job.chunks;
    const int threads = minicnn_pool_threads(items);
    const size_t partials = job.chunks == 1 ? 0 : (size_t)(items * g->Fg * g->Cg * g->taps);
    struct im2col_row *rows = im2col_rows(g);
    job.rows = rows;
    job.partials = minicnn_malloc((partials + 1) * sizeof(real));
    job.chunks_done = minicnn_calloc((size_t)groups, sizeof(*job.chunks_done));
    /* by rows, tap j's view of a pair's copies: offsets[j] = its phase's copy, its shift */
    int64_t *offsets = by_rows ? minicnn_malloc((size_t)kw * sizeof(*offsets)) : NULL;
    for (int64_t j = 0; offsets != NULL && j < kw; j++)
        offsets[j] = phase_copy_of_tap(j, kw, dw, sw) * span + j * dw / sw;
    job.by_rows.offsets = offsets;
    /* per worker: dy's rows, then nr rows of im2col or the pairs' padded input rows, zeros;
     * room for either, as a call by rows may be run again on im2col's rows (below) */
    const int64_t by_columns = rows_padded * MAX_PANEL_COLUMNS + dot->nr * MAX_PANEL_COLUMNS
        + MAX_PANEL_COLUMNS;
    const int64_t rows_stride = rows_padded * slice + copies + slice;
    job.worker_stride = (size_t)(by_rows && rows_stride > by_columns ? rows_stride : by_columns);
    job.workspace = minicnn_malloc((size_t)threads * job.worker_stride * sizeof(real));
    const int ready = rows != NULL && (offsets != NULL || !by_rows) && job.partials != NULL
        && job.chunks_done != NULL && job.workspace != NULL;
    if (ready) {
        minicnn_parallel_for(items, threads, by_rows ? NAME(backward_weight_rows_item)
                                                     : NAME(backward_weight_item), &job);
        /* A view of a phase copy also reads x where dy is the zero between output rows: with
         * finite x those products are 0, but an inf or NaN there makes a NaN in a tap that
         * never reads it. Finite x gives a finite dW, so a dW that is not finite is computed
         * again from im2col's rows, which hold exact zeros there (the reference's answer). */
        if (by_rows && !NAME(all_finite)(grad_weight, F * g->Cg * g->taps)) {
            for (int64_t group = 0; group < groups; group++) job.chunks_done[group] = 0;
            minicnn_parallel_for(items, threads, NAME(backward_weight_item), &job);
        }
    }
    free(rows);
    free(offsets);
    free(job.partials);
    free(job.chunks_done);
    free(job.workspace);
    return ready ? MINICNN_OK : MINICNN_OUT_OF_MEMORY;
}

#endif
