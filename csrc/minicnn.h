/* minicnn.h: every C kernel of minicnn, the one header that cffi reads (csrc/build_ckernels.py).
 *
 * Conventions: arrays are C-contiguous NCHW; sizes and indices are int64_t; each kernel exists
 * for float32 (_f32) and float64 (_f64) and is written once per family (see kernels/generic.cuh).
 * The Python wrappers in minicnn/backend/ckernels.py validate every argument before calling in,
 * and each kernel re-checks its sizes and returns MINICNN_BAD_ARGUMENT instead of touching memory
 * when they make no sense.
 *
 * The kernels are declared once, after `#else`, with `real` and NAME(f) as in their .c files:
 * generic.cuh expands that part for float (NAME(f) = f_f32) and double (f_f64), and so does
 * build_ckernels.py for cffi, whose cdef runs no preprocessor (it skips the lines starting
 * with '#'). */
#ifndef real
#ifndef MINICNN_H
#define MINICNN_H

#include <stdint.h>

/* what a kernel returns: it touches no memory unless it returns MINICNN_OK, except that
 * max_pool2d_backward reports MINICNN_BAD_INDEX after skipping the indices outside their plane */
enum minicnn_status {
    MINICNN_OK = 0, MINICNN_BAD_ARGUMENT = 1, MINICNN_BAD_INDEX = 2, MINICNN_OUT_OF_MEMORY = 3
};

/* runtime.c: the threads of the kernels' pool (threadpool.c), how freed memory is kept, and the
 * bytes of the allocation that made the calling thread's last kernel return
 * MINICNN_OUT_OF_MEMORY (then reset to 0) */
int minicnn_num_threads(void);
void minicnn_set_num_threads(int n);
void minicnn_keep_freed_memory(void);
int64_t minicnn_failed_allocation(void);

/* gemm.c: the micro-kernel in use: "portable", "avx2" or "avx512"; set one, or "auto" (the
 * default, also read from MINICNN_GEMM_KERNEL): MINICNN_BAD_ARGUMENT for a name this CPU cannot
 * run */
const char *minicnn_gemm_kernel(void);
int minicnn_set_gemm_kernel(const char *name);

#define GENERIC_FILE "minicnn.h"
#include "generic.cuh"
#endif
#else

/* activation.c: ReLU and GELU (exact, or tanh when approximate_tanh is 1) over n elements */
int NAME(relu_forward)(const real *x, real *y, int64_t n);
int NAME(relu_backward)(const real *grad_y, const real *y, real *grad_x, int64_t n);
int NAME(gelu_forward)(const real *x, real *y, int approximate_tanh, int64_t n);
int NAME(gelu_backward)(const real *grad_y, const real *x, real *grad_x, int approximate_tanh,
                        int64_t n);

/* loss.c: softmax cross-entropy; logits (M, C), target (M,), weight (C,) or NULL */
int NAME(softmax_cross_entropy_forward)(const real *logits, const int64_t *target,
                                        const real *weight, int64_t ignore_index,
                                        double label_smoothing, real *loss, real *log_probs,
                                        int64_t M, int64_t C);
int NAME(softmax_cross_entropy_backward)(const real *grad_loss, const real *log_probs,
                                         const int64_t *target, const real *weight,
                                         int64_t ignore_index, double label_smoothing,
                                         real *grad_logits, int64_t M, int64_t C);

/* gemm.c: C (M, N) = A (M, K) @ B (K, N), or += when accumulate is 1; row-major, A stored
 * (K, M) when trans_a (B likewise), rows lda / ldb / ldc elements apart */
int NAME(gemm)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const real *a,
               int64_t lda, const real *b, int64_t ldb, int accumulate, real *c, int64_t ldc);

/* conv2d_gemm.c: convolution on the GEMM, im2col / col2im fused into it; x (N, C, H, W),
 * weight (F, C/groups, kh, kw), y (N, F, oh, ow); every output element written */
int NAME(conv2d_forward)(const real *x, const real *weight, real *y, int64_t N, int64_t C,
                         int64_t H, int64_t W, int64_t F, int64_t groups, int64_t kh,
                         int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                         int64_t dw);
int NAME(conv2d_backward_input)(const real *grad_y, const real *weight, real *grad_x,
                                int64_t N, int64_t C, int64_t H, int64_t W, int64_t F,
                                int64_t groups, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                int64_t ph, int64_t pw, int64_t dh, int64_t dw);
