"""compare and its formats, on fixed hand-built result files: golden files for each format,
an A/A comparison that marks nothing, and a 10% shift that is marked."""

from pathlib import Path

import pytest

from faultput.compare import compare
from faultput.outputs import compare_table
from faultput.resultfile import ResultFile
from helpers.built import result_of

GOLDEN = Path(__file__).parent / "golden"
SYSTEM = {"cpu_model": "Test CPU 9000", "online_cpus": 16, "memory_total_bytes": 64 << 30,
          "kernel_release": "6.18.0-test", "thp_enabled": "madvise", "thp_defrag": "madvise",
          "cpu_governors": ["performance"]}
# Five repeats with a little spread each, so that medians, means and deviations are all defined.
SPREAD = (1.00, 1.02, 0.99, 1.01, 0.98)


def result_file(path: str, slowdown: float = 1.0) -> ResultFile:
    results = [result_of(threads=threads, repeat=k, wall_ns=int(1e9 * factor * slowdown / threads ** 0.9),
                         cpu_ns_each=int(1e9 * factor * slowdown), system=SYSTEM)
               for k, factor in enumerate(SPREAD) for threads in (1, 2)]
    return ResultFile(path=path, document={"system": SYSTEM}, results=tuple(results))


def render(format_name: str, base: ResultFile, new: ResultFile) -> str:
    comparison = compare(base, new)
    if format_name == "lkp":
        return compare_table.comparison_lkp(comparison, base.system)
    return getattr(compare_table, f"comparison_{format_name}")(comparison)


@pytest.mark.parametrize("format_name", compare_table.FORMATS)
def test_each_format_matches_its_golden_file(format_name):
    text = render(format_name, result_file("base.json"), result_file("new.json", slowdown=1 / 0.9))
    assert text == (GOLDEN / f"compare_{format_name}.txt").read_text()


@pytest.mark.parametrize("format_name", ["text", "lkp", "mmtests"])
def test_plain_text_formats_fit_80_columns_without_tabs(format_name):
    text = render(format_name, result_file("base.json"), result_file("new.json", slowdown=1 / 0.9))
    assert "\t" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_an_a_a_comparison_marks_nothing_significant():
    base, same = result_file("base.json"), result_file("same.json")
    assert not any(row.significant for row in compare(base, same).rows)
    assert "*" not in render("mmtests", base, same)
    assert "+" not in render("text", base, same).split("change", 1)[1].replace("n=5+5", "")


def test_a_ten_percent_shift_is_marked_in_every_format():
    base, faster = result_file("base.json"), result_file("new.json", slowdown=0.9)
    rows = compare(base, faster).rows
    assert rows and all(row.significant and 10.5 < row.change_percent < 11.5 for row in rows)
    assert "+11.11%  (p=0.008 n=5+5)" in render("text", base, faster)
    assert "*  11.11%*" in render("mmtests", base, faster)
    assert "+11.1%" in render("lkp", base, faster)
    assert "| +11.11% |" in render("markdown", base, faster)
