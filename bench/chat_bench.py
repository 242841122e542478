"""Chat delivery benchmark: the TaskGo Socket.IO gateway against a Node socket.io relay.

1,000 sockets in 500 two-person rooms. Messages are sent at fixed total rates (open loop),
and the time from `send_message` to the other member's `new_message` is measured. The
Python target stores every message in PostgreSQL before it is delivered; the Node relay
only forwards it. Both are driven by the same harness (chat_harness.py).

    .venv/bin/python -m bench.chat_bench --targets python,node

Everything runs on 127.0.0.1: PostgreSQL on :5432 (a fresh database is created and
dropped), Redis on :6379 only with --python-processes above 1.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.chat_harness import Member, Room, Step, StepResult, worker_main
from bench.chat_targets import NodeRelay, PythonGateway, PythonRelay, process_cpu_seconds
from bench.results import Recorder, column, goal, module_command, shortened, table

# Relays that only forward events, each on its own loopback port.
RELAYS = {"node": NodeRelay, "python-relay": PythonRelay}
RELAY_PORTS = {"node": 3100, "python-relay": 3200}

ROOT = Path(__file__).resolve().parents[1]
P95_LIMIT_MS = 20.0
GOAL_RATIO = 0.5
# Below any of these, or without both targets, the run is stored as a quick one.
FULL = {"rooms": 500, "duration": 15.0}
# A step holds when at least this share of the sent messages arrived before the drain ended.
MIN_DELIVERED_SHARE = 0.999


@dataclass
class StepSummary:
    target: str
    offered_rate: float
    sent: int
    delivered: int
    delivered_per_second: float
    send_seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    ack_p95_ms: float
    duplicates: int
    ack_errors: dict[str, int]
    held: bool
    # CPU milliseconds per delivered message: the server processes alone, and together with
    # PostgreSQL's backends (equal for Node, which stores nothing).
    server_cpu_ms: float
    total_cpu_ms: float
    # The same for the harness processes, which share the machine with the server.
    harness_cpu_ms: float
    # Share of all CPUs of the machine that was busy during the step (0 to 1). Near 1, the
    # server, PostgreSQL and the harness were competing for CPU time.
    machine_busy: float
    # 1-minute load average when the step started: other work on the machine skews results.
    load_average: float


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class CpuProbe:
    server: Callable[[], float]
    total: Callable[[], float]


def machine_cpu_times() -> tuple[float, float]:
    """Return (busy, all) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    everything = sum(fields[:8])
    busy = everything - fields[3] - fields[4]
    return busy / ticks, everything / ticks


def summarize(
    target: str,
    rate: float,
    duration: float,
    results: list[StepResult],
    *,
    server_cpu: float,
    total_cpu: float,
    harness_cpu: float,
    machine_busy: float,
    load_average: float,
) -> StepSummary:
    latencies = [value for result in results for value in result.latencies_ms]
    acks = [value for result in results for value in result.ack_latencies_ms]
    sent = sum(result.sent for result in results)
    delivered = sum(result.delivered for result in results)
    errors: dict[str, int] = {}
    for result in results:
        for code, count in result.ack_errors.items():
            errors[code] = errors.get(code, 0) + count
    p95 = percentile(latencies, 0.95)
    held = sent > 0 and delivered >= MIN_DELIVERED_SHARE * sent and p95 <= P95_LIMIT_MS
    return StepSummary(
        target=target,
        offered_rate=rate,
        sent=sent,
        delivered=delivered,
        delivered_per_second=delivered / duration,
        send_seconds=max((result.send_seconds for result in results), default=0.0),
        p50_ms=percentile(latencies, 0.50),
        p95_ms=p95,
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies, default=float("nan")),
        ack_p95_ms=percentile(acks, 0.95),
        duplicates=sum(result.duplicates for result in results),
        ack_errors=errors,
        held=held and not errors,
        server_cpu_ms=1000 * server_cpu / max(delivered, 1),
        total_cpu_ms=1000 * total_cpu / max(delivered, 1),
        harness_cpu_ms=1000 * harness_cpu / max(delivered, 1),
        machine_busy=machine_busy,
        load_average=load_average,
    )