int NAME(conv2d_backward_weight)(const real *x, const real *grad_y, real *grad_weight,
                                 int64_t N, int64_t C, int64_t H, int64_t W, int64_t F,
                                 int64_t groups, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                 int64_t ph, int64_t pw, int64_t dh, int64_t dw);
/* conv2d_direct.c: the same three as the loops of their definition, for the tests */
int NAME(conv2d_direct_forward)(const real *x, const real *weight, real *y, int64_t N,
                                int64_t C, int64_t H, int64_t W, int64_t F, int64_t groups,
                                int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                                int64_t pw, int64_t dh, int64_t dw);
int NAME(conv2d_direct_backward_input)(const real *grad_y, const real *weight, real *grad_x,
                                       int64_t N, int64_t C, int64_t H, int64_t W, int64_t F,
                                       int64_t groups, int64_t kh, int64_t kw, int64_t sh,
                                       int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                       int64_t dw);
int NAME(conv2d_direct_backward_weight)(const real *x, const real *grad_y, real *grad_weight,
                                        int64_t N, int64_t C, int64_t H, int64_t W, int64_t F,
                                        int64_t groups, int64_t kh, int64_t kw, int64_t sh,
                                        int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                        int64_t dw);

/* pooling.c: x (N, C, H, W) <-> y, indices (N, C, oh, ow) */
int NAME(max_pool2d_forward)(const real *x, real *y, int64_t *indices, int64_t N, int64_t C,
                             int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh,
                             int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                             int64_t oh, int64_t ow);
int NAME(max_pool2d_backward)(const real *grad_y, const int64_t *indices, real *grad_x,
                              int64_t N, int64_t C, int64_t oh, int64_t ow, int64_t H,
                              int64_t W);
int NAME(avg_pool2d_forward)(const real *x, real *y, int64_t N, int64_t C, int64_t H, int64_t W,
                             int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                             int64_t pw, int64_t oh, int64_t ow, int count_include_pad);
int NAME(avg_pool2d_backward)(const real *grad_y, real *grad_x, int64_t N, int64_t C, int64_t H,
                              int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                              int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                              int count_include_pad);

/* batchnorm.c: x (N, C, H, W); weight, bias NULL or (C,); mean, var, invstd (C,) */
int NAME(batch_norm_forward)(const real *x, const real *weight, const real *bias, double eps,
                             real *y, real *mean, real *var, real *invstd, int64_t N, int64_t C,
                             int64_t H, int64_t W);
int NAME(batch_norm_backward)(const real *grad_y, const real *x, const real *weight,
                              const real *mean, const real *invstd, real *grad_x,
                              real *grad_weight, real *grad_bias, int64_t N, int64_t C,
                              int64_t H, int64_t W);
int NAME(batch_norm_inference_forward)(const real *x, const real *running_mean,
                                       const real *invstd, const real *weight, const real *bias,
                                       real *y, int64_t N, int64_t C, int64_t H, int64_t W);

/* lrn.c: every array (N, C, H, W) */
int NAME(lrn_forward)(const real *x, real *y, real *scale, int64_t N, int64_t C, int64_t H,
                      int64_t W, int64_t size, double alpha, double beta, double k);
int NAME(lrn_backward)(const real *grad_y, const real *x, const real *y, const real *scale,
                       real *grad_x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t size,
                       double alpha, double beta, double k);

/* dropout.c: n elements */
int NAME(dropout_apply)(const real *x, const real *mask, real *y, int64_t n);

/* optim.c: in place over n elements; optional state NULL */
int NAME(sgd_step)(real *param, const real *grad, real *momentum_buffer, int64_t n, double lr,
                   double momentum, double dampening, double weight_decay, int nesterov,
                   int maximize, int first_step);
int NAME(adam_step)(real *param, const real *grad, real *exp_avg, real *exp_avg_sq,
                    real *max_exp_avg_sq, int64_t n, int64_t step, double lr, double beta1,
                    double beta2, double eps, double weight_decay, int decoupled_weight_decay,
                    int amsgrad, int maximize);
int NAME(rmsprop_step)(real *param, const real *grad, real *square_avg, real *grad_avg,
                       real *momentum_buffer, int64_t n, double lr, double alpha, double eps,
                       double weight_decay, double momentum, int centered, int maximize);

#endif
