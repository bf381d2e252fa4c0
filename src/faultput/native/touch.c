/*
 * The timed region: what a worker does to each work item. Nothing else runs between
 * the two clock reads of touch_item(): no allocation, no lock, no Python.
 *
 *   touch_pages(start, size, stride, touch) -> 0, or the errno of a failed populate:
 *                  write or read one byte every stride bytes, or populate the range
 *                  with MADV_POPULATE_WRITE (the fault path without the trap).
 *   pages_in(size, stride) -> how many touches touch_pages() makes over a buffer.
 *   thread_cpu_ns() -> this thread's CPU time, in nanoseconds.
 *   monotonic_ns() -> CLOCK_MONOTONIC_RAW in nanoseconds (the seed's wall clock).
 *   touch_pages_sampled(start, size, stride, touch, setup, latency): touch_pages() for
 *                  reads and writes, timing every setup->every'th touch into latency
 *                  (--latency); specialised per clock and touch, so the loop tests neither.
 *   touch_item(item, stride, touch, round, setup, latency, counters): touch one item, adding
 *                  its CPU time, the kernel's fault counts for this thread, its perf_event
 *                  counters (where counters is not NULL) and its pages to round; sampled
 *                  when latency is not NULL.
 *   block_async_signals(): keeps Ctrl-C and friends on the main thread.
 *   check_touch(stride, touch) -> 0, or -1 with a Python ValueError set.
 */
#include "core.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

size_t page_size_bytes;

/* Reads land here so that the compiler cannot drop them. */
static volatile unsigned char touch_sink;

static int touch_pages(unsigned char *start, size_t size_bytes, size_t stride_bytes, int touch);
static void touch_pages_sampled(unsigned char *start, size_t size_bytes, size_t stride_bytes, int touch,
                                const latency_setup_t *setup, latency_worker_t *latency);
static uint64_t pages_in(size_t size_bytes, size_t stride_bytes);
static uint64_t thread_cpu_ns(void);

static int
touch_pages(unsigned char *start, size_t size_bytes, size_t stride_bytes, int touch)
{
    unsigned char *end = start + size_bytes;
    if (touch == TOUCH_WRITE) {
        for (volatile unsigned char *p = start; p < end; p += stride_bytes) {
            *p = 1;
        }
    } else if (touch == TOUCH_READ) {
        unsigned char acc = 0;
        for (volatile unsigned char *p = start; p < end; p += stride_bytes) {
            acc ^= *p;
        }
        touch_sink = acc;
    } else if (stride_bytes == page_size_bytes) {
        /* One call per contiguous run. */
        if (madvise(start, size_bytes, MADV_POPULATE_WRITE) != 0) {
            return errno;
        }
    } else {
        for (unsigned char *p = start; p < end; p += stride_bytes) {
            if (madvise(p, page_size_bytes, MADV_POPULATE_WRITE) != 0) {
                return errno;
            }
        }
    }
    return 0;
}

/* One specialisation of the sampled loop: clock and write are constants where it is inlined. */
static inline __attribute__((always_inline)) void
sampled_loop(unsigned char *start, size_t size_bytes, size_t stride_bytes, const int write, const int clock,
             uint64_t every, uint64_t mult, latency_worker_t *latency)
{
    unsigned char *end = start + size_bytes;
    unsigned char acc = 0;
    uint64_t countdown = latency->countdown;
    for (volatile unsigned char *p = start; p < end; p += stride_bytes) {
        if (--countdown != 0) {
            if (write) {
                *p = 1;
            } else {
                acc ^= *p;
            }
            continue;
        }
        countdown = every;
        unsigned int cpu_before, cpu_after;
        uint64_t before = lat_read(clock, &cpu_before);
        if (write) {
            *p = 1;
        } else {
            acc ^= *p;
        }
        uint64_t after = lat_read(clock, &cpu_after);
        lat_record(latency, before, cpu_before, after, cpu_after, mult, (const unsigned char *) p);
    }
    latency->countdown = countdown;
    touch_sink = acc;
}

