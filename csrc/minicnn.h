/* minicnn.h: every C kernel of minicnn, the one header that cffi reads (csrc/build_ckernels.py).
 *
 * Conventions: arrays are C-contiguous NCHW; sizes and indices are int64_t; each kernel exists
 * for float32 (_f32) and float64 (_f64) and is written once per family (see kernels/generic.cuh). The
 * Python wrappers in minicnn/backend/ckernels.py validate every argument before calling in, and
 * each kernel re-checks its sizes and returns MINICNN_BAD_ARGUMENT instead of touching memory
 * when they make no sense.
 * Lines starting with '#' are skipped by cffi.
 */
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

/* activation.c: ReLU over n elements */
int relu_forward_f32(const float *x, float *y, int64_t n);
int relu_forward_f64(const double *x, double *y, int64_t n);
int relu_backward_f32(const float *grad_y, const float *y, float *grad_x, int64_t n);
int relu_backward_f64(const double *grad_y, const double *y, double *grad_x, int64_t n);

/* loss.c: softmax cross-entropy; logits (M, C), target (M,), weight (C,) or NULL */
int softmax_cross_entropy_forward_f32(const float *logits, const int64_t *target,
                                      const float *weight, int64_t ignore_index,
                                      double label_smoothing, float *loss, float *log_probs,
                                      int64_t M, int64_t C);
int softmax_cross_entropy_forward_f64(const double *logits, const int64_t *target,
                                      const double *weight, int64_t ignore_index,
                                      double label_smoothing, double *loss, double *log_probs,
                                      int64_t M, int64_t C);
int softmax_cross_entropy_backward_f32(const float *grad_loss, const float *log_probs,
                                       const int64_t *target, const float *weight,
                                       int64_t ignore_index, double label_smoothing,
                                       float *grad_logits, int64_t M, int64_t C);
int softmax_cross_entropy_backward_f64(const double *grad_loss, const double *log_probs,
                                       const int64_t *target, const double *weight,
                                       int64_t ignore_index, double label_smoothing,
                                       double *grad_logits, int64_t M, int64_t C);

/* gemm.c: C (M, N) = A (M, K) @ B (K, N), or += when accumulate is 1; row-major, A stored
 * (K, M) when trans_a (B likewise), rows lda / ldb / ldc elements apart */
int gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const float *a,
             int64_t lda, const float *b, int64_t ldb, int accumulate, float *c, int64_t ldc);
int gemm_f64(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const double *a,
             int64_t lda, const double *b, int64_t ldb, int accumulate, double *c, int64_t ldc);
/* the micro-kernel in use: "portable", "avx2" or "avx512"; set one, or "auto" (the default,
 * also read from MINICNN_GEMM_KERNEL): MINICNN_BAD_ARGUMENT for a name this CPU cannot run */
const char *minicnn_gemm_kernel(void);
int minicnn_set_gemm_kernel(const char *name);

/* conv2d.c: convolution on the GEMM, im2col / col2im fused into it; x (N, C, H, W),
 * weight (F, C/groups, kh, kw), y (N, F, oh, ow); every output element written */
int conv2d_forward_f32(const float *x, const float *weight, float *y, int64_t N, int64_t C,
                       int64_t H, int64_t W, int64_t F, int64_t groups, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw);
int conv2d_forward_f64(const double *x, const double *weight, double *y, int64_t N, int64_t C,
                       int64_t H, int64_t W, int64_t F, int64_t groups, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw);
int conv2d_backward_input_f32(const float *grad_y, const float *weight, float *grad_x,
                              int64_t N, int64_t C, int64_t H, int64_t W, int64_t F,
                              int64_t groups, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                              int64_t ph, int64_t pw, int64_t dh, int64_t dw);
int conv2d_backward_input_f64(const double *grad_y, const double *weight, double *grad_x,
                              int64_t N, int64_t C, int64_t H, int64_t W, int64_t F,
                              int64_t groups, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                              int64_t ph, int64_t pw, int64_t dh, int64_t dw);
int conv2d_backward_weight_f32(const float *x, const float *grad_y, float *grad_weight,
                               int64_t N, int64_t C, int64_t H, int64_t W, int64_t F,
                               int64_t groups, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                               int64_t ph, int64_t pw, int64_t dh, int64_t dw);
int conv2d_backward_weight_f64(const double *x, const double *grad_y, double *grad_weight,
                               int64_t N, int64_t C, int64_t H, int64_t W, int64_t F,
                               int64_t groups, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                               int64_t ph, int64_t pw, int64_t dh, int64_t dw);

/* pooling.c: x (N, C, H, W) <-> y, indices (N, C, oh, ow) */
int max_pool2d_forward_f32(const float *x, float *y, int64_t *indices, int64_t N, int64_t C,
                            int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh,
                            int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                            int64_t oh, int64_t ow);
int max_pool2d_forward_f64(const double *x, double *y, int64_t *indices, int64_t N, int64_t C,
                            int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh,
                            int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                            int64_t oh, int64_t ow);
