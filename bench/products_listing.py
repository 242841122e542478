"""Products listing benchmark: `GET /api/products` for a city with 20,000 products.

One run, all on 127.0.0.1. A fresh database on the local PostgreSQL gets every municipality
from the migrations, 20,000 active products in Cascavel, 100 in each of 300 other cities,
drafts, deleted products and photo rows. Then three targets are measured:

(a) our endpoint: `taskgo serve`, one uvicorn process, dev auth, a token per client.
(b) the baseline: Starlette + asyncpg running the same statements (bench/products_bare.py),
    and its page-only route, which runs the page query alone (no auth, no GPS fix).
(c) pgbench with those statements: the page alone, and the whole request transaction.

Peak requests/s comes from closed-loop wrk runs at a few connection counts; then our endpoint
runs at 80 % of its peak on a fixed schedule and its p50/p95/p99 are reported. Goals: ours
≥ 0.5 × the baseline's requests/s, p99 ≤ 30 ms at 80 % of peak. By default the servers run
on CPU 1 and wrk/pgbench on CPU 0; PostgreSQL is not ours to pin and floats on both.

Afterwards a CPU breakdown per stage of the request runs in one process
(bench/products_breakdown.py), and with --profile py-spy samples our server at its peak.

    .venv/bin/python -m bench.products_listing            # about 9 minutes
    .venv/bin/python -m bench.products_listing --quick    # shorter runs, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.products_capture import capture_endpoint
from bench.products_load import recorded_latencies, run_pgbench, run_wrk, settle
from bench.products_pgbench import write_scripts
from bench.products_procs import ROOT, Server, machine_facts, set_priority
from bench.products_report import GOAL_P99_MS, GOAL_RATIO, markdown, store_result
from bench.products_seed import (
    CASCAVEL_IBGE,
    SeedPlan,
    create_database,
    drop_database,
    issue_tokens,
    require_loopback,
    seed,
)
from bench.products_targets import (
    LISTING,
    PAGE_ONLY,
    PROJECT_ID,
    best,
    breakdown,
    check_answers,
    measure,
    profile,
    start_servers,
)

# Fixed-rate latencies are kept from this many seconds after the start (see recorded_latencies).
RATE_WARMUP_S = 3.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add(
        "--database-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL (loopback only) on which the bench database is created and dropped.",
    )
    add("--peak-seconds", type=int, default=15, help="Length of each closed-loop run.")
    add("--peak-connections", default="8,32", help="Connection counts tried for the peak.")
    add("--rate-seconds", type=int, default=30, help="Length of the fixed-rate run.")
    add("--rate-share", type=float, default=0.8, help="Share of the peak offered at a fixed rate.")
    add("--warmup-seconds", type=int, default=5, help="Unrecorded load before measuring.")
    add("--server-cpus", default="1", help="CPUs of the servers (taskset); '' = any.")
    add("--load-cpus", default="0", help="CPUs of wrk and pgbench (taskset); '' = any.")
    add(
        "--nice",
        type=int,
        default=0,
        help="Nice value of the servers, wrk and pgbench; below 0 (root only) they win CPU "
        "time from other work on the machine, but PostgreSQL keeps its own priority.",
    )
    add("--port", type=int, default=8310, help="Our server's port; the baseline uses the next.")
    add("--no-breakdown", action="store_true", help="Skip the CPU breakdown per stage.")
    add("--profile", action="store_true", help="Sample our server with py-spy in one more run.")
    add("--quick", action="store_true", help="5 s runs and a 10 s fixed-rate run (smoke test).")
    add("--keep-database", action="store_true", help="Leave the bench database in place.")
    add("--output", type=Path, default=None, help="Also write the JSON report here.")
    args = parser.parse_args(argv)
    if args.quick:
        args.peak_seconds, args.rate_seconds, args.warmup_seconds = 5, 10, 2
    return args  # fmt: skip


def missing_tools() -> list[str]:
    return [tool for tool in ("wrk", "pgbench", "psql") if shutil.which(tool) is None]


def prepare(url: str, run_dir: Path, report: dict[str, Any]) -> tuple[Path, list[str], Path, Any]:
    """Migrate and seed, issue a token per client and compare the baseline's SQL with ours."""
    from taskgo.db.migrate import upgrade_to_head

    upgrade_to_head(url)
    plan = SeedPlan()
    seeded = seed(url, plan)
    report["data"] = {
        **seeded.counts,
        "seed_seconds": round(seeded.seconds, 1),
        "plan": asdict(plan),
    }
    report["machine"] = machine_facts(url)
    key_path = run_dir / "dev-signing-key.pem"
    tokens = issue_tokens(key_path, seeded.client_uids, project_id=PROJECT_ID)
    tokens_file = run_dir / "tokens.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    capture = capture_endpoint(
        database_url=url, key_path=str(key_path), token=tokens[-1], path=LISTING
    )
    report["sql"] = {
        "matches": capture.matches,
        "differences": capture.differences,
        "statements_per_request": len(capture.statements),
    }
    if not capture.matches:
        print(
            "WARNING: the baseline's statements differ from ours:\n  "
            + "\n  ".join(capture.differences)
        )
    return key_path, tokens, tokens_file, capture


