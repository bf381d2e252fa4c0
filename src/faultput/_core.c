/*
 * faultput._core: the native touch loop, and nothing else of policy.
 *
 * Table of contents (every function is declared here with what it returns):
 *
 *   touch_pages()          read or write one byte every stride bytes of a buffer, or
 *                          populate it with MADV_POPULATE_WRITE (no trap).
 *   pages_in()             how many touches touch_pages() makes over a buffer.
 *   thread_cpu_ns()        this thread's CPU time, in nanoseconds.
 *   monotonic_ns()         CLOCK_MONOTONIC_RAW, in nanoseconds (the seed's wall clock).
 *   block_async_signals()  keeps Ctrl-C and friends on the main thread.
 *   touch_item()           touch one buffer, adding its CPU time and the kernel's
 *                          fault counts for this thread to a worker_round_t.
 *
 *   Python functions: touch(), mmap(), munmap(), madvise().
 *   Python type Gate: the seed's work queue and iteration protocol, so that
 *   between release() and the last worker finishing no Python runs at all;
 *   it lives in shared memory, so forked worker processes use it too:
 *     Gate(workers, capacity)   a gate for that many workers and queue items
 *     load(items, stride, mode)    the next round's work queue
 *     watch(pidfds)          worker processes whose end also wakes the waits below
 *     wait_parked() -> bool  waits until every worker is parked; False if a
 *                            watched process ended first
 *     release() -> start_ns  waits until every worker is parked, then starts
 *                            the clock and wakes them all (the seed's
 *                            start_iteration); None if the gate was stopped
 *     wait_done(interruptible=True) -> (start_ns, end_ns, main_end_ns), or
 *                            None if a watched process ended first
 *                            waits for the round; end_ns is when the last
 *                            worker finished its last item, main_end_ns when
 *                            the waiting thread saw it (the seed's clock)
 *     worker_rounds()        each worker's share of the last round
 *     work(index) -> (cpu_ns, minor, major, items, pages, end_ns) or None
 *                            a worker's round: park, take items from the
 *                            shared atomic index until it is empty, touch
 *                            each, wait for the others; None once stopped
 *     abort()                no more items are handed out this round
 *     stop()                 the round in flight ends at the next item, and
 *                            parked workers return None
 *     forget_worker(index)   a dead worker process no longer holds up a round
 *
 *   Python type Uffd: a userfaultfd and its native handler thread, which
 *   resolves every missing-page fault with UFFDIO_COPY or UFFDIO_ZEROPAGE:
 *     Uffd(copy)             create, handshake, start the handler
 *     register(address, size)   handle missing-page faults in that range
 *     handled() -> int       faults resolved so far
 *     cpu_ns() -> int        the handler thread's CPU time so far
 *     close()                stop and join the handler, close the descriptors
 *
 *   hold_in_child() -> pid: fork a child that only holds the parent's memory
 *   (copy-on-write) and waits to be killed; it never runs Python.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000ULL
#define CACHE_LINE_BYTES 128

typedef struct {
    unsigned char *start;
    size_t size_bytes;
} work_item_t;

typedef struct {
    uint64_t cpu_ns;
    uint64_t minor_faults;
    uint64_t major_faults;
    uint64_t items;
    uint64_t pages;
    uint64_t end_ns;        /* when the worker finished its last item */
} worker_round_t;

/* How touch_pages() touches: the values Python passes as `mode`. */
enum touch_mode { TOUCH_READ = 0, TOUCH_WRITE = 1, TOUCH_POPULATE = 2 };

static void touch_pages(unsigned char *start, size_t size_bytes, size_t stride_bytes, int mode);
static uint64_t pages_in(size_t size_bytes, size_t stride_bytes);
static uint64_t thread_cpu_ns(void);
static uint64_t monotonic_ns(void);
static void block_async_signals(void);
static void touch_item(const work_item_t *item, size_t stride_bytes, int mode, worker_round_t *round);

/* Reads land here so that the compiler cannot drop them. */
static volatile unsigned char touch_sink;

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static size_t page_size_bytes;

static void
touch_pages(unsigned char *start, size_t size_bytes, size_t stride_bytes, int mode)
{
    unsigned char *end = start + size_bytes;
    if (mode == TOUCH_POPULATE) {
        /* One call per contiguous run: the kernel's fault path without the trap. */
        if (stride_bytes == page_size_bytes) {
            madvise(start, size_bytes, MADV_POPULATE_WRITE);
        } else {
            for (unsigned char *p = start; p < end; p += stride_bytes) {
                madvise(p, page_size_bytes, MADV_POPULATE_WRITE);
            }
        }
    } else if (mode == TOUCH_WRITE) {
        for (volatile unsigned char *p = start; p < end; p += stride_bytes) {
            *p = 1;
        }
    } else {
        unsigned char acc = 0;
        for (volatile unsigned char *p = start; p < end; p += stride_bytes) {
            acc ^= *p;
        }
        touch_sink = acc;
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
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t) ts.tv_sec * NS_PER_S + (uint64_t) ts.tv_nsec;
}

