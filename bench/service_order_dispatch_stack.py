"""The processes and data behind the service order dispatch benchmark.

A fresh database on the given PostgreSQL server, the FCM stand-in in its own process,
`taskgo serve` and `taskgo worker` configured to use both, and bulk-loaded partners.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from tests.standins.fcm import make_device_token

from taskgo.auth.dev import DevIssuer
from taskgo.db.migrate import upgrade_to_head

ROOT = Path(__file__).resolve().parents[1]
CASCAVEL = 4104808
DEV_PROJECT = "taskgo-dev"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Stack:
    """The database, the FCM stand-in, the API server and the worker of one bench run."""

    def __init__(self, *, server_url: str, port: int, redis_url: str) -> None:
        self.server_url = server_url
        self.port = port
        self.redis_url = redis_url
        self.database = f"taskgo_bench_dispatch_{os.getpid()}_{secrets.token_hex(3)}"
        head, _, _ = server_url.rpartition("/")
        self.database_url = f"{head}/{self.database}"
        self.workdir = Path(tempfile.mkdtemp(prefix="taskgo-dispatch-bench-"))
        self.key_path = self.workdir / "dev-key.pem"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.fcm: dict[str, Any] = {}

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        key_file = self.workdir / "fcm-key.json"
        key_file.write_text(json.dumps(self.fcm["serviceAccountInfo"]))
        environment = dict(os.environ)
        environment.update(
            {
                "ENVIRONMENT": "test",
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "AUTH_PROVIDER": "dev",
                "DEV_SIGNING_KEY_PATH": str(self.key_path),
                "FIELD_ENCRYPTION_KEYS": "bench1:" + base64.b64encode(os.urandom(32)).decode(),
                "STORAGE_URL": f"file://{self.workdir / 'storage'}",
                "LOG_LEVEL": "WARNING",
                "LOG_JSON": "true",
                "PUSH_PROVIDER": "fcm",
                "FCM_SERVICE_ACCOUNT_FILE": str(key_file),
                "FCM_BASE_URL": self.fcm["baseUrl"],
                "FCM_CA_FILE": self.fcm["caFile"],
            }
        )
        return environment

    def create_database(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        upgrade_to_head(self.database_url)
        DevIssuer.load_or_create(self.key_path, project_id=DEV_PROJECT)

    def start_fcm(self) -> None:
        process = subprocess.Popen(
            # The lean server: hypercorn's own HTTP/2 scheduling would be what gets timed.
            [
                sys.executable,
                "-m",
                "tests.standins.fcm",
                "--project",
                "taskgo-bench",
                "--server",
                "lean",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.processes["fcm"] = process
        assert process.stdout is not None
        self.fcm = json.loads(process.stdout.readline())

    def start(self, name: str, arguments: list[str]) -> None:
        taskgo = str(Path(sys.executable).with_name("taskgo"))
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our own CLI
            [taskgo, *arguments], cwd=ROOT, env=self.environment()
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # A server of someone else on the port would answer too; ours must be alive.
            if self.processes["server"].poll() is not None:
                raise RuntimeError(f"`taskgo serve` exited; is port {self.port} taken?")
            try:
                if httpx.get(f"{self.api}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API at {self.api} did not start within {timeout:.0f} s")

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def close(self, *, drop_database: bool = True) -> None:
        for name in list(self.processes):
            self.stop(name)
        if not drop_database:
            return
        with psycopg.connect(self.server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def seed_users(database_url: str, *, partners: int, with_devices: bool) -> list[dict[str, str]]:
    """Insert verified painters in Cascavel (and their tokens) with COPY; return them."""
    rows = [
        {"id": str(uuid.uuid4()), "uid": f"bench-partner-{uuid.uuid4().hex[:16]}"}
        for _ in range(partners)
    ]
    with psycopg.connect(database_url) as connection, connection.cursor() as cursor:
        with cursor.copy(
            "COPY users (id, firebase_uid, role, name, locale, current_city_id, "
            "verification_status) FROM STDIN"
        ) as copy:
            for index, row in enumerate(rows):
                copy.write_row(
                    (
                        row["id"],
                        row["uid"],
                        "partner",
                        f"Parceiro {index}",
                        "pt_BR",
                        CASCAVEL,
                        "verified",
                    )
                )
        with cursor.copy("COPY partner_categories (partner_id, category_slug) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((row["id"], "pintura"))
        if with_devices:
            with cursor.copy(
                "COPY device_tokens (id, user_id, token, platform) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row((str(uuid.uuid4()), row["id"], make_device_token(), "android"))
    with psycopg.connect(database_url, autocommit=True) as connection:
        # Fresh statistics, as autovacuum keeps them in production. Without them, the
        # planner can pick a poor plan for the partner count right after the bulk load.
        connection.execute("ANALYZE users, partner_categories, device_tokens")
    return rows


def delete_users(database_url: str, rows: list[dict[str, str]]) -> None:
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "DELETE FROM users WHERE id = ANY(%s)", ([uuid.UUID(row["id"]) for row in rows],)
        )


def reset_orders(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        connection.execute("DELETE FROM procrastinate_jobs")
        connection.execute("DELETE FROM service_orders")


def make_client(database_url: str) -> dict[str, str]:
    row = {"id": str(uuid.uuid4()), "uid": f"bench-client-{uuid.uuid4().hex[:16]}"}
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "INSERT INTO users (id, firebase_uid, role, name) VALUES (%s, %s, 'client', 'Cliente')",
            (row["id"], row["uid"]),
        )
    return row
