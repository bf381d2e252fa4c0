"""The command line: the seed's form, the commands, and the boundary where errors become exit codes.

    faultput [-v] <separate-objects|share-objects> <duration_s> <threads> [first_cpu]
    faultput run|list|info|compare|export|plot|report ...   (TOP_USAGE below)

Nothing below this module prints to the user or exits; here every FaultputError
becomes one line on stderr and its exit code, and Ctrl-C becomes exit 130.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from . import __version__
from .errors import UsageError

EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM

TOP_USAGE = f"""\
faultput {__version__}: how fast the kernel serves page faults, and how that holds up as threads are added.

usage:
  faultput [-v] <separate-objects|share-objects> <duration_s> <threads> [first_cpu]
      the seed's command line and output (zero fill faults, no warmup)
  faultput run [options]
      every fault type, thread sweeps, a readable summary, JSON and perfdata files
      (faultput run --help lists them)
  faultput list
      the fault types, what each measures, and whether it can run here
  faultput info
      the system facts stored with every result, and those that disturb measurements
  faultput compare BASE.json NEW.json [MORE.json ...] [--fail-above PCT]
      medians, change and significance (Mann-Whitney U) of every shared configuration
  faultput export RESULT.json [--csv FILE] [--pyperf FILE] [--perfdata FILE]
  faultput plot RESULT.json [MORE.json ...] -o FILE.png|FILE.svg
  faultput report RESULT.json [MORE.json ...] -o FILE.html

variants:
  separate-objects   each thread faults in its own objects
  share-objects      threads fault in the same objects, page by page interleaved
"""


EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
_SIGNAL_EXIT_CODES = {"SIGINT": EXIT_INTERRUPTED, "SIGTERM": EXIT_TERMINATED, "SIGPIPE": EXIT_BROKEN_PIPE}


class Terminated(KeyboardInterrupt):
    """SIGTERM outside a measurement, handled like Ctrl-C but exiting 143."""


def _raise_terminated(signum, frame):
    raise Terminated()


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one-line UsageErrors, not usage dumps."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


class _Stdout:
    """Standard output that a reader may close: a broken pipe stops the measurement quietly
    (as `| head` expects of a Unix tool), any other failure is said once on stderr; neither
    is a traceback, and the result files are still written."""

    def __init__(self, interruption=None):
        self.interruption = interruption
        self.closed = sys.stdout is None
        self.failure: str | None = None
        self.broken_pipe = False

    def write(self, text: str) -> None:
        if self.closed:
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            self._close()
            self.broken_pipe = True
            if self.interruption is not None:
                self.interruption.request("SIGPIPE")
        except (OSError, ValueError) as error:
            self._close()
            self.failure = f"cannot write to standard output: {getattr(error, 'strerror', None) or error}"
            _say(f"faultput: error: {self.failure}\n")

    def flush(self) -> None:
        """Nothing to do: write() flushes."""

    def _close(self) -> None:
        """Points fd 1 at /dev/null so that nothing, the interpreter's last flush included, fails again."""
        self.closed = True
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.close(null)
        except OSError:
            pass


