/*
 * The seed's iteration protocol, run natively so that between the release of a round
 * and the last worker finishing no Python runs at all (Python type Gate). It lives in
 * one MAP_SHARED region, so forked worker processes use it as threads do.
 *
 *   Gate(workers, capacity, latency=False)  a gate for that many workers and queue items;
 *                              with latency, a per-fault latency record per worker too
 *   set_latency(clock, every, mult)  how the next rounds sample (latency gates only; every 0:
 *                              not at all, the plain loop)
 *   latency_rounds()           each worker's latency record since the last call, emptied
 *                              (lat_take's tuples)
 *   open_counters(index, events) -> [(errno, user_only)]: the calling worker opens its
 *                              perf_event counters (counters.c) for itself, before its rounds
 *   close_counters(index)      the calling worker closes its counters
 *   counter_status() -> per worker, [(errno, user_only)] of each counter slot (-1: not asked)
 *   inject_latency_sample(index, before, cpu_before, after, cpu_after, address): records
 *                              one sample into a worker's record as the loop does (tests)
 *   load(items, stride, touch) the next round's work queue
 *   watch(pidfds)              worker processes whose end also wakes the waits below
 *   wait_parked() -> bool      waits until every worker is parked (or the gate is
 *                              stopped); False if a watched process ended first
 *   release() -> start_ns      starts the clock and wakes the parked workers (the seed's
 *                              start_iteration); None if the gate was stopped
 *   wait_done(interruptible=True) -> (start_ns, end_ns, main_end_ns), or None if a
 *                              watched process ended first: end_ns is when the last
 *                              worker finished its last item, main_end_ns when the
 *                              waiting thread saw it (the seed's clock)
 *   worker_rounds()            each worker's share of the last round
 *   touch_error() -> int       the errno of the first failed touch (populate), or 0
 *   work(index) -> (cpu_ns, minor, major, items, pages, end_ns, counters) or None: a worker's
 *                              round: park, take items from the shared atomic index until
 *                              it is empty, touch each, wait for the others; None once
 *                              stopped
 *   abort()                    no more items are handed out this round
 *   stop()                     the round in flight ends at the next item, and parked
 *                              workers return None
 *   contend(op, bytes, after_round) -> (round, ops), or None once stopped: an address-
 *                              space writer (--mmap-writers): waits for the first round
 *                              released after after_round, then repeats op (0: mmap and
 *                              munmap bytes; 1: mprotect them, alternately writable and
 *                              not) until that round ends; counts nothing between rounds
 *   fail(index, message)       a worker process says why it cannot go on
 *   forget_worker(index) -> message or None: a dead worker process no longer holds up
 *                              a round; returns what it said with fail(), if anything
 *
 * Functions of this file:
 *   ring_doorbell(g)           wakes the main thread, from any thread or process
 *   gate_lock(g)               locks, making the lock consistent after a dead owner
 *   gate_wait_workers(g)       a worker waits (lock held) for the next wake
 *   gate_wake_workers(g)       wakes every waiting worker (lock held)
 *   finish_worker_round(g, index, round) -> 1 if it was the round's last worker: counts
 *                              a worker's round as done (lock held), ending the round
 *                              when none is left running
 *   check_worker_index(g, index) -> 0, or -1 with a ValueError set for no such worker
 *   per_worker_list(g, one) -> [one(g, i) for each worker], built with the lock held
 *   wait_main(self, done, interruptible) -> 1 when done(g), 0 if a watched process
 *                              ended first, -1 with a Python exception set (Ctrl-C)
 */
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FAILURE_BYTES 256

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
    int touch;
    int touch_errno;             /* the first failed touch of any round, or 0 */
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t *round_seen;        /* per worker: the last round it started */
    uint64_t *round_done;        /* per worker: the last round it finished */
    worker_round_t *stats;       /* per worker: its share of the last finished round */
    char (*failures)[FAILURE_BYTES]; /* per worker: why a worker process could not go on */
    work_item_t *items;
    latency_worker_t *latency;   /* per worker, or NULL without --latency */
    worker_counters_t *counters; /* per worker: its perf_event counters */
    latency_setup_t latency_setup;
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

