"""file-cow: write to a private file mapping: the page cache page is copied (will-it-scale page_fault2)."""

from .base import FileBacked


class FileCopyOnWrite(FileBacked):
    name = "file-cow"
    summary = "write to a private file mapping: each fault copies a page cache page (page_fault2)"
    touch = "write"
    # The original pages stay (held by the child, or in the page cache) beside the copies.
    memory_copies = 2
    map_shared = False
    resident_kind = "anonymous"
    shared_between_processes = False


FAULT_TYPE = FileCopyOnWrite()