def _say(text: str) -> None:
    """Writes to stderr, ignoring a stderr that is closed or broken."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _run_parser() -> _Parser:
    from .spec import (ACCESSES, MAX_REPEATS, MAX_THREADS, MAX_WARMUP_ITERATIONS, MODES, VARIANTS, WRITER_OPS,
                       parse_count, parse_duration, parse_size, parse_thread_counts)

    parser = _Parser(
        prog="faultput run",
        description="Measure page fault throughput: pages per wall second and per CPU second.",
        epilog="Sizes take binary suffixes: 64K, 128M, 2G. Lists (--fault, --threads, --mode, --variant) "
               "are dimensions: every combination runs. Figures print as each run finishes, and "
               "--json, --perfdata, --csv and --pyperf are rewritten atomically after each run, so a "
               "run that finished is never lost.",
    )
    parser.add_argument("--variant", type=lambda t: _names(t, "--variant", VARIANTS), metavar="LIST",
                        help="separate-objects: each thread its own objects; share-objects: "
                             "threads interleave page by page on shared objects; or both, "
                             "comma-separated (default: separate-objects)")
    parser.add_argument("--duration", type=parse_duration, default=10.0, metavar="SECONDS",
                        help="measured wall time per run, summed over iterations (default: 10)")
    parser.add_argument("--threads", "--cpu-workers", dest="threads", type=parse_thread_counts,
                        metavar="LIST", help="thread counts: 4, 1,2,4 or 1-8 (default: online CPUs)")
    sweep = parser.add_mutually_exclusive_group()
    sweep.add_argument("--sweep", "--through-max-workers", dest="sweep", action="store_true",
                       help="run 1..n threads, n the largest --threads (default: online CPUs)")
    sweep.add_argument("--fast-sweep", "--through-max-workers-fast", dest="fast_sweep", action="store_true",
                       help="run 1, 2 and each power of 4 up to n threads")
    parser.add_argument("--first-cpu", type=lambda t: parse_count(t, "first CPU", minimum=0),
                        metavar="CPU", help="pin worker i to CPU (i + CPU) mod online CPUs")
    parser.add_argument("--fault", action="append", type=_fault_names, metavar="TYPES",
                        help="fault types to measure, comma-separated, or all (faultput list shows "
                             "them; may be repeated; default: zero-fill)")
    parser.add_argument("--skip-unavailable", action="store_true",
                        help="skip, with a note, each combination that cannot run here instead of "
                             "refusing the run (implied by --fault all)")
    parser.add_argument("--access", choices=ACCESSES,
                        help="without --fault: write measures zero-fill, read the seed's literal "
                             "access, which maps the shared zero page on Linux (zero-page)")
    parser.add_argument("--mode", type=lambda t: _names(t, "--mode", MODES), metavar="LIST",
                        help="threads of one process (the seed's), processes (one per worker, each "
                             "with its own address space), or both (default: threads)")
    parser.add_argument("--dir", metavar="DIR",
                        help="where file-backed fault types make their private directory "
                             "(default: the system temporary directory)")
    parser.add_argument("--thp", action="store_true",
                        help="allow transparent huge pages (requested with MADV_HUGEPAGE where THP "
                             "is in madvise mode); default: MADV_NOHUGEPAGE on every object")
    parser.add_argument("--folio-size", type=_folio_sizes, metavar="SIZES",
                        help="large folio sizes to measure, e.g. 4K,16K,64K,2M (4K: base pages only): a "
                             "dimension; as root, each run allows exactly that size in "
                             "/sys/kernel/mm/transparent_hugepage and everything is put back after")
    parser.add_argument("--object-size", type=lambda t: parse_size(t, "object size"),
                        metavar="SIZE", help="bytes per object (default: 128M, the seed's)")
    parser.add_argument("--memory", type=lambda t: parse_size(t, "memory"), metavar="SIZE",
                        help="bytes faulted per iteration (default: object size x online CPUs)")
    parser.add_argument("--warmup", type=lambda t: parse_count(t, "warmup", minimum=0,
                                                                maximum=MAX_WARMUP_ITERATIONS),
                        default=1, metavar="N",
                        help="whole iterations run first and left out of the figures (default: 1)")
    parser.add_argument("--mmap-writers", type=lambda t: parse_count(t, "mmap writers", minimum=0,
                                                                     maximum=MAX_THREADS),
                        default=0, metavar="N",
                        help="threads mode: N more threads that write the address space (--writer-op) while "
                             "each round runs, paused between rounds, contending with the faults")
    parser.add_argument("--writer-op", choices=WRITER_OPS, default=WRITER_OPS[0],
                        help="what the writers do in a loop: mmap and munmap 64 KiB, or mprotect it "
                             "(default: %(default)s)")
    parser.add_argument("--latency", nargs="?", const=0, default=None, metavar="N",
                        type=lambda t: parse_count(t, "latency interval", maximum=1 << 30),
                        help="time single touches too: every Nth page, or by default every page unless "
                             "that costs more than 3%% of throughput, as measured in the first three warmup "
                             "iterations (added where --warmup gives fewer); prints percentiles, floors and a "
                             "cross-check")
    parser.add_argument("--profile", action="store_true",
                        help="sample call stacks (perf record, cpu-clock) of the workers in the measured rounds "
                             "only; prints the top kernel and user functions with ns per fault")
    parser.add_argument("--folded", metavar="FILE",
                        help="write --profile's stacks in the collapsed format flame graph tools read")
    parser.add_argument("--no-counters", dest="counters", action="store_false",
                        help="do not open the workers' perf_event counters (traps, context switches, "
                             "migrations, cycles, instructions)")
    parser.add_argument("--oversubscribe", action="store_true",
                        help="allow more threads than online CPUs")
    parser.add_argument("--repeat", type=lambda t: parse_count(t, "repeat", maximum=MAX_REPEATS),
                        default=1, metavar="N",
                        help="run the whole measurement N times, interleaved across every "
                             "combination, and report medians with confidence intervals")
    parser.add_argument("--json", metavar="FILE", help="write every sample of the run (docs/result-format.md)")
    parser.add_argument("--perfdata", metavar="FILE", help="write the wrapper's perfdata records")
    parser.add_argument("--csv", metavar="FILE", help="write one CSV row per measured iteration")
    parser.add_argument("--pyperf", metavar="FILE", help="write a pyperf file (seconds per page)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar and no line per run; only the final summary")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the seed's progress lines, with timestamps, to stderr")
    return parser


def _names(text: str, option: str, choices) -> list[str]:
    from .spec import parse_list
    return parse_list(text, option, choices)


def _folio_sizes(text: str) -> list[int]:
    from . import platform
    from .folios import parse_folio_sizes
    return parse_folio_sizes(text, platform.page_size_bytes())


def _fault_names(text: str) -> list[str]:
    """Returns the fault types of 'zero-fill,shmem' or 'all'."""
    from .faults import all_fault_types
    known = list(all_fault_types())
    return _names(text, "--fault", known + ["all"])


def _thread_counts(args) -> list[int]:
    from . import platform
    from .spec import fast_sweep_thread_counts, sweep_thread_counts

    counts = args.threads or [platform.online_cpus()]
    if args.sweep:
        return sweep_thread_counts(max(counts))
    if args.fast_sweep:
        return fast_sweep_thread_counts(max(counts))
    return counts


def _fault_list(args) -> tuple[list[str | None], bool]:
    """Returns (the fault types asked for, in order, None for the --access default; whether
    every type was asked for with `all`)."""
    from .faults import all_fault_types

    asked = [name for names in (args.fault or []) for name in names]
    if "all" in asked:
        return list(all_fault_types()), True
    return (list(dict.fromkeys(asked)) or [None]), False


def _specs(args) -> list:
    """Returns a spec for every combination of fault type, mode, variant and thread count that
    can run; refuses one that cannot unless skipping was asked for, then notes each skipped."""
    from .errors import CannotRunHere
    from .faults import check_runnable
    from .result import folio_label
    from .spec import MODES, VARIANTS, make_spec

    faults, every = _fault_list(args)
    skip = args.skip_unavailable or every
    specs, skipped = [], []
    combinations = [(fault_type, mode, variant, folio, threads)
                    for fault_type in faults
                    for mode in args.mode or [MODES[0]]
                    for variant in args.variant or [VARIANTS[0]]
                    for folio in args.folio_size or [None]
                    for threads in _thread_counts(args)]
    for fault_type, mode, variant, folio, threads in combinations:
        try:
            spec = make_spec(
                variant=variant, threads=threads, duration_s=args.duration, fault_type=fault_type,
                access=args.access, mode=mode, directory=args.dir, first_cpu=args.first_cpu, thp=args.thp,
                object_size_bytes=args.object_size, memory_bytes=args.memory, warmup_iterations=args.warmup,
                oversubscribe=args.oversubscribe, folio_size_bytes=folio, mmap_writers=args.mmap_writers,
                writer_op=args.writer_op, latency_every=args.latency, counters=args.counters,
                profile=args.profile)
            check_runnable(spec)
            specs.append(spec)
        except CannotRunHere as refusal:
            if not skip:
                raise
            folio_words = f" folio-{folio_label(folio)}" if folio else ""
            skipped.append(f"{fault_type or 'zero-fill'} {variant} {mode}{folio_words} x{threads}: {refusal}")
    for line in dict.fromkeys(skipped):
        _say(f"faultput: skipped {line}\n")
    if not specs:
        raise UsageError("nothing to run: every combination asked for was skipped")
    return specs


def _run_command(argv: list[str]) -> int:
    args = _run_parser().parse_args(argv)
    from . import engine
    from .outputs import check_outputs
    from .outputs.seed import SeedProgress
    from .outputs.summary import (distinct_findings, folio_table, one_line, repeats_table, scaling_text, summary,
                                  sweep_table)

    exports = _exports(args)
    if args.folded is not None and not args.profile:
        raise UsageError("--folded writes the stacks --profile samples: add --profile")
    check_outputs(exports, inputs=[])
    if args.dir:
        _remove_leftovers([args.dir])
    if args.folio_size:
        from . import platform
        refusal = platform.thp_settings_unchangeable_reason()
        if refusal is not None:
            raise UsageError(f"--folio-size cannot run here: {refusal}")
    specs = _specs(args)
    command_line = ["faultput", "run", *argv]

    total = len(specs) * args.repeat
    bar = _progress_bar(total, enabled=total > 1 and not args.quiet and not args.verbose)
    from .folios import FolioSettings

    with engine.Interruption() as interruption, FolioSettings() as folio_settings:
        out = _Stdout(interruption)
        finished = []

        def show(result):
            finished.append(result)
            for export in exports:
                export.write(finished, command_line)
            if total == 1:
                text = summary(result)
            elif args.quiet:
                return
            else:
                text = one_line(result, f"{len(finished)}/{total}")
            if bar is None:
                out.write(text)
                return
            bar.update(1)
            with bar.external_write_mode(file=sys.stdout):
                out.write(text)

        try:
            results = engine.run_all(specs, SeedProgress(sys.stderr) if args.verbose else None, show,
                                     repeats=args.repeat, interruption=interruption,
                                     before_run=folio_settings.apply)
            folio_settings.restore()
        finally:
            if bar is not None:
                bar.close()
        if total > 1 and results:
            out.write("\n" + (repeats_table(results) if args.repeat > 1 else sweep_table(results)))
            if any(result.spec.folio_size_bytes for result in results):
                out.write("\n" + folio_table(results))
            fitted = scaling_text(results)
            if fitted:
                out.write("\n" + fitted)
            for finding in distinct_findings(results):
                out.write(f"note: {finding}\n")
        return _finish(results, interruption, out, exports)


def _finish(results, interruption, out: "_Stdout", exports=()) -> int:
    """Says, once each, what failed (a run's error, an output that could not be written), and
    returns the exit code: the signal's where one stopped the run, else 1 after a failure."""
    failed = False
    for result in results:
        if result.error:
            _say(f"faultput: error: {result.error} (partial result kept: {len(result.measured)} "
                 "measured iterations)\n")
            failed = True
    for export in exports:
        if export.failure:
            _say(f"faultput: error: {export.failure}\n")
            failed = True
    signal_name = interruption.signal_name
    if signal_name == "SIGPIPE" or out.broken_pipe:
        return EXIT_BROKEN_PIPE
    if signal_name is not None:
        _say("faultput: terminated\n" if signal_name == "SIGTERM" else "faultput: interrupted\n")
        return _SIGNAL_EXIT_CODES[signal_name]
    return 1 if failed or out.failure else 0


def _exports(args) -> list:
    """Returns an Export for each file format asked for (--json, --perfdata, --csv, --pyperf, --folded)."""
    from .outputs import Export, exporters

    return [Export(option, getattr(args, option[2:]), render) for option, render in exporters().items()
            if getattr(args, option[2:], None) is not None]


def _progress_bar(total: int, enabled: bool):
    """Returns a tqdm bar on stderr where stderr is a terminal, else None. It moves only when a
    run has finished, never during one: no monitor thread, no timed refresh."""
    if not enabled or not sys.stderr.isatty():
        return None
    import tqdm

    tqdm.tqdm.monitor_interval = 0
    try:
        columns = os.get_terminal_size(sys.stderr.fileno()).columns
    except OSError:
        columns = 0
    # A terminal that reports no width (a fresh pseudo-terminal) would get an empty bar.
    return tqdm.tqdm(total=total, file=sys.stderr, unit="run", leave=False,
                     **({"dynamic_ncols": True} if columns else {"ncols": 80, "nrows": 24}))


def _list_command(argv: list[str]) -> int:
    """Prints every fault type, what it measures, its modes, and whether it can run here."""
    parser = _Parser(prog="faultput list",
                     description="List the fault types and whether each can run on this machine "
                                 "(with the default sizes, in threads mode).")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    args = parser.parse_args(argv)
    from .errors import FaultTypeUnavailable
    from .faults import all_fault_types, check_runnable
    from .spec import SEPARATE_OBJECTS, make_spec

    entries = []
    for fault_type in all_fault_types().values():
        try:
            check_runnable(make_spec(variant=SEPARATE_OBJECTS, threads=1, duration_s=1,
                                     fault_type=fault_type.name, mode=fault_type.modes[0]))
            reason = None
        except FaultTypeUnavailable as refusal:
            reason = refusal.reason
        entries.append({"name": fault_type.name, "summary": fault_type.summary,
                        "modes": list(fault_type.modes), "runs_here": reason is None,
                        "reason": reason})
    out = _Stdout()
    if args.json:
        import json
        out.write(json.dumps(entries, indent=2) + "\n")
    else:
        for entry in entries:
            runnable = "runs here" if entry["runs_here"] else f"cannot run here: {entry['reason']}"
            out.write(f"{entry['name']:<18} {entry['summary']}\n"
                      f"{'':<18} modes: {', '.join(entry['modes'])}; {runnable}\n")
    return 1 if out.failure else 0


def _files_parser(prog: str, description: str, minimum: int) -> _Parser:
    parser = _Parser(prog=prog, description=description)
    parser.add_argument("files", nargs="+", metavar="RESULT.json",
                        help="result files written by faultput run --json" +
                             (" (the first is the base)" if minimum > 1 else ""))
    return parser


def _load_files(paths: list[str], minimum: int, what: str):
    from .resultfile import load

    if len(paths) < minimum:
        raise UsageError(f"{what} needs at least {minimum} result files, got {len(paths)}")
    return [load(path) for path in paths]


def _info_command(argv: list[str]) -> int:
    parser = _Parser(prog="faultput info", description="Print the system facts stored with every result, "
                                                       "with a warning for each that disturbs fault measurements.")
    parser.add_argument("--json", action="store_true", help="print the facts and warnings as JSON")
    args = parser.parse_args(argv)
    from . import platform
    from .checks import system_warnings
    from .outputs.facts import facts_text

    facts = platform.system_facts()
    counters = platform.counter_availability()
    profiling = platform.profiling_facts()
    out = _Stdout()
    if args.json:
        import json
        out.write(json.dumps({"facts": facts, "warnings": system_warnings(facts), "counters": counters,
                             "profiling": profiling}, indent=2) + "\n")
    else:
        from .outputs.facts import measurement_text
        out.write(f"faultput {__version__} system facts\n" + facts_text(facts) + measurement_text(counters, profiling))
    return 1 if out.failure else 0


def _fail_above(text: str) -> float:
    import math
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--fail-above {text!r} is not a number of percent") from None
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"--fail-above {text!r} must be a finite percentage, 0 or more")
    return value