static void ring_doorbell(gate_shared_t *g);
static void gate_lock(gate_shared_t *g);
static void gate_wait_workers(gate_shared_t *g);
static void gate_wake_workers(gate_shared_t *g);
static int finish_worker_round(gate_shared_t *g, unsigned int index, uint64_t this_round);
static int wait_main(Gate *self, int (*done)(gate_shared_t *), int interruptible);
static int all_parked_or_stopping(gate_shared_t *g);
static int round_finished(gate_shared_t *g);
static int check_worker_index(gate_shared_t *g, unsigned int index);
static latency_worker_t *latency_record(gate_shared_t *g, unsigned int index);

/* Worker index's latency record: records are cache-line padded, so not an array index. */
static latency_worker_t *
latency_record(gate_shared_t *g, unsigned int index)
{
    size_t stride = (sizeof(latency_worker_t) + CACHE_LINE_BYTES - 1) / CACHE_LINE_BYTES * CACHE_LINE_BYTES;
    return (latency_worker_t *) ((char *) g->latency + index * stride);
}

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
    /* EAGAIN (woken already) and EINTR both mean "look again", which the caller does. */
    (void) syscall(SYS_futex, &g->wake_sequence, FUTEX_WAIT, seen, NULL, NULL, 0);
    gate_lock(g);
}

