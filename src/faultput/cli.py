"""The command line: the seed's form, `faultput run`, and the boundary where errors become exit codes.

    faultput [-v] <separate-objects|share-objects> <duration_s> <threads> [first_cpu]
    faultput run [options]

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
        epilog="Sizes take binary suffixes: 64K, 128M, 2G. Figures print as each thread count "
               "finishes; --json and --perfdata are written at the end, atomically.",
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
    parser.add_argument("--json", metavar="FILE", help="write every sample of the run (docs/result-format.md)")
    parser.add_argument("--perfdata", metavar="FILE", help="write the wrapper's perfdata records")
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
    from .outputs import check_writable, json_result, perfdata
    from .outputs.seed import SeedProgress
    from .outputs.summary import summary, sweep_table
    from .spec import make_spec

    for path, what in ((args.json, "--json"), (args.perfdata, "--perfdata")):
        if path:
            check_writable(path, what)
    specs = [
        make_spec(variant=args.variant, threads=threads, duration_s=args.duration, fault_type=fault_type,
                  access=args.access, mode=args.mode, directory=args.dir, first_cpu=args.first_cpu,
                  thp=args.thp, object_size_bytes=args.object_size, memory_bytes=args.memory,
                  warmup_iterations=args.warmup, oversubscribe=args.oversubscribe)
        for fault_type in (args.fault or [None])
        for threads in _thread_counts(args)
    ]

    def show(result):
        sys.stdout.write(summary(result))
        sys.stdout.flush()

    progress = SeedProgress(sys.stderr) if args.verbose else None
    results = engine.run_all(specs, progress, show)
    if len(results) > 1:
        sys.stdout.write("\n" + sweep_table(results))
    if args.json:
        json_result.write(args.json, results, ["faultput", "run", *argv])
    if args.perfdata:
        perfdata.write(args.perfdata, results)
    return _exit_code(results)


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
        if argv[0] == "run":
            return _run_command(argv[1:])
        if argv[0] == "list":
            return _list_command(argv[1:])
        first_word = argv[1] if argv[0] == "-v" and len(argv) > 1 else argv[0]
        if _is_seed_variant(first_word):
            return _seed_command(argv)
        raise UsageError(f"unknown command or variant {first_word!r} "
                         "(commands: run, list; variants: separate-objects, share-objects)")
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
