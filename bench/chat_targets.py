"""Servers the chat bench measures: the TaskGo gateway (`taskgo serve`) and the Node relay."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType

import psycopg
from bench.chat_harness import Member, Room

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "bench" / "node"
# The project id that `AUTH_PROVIDER=dev` servers expect in token audiences.
DEV_PROJECT_ID = "taskgo-dev"


def _wait_http(url: str, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL
                if response.status < 500:
                    return
        except Exception as exc:
            last_error = exc
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not respond within {timeout:.0f} s: {last_error!r}")


def process_cpu_seconds(pids: list[int]) -> float:
    """Return the user plus system CPU time used so far by ``pids`` (exited ones count 0)."""
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields 14 and 15 of /proc/<pid>/stat (utime, stime); the split dropped 2 fields.
        total += int(fields[11]) + int(fields[12])
    return total / ticks_per_second


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class _Relay:
    """A relay server process on one loopback port, started by ``command``."""

    cwd = ROOT

    def __init__(self, *, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def __enter__(self) -> _Relay:
        self.process = subprocess.Popen(self.command(), cwd=self.cwd)  # noqa: S603 - fixed command
        _wait_http(f"{self.url}/socket.io/?EIO=4&transport=polling")
        return self

    def cpu_seconds(self) -> float:
        return process_cpu_seconds([self.process.pid] if self.process else [])

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process is not None:
            _stop(self.process)


class NodeRelay(_Relay):
    """`node bench/node/relay.js` on one loopback port; installs its packages if missing."""

    cwd = NODE_DIR

    def command(self) -> list[str]:
        if shutil.which("node") is None:
            raise RuntimeError("node is not installed; run only --targets python")
        if not (NODE_DIR / "node_modules" / "socket.io").exists():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"],  # noqa: S607 - fixed command
                cwd=NODE_DIR,
                check=True,
            )
        return ["node", "relay.js", str(self.port)]


class PythonRelay(_Relay):
    """`python -m bench.python_relay`: python-socketio relaying the chat's events, no storage."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.python_relay", str(self.port)]


class PythonGateway:
    """`taskgo serve` processes on a fresh database with bench users and conversations."""

    def __init__(
        self, *, database_server: str, processes: int, redis_url: str | None, base_port: int
    ) -> None:
        self.database_server = database_server
        self.processes = processes
        self.redis_url = redis_url
        self.ports = [base_port + index for index in range(processes)]
        self.database_name = f"taskgo_bench_{os.getpid()}_{secrets.token_hex(3)}"
        head, _, _ = database_server.rpartition("/")
        self.database_url = f"{head}/{self.database_name}"
        self.workdir = Path(tempfile.mkdtemp(prefix="taskgo-chat-bench-"))
        self.key_path = self.workdir / "dev-key.pem"
        self.servers: list[subprocess.Popen[bytes]] = []

    def _environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        environment.update(
            {
                "ENVIRONMENT": "test",
                "DATABASE_URL": self.database_url,
                "AUTH_PROVIDER": "dev",
                "DEV_SIGNING_KEY_PATH": str(self.key_path),
                "FIELD_ENCRYPTION_KEYS": "bench1:" + base64.b64encode(os.urandom(32)).decode(),
                "STORAGE_URL": f"file://{self.workdir / 'storage'}",
                "LOG_LEVEL": "WARNING",
                "LOG_JSON": "true",
                # The bench sends several messages per second per user, above the default
                # per-user limit of 1 per second with bursts of 20.
                "CHAT_RATE_BURST": "1000",
                "CHAT_RATE_PER_SECOND": "1000",
            }
        )
        environment.pop("REDIS_URL", None)
        if self.redis_url:
            environment["REDIS_URL"] = self.redis_url
        return environment

    def __enter__(self) -> PythonGateway:
        with psycopg.connect(self.database_server, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database_name}"')

        from taskgo.db.migrate import upgrade_to_head

        upgrade_to_head(self.database_url)

        # Created before the servers start: each would otherwise create its own key when
        # the file is missing, and tokens signed with one key fail on the other server.
        from taskgo.auth.dev import DevIssuer

        DevIssuer.load_or_create(self.key_path, project_id=DEV_PROJECT_ID)

        environment = self._environment()
        taskgo = str(ROOT / ".venv" / "bin" / "taskgo")
        for port in self.ports:
            self.servers.append(
                subprocess.Popen(  # noqa: S603 - our own entry point and a port number
                    [taskgo, "serve", "--host", "127.0.0.1", "--port", str(port)],
                    cwd=self.workdir,
                    env=environment,
                )
            )
        for port in self.ports:
            _wait_http(f"http://127.0.0.1:{port}/healthz")
        return self

    def cpu_seconds(self) -> float:
        """CPU time of the server processes and of PostgreSQL's backends for the database."""
        with psycopg.connect(self.database_server, autocommit=True) as admin:
            backends = [
                int(row[0])
                for row in admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.database_name,)
                )
            ]
        servers = [server.pid for server in self.servers]
        return process_cpu_seconds(servers) + process_cpu_seconds(backends)

    def server_cpu_seconds(self) -> float:
        return process_cpu_seconds([server.pid for server in self.servers])

    def seed_rooms(self, count: int) -> list[Room]:
        """Create a buyer, a seller and their order chat per room; return the rooms."""
        from taskgo.auth.dev import DevIssuer

        issuer = DevIssuer.load_or_create(self.key_path, project_id=DEV_PROJECT_ID)
        rooms: list[Room] = []
        with psycopg.connect(self.database_url, autocommit=False) as connection:
            for index in range(count):
                buyer_uid, seller_uid = f"bench-buyer-{index}", f"bench-seller-{index}"
                buyer_id, seller_id, conversation_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
                connection.execute(
                    "INSERT INTO users (id, firebase_uid, role, name) VALUES "
                    "(%s, %s, 'client', %s), (%s, %s, 'partner', %s)",
                    (
                        buyer_id,
                        buyer_uid,
                        f"Comprador {index}",
                        seller_id,
                        seller_uid,
                        f"Vendedor {index}",
                    ),
                )
                connection.execute(
                    "INSERT INTO conversations (id, type, purchase_id) "
                    "VALUES (%s, 'order_chat', %s)",
                    (conversation_id, uuid.uuid4()),
                )
                connection.execute(
                    "INSERT INTO conversation_participants (conversation_id, user_id, role) "
                    "VALUES (%s, %s, 'buyer'), (%s, %s, 'seller')",
                    (conversation_id, buyer_id, conversation_id, seller_id),
                )
                # With several processes the buyer and the seller use different ones, so every
                # delivery crosses Redis.
                buyer_url = f"http://127.0.0.1:{self.ports[0]}"
                seller_url = f"http://127.0.0.1:{self.ports[1 % len(self.ports)]}"
                members = (
                    Member(
                        url=buyer_url,
                        auth={
                            "token": issuer.issue(
                                uid=buyer_uid, role="client", name=f"Comprador {index}"
                            )
                        },
                    ),
                    Member(
                        url=seller_url,
                        auth={
                            "token": issuer.issue(
                                uid=seller_uid, role="partner", name=f"Vendedor {index}"
                            )
                        },
                    ),
                )
                rooms.append(Room(conversation_id=str(conversation_id), members=members))
            connection.commit()
        return rooms

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for server in self.servers:
            _stop(server)
        with psycopg.connect(self.database_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
        shutil.rmtree(self.workdir, ignore_errors=True)