static uint64_t
monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t) ts.tv_sec * NS_PER_S + (uint64_t) ts.tv_nsec;
}

static void
block_async_signals(void)
{
    sigset_t set;
    sigfillset(&set);
    /* Faults the thread itself raises must still be delivered to it. */
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGILL);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void
touch_item(const work_item_t *item, size_t stride_bytes, int mode, worker_round_t *round)
{
    struct rusage usage_before, usage_after;
    /* Take each snapshot once first: after a fork the stack pages they write are
     * copy-on-write, and that fault would otherwise land inside the counted window. */
    getrusage(RUSAGE_THREAD, &usage_after);
    (void) thread_cpu_ns();
    getrusage(RUSAGE_THREAD, &usage_before);
    uint64_t cpu_before_ns = thread_cpu_ns();

    touch_pages(item->start, item->size_bytes, stride_bytes, mode);

    uint64_t cpu_after_ns = thread_cpu_ns();
    getrusage(RUSAGE_THREAD, &usage_after);
    round->cpu_ns += cpu_after_ns - cpu_before_ns;
    round->minor_faults += (uint64_t) (usage_after.ru_minflt - usage_before.ru_minflt);
    round->major_faults += (uint64_t) (usage_after.ru_majflt - usage_before.ru_majflt);
    round->items += 1;
    round->pages += pages_in(item->size_bytes, stride_bytes);
}

static int
parse_touch(unsigned long long stride_bytes, int mode)
{
    if (stride_bytes == 0) {
        PyErr_SetString(PyExc_ValueError, "stride must be positive");
        return -1;
    }
    if (mode != TOUCH_READ && mode != TOUCH_WRITE && mode != TOUCH_POPULATE) {
        PyErr_Format(PyExc_ValueError, "unknown touch mode %d", mode);
        return -1;
    }
    return 0;
}

/* ---- module functions ---- */

static PyObject *
core_touch(PyObject *self, PyObject *args)
{
    unsigned long long address, size_bytes, stride_bytes;
    int mode;
    if (!PyArg_ParseTuple(args, "KKKi", &address, &size_bytes, &stride_bytes, &mode)) {
        return NULL;
    }
    if (parse_touch(stride_bytes, mode) < 0) {
        return NULL;
    }
    work_item_t item = { (unsigned char *) (uintptr_t) address, (size_t) size_bytes };
    worker_round_t round = { 0 };
    Py_BEGIN_ALLOW_THREADS
    touch_item(&item, (size_t) stride_bytes, mode, &round);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("(KKKK)", (unsigned long long) round.cpu_ns,
                         (unsigned long long) round.minor_faults,
                         (unsigned long long) round.major_faults,
                         (unsigned long long) round.pages);
}

static PyObject *
core_mmap(PyObject *self, PyObject *args)
{
    unsigned long long length, address = 0;
    int prot, flags, fd = -1;
    long long offset = 0;
    if (!PyArg_ParseTuple(args, "Kii|iLK", &length, &prot, &flags, &fd, &offset, &address)) {
        return NULL;
    }
    void *p;
    Py_BEGIN_ALLOW_THREADS
    p = mmap((void *) (uintptr_t) address, (size_t) length, prot, flags, fd, (off_t) offset);
    Py_END_ALLOW_THREADS
    if (p == MAP_FAILED) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromUnsignedLongLong((unsigned long long) (uintptr_t) p);
}