static void
touch_pages_sampled(unsigned char *start, size_t size_bytes, size_t stride_bytes, int touch,
                    const latency_setup_t *setup, latency_worker_t *latency)
{
    int write = touch == TOUCH_WRITE;
    switch (setup->clock) {
    case LAT_CLOCK_TSC:
        if (write) {
            sampled_loop(start, size_bytes, stride_bytes, 1, LAT_CLOCK_TSC, setup->every, setup->mult, latency);
        } else {
            sampled_loop(start, size_bytes, stride_bytes, 0, LAT_CLOCK_TSC, setup->every, setup->mult, latency);
        }
        break;
    case LAT_CLOCK_CNTVCT:
        if (write) {
            sampled_loop(start, size_bytes, stride_bytes, 1, LAT_CLOCK_CNTVCT, setup->every, setup->mult, latency);
        } else {
            sampled_loop(start, size_bytes, stride_bytes, 0, LAT_CLOCK_CNTVCT, setup->every, setup->mult, latency);
        }
        break;
    default:
        if (write) {
            sampled_loop(start, size_bytes, stride_bytes, 1, LAT_CLOCK_MONOTONIC, setup->every, setup->mult, latency);
        } else {
            sampled_loop(start, size_bytes, stride_bytes, 0, LAT_CLOCK_MONOTONIC, setup->every, setup->mult, latency);
        }
        break;
    }
}

static uint64_t
pages_in(size_t size_bytes, size_t stride_bytes)
{
    return size_bytes == 0 ? 0 : (uint64_t) ((size_bytes - 1) / stride_bytes + 1);
}

static uint64_t
thread_cpu_ns(void)
{
    struct timespec ts;
    /* Cannot fail for this clock on Linux; a zero would show as no CPU time, never as a crash. */
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) {
        return 0;
    }
    return (uint64_t) ts.tv_sec * NS_PER_S + (uint64_t) ts.tv_nsec;
}

uint64_t
monotonic_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC_RAW, &ts) != 0) {
        return 0;
    }
    return (uint64_t) ts.tv_sec * NS_PER_S + (uint64_t) ts.tv_nsec;
}

void
touch_item(const work_item_t *item, size_t stride_bytes, int touch, worker_round_t *round,
           const latency_setup_t *setup, latency_worker_t *latency, const worker_counters_t *counters)
{
    struct rusage usage_before, usage_after;
    uint64_t counters_before[N_COUNTERS], counters_after[N_COUNTERS];
    /* Take each snapshot once first: after a fork the stack pages they write are
     * copy-on-write, and that fault would otherwise land inside the counted window. */
    int counted = getrusage(RUSAGE_THREAD, &usage_after) == 0;
    (void) thread_cpu_ns();
    if (counters != NULL) {
        counters_read(counters, counters_after);
        counters_read(counters, counters_before);
    }
    counted &= getrusage(RUSAGE_THREAD, &usage_before) == 0;
    uint64_t cpu_before_ns = thread_cpu_ns();

    int failed = 0;
    if (latency != NULL && touch != TOUCH_POPULATE) {
        touch_pages_sampled(item->start, item->size_bytes, stride_bytes, touch, setup, latency);
    } else {
        failed = touch_pages(item->start, item->size_bytes, stride_bytes, touch);
    }

    uint64_t cpu_after_ns = thread_cpu_ns();
    counted &= getrusage(RUSAGE_THREAD, &usage_after) == 0;
    if (counters != NULL) {
        /* Outside the CPU-time window, beside the fault counts. */
        counters_read(counters, counters_after);
        for (int i = 0; i < N_COUNTERS; i++) {
            round->counters[i] += counters_after[i] - counters_before[i];
        }
    }
    round->cpu_ns += cpu_after_ns - cpu_before_ns;
    if (counted) {
        round->minor_faults += (uint64_t) (usage_after.ru_minflt - usage_before.ru_minflt);
        round->major_faults += (uint64_t) (usage_after.ru_majflt - usage_before.ru_majflt);
    } else if (round->touch_errno == 0) {
        round->touch_errno = errno;
    }
    if (failed && round->touch_errno == 0) {
        round->touch_errno = failed;
    }
    round->items += 1;
    round->pages += pages_in(item->size_bytes, stride_bytes);
}

void
block_async_signals(void)
{
    sigset_t set;
    sigfillset(&set);
    /* Faults the thread itself raises must still be delivered to it. */
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGILL);
    /* Only fails for an invalid `how`. */
    (void) pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int
check_touch(unsigned long long stride_bytes, int touch)
{
    if (stride_bytes == 0) {
        PyErr_SetString(PyExc_ValueError, "stride must be positive");
        return -1;
    }
    if (touch != TOUCH_READ && touch != TOUCH_WRITE && touch != TOUCH_POPULATE) {
        PyErr_Format(PyExc_ValueError, "unknown touch %d", touch);
        return -1;
    }
    return 0;
}
