/* runtime.c: the thread count the kernels run with (on the pool of threadpool.c).
 *
 * MINICNN_NUM_THREADS (or else OMP_NUM_THREADS) sets it: the Python side reads them and calls
 * minicnn_set_num_threads once when the extension loads. Unset, it is the number of cores this
 * process may run on (its CPU affinity). The kernels use no OpenMP, so another library's OpenMP
 * runtime (PyTorch loads its own libgomp) changes nothing here. */
#define _GNU_SOURCE
#include <sched.h>
#include <unistd.h>

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

int minicnn_openmp_threads(void) {
    return minicnn_threads > 0 ? minicnn_threads : cores_available();
}

void minicnn_set_num_threads(int n) {
    minicnn_threads = n > 0 ? n : 0;
}
