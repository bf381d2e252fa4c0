"""file-shared-write: write to a shared file mapping, dirtying page cache pages (will-it-scale page_fault3)."""

from .base import FileBacked


class FileSharedWrite(FileBacked):
    name = "file-shared-write"
    summary = "write to a shared file mapping: each fault dirties a page cache page (page_fault3)"
    touch = "write"


FAULT_TYPE = FileSharedWrite()