def _compare_command(argv: list[str]) -> int:
    parser = _files_parser("faultput compare", "Compare result files: medians, change in percent (higher "
                           "throughput is better) and Mann-Whitney U significance at alpha 0.05; "
                           "'~' marks a change that is not significant.", 2)
    parser.add_argument("--fail-above", type=_fail_above, metavar="PCT",
                        help="exit 1 if any throughput fell significantly by more than PCT percent")
    from .outputs.compare_table import FORMATS
    parser.add_argument("--format", choices=FORMATS, default=FORMATS[0],
                        help="text (default), markdown (for a pull request), lkp (the kernel test robot's "
                             "columns) or mmtests (compare-kernels rows)")
    args = parser.parse_args(argv)
    from .compare import compare, regressions
    from .outputs import compare_table

    files = _load_files(args.files, 2, "compare")
    failed = []
    out = _Stdout()
    for index, new in enumerate(files[1:]):
        comparison = compare(files[0], new)
        render = {"text": compare_table.comparison_text, "markdown": compare_table.comparison_markdown,
                  "mmtests": compare_table.comparison_mmtests,
                  "lkp": lambda c: compare_table.comparison_lkp(c, files[0].system)}[args.format]
        out.write(("\n" if index else "") + render(comparison))
        if args.fail_above is not None:
            failed += [(new.path, row) for row in regressions(comparison, args.fail_above)]
    for path, row in failed:
        _say(f"faultput: regression: {row.label} x{row.threads} {row.metric} fell "
             f"{row.regression_percent:.2f}% in {path} (p={row.p_value:.3f}), more than "
             f"--fail-above {args.fail_above:g}%\n")
    return 1 if failed or out.failure else 0


