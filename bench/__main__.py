"""`make bench`: run every benchmark module of bench/ that defines `main()`, one after another.

Each runs the way its own docstring shows, in a child process of its own: as a script
(`python bench/geocoder.py`) when the docstring says so, else as a module
(`python -m bench.chat_bench`). A failure or a missing tool in one is reported and the next
one still runs. Helper modules (no top-level `main`) are left out; modules are found by
reading their source, not by importing them.

    python -m bench                      # all of them
    python -m bench products_listing     # only the named ones
    python -m bench --list
"""

from __future__ import annotations

import argparse
import ast
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# Exit status 2 from a benchmark means "skipped: a tool it needs is missing".
SKIPPED = 2


def benchmark_modules() -> dict[str, list[str]]:
    """Benchmark name → the command line that runs it."""
    found: dict[str, list[str]] = {}
    for path in sorted(BENCH_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except SyntaxError as exc:
            print(f"bench: {path.name} does not parse ({exc}); left out")
            continue
        if not any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "main"
            for node in tree.body
        ):
            continue
        docstring = ast.get_docstring(tree) or ""
        if f"bench/{path.name}" in docstring and f"bench.{path.stem}" not in docstring:
            found[path.stem] = [sys.executable, str(path.relative_to(ROOT))]
        else:
            found[path.stem] = [sys.executable, "-m", f"bench.{path.stem}"]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks in bench/.")
    parser.add_argument("names", nargs="*", help="Benchmarks to run (default: all).")
    parser.add_argument("--list", action="store_true", help="List the benchmarks and stop.")
    parser.add_argument("--timeout", type=int, default=3600, help="Seconds one benchmark may take.")
    args = parser.parse_args(argv)

    available = benchmark_modules()
    if args.list:
        for name, command in available.items():
            print(f"{name:<28} {' '.join([Path(command[0]).name, *command[1:]])}")
        return 0
    unknown = [name for name in args.names if name not in available]
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}"
        )
    chosen = args.names or list(available)

    outcomes: list[tuple[str, str, float]] = []
    for name in chosen:
        print(f"\n===== bench.{name} =====", flush=True)
        started = time.monotonic()
        command = available[name]
        print(f"$ {' '.join([Path(command[0]).name, *command[1:]])}", flush=True)
        child = subprocess.Popen(command, cwd=ROOT)  # noqa: S603 - our interpreter, our files
        try:
            code = child.wait(timeout=args.timeout)
            if code == 0:
                outcome = "ok"
            elif code == SKIPPED:
                outcome = "skipped (missing tool, see its output)"
            else:
                outcome = f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            # SIGINT first: the benchmark's `finally` blocks stop its servers and drop its database.
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            outcome = f"stopped after {args.timeout} s"
        outcomes.append((name, outcome, time.monotonic() - started))

    print("\n===== summary =====")
    for name, outcome, seconds in outcomes:
        print(f"{name:<28} {outcome:<40} {seconds:7.0f} s")
    return 0 if all(outcome == "ok" for _, outcome, _ in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
