"""Service order dispatch benchmark: POST latency and fan-out time to 1,000 partners.

Every partner is verified, in Cascavel, serves `pintura`, has a connected Socket.IO client
and a device token. For each order the bench measures the time from the start of the
POST to the last `order_created` event received by a client, and to the last push that
the FCM stand-in accepted. Separately, with no worker running, it measures the POST
alone with 0, N and N + extra matching partners, to show the POST does not wait for the
fan-out.

    .venv/bin/python -m bench.service_order_dispatch --partners 1000 --rounds 5

Processes, all on 127.0.0.1: `taskgo serve`, `taskgo worker`, the FCM stand-in
(`tests/standins/fcm.py`, HTTP/2 over TLS) and this script with the socket clients.
PostgreSQL on :5432 (a fresh database is created and dropped) and Redis on :6379,
which carries the worker's emits to the server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import secrets
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import psycopg
import socketio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.standins.fcm import make_device_token  # noqa: E402

from taskgo.auth.dev import DevIssuer  # noqa: E402
from taskgo.db.migrate import upgrade_to_head  # noqa: E402

CASCAVEL = 4104808
CASCAVEL_FIX = {"lat": -24.9555, "lng": -53.4552}
DEV_PROJECT = "taskgo-dev"
GOAL_FANOUT_SECONDS = 1.0
GOAL_POST_P99_MS = 50.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


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
            [sys.executable, "-m", "tests.standins.fcm", "--project", "taskgo-bench"],
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

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
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


async def post_order(http: httpx.AsyncClient, token: str) -> tuple[float, str, int]:
    body = {"category": "pintura", "description": "Pintar a sala e dois quartos", **CASCAVEL_FIX}
    started = time.perf_counter()
    response = await http.post(
        "/api/service-orders", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 201:
        raise RuntimeError(
            f"POST /api/service-orders failed: {response.status_code} {response.text}"
        )
    return elapsed_ms, response.json()["id"], response.json()["notifiedPartners"]


async def measure_posts(stack: Stack, token: str, count: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
        for _ in range(10):
            await post_order(http, token)  # warm-up: connections, caches
        latencies = [(await post_order(http, token))[0] for _ in range(count)]
        matched = (await post_order(http, token))[2]
    reset_orders(stack.database_url)
    return {
        "matched": matched,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
    }


class Listeners:
    """One Socket.IO client per partner; records when each `order_created` arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrivals: defaultdict[str, list[float]] = defaultdict(list)
        self.complete: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.clients: list[socketio.AsyncClient] = []

    async def connect(self, url: str, tokens: list[str], *, batch: int = 50) -> None:
        for start in range(0, len(tokens), batch):
            chunk = tokens[start : start + batch]
            await asyncio.gather(*(self._connect_one(url, token) for token in chunk))

    async def _connect_one(self, url: str, token: str) -> None:
        client = socketio.AsyncClient(reconnection=False)

        @client.on("order_created")
        async def order_created(data: dict[str, Any]) -> None:
            arrivals = self.arrivals[data["serviceOrderId"]]
            arrivals.append(time.time())
            if len(arrivals) >= self.expected:
                self.complete[data["serviceOrderId"]].set()

        await client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=20)
        self.clients.append(client)

    async def wait(self, order_id: str, *, seconds: float) -> list[float]:
        try:
            async with asyncio.timeout(seconds):
                await self.complete[order_id].wait()
        except TimeoutError:
            print(f"only {len(self.arrivals[order_id])} order_created events arrived")
        return self.arrivals[order_id]

    async def close(self) -> None:
        await asyncio.gather(*(client.disconnect() for client in self.clients))


async def wait_pushes(
    stats_url: str, ca_file: str, expected: int, *, seconds: float
) -> dict[str, Any]:
    """Poll the stand-in until it accepted `expected` pushes in total, or time runs out."""
    context = ssl.create_default_context(cafile=ca_file)
    stats: dict[str, Any] = {}
    async with httpx.AsyncClient(verify=context, timeout=5) as http:
        try:
            async with asyncio.timeout(seconds):
                while not stats or stats["deliveries"] < expected:
                    stats = (await http.get(stats_url)).json()
                    await asyncio.sleep(0.01)
        except TimeoutError:
            print(f"only {stats.get('deliveries')} of {expected} pushes arrived")
    return stats


async def fanout_rounds(
    stack: Stack, token: str, listeners: Listeners, *, partners: int, rounds: int
) -> list[dict[str, float]]:
    """Fan out `rounds` orders one after another; the first, a warm-up (worker start,
    OAuth token, HTTP/2 connection), is left out of the results."""
    stats_url = f"{stack.fcm['baseUrl']}/_standin/stats"
    results = []
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
        for round_number in range(1, rounds + 2):
            started = time.time()
            post_ms, order_id, matched = await post_order(http, token)
            arrivals = await listeners.wait(order_id, seconds=30)
            stats = await wait_pushes(
                stats_url, stack.fcm["caFile"], round_number * partners, seconds=60
            )
            if round_number == 1:
                await asyncio.sleep(2)
                continue
            results.append(
                {
                    "post_ms": post_ms,
                    "matched": matched,
                    "events": len(arrivals),
                    "event_p50_s": statistics.median(arrivals) - started if arrivals else -1,
                    "event_last_s": max(arrivals) - started if arrivals else -1,
                    "pushes": stats.get("deliveries", 0) - (round_number - 1) * partners,
                    "push_last_s": (stats.get("lastAcceptedAt") or started) - started,
                    "http_versions": ",".join(stats.get("httpVersions", [])),
                }
            )
            await asyncio.sleep(2)
    return results


