"""file-read: read of a shared file mapping whose pages are already in the page cache."""

from .. import platform
from .base import FileBacked


class FileRead(FileBacked):
    name = "file-read"
    summary = ("read of a file mapping already in the page cache: minor faults, "
               "each mapping up to fault_around_bytes of neighbours")
    touch = "read"
    linux_note = ("Linux maps the cached neighbours of a read-faulted file page too (fault-around, "
                  "vm fault_around_bytes, 64 KiB by default), so one fault serves several pages; "
                  "faults per page shows how many.")

    def faults_per_page(self, spec) -> float:
        return spec.page_size_bytes / platform.fault_around_bytes()


FAULT_TYPE = FileRead()