static PyObject *
core_munmap(PyObject *self, PyObject *args)
{
    unsigned long long address, length;
    int rc;
    if (!PyArg_ParseTuple(args, "KK", &address, &length)) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = munmap((void *) (uintptr_t) address, (size_t) length);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
core_madvise(PyObject *self, PyObject *args)
{
    unsigned long long address, length;
    int advice, rc;
    if (!PyArg_ParseTuple(args, "KKi", &address, &length, &advice)) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = madvise((void *) (uintptr_t) address, (size_t) length, advice);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* ---- Gate ---- */

/*
 * Everything the workers and the main thread share lives in one MAP_SHARED
 * region, with a process-shared robust mutex, so that the same gate serves
 * worker threads and forked worker processes alike. Pointers into the region
 * stay valid in a forked child, which sees it at the same address.
 */
typedef struct {
    pthread_mutex_t lock;
    /* Workers wait on this futex word for a round to start, then to end. A plain futex, not a
     * pthread condition variable: glibc's blocks a broadcast on a waiter that died. */
    atomic_uint wake_sequence;
    int doorbell_fd;             /* an eventfd rung when every worker is parked or a round ends */
    unsigned int n_workers;
    unsigned int parked;         /* workers waiting at the start gate */
    unsigned int running;        /* workers of the current round not yet finished */
    uint64_t rounds_released;
    uint64_t rounds_finished;
    int stopping;
    size_t n_items;
    size_t capacity;
    size_t stride_bytes;
    int mode;
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t *round_seen;        /* per worker: the last round it started */
    uint64_t *round_done;        /* per worker: the last round it finished */
    worker_round_t *stats;       /* per worker: its share of the last finished round */
    work_item_t *items;
    /* Alone on its cache line: the seed pads its atomic index likewise. */
    _Alignas(CACHE_LINE_BYTES) atomic_size_t next_item;
    char padding[CACHE_LINE_BYTES - sizeof(atomic_size_t)];
} gate_shared_t;

typedef struct {
    PyObject_HEAD
    gate_shared_t *shared;
    size_t shared_bytes;
    pid_t creator;               /* only the creating process tears the region down */
    int *watched_fds;            /* pidfds of worker processes, polled beside the doorbell */
    Py_ssize_t n_watched;
} Gate;

/* Wakes the main thread, whichever process or thread calls it. */
static void
ring_doorbell(gate_shared_t *g)
{
    uint64_t one = 1;
    if (write(g->doorbell_fd, &one, sizeof(one)) != sizeof(one)) {
        /* EAGAIN: the counter is already non-zero, so the main thread wakes regardless. */
    }
}

static void
gate_lock(gate_shared_t *g)
{
    /* A worker process that died holding the lock leaves it to be made consistent. */
    if (pthread_mutex_lock(&g->lock) == EOWNERDEAD) {
        pthread_mutex_consistent(&g->lock);
    }
}

/* Called with the lock held; returns with it held, after a wake or a spurious return. */
static void
gate_wait_workers(gate_shared_t *g)
{
    unsigned int seen = atomic_load(&g->wake_sequence);
    pthread_mutex_unlock(&g->lock);
    syscall(SYS_futex, &g->wake_sequence, FUTEX_WAIT, seen, NULL, NULL, 0);
    gate_lock(g);
}

/* Called with the lock held: wakes every worker waiting in gate_wait_workers. */
static void
gate_wake_workers(gate_shared_t *g)
{
    atomic_fetch_add(&g->wake_sequence, 1);
    syscall(SYS_futex, &g->wake_sequence, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static int
Gate_init(Gate *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = { "workers", "capacity", NULL };
    unsigned int workers;
    unsigned long long capacity;
    if (self->shared != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Gate already initialized");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "IK", kwlist, &workers, &capacity)) {
        return -1;
    }
    if (workers == 0) {
        PyErr_SetString(PyExc_ValueError, "a gate needs at least one worker");
        return -1;
    }
    size_t bytes = sizeof(gate_shared_t) + workers * (2 * sizeof(uint64_t) + sizeof(worker_round_t))
                   + (size_t) capacity * sizeof(work_item_t);
    gate_shared_t *g = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g == MAP_FAILED) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    pthread_mutexattr_t mutex_attributes;
    pthread_mutexattr_init(&mutex_attributes);
    pthread_mutexattr_setpshared(&mutex_attributes, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&mutex_attributes, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&g->lock, &mutex_attributes);
    pthread_mutexattr_destroy(&mutex_attributes);
    atomic_init(&g->wake_sequence, 0);
    g->doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g->doorbell_fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        pthread_mutex_destroy(&g->lock);
        munmap(g, bytes);
        return -1;
    }
    g->n_workers = workers;
    g->capacity = (size_t) capacity;
    g->round_seen = (uint64_t *) (g + 1);
    g->round_done = g->round_seen + workers;
    g->stats = (worker_round_t *) (g->round_done + workers);
    g->items = (work_item_t *) (g->stats + workers);
    atomic_init(&g->next_item, 0);
    self->shared = g;
    self->shared_bytes = bytes;
    self->creator = getpid();
    return 0;
}

static void
Gate_dealloc(Gate *self)
{
    if (self->shared != NULL && self->creator == getpid()) {
        pthread_mutex_destroy(&self->shared->lock);
        close(self->shared->doorbell_fd);
        munmap(self->shared, self->shared_bytes);
    }
    PyMem_Free(self->watched_fds);
    Py_TYPE(self)->tp_free((PyObject *) self);
}

static gate_shared_t *
gate_of(Gate *self)
{
    if (self->shared == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Gate not initialized");
    }
    return self->shared;
}

static PyObject *
Gate_load(Gate *self, PyObject *args)
{
    PyObject *items_obj;
    unsigned long long stride_bytes;
    int mode;
    gate_shared_t *g = gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "OKi", &items_obj, &stride_bytes, &mode)) {
        return NULL;
    }
    if (parse_touch(stride_bytes, mode) < 0) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(items_obj, "items must be a sequence of (address, size) pairs");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if ((size_t) n > g->capacity) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "%zd items exceed the gate's capacity of %zu", n, g->capacity);
        return NULL;
    }
    gate_lock(g);
    if (g->running != 0) {
        pthread_mutex_unlock(&g->lock);
        Py_DECREF(seq);
        PyErr_SetString(PyExc_RuntimeError, "cannot load a gate while a round runs");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long long address, size_bytes;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "KK", &address, &size_bytes)) {
            g->n_items = 0;
            pthread_mutex_unlock(&g->lock);
            Py_DECREF(seq);
            return NULL;
        }
        g->items[i].start = (unsigned char *) (uintptr_t) address;
        g->items[i].size_bytes = (size_t) size_bytes;
    }
    g->n_items = (size_t) n;
    g->stride_bytes = (size_t) stride_bytes;
    g->mode = mode;
    pthread_mutex_unlock(&g->lock);
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

