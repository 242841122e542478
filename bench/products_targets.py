"""The servers under test in the products listing benchmark and how one of them is measured."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
from bench.products_capture import same_page
from bench.products_load import run_wrk
from bench.products_procs import ROOT, CpuWindow, Server, pinned
from bench.products_report import profile_buckets
from bench.products_seed import CASCAVEL_IBGE, CASCAVEL_LAT, CASCAVEL_LNG

LISTING = f"/api/products?lat={CASCAVEL_LAT}&lng={CASCAVEL_LNG}&limit=20"
PAGE_ONLY = f"/api/bare/page?lat={CASCAVEL_LAT}&lng={CASCAVEL_LNG}&limit=20"
PROJECT_ID = "taskgo-dev"


def server_env(*, url: str, key_path: Path, run_dir: Path) -> dict[str, str]:
    """Environment of our server: dev auth, production-shaped logs (JSON, one line a request)."""
    return {
        "DATABASE_URL": url,
        "ENVIRONMENT": "dev",
        "AUTH_PROVIDER": "dev",
        "DEV_SIGNING_KEY_PATH": str(key_path),
        "FIREBASE_PROJECT_ID": PROJECT_ID,
        "LOG_JSON": "true",
        "STORAGE_URL": f"file:{run_dir / 'uploads'}",
    }


def bare_env(*, url: str, key_path: Path) -> dict[str, str]:
    return {"BARE_DATABASE_URL": url, "BARE_KEY_PATH": str(key_path), "BARE_PROJECT_ID": PROJECT_ID}


def start_servers(
    *, port: int, cpus: str | None, url: str, key_path: Path, run_dir: Path
) -> tuple[Server, Server]:
    taskgo = Path(sys.executable).with_name("taskgo")
    ours = Server(
        name="ours",
        command=pinned([str(taskgo), "serve", "--host", "127.0.0.1", "--port", str(port)], cpus),
        env=server_env(url=url, key_path=key_path, run_dir=run_dir),
        port=port,
        log_path=run_dir / "ours.log",
    )
    uvicorn = [
        sys.executable, "-m", "uvicorn", "bench.products_bare:app", "--host", "127.0.0.1",
        "--port", str(port + 1), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip
    bare = Server(
        name="bare",
        command=pinned(uvicorn, cpus),
        env=bare_env(url=url, key_path=key_path),
        port=port + 1,
        log_path=run_dir / "bare.log",
    )
    ours.start(ready_path="/readyz")
    bare.start(ready_path=PAGE_ONLY)
    return ours, bare


def check_answers(ours: Server, bare: Server, token: str, captured: dict[str, Any]) -> list[str]:
    """The three routes must return the same page, or the comparison means nothing."""
    headers = {"Authorization": f"Bearer {token}"}
    answers = {
        "ours": httpx.get(ours.base_url + LISTING, headers=headers, timeout=10),
        "bare": httpx.get(bare.base_url + LISTING, headers=headers, timeout=10),
        "bare page only": httpx.get(bare.base_url + PAGE_ONLY, timeout=10),
    }
    problems = [
        f"{name}: HTTP {answer.status_code}"
        for name, answer in answers.items()
        if answer.status_code != 200
    ]
    if problems:
        return problems
    reference = answers["ours"].json()
    if len(reference["items"]) != 20 or reference["city"]["id"] != CASCAVEL_IBGE:
        problems.append("ours: not a full page of Cascavel")
    problems += [f"in-process capture differs in {key}" for key in same_page(reference, captured)]
    for name in ("bare", "bare page only"):
        answer = answers[name].json()
        problems += [f"{name} differs from ours in {key}" for key in same_page(reference, answer)]
    return problems


def measure(
    target: str,
    server: Server,
    path: str,
    *,
    connections: int,
    seconds: int,
    tokens_file: Path | None,
    database: str,
    load_cpus: str | None,
    rate: float = 0.0,
    out_prefix: Path | None = None,
) -> dict[str, Any]:
    """One wrk run against `server`, with the CPU each process group used meanwhile."""
    with CpuWindow(groups={"server": server.pids()}, database=database) as window:
        result = run_wrk(
            server.base_url + path,
            seconds=seconds,
            connections=connections,
            tokens_file=tokens_file,
            cpus=load_cpus,
            rate=rate,
            out_prefix=out_prefix,
        )
    row = {"target": target, "connections": connections, **asdict(result)}
    row["cpu_cores"] = window.shares(result.load_cpu_seconds)
    row["cpu_ms_per_request"] = {
        name: round(used * 1000 / max(1, result.requests), 3) for name, used in window.used.items()
    }
    row["load_average"] = os.getloadavg()
    cores = row["cpu_cores"]
    status = "ok" if result.clean else f"errors {result.errors} non-200 {result.bad_status}"
    print(
        f"  {target:<15} c={connections:<3} {result.requests_per_second:>7.1f} req/s  "
        f"p50 {result.latency_ms['p50']:.1f} ms  p99 {result.latency_ms['p99']:.1f} ms  "
        f"cores: server {cores.get('server', 0):.2f} pg {cores.get('postgres', 0):.2f} "
        f"other {cores['other']:.2f}  {status}",
        flush=True,
    )
    return row


def best(rows: list[dict[str, Any]], target: str) -> dict[str, Any] | None:
    """The run of `target` with the most requests/s among those without errors."""
    clean = [
        row
        for row in rows
        if row["target"] == target and not row["bad_status"] and not any(row["errors"].values())
    ]
    return max(clean, key=lambda row: row["requests_per_second"], default=None)


def breakdown(
    *, url: str, key_path: Path, run_dir: Path, tokens_file: Path, cpus: str | None
) -> dict[str, Any]:
    """CPU per stage of a request (bench/products_breakdown.py), pinned like the servers."""
    command = pinned(
        [sys.executable, "-m", "bench.products_breakdown", "--tokens-file", str(tokens_file),
         "--path", LISTING, "--iterations", "50", "--rounds", "5"],
        cpus,
    )  # fmt: skip
    env = {**os.environ, **server_env(url=url, key_path=key_path, run_dir=run_dir)}
    env.update(bare_env(url=url, key_path=key_path))
    completed = subprocess.run(  # noqa: S603 - our own command line
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    match = re.search(r"^BREAKDOWN (\{.*\})$", completed.stdout, re.MULTILINE)
    if match is None:
        return {
            "skipped": f"breakdown failed (exit {completed.returncode}): {completed.stderr[-400:]}"
        }
    stages: dict[str, float] = json.loads(match.group(1))
    return {"cpu_ms": stages, "command": " ".join(command)}


def profile(
    server: Server,
    *,
    seconds: int,
    connections: int,
    tokens_file: Path,
    run_dir: Path,
    load_cpus: str | None,
) -> dict[str, Any]:
    """py-spy samples of our server during one more closed-loop run."""
    # `uv tool install py-spy` puts it in ~/.local/bin, which is not always on PATH.
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path.home() / ".local/bin"))
    if spy is None or server.process is None:
        return {"skipped": "py-spy not found (scripts/install-bench-deps.sh installs it)"}
    raw = run_dir / "profile-ours.txt"
    sampler = subprocess.Popen(  # noqa: S603 - our own command line
        pinned(
            [
                spy,
                "record",
                "--pid",
                str(server.process.pid),
                "--duration",
                str(seconds),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(raw),
                "--nonblocking",
            ],
            load_cpus,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    result = run_wrk(
        server.base_url + LISTING,
        seconds=seconds,
        connections=connections,
        tokens_file=tokens_file,
        cpus=load_cpus,
    )
    sampler.wait(timeout=seconds + 30)
    if not raw.exists():
        return {"skipped": "py-spy wrote no profile"}
    return {
        "file": str(raw.relative_to(ROOT)),
        "requests_per_second": result.requests_per_second,
        **profile_buckets(raw),
    }
