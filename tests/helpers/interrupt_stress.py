"""Interrupts faultput's command line many times, at many points of the round protocol, in
this one process, and reports what each interruption left behind.

    python interrupt_stress.py COUNT SEED DIRECTORY FAULTPUT_RUN_ARGS...

Each interruption runs `faultput run FAULTPUT_RUN_ARGS --json DIRECTORY/r.json` in-process,
picks one of the engine's progress events (every one in turn, then at random) and sends
SIGINT or SIGTERM (alternately) to the main thread a random delay after it: none, a few
microseconds, or up to 20 ms, so that signals land inside the native waits as well as
between them. A crash (a segfault) kills this process, which the caller sees in its exit
status. The last stdout line is JSON: per interruption, the exit code, whether the signal
landed after the command had already returned, the mappings, threads, child processes and
files left, and whether stderr held a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import sys
import threading
import time

from probe import child_processes, nohugepage_mappings


class LateTerm(Exception):
    """SIGTERM that arrived after the command had returned."""


def _late_term(signum, frame):
    raise LateTerm()


def main() -> None:
    count, seed, directory = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    run_args = sys.argv[4:]
    from faultput import cli, engine

    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    if {signal.SIGINT, signal.SIGTERM} & blocked:
        sys.exit(f"interrupt_stress: started with {sorted(s.name for s in blocked)} blocked: nothing to test")
    rng = random.Random(seed)
    main_thread = threading.main_thread().ident
    signal.signal(signal.SIGTERM, _late_term)
    baseline_maps = set(nohugepage_mappings())
    reports = []
    for index in range(count):
        signum = signal.SIGINT if index % 2 == 0 else signal.SIGTERM
        target = index + 1 if index < 40 else rng.randint(1, 200)
        delay_s = rng.choice([0.0, rng.uniform(0, 50e-6), rng.uniform(0, 2e-3), rng.uniform(0, 20e-3)])
        events = {"count": 0, "timer": None, "fired_at": None}

        def fire():
            events["fired_at"] = time.monotonic()
            signal.pthread_kill(main_thread, signum)

        def on_event(name, iteration):
            events["count"] += 1
            if events["count"] == target and events["timer"] is None:
                if delay_s == 0.0:
                    fire()
                else:
                    events["timer"] = threading.Timer(delay_s, fire)
                    events["timer"].start()

        engine._no_event = on_event
        result_path = os.path.join(directory, "r.json")
        stdout, stderr = io.StringIO(), io.StringIO()
        code = None
        late = False
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = cli.main(["run", *run_args, "--json", result_path])
        except (KeyboardInterrupt, LateTerm):
            late = True
        returned_at = time.monotonic()
        try:
            if events["timer"] is not None:
                events["timer"].join()
            time.sleep(0.003)
        except (KeyboardInterrupt, LateTerm):
            late = True
        if events["fired_at"] is None or events["fired_at"] > returned_at:
            late = True
        partial = None
        if os.path.exists(result_path):
            with open(result_path) as handle:
                document = json.load(handle)
            partial = [result["interrupted"] for result in document["results"]]
            os.unlink(result_path)
        reports.append({
            "index": index, "signal": signal.Signals(signum).name, "target": target,
            "delay_s": delay_s, "exit_code": code, "late": late,
            "left_mapped": [size for mapping, size in nohugepage_mappings() if (mapping, size) not in baseline_maps],
            "threads": threading.active_count(), "children": child_processes(),
            "files": sorted(os.listdir(directory)), "partial": partial,
            "traceback": "Traceback" in stderr.getvalue(),
            "stdout_tail": stdout.getvalue()[-300:], "stderr_tail": stderr.getvalue()[-300:],
        })
    sys.stdout.write(json.dumps(reports) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
