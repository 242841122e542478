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
import io
import logging
import os
import resource
import ssl
import statistics
import time
from collections import defaultdict
from typing import Any

import httpx
import socketio
import structlog
from bench.results import Recorder, column, goal, module_command, shortened, table
from bench.service_order_dispatch_stack import (
    DEV_PROJECT,
    Stack,
    delete_users,
    free_port,
    make_client,
    reset_orders,
    seed_users,
)
from tests.standins.fcm import make_device_token

from taskgo.auth.dev import DevIssuer
from taskgo.notifications.client import FcmConfig, FcmSender
from taskgo.notifications.push import PushMessage, PushOutcome

CASCAVEL_FIX = {"lat": -24.9555, "lng": -53.4552}
GOAL_FANOUT_SECONDS = 1.0
GOAL_POST_P99_MS = 50.0
MODULE = "bench.service_order_dispatch"
# The stored result of `--sender-only`, shown in the same section of docs/benchmarks.md.
SENDER_ONLY = "service_order_dispatch.sender_only"
# Below any of these the run is stored as a quick one, not as the benchmark's result.
FULL = {"partners": 1000, "extra": 9000, "rounds": 5, "posts": 200}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


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
                    # Times come from the stand-in's own clock, so polling slowly loses
                    # no precision and leaves the stand-in's CPU to the pushes.
                    await asyncio.sleep(0.1)
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
                f"{stats_url}?since={(round_number - 1) * partners}",
                stack.fcm["caFile"],
                round_number * partners,
                seconds=60,
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
                    "push_first_s": (stats.get("firstAcceptedAt") or started) - started,
                    "push_last_s": (stats.get("lastAcceptedAt") or started) - started,
                    "http_versions": ",".join(stats.get("httpVersions", [])),
                }
            )
            await asyncio.sleep(2)
    return results


