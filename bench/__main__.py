"""`make bench`: run the benchmarks of bench/ one after another and render docs/benchmarks.md.

Each benchmark runs in a child process of its own, the way its docstring shows (see
`bench.results.discover`), and stores its result in docs/benchmark-results/NAME.json. A
failure, a missing tool or a time-out in one is recorded as such (keeping the last successful
result for reference) and the next one still runs. At the end docs/benchmarks.md is rendered
from every stored result, so benchmarks not run this time keep their earlier, dated figures.

With --quick each benchmark runs shortened (QUICK_ARGS), its result goes to var/bench/quick/
and the rendering to var/bench/benchmarks-quick.md: docs/benchmarks.md is left alone.

Only one benchmark run at a time on this machine: the runner holds an exclusive lock on
/tmp/taskgo-bench.lock (the one `flock /tmp/taskgo-bench.lock CMD` takes) while it runs, and
waits for it when another run has it. Under `flock /tmp/taskgo-bench.lock make bench` it
detects that a parent process has the lock and goes ahead.

    python -m bench                      # all of them
    python -m bench products_listing     # only the named ones
    python -m bench --quick              # all of them, shortened, to check that they work
    python -m bench --list
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import importlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.results import (
    ROOT,
    RUN_ID_ENV,
    discover,
    last_success,
    load,
    load_average,
    machine_facts,
    now,
    result_path,
    store,
)

from bench import report

LOCK_PATH = Path("/tmp/taskgo-bench.lock")  # noqa: S108 - the machine-wide lock all runs share
# Exit status 2 from a benchmark means "skipped: a tool it needs is missing".
SKIPPED = 2
# Lines of a benchmark's output kept for the record of a run that did not finish.
TAIL_LINES = 15
# Options that make each benchmark short enough to check that it works (a few minutes in all).
QUICK_ARGS: dict[str, list[str]] = {
    "geocoder": ["--points", "20000", "--sql-points", "100", "--rounds", "2"],
    "products_listing": ["--quick"],
    "service_order_dispatch": [
        "--partners",
        "50",
        "--extra",
        "200",
        "--rounds",
        "1",
        "--posts",
        "20",
    ],
    "chat_bench": [
        "--rooms",
        "20",
        "--rates",
        "50,100",
        "--duration",
        "3",
        "--drain",
        "2",
        "--harness-processes",
        "1",
    ],
}
# Benchmarks that do not store a result themselves: a module whose
# `collect_result(run_id=…, since=…, command=…, quick=…)` stores it from the run's own report.
COLLECTORS = {"products_listing": "bench.products_report"}


def lock_held_by_ancestor(path: Path) -> bool:
    """Tell whether a parent process (e.g. `flock PATH make bench`) has the lock file open."""
    target = str(path.resolve())
    pid = os.getppid()
    while pid > 1:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return True
                except OSError:
                    continue
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def acquire_lock(path: Path = LOCK_PATH) -> int | None:
    """Hold the machine's benchmark lock until this process ends (None: a parent holds it)."""
    if lock_held_by_ancestor(path):
        print(f"bench: a parent process holds {path}; running under its lock", flush=True)
        return None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"bench: another benchmark run holds {path}; waiting for it …", flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def display_command(command: list[str]) -> str:
    return shlex.join(["python", *command[1:]])


