/* runtime.c: the thread count the kernels run with (on the pool of threadpool.c), how freed
 * memory is kept, and the size of an allocation that failed.
 *
 * MINICNN_NUM_THREADS (or else OMP_NUM_THREADS) sets it: the Python side reads them and calls
 * minicnn_set_num_threads once when the extension loads. Unset, it is the number of cores this
 * process may run on (its CPU affinity). The kernels use no OpenMP, so another library's OpenMP
 * runtime (PyTorch loads its own libgomp) changes nothing here.
 *
 * minicnn_keep_freed_memory: glibc's malloc serves an array over its mmap threshold (128 KiB,
 * rising to the largest freed) with fresh pages from the kernel and gives them back when it is
 * freed, and returns the heap's free top above its trim threshold; a training step allocates
 * and frees the same multi-megabyte activations and gradients every time, so each step paid
 * a page fault (zeroing 4 KiB or a 2 MiB huge page) per page it wrote: about 5% of a
 * ResNet-20 step. Arrays up to 32 MiB now come from the heap, and up to 256 MiB of its free
 * top are kept for the next step. The peak footprint is unchanged; what the process holds
 * between steps is that peak. Not done when the user set glibc's MALLOC_MMAP_THRESHOLD_ or
 * MALLOC_TRIM_THRESHOLD_ (the Python side checks). */
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "kernel.h"

static int minicnn_threads = 0;  /* 0 until set: one per core */

static int cores_available(void) {
#ifdef CPU_COUNT
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) > 0)
        return CPU_COUNT(&cpus);
#endif
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

int minicnn_num_threads(void) {
    return minicnn_threads > 0 ? minicnn_threads : cores_available();
}

void minicnn_set_num_threads(int n) {
    minicnn_threads = n > 0 ? n : 0;
}

void minicnn_keep_freed_memory(void) {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

/* The kernels allocate their working memory in the calling thread, before their parallel loop,
 * through these: a kernel that returns MINICNN_OUT_OF_MEMORY leaves the bytes it asked for here,
 * for the Python side's MemoryError. */
static _Thread_local size_t failed_bytes = 0;

void *minicnn_malloc(size_t bytes) {
    void *memory = malloc(bytes);
    if (memory == NULL && bytes > 0) failed_bytes = bytes;
    return memory;
}

void *minicnn_calloc(size_t count, size_t size) {
    void *memory = calloc(count, size);
    if (memory == NULL && count > 0 && size > 0) failed_bytes = count * size;
    return memory;
}

int64_t minicnn_failed_allocation(void) {
    const size_t bytes = failed_bytes;
    failed_bytes = 0;
    return (int64_t)bytes;
}