async def measure_sender(stack: Stack, *, count: int, rounds: int = 3) -> list[dict[str, float]]:
    """Send `count` pushes from this process straight to the stand-in with the FCM sender,
    to tell the sender's CPU time apart from the rest of the pipeline."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sender = FcmSender(
        FcmConfig(
            project_id=stack.fcm["projectId"],
            service_account_info=stack.fcm["serviceAccountInfo"],
            base_url=stack.fcm["baseUrl"],
            ca_file=stack.fcm["caFile"],
        )
    )
    messages = [
        PushMessage(
            key=str(index),
            token=make_device_token(),
            title="Nova ordem de serviço: Pintura em Cascavel",
            body="Pintar a sala e dois quartos",
            data={"serviceOrderId": "8d0c8d9e", "kind": "order_created"},
        )
        for index in range(count)
    ]
    results = []
    try:
        await sender.send(messages[:10])  # warm-up: access token, HTTP/2 connection
        for _ in range(rounds):
            before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            sent = await sender.send(messages)
            after = resource.getrusage(resource.RUSAGE_SELF)
            user_s = after.ru_utime - before.ru_utime
            system_s = after.ru_stime - before.ru_stime
            delivered = sum(result.outcome is PushOutcome.DELIVERED for result in sent)
            results.append(
                {
                    "elapsed_s": time.perf_counter() - started,
                    "cpu_s": user_s + system_s,
                    "delivered": delivered,
                }
            )
    finally:
        await sender.aclose()
    return results


async def run_sender_only(arguments: argparse.Namespace) -> None:
    recorder = Recorder(SENDER_ONLY, module_command(MODULE), title="FCM sender alone")
    stack = Stack(server_url=arguments.database, port=0, redis_url=arguments.redis)
    try:
        stack.start_fcm()
        load_before = os.getloadavg()[0]
        rows = await measure_sender(stack, count=arguments.partners)
    finally:
        stack.close(drop_database=False)
    print(
        f"{os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after. FCM sender alone, {arguments.partners:,} pushes:\n"
    )
    print("| run | delivered | elapsed s | sender CPU s |\n| --- | --- | --- | --- |")
    for index, row in enumerate(rows, start=1):
        print(f"| {index} | {row['delivered']:.0f} | {row['elapsed_s']:.2f} | {row['cpu_s']:.2f} |")
    recorder.finish(
        figures={"runs": rows},
        tables=[sender_table(rows, arguments.partners)],
        goals=[],
        quick=arguments.partners < FULL["partners"],
    )


async def run(arguments: argparse.Namespace) -> None:
    recorder = Recorder(MODULE.removeprefix("bench."), module_command(MODULE))
    load_before = os.getloadavg()[0]
    port = arguments.port or free_port()
    stack = Stack(server_url=arguments.database, port=port, redis_url=arguments.redis)
    try:
        stack.start_fcm()
        await asyncio.to_thread(stack.create_database)
        issuer = DevIssuer.load_or_create(stack.key_path, project_id=DEV_PROJECT)
        customer = make_client(stack.database_url)
        client_token = issuer.issue(uid=customer["uid"], role="client", name="Cliente")

        stack.start("server", ["serve", "--port", str(port)])
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
        recorder.finish(
            **result(post_rows, rounds, partners=arguments.partners, connect_s=connect_s),
            quick=bool(shortened(vars(arguments), FULL)),
        )
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
        "| round | POST ms | events | median event s | last event s | pushes | first push s |"
        " last push s | HTTP |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    for index, row in enumerate(rounds, start=1):
        out.write(
            f"| {index} | {row['post_ms']:.1f} | {row['events']:.0f} | {row['event_p50_s']:.3f} | "
            f"{row['event_last_s']:.3f} | {row['pushes']:.0f} | {row['push_first_s']:.3f} | "
            f"{row['push_last_s']:.3f} | "
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


def sender_table(rows: list[dict[str, float]], pushes: int) -> dict[str, Any]:
    return table(
        f"The FCM sender alone, {pushes:,} pushes from this process to the stand-in:",
        [
            column("run", "d"),
            column("delivered", ",.0f"),
            column("elapsed s", ".2f"),
            column("sender CPU s", ".2f"),
        ],
        [
            [index, row["delivered"], row["elapsed_s"], row["cpu_s"]]
            for index, row in enumerate(rows, start=1)
        ],
    )


def result(
    post_rows: list[dict[str, float]],
    rounds: list[dict[str, Any]],
    *,
    partners: int,
    connect_s: float,
) -> dict[str, Any]:
    """Build the stored result: figures, tables, and the fan-out and POST latency goals."""
    posts = table(
        "POST /api/service-orders alone (no worker):",
        [column("matching partners", ",.0f")]
        + [column(f"{name} ms", ".1f") for name in ("p50", "p99", "max")],
        [[row["matched"], row["p50"], row["p99"], row["max"]] for row in post_rows],
    )
    keys = ("post_ms", "events", "event_p50_s", "event_last_s", "pushes", "push_first_s",
            "push_last_s", "http_versions")  # fmt: skip
    fanout = table(
        f"Fan-out to {partners:,} partners, one order at a time after a warm-up order "
        f"({connect_s:.1f} s to connect the sockets); times from the start of the POST:",
        [
            column("order", "d"),
            column("POST ms", ".1f"),
            column("events", ",.0f"),
            column("median event s", ".3f"),
            column("last event s", ".3f"),
            column("pushes", ",.0f"),
            column("first push s", ".3f"),
            column("last push s", ".3f"),
            column("HTTP"),
        ],
        [[index, *(row[key] for key in keys)] for index, row in enumerate(rounds, start=1)],
    )
    goals = [
        fanout_goal("last `order_created`", [row["event_last_s"] for row in rounds], partners),
        fanout_goal("last push accepted", [row["push_last_s"] for row in rounds], partners),
        goal(
            "POST p99, at any partner count",
            issue="#5",
            measured=max(row["p99"] for row in post_rows),
            target=GOAL_POST_P99_MS,
            op="<=",
            unit="ms",
            detail="p99 at "
            + ", ".join(f"{row['matched']:,.0f}: {row['p99']:.1f} ms" for row in post_rows),
        ),
    ]
    missing = [
        f"order {index} reached {row['events']:,} sockets and {row['pushes']:,} devices "
        f"of {partners:,}"
        for index, row in enumerate(rounds, start=1)
        if row["events"] < partners or row["pushes"] < partners
    ]
    return {
        "figures": {"posts": post_rows, "fanout": rounds, "connect_s": connect_s},
        "tables": [posts, fanout],
        "goals": goals,
        "notes": missing or [f"Every order reached all {partners:,} sockets and devices."],
    }


def fanout_goal(name: str, seconds: list[float], partners: int) -> dict[str, Any]:
    """Judge a fan-out goal on the slowest order, and show the median and orders within it."""
    within = sum(value <= GOAL_FANOUT_SECONDS for value in seconds)
    return goal(
        f"{name}, {partners:,} partners, slowest order",
        issue="#5",
        measured=max(seconds),
        target=GOAL_FANOUT_SECONDS,
        op="<=",
        unit="s",
        detail=f"median {statistics.median(seconds):.2f} s; {within} of {len(seconds)} "
        f"orders within {GOAL_FANOUT_SECONDS:.0f} s",
    )


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
    parser.add_argument(
        "--port", type=int, default=0, help="API port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server (a bench database is created on it)",
    )
    parser.add_argument(
        "--sender-only",
        action="store_true",
        help="only time the FCM sender against the stand-in (no database, API or worker)",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL")
    arguments = parser.parse_args()
    for url in (arguments.database, arguments.redis):
        host = httpx.URL(
            url.replace("postgresql://", "http://").replace("redis://", "http://")
        ).host
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error(f"only loopback servers are allowed, not {host}")
    asyncio.run(run_sender_only(arguments) if arguments.sender_only else run(arguments))


if __name__ == "__main__":
    main()
