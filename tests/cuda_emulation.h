/* cuda_emulation.h: just enough CUDA for g++ -std=c++20 to compile kernels/*.cu and run them on the
 * CPU (DESIGN.md section 4), so that the kernels are checked against the NumPy reference, and
 * under AddressSanitizer and ThreadSanitizer, on machines without a GPU.
 *
 * - The qualifiers are empty macros; threadIdx / blockIdx are thread-local, blockDim / gridDim
 *   are set once per launch.
 * - Blocks run one after another. A kernel that synchronises (calls __syncthreads, itself or
 *   through a helper) runs each block as blockDim.x std::threads meeting at a std::barrier;
 *   other kernels run their threads one after another on the calling thread.
 * - Dynamic shared memory (`extern __shared__ T name[];`, which tests/cuda_emulation.py rewrites
 *   to a pointer into emulated_shared_memory) is filled with 0xff bytes (NaN) before each block,
 *   so a read before a write shows.
 * - A launch is refused as CUDA refuses it: grid or block of 0, more than 1024 threads a block,
 *   more than 48 KiB of dynamic shared memory.
 * tests/cuda_emulation.py builds the kernels with it; it is not shipped. */
#ifndef MINICNN_CUDA_EMULATION_H
#define MINICNN_CUDA_EMULATION_H

#include <math.h>

#include <barrier>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline std::barrier<> *emulated_barrier = nullptr;
inline std::vector<unsigned char> emulated_shared_memory;

inline void __syncthreads() {
    if (emulated_barrier != nullptr) {
        emulated_barrier->arrive_and_wait();
    } else if (blockDim.x > 1) {
        std::fprintf(stderr, "emulation: __syncthreads in a kernel run without threads\n");
        std::abort();
    }
}

inline double __longlong_as_double(long long bits) { return std::bit_cast<double>(bits); }
inline float __int_as_float(int bits) { return std::bit_cast<float>(bits); }

/* the type of each kernel parameter as one letter: p pointer, q int64, i int, d double, f float */
template <typename T> constexpr char parameter_code() {
    if constexpr (std::is_pointer_v<T>) return 'p';
    else if constexpr (std::is_same_v<T, long long>) return 'q';
    else if constexpr (std::is_same_v<T, int>) return 'i';
    else if constexpr (std::is_same_v<T, double>) return 'd';
    else if constexpr (std::is_same_v<T, float>) return 'f';
    else return '?';
}

template <typename... Args> const char *kernel_signature(void (*)(Args...)) {
    static const char codes[] = {parameter_code<Args>()..., '\0'};
    return codes;
}

template <typename... Args, std::size_t... I>
void call_kernel(void (*kernel)(Args...), void **args, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<Args> *>(args[I])...);
}

enum { LAUNCH_OK = 0, LAUNCH_INVALID_CONFIGURATION = 1 };

template <typename... Args>
int launch_kernel(void (*kernel)(Args...), bool threaded, unsigned grid, unsigned block,
                  std::size_t shared_bytes, void **args) {
    if (grid == 0 || block == 0 || block > 1024 || shared_bytes > 48 * 1024)
        return LAUNCH_INVALID_CONFIGURATION;
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    const auto indices = std::index_sequence_for<Args...>{};
    for (unsigned b = 0; b < grid; b++) {
        emulated_shared_memory.assign(shared_bytes, 0xff);
        if (!threaded) {
            emulated_barrier = nullptr;
            blockIdx.x = b;
            for (unsigned t = 0; t < block; t++) {
                threadIdx.x = t;
                call_kernel(kernel, args, indices);
            }
            continue;
        }
        std::barrier<> barrier(block);
        emulated_barrier = &barrier;
        std::vector<std::jthread> threads;
        threads.reserve(block);
        for (unsigned t = 0; t < block; t++) {
            threads.emplace_back([=] {
                blockIdx.x = b;
                threadIdx.x = t;
                call_kernel(kernel, args, indices);
            });
        }
        threads.clear();  /* joins them */
        emulated_barrier = nullptr;
    }
    return LAUNCH_OK;
}

struct EmulatedKernel {
    const char *name;
    const char *(*signature)();
    int (*launch)(unsigned grid, unsigned block, std::size_t shared_bytes, void **args);
};

/* one entry of the kernel table that tests/cuda_emulation.py generates */
#define EMULATED_KERNEL(kernel, threaded)                                                    \
    EmulatedKernel{#kernel, [] { return kernel_signature(kernel); },                        \
                   [](unsigned grid, unsigned block, std::size_t shared_bytes, void **args) { \
                       return launch_kernel(kernel, threaded, grid, block, shared_bytes, args); \
                   }}

#endif
