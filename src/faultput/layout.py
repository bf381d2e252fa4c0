"""The seed's work queue: which (address, size) items the workers take, and their stride."""

from __future__ import annotations

from .spec import SHARE_OBJECTS, RunSpec


def queue_capacity(spec: RunSpec) -> int:
    """Returns the most items work_queue() puts in one iteration's queue."""
    return spec.object_count * (spec.threads if spec.variant == SHARE_OBJECTS else 1)


def work_queue(object_addresses: list[int], spec: RunSpec) -> tuple[list[tuple[int, int]], int]:
    """Returns (items, stride_bytes) for one iteration over the mapped objects.

    separate-objects: one item per object, touched page by page.
    share-objects: each object appears once per thread, item j starting j pages
    in, and every touch strides threads pages, so the threads interleave on the
    same object and each page is touched exactly once (the seed's setup_memory).
    """
    page = spec.page_size_bytes
    size = spec.object_size_bytes
    if spec.variant != SHARE_OBJECTS:
        return [(address, size) for address in object_addresses], page
    items = [(address + j * page, size - j * page)
             for address in object_addresses
             for j in range(spec.threads)]
    return items, page * spec.threads
