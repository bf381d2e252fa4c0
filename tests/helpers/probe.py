"""Runs faultput's command line in this process, then reports what it left behind.

    python probe.py [--address-space-headroom BYTES] FAULTPUT_ARGS...

The last stdout line is JSON: the exit code, the sizes of the mappings made
during the run that are still mapped and flagged MADV_NOHUGEPAGE ("nh" in
smaps: faultput's objects, but also thread stacks, which kernels since 6.7
map without huge pages, so callers compare sizes with the object size), how
many threads are alive, and the pids of living child processes. With --address-space-headroom, RLIMIT_AS is
set that many bytes above the current address space, so that mmap fails.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading


def nohugepage_mappings() -> list[tuple[str, int]]:
    """Returns (address range, size in bytes) of this process's mappings flagged MADV_NOHUGEPAGE."""
    found: list[tuple[str, int]] = []
    current = None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(" ", 1)[0]
            if "-" in first and ":" not in first:
                current = first
            elif line.startswith("VmFlags:") and " nh" in line:
                low, high = (int(part, 16) for part in current.split("-"))
                found.append((current, high - low))
    return found


def child_processes() -> list[int]:
    """Returns the pids of this process's living children."""
    children: list[int] = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as listing:
            children.extend(int(pid) for pid in listing.read().split())
    return children


def address_space_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


def main() -> None:
    args = sys.argv[1:]
    headroom = None
    if args[:1] == ["--address-space-headroom"]:
        headroom = int(args[1])
        args = args[2:]
    from faultput.cli import main as faultput_main
    # Import what the run imports lazily, so a tight RLIMIT_AS only hits the run itself.
    import faultput.engine  # noqa: F401
    import faultput.outputs.seed  # noqa: F401
    import faultput.outputs.summary  # noqa: F401

    before = nohugepage_mappings()
    if headroom is not None:
        limit = address_space_bytes() + headroom
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    code = faultput_main(args)
    left = [size for mapping, size in nohugepage_mappings() if (mapping, size) not in before]
    sys.stdout.flush()
    print(json.dumps({"exit_code": code, "left_mapped": left, "threads": threading.active_count(),
                      "children": child_processes()}))
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