def run_target(
    name: str,
    rooms: list[Room],
    *,
    rates: list[float],
    duration: float,
    drain: float,
    harness_processes: int,
    cpu: CpuProbe,
) -> list[StepSummary]:
    context = multiprocessing.get_context("spawn")
    results_queue = context.Queue()
    command_queues = [context.Queue() for _ in range(harness_processes)]
    shares = [rooms[index::harness_processes] for index in range(harness_processes)]
    processes = [
        context.Process(
            target=worker_main, args=(index, shares[index], command_queues[index], results_queue)
        )
        for index in range(harness_processes)
    ]
    for process in processes:
        process.start()

    summaries: list[StepSummary] = []
    try:
        sockets = 0
        for _ in processes:
            kind, worker_id, payload = results_queue.get(timeout=300)
            if kind == "error":
                raise RuntimeError(f"harness worker {worker_id} failed to connect: {payload}")
            sockets += payload
        print(f"[{name}] {sockets} sockets connected and joined", flush=True)
        time.sleep(2)

        failures = 0
        for rate in rates:
            start_ns = time.monotonic_ns() + 1_000_000_000
            load_average = os.getloadavg()[0]
            server_before, total_before = cpu.server(), cpu.total()
            harness_pids = [process.pid for process in processes if process.pid is not None]
            harness_before = process_cpu_seconds(harness_pids)
            busy_before, all_before = machine_cpu_times()
            for index, queue in enumerate(command_queues):
                share = rate * len(shares[index]) / len(rooms)
                queue.put(
                    ("step", Step(rate=share, start_ns=start_ns, duration=duration, drain=drain))
                )
            step_results = [results_queue.get(timeout=duration + drain + 120)[2] for _ in processes]
            busy_after, all_after = machine_cpu_times()
            summary = summarize(
                name,
                rate,
                duration,
                step_results,
                server_cpu=cpu.server() - server_before,
                total_cpu=cpu.total() - total_before,
                harness_cpu=process_cpu_seconds(harness_pids) - harness_before,
                machine_busy=(busy_after - busy_before) / max(all_after - all_before, 1e-9),
                load_average=load_average,
            )
            summaries.append(summary)
            print(
                f"[{name}] rate {rate:>7.0f}/s delivered {summary.delivered_per_second:>8.1f}/s "
                f"p50 {summary.p50_ms:6.2f} p95 {summary.p95_ms:7.2f} p99 {summary.p99_ms:7.2f} ms "
                f"ack p95 {summary.ack_p95_ms:7.2f} ms dup {summary.duplicates} "
                f"errors {summary.ack_errors} cpu/msg {summary.server_cpu_ms:.2f} ms "
                f"(+db {summary.total_cpu_ms:.2f}) harness {summary.harness_cpu_ms:.2f} ms "
                f"machine busy {summary.machine_busy:.0%} load {summary.load_average:.1f} "
                f"{'held' if summary.held else 'NOT held'}",
                flush=True,
            )
            # Two failed steps in a row end the ramp; one may be a transient stall.
            failures = 0 if summary.held else failures + 1
            if failures == 2:
                break
            time.sleep(2)
    finally:
        for queue in command_queues:
            queue.put(("stop",))
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    return summaries


def markdown_table(steps: list[dict[str, Any]]) -> str:
    """Render the step summaries as the table kept in docs/benchmarks.md."""
    lines = [
        "| target | offered msg/s | delivered msg/s | p50 ms | p95 ms | p99 ms | ack p95 ms "
        "| server CPU ms/msg | with PostgreSQL | harness CPU ms/msg | machine busy | load "
        "| held |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| --- |",
    ]
    for step in steps:
        lines.append(
            f"| {step['target']} | {step['offered_rate']:,.0f} | "
            f"{step['delivered_per_second']:,.0f} | {step['p50_ms']:.1f} | {step['p95_ms']:.1f} | "
            f"{step['p99_ms']:.1f} | {step['ack_p95_ms']:.1f} | {step['server_cpu_ms']:.2f} | "
            f"{step['total_cpu_ms']:.2f} | {step['harness_cpu_ms']:.2f} | "
            f"{step['machine_busy']:.0%} | {step['load_average']:.1f} | "
            f"{'yes' if step['held'] else 'no'} |"
        )
    return "\n".join(lines)


def highest_held(summaries: list[StepSummary]) -> StepSummary | None:
    held = [summary for summary in summaries if summary.held]
    return max(held, key=lambda summary: summary.delivered_per_second, default=None)