def peak_runs(
    args: argparse.Namespace, targets: list[tuple[str, Server, str, Path | None]], database: str
) -> list[dict[str, Any]]:
    print("warm-up …", flush=True)
    for _, server, path, tokens_path in targets:
        run_wrk(
            server.base_url + path,
            seconds=args.warmup_seconds,
            connections=16,
            tokens_file=tokens_path,
            cpus=args.load_cpus,
        )
    print("peak requests/s (closed loop):", flush=True)
    rows = []
    # The targets take turns at each connection count, so a burst of other work on the
    # machine does not land on one of them only.
    for connections in [int(value) for value in args.peak_connections.split(",") if value]:
        for name, server, path, tokens_path in targets:
            settle(2)
            rows.append(
                measure(
                    name,
                    server,
                    path,
                    connections=connections,
                    seconds=args.peak_seconds,
                    tokens_file=tokens_path,
                    database=database,
                    load_cpus=args.load_cpus,
                )
            )
    return rows  # fmt: skip


def pgbench_runs(args: argparse.Namespace, *, url: str, run_dir: Path) -> list[dict[str, Any]]:
    print("pgbench:", flush=True)
    scripts = write_scripts(
        run_dir, database_url=url, city_id=CASCAVEL_IBGE, limit=20, clients=SeedPlan().clients
    )
    rows = []
    for name, script in scripts.items():
        settle(2)
        result = run_pgbench(name, database_url=url, script=script, seconds=args.peak_seconds,
                             clients=16, cpus=args.load_cpus)  # fmt: skip
        print(f"  {name:<8} {result.tps:>8.1f} tps  latency {result.latency_ms:.2f} ms", flush=True)
        rows.append(asdict(result))
    return rows


