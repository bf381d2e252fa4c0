"""Runs `faultput ARGS...` with perf_event_open refused (EACCES), as a locked-down container
refuses it: a seccomp filter installed before faultput starts any thread or process, so that
every worker inherits it. Exits with faultput's exit code."""

import ctypes
import os
import sys

PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
EACCES = 13


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


def refuse_perf_event_open() -> None:
    number = PERF_EVENT_OPEN[os.uname().machine]
    program = (SockFilter * 4)(
        SockFilter(BPF_LD_W_ABS, 0, 0, 0),                        # the system call's number
        SockFilter(BPF_JEQ_K, 0, 1, number),                      # perf_event_open?
        SockFilter(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EACCES),  # then EACCES
        SockFilter(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))           # else allowed
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}")
    fprog = SockFprog(len(program), program)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_SECCOMP) failed: {os.strerror(ctypes.get_errno())}")


if __name__ == "__main__":
    refuse_perf_event_open()
    from faultput.cli import main
    sys.exit(main(sys.argv[1:]))
