/* cuda_broken_kernels.cu: two kernels with the bugs the sanitizer runs must catch
 * (test_cuda_emulation.py): a block sum that forgets a __syncthreads (ThreadSanitizer reports a
 * data race on shared memory) and a copy that reads one element past its input
 * (AddressSanitizer reports a heap-buffer-overflow). */
typedef long long int64;

extern "C" __global__ void block_sum_without_barrier(const double *x, double *total, int64 n) {
    extern __shared__ double partial_sums[];
    double sum = 0;
    for (int64 i = threadIdx.x; i < n; i += blockDim.x) sum += x[i];
    partial_sums[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned stride = 1; stride < blockDim.x; stride *= 2) {
        if (threadIdx.x % (2 * stride) == 0 && threadIdx.x + stride < blockDim.x)
            partial_sums[threadIdx.x] += partial_sums[threadIdx.x + stride];
        /* missing: __syncthreads(); the next round reads what another thread may still write */
    }
    if (threadIdx.x == 0) *total = partial_sums[0];
}

extern "C" __global__ void shift_left_off_by_one(const double *x, double *y, int64 n) {
    for (int64 i = (int64)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64)blockDim.x * gridDim.x)
        y[i] = x[i + 1];  /* reads x[n] at i = n - 1 */
}