def run_child(command: list[str], *, timeout: int) -> tuple[str, int, list[str]]:
    """Run one benchmark, echoing its output; return its outcome, exit status and last lines."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    child = subprocess.Popen(  # noqa: S603 - our interpreter, our files
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )

    def echo() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            tail.append(line.rstrip("\n"))

    reader = threading.Thread(target=echo, daemon=True)
    reader.start()
    try:
        code = child.wait(timeout=timeout)
        if code == 0:
            outcome = "ok"
        elif code == SKIPPED:
            outcome = "skipped"
        else:
            outcome = "failed"
    except subprocess.TimeoutExpired:
        stop(child)
        code, outcome = child.wait(), "timeout"
    # Servers the benchmark started may still hold the pipe for a moment.
    reader.join(timeout=10)
    return outcome, code, list(tail)


def stop(child: subprocess.Popen[str]) -> None:
    # SIGINT first: the benchmark's `finally` blocks stop its servers and drop its database.
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()


def record(
    name: str,
    *,
    outcome: str,
    code: int,
    tail: list[str],
    command: str,
    started: str,
    load_before: list[float],
    seconds: float,
    quick: bool,
    run_id: str,
) -> str:
    """Make sure this run left a result, and return the outcome to report.

    A benchmark that finished stores its own result. For one that did not, or that stored
    none, a record of the failure is stored instead, keeping the last successful result.
    """
    path = result_path(name, quick=quick)
    stored = load(path)
    if outcome == "ok" and not (stored and stored.get("run_id") == run_id) and name in COLLECTORS:
        collector = importlib.import_module(COLLECTORS[name])
        collector.collect_result(
            run_id=run_id, since=time.time() - seconds, command=command, quick=quick
        )
        stored = load(path)
    if stored and stored.get("run_id") == run_id:
        if outcome != "ok":
            # It measured and stored its result, then failed, e.g. while stopping its servers.
            stored.setdefault("notes", []).append(
                f"The benchmark exited with status {code} ({outcome}) after storing this result."
            )
            store(stored)
        return outcome
    if outcome == "ok":
        outcome = "no result"
    failure: dict[str, Any] = {
        "benchmark": name,
        "status": outcome,
        "quick": quick,
        "command": command,
        "started": started,
        "finished": now(),
        "seconds": round(seconds, 1),
        "load_average": {"before": load_before, "after": load_average()},
        "machine": machine_facts(),
        "exit_code": code,
        "reason": {
            "skipped": "Skipped: a tool it needs is missing (see the output below).",
            "timeout": "Stopped: it ran longer than the runner's --timeout.",
            "no result": "It finished but stored no result.",
        }.get(outcome, "It failed; see the output below."),
        "output_tail": tail,
        "last_success": last_success(stored),
    }
    store(failure)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks in bench/.")
    parser.add_argument("names", nargs="*", help="Benchmarks to run (default: all).")
    parser.add_argument("--list", action="store_true", help="List the benchmarks and stop.")
    parser.add_argument("--timeout", type=int, default=3600, help="Seconds one benchmark may take.")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Shortened runs to check that the benchmarks work; results and rendering go to "
        "var/bench/, not to docs/.",
    )
    parser.add_argument(
        "--no-render", action="store_true", help="Store the results only, do not render."
    )
    args = parser.parse_args(argv)

    available = discover()
    if args.list:
        for name, command in available.items():
            print(f"{name:<28} {display_command(command)}")
        return 0
    unknown = [name for name in args.names if name not in available]
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}"
        )
    chosen = args.names or list(available)
    lock = acquire_lock()
    run_id = uuid.uuid4().hex
    # Inherited by the benchmarks, and read by `store` here too, for collected results.
    os.environ[RUN_ID_ENV] = run_id

    outcomes: list[tuple[str, str, float]] = []
    for name in chosen:
        command = available[name] + (QUICK_ARGS.get(name, []) if args.quick else [])
        print(f"\n===== bench.{name} =====\n$ {display_command(command)}", flush=True)
        started, load_before, clock = now(), load_average(), time.monotonic()
        outcome, code, tail = run_child(command, timeout=args.timeout)
        seconds = time.monotonic() - clock
        outcome = record(
            name,
            outcome=outcome,
            code=code,
            tail=tail,
            command=display_command(command),
            started=started,
            load_before=load_before,
            seconds=seconds,
            quick=args.quick,
            run_id=run_id,
        )
        outcomes.append((name, outcome, seconds))

    if not args.no_render:
        invocation = shlex.join(["python", "-m", "bench", *(argv or sys.argv[1:])])
        path = report.write(quick=args.quick, fresh=chosen, invocation=invocation)
        print(f"\nrendered {path.relative_to(ROOT)}")
    print("\n===== summary =====")
    for name, outcome, seconds in outcomes:
        print(f"{name:<28} {outcome:<40} {seconds:7.0f} s")
    if lock is not None:
        os.close(lock)
    return 0 if all(outcome == "ok" for _, outcome, _ in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