def _export_command(argv: list[str]) -> int:
    parser = _files_parser("faultput export", "Write the results of result files in other formats.", 1)
    parser.add_argument("--csv", metavar="FILE", help="one row per measured iteration")
    parser.add_argument("--pyperf", metavar="FILE", help="a pyperf file (seconds per page)")
    parser.add_argument("--perfdata", metavar="FILE", help="the wrapper's perfdata records")
    parser.add_argument("--folded", metavar="FILE", help="the --profile stacks, in the collapsed format")
    args = parser.parse_args(argv)
    from .outputs import check_outputs

    exports = _exports(args)
    if not exports:
        raise UsageError("export: name at least one of --csv, --pyperf, --perfdata, --folded")
    check_outputs(exports, inputs=args.files)
    files = _load_files(args.files, 1, "export")
    results = [result for result_file in files for result in result_file.results]
    if args.folded is not None and not any(result.profile for result in results):
        raise UsageError("--folded: no run in these files was profiled (faultput run --profile)")
    for export in exports:
        export.write(results, [])
        if export.failure:
            _say(f"faultput: error: {export.failure}\n")
    return 1 if any(export.failure for export in exports) else 0


def _output_parser(prog: str, description: str, suffixes: str) -> _Parser:
    parser = _files_parser(prog, description, 1)
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help=f"the file to write ({suffixes})")
    return parser


