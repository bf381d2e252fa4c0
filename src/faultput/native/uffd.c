/*
 * A userfaultfd and its native handler thread, which resolves every missing-page
 * fault with UFFDIO_COPY (a page of data) or UFFDIO_ZEROPAGE (Python type Uffd):
 *
 *   Uffd(copy)              create, handshake, start the handler
 *   register(address, size) handle missing-page faults in that range
 *   handled() -> int        faults resolved so far; OSError if the handler failed
 *   cpu_ns() -> int         the handler thread's CPU time so far
 *   close()                 stop and join the handler, close the descriptors
 *
 * Functions of this file:
 *   uffd_handler(self)      the handler thread: resolve each fault until stopped
 *   uffd_close(self)        stop and join the handler, release what Uffd() acquired
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

static void *uffd_handler(void *arg);
static void uffd_close(Uffd *self);

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
    self->uffd = (int) syscall(SYS_userfaultfd, flags);
    self->stop_fd = -1;
    self->source_page = MAP_FAILED;
    if (self->uffd < 0) {
        goto failed;
    }
    struct uffdio_api api = { .api = UFFD_API, .features = 0 };
    if (ioctl(self->uffd, UFFDIO_API, &api) != 0) {
        goto failed;
    }
    self->source_page = mmap(NULL, page_size_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (self->source_page == MAP_FAILED) {
        goto failed;
    }
    self->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (self->stop_fd < 0) {
        goto failed;
    }
    memset(self->source_page, 1, page_size_bytes);
    self->copy = copy;
    atomic_init(&self->handled, 0);
    atomic_init(&self->failed_errno, 0);
    int rc = pthread_create(&self->thread, NULL, uffd_handler, self);
    if (rc != 0) {
        errno = rc;
        goto failed;
    }
    self->running = 1;
    return 0;

failed:
    PyErr_SetFromErrno(PyExc_OSError);
    if (self->source_page != MAP_FAILED) {
        (void) munmap(self->source_page, page_size_bytes);
    }
    if (self->stop_fd >= 0) {
        (void) close(self->stop_fd);
    }
    if (self->uffd >= 0) {
        (void) close(self->uffd);
    }
    self->uffd = self->stop_fd = -1;
    return -1;
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
    /* The handler only returns: joining it cannot fail, nor can releasing what it used. */
    (void) pthread_join(self->thread, NULL);
    (void) close(self->stop_fd);
    (void) close(self->uffd);
    (void) munmap(self->source_page, page_size_bytes);
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

PyTypeObject UffdType = {
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
