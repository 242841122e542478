"""Load generators of the products listing benchmark: wrk (closed loop and fixed rate), pgbench."""

from __future__ import annotations

import json
import math
import os
import re
import resource
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.products_procs import pinned

LUA_SCRIPT = Path(__file__).with_name("products_wrk.lua")
# Upper bound of one measurement, so a whole run stays short on a machine shared with others.
MAX_SECONDS = 30


@dataclass
class WrkResult:
    command: str
    seconds: float
    requests: int
    requests_per_second: float
    errors: dict[str, int]
    bad_status: int
    latency_ms: dict[str, float]
    load_cpu_seconds: float
    schedule: dict[str, float] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return self.bad_status == 0 and not any(self.errors.values())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    tokens_file: Path | None,
    cpus: str | None,
    rate: float = 0.0,
    out_prefix: Path | None = None,
    timeout_s: int = 5,
) -> WrkResult:
    """Run wrk once: closed loop, or on a fixed schedule of `rate` requests/s in total."""
    if seconds > MAX_SECONDS:
        raise ValueError(f"a measurement runs at most {MAX_SECONDS} s")
    base, _, query = url.partition("/api/")
    command = pinned(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            f"--timeout={timeout_s}s",
            "-s",
            str(LUA_SCRIPT),
            base,
        ],
        cpus,
    )
    env = {
        "BENCH_PATH": "/api/" + query,
        "BENCH_TOKENS": str(tokens_file or ""),
        "BENCH_RATE": f"{rate:.3f}",
        "BENCH_OUT": str(out_prefix or ""),
    }
    before = _children_cpu()
    completed = subprocess.run(  # noqa: S603 - our own command line
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 30,
    )
    cpu = _children_cpu() - before
    match = re.search(r"^BENCH_RESULT (\{.*\})$", completed.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(
            f"wrk gave no result (exit {completed.returncode}): {completed.stderr[-500:]}"
        )
    data = json.loads(match.group(1))
    duration = data["duration_us"] / 1e6
    latency = {key: round(value / 1000, 2) for key, value in data["latency_us"].items()}
    schedule = {}
    if rate > 0:
        schedule = {
            "offered_rate": rate,
            "slots": data["slots"],
            "late_slots": data["late"],
            "late_ms_max": round(data["late_us_max"] / 1000, 2),
            "late_ms_mean": round(data["late_us_sum"] / 1000 / max(1, data["late"]), 3),
        }
    shown_env = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items() if value)
    return WrkResult(
        command=f"{shown_env} {shlex.join(command)}",
        seconds=round(duration, 2),
        requests=data["requests"],
        requests_per_second=round(data["requests"] / duration, 1),
        errors=data["errors"],
        bad_status=data["bad_status"],
        latency_ms=latency,
        load_cpu_seconds=round(cpu, 2),
        schedule=schedule,
    )


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def recorded_latencies(out_prefix: Path, *, warmup_s: float) -> dict[str, float]:
    """Summarize the latencies in the per-thread files of a fixed-rate run, minus `warmup_s`.

    `p99` and the like count from each request's send; `slot_p99` and the like count from
    its scheduled time, so they include the wait of requests sent late.

    The warm-up contains the burst in which every connection sends its first request at once,
    because wrk applies delay() only from the second request of a connection on.
    """
    rows: list[tuple[float, float, int, float]] = []
    for path in sorted(out_prefix.parent.glob(out_prefix.name + "-*.txt")):
        for line in path.read_text().splitlines():
            sent, latency, status, slot_latency = line.split()
            rows.append((float(sent), float(latency), int(status), float(slot_latency)))
    if not rows:
        return {}
    first = min(row[0] for row in rows)
    kept = [row for row in rows if row[0] - first >= warmup_s * 1e6]
    from_send = sorted(row[1] / 1000 for row in kept)
    from_slot = sorted(row[3] / 1000 for row in kept)
    span = (max(row[0] for row in rows) - first) / 1e6
    summary: dict[str, float] = {
        "samples": len(kept),
        "sent_per_second": round(len(rows) / span, 1) if span else float("nan"),
        "non_200": sum(1 for row in rows if row[2] != 200),
    }
    for name, share in (
        ("p50", 0.50),
        ("p90", 0.90),
        ("p95", 0.95),
        ("p99", 0.99),
        ("p999", 0.999),
    ):
        summary[name] = round(percentile(from_send, share), 2)
        summary[f"slot_{name}"] = round(percentile(from_slot, share), 2)
    summary["max"] = round(from_send[-1], 2) if from_send else float("nan")
    summary["slot_max"] = round(from_slot[-1], 2) if from_slot else float("nan")
    return summary


@dataclass
class PgbenchResult:
    name: str
    command: str
    tps: float
    latency_ms: float
    transactions: int
    failed: int


def run_pgbench(
    name: str, *, database_url: str, script: Path, seconds: int, clients: int, cpus: str | None
) -> PgbenchResult:
    if seconds > MAX_SECONDS:
        raise ValueError(f"a measurement runs at most {MAX_SECONDS} s")
    command = pinned(
        [
            "pgbench",
            "-n",
            "-M",
            "prepared",
            f"-c{clients}",
            "-j1",
            f"-T{seconds}",
            "-f",
            str(script),
            database_url,
        ],
        cpus,
    )
    completed = subprocess.run(  # noqa: S603 - our own command line
        command, capture_output=True, text=True, check=False, timeout=seconds + 30
    )
    text = completed.stdout
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
    latency = re.search(r"latency average = ([\d.]+) ms", text)
    done = re.search(r"number of transactions actually processed: (\d+)", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    if tps is None or latency is None or done is None:
        raise RuntimeError(f"pgbench {name} failed: {completed.stderr[-800:]}")
    return PgbenchResult(
        name=name,
        command=shlex.join(command),
        tps=round(float(tps.group(1)), 1),
        latency_ms=float(latency.group(1)),
        transactions=int(done.group(1)),
        failed=int(failed.group(1)) if failed else 0,
    )


def settle(seconds: float) -> None:
    """Pause between measurements so the previous one's backlog (autovacuum, WAL) drains."""
    time.sleep(seconds)