/* Called with the lock held: wakes every worker waiting in gate_wait_workers. */
static void
gate_wake_workers(gate_shared_t *g)
{
    atomic_fetch_add(&g->wake_sequence, 1);
    /* FUTEX_WAKE fails only for a bad address, which this word never is. */
    (void) syscall(SYS_futex, &g->wake_sequence, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static int
check_worker_index(gate_shared_t *g, unsigned int index)
{
    if (index >= g->n_workers) {
        PyErr_Format(PyExc_ValueError, "worker index %u out of range", index);
        return -1;
    }
    return 0;
}

static int
finish_worker_round(gate_shared_t *g, unsigned int index, uint64_t this_round)
{
    g->round_done[index] = this_round;
    g->running--;
    if (g->running != 0) {
        return 0;
    }
    g->rounds_finished = this_round;
    gate_wake_workers(g);
    ring_doorbell(g);
    return 1;
}

static int
Gate_init(Gate *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = { "workers", "capacity", "latency", NULL };
    unsigned int workers;
    unsigned long long capacity;
    int latency = 0;
    if (self->shared != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Gate already initialized");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "IK|p", kwlist, &workers, &capacity, &latency)) {
        return -1;
    }
    if (workers == 0) {
        PyErr_SetString(PyExc_ValueError, "a gate needs at least one worker");
        return -1;
    }
    size_t bytes = sizeof(gate_shared_t) + workers * (2 * sizeof(uint64_t) + sizeof(worker_round_t) + FAILURE_BYTES
                                                      + sizeof(worker_counters_t))
                   + (size_t) capacity * sizeof(work_item_t);
    size_t latency_offset = (bytes + CACHE_LINE_BYTES - 1) / CACHE_LINE_BYTES * CACHE_LINE_BYTES;
    if (latency) {
        /* Each record starts on its own cache line, so workers never share one. */
        bytes = latency_offset + workers * ((sizeof(latency_worker_t) + CACHE_LINE_BYTES - 1)
                                            / CACHE_LINE_BYTES * CACHE_LINE_BYTES);
    }
    gate_shared_t *g = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g == MAP_FAILED) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    pthread_mutexattr_t mutex_attributes;
    int rc = pthread_mutexattr_init(&mutex_attributes);
    if (rc == 0) {
        rc = pthread_mutexattr_setpshared(&mutex_attributes, PTHREAD_PROCESS_SHARED);
        if (rc == 0) {
            rc = pthread_mutexattr_setrobust(&mutex_attributes, PTHREAD_MUTEX_ROBUST);
        }
        if (rc == 0) {
            rc = pthread_mutex_init(&g->lock, &mutex_attributes);
        }
        pthread_mutexattr_destroy(&mutex_attributes);
    }
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        munmap(g, bytes);
        return -1;
    }
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
    g->failures = (char (*)[FAILURE_BYTES]) (g->stats + workers);
    g->counters = (worker_counters_t *) (g->failures + workers);
    for (unsigned int i = 0; i < workers; i++) {
        counters_init(&g->counters[i]);
    }
    g->items = (work_item_t *) (g->counters + workers);
    if (latency) {
        g->latency = (latency_worker_t *) ((char *) g + latency_offset);
        for (unsigned int i = 0; i < workers; i++) {
            lat_reset(latency_record(g, i));
        }
        g->latency_setup.clock = LAT_CLOCK_MONOTONIC;
        g->latency_setup.every = 1;
        g->latency_setup.mult = (uint64_t) 1 << 32;
    }
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
        /* Nothing to report from a destructor: these fail only on a bad handle, never here. */
        (void) pthread_mutex_destroy(&self->shared->lock);
        (void) close(self->shared->doorbell_fd);
        (void) munmap(self->shared, self->shared_bytes);
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
    int touch;
    gate_shared_t *g = gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "OKi", &items_obj, &stride_bytes, &touch)) {
        return NULL;
    }
    if (check_touch(stride_bytes, touch) < 0) {
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
    g->touch = touch;
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
    uint64_t start_ns;
    gate_lock(g);
    if (g->stopping) {
        pthread_mutex_unlock(&g->lock);
        Py_RETURN_NONE;
    }
    /* The caller waited with wait_parked(): releasing an unparked worker would lose it. */
    if (g->parked != g->n_workers || g->running != 0) {
        pthread_mutex_unlock(&g->lock);
        PyErr_SetString(PyExc_RuntimeError, "release() before every worker is parked (call wait_parked())");
        return NULL;
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
    return Py_BuildValue("(KKKKKK(KKKKK))", (unsigned long long) round->cpu_ns,
                         (unsigned long long) round->minor_faults,
                         (unsigned long long) round->major_faults,
                         (unsigned long long) round->items,
                         (unsigned long long) round->pages,
                         (unsigned long long) round->end_ns,
                         (unsigned long long) round->counters[0], (unsigned long long) round->counters[1],
                         (unsigned long long) round->counters[2], (unsigned long long) round->counters[3],
                         (unsigned long long) round->counters[4]);
}

static PyObject *
Gate_work(Gate *self, PyObject *args)
{
    unsigned int index;
    gate_shared_t *g = gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "I", &index)) {
        return NULL;
    }
    if (check_worker_index(g, index) < 0) {
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
    int touch = g->touch;
    latency_setup_t latency_setup = g->latency_setup;
    /* A latency gate's round with every == 0 runs the plain loop (the default's reference round). */
    latency_worker_t *latency = g->latency != NULL && latency_setup.every != 0 ? latency_record(g, index) : NULL;
    const worker_counters_t *counters = NULL;
    for (int k = 0; k < N_COUNTERS; k++) {
        if (g->counters[index].fd[k] >= 0) {
            counters = &g->counters[index];
        }
    }
    pthread_mutex_unlock(&g->lock);

    if (!stopped) {
        /* The timed region: nothing but taking items and touching them. */
        for (;;) {
            size_t i = atomic_fetch_add_explicit(&g->next_item, 1, memory_order_acq_rel);
            if (i >= n_items) {
                break;
            }
            touch_item(&items[i], stride_bytes, touch, &round, &latency_setup, latency, counters);
        }
        round.end_ns = monotonic_ns();
        if (counters != NULL) {
            /* After the worker's clock stopped: counters of the first rounds only end here. */
            counters_after_round(&g->counters[index], this_round);
        }

        gate_lock(g);
        if (round.end_ns > g->end_ns) {
            g->end_ns = round.end_ns;
        }
        if (round.touch_errno != 0 && g->touch_errno == 0) {
            g->touch_errno = round.touch_errno;
        }
        g->stats[index] = round;
        if (!finish_worker_round(g, index, this_round)) {
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

/* A list of one(g, i) for every worker, built with the lock held (NULL with an exception set). */
static PyObject *
per_worker_list(gate_shared_t *g, PyObject *(*one)(gate_shared_t *, unsigned int))
{
    PyObject *list = PyList_New(g->n_workers);
    if (list == NULL) {
        return NULL;
    }
    gate_lock(g);
    for (unsigned int i = 0; i < g->n_workers; i++) {
        PyObject *item = one(g, i);
        if (item == NULL) {
            pthread_mutex_unlock(&g->lock);
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    pthread_mutex_unlock(&g->lock);
    return list;
}

static PyObject *
worker_round_of(gate_shared_t *g, unsigned int index)
{
    return round_tuple(&g->stats[index]);
}

static PyObject *
Gate_worker_rounds(Gate *self, PyObject *unused)
{
    gate_shared_t *g = gate_of(self);
    return g == NULL ? NULL : per_worker_list(g, worker_round_of);
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
    /* A worker process that ended: count it as finished so the round can end. */
    unsigned int index;
    gate_shared_t *g = gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "I", &index)) {
        return NULL;
    }
    if (check_worker_index(g, index) < 0) {
        return NULL;
    }
    gate_lock(g);
    /* In flight and not yet finished by this worker, whether it had started the round or not. */
    if (g->rounds_finished != g->rounds_released && g->round_done[index] != g->rounds_released
        && g->running > 0) {
        finish_worker_round(g, index, g->rounds_released);
    }
    ring_doorbell(g);
    char failure[FAILURE_BYTES];
    memcpy(failure, g->failures[index], FAILURE_BYTES);
    pthread_mutex_unlock(&g->lock);
    failure[FAILURE_BYTES - 1] = '\0';
    if (failure[0] == '\0') {
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeUTF8(failure, (Py_ssize_t) strlen(failure), "replace");
}

static PyObject *
Gate_fail(Gate *self, PyObject *args)
{
    unsigned int index;
    const char *message;
    gate_shared_t *g = gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "Is", &index, &message)) {
        return NULL;
    }
    if (check_worker_index(g, index) < 0) {
        return NULL;
    }
    gate_lock(g);
    strncpy(g->failures[index], message, FAILURE_BYTES - 1);
    g->failures[index][FAILURE_BYTES - 1] = '\0';
    pthread_mutex_unlock(&g->lock);
    Py_RETURN_NONE;
}

static PyObject *
Gate_contend(Gate *self, PyObject *args)
{
    int op;
    unsigned long long region_bytes, after_round;
    gate_shared_t *g = gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "iKK", &op, &region_bytes, &after_round)) {
        return NULL;
    }
    if ((op != 0 && op != 1) || region_bytes == 0) {
        PyErr_Format(PyExc_ValueError, "contend: unknown op %d or empty region", op);
        return NULL;
    }
    block_async_signals();
    uint64_t this_round = 0, ops = 0;
    int stopped, failed = 0;
    Py_BEGIN_ALLOW_THREADS
    gate_lock(g);
    while (!g->stopping && g->rounds_released <= after_round) {
        gate_wait_workers(g);
    }
    stopped = g->stopping;
    this_round = g->rounds_released;
    pthread_mutex_unlock(&g->lock);
    if (!stopped) {
        unsigned char *region = NULL;
        if (op == 1) {
            region = mmap(NULL, region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            failed = region == MAP_FAILED ? errno : 0;
        }
        /* The round's end is read without the lock: a stale read costs one more operation. */
        while (!failed && __atomic_load_n(&g->rounds_finished, __ATOMIC_ACQUIRE) < this_round
               && !__atomic_load_n(&g->stopping, __ATOMIC_ACQUIRE)) {
            if (op == 0) {
                void *p = mmap(NULL, region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (p == MAP_FAILED || munmap(p, region_bytes) != 0) {
                    failed = errno;
                }
            } else if (mprotect(region, region_bytes, (ops & 1) ? PROT_READ | PROT_WRITE : PROT_READ) != 0) {
                failed = errno;
            }
            ops++;
        }
        if (op == 1 && region != MAP_FAILED) {
            (void) munmap(region, region_bytes);
        }
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        errno = failed;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (stopped) {
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(KK)", (unsigned long long) this_round, (unsigned long long) ops);
}

static PyObject *
Gate_touch_error(Gate *self, PyObject *unused)
{
    gate_shared_t *g = gate_of(self);
    if (g == NULL) {
        return NULL;
    }
    gate_lock(g);
    int failed = g->touch_errno;
    pthread_mutex_unlock(&g->lock);
    return PyLong_FromLong(failed);
}

static gate_shared_t *
latency_gate_of(Gate *self)
{
    gate_shared_t *g = gate_of(self);
    if (g != NULL && g->latency == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this gate was made without latency=True");
        return NULL;
    }
    return g;
}

static PyObject *
Gate_set_latency(Gate *self, PyObject *args)
{
    int clock;
    unsigned long long every, mult;
    gate_shared_t *g = latency_gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "iKK", &clock, &every, &mult)) {
        return NULL;
    }
    if (check_latency_setup(clock, every == 0 ? 1 : every) < 0) {
        return NULL;
    }
    gate_lock(g);
    if (g->running != 0) {
        pthread_mutex_unlock(&g->lock);
        PyErr_SetString(PyExc_RuntimeError, "cannot change the sampling while a round runs");
        return NULL;
    }
    g->latency_setup.clock = clock;
    g->latency_setup.every = every;
    g->latency_setup.mult = mult;
    for (unsigned int i = 0; i < g->n_workers; i++) {
        latency_record(g, i)->countdown = 1;
    }
    pthread_mutex_unlock(&g->lock);
    Py_RETURN_NONE;
}

static PyObject *
latency_taken(gate_shared_t *g, unsigned int index)
{
    if (g->running != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot take the latency records while a round runs");
        return NULL;
    }
    return lat_take(latency_record(g, index));
}

static PyObject *
Gate_latency_rounds(Gate *self, PyObject *unused)
{
    gate_shared_t *g = latency_gate_of(self);
    return g == NULL ? NULL : per_worker_list(g, latency_taken);
}

static PyObject *
Gate_inject_latency_sample(Gate *self, PyObject *args)
{
    unsigned int index, cpu_before, cpu_after;
    unsigned long long before, after, address;
    gate_shared_t *g = latency_gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "IKIKIK", &index, &before, &cpu_before, &after, &cpu_after, &address)) {
        return NULL;
    }
    if (check_worker_index(g, index) < 0) {
        return NULL;
    }
    gate_lock(g);
    lat_record(latency_record(g, index), before, cpu_before, after, cpu_after, g->latency_setup.mult,
               (const unsigned char *) (uintptr_t) address);
    pthread_mutex_unlock(&g->lock);
    Py_RETURN_NONE;
}