/*
 * Waits, GIL released, until done(g) holds under the lock: the main thread sleeps
 * in poll() on the doorbell and the watched pidfds, and nothing else wakes it.
 * Returns 1 when done holds, 0 when a watched process ended first, or -1 with a
 * Python exception set when a signal handler raised (Ctrl-C) and interruptible
 * is true. The doorbell only says "look again": done is always re-checked.
 */
static int
wait_main(Gate *self, int (*done)(gate_shared_t *), int interruptible)
{
    gate_shared_t *g = self->shared;
    Py_ssize_t n = self->n_watched;
    struct pollfd fds[1 + (n > 0 ? n : 1)];
    fds[0].fd = g->doorbell_fd;
    fds[0].events = POLLIN;
    for (Py_ssize_t i = 0; i < n; i++) {
        fds[1 + i].fd = self->watched_fds[i];
        fds[1 + i].events = POLLIN;
    }
    PyThreadState *ts = PyEval_SaveThread();
    int outcome = 1;
    for (;;) {
        gate_lock(g);
        int finished = done(g);
        pthread_mutex_unlock(&g->lock);
        if (finished) {
            break;
        }
        if (poll(fds, (nfds_t) (1 + n), -1) < 0) {
            if (errno == EINTR && interruptible) {
                PyEval_RestoreThread(ts);
                if (PyErr_CheckSignals() < 0) {
                    return -1;
                }
                ts = PyEval_SaveThread();
            }
            continue;
        }
        if (fds[0].revents & POLLIN) {
            uint64_t rung;
            if (read(g->doorbell_fd, &rung, sizeof(rung)) < 0) {
                /* EAGAIN: another read drained it; look again regardless. */
            }
        }
        int ended = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            ended |= (fds[1 + i].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
        }
        if (ended) {
            gate_lock(g);
            finished = done(g);
            pthread_mutex_unlock(&g->lock);
            outcome = finished ? 1 : 0;
            break;
        }
    }
    PyEval_RestoreThread(ts);
    return outcome;
}

static int
all_parked_or_stopping(gate_shared_t *g)
{
    return g->stopping || (g->parked == g->n_workers && g->running == 0);
}

static int
round_finished(gate_shared_t *g)
{
    return g->rounds_finished == g->rounds_released;
}