def _output_file(path: str, inputs: list[str], suffixes: tuple[str, ...], what: str):
    """Returns the Export for the output file of plot or report, checked before anything is
    read: its suffix, that it can be written, and that it is none of the inputs."""
    from pathlib import Path

    from .outputs import Export, check_outputs

    if Path(path).suffix.lower() not in suffixes:
        raise UsageError(f"{what} file {path!r} must end in {' or '.join(suffixes)}")
    export = Export("--output", path, None)
    check_outputs([export], inputs=inputs)
    return export


def _write_one(export, render) -> int:
    """Writes render() to one output; returns the exit code, saying in one line what failed."""
    export.render = lambda results, command_line: render()
    export.write([], [])
    if export.failure:
        _say(f"faultput: error: {export.failure}\n")
        return 1
    return 0


def _plot_command(argv: list[str]) -> int:
    from pathlib import Path

    args = _output_parser("faultput plot", "Plot scaling (one file) or a comparison (several files) "
                          "of pages per wall and CPU second against threads.", ".png or .svg").parse_args(argv)
    from .outputs import plot

    export = _output_file(args.output, args.files, tuple(plot.FORMATS), "plot")
    plot.require_matplotlib()
    files = _load_files(args.files, 1, "plot")
    return _write_one(export, lambda: plot.render(files, plot.FORMATS[Path(args.output).suffix.lower()]))


