"""--profile: stacks of the workers, in the measured rounds only; folding, symbols, outputs."""

import contextlib
import io
import os
import threading
from pathlib import Path

import pytest

from conftest import SMALL
from faultput import _core, cli, engine, platform
from faultput.profile import KERNEL_MARK, Profile, parse
from faultput.resultfile import load, render
from faultput.spec import make_spec

FIXTURES = Path(__file__).parent / "fixtures"
needs_perf = pytest.mark.skipif(platform.profiling_refusal() is not None,
                                reason=f"--profile cannot run here: {platform.profiling_refusal()}")

SCRIPT = """\
4242 
\tffffffff81002010 [unknown] ([kernel.kallsyms])
\tffffffff81001810 do_anonymous_page ([kernel.kallsyms])
\tffffffff81001020 [unknown] ([kernel.kallsyms])
\t    7f0000001234 touch_item (/usr/lib/python3/faultput/_core.so)

4242 
\tffffffffc0000010 [unknown] ([kernel.kallsyms])
\t    7f0000001234 touch_item (/usr/lib/python3/faultput/_core.so)
\t    7f0000009999 [unknown] (/usr/lib/libc.so.6)

 4242 
\tffffffff81002010 clear_page_erms ([kernel.kallsyms])
\tffffffff81001810 do_anonymous_page ([kernel.kallsyms])
\tffffffff81001020 exc_page_fault ([kernel.kallsyms])
\t    7f0000001234 touch_item (/usr/lib/python3/faultput/_core.so)
"""


def test_kernel_symbols_are_read_from_kallsyms_and_name_addresses():
    symbols = platform.kernel_symbols(FIXTURES / "kallsyms")
    assert not symbols.hidden
    assert symbols.name_of(0xFFFFFFFF81002010) == "clear_page_erms"
    assert symbols.name_of(0xFFFFFFFF81001000) == "exc_page_fault"
    assert symbols.name_of(0xFFFFFFFFC0000010) == "helper_fn"
    assert symbols.name_of(0xFFFFFFFF81002150) == "clear_page_erms"  # data symbols are not functions
    assert symbols.name_of(0x1000) is None


def test_perf_script_is_folded_with_unnamed_kernel_frames_named_from_kallsyms():
    profile = parse(SCRIPT, platform.kernel_symbols(FIXTURES / "kallsyms"))
    stacks = dict(profile.stacks)
    leaf = f"touch_item;exc_page_fault{KERNEL_MARK};do_anonymous_page{KERNEL_MARK};clear_page_erms{KERNEL_MARK}"
    assert stacks == {leaf: 2, f"[libc.so.6];touch_item;helper_fn{KERNEL_MARK}": 1}
    assert profile.samples == 3
    assert profile.symbols_note is None
    functions = {f.name: f for f in profile.functions()}
    assert functions["clear_page_erms"].self_share == pytest.approx(2 / 3)
    assert functions["touch_item"].total_share == 1.0 and functions["touch_item"].self_share == 0
    assert [f.name for f in profile.top(kernel=True, count=2)] == ["clear_page_erms", "helper_fn"]
    assert profile.folded("root").splitlines()[0] == f"root;{leaf} 2"


def test_hidden_kernel_symbols_are_said_with_how_to_allow_them(tmp_path):
    hidden = tmp_path / "kallsyms"
    hidden.write_text("0000000000000000 T clear_page_erms\n0000000000000000 T exc_page_fault\n")
    symbols = platform.kernel_symbols(hidden)
    assert symbols.hidden
    profile = parse("1 \n\tffffffff81002010 [unknown] ([kernel.kallsyms])\n", symbols)
    assert dict(profile.stacks) == {f"[kernel]{KERNEL_MARK}": 1}
    assert "kptr_restrict" in profile.symbols_note


def test_profiles_merge_by_adding_stacks():
    a = Profile("cpu-clock", 4999, (("x;y", 2), ("x", 1)))
    b = Profile("cpu-clock", 4999, (("x;y", 3),))
    assert Profile.merge([a, None, b]).stacks == (("x;y", 5), ("x", 1))
    assert Profile.merge([None]) is None


def _spin_in_getrandom(stop: threading.Event) -> None:
    while not stop.is_set():
        os.urandom(1 << 16)


@needs_perf
def test_samples_come_only_from_the_enabled_window():
    """A thread spins in getrandom while perf is disabled, then zero-fills pages while it is
    enabled, then spins in getrandom again: only the zero fill may be in the profile."""
    ready, phase_done = threading.Event(), threading.Event()
    go = {"phase": None}
    tid = []

    def worker():
        tid.append(threading.get_native_id())
        ready.set()
        while True:
            phase_done.wait()
            phase_done.clear()
            phase = go["phase"]
            if phase == "end":
                return
            stop = threading.Event()
            if phase == "spin":
                timer = threading.Timer(0.4, stop.set)
                timer.start()
                _spin_in_getrandom(stop)
            else:
                for _ in range(20):
                    address = _core.mmap(8 << 20, _core.PROT_READ | _core.PROT_WRITE,
                                         _core.MAP_PRIVATE | _core.MAP_ANONYMOUS)
                    _core.touch(address, 8 << 20, 4096, _core.TOUCH_WRITE)
                    _core.munmap(address, 8 << 20)
            go["phase"] = "done"

    thread = threading.Thread(target=worker)
    thread.start()
    ready.wait()

    def run_phase(name):
        go["phase"] = name
        phase_done.set()
        while go["phase"] != "done":
            threading.Event().wait(0.01)

    with platform.PerfRecorder(tid, False, 4999) as recorder:
        recorder.start()
        run_phase("spin")
        recorder.enable()
        run_phase("touch")
        recorder.disable()
        run_phase("spin")
        script = recorder.finish()
    go["phase"] = "end"
    phase_done.set()
    thread.join()
    profile = parse(script, platform.kernel_symbols())
    frames = {frame for stack, _ in profile.stacks for frame in stack.split(";")}
    assert profile.samples > 20
    assert any(frame.startswith("clear_page") for frame in frames), frames
    assert not any("random" in frame or "chacha" in frame for frame in frames), frames