def fixed_rate_runs(
    args: argparse.Namespace,
    servers: dict[str, Server],
    peaks: list[dict[str, Any]],
    *,
    tokens_file: Path,
    run_dir: Path,
    database: str,
) -> list[dict[str, Any]]:
    rows = []
    for name, server in servers.items():
        peak = best(peaks, name)
        if peak is None:
            print(f"no clean peak run for {name}; its fixed-rate run is skipped")
            continue
        rate = round(args.rate_share * peak["requests_per_second"], 1)
        # Enough connections for 100 ms responses at this rate, so the schedule, not a lack of
        # free connections, sets when requests go out.
        connections = max(16, math.ceil(rate * 0.1))
        print(
            f"fixed rate {name}: {rate} req/s for {args.rate_seconds} s, {connections} connections",
            flush=True,
        )
        settle(3)
        prefix = run_dir / f"rate-{name}"
        row = measure(
            name,
            server,
            LISTING,
            connections=connections,
            seconds=args.rate_seconds,
            tokens_file=tokens_file,
            database=database,
            load_cpus=args.load_cpus,
            rate=rate,
            out_prefix=prefix,
        )
        row["recorded"] = recorded_latencies(prefix, warmup_s=RATE_WARMUP_S)
        print(f"    recorded after the warm-up: {row['recorded']}", flush=True)
        rows.append(row)
    return rows  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    require_loopback(args.database_server)
    set_priority(args.nice)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = ROOT / "var" / "bench" / "products" / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    database = f"taskgo_bench_products_{os.getpid()}"
    report: dict[str, Any] = {
        "started": stamp,
        "argv": sys.argv[1:],
        "run_dir": str(run_dir.relative_to(ROOT)),
    }
    report["placement"] = {
        "server_cpus": args.server_cpus,
        "load_cpus": args.load_cpus,
        "nice": args.nice,
    }
    url = create_database(args.database_server, database)
    servers: list[Server] = []
    try:
        print(f"products listing: migrating and seeding {database} …", flush=True)
        key_path, tokens, tokens_file, capture = prepare(url, run_dir, report)
        ours, bare = start_servers(
            port=args.port, cpus=args.server_cpus, url=url, key_path=key_path, run_dir=run_dir
        )
        servers += [ours, bare]
        problems = check_answers(ours, bare, tokens[0], capture.body)
        report["answer_check"] = problems or "same page from all three"
        if problems:
            raise RuntimeError("responses differ: " + "; ".join(problems))

        targets = [
            ("ours", ours, LISTING, tokens_file),
            ("bare", bare, LISTING, tokens_file),
            ("bare page only", bare, PAGE_ONLY, None),
        ]
        report["peaks"] = peak_runs(args, targets, database)
        report["pgbench"] = pgbench_runs(args, url=url, run_dir=run_dir)
        report["fixed_rate"] = fixed_rate_runs(
            args,
            {"ours": ours, "bare": bare},
            report["peaks"],
            tokens_file=tokens_file,
            run_dir=run_dir,
            database=database,
        )
        if args.profile:
            peak = best(report["peaks"], "ours")
            report["profile"] = profile(
                ours,
                seconds=args.peak_seconds,
                connections=peak["connections"] if peak else 8,
                tokens_file=tokens_file,
                run_dir=run_dir,
                load_cpus=args.load_cpus,
            )
        for server in servers:
            server.stop()
        if not args.no_breakdown:
            print("CPU per stage (in one process) …", flush=True)
            report["breakdown"] = breakdown(
                url=url,
                key_path=key_path,
                run_dir=run_dir,
                tokens_file=tokens_file,
                cpus=args.server_cpus,
            )
        report["goals"] = goals(report)
        return report
    finally:
        for server in servers:
            server.stop()
        if not args.keep_database:
            drop_database(args.database_server, database)  # fmt: skip


def goals(report: dict[str, Any]) -> dict[str, Any]:
    ours, bare = best(report["peaks"], "ours"), best(report["peaks"], "bare")
    result: dict[str, Any] = {"ratio_goal": GOAL_RATIO, "p99_goal_ms": GOAL_P99_MS}
    if ours and bare:
        result["ratio"] = round(ours["requests_per_second"] / bare["requests_per_second"], 3)
        result["ratio_met"] = result["ratio"] >= GOAL_RATIO
        # The same ratio from server CPU per request: what the requests/s ratio would be if
        # each server had a core to itself, whatever else the machine was doing meanwhile.
        ours_cpu = ours["cpu_ms_per_request"].get("server", 0.0)
        bare_cpu = bare["cpu_ms_per_request"].get("server", 0.0)
        if ours_cpu > 0:
            result["cpu_ratio"] = round(bare_cpu / ours_cpu, 3)
    rate_rows = [row for row in report["fixed_rate"] if row["target"] == "ours"]
    if rate_rows and rate_rows[0]["recorded"]:
        # From the schedule: a late send is part of the latency a client would see.
        result["p99_ms"] = rate_rows[0]["recorded"]["slot_p99"]
        result["p99_met"] = result["p99_ms"] <= GOAL_P99_MS
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    absent = missing_tools()
    if absent:
        tools = ", ".join(absent)
        print(f"products listing: skipped, missing {tools} (run scripts/install-bench-deps.sh)")
        return 2
    report = run(args)
    text = json.dumps(report, indent=2, default=str)
    report_path = ROOT / report["run_dir"] / "report.json"
    report_path.write_text(text)
    # The stored result that docs/benchmarks.md is rendered from (bench/report.py).
    store_result(report, report_path=report_path)
    if args.output is not None:
        args.output.write_text(text)
    print()
    print(markdown(report))
    print(f"\nfull report: {report['run_dir']}/report.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