def _report_command(argv: list[str]) -> int:
    args = _output_parser("faultput report", "Write one self-contained HTML report of result files "
                          "(the first is the base of the comparisons).", ".html").parse_args(argv)
    from .outputs import report

    export = _output_file(args.output, args.files, (".html", ".htm"), "report")
    files = _load_files(args.files, 1, "report")
    code = _write_one(export, lambda: report.render(files))
    if code == 0 and not report.plots_available():
        _say("faultput: note: the report has no plots: they need matplotlib "
             "(pip install 'faultput[plot]')\n")
    return code


COMMANDS = {
    "run": _run_command,
    "list": _list_command,
    "info": _info_command,
    "compare": _compare_command,
    "export": _export_command,
    "plot": _plot_command,
    "report": _report_command,
}


def _is_seed_variant(word: str) -> bool:
    from .spec import VARIANTS
    return any(word.lower().startswith(variant) for variant in VARIANTS)


def _seed_command(argv: list[str]) -> int:
    """The seed's command line, parsed as the seed parses it, printing the seed's output."""
    from . import engine
    from .outputs.seed import SeedProgress, results_block
    from .result import MAIN_THREAD_CLOCK
    from .spec import MAX_THREADS, VARIANTS, make_spec, parse_count, parse_duration

    verbose = argv[0] == "-v"
    words = argv[1:] if verbose else argv
    if not 3 <= len(words) <= 4:
        raise UsageError("usage: faultput [-v] <separate-objects|share-objects> <duration_s> <threads> "
                         f"[first_cpu] (got {len(words)} arguments after the options)")
    variant = next(v for v in VARIANTS if words[0].lower().startswith(v))
    spec = make_spec(
        variant=variant,
        duration_s=parse_duration(words[1]),
        threads=parse_count(words[2], "threads", maximum=MAX_THREADS),
        first_cpu=parse_count(words[3], "first CPU", minimum=0) if len(words) == 4 else None,
        wall_clock=MAIN_THREAD_CLOCK,
    )
    with engine.Interruption() as interruption:
        out = _Stdout(interruption)
        result = engine.run(spec, SeedProgress(out) if verbose else None, interruption)
        if result.measured:
            out.write(results_block(result))
        if result.interrupted:
            _say(f"faultput: partial result over {len(result.measured)} iterations\n")
        return _finish([result], interruption, out)


