/*
 * Per-fault latency (--latency): what the sampled touch loop records, and the Python
 * functions that calibrate and check it. The loop itself is in touch.c; the per-worker
 * records live in the gate's shared memory (gate.c).
 *
 *   lat_bucket_of(ns) -> the histogram bucket of a value (core.h says how they are laid out)
 *   lat_bucket_low(index) -> the smallest value of a bucket
 *   lat_record(w, before, cpu_before, after, cpu_after, mult, address): one sample into a
 *                  worker's record, or a dropped one if the CPU changed between the reads
 *   lat_reset(w)   empties a record (the sampling phase, countdown, is kept)
 *   lat_take(w) -> (samples, dropped, sum_ns, max_ns, slowest, buckets), and empties it:
 *                  slowest a list of (ns, tick, address), buckets a list of (index, count)
 *                  of the non-empty buckets, in index order
 *   check_latency_setup(clock, every) -> 0, or -1 with a ValueError set
 *
 * Python functions (latency_methods):
 *   latency_bucket(ns) -> index;  latency_bucket_low(index) -> ns
 *   latency_buckets() -> how many buckets a histogram has
 *   clock_available(clock) -> whether this build can read that counter
 *   clock_pair(clock) -> (ticks, monotonic_raw_ns) read as close together as this machine
 *                  allows: the calibration points
 *   latency_floor(clock, mult, samples, address, touch) -> (elapsed_ns, take): samples
 *                  timed regions through the loop's own code, empty (address 0) or touching
 *                  the already mapped page at address; elapsed_ns the whole loop, bookkeeping
 *                  included (what one sample costs)
 */
#include "core.h"

#include <string.h>

/* Reads of the floor's page land here so that the compiler cannot drop them. */
static volatile unsigned char floor_sink;

unsigned int
lat_bucket_of(uint64_t ns)
{
    if (ns < 2 * LAT_SUB) {
        return (unsigned int) ns;
    }
    unsigned int exponent = 63u - (unsigned int) __builtin_clzll(ns);
    if (exponent >= LAT_MAX_EXPONENT) {
        return LAT_BUCKETS - 1;
    }
    unsigned int shift = exponent - LAT_SUB_BITS;
    return (exponent - LAT_SUB_BITS + 1) * LAT_SUB + (unsigned int) ((ns >> shift) - LAT_SUB);
}

uint64_t
lat_bucket_low(unsigned int index)
{
    if (index < 2 * LAT_SUB) {
        return index;
    }
    unsigned int exponent = index / LAT_SUB + LAT_SUB_BITS - 1;
    return (uint64_t) (LAT_SUB + index % LAT_SUB) << (exponent - LAT_SUB_BITS);
}

void
lat_record(latency_worker_t *w, uint64_t before, unsigned int cpu_before, uint64_t after,
           unsigned int cpu_after, uint64_t mult, const unsigned char *address)
{
    /* Two CPUs' TSCs need not agree: a sample that moved between them is not a time. */
    if (cpu_before != cpu_after || after < before) {
        w->dropped++;
        return;
    }
    uint64_t ns = (uint64_t) (((unsigned __int128) (after - before) * mult) >> 32);
    w->samples++;
    w->sum_ns += ns;
    if (ns > w->max_ns) {
        w->max_ns = ns;
    }
    w->buckets[lat_bucket_of(ns)]++;
    if (ns > w->slowest[w->slowest_min].ns) {
        lat_sample_t *slot = &w->slowest[w->slowest_min];
        slot->ns = ns;
        slot->tick = before;
        slot->address = address;
        unsigned int smallest = 0;
        for (unsigned int i = 1; i < LAT_SLOWEST; i++) {
            if (w->slowest[i].ns < w->slowest[smallest].ns) {
                smallest = i;
            }
        }
        w->slowest_min = smallest;
    }
}

void
lat_reset(latency_worker_t *w)
{
    uint64_t countdown = w->countdown;
    memset(w, 0, offsetof(latency_worker_t, buckets));
    w->countdown = countdown ? countdown : 1;
}

