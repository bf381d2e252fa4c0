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

/* One worker's share of one round, as touch_item() adds it up. */
typedef struct {
    uint64_t cpu_ns;        /* CLOCK_THREAD_CPUTIME_ID inside the touch loop */
    uint64_t minor_faults;  /* getrusage(RUSAGE_THREAD) around the touch loop */
    uint64_t major_faults;
    uint64_t items;
    uint64_t pages;
    uint64_t end_ns;        /* when the worker finished its last item */
    int touch_errno;        /* the first failure of the touch itself (populate's madvise), or 0 */
} worker_round_t;

/* How a page is touched: the values Python passes as `touch`. */
enum touch_kind { TOUCH_READ = 0, TOUCH_WRITE = 1, TOUCH_POPULATE = 2 };

/* touch.c */
extern size_t page_size_bytes;
void touch_item(const work_item_t *item, size_t stride_bytes, int touch, worker_round_t *round);
uint64_t monotonic_ns(void);
void block_async_signals(void);
int check_touch(unsigned long long stride_bytes, int touch);

/* gate.c */
extern PyTypeObject GateType;

/* uffd.c */
extern PyTypeObject UffdType;

#endif