def node_rooms(url: str, count: int) -> list[Room]:
    rooms = []
    for index in range(count):
        members = (
            Member(url=url, auth={"token": f"bench-buyer-{index}"}),
            Member(url=url, auth={"token": f"bench-seller-{index}"}),
        )
        rooms.append(Room(conversation_id=str(uuid.uuid4()), members=members))
    return rooms


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--targets",
        default="python,node,python-relay",
        help="Comma-separated targets to run, in order: python, node, python-relay (the same "
        "relay as node's on python-socketio, for comparison).",
    )
    parser.add_argument("--rooms", type=int, default=500, help="Two-person rooms (sockets = 2x).")
    parser.add_argument(
        "--rates",
        default="125,250,500,750,1000,1500,2000,2500,3000,3500,4000,5000,6000,8000,10000,"
        "12000,14000,16000,20000,24000,28000,32000,40000",
        help="Total messages per second of each step, comma-separated.",
    )
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds per rate step.")
    parser.add_argument(
        "--drain", type=float, default=5.0, help="Seconds to wait for late deliveries after a step."
    )
    parser.add_argument(
        "--harness-processes",
        type=int,
        default=2,
        help="Load-generating processes sharing the rooms.",
    )
    parser.add_argument(
        "--python-processes",
        type=int,
        default=1,
        help="taskgo serve processes; above 1 they share Redis and the buyer "
        "and seller of a room use different processes.",
    )
    parser.add_argument(
        "--database-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server on which a bench database is created and dropped.",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="Redis for --python-processes above 1.",
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="Write the step summaries as JSON to this file."
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rates = [float(value) for value in args.rates.split(",") if value]
    targets = [value.strip() for value in args.targets.split(",") if value.strip()]
    recorder = Recorder("chat_bench", module_command("bench.chat_bench"), tools=("node",))
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "bench.chat_bench", *sys.argv[1:]]),
        "cpus": os.cpu_count(),
        "node": subprocess.run(
            ["node", "--version"],  # noqa: S607 - fixed command
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "rooms": args.rooms,
        "duration": args.duration,
        "python_processes": args.python_processes,
        "harness_processes": args.harness_processes,
        "steps": [],
    }

    for target in targets:
        with ExitStack() as stack:
            if target in RELAYS:
                relay = stack.enter_context(RELAYS[target](port=RELAY_PORTS[target]))
                rooms = node_rooms(relay.url, args.rooms)
                cpu = CpuProbe(server=relay.cpu_seconds, total=relay.cpu_seconds)
            elif target == "python":
                gateway = stack.enter_context(
                    PythonGateway(
                        database_server=args.database_server,
                        processes=args.python_processes,
                        redis_url=args.redis_url if args.python_processes > 1 else None,
                        base_port=8100,
                    )
                )
                rooms = gateway.seed_rooms(args.rooms)
                cpu = CpuProbe(server=gateway.server_cpu_seconds, total=gateway.cpu_seconds)
            else:
                raise SystemExit(f"unknown target {target!r}; use python, node or python-relay")

            summaries = run_target(
                target,
                rooms,
                rates=rates,
                duration=args.duration,
                drain=args.drain,
                harness_processes=args.harness_processes,
                cpu=cpu,
            )
            report["steps"].extend(asdict(summary) for summary in summaries)
            best = highest_held(summaries)
            report[f"{target}_highest_held"] = asdict(best) if best else None

    print(markdown_table(report["steps"]))
    python_best = report.get("python_highest_held")
    node_best = report.get("node_highest_held")
    if python_best and node_best:
        ratio = python_best["delivered_per_second"] / node_best["delivered_per_second"]
        report["python_to_node_ratio"] = ratio
        print(f"python/node delivered messages per second at p95 <= {P95_LIMIT_MS} ms: {ratio:.2f}")
    if args.output is not None:
        args.output.write_text(json.dumps(report, indent=2))
    recorder.finish(
        **result(report),
        quick=bool(shortened(vars(args), FULL)) or not {"python", "node"} <= set(targets),
    )
    return 0


def result(report: dict[str, Any]) -> dict[str, Any]:
    """Build the stored result: every step, and the goal of half the relay's held rate."""
    columns = [
        column("target"),
        column("offered msg/s", ",.0f"),
        column("delivered msg/s", ",.0f"),
        *(column(f"{name} ms", ",.1f") for name in ("p50", "p95", "p99", "ack p95")),
        column("server CPU ms/msg", ".2f"),
        column("with PostgreSQL", ".2f"),
        column("harness CPU ms/msg", ".2f"),
        column("machine busy", ".0%"),
        column("load", ".1f"),
        column("held"),
    ]
    keys = ("target", "offered_rate", "delivered_per_second", "p50_ms", "p95_ms", "p99_ms",
            "ack_p95_ms", "server_cpu_ms", "total_cpu_ms", "harness_cpu_ms", "machine_busy",
            "load_average", "held")  # fmt: skip
    steps = table(
        f"{report['rooms']:,} two-person rooms, {report['duration']:g} s per step; the load "
        "column is the 1-minute load average when the step started:",
        columns,
        [[step[key] for key in keys] for step in report["steps"]],
    )
    best = {name: report.get(f"{name}_highest_held") for name in ("python", "node", *RELAYS)}
    highest = {}
    for name, step in best.items():
        if step is None:
            highest[name] = "no rate held"
            continue
        highest[name] = f"{step['delivered_per_second']:,.0f} msg/s (p95 {step['p95_ms']:.1f} ms)"
        offered = [row["offered_rate"] for row in report["steps"] if row["target"] == name]
        if step["offered_rate"] == max(offered):
            # The ramp ran out of steps, so this is a lower bound of what the target holds.
            highest[name] += ", the highest step offered"
    return {
        "figures": report,
        "baseline": {"node": best["node"]},
        "tables": [steps],
        "goals": [
            goal(
                f"ours ÷ Node, delivered msg/s at p95 ≤ {P95_LIMIT_MS:.0f} ms",
                issue="#6",
                measured=report.get("python_to_node_ratio"),
                target=GOAL_RATIO,
                op=">=",
                detail=f"highest rate held: ours {highest['python']}, Node {highest['node']}",
            )
        ],
        "notes": [
            f"A rate is held when at least {MIN_DELIVERED_SHARE:.1%} of the messages arrive "
            f"and the delivery p95 is at most {P95_LIMIT_MS:.0f} ms.",
            *(
                [
                    "python-relay is the Node relay's logic on python-socketio and the gateway's "
                    f"stack, without storage; highest rate held: {highest['python-relay']}."
                ]
                if "python-relay_highest_held" in report
                else []
            ),
        ],
    }


if __name__ == "__main__":
    raise SystemExit(main())