static PyObject *
Gate_open_counters(Gate *self, PyObject *args)
{
    unsigned int index;
    PyObject *events;
    gate_shared_t *g = gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "IO", &index, &events)) {
        return NULL;
    }
    if (check_worker_index(g, index) < 0) {
        return NULL;
    }
    /* Only this worker touches its slot, and only between rounds: no lock is needed. */
    return counters_open(&g->counters[index], events);
}

static PyObject *
Gate_close_counters(Gate *self, PyObject *args)
{
    unsigned int index;
    gate_shared_t *g = gate_of(self);
    if (g == NULL || !PyArg_ParseTuple(args, "I", &index)) {
        return NULL;
    }
    if (check_worker_index(g, index) < 0) {
        return NULL;
    }
    counters_close(&g->counters[index]);
    Py_RETURN_NONE;
}

static PyObject *
counter_status_of(gate_shared_t *g, unsigned int index)
{
    const worker_counters_t *c = &g->counters[index];
    return Py_BuildValue("[(ii)(ii)(ii)(ii)(ii)]", c->error[0], c->user_only[0], c->error[1], c->user_only[1],
                         c->error[2], c->user_only[2], c->error[3], c->user_only[3], c->error[4], c->user_only[4]);
}

static PyObject *
Gate_counter_status(Gate *self, PyObject *unused)
{
    gate_shared_t *g = gate_of(self);
    return g == NULL ? NULL : per_worker_list(g, counter_status_of);
}

