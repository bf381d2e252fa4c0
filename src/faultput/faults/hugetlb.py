"""hugetlb: write to MAP_HUGETLB memory from the reserved huge page pool."""

from .. import platform
from .base import FaultType, RunState


class HugeTlb(FaultType):
    name = "hugetlb"
    summary = "first write to MAP_HUGETLB memory: one fault per reserved huge page"
    touch = "write"
    # hugetlb pages are counted in HugetlbPages, not in RssAnon.
    resident_kind = None

    def unavailable_reason(self, spec) -> str | None:
        huge_bytes = platform.hugetlb_page_bytes()
        free_pages = platform.hugetlb_free_pages()
        if not huge_bytes:
            return "this kernel has no hugetlb pages"
        if spec.object_size_bytes % huge_bytes:
            return (f"objects must be whole huge pages ({huge_bytes // 1024} KiB); "
                    "pass --object-size as a multiple of it")
        needed = spec.memory_bytes // huge_bytes
        if spec.mode == "processes":
            # Every worker process maps (and reserves) every object in its own address space.
            needed *= spec.threads
        if free_pages < needed:
            where = f" ({spec.threads} worker processes, each mapping every object)" if spec.mode == "processes" else ""
            return (f"{needed} free huge pages of {huge_bytes // 1024} KiB are needed{where} and "
                    f"{free_pages} are reserved and free: reserve them as root with "
                    f"sysctl vm.nr_hugepages={platform.hugetlb_total_pages() + needed - free_pages}, "
                    "or pass a smaller --memory")
        return None

    def huge_pages(self, thp_allowed: bool) -> str:
        return "hugetlb"

    def faults_per_page(self, spec) -> float:
        return spec.page_size_bytes / platform.hugetlb_page_bytes()

    def map_object(self, state: RunState, k: int, address: int | None = None) -> int:
        return platform.map_memory(state.spec.object_size_bytes, huge_pages=state.spec.huge_pages,
                                   address=address)


FAULT_TYPE = HugeTlb()