PyObject *
lat_take(latency_worker_t *w)
{
    PyObject *slowest = PyList_New(0), *buckets = PyList_New(0);
    if (slowest == NULL || buckets == NULL) {
        goto fail;
    }
    for (unsigned int i = 0; i < LAT_SLOWEST; i++) {
        if (w->slowest[i].ns == 0 && w->slowest[i].address == NULL) {
            continue;
        }
        PyObject *entry = Py_BuildValue("(KKK)", (unsigned long long) w->slowest[i].ns,
                                        (unsigned long long) w->slowest[i].tick,
                                        (unsigned long long) (uintptr_t) w->slowest[i].address);
        if (entry == NULL || PyList_Append(slowest, entry) < 0) {
            Py_XDECREF(entry);
            goto fail;
        }
        Py_DECREF(entry);
    }
    for (unsigned int i = 0; i < LAT_BUCKETS; i++) {
        if (w->buckets[i] == 0) {
            continue;
        }
        PyObject *entry = Py_BuildValue("(IK)", i, (unsigned long long) w->buckets[i]);
        if (entry == NULL || PyList_Append(buckets, entry) < 0) {
            Py_XDECREF(entry);
            goto fail;
        }
        Py_DECREF(entry);
        w->buckets[i] = 0;
    }
    PyObject *taken = Py_BuildValue("(KKKKNN)", (unsigned long long) w->samples, (unsigned long long) w->dropped,
                                    (unsigned long long) w->sum_ns, (unsigned long long) w->max_ns,
                                    slowest, buckets);
    lat_reset(w);
    return taken;
fail:
    Py_XDECREF(slowest);
    Py_XDECREF(buckets);
    return NULL;
}

static int
clock_available(int clock)
{
#if defined(__x86_64__)
    if (clock == LAT_CLOCK_TSC) {
        return 1;
    }
#elif defined(__aarch64__)
    if (clock == LAT_CLOCK_CNTVCT) {
        return 1;
    }
#endif
    return clock == LAT_CLOCK_MONOTONIC;
}

int
check_latency_setup(int clock, unsigned long long every)
{
    if (!clock_available(clock)) {
        PyErr_Format(PyExc_ValueError, "clock %d cannot be read on this machine", clock);
        return -1;
    }
    if (every == 0) {
        PyErr_SetString(PyExc_ValueError, "latency: every must be positive");
        return -1;
    }
    return 0;
}

static PyObject *
latency_bucket(PyObject *self, PyObject *args)
{
    unsigned long long ns;
    if (!PyArg_ParseTuple(args, "K", &ns)) {
        return NULL;
    }
    return PyLong_FromUnsignedLong(lat_bucket_of(ns));
}

