"""The command line: the seed's form, the commands, and the boundary where errors become exit codes.

    faultput [-v] <separate-objects|share-objects> <duration_s> <threads> [first_cpu]
    faultput run|list|info|compare|export|plot|report ...   (TOP_USAGE below)

Nothing below this module prints to the user or exits; here every FaultputError
becomes one line on stderr and its exit code, and Ctrl-C becomes exit 130.
"""

from __future__ import annotations

import argparse
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


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C so that the run cleans up, but exiting 143."""


_signals_received: list[int] = []


def _raise_terminated(signum, frame):
    _signals_received.append(signum)
    raise Terminated()


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one-line UsageErrors, not usage dumps."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _run_parser() -> _Parser:
    from .spec import (ACCESSES, MODES, VARIANTS, parse_count, parse_duration, parse_names, parse_size,
                       parse_thread_counts)

    parser = _Parser(
        prog="faultput run",
        description="Measure page fault throughput: pages per wall second and per CPU second.",
        epilog="Sizes take binary suffixes: 64K, 128M, 2G. Figures print as each run finishes; "
               "--json, --perfdata, --csv and --pyperf are written at the end, atomically.",
    )
    parser.add_argument("--variant", choices=VARIANTS, default=VARIANTS[0],
                        help="separate-objects: each thread its own objects; share-objects: "
                             "threads interleave page by page on shared objects (default: %(default)s)")
    parser.add_argument("--duration", type=parse_duration, default=10.0, metavar="SECONDS",
                        help="measured wall time per thread count, summed over iterations (default: 10)")
    parser.add_argument("--threads", "--cpu-workers", dest="threads", type=parse_thread_counts,
                        metavar="LIST", help="thread counts: 4, 1,2,4 or 1-8 (default: online CPUs)")
    sweep = parser.add_mutually_exclusive_group()
    sweep.add_argument("--sweep", "--through-max-workers", dest="sweep", action="store_true",
                       help="run 1..n threads, n the largest --threads (default: online CPUs)")
    sweep.add_argument("--fast-sweep", "--through-max-workers-fast", dest="fast_sweep", action="store_true",
                       help="run 1, 2 and each power of 4 up to n threads")
    parser.add_argument("--first-cpu", type=lambda t: parse_count(t, "first CPU", minimum=0),
                        metavar="CPU", help="pin worker i to CPU (i + CPU) mod online CPUs")
    parser.add_argument("--fault", type=parse_names, metavar="TYPES",
                        help="fault types to measure, comma-separated (faultput list shows them; "
                             "default: zero-fill)")
    parser.add_argument("--access", choices=ACCESSES,
                        help="without --fault: write measures zero-fill, read the seed's literal "
                             "access, which maps the shared zero page on Linux (zero-page)")
    parser.add_argument("--mode", choices=MODES, default=MODES[0],
                        help="threads of one process (the seed's), or one process per worker, each "
                             "with its own address space (default: %(default)s)")
    parser.add_argument("--dir", metavar="DIR",
                        help="where file-backed fault types make their private directory "
                             "(default: the system temporary directory)")
    parser.add_argument("--thp", action="store_true",
                        help="allow transparent huge pages (requested with MADV_HUGEPAGE where THP "
                             "is in madvise mode); default: MADV_NOHUGEPAGE on every object")
    parser.add_argument("--object-size", type=lambda t: parse_size(t, "object size"),
                        metavar="SIZE", help="bytes per object (default: 128M, the seed's)")
    parser.add_argument("--memory", type=lambda t: parse_size(t, "memory"), metavar="SIZE",
                        help="bytes faulted per iteration (default: object size x online CPUs)")
    parser.add_argument("--warmup", type=lambda t: parse_count(t, "warmup", minimum=0),
                        default=1, metavar="N",
                        help="whole iterations run first and left out of the figures (default: 1)")
    parser.add_argument("--oversubscribe", action="store_true",
                        help="allow more threads than online CPUs")
    parser.add_argument("--repeat", type=lambda t: parse_count(t, "repeat"), default=1, metavar="N",
                        help="run the whole measurement N times, interleaved across thread counts and "
                             "fault types, and report medians with 95%% confidence intervals")
    parser.add_argument("--json", metavar="FILE", help="write every sample of the run (docs/result-format.md)")
    parser.add_argument("--perfdata", metavar="FILE", help="write the wrapper's perfdata records")
    parser.add_argument("--csv", metavar="FILE", help="write one CSV row per measured iteration")
    parser.add_argument("--pyperf", metavar="FILE", help="write a pyperf file (seconds per page)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar and no line per run; only the final summary")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the seed's progress lines, with timestamps, to stderr")
    return parser


def _thread_counts(args) -> list[int]:
    from . import platform
    from .spec import fast_sweep_thread_counts, sweep_thread_counts

    counts = args.threads or [platform.online_cpus()]
    if args.sweep:
        return sweep_thread_counts(max(counts))
    if args.fast_sweep:
        return fast_sweep_thread_counts(max(counts))
    return counts


def _run_command(argv: list[str]) -> int:
    args = _run_parser().parse_args(argv)
    from . import engine
    from .outputs import check_writable
    from .outputs.seed import SeedProgress
    from .outputs.summary import distinct_findings, one_line, repeats_table, summary, sweep_table
    from .spec import make_spec

    exports = _exports(args)
    for what, path, _ in exports:
        check_writable(path, what)
    specs = [
        make_spec(variant=args.variant, threads=threads, duration_s=args.duration, fault_type=fault_type,
                  access=args.access, mode=args.mode, directory=args.dir, first_cpu=args.first_cpu,
                  thp=args.thp, object_size_bytes=args.object_size, memory_bytes=args.memory,
                  warmup_iterations=args.warmup, oversubscribe=args.oversubscribe)
        for fault_type in (args.fault or [None])
        for threads in _thread_counts(args)
    ]

    total = len(specs) * args.repeat
    bar = _progress_bar(total, enabled=total > 1 and not args.quiet and not args.verbose)
    finished = []

    def show(result):
        finished.append(result)
        if total == 1:
            text = summary(result)
        elif args.quiet:
            return
        else:
            text = one_line(result, f"{len(finished)}/{total}")
        if bar is not None:
            bar.update(1)
            bar.write(text.rstrip("\n"), file=sys.stdout)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()

    try:
        results = engine.run_all(specs, SeedProgress(sys.stderr) if args.verbose else None, show,
                                 repeats=args.repeat)
    finally:
        if bar is not None:
            bar.close()
    if total > 1:
        sys.stdout.write("\n" + (repeats_table(results) if args.repeat > 1 else sweep_table(results)))
        for finding in distinct_findings(results):
            sys.stdout.write(f"note: {finding}\n")
    for _, path, write in exports:
        write(path, results, ["faultput", "run", *argv])
    return _exit_code(results)


def _exports(args) -> list[tuple[str, str, object]]:
    """Returns (option, path, writer(path, results, command_line)) for each file asked for."""
    from .outputs import csv_export, json_result, perfdata, pyperf_export

    writers = {
        "--json": json_result.write,
        "--perfdata": lambda path, results, command_line: perfdata.write(path, results),
        "--csv": lambda path, results, command_line: csv_export.write(path, results),
        "--pyperf": lambda path, results, command_line: pyperf_export.write(path, results),
    }
    return [(option, getattr(args, option[2:]), writer) for option, writer in writers.items()
            if getattr(args, option[2:], None)]


def _progress_bar(total: int, enabled: bool):
    """Returns a tqdm bar on stderr where stderr is a terminal, else None. It moves only when a
    run has finished, never during one: no monitor thread, no timed refresh."""
    if not enabled or not sys.stderr.isatty():
        return None
    import os

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
    parser.parse_args(argv)
    from .errors import FaultTypeUnavailable
    from .faults import all_fault_types
    from .spec import SEPARATE_OBJECTS, make_spec

    for fault_type in all_fault_types().values():
        try:
            make_spec(variant=SEPARATE_OBJECTS, threads=1, duration_s=1, fault_type=fault_type.name,
                      mode=fault_type.modes[0])
            runnable = "runs here"
        except FaultTypeUnavailable as refusal:
            runnable = f"cannot run here: {refusal.reason}"
        sys.stdout.write(f"{fault_type.name:<18} {fault_type.summary}\n"
                         f"{'':<18} modes: {', '.join(fault_type.modes)}; {runnable}\n")
    return 0


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
    _Parser(prog="faultput info", description="Print the system facts stored with every result, "
                                              "with a warning for each that disturbs fault measurements."
            ).parse_args(argv)
    from . import platform
    from .outputs.facts import facts_text

    sys.stdout.write(f"faultput {__version__} system facts\n" + facts_text(platform.system_facts()))
    return 0


def _compare_command(argv: list[str]) -> int:
    parser = _files_parser("faultput compare", "Compare result files: medians, change in percent (higher "
                           "throughput is better) and Mann-Whitney U significance at alpha 0.05; "
                           "'~' marks a change that is not significant.", 2)
    parser.add_argument("--fail-above", type=float, metavar="PCT",
                        help="exit 1 if any throughput fell significantly by more than PCT percent")
    args = parser.parse_args(argv)
    from .compare import compare, regressions
    from .outputs.compare_table import comparison_text

    files = _load_files(args.files, 2, "compare")
    failed = []
    for index, new in enumerate(files[1:]):
        comparison = compare(files[0], new)
        sys.stdout.write(("\n" if index else "") + comparison_text(comparison))
        if args.fail_above is not None:
            failed += [(new.path, row) for row in regressions(comparison, args.fail_above)]
    for path, row in failed:
        sys.stderr.write(f"faultput: regression: {row.label} x{row.threads} {row.metric} fell "
                         f"{row.regression_percent:.2f}% in {path} (p={row.p_value:.3f}), more than "
                         f"--fail-above {args.fail_above:g}%\n")
    return 1 if failed else 0


def _export_command(argv: list[str]) -> int:
    parser = _files_parser("faultput export", "Write the results of result files in other formats.", 1)
    parser.add_argument("--csv", metavar="FILE", help="one row per measured iteration")
    parser.add_argument("--pyperf", metavar="FILE", help="a pyperf file (seconds per page)")
    parser.add_argument("--perfdata", metavar="FILE", help="the wrapper's perfdata records")
    args = parser.parse_args(argv)
    from .outputs import check_writable

    exports = _exports(args)
    if not exports:
        raise UsageError("export: name at least one of --csv, --pyperf, --perfdata")
    for what, path, _ in exports:
        check_writable(path, what)
    files = _load_files(args.files, 1, "export")
    results = [result for result_file in files for result in result_file.results]
    for _, path, write in exports:
        write(path, results, [])
    return 0


def _output_parser(prog: str, description: str, suffixes: str) -> _Parser:
    parser = _files_parser(prog, description, 1)
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help=f"the file to write ({suffixes})")
    return parser


def _plot_command(argv: list[str]) -> int:
    args = _output_parser("faultput plot", "Plot scaling (one file) or a comparison (several files) "
                          "of pages per wall and CPU second against threads.", ".png or .svg").parse_args(argv)
    from .outputs import check_writable, plot

    check_writable(args.output, "--output")
    files = _load_files(args.files, 1, "plot")
    named = [("" if len(files) == 1 else result_file.path, list(result_file.results)) for result_file in files]
    plot.save(named, "scaling" if len(files) == 1 else "comparison", args.output)
    return 0


def _report_command(argv: list[str]) -> int:
    args = _output_parser("faultput report", "Write one self-contained HTML report of result files "
                          "(the first is the base of the comparisons).", ".html").parse_args(argv)
    from .outputs import check_writable, report

    check_writable(args.output, "--output")
    report.write(args.output, _load_files(args.files, 1, "report"))
    return 0


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
    from .spec import VARIANTS, make_spec, parse_count, parse_duration

    verbose = argv[0] == "-v"
    words = argv[1:] if verbose else argv
    if not 3 <= len(words) <= 4:
        raise UsageError("usage: faultput [-v] <separate-objects|share-objects> <duration_s> <threads> "
                         f"[first_cpu] (got {len(words)} arguments after the options)")
    variant = next(v for v in VARIANTS if words[0].lower().startswith(v))
    spec = make_spec(
        variant=variant,
        duration_s=parse_duration(words[1]),
        threads=parse_count(words[2], "threads"),
        first_cpu=parse_count(words[3], "first CPU", minimum=0) if len(words) == 4 else None,
    )
    result = engine.run(spec, SeedProgress(sys.stdout) if verbose else None)
    if result.measured:
        sys.stdout.write(results_block(result))
        sys.stdout.flush()
    if result.interrupted:
        sys.stderr.write(f"faultput: interrupted: partial result over {len(result.measured)} "
                         "iterations\n")
    return _exit_code([result])


def _exit_code(results) -> int:
    if _signals_received:
        return EXIT_TERMINATED
    if any(result.interrupted for result in results):
        return EXIT_INTERRUPTED
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs faultput with argv (default: sys.argv[1:]); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from .errors import FaultputError

    _signals_received.clear()
    previous_term = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        if not argv or argv[0] in ("-h", "--help"):
            sys.stdout.write(TOP_USAGE)
            return 0 if argv else 2
        if argv[0] == "--version":
            sys.stdout.write(f"faultput {__version__}\n")
            return 0
        if argv[0] in COMMANDS:
            return COMMANDS[argv[0]](argv[1:])
        first_word = argv[1] if argv[0] == "-v" and len(argv) > 1 else argv[0]
        if _is_seed_variant(first_word):
            return _seed_command(argv)
        raise UsageError(f"unknown command or variant {first_word!r} "
                         "(commands: {', '.join(COMMANDS)}; variants: separate-objects, share-objects)")
    except FaultputError as error:
        sys.stderr.write(f"faultput: error: {error}\n")
        return error.exit_code
    except Terminated:
        sys.stderr.write("faultput: terminated\n")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        sys.stderr.write("faultput: interrupted\n")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous_term)
