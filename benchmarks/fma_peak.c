/* fma_peak.c: the machine's float32 fused-multiply-add peak, measured, for bench_train_step.py,
 * and its bfloat16 tile peak where the CPU has AMX, for bench_recipes.py.
 *
 *   cc -O3 -pthread fma_peak.c -o fma_peak && ./fma_peak THREADS SECONDS [avx2 | amx-bf16]
 *
 * Each of THREADS threads runs a loop of independent vector FMAs (12 accumulators, more than
 * the FMA latency times the FMA units, so the loop is bound by throughput alone) for SECONDS
 * of its own CPU time (on a quiet machine, the wall-clock time);
 * the line printed is `peak_gflops <total over the threads> <instruction set>`, 2 flops an FMA
 * lane. The instruction set is the widest this CPU runs (AVX-512, else AVX2 + FMA), chosen at
 * run time as csrc/gemm.c chooses its micro-kernel, or AVX2 + FMA when the third argument says
 * `avx2` (the peak of an AVX2-only CPU, for bench_train_step.py --isa avx2).
 *
 * `amx-bf16` measures instead the Advanced Matrix Extensions' bfloat16 tile product (Intel
 * Sapphire Rapids and later; Intel 64 and IA-32 Architectures Software Developer's Manual,
 * TDPBF16PS): each thread asks Linux for the tile state (arch_prctl ARCH_REQ_XCOMP_PERM,
 * XTILEDATA), holds two 16 x 32 bfloat16 tiles of A and two of B, and runs TDPBF16PS into four
 * independent 16 x 16 float32 accumulator tiles: 16 x 16 x 32 multiply-adds an instruction.
 * Exit status 1 on a CPU or kernel without it. minicnn's kernels do not use AMX: the figure is
 * the floor a bfloat16 matrix product could reach here. */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ACCUMULATORS 12
#define BATCH 100000  /* loop trips between clock reads: about 0.2 ms, against about 1 us a read */
#define ARCH_REQ_XCOMP_PERM 0x1023  /* Linux's arch_prctl: ask for an extended state component */
#define XFEATURE_XTILEDATA 18       /* the AMX tile data */

/* the calling thread's CPU time: a thread that another process deschedules still counts only
 * the time it ran, as bench_gemm.py's CPU-time rates do */
static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double duration;
enum loop_isa { LOOP_AVX2, LOOP_AVX512, LOOP_AMX_BF16 };
static enum loop_isa isa;

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

/* the tile configuration ldtilecfg reads (palette 1): rows and bytes a row of each of 8 tiles */
struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
};

/* flops done by one thread's TDPBF16PS loop in `duration` seconds of its CPU time, over it */
__attribute__((target("amx-tile,amx-bf16"))) static double loop_amx_bf16(void) {
    struct tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) {
        config.rows[t] = 16;
        config.bytes_per_row[t] = 64;
    }
    _tile_loadconfig(&config);
    static const uint16_t operand[16 * 32];  /* bfloat16 zeros: the values do not matter */
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, operand, 64);
    _tile_loadd(5, operand, 64);
    _tile_loadd(6, operand, 64);
    _tile_loadd(7, operand, 64);
    const double start = seconds_now();
    double now = start;
    long trips = 0;
    while (now - start < duration) {
        for (int t = 0; t < BATCH; t++) {
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        trips += BATCH;
        now = seconds_now();
    }
    float sink[16 * 16];
    _tile_stored(0, sink, 64);  /* keeps the loop's results alive */
    _tile_release();
    if (sink[0] == 12345.0f) puts("");
    return 2.0 * 16 * 16 * 32 * 4 * trips / (now - start);
}

static void *thread_main(void *result) {
    *(double *)result = isa == LOOP_AMX_BF16 ? loop_amx_bf16()
                        : isa == LOOP_AVX512 ? loop___m512() : loop___m256();
    return NULL;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    duration = argc > 2 ? atof(argv[2]) : 0.5;
    if (threads < 1 || threads > 1024 || duration <= 0) {
        fprintf(stderr, "usage: fma_peak THREADS SECONDS [avx2 | amx-bf16]\n");
        return 2;
    }
    if (argc > 3 && strcmp(argv[3], "amx-bf16") == 0) {
        if (!__builtin_cpu_supports("amx-bf16")
                || syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
            fprintf(stderr, "fma_peak: this CPU or kernel has no AMX bfloat16 tiles\n");
            return 1;
        }
        isa = LOOP_AMX_BF16;
    } else if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "fma_peak: this CPU has no AVX2 + FMA\n");
        return 1;
    } else {
        isa = __builtin_cpu_supports("avx512f") && !(argc > 3 && strcmp(argv[3], "avx2") == 0)
                  ? LOOP_AVX512 : LOOP_AVX2;
    }
    pthread_t thread[1024];
    double flops[1024], total = 0;
    for (int t = 0; t < threads; t++) pthread_create(&thread[t], NULL, thread_main, &flops[t]);
    for (int t = 0; t < threads; t++) {
        pthread_join(thread[t], NULL);
        total += flops[t];
    }
    static const char *const names[] = {"avx2", "avx512", "amx-bf16"};
    printf("peak_gflops %.1f %s\n", total / 1e9, names[isa]);
    return 0;
}
