"""A real `taskgo serve` and `taskgo worker` on the per-run test database, for the demo.

The processes run with the dev and local providers (dev tokens, local payments, log-only
push, manual tracking, offline assistant) and share Redis, which carries the worker's
Socket.IO events to the server's sockets. Rows they commit are removed afterwards by
truncating every table that was empty before the module started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from taskgo.jobs.queue import libpq_url

REDIS_URL = "redis://127.0.0.1:6379/0"
STARTUP_SECONDS = 90.0
STOP_SECONDS = 20.0
TEST_ENCRYPTION_KEY = "e2e1:" + "ZTJlLWRlbW8tZmllbGQtZW5jcnlwdGlvbi1rZXktMzI="
# Provider settings a developer's shell could carry; the processes must not see them.
_INHERITED_PREFIXES = ("STRIPE_", "OPENAI_", "FCM_", "CORREIOS_", "STORAGE_", "REDIS_")


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    environment: dict[str, str]
    workdir: Path
    database_url: str


def _taskgo() -> str:
    return str(Path(sys.executable).with_name("taskgo"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _redis_problem() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis at 127.0.0.1:6379 is not reachable ({exc!r}); the end-to-end run needs it"
    return None


def _environment(database_url: str, workdir: Path, base_url: str) -> dict[str, str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(_INHERITED_PREFIXES)
    }
    environment.update(
        {
            "ENVIRONMENT": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "AUTH_PROVIDER": "dev",
            "PAYMENTS_PROVIDER": "local",
            "PUSH_PROVIDER": "log",
            "TRACKING_PROVIDER": "manual",
            "AI_PROVIDER": "offline",
            "DEV_SIGNING_KEY_PATH": str(workdir / "dev-signing-key.pem"),
            "FIELD_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
            "STORAGE_URL": f"file://{workdir / 'uploads'}",
            "PUBLIC_BASE_URL": base_url,
            "LOG_JSON": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    return environment


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"taskgo serve exited with code {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"taskgo serve was not ready within {STARTUP_SECONDS:.0f} s:\n{_tail(log)}")


def _wait_worker(database_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the worker has registered itself. Jobs queued earlier would wait anyway,
    but the scenario's waits should not also cover the worker's start-up."""
    deadline = time.monotonic() + STARTUP_SECONDS
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"taskgo worker exited with code {process.returncode}:\n{_tail(log)}"
                )
            row = connection.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
            if row is not None and row[0] > 0:
                return
            time.sleep(0.3)
    raise RuntimeError(f"taskgo worker did not start within {STARTUP_SECONDS:.0f} s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path.name} is empty)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)


def _empty_tables(database_url: str) -> list[str]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        empty = []
        for name in names:
            query = sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(name))
            if connection.execute(query).fetchone() == (True,):
                empty.append(name)
        return empty


def _truncate(database_url: str, tables: list[str]) -> None:
    if not tables:
        return
    query = sql.SQL("TRUNCATE {} CASCADE").format(
        sql.SQL(", ").join(sql.Identifier(name) for name in tables)
    )
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(query)


def run_seed(server: LiveServer) -> subprocess.CompletedProcess[str]:
    """Seed as `taskgo dev` does, in a process of its own like the real command."""
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-c",
            "import sys; from taskgo.demo.seed import seed_from_cli; seed_from_cli(sys.argv[1])",
            server.database_url,
        ],
        env=server.environment,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def e2e_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def clean_database(database_url: str) -> Iterator[str]:
    """The test database, with what the processes commit removed afterwards."""
    empty_before = _empty_tables(database_url)
    yield database_url
    _truncate(database_url, empty_before)


@pytest.fixture(scope="module")
def seeded(clean_database: str, e2e_workdir: Path) -> list[subprocess.CompletedProcess[str]]:
    """Run the seed twice before the server starts, as two `taskgo dev` starts would."""
    port = _free_port()
    server = LiveServer(
        base_url=f"http://127.0.0.1:{port}",
        environment=_environment(clean_database, e2e_workdir, f"http://127.0.0.1:{port}"),
        workdir=e2e_workdir,
        database_url=clean_database,
    )
    return [run_seed(server), run_seed(server)]


@pytest.fixture(scope="module")
def live_server(
    clean_database: str, e2e_workdir: Path, seeded: list[subprocess.CompletedProcess[str]]
) -> Iterator[LiveServer]:
    problem = _redis_problem()
    if problem is not None:
        pytest.skip(problem)
    assert shutil.which(_taskgo()) is not None, f"{_taskgo()} is not installed"

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = _environment(clean_database, e2e_workdir, base_url)
    server_log = e2e_workdir / "serve.log"
    worker_log = e2e_workdir / "worker.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with server_log.open("wb") as server_out, worker_log.open("wb") as worker_out:
            server = subprocess.Popen(  # noqa: S603 - our own entry point and a port number
                [_taskgo(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=environment,
                cwd=e2e_workdir,
                stdout=server_out,
                stderr=subprocess.STDOUT,
            )
            processes.append(server)
            worker = subprocess.Popen(  # noqa: S603 - our own entry point
                [_taskgo(), "worker", "--concurrency", "4"],
                env=environment,
                cwd=e2e_workdir,
                stdout=worker_out,
                stderr=subprocess.STDOUT,
            )
            processes.append(worker)
        _wait_healthy(base_url, server, server_log)
        _wait_worker(clean_database, worker, worker_log)
        yield LiveServer(
            base_url=base_url,
            environment=environment,
            workdir=e2e_workdir,
            database_url=clean_database,
        )
    finally:
        for process in processes:
            _stop(process)
        # Shown by pytest only when a test of the module failed.
        print(f"--- serve.log ---\n{_tail(server_log)}\n--- worker.log ---\n{_tail(worker_log)}")
