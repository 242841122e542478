"""Stored benchmark results: what each benchmark writes and docs/benchmarks.md is rendered from.

A result is one JSON file per benchmark. A full run goes to docs/benchmark-results/NAME.json,
which is committed next to the document rendered from it. A shortened run (`--quick`, or
options that make the measurement smaller than the goals ask for) goes to
var/bench/quick/NAME.json instead, so a smoke test never replaces recorded figures.

The fields of a result (version 1):

- `benchmark`: the benchmark's name, or NAME.PART for a part run on its own (rendered in
  NAME's section under its `title`)
- `status` (`ok`, `failed`, `skipped`, `timeout`, `no result`), `quick`
- `command`: the exact command line; `started`, `finished`: ISO 8601 UTC times
- `load_average`: `before` and `after`, the 1, 5 and 15 minute averages
- `machine`: facts gathered when it ran (CPU, cores, RAM, kernel, Python, PostgreSQL, tools)
- `figures`: the measured figures, free-form; `baseline`: the same-run baseline's figures
- `tables`: what the document shows, each `{title, columns: [{name, format}], rows}`
- `goals`: each `{name, issue, measured, unit, target, op, met, detail}`
- `notes`: sentences about this run; `source`: where the figures come from when a person,
  not the benchmark, wrote them down
- `exit_code`, `output_tail`, `last_success`: for a run that did not finish
"""

from __future__ import annotations

import ast
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = ROOT / "docs" / "benchmark-results"
QUICK_DIR = ROOT / "var" / "bench" / "quick"
SCHEMA = 1
# Modules with a `main()` that are tools, not benchmarks.
NOT_BENCHMARKS = frozenset({"report"})
# Set by `python -m bench`, so that it can tell the results of its own run from older ones.
RUN_ID_ENV = "TASKGO_BENCH_RUN_ID"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _first_line(command: Sequence[str]) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed tool names
            list(command), capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def _postgres_version(url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as connection:
            row = connection.execute("SHOW server_version").fetchone()
    except Exception:  # any failure just leaves the fact out
        return None
    return f"PostgreSQL {row[0]}" if row else None


def machine_facts(tools: Iterable[str] = (), database_url: str | None = None) -> dict[str, Any]:
    """Describe the machine as it is now. `tools` lists the load generators the benchmark ran."""
    facts: dict[str, Any] = {
        "cpu": None,
        "cores": os.cpu_count(),
        "memory_gib": None,
        "kernel": f"{platform.system()} {platform.release()}",
        "os": None,
        "python": platform.python_version(),
        "postgres": _postgres_version(
            database_url or os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
        ),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu"] = line.split(":", 1)[1].strip()
                break
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        facts["memory_gib"] = round(kib / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                facts["os"] = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    versions = {"wrk": ["wrk", "-v"], "node": ["node", "--version"], "pgbench": ["pgbench", "-V"]}
    facts["tools"] = {tool: _first_line(versions.get(tool, [tool, "--version"])) for tool in tools}
    return facts


def module_command(module: str, argv: Sequence[str] | None = None) -> str:
    """`python -m MODULE ARGS` as this process was started."""
    args = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(["python", "-m", module, *args])


def column(name: str, fmt: str = "") -> dict[str, str]:
    """Describe a table column. `fmt` is a format spec for numbers (`,.0f`, `.1f`), '' for text."""
    return {"name": name, "format": fmt}


def table(title: str, columns: list[dict[str, str]], rows: list[list[Any]]) -> dict[str, Any]:
    return {"title": title, "columns": columns, "rows": rows}


def goal(
    name: str,
    *,
    issue: str,
    measured: float | None,
    target: float,
    op: str,
    unit: str = "",
    detail: str = "",
) -> dict[str, Any]:
    """Record a goal and how this run did. `op` is `<=` (at most) or `>=` (at least)."""
    if op not in ("<=", ">="):
        raise ValueError(f"goal operator must be <= or >=, not {op!r}")
    met = None
    if measured is not None:
        met = measured <= target if op == "<=" else measured >= target
    return {
        "name": name,
        "issue": issue,
        "measured": measured,
        "unit": unit,
        "target": target,
        "op": op,
        "met": met,
        "detail": detail,
    }


def shortened(values: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """Return the options set below their full-run default. A run with any of them is quick."""
    return [name for name, default in defaults.items() if values.get(name, default) < default]


@dataclass
class Recorder:
    """Collects one run's facts from its start and writes the result at the end."""

    benchmark: str
    command: str
    tools: tuple[str, ...] = ()
    # For a part stored beside the benchmark's main result (NAME.PART): its heading.
    title: str = ""
    database_url: str | None = None
    started: str = field(default_factory=now)
    load_before: list[float] = field(default_factory=load_average)
    started_monotonic: float = field(default_factory=time.monotonic)

    def finish(
        self,
        *,
        figures: dict[str, Any],
        tables: list[dict[str, Any]],
        goals: list[dict[str, Any]],
        baseline: dict[str, Any] | None = None,
        notes: Sequence[str] = (),
        quick: bool = False,
    ) -> Path:
        result = {
            "schema": SCHEMA,
            "benchmark": self.benchmark,
            "title": self.title,
            "status": "ok",
            "quick": quick,
            "command": self.command,
            "started": self.started,
            "finished": now(),
            "seconds": round(time.monotonic() - self.started_monotonic, 1),
            "load_average": {"before": self.load_before, "after": load_average()},
            "machine": machine_facts(self.tools, self.database_url),
            "figures": figures,
            "baseline": baseline or {},
            "tables": tables,
            "goals": goals,
            "notes": list(notes),
        }
        return store(result)


def result_path(benchmark: str, *, quick: bool) -> Path:
    return (QUICK_DIR if quick else RESULTS_DIR) / f"{benchmark}.json"


def store(result: dict[str, Any]) -> Path:
    """Write a result where its kind belongs, tagged with the `python -m bench` run if any."""
    result.setdefault("schema", SCHEMA)
    run_id = os.environ.get(RUN_ID_ENV)
    if run_id:
        result["run_id"] = run_id
    path = result_path(result["benchmark"], quick=bool(result.get("quick")))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"result written to {path.relative_to(ROOT)}", flush=True)
    return path


def load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "benchmark" in data else None


def load_all(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(directory.glob("*.json")):
        result = load(path)
        if result is not None:
            found[result["benchmark"]] = result
    return found


def last_success(previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the newest successful result: `previous` itself, or the one it kept."""
    if previous is None:
        return None
    if previous.get("status") == "ok":
        return previous
    return previous.get("last_success")


def discover() -> dict[str, list[str]]:
    """Benchmark name → the command line that runs it.

    Every module of bench/ with a top-level `main()` is a benchmark, except the tools in
    NOT_BENCHMARKS. It runs the way its docstring shows: as a script (`python
    bench/geocoder.py`) when its docstring gives that path, else as a module (`python -m
    bench.chat_bench`). Modules are read, not imported.
    """
    found: dict[str, list[str]] = {}
    for path in sorted(BENCH_DIR.glob("*.py")):
        if path.name.startswith("_") or path.stem in NOT_BENCHMARKS:
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


def benchmark_names() -> list[str]:
    return list(discover())
