from collections import Counter

import pytest

from faultput.layout import work_queue
from faultput.platform import page_size_bytes
from faultput.spec import make_spec

PAGE = page_size_bytes()


def pages_touched(items, stride_bytes):
    """Returns a Counter of the page addresses a touch loop would touch."""
    touched = Counter()
    for address, size in items:
        for offset in range(0, size, stride_bytes):
            touched[(address + offset) // PAGE * PAGE] += 1
    return touched


@pytest.mark.parametrize("threads", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("object_pages", [8, 13, 64, 1024])
def test_share_objects_touches_every_page_exactly_once(threads, object_pages):
    spec = make_spec(variant="share-objects", threads=threads, duration_s=1, oversubscribe=True,
                     object_size_bytes=object_pages * PAGE, memory_bytes=3 * object_pages * PAGE)
    objects = [0x10000000 * (k + 1) for k in range(spec.object_count)]
    items, stride_bytes = work_queue(objects, spec)

    assert stride_bytes == threads * PAGE
    assert len(items) == spec.object_count * threads
    expected = Counter({base + p * PAGE: 1 for base in objects for p in range(object_pages)})
    assert pages_touched(items, stride_bytes) == expected


def test_share_objects_items_of_one_object_are_adjacent_in_the_queue():
    spec = make_spec(variant="share-objects", threads=2, duration_s=1,
                     object_size_bytes=4 * PAGE, memory_bytes=8 * PAGE)
    items, _ = work_queue([0x100000, 0x200000], spec)
    assert items == [(0x100000, 4 * PAGE), (0x100000 + PAGE, 3 * PAGE),
                     (0x200000, 4 * PAGE), (0x200000 + PAGE, 3 * PAGE)]


def test_separate_objects_gives_one_item_per_object_touched_page_by_page():
    spec = make_spec(variant="separate-objects", threads=2, duration_s=1,
                     object_size_bytes=16 * PAGE, memory_bytes=48 * PAGE)
    objects = [0x100000, 0x200000, 0x300000]
    items, stride_bytes = work_queue(objects, spec)
    assert items == [(address, 16 * PAGE) for address in objects]
    assert stride_bytes == PAGE
    assert sum(pages_touched(items, stride_bytes).values()) == 48