@needs_perf
def test_a_cows_setup_in_the_main_thread_is_not_in_the_profile():
    spec = make_spec(variant="separate-objects", threads=1, duration_s=0.3, fault_type="cow",
                     object_size_bytes=8 << 20, memory_bytes=16 << 20, warmup_iterations=1, profile=True)
    result = engine.run(spec)
    frames = {frame for stack, _ in result.profile.stacks for frame in stack.split(";")}
    assert result.profile.samples > 0
    # The timed touches copy pages: the write-protect fault path.
    assert any("wp_page" in frame for frame in frames), frames
    # The setup zero-fills the objects and forks, in the main thread: never sampled.
    assert not any(name in frame for frame in frames for name in ("do_anonymous_page", "copy_page_range",
                                                                   "dup_mm")), frames


@needs_perf
def test_run_profile_prints_top_functions_and_writes_folded_stacks_and_json(tmp_path):
    folded, out = tmp_path / "r.folded", tmp_path / "r.json"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["run", "--profile", "--threads", "1", *SMALL, "--warmup", "1", "--folded", str(folded),
                         "--json", str(out)])
    assert code == 0
    text = stdout.getvalue()
    assert "profile" in text and "ns/fault" in text
    import re
    assert re.search(r"^  kernel\s+\w+\s+[\d.]+%\s+[\d,]+\s+[\d.]+%$", text, re.M), text
    lines = folded.read_text().splitlines()
    assert lines and all(line.rsplit(" ", 1)[1].isdigit() for line in lines)
    assert all(line.startswith("zero-fill_separate-objects_threads_x1;") for line in lines)
    result = load(str(out)).results[0]
    assert result.profile.samples == sum(int(line.rsplit(" ", 1)[1]) for line in lines)
    # A zero fill is spent in the kernel: most samples end in a kernel frame, and the stacks
    # begin in the touch loop.
    kernel = sum(count for stack, count in result.profile.stacks if stack.endswith(KERNEL_MARK))
    assert kernel > result.profile.samples / 2
    assert all(stack.split(";")[0] != "[unknown]" for stack, _ in result.profile.stacks[:5])
    assert render([result], []) == render(list(load(str(out)).results), [])
    exported = tmp_path / "again.folded"
    assert cli.main(["export", str(out), "--folded", str(exported)]) == 0
    assert exported.read_text() == folded.read_text()
    report = tmp_path / "r.html"
    assert cli.main(["report", str(out), "-o", str(report)]) == 0
    page = report.read_text()
    assert "Where the time goes" in page and "flame graph" in page and KERNEL_MARK not in page.split("<svg")[0]


def test_profile_where_perf_is_missing_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(platform, "perf_tool", lambda: None)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["run", "--profile", *SMALL])
    assert code == 2
    assert "--profile cannot run here: it needs the kernel's perf tool" in stderr.getvalue()
    assert len(stderr.getvalue().strip().splitlines()) == 1


@needs_perf
def test_the_flame_graph_renders_in_headless_chromium(tmp_path):
    import re

    from helpers.browser import chromium_or_skip, rendered_dom

    chromium_or_skip()
    out, report = tmp_path / "r.json", tmp_path / "r.html"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["run", "--profile", "--threads", "1", *SMALL, "--warmup", "1", "--json", str(out), "-q"]) == 0
        assert cli.main(["report", str(out), "-o", str(report)]) == 0
    rendered = rendered_dom(report)
    dom = rendered.stdout
    assert "Where the time goes: zero-fill separate-objects threads x1" in dom
    flame = dom[dom.index("flame graph</text>") - 2000:]
    # Frames with their hover text: the fault path of a zero fill, in kernel orange.
    assert re.search(r"<title>clear_page\w* \(kernel\): [\d,]+ samples", flame), flame[:3000]
    assert 'fill="#f0a050"' in flame
    assert not re.search(r"CONSOLE.*(Uncaught|Error)|Failed to load resource", rendered.stderr)


def test_folded_stacks_need_a_profile(tmp_path):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["run", *SMALL, "--folded", str(tmp_path / "f.folded")])
    assert code == 2 and "--folded writes the stacks --profile samples" in stderr.getvalue()
    assert not (tmp_path / "f.folded").exists()
    out = tmp_path / "r.json"
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["run", "--threads", "1", *SMALL, "--json", str(out), "-q"]) == 0
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["export", str(out), "--folded", str(tmp_path / "f.folded")])
    assert code == 2 and "no run in these files was profiled" in stderr.getvalue()
    assert len(stderr.getvalue().strip().splitlines()) == 1
