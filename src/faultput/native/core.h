/*
 * faultput._core, the native core: it touches memory and reports time and fault
 * counts; every decision about what to measure is made in Python.
 *
 * Its files, one job each:
 *
 *   touch.c    the timed region: touch one work item, page by page, and count its CPU
 *              time and the kernel's faults. Read this first.
 *   gate.c     the seed's iteration protocol in shared memory (Python type Gate):
 *              park the workers, release them, hand out work items from one atomic
 *              index, wait for the last one; for worker threads and processes alike.
 *   uffd.c     a userfaultfd and its handler thread (Python type Uffd).
 *   counters.c per-worker perf_event counters (traps, context switches, migrations, cycles,
 *              instructions), opened by each worker for itself, read around each item.
 *   latency.c  per-fault latency (--latency): the histogram's buckets, recording a sample,
 *              the clock pair that calibrates ticks, and the two floors.
 *   module.c   the module's Python face: touch(), mmap(), munmap(), madvise(),
 *              hold_in_child(), die_with_parent(), the constants, and PyInit.
 *
 * This header holds what the files share; each file opens with a table of its
 * functions (and of the Python methods it defines), saying what each does and returns.
 */
#ifndef FAULTPUT_CORE_H
#define FAULTPUT_CORE_H

#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <Python.h>

#include <stddef.h>
#include <stdint.h>

#define NS_PER_S 1000000000ULL
#define CACHE_LINE_BYTES 128

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* One item of the work queue: a buffer to touch, page by page (every stride bytes). */
typedef struct {
    unsigned char *start;
    size_t size_bytes;
} work_item_t;

/* The perf_event counters a worker may open for itself (counters.c), in this order. */
#define N_COUNTERS 5

/* One worker's counters: its own file descriptors (valid in its own process only), and how
 * each open went, for the main process to read: 0 counted, else the errno of the open. */
typedef struct {
    int fd[N_COUNTERS];
    int error[N_COUNTERS];
    int user_only[N_COUNTERS];   /* counting the kernel was refused, so only user time is counted */
    uint64_t rounds[N_COUNTERS]; /* counted in the first this many rounds only (0: every round) */
} worker_counters_t;

/* One worker's share of one round, as touch_item() adds it up. */
typedef struct {
    uint64_t cpu_ns;        /* CLOCK_THREAD_CPUTIME_ID inside the touch loop */
    uint64_t minor_faults;  /* getrusage(RUSAGE_THREAD) around the touch loop */
    uint64_t major_faults;
    uint64_t items;
    uint64_t pages;
    uint64_t end_ns;        /* when the worker finished its last item */
    int touch_errno;        /* the first failure of the touch itself (populate's madvise), or 0 */
    uint64_t counters[N_COUNTERS]; /* the worker's perf_event counters around the touch loop */
} worker_round_t;

/* How a page is touched: the values Python passes as `touch`. */
enum touch_kind { TOUCH_READ = 0, TOUCH_WRITE = 1, TOUCH_POPULATE = 2 };

uint64_t monotonic_ns(void);

/*
 * Per-fault latency. A histogram is log-linear (HDR-style): values below 2^LAT_SUB_BITS
 * nanoseconds have a bucket each; every power of two above is split into 2^LAT_SUB_BITS
 * linear sub-buckets, so that a bucket is at most 1/128 of its lower bound wide. Values
 * from 2^LAT_MAX_EXPONENT ns (about 18 minutes) on share the last bucket; max_ns stays exact.
 */
#define LAT_SUB_BITS 7
#define LAT_SUB (1u << LAT_SUB_BITS)
#define LAT_MAX_EXPONENT 40
#define LAT_BUCKETS ((LAT_MAX_EXPONENT - LAT_SUB_BITS + 1) * LAT_SUB)
#define LAT_SLOWEST 10

/* Which counter times a touch: the values Python passes as `clock`. */
enum lat_clock { LAT_CLOCK_MONOTONIC = 0, LAT_CLOCK_TSC = 1, LAT_CLOCK_CNTVCT = 2 };

/* How a round samples: every `every`th page, ticks to ns as (ticks * mult) >> 32. */
typedef struct {
    int clock;
    uint64_t every;
    uint64_t mult;
} latency_setup_t;

typedef struct {
    uint64_t ns;
    uint64_t tick;                 /* the counter when the touch began */
    const unsigned char *address;  /* the page touched */
} lat_sample_t;

/* One worker's samples since they were last taken; plain counters, written by that worker only. */
typedef struct {
    uint64_t samples;
    uint64_t dropped;              /* the thread changed CPU between the two reads of the TSC */
    uint64_t sum_ns;
    uint64_t max_ns;
    uint64_t countdown;            /* pages until the next sample; kept across items and rounds */
    unsigned int slowest_min;      /* the index of the smallest entry of slowest */
    lat_sample_t slowest[LAT_SLOWEST];
    uint64_t buckets[LAT_BUCKETS];
} latency_worker_t;

/*
 * Reads the counter. On x86-64, rdtscp waits for every earlier instruction (the touch) and
 * returns the CPU it ran on; the lfence keeps later ones (the touch) from starting before it.
 */
static inline __attribute__((always_inline)) uint64_t
lat_read(int clock, unsigned int *cpu)
{
#if defined(__x86_64__)
    if (clock == LAT_CLOCK_TSC) {
        uint32_t lo, hi, aux;
        __asm__ volatile("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux) : : "memory");
        *cpu = aux;
        return ((uint64_t) hi << 32) | lo;
    }
#elif defined(__aarch64__)
    if (clock == LAT_CLOCK_CNTVCT) {
        uint64_t ticks;
        __asm__ volatile("isb\n\tmrs %0, cntvct_el0\n\tisb" : "=r"(ticks) : : "memory");
        *cpu = 0;
        return ticks;
    }
#endif
    *cpu = 0;
    __asm__ volatile("" : : : "memory");
    uint64_t now = monotonic_ns();
    __asm__ volatile("" : : : "memory");
    return now;
}

/* latency.c */
unsigned int lat_bucket_of(uint64_t ns);
uint64_t lat_bucket_low(unsigned int index);
void lat_record(latency_worker_t *w, uint64_t before, unsigned int cpu_before, uint64_t after,
                unsigned int cpu_after, uint64_t mult, const unsigned char *address);
void lat_reset(latency_worker_t *w);
PyObject *lat_take(latency_worker_t *w);
int check_latency_setup(int clock, unsigned long long every);
extern PyMethodDef latency_methods[];

/* touch.c */
extern size_t page_size_bytes;
void touch_item(const work_item_t *item, size_t stride_bytes, int touch, worker_round_t *round,
                const latency_setup_t *setup, latency_worker_t *latency, const worker_counters_t *counters);

/* counters.c */
void counters_init(worker_counters_t *c);
PyObject *counters_open(worker_counters_t *c, PyObject *events);
void counters_read(const worker_counters_t *c, uint64_t *values);
void counters_close(worker_counters_t *c);
void counters_after_round(worker_counters_t *c, uint64_t round);
void block_async_signals(void);
int check_touch(unsigned long long stride_bytes, int touch);

/* gate.c */
extern PyTypeObject GateType;

/* uffd.c */
extern PyTypeObject UffdType;

#endif