static PyObject *
Gate_watch(Gate *self, PyObject *args)
{
    PyObject *fds_obj;
    if (gate_of(self) == NULL || !PyArg_ParseTuple(args, "O", &fds_obj)) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(fds_obj, "watch() takes a sequence of pidfds");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int *fds = PyMem_Calloc(n > 0 ? (size_t) n : 1, sizeof(int));
    if (fds == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        fds[i] = (int) PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        if (fds[i] == -1 && PyErr_Occurred()) {
            PyMem_Free(fds);
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    PyMem_Free(self->watched_fds);
    self->watched_fds = fds;
    self->n_watched = n;
    Py_RETURN_NONE;
}

static PyObject *
Gate_wait_parked(Gate *self, PyObject *unused)
{
    if (gate_of(self) == NULL) {
        return NULL;
    }
    int outcome = wait_main(self, all_parked_or_stopping, 1);
    if (outcome < 0) {
        return NULL;
    }
    return PyBool_FromLong(outcome);
}

static PyObject *
Gate_release(Gate *self, PyObject *unused)
{
    gate_shared_t *g = gate_of(self);
    if (g == NULL) {
        return NULL;
    }
    /* A watched process that ended stops the gate's use: release nothing. */
    int outcome = wait_main(self, all_parked_or_stopping, 1);
    if (outcome < 0) {
        return NULL;
    }
    if (outcome == 0) {
        Py_RETURN_NONE;
    }
    uint64_t start_ns;
    gate_lock(g);
    if (g->stopping) {
        pthread_mutex_unlock(&g->lock);
        Py_RETURN_NONE;
    }
    atomic_store_explicit(&g->next_item, 0, memory_order_release);
    g->running = g->n_workers;
    g->end_ns = 0;
    start_ns = monotonic_ns();
    g->start_ns = start_ns;
    g->rounds_released++;
    gate_wake_workers(g);
    pthread_mutex_unlock(&g->lock);
    return PyLong_FromUnsignedLongLong(start_ns);
}

static PyObject *
Gate_wait_done(Gate *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = { "interruptible", NULL };
    int interruptible = 1;
    gate_shared_t *g = gate_of(self);
    if (g == NULL || !PyArg_ParseTupleAndKeywords(args, kwds, "|p", kwlist, &interruptible)) {
        return NULL;
    }
    int outcome = wait_main(self, round_finished, interruptible);
    if (outcome < 0) {
        return NULL;
    }
    if (outcome == 0) {
        Py_RETURN_NONE;
    }
    /* The seed's end of the clock: the main thread's own time once it sees the round over. */
    uint64_t main_end_ns = monotonic_ns();
    gate_lock(g);
    uint64_t start_ns = g->start_ns, end_ns = g->end_ns;
    pthread_mutex_unlock(&g->lock);
    return Py_BuildValue("(KKK)", (unsigned long long) start_ns, (unsigned long long) end_ns,
                         (unsigned long long) main_end_ns);
}

static PyObject *
round_tuple(const worker_round_t *round)
{
    return Py_BuildValue("(KKKKKK)", (unsigned long long) round->cpu_ns,
                         (unsigned long long) round->minor_faults,
                         (unsigned long long) round->major_faults,
                         (unsigned long long) round->items,
                         (unsigned long long) round->pages,
                         (unsigned long long) round->end_ns);
}

static PyObject *
Gate_work(Gate *self, PyObject *args)
{
    unsigned int index;
    gate_shared_t *g = gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "I", &index)) {
        return NULL;
    }
    if (index >= g->n_workers) {
        PyErr_Format(PyExc_ValueError, "worker index %u out of range", index);
        return NULL;
    }
    block_async_signals();

    worker_round_t round = { 0 };
    int stopped = 0;
    Py_BEGIN_ALLOW_THREADS
    gate_lock(g);
    g->parked++;
    if (g->parked == g->n_workers) {
        ring_doorbell(g);
    }
    while (!g->stopping && g->rounds_released == g->round_seen[index]) {
        gate_wait_workers(g);
    }
    g->parked--;
    /* A round released before the stop is still this worker's to finish (an aborted round
     * hands it no item): the round ends only when every worker has finished it. */
    stopped = g->rounds_released == g->round_seen[index];
    uint64_t this_round = g->rounds_released;
    g->round_seen[index] = this_round;
    const work_item_t *items = g->items;
    size_t n_items = g->n_items, stride_bytes = g->stride_bytes;
    int mode = g->mode;
    pthread_mutex_unlock(&g->lock);

    if (!stopped) {
        /* The timed region: nothing but taking items and touching them. */
        for (;;) {
            size_t i = atomic_fetch_add_explicit(&g->next_item, 1, memory_order_acq_rel);
            if (i >= n_items) {
                break;
            }
            touch_item(&items[i], stride_bytes, mode, &round);
        }
        round.end_ns = monotonic_ns();

        gate_lock(g);
        if (round.end_ns > g->end_ns) {
            g->end_ns = round.end_ns;
        }
        g->stats[index] = round;
        g->round_done[index] = this_round;
        g->running--;
        if (g->running == 0) {
            g->rounds_finished = this_round;
            gate_wake_workers(g);
            ring_doorbell(g);
        } else {
            /* As the seed's workers do: wait for the others before leaving. */
            while (g->rounds_finished != this_round) {
                gate_wait_workers(g);
            }
        }
        pthread_mutex_unlock(&g->lock);
    }
    Py_END_ALLOW_THREADS
    if (stopped) {
        Py_RETURN_NONE;
    }
    return round_tuple(&round);
}

static PyObject *
Gate_worker_rounds(Gate *self, PyObject *unused)
{
    gate_shared_t *g = gate_of(self);
    if (g == NULL) {
        return NULL;
    }
    PyObject *rounds = PyList_New(g->n_workers);
    if (rounds == NULL) {
        return NULL;
    }
    gate_lock(g);
    for (unsigned int i = 0; i < g->n_workers; i++) {
        PyObject *round = round_tuple(&g->stats[i]);
        if (round == NULL) {
            pthread_mutex_unlock(&g->lock);
            Py_DECREF(rounds);
            return NULL;
        }
        PyList_SET_ITEM(rounds, i, round);
    }
    pthread_mutex_unlock(&g->lock);
    return rounds;
}

