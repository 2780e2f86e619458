/* threadpool.c: the threads every C kernel runs on (POSIX threads, not OpenMP).
 *
 * minicnn_parallel_for(items, threads, run, ctx) calls run(ctx, item, worker) once for every
 * item in [0, items), on the calling thread (worker 0) and up to threads - 1 pool threads
 * (workers 1, 2, ...), each claiming the next item with one atomic increment (dynamic
 * scheduling). Why not OpenMP:
 *
 * - Independence from the runtime loaded first. When another library (PyTorch) had loaded its
 *   own libgomp, the kernels' former `#pragma omp` regions ran on its runtime with its wait
 *   policy: threads that spin between regions, slowing a ResNet-20 step 4x. These are ours.
 * - No stall on a descheduled thread. An idle pool thread sleeps on a condition variable; the
 *   caller does not wait for threads that have not woken yet: it closes the job once every item
 *   is claimed and waits only for the threads that hold one. On a loaded machine a descheduled
 *   thread delays the call by at most the item it holds, never by its own wake-up.
 *
 * One job runs at a time. A call made while the pool is busy (from another Python thread, or
 * from inside an item) runs its items on the calling thread. A forked child starts with no pool
 * threads and makes new ones on first use. minicnn_parallel_ranges (below) splits a plain loop
 * into pieces for the elementwise and per-plane kernels. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include "kernel.h"

#define MAX_POOL_THREADS 256

static pthread_mutex_t submit = PTHREAD_MUTEX_INITIALIZER;  /* held by the caller of a job */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;    /* guards everything below */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;      /* a job was opened */
static pthread_cond_t detached = PTHREAD_COND_INITIALIZER;  /* a worker left the job */
static pthread_once_t fork_handlers = PTHREAD_ONCE_INIT;

static int spawned;               /* pool threads alive: workers 1..spawned */
static uint64_t generation;       /* incremented when a job opens */
static uint64_t born_in[MAX_POOL_THREADS + 1];
static int job_open, job_threads, attached;
static void (*job_run)(void *, int64_t, int);
static void *job_ctx;
static int64_t job_items;
static _Atomic int64_t job_next;

static void claim_items(void (*run)(void *, int64_t, int), void *ctx, int64_t items, int worker) {
    for (;;) {
        const int64_t item = atomic_fetch_add_explicit(&job_next, 1, memory_order_relaxed);
        if (item >= items) return;
        run(ctx, item, worker);
    }
}

static void *worker_main(void *arg) {
    const int worker = (int)(intptr_t)arg;
    pthread_mutex_lock(&lock);
    uint64_t seen = born_in[worker];
    for (;;) {
        while (generation == seen) pthread_cond_wait(&wake, &lock);
        seen = generation;
        if (!job_open || worker >= job_threads) continue;
        void (*run)(void *, int64_t, int) = job_run;
        void *ctx = job_ctx;
        const int64_t items = job_items;
        attached++;
        pthread_mutex_unlock(&lock);
        claim_items(run, ctx, items, worker);
        pthread_mutex_lock(&lock);
        if (--attached == 0) pthread_cond_signal(&detached);
    }
    return NULL;
}

static void before_fork(void) {
    pthread_mutex_lock(&submit);
    pthread_mutex_lock(&lock);
}

static void after_fork_in_parent(void) {
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&submit);
}

static void after_fork_in_child(void) {  /* the pool threads were not copied */
    spawned = 0;
    job_open = 0;
    attached = 0;
    pthread_mutex_init(&lock, NULL);
    pthread_mutex_init(&submit, NULL);
    pthread_cond_init(&wake, NULL);
    pthread_cond_init(&detached, NULL);
}

static void install_fork_handlers(void) {
    pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

int minicnn_pool_threads(int64_t items) {
    int64_t threads = minicnn_num_threads();
    if (threads > MAX_POOL_THREADS) threads = MAX_POOL_THREADS;
    if (threads > items) threads = items;
    return threads < 1 ? 1 : (int)threads;
}

void minicnn_parallel_for(int64_t items, int threads, void (*run)(void *, int64_t, int),
                          void *ctx) {
    if (items <= 0) return;
    if (threads > MAX_POOL_THREADS) threads = MAX_POOL_THREADS;
    if (threads <= 1 || items == 1 || pthread_mutex_trylock(&submit) != 0) {
        for (int64_t item = 0; item < items; item++) run(ctx, item, 0);
        return;
    }
    pthread_once(&fork_handlers, install_fork_handlers);
    pthread_mutex_lock(&lock);
    while (spawned < threads - 1) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        born_in[spawned + 1] = generation;
        const int failed = pthread_create(&thread, &attributes, worker_main,
                                          (void *)(intptr_t)(spawned + 1));
        pthread_attr_destroy(&attributes);
        if (failed) break;
        spawned++;
    }
    job_run = run;
    job_ctx = ctx;
    job_items = items;
    job_threads = threads < spawned + 1 ? threads : spawned + 1;
    atomic_store(&job_next, 0);
    job_open = 1;
    generation++;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);

    claim_items(run, ctx, items, 0);

    pthread_mutex_lock(&lock);
    job_open = 0;  /* every item is claimed: a worker that wakes from now on stays out */
    while (attached > 0) pthread_cond_wait(&detached, &lock);
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&submit);
}

struct range_job {
    void (*run)(void *, int64_t, int64_t);
    void *ctx;
    int64_t n, chunk;
};

static void range_item(void *context, int64_t item, int worker) {
    (void)worker;
    const struct range_job *job = context;
    const int64_t begin = item * job->chunk;
    job->run(job->ctx, begin, begin + job->chunk < job->n ? begin + job->chunk : job->n);
}

void minicnn_parallel_ranges(int64_t n, double work, void (*run)(void *, int64_t, int64_t),
                             void *ctx) {
    const int threads = work >= MINICNN_PARALLEL_MIN ? minicnn_pool_threads(n) : 1;
    if (threads <= 1) {
        if (n > 0) run(ctx, 0, n);
        return;
    }
    const int64_t pieces = n < 4 * (int64_t)threads ? n : 4 * (int64_t)threads;
    struct range_job job = {run, ctx, n, (n + pieces - 1) / pieces};
    minicnn_parallel_for((n + job.chunk - 1) / job.chunk, threads, range_item, &job);
}