def main(argv: list[str] | None = None) -> int:
    """Runs faultput with argv (default: sys.argv[1:]); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from .errors import FaultputError

    previous_term = signal.signal(signal.SIGTERM, _raise_terminated)
    # A file size limit (ulimit -f) makes a write fail with EFBIG, reported in one line, rather
    # than kill the process.
    previous_xfsz = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        if argv and argv[0] in ("-h", "--help"):
            _Stdout().write(TOP_USAGE)
            return 0
        if not argv:
            _say(TOP_USAGE)
            return 2
        if argv[0] == "--version":
            _Stdout().write(f"faultput {__version__}\n")
            return 0
        _remove_leftovers()
        if argv[0] in COMMANDS:
            return COMMANDS[argv[0]](argv[1:])
        first_word = argv[1] if argv[0] == "-v" and len(argv) > 1 else argv[0]
        if _is_seed_variant(first_word):
            return _seed_command(argv)
        raise UsageError(f"unknown command or variant {first_word!r} "
                         f"(commands: {', '.join(COMMANDS)}; variants: separate-objects, share-objects)")
    except FaultputError as error:
        _say(f"faultput: error: {error}\n")
        return error.exit_code
    except Terminated:
        _say("faultput: terminated\n")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        _say("faultput: interrupted\n")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGXFSZ, previous_xfsz)


def _remove_leftovers(parents: list[str] | None = None) -> None:
    """Removes the private directories that an earlier faultput, killed by SIGKILL, left in the
    system temporary directory (or parents), and says so in one line each."""
    from . import platform

    for path in platform.remove_stale_private_directories(parents):
        _say(f"faultput: removed {path}, left by a faultput process that was killed\n")
    if parents is None:
        from .folios import JOURNAL, restore_from_journal
        if restore_from_journal():
            _say(f"faultput: restored the transparent huge page settings that a faultput process killed "
                 f"mid-run had changed (journal {JOURNAL})\n")