static PyObject *
Gate_abort(Gate *self, PyObject *unused)
{
    gate_shared_t *g = gate_of(self);
    if (g == NULL) {
        return NULL;
    }
    gate_lock(g);
    atomic_store_explicit(&g->next_item, g->n_items, memory_order_release);
    pthread_mutex_unlock(&g->lock);
    Py_RETURN_NONE;
}

static PyObject *
Gate_stop(Gate *self, PyObject *unused)
{
    gate_shared_t *g = gate_of(self);
    if (g == NULL) {
        return NULL;
    }
    gate_lock(g);
    g->stopping = 1;
    /* A round in flight ends at the next item: nothing new is handed out. */
    atomic_store_explicit(&g->next_item, g->n_items, memory_order_release);
    gate_wake_workers(g);
    ring_doorbell(g);
    pthread_mutex_unlock(&g->lock);
    Py_RETURN_NONE;
}

static PyObject *
Gate_forget_worker(Gate *self, PyObject *args)
{
    /* A worker process that died: count it as finished so the round can end. */
    unsigned int index;
    gate_shared_t *g = gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "I", &index)) {
        return NULL;
    }
    if (index >= g->n_workers) {
        PyErr_Format(PyExc_ValueError, "worker index %u out of range", index);
        return NULL;
    }
    gate_lock(g);
    /* In flight and not yet finished by this worker, whether it had started the round or not. */
    if (g->rounds_finished != g->rounds_released && g->round_done[index] != g->rounds_released
        && g->running > 0) {
        g->round_done[index] = g->rounds_released;
        g->running--;
        if (g->running == 0) {
            g->rounds_finished = g->rounds_released;
            gate_wake_workers(g);
        }
    }
    ring_doorbell(g);
    pthread_mutex_unlock(&g->lock);
    Py_RETURN_NONE;
}

static PyMethodDef Gate_methods[] = {
    { "load", (PyCFunction) Gate_load, METH_VARARGS,
      "load(items, stride_bytes, mode): the next round's work queue of (address, size) pairs." },
    { "watch", (PyCFunction) Gate_watch, METH_VARARGS,
      "watch(pidfds): worker processes whose end also wakes wait_parked, release and wait_done." },
    { "wait_parked", (PyCFunction) Gate_wait_parked, METH_NOARGS,
      "wait_parked() -> True once every worker is parked (or the gate stopped), False if a watched process ended." },
    { "release", (PyCFunction) Gate_release, METH_NOARGS,
      "release() -> start_ns: wait until every worker is parked, then start a round; None if stopped "
      "or a watched process ended." },
    { "wait_done", (PyCFunction) (void (*)(void)) Gate_wait_done, METH_VARARGS | METH_KEYWORDS,
      "wait_done(interruptible=True) -> (start_ns, end_ns, main_end_ns) of the round (end_ns: the last "
      "worker's finish; main_end_ns: when this thread saw it), None if a watched process ended." },
    { "work", (PyCFunction) Gate_work, METH_VARARGS,
      "work(index) -> (cpu_ns, minor_faults, major_faults, items, pages, end_ns), or None once stopped." },
    { "worker_rounds", (PyCFunction) Gate_worker_rounds, METH_NOARGS,
      "worker_rounds() -> each worker's (cpu_ns, minor, major, items, pages, end_ns) of the last round." },
    { "abort", (PyCFunction) Gate_abort, METH_NOARGS, "abort(): hand out no more items this round." },
    { "stop", (PyCFunction) Gate_stop, METH_NOARGS,
      "stop(): the round in flight hands out no more items; parked workers return None." },
    { "forget_worker", (PyCFunction) Gate_forget_worker, METH_VARARGS,
      "forget_worker(index): a dead worker process no longer holds up the round." },
    { NULL, NULL, 0, NULL }
};

static PyTypeObject GateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "faultput._core.Gate",
    .tp_doc = "The seed's work queue and iteration protocol, run natively, for threads or processes.",
    .tp_basicsize = sizeof(Gate),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc) Gate_init,
    .tp_dealloc = (destructor) Gate_dealloc,
    .tp_methods = Gate_methods,
};

/* ---- Uffd ---- */

typedef struct {
    PyObject_HEAD
    int uffd;
    int stop_fd;
    int copy;                   /* UFFDIO_COPY a page; else UFFDIO_ZEROPAGE */
    int running;
    pthread_t thread;
    unsigned char *source_page; /* what UFFDIO_COPY copies */
    atomic_ullong handled;
    atomic_int failed_errno;
} Uffd;