static PyObject *
latency_bucket_low(PyObject *self, PyObject *args)
{
    unsigned int index;
    if (!PyArg_ParseTuple(args, "I", &index)) {
        return NULL;
    }
    if (index >= LAT_BUCKETS) {
        PyErr_Format(PyExc_ValueError, "bucket %u out of range", index);
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(lat_bucket_low(index));
}

static PyObject *
latency_buckets(PyObject *self, PyObject *unused)
{
    return PyLong_FromUnsignedLong(LAT_BUCKETS);
}

static PyObject *
latency_clock_available(PyObject *self, PyObject *args)
{
    int clock;
    if (!PyArg_ParseTuple(args, "i", &clock)) {
        return NULL;
    }
    return PyBool_FromLong(clock_available(clock));
}

static PyObject *
latency_clock_pair(PyObject *self, PyObject *args)
{
    int clock;
    if (!PyArg_ParseTuple(args, "i", &clock) || check_latency_setup(clock, 1) < 0) {
        return NULL;
    }
    /* The reading with the narrowest bracket of CLOCK_MONOTONIC_RAW reads around the counter. */
    uint64_t best_ticks = 0, best_ns = 0, best_width = UINT64_MAX;
    for (int attempt = 0; attempt < 16; attempt++) {
        unsigned int cpu;
        uint64_t ns_before = monotonic_ns();
        uint64_t ticks = lat_read(clock, &cpu);
        uint64_t ns_after = monotonic_ns();
        if (ns_after - ns_before < best_width) {
            best_width = ns_after - ns_before;
            best_ticks = ticks;
            best_ns = ns_before + (ns_after - ns_before) / 2;
        }
    }
    return Py_BuildValue("(KK)", (unsigned long long) best_ticks, (unsigned long long) best_ns);
}

/* The floor loop: the sampled loop's own reads and record, around nothing or one mapped page. */
static inline __attribute__((always_inline)) void
floor_loop(const int clock, uint64_t samples, uint64_t mult, volatile unsigned char *page, int touch,
           latency_worker_t *w)
{
    unsigned char acc = 0;
    for (uint64_t i = 0; i < samples; i++) {
        unsigned int cpu_before, cpu_after;
        uint64_t before = lat_read(clock, &cpu_before);
        if (page != NULL) {
            if (touch == TOUCH_WRITE) {
                *page = 1;
            } else {
                acc ^= *page;
            }
        }
        uint64_t after = lat_read(clock, &cpu_after);
        lat_record(w, before, cpu_before, after, cpu_after, mult, (const unsigned char *) page);
    }
    floor_sink = acc;
}

static PyObject *
latency_floor(PyObject *self, PyObject *args)
{
    int clock, touch;
    unsigned long long mult, samples, address;
    if (!PyArg_ParseTuple(args, "iKKKi", &clock, &mult, &samples, &address, &touch)) {
        return NULL;
    }
    if (check_latency_setup(clock, 1) < 0 || check_touch(page_size_bytes, touch) < 0) {
        return NULL;
    }
    latency_worker_t *w = PyMem_Calloc(1, sizeof(latency_worker_t));
    if (w == NULL) {
        return PyErr_NoMemory();
    }
    volatile unsigned char *page = (volatile unsigned char *) (uintptr_t) address;
    uint64_t started, elapsed;
    Py_BEGIN_ALLOW_THREADS
    started = monotonic_ns();
    if (clock == LAT_CLOCK_TSC) {
        floor_loop(LAT_CLOCK_TSC, samples, mult, page, touch, w);
    } else if (clock == LAT_CLOCK_CNTVCT) {
        floor_loop(LAT_CLOCK_CNTVCT, samples, mult, page, touch, w);
    } else {
        floor_loop(LAT_CLOCK_MONOTONIC, samples, mult, page, touch, w);
    }
    elapsed = monotonic_ns() - started;
    Py_END_ALLOW_THREADS
    PyObject *taken = lat_take(w);
    PyMem_Free(w);
    if (taken == NULL) {
        return NULL;
    }
    return Py_BuildValue("(KN)", (unsigned long long) elapsed, taken);
}

PyMethodDef latency_methods[] = {
    { "latency_bucket", latency_bucket, METH_VARARGS, "latency_bucket(ns) -> the histogram bucket of ns." },
    { "latency_bucket_low", latency_bucket_low, METH_VARARGS,
      "latency_bucket_low(index) -> the smallest value of a bucket, in ns." },
    { "latency_buckets", latency_buckets, METH_NOARGS, "latency_buckets() -> how many buckets a histogram has." },
    { "clock_available", latency_clock_available, METH_VARARGS,
      "clock_available(clock) -> whether this build reads that counter." },
    { "clock_pair", latency_clock_pair, METH_VARARGS,
      "clock_pair(clock) -> (ticks, CLOCK_MONOTONIC_RAW ns), read together: a calibration point." },
    { "latency_floor", latency_floor, METH_VARARGS,
      "latency_floor(clock, mult, samples, address, touch) -> (elapsed_ns, (samples, dropped, sum_ns, "
      "max_ns, slowest, buckets)): the timer's own cost (address 0) or a touch of a mapped page." },
    { NULL, NULL, 0, NULL }
};
