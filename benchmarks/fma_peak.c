/* fma_peak.c: the machine's float32 fused-multiply-add peak, measured, for bench_train_step.py.
 *
 *   cc -O3 -pthread fma_peak.c -o fma_peak && ./fma_peak THREADS SECONDS [avx2]
 *
 * Each of THREADS threads runs a loop of independent vector FMAs (12 accumulators, more than
 * the FMA latency times the FMA units, so the loop is bound by throughput alone) for SECONDS
 * of its own CPU time (on a quiet machine, the wall-clock time);
 * the line printed is `peak_gflops <total over the threads> <instruction set>`, 2 flops an FMA
 * lane. The instruction set is the widest this CPU runs (AVX-512, else AVX2 + FMA), chosen at
 * run time as csrc/gemm.c chooses its micro-kernel, or AVX2 + FMA when the third argument says
 * `avx2` (the peak of an AVX2-only CPU, for bench_train_step.py --isa avx2). */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCUMULATORS 12
#define BATCH 100000  /* loop trips between clock reads: about 0.2 ms, against about 1 us a read */

/* the calling thread's CPU time: a thread that another process deschedules still counts only
 * the time it ran, as bench_gemm.py's CPU-time rates do */
static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double duration;
static int use_avx512;

/* flops done by one thread in `duration` seconds of its CPU time, over that time */
#define FMA_LOOP(isa, vec, lanes, set1, fmadd, sum_lanes) \
    __attribute__((target(isa))) static double loop_##vec(void) { \
        vec acc[ACCUMULATORS]; \
        const vec a = set1(0.999999f), b = set1(1e-7f); \
        _Pragma("GCC unroll 16") \
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = set1((float)i); \
        const double start = seconds_now(); \
        double now = start; \
        long trips = 0; \
        while (now - start < duration) { \
            for (int t = 0; t < BATCH; t++) { \
                _Pragma("GCC unroll 16") \
                for (int i = 0; i < ACCUMULATORS; i++) acc[i] = fmadd(acc[i], a, b); \
            } \
            trips += BATCH; \
            now = seconds_now(); \
        } \
        float sink = 0; \
        for (int i = 0; i < ACCUMULATORS; i++) sink += sum_lanes(acc[i]); \
        if (sink == 12345.0f) puts(""); /* keeps the loop's results alive */ \
        return 2.0 * lanes * ACCUMULATORS * trips / (now - start); \
    }

__attribute__((target("avx2,fma"))) static float sum256(__m256 v) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    return lanes[0] + lanes[7];
}

__attribute__((target("avx512f"))) static float sum512(__m512 v) {
    return _mm512_reduce_add_ps(v);
}

FMA_LOOP("avx2,fma", __m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, sum256)
FMA_LOOP("avx512f", __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps, sum512)

static void *thread_main(void *result) {
    *(double *)result = use_avx512 ? loop___m512() : loop___m256();
    return NULL;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    duration = argc > 2 ? atof(argv[2]) : 0.5;
    if (threads < 1 || threads > 1024 || duration <= 0) {
        fprintf(stderr, "usage: fma_peak THREADS SECONDS [avx2]\n");
        return 2;
    }
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "fma_peak: this CPU has no AVX2 + FMA\n");
        return 1;
    }
    use_avx512 = __builtin_cpu_supports("avx512f") && !(argc > 3 && strcmp(argv[3], "avx2") == 0);
    pthread_t thread[1024];
    double flops[1024], total = 0;
    for (int t = 0; t < threads; t++) pthread_create(&thread[t], NULL, thread_main, &flops[t]);
    for (int t = 0; t < threads; t++) {
        pthread_join(thread[t], NULL);
        total += flops[t];
    }
    printf("peak_gflops %.1f %s\n", total / 1e9, use_avx512 ? "avx512" : "avx2");
    return 0;
}