/* The handler thread: resolve each missing-page fault until stop_fd is written. */
static void *
uffd_handler(void *arg)
{
    Uffd *self = arg;
    struct uffd_msg messages[64];
    struct pollfd fds[2] = { { self->uffd, POLLIN, 0 }, { self->stop_fd, POLLIN, 0 } };
    block_async_signals();
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            atomic_store(&self->failed_errno, errno);
            return NULL;
        }
        if (fds[1].revents & POLLIN) {
            return NULL;
        }
        ssize_t got = read(self->uffd, messages, sizeof(messages));
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            atomic_store(&self->failed_errno, errno);
            return NULL;
        }
        for (size_t i = 0; i < (size_t) got / sizeof(messages[0]); i++) {
            if (messages[i].event != UFFD_EVENT_PAGEFAULT) {
                continue;
            }
            unsigned long long page = messages[i].arg.pagefault.address & ~((unsigned long long) page_size_bytes - 1);
            /* Counted before resolving: resolving wakes the faulting thread. */
            atomic_fetch_add(&self->handled, 1);
            int rc;
            if (self->copy) {
                struct uffdio_copy copy = { .dst = page, .src = (unsigned long long) (uintptr_t) self->source_page,
                                            .len = page_size_bytes, .mode = 0 };
                rc = ioctl(self->uffd, UFFDIO_COPY, &copy);
            } else {
                struct uffdio_zeropage zero = { .range = { .start = page, .len = page_size_bytes }, .mode = 0 };
                rc = ioctl(self->uffd, UFFDIO_ZEROPAGE, &zero);
            }
            /* EEXIST: another fault on the same page was resolved first. */
            if (rc != 0 && errno != EEXIST) {
                atomic_store(&self->failed_errno, errno);
            }
        }
    }
}

static int
Uffd_init(Uffd *self, PyObject *args, PyObject *kwds)
{
    int copy;
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "Uffd already initialized");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "p", &copy)) {
        return -1;
    }
    int flags = O_CLOEXEC | O_NONBLOCK;
#ifdef UFFD_USER_MODE_ONLY
    /* Only user-mode faults: what the touch loop takes, and what an unprivileged user may handle. */
    flags |= UFFD_USER_MODE_ONLY;
#endif
    self->uffd = self->stop_fd = -1;
    int fd = (int) syscall(SYS_userfaultfd, flags);
    if (fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    struct uffdio_api api = { .api = UFFD_API, .features = 0 };
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        close(fd);
        return -1;
    }
    self->source_page = mmap(NULL, page_size_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    self->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (self->source_page == MAP_FAILED || self->stop_fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        if (self->source_page != MAP_FAILED) {
            munmap(self->source_page, page_size_bytes);
        }
        if (self->stop_fd >= 0) {
            close(self->stop_fd);
        }
        close(fd);
        return -1;
    }
    memset(self->source_page, 1, page_size_bytes);
    self->uffd = fd;
    self->copy = copy;
    atomic_init(&self->handled, 0);
    atomic_init(&self->failed_errno, 0);
    int rc = pthread_create(&self->thread, NULL, uffd_handler, self);
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        munmap(self->source_page, page_size_bytes);
        close(self->stop_fd);
        close(fd);
        return -1;
    }
    self->running = 1;
    return 0;
}

static void
uffd_close(Uffd *self)
{
    if (!self->running) {
        return;
    }
    uint64_t one = 1;
    if (write(self->stop_fd, &one, sizeof(one)) != sizeof(one)) {
        /* The handler also ends when the descriptor is closed under it; join regardless. */
    }
    pthread_join(self->thread, NULL);
    close(self->stop_fd);
    close(self->uffd);
    munmap(self->source_page, page_size_bytes);
    self->running = 0;
}

