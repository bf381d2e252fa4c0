/*
 * Per-worker perf_event counters: each worker opens its own, counting only itself (pid 0,
 * any CPU), before its first round, and touch_item() reads them beside the fault counts,
 * outside the CPU-time window. Which events to open is Python's choice (platform.py).
 *
 *   counters_init(c)           no counter open
 *   counters_open(c, events) -> [(errno, user_only)] per event: opens each (type, config,
 *                              rounds) for the calling thread, counting in the first `rounds`
 *                              rounds only where rounds > 0 (None: leaves the slot unopened,
 *                              errno -1); errno 0 where it opened. Where counting
 *                              the kernel is refused (perf_event_paranoid), it retries
 *                              counting user time only and says so with user_only
 *   counters_read(c, values)   each counter's value, 0 for those not open
 *   counters_after_round(c, round)  stops the counters whose rounds are over (a worker calls
 *                              it after each round, outside the timed region)
 *   counters_close(c)          closes them; how each open went is kept
 */
#include "core.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void
counters_init(worker_counters_t *c)
{
    for (int i = 0; i < N_COUNTERS; i++) {
        c->fd[i] = -1;
        c->error[i] = -1;   /* not asked for */
        c->user_only[i] = 0;
        c->rounds[i] = 0;
    }
}

static int
open_event(uint32_t type, uint64_t config, int exclude_kernel)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.type = type;
    attr.config = config;
    attr.exclude_hv = 1;
    attr.exclude_kernel = exclude_kernel;
    return (int) syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

PyObject *
counters_open(worker_counters_t *c, PyObject *events)
{
    PyObject *seq = PySequence_Fast(events, "events must be a sequence of (type, config) pairs");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > N_COUNTERS) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "at most %d counters", N_COUNTERS);
        return NULL;
    }
    counters_close(c);
    counters_init(c);
    PyObject *status = PyList_New(n);
    if (status == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned int type;
        unsigned long long config, rounds = 0;
        PyObject *event = PySequence_Fast_GET_ITEM(seq, i);
        if (event == Py_None) {
            /* A slot left unopened: its error stays -1, "not asked for". */
            PyList_SET_ITEM(status, i, Py_BuildValue("(ii)", -1, 0));
            continue;
        }
        if (!PyArg_ParseTuple(event, "IK|K", &type, &config, &rounds)) {
            counters_close(c);
            Py_DECREF(status);
            Py_DECREF(seq);
            return NULL;
        }
        int fd = open_event(type, config, 0);
        int user_only = 0;
        if (fd < 0 && (errno == EACCES || errno == EPERM)) {
            fd = open_event(type, config, 1);
            user_only = fd >= 0;
        }
        c->fd[i] = fd;
        c->error[i] = fd < 0 ? errno : 0;
        c->user_only[i] = user_only;
        c->rounds[i] = rounds;
        PyList_SET_ITEM(status, i, Py_BuildValue("(ii)", c->error[i], user_only));
    }
    Py_DECREF(seq);
    return status;
}

void
counters_read(const worker_counters_t *c, uint64_t *values)
{
    for (int i = 0; i < N_COUNTERS; i++) {
        values[i] = 0;
        if (c->fd[i] >= 0 && read(c->fd[i], &values[i], sizeof(values[i])) != sizeof(values[i])) {
            values[i] = 0;
        }
    }
}

void
counters_after_round(worker_counters_t *c, uint64_t round)
{
    for (int i = 0; i < N_COUNTERS; i++) {
        if (c->fd[i] >= 0 && c->rounds[i] == round) {
            /* Closed, not disabled: an event that exists at all, enabled or not, sends every
             * fault of the system through perf's software event path. */
            (void) close(c->fd[i]);
            c->fd[i] = -1;
        }
    }
}

void
counters_close(worker_counters_t *c)
{
    /* How each open went stays, for the main process to read after the workers ended. */
    for (int i = 0; i < N_COUNTERS; i++) {
        if (c->fd[i] >= 0) {
            (void) close(c->fd[i]);
        }
        c->fd[i] = -1;
    }
}