static PyMethodDef Gate_methods[] = {
    { "open_counters", (PyCFunction) Gate_open_counters, METH_VARARGS,
      "open_counters(index, events) -> [(errno, user_only)]: worker index opens perf_event counters of "
      "(type, config) for the calling thread." },
    { "close_counters", (PyCFunction) Gate_close_counters, METH_VARARGS,
      "close_counters(index): worker index closes its counters (from the thread that opened them)." },
    { "counter_status", (PyCFunction) Gate_counter_status, METH_NOARGS,
      "counter_status() -> per worker, [(errno, user_only)] of each counter slot (errno -1: not asked)." },
    { "set_latency", (PyCFunction) Gate_set_latency, METH_VARARGS,
      "set_latency(clock, every, mult): the next rounds time every `every`th page (0: none, the plain "
      "loop); ticks to ns as (ticks * mult) >> 32." },
    { "latency_rounds", (PyCFunction) Gate_latency_rounds, METH_NOARGS,
      "latency_rounds() -> each worker's (samples, dropped, sum_ns, max_ns, slowest, buckets) since "
      "the last call; the records are emptied." },
    { "inject_latency_sample", (PyCFunction) Gate_inject_latency_sample, METH_VARARGS,
      "inject_latency_sample(index, before, cpu_before, after, cpu_after, address): one sample "
      "recorded as the touch loop records it (for tests)." },
    { "load", (PyCFunction) Gate_load, METH_VARARGS,
      "load(items, stride_bytes, touch): the next round's work queue of (address, size) pairs." },
    { "watch", (PyCFunction) Gate_watch, METH_VARARGS,
      "watch(pidfds): worker processes whose end also wakes wait_parked, release and wait_done." },
    { "wait_parked", (PyCFunction) Gate_wait_parked, METH_NOARGS,
      "wait_parked() -> True once every worker is parked (or the gate stopped), False if a watched process ended." },
    { "release", (PyCFunction) Gate_release, METH_NOARGS,
      "release() -> start_ns: start a round once wait_parked() said every worker is parked; None if "
      "stopped." },
    { "wait_done", (PyCFunction) (void (*)(void)) Gate_wait_done, METH_VARARGS | METH_KEYWORDS,
      "wait_done(interruptible=True) -> (start_ns, end_ns, main_end_ns) of the round (end_ns: the last "
      "worker's finish; main_end_ns: when this thread saw it), None if a watched process ended." },
    { "work", (PyCFunction) Gate_work, METH_VARARGS,
      "work(index) -> (cpu_ns, minor_faults, major_faults, items, pages, end_ns, counters), or None once stopped; counters: the 5 perf_event counters." },
    { "worker_rounds", (PyCFunction) Gate_worker_rounds, METH_NOARGS,
      "worker_rounds() -> each worker's (cpu_ns, minor, major, items, pages, end_ns, counters) of the last round." },
    { "abort", (PyCFunction) Gate_abort, METH_NOARGS, "abort(): hand out no more items this round." },
    { "stop", (PyCFunction) Gate_stop, METH_NOARGS,
      "stop(): the round in flight hands out no more items; parked workers return None." },
    { "forget_worker", (PyCFunction) Gate_forget_worker, METH_VARARGS,
      "forget_worker(index) -> what it said with fail(), or None: a dead worker process no longer "
      "holds up the round." },
    { "contend", (PyCFunction) Gate_contend, METH_VARARGS,
      "contend(op, bytes, after_round) -> (round, ops) of the next round's address-space writes "
      "(0: mmap+munmap, 1: mprotect), or None once stopped." },
    { "fail", (PyCFunction) Gate_fail, METH_VARARGS,
      "fail(index, message): a worker process says why it cannot go on, for the parent to report." },
    { "touch_error", (PyCFunction) Gate_touch_error, METH_NOARGS,
      "touch_error() -> the errno of the first touch that failed (populate's madvise), or 0." },
    { NULL, NULL, 0, NULL }
};

PyTypeObject GateType = {
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