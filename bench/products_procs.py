"""Processes of the products listing benchmark and the CPU time they use.

Every server binds 127.0.0.1, is pinned with `taskset` when CPUs are given, is started by
this benchmark and stopped by its own process id. CPU time comes from /proc (user + system
ticks), so a run reports how much of the machine the server, PostgreSQL, the load generator
and everything else (other work on the machine) used.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


# Scheduling priority (nice value) of every process the benchmark starts; see set_priority.
_NICE = {"value": 0}


def set_priority(nice: int) -> None:
    """Start later processes with this nice value (negative values need root)."""
    _NICE["value"] = nice


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """Wrap `command` to run on `cpus` (taskset) at the chosen priority (nice)."""
    if _NICE["value"]:
        command = ["nice", "-n", str(_NICE["value"]), *command]
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *command]
    return command


@dataclass
class Server:
    """A server process of ours (API or bare baseline) on a loopback port."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(
        self, *, ready_path: str, headers: dict[str, str] | None = None, timeout: float = 60.0
    ) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            self.command,
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                response = httpx.get(self.base_url + ready_path, headers=headers, timeout=2.0)
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The server runs in its own session: signal its group (uvicorn and any children).
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def pids(self) -> list[int]:
        return [] if self.process is None else [self.process.pid, *children(self.process.pid)]


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            for child in map(int, text):
                found += [child, *children(child)]
    except OSError:
        pass
    return found


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are the 14th and 15th fields of the whole line.
    return (int(fields[11]) + int(fields[12])) / TICKS


def database_backend_pids(database: str) -> list[int]:
    """PostgreSQL backends serving `database` (their title names it): read only, from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            pids.append(int(entry.name))
    return pids


def machine_busy_seconds() -> tuple[float, float]:
    """(busy CPU seconds, total CPU seconds) of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / TICKS, total / TICKS


@dataclass
class CpuWindow:
    """CPU seconds used during one measurement by each group of processes."""

    groups: dict[str, list[int]] = field(default_factory=dict)
    database: str | None = None
    _start: dict[str, dict[int, float]] = field(default_factory=dict)
    _busy: tuple[float, float] = (0.0, 0.0)
    _started_at: float = 0.0

    def _sample(self) -> dict[str, dict[int, float]]:
        """CPU seconds so far of every process of every group, by group and process id."""
        sample = {
            name: {pid: process_cpu_seconds(pid) for pid in pids}
            for name, pids in self.groups.items()
        }
        if self.database:
            sample["postgres"] = {
                pid: process_cpu_seconds(pid) for pid in database_backend_pids(self.database)
            }
        return sample

    def __enter__(self) -> CpuWindow:
        self._start = self._sample()
        self._busy = machine_busy_seconds()
        self._started_at = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._sample()
        busy, _ = machine_busy_seconds()
        wall = time.monotonic() - self._started_at
        # Per process: a backend that started during the window counts from zero. One that
        # ended during it (an idle pool connection closed) is missed, so a group's figure
        # is a lower bound and never negative.
        self.used = {
            name: sum(
                max(0.0, seconds - self._start.get(name, {}).get(pid, 0.0))
                for pid, seconds in processes.items()
            )
            for name, processes in end.items()
        }
        self.machine_busy = busy - self._busy[0]
        self.wall = wall
        self.other = max(0.0, self.machine_busy - sum(self.used.values()))

    def shares(self, load_seconds: float = 0.0) -> dict[str, float]:
        """CPU used per group as cores busy on average (1.0 = one core all the time)."""
        cores = {name: round(value / self.wall, 2) for name, value in self.used.items()}
        if load_seconds:
            cores["load_generator"] = round(load_seconds / self.wall, 2)
        cores["other"] = round(max(0.0, self.other - load_seconds) / self.wall, 2)
        cores["machine"] = round(self.machine_busy / self.wall, 2)
        return cores


def machine_facts(database_url: str) -> dict[str, object]:
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    # Tools found on PATH by name, as the benchmark runs them.
    psql = ["psql", database_url, "-tAc", "SELECT version()"]
    postgres = subprocess.run(psql, capture_output=True, text=True, check=False)  # noqa: S603
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)  # noqa: S607
    return {
        "cpu": cpu_model,
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "postgres": postgres.stdout.strip().split(" on ")[0],
        "wrk": wrk.stdout.strip().splitlines()[0] if wrk.stdout.strip() else "missing",
        "load_average": os.getloadavg(),
    }
