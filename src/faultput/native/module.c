/*
 * The module's Python face: the functions, the constants, and the module itself.
 *
 *   touch(address, size_bytes, stride_bytes, touch) -> (cpu_ns, minor, major, pages):
 *                           one touch_item() outside any gate, GIL released
 *   mmap(length, prot, flags, fd=-1, offset=0, address=0) -> address
 *   munmap(address, length), madvise(address, length, advice)
 *   hold_in_child() -> pid  fork a child that only holds this process's memory
 *                           (copy-on-write) until killed; it never runs Python
 *   die_with_parent()       this process gets SIGKILL when the thread that forked it ends
 */
#include "core.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static PyObject *core_touch(PyObject *self, PyObject *args);
static PyObject *core_mmap(PyObject *self, PyObject *args);
static PyObject *core_munmap(PyObject *self, PyObject *args);
static PyObject *core_madvise(PyObject *self, PyObject *args);
static PyObject *core_hold_in_child(PyObject *self, PyObject *unused);
static PyObject *core_die_with_parent(PyObject *self, PyObject *unused);

static PyObject *
core_touch(PyObject *self, PyObject *args)
{
    unsigned long long address, size_bytes, stride_bytes;
    int touch;
    if (!PyArg_ParseTuple(args, "KKKi", &address, &size_bytes, &stride_bytes, &touch)) {
        return NULL;
    }
    if (check_touch(stride_bytes, touch) < 0) {
        return NULL;
    }
    work_item_t item = { (unsigned char *) (uintptr_t) address, (size_t) size_bytes };
    worker_round_t round = { 0 };
    Py_BEGIN_ALLOW_THREADS
    touch_item(&item, (size_t) stride_bytes, touch, &round, NULL, NULL, NULL);
    Py_END_ALLOW_THREADS
    if (round.touch_errno != 0) {
        errno = round.touch_errno;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
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
        (void) sigprocmask(SIG_BLOCK, &all, NULL);
        /* Without the death signal the child could outlive a killed parent: never wait then. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
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
      "touch(address, size_bytes, stride_bytes, touch) -> (cpu_ns, minor_faults, major_faults, pages); "
      "OSError if populating failed." },
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
    for (PyMethodDef *method = latency_methods; method->ml_name != NULL; method++) {
        PyObject *function = PyCFunction_New(method, NULL);
        if (function == NULL || PyModule_AddObject(m, method->ml_name, function) < 0) {
            Py_XDECREF(function);
            Py_DECREF(m);
            return NULL;
        }
    }
    ADD_CONSTANT(m, TOUCH_READ);
    ADD_CONSTANT(m, LAT_CLOCK_MONOTONIC);
    ADD_CONSTANT(m, LAT_CLOCK_TSC);
    ADD_CONSTANT(m, LAT_CLOCK_CNTVCT);
    ADD_CONSTANT(m, LAT_SUB_BITS);
    ADD_CONSTANT(m, LAT_MAX_EXPONENT);
    ADD_CONSTANT(m, LAT_SLOWEST);
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
#ifdef MADV_RANDOM
    ADD_CONSTANT(m, MADV_RANDOM);
#endif
    return m;
}