async def run(arguments: argparse.Namespace) -> None:
    load_before = os.getloadavg()[0]
    stack = Stack(server_url=arguments.database, port=arguments.port, redis_url=arguments.redis)
    try:
        stack.start_fcm()
        await asyncio.to_thread(stack.create_database)
        issuer = DevIssuer.load_or_create(stack.key_path, project_id=DEV_PROJECT)
        customer = make_client(stack.database_url)
        client_token = issuer.issue(uid=customer["uid"], role="client", name="Cliente")

        stack.start("server", ["serve", "--port", str(arguments.port)])
        stack.wait_ready()

        post_rows = []
        quiet = await measure_posts(stack, client_token, arguments.posts)
        post_rows.append(quiet)
        partners = seed_users(stack.database_url, partners=arguments.partners, with_devices=True)
        post_rows.append(await measure_posts(stack, client_token, arguments.posts))
        extra = seed_users(stack.database_url, partners=arguments.extra, with_devices=False)
        post_rows.append(await measure_posts(stack, client_token, arguments.posts))
        delete_users(stack.database_url, extra)

        listeners = Listeners(arguments.partners)
        tokens = [
            issuer.issue(uid=row["uid"], role="partner", name="Parceiro", ttl_seconds=7200)
            for row in partners
        ]
        connect_started = time.perf_counter()
        await listeners.connect(stack.api, tokens)
        connect_s = time.perf_counter() - connect_started

        for index in range(arguments.worker_processes):
            stack.start(f"worker-{index}", ["worker", "--concurrency", str(arguments.concurrency)])
        await asyncio.sleep(3)
        rounds = await fanout_rounds(
            stack, client_token, listeners, partners=arguments.partners, rounds=arguments.rounds
        )
        await listeners.close()
        report(arguments, post_rows, rounds, connect_s, load_before=load_before)
    finally:
        stack.close()


def report(
    arguments: argparse.Namespace,
    post_rows: list[dict[str, float]],
    rounds: list[dict[str, float]],
    connect_s: float,
    *,
    load_before: float,
) -> None:
    out = io.StringIO()
    out.write(
        f"{os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after the run; {arguments.worker_processes} worker "
        f"process(es), {arguments.concurrency} jobs each.\n\n"
    )
    out.write(f"POST /api/service-orders alone (no worker), {arguments.posts} requests each:\n\n")
    out.write("| matching partners | p50 ms | p99 ms | max ms |\n| --- | --- | --- | --- |\n")
    for row in post_rows:
        out.write(
            f"| {row['matched']:,.0f} | {row['p50']:.1f} | {row['p99']:.1f} | {row['max']:.1f} |\n"
        )
    out.write(
        f"\nFan-out to {arguments.partners:,} partners ({connect_s:.1f} s to connect the sockets), "
        f"times from the start of the POST:\n\n"
    )
    out.write(
        "| round | POST ms | events | median event s | last event s | pushes | last push s |"
        " HTTP |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    for index, row in enumerate(rounds, start=1):
        out.write(
            f"| {index} | {row['post_ms']:.1f} | {row['events']:.0f} | {row['event_p50_s']:.3f} | "
            f"{row['event_last_s']:.3f} | {row['pushes']:.0f} | {row['push_last_s']:.3f} | "
            f"{row['http_versions']} |\n"
        )
    last_events = [row["event_last_s"] for row in rounds]
    last_pushes = [row["push_last_s"] for row in rounds]
    out.write(
        f"\nMedian over rounds: last event {statistics.median(last_events):.3f} s, last push "
        f"{statistics.median(last_pushes):.3f} s (goal {GOAL_FANOUT_SECONDS:.1f} s); "
        f"POST p99 goal {GOAL_POST_P99_MS:.0f} ms.\n"
    )
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=1000, help="partners with sockets")
    parser.add_argument(
        "--extra",
        type=int,
        default=9000,
        help="more matching partners, without sockets, for the POST-only run",
    )
    parser.add_argument("--rounds", type=int, default=5, help="orders fanned out")
    parser.add_argument("--posts", type=int, default=200, help="POSTs per POST-only run")
    parser.add_argument("--concurrency", type=int, default=8, help="jobs at once per worker")
    parser.add_argument("--worker-processes", type=int, default=1, help="`taskgo worker` processes")
    parser.add_argument("--port", type=int, default=8765, help="API port on 127.0.0.1")
    parser.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server (a bench database is created on it)",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL")
    arguments = parser.parse_args()
    for url in (arguments.database, arguments.redis):
        host = httpx.URL(
            url.replace("postgresql://", "http://").replace("redis://", "http://")
        ).host
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error(f"only loopback servers are allowed, not {host}")
    asyncio.run(run(arguments))


if __name__ == "__main__":
    main()