static PyObject *
Uffd_register(Uffd *self, PyObject *args)
{
    unsigned long long address, length;
    if (!PyArg_ParseTuple(args, "KK", &address, &length)) {
        return NULL;
    }
    if (!self->running) {
        PyErr_SetString(PyExc_RuntimeError, "Uffd is closed");
        return NULL;
    }
    struct uffdio_register reg = { .range = { .start = address, .len = length },
                                   .mode = UFFDIO_REGISTER_MODE_MISSING };
    if (ioctl(self->uffd, UFFDIO_REGISTER, &reg) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
Uffd_handled(Uffd *self, PyObject *unused)
{
    int failed = atomic_load(&self->failed_errno);
    if (failed) {
        errno = failed;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromUnsignedLongLong(atomic_load(&self->handled));
}

static PyObject *
Uffd_cpu_ns(Uffd *self, PyObject *unused)
{
    clockid_t clock;
    struct timespec ts;
    if (!self->running) {
        PyErr_SetString(PyExc_RuntimeError, "Uffd is closed");
        return NULL;
    }
    int rc = pthread_getcpuclockid(self->thread, &clock);
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (clock_gettime(clock, &ts) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromUnsignedLongLong((unsigned long long) ts.tv_sec * NS_PER_S + (unsigned long long) ts.tv_nsec);
}

static PyObject *
Uffd_close(Uffd *self, PyObject *unused)
{
    Py_BEGIN_ALLOW_THREADS
    uffd_close(self);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static void
Uffd_dealloc(Uffd *self)
{
    uffd_close(self);
    Py_TYPE(self)->tp_free((PyObject *) self);
}

static PyMethodDef Uffd_methods[] = {
    { "register", (PyCFunction) Uffd_register, METH_VARARGS,
      "register(address, size): resolve missing-page faults in that range." },
    { "handled", (PyCFunction) Uffd_handled, METH_NOARGS,
      "handled() -> faults resolved so far; raises OSError if the handler failed." },
    { "cpu_ns", (PyCFunction) Uffd_cpu_ns, METH_NOARGS, "cpu_ns() -> the handler thread's CPU time, ns." },
    { "close", (PyCFunction) Uffd_close, METH_NOARGS, "close(): stop the handler thread." },
    { NULL, NULL, 0, NULL }
};

static PyTypeObject UffdType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "faultput._core.Uffd",
    .tp_doc = "A userfaultfd with a native handler thread.",
    .tp_basicsize = sizeof(Uffd),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc) Uffd_init,
    .tp_dealloc = (destructor) Uffd_dealloc,
    .tp_methods = Uffd_methods,
};

/* ---- hold_in_child ---- */

static PyObject *
core_hold_in_child(PyObject *self, PyObject *unused)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (pid == 0) {
        /* Only async-signal-safe calls here: the parent may have other threads. */
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(0);
        }
        for (;;) {
            pause();
        }
    }
    return PyLong_FromLong((long) pid);
}

static PyObject *
core_die_with_parent(PyObject *self, PyObject *unused)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyMethodDef core_methods[] = {
    { "die_with_parent", core_die_with_parent, METH_NOARGS,
      "die_with_parent(): this process gets SIGKILL when the thread that forked it ends." },
    { "hold_in_child", core_hold_in_child, METH_NOARGS,
      "hold_in_child() -> pid of a child holding this process's memory until killed." },
    { "touch", core_touch, METH_VARARGS,
      "touch(address, size_bytes, stride_bytes, mode) -> (cpu_ns, minor_faults, major_faults, pages)." },
    { "mmap", core_mmap, METH_VARARGS,
      "mmap(length, prot, flags, fd=-1, offset=0, address=0) -> address (address: a hint, or exact "
      "with MAP_FIXED)." },
    { "munmap", core_munmap, METH_VARARGS, "munmap(address, length)." },
    { "madvise", core_madvise, METH_VARARGS, "madvise(address, length, advice)." },
    { NULL, NULL, 0, NULL }
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "faultput._core",
    "faultput's native core: the touch loop and the gate that times it.", -1, core_methods
};

#define ADD_CONSTANT(m, name) PyModule_AddIntConstant(m, #name, name)

PyMODINIT_FUNC
PyInit__core(void)
{
    if (PyType_Ready(&GateType) < 0 || PyType_Ready(&UffdType) < 0) {
        return NULL;
    }
    page_size_bytes = (size_t) sysconf(_SC_PAGESIZE);
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&GateType);
    if (PyModule_AddObject(m, "Gate", (PyObject *) &GateType) < 0) {
        Py_DECREF(&GateType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&UffdType);
    if (PyModule_AddObject(m, "Uffd", (PyObject *) &UffdType) < 0) {
        Py_DECREF(&UffdType);
        Py_DECREF(m);
        return NULL;
    }
    ADD_CONSTANT(m, TOUCH_READ);
    ADD_CONSTANT(m, TOUCH_WRITE);
    ADD_CONSTANT(m, TOUCH_POPULATE);
    ADD_CONSTANT(m, MADV_POPULATE_WRITE);
    ADD_CONSTANT(m, PROT_READ);
    ADD_CONSTANT(m, PROT_WRITE);
    ADD_CONSTANT(m, MAP_PRIVATE);
    ADD_CONSTANT(m, MAP_SHARED);
    ADD_CONSTANT(m, MAP_ANONYMOUS);
    ADD_CONSTANT(m, MAP_FIXED);
    ADD_CONSTANT(m, MAP_NORESERVE);
#ifdef MAP_HUGETLB
    ADD_CONSTANT(m, MAP_HUGETLB);
#endif
#ifdef MADV_HUGEPAGE
    ADD_CONSTANT(m, MADV_HUGEPAGE);
#endif
#ifdef MADV_NOHUGEPAGE
    ADD_CONSTANT(m, MADV_NOHUGEPAGE);
#endif
#ifdef MADV_DONTNEED
    ADD_CONSTANT(m, MADV_DONTNEED);
#endif
#ifdef MADV_RANDOM
    ADD_CONSTANT(m, MADV_RANDOM);
#endif
    return m;
}