int max_pool2d_backward_f32(const float *grad_y, const int64_t *indices, float *grad_x,
                             int64_t N, int64_t C, int64_t oh, int64_t ow, int64_t H, int64_t W);
int max_pool2d_backward_f64(const double *grad_y, const int64_t *indices, double *grad_x,
                             int64_t N, int64_t C, int64_t oh, int64_t ow, int64_t H, int64_t W);
int avg_pool2d_forward_f32(const float *x, float *y, int64_t N, int64_t C, int64_t H,
                            int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                            int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                            int count_include_pad);
int avg_pool2d_forward_f64(const double *x, double *y, int64_t N, int64_t C, int64_t H,
                            int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                            int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                            int count_include_pad);
int avg_pool2d_backward_f32(const float *grad_y, float *grad_x, int64_t N, int64_t C,
                             int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh,
                             int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                             int count_include_pad);
int avg_pool2d_backward_f64(const double *grad_y, double *grad_x, int64_t N, int64_t C,
                             int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh,
                             int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                             int count_include_pad);

/* batchnorm.c: x (N, C, H, W); weight, bias NULL or (C,); mean, var, invstd (C,) */
int batch_norm_forward_f32(const float *x, const float *weight, const float *bias, double eps,
                            float *y, float *mean, float *var, float *invstd, int64_t N,
                            int64_t C, int64_t H, int64_t W);
int batch_norm_forward_f64(const double *x, const double *weight, const double *bias, double eps,
                            double *y, double *mean, double *var, double *invstd, int64_t N,
                            int64_t C, int64_t H, int64_t W);
int batch_norm_backward_f32(const float *grad_y, const float *x, const float *weight,
                             const float *mean, const float *invstd, float *grad_x,
                             float *grad_weight, float *grad_bias, int64_t N, int64_t C,
                             int64_t H, int64_t W);
int batch_norm_backward_f64(const double *grad_y, const double *x, const double *weight,
                             const double *mean, const double *invstd, double *grad_x,
                             double *grad_weight, double *grad_bias, int64_t N, int64_t C,
                             int64_t H, int64_t W);

int batch_norm_inference_forward_f32(const float *x, const float *running_mean,
                                     const float *invstd, const float *weight, const float *bias,
                                     float *y, int64_t N, int64_t C, int64_t H, int64_t W);
int batch_norm_inference_forward_f64(const double *x, const double *running_mean,
                                     const double *invstd, const double *weight,
                                     const double *bias, double *y, int64_t N, int64_t C,
                                     int64_t H, int64_t W);

/* lrn.c: every array (N, C, H, W) */
int lrn_forward_f32(const float *x, float *y, float *scale, int64_t N, int64_t C, int64_t H,
                     int64_t W, int64_t size, double alpha, double beta, double k);
int lrn_forward_f64(const double *x, double *y, double *scale, int64_t N, int64_t C, int64_t H,
                     int64_t W, int64_t size, double alpha, double beta, double k);
int lrn_backward_f32(const float *grad_y, const float *x, const float *y, const float *scale,
                      float *grad_x, int64_t N, int64_t C, int64_t H, int64_t W,
                      int64_t size, double alpha, double beta, double k);
int lrn_backward_f64(const double *grad_y, const double *x, const double *y, const double *scale,
                      double *grad_x, int64_t N, int64_t C, int64_t H, int64_t W,
                      int64_t size, double alpha, double beta, double k);

/* dropout.c: n elements */
int dropout_apply_f32(const float *x, const float *mask, float *y, int64_t n);
int dropout_apply_f64(const double *x, const double *mask, double *y, int64_t n);

/* optim.c: in place over n elements; optional state NULL */
int sgd_step_f32(float *param, const float *grad, float *momentum_buffer, int64_t n, double lr,
                  double momentum, double dampening, double weight_decay, int nesterov,
                  int maximize, int first_step);
int sgd_step_f64(double *param, const double *grad, double *momentum_buffer, int64_t n, double lr,
                  double momentum, double dampening, double weight_decay, int nesterov,
                  int maximize, int first_step);
int adam_step_f32(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                   float *max_exp_avg_sq, int64_t n, int64_t step, double lr, double beta1,
                   double beta2, double eps, double weight_decay, int decoupled_weight_decay,
                   int amsgrad, int maximize);
int adam_step_f64(double *param, const double *grad, double *exp_avg, double *exp_avg_sq,
                   double *max_exp_avg_sq, int64_t n, int64_t step, double lr, double beta1,
                   double beta2, double eps, double weight_decay, int decoupled_weight_decay,
                   int amsgrad, int maximize);
int rmsprop_step_f32(float *param, const float *grad, float *square_avg, float *grad_avg,
                      float *momentum_buffer, int64_t n, double lr, double alpha, double eps,
                      double weight_decay, double momentum, int centered, int maximize);
int rmsprop_step_f64(double *param, const double *grad, double *square_avg, double *grad_avg,
                      double *momentum_buffer, int64_t n, double lr, double alpha, double eps,
                      double weight_decay, double momentum, int centered, int maximize);
