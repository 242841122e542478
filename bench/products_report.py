"""The products listing benchmark's report: Markdown tables, the py-spy profile summary and
the stored result that docs/benchmarks.md is rendered from (bench/results.py)."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import markdown_table
from bench.results import ROOT, column, goal, load_average, machine_facts, module_command, store
from bench.results import table as result_table

GOAL_RATIO = 0.5
GOAL_P99_MS = 30.0

_FRAME_FILE = re.compile(r"\((?P<file>[^():]+)(?::\d+)?\)$")
_STDLIB = {"asyncio", "json", "logging", "concurrent", "email", "http", "importlib", "encodings"}
# Libraries whose inclusive share (any frame of the sample inside them) is worth a line.
INCLUSIVE = (
    "sqlalchemy",
    "asyncpg",
    "pydantic",
    "fastapi",
    "starlette",
    "uvicorn",
    "structlog",
    "jwt",
    "cryptography",
    "prometheus_client",
    "taskgo.locations",
    "taskgo.products",
    "taskgo.geo",
)


def _package(frame: str) -> str:
    """`taskgo.products`, `sqlalchemy`, `stdlib.asyncio`, … for a py-spy frame.

    py-spy writes paths under site-packages and the source roots relative to them
    (`sqlalchemy/orm/loading.py`), other paths in full.
    """
    match = _FRAME_FILE.search(frame)
    path = match.group("file") if match else frame
    for marker in ("site-packages/", "/src/", "/lib/python3.11/", "/lib/python3.12/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    parts = path.split("/")
    if parts[0] == "taskgo":
        return "taskgo." + (parts[1].removesuffix(".py") if len(parts) > 2 else "core")
    if len(parts) == 1:
        return parts[0].removesuffix(".py") or "?"
    top = parts[0]
    return top if top not in _STDLIB else "stdlib." + top


def profile_buckets(raw: Path) -> dict[str, Any]:
    """Shares of the samples by the package of the innermost frame, and inclusive shares."""
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaf[_package(frames[-1])] += count
        packages = {_package(frame) for frame in frames}
        for name in INCLUSIVE:
            if any(package == name or package.startswith(name + ".") for package in packages):
                inclusive[name] += count
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "leaf_share": {name: round(count / total, 3) for name, count in leaf.most_common(14)},
        "inclusive_share": {
            name: round(inclusive[name] / total, 3) for name in INCLUSIVE if inclusive[name]
        },
    }


def peaks_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = [
        column("target"),
        column("conns", "d"),
        column("req/s", ",.0f"),
        column("p50 ms", ".1f"),
        column("p99 ms", ".1f"),
        column("errors", "d"),
        column("server CPU ms/req", ".2f"),
        column("postgres CPU ms/req", ".2f"),
        column("cores: server / postgres / wrk / other"),
    ]
    lines = []
    for row in rows:
        cores, per = row["cpu_cores"], row["cpu_ms_per_request"]
        lines.append([
            row["target"], row["connections"], row["requests_per_second"],
            row["latency_ms"]["p50"], row["latency_ms"]["p99"],
            sum(row["errors"].values()) + row["bad_status"],
            per.get("server", 0), per.get("postgres", 0),
            f"{cores.get('server', 0):.2f} / {cores.get('postgres', 0):.2f} / "
            f"{cores.get('load_generator', 0):.2f} / {cores.get('other', 0):.2f}",
        ])  # fmt: skip
    return result_table("Peak (closed loop, wrk 1 thread):", columns, lines)


def rate_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = [
        column("target"),
        column("offered req/s", ",.0f"),
        column("sent req/s", ",.0f"),
        column("conns", "d"),
        *(column(f"{name} ms", ",.1f") for name in ("p50", "p95", "p99", "p99.9", "max")),
        column("p99 from schedule ms", ",.1f"),
        column("late slots (max ms)"),
        column("non-200", "d"),
    ]
    lines = []
    for row in rows:
        rec, sched = row["recorded"], row["schedule"]
        lines.append([
            row["target"], sched["offered_rate"], rec.get("sent_per_second", 0),
            row["connections"],
            *(rec.get(key, 0) for key in ("p50", "p95", "p99", "p999", "max", "slot_p99")),
            f"{sched['late_slots']} ({sched['late_ms_max']:.1f})", rec.get("non_200", 0),
        ])  # fmt: skip
    return result_table(
        "Fixed rate (latency from each request's send, and p99 from its scheduled time; the "
        "first 3 s are left out):",
        columns,
        lines,
    )


def pgbench_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = [column("script"), column("tps", ",.0f"), column("mean latency ms", ".2f")]
    return result_table(
        "pgbench (16 clients, prepared):",
        columns,
        [[row["name"], row["tps"], row["latency_ms"]] for row in rows],
    )


def _peaks_table(rows: list[dict[str, Any]]) -> list[str]:
    return markdown_table({**peaks_table(rows), "title": ""})


def _rate_table(rows: list[dict[str, Any]]) -> list[str]:
    return markdown_table({**rate_table(rows), "title": ""})


def _breakdown_table(breakdown: dict[str, Any]) -> list[str]:
    stages: dict[str, float] = breakdown.get("cpu_ms", {})
    if not stages:
        return [f"CPU breakdown: {breakdown.get('skipped', 'not run')}."]
    lines = [
        "CPU per request by stage (one process, no socket; median of 5 rounds of 50):",
        "",
        "| stage | CPU ms (cumulative) | this step ms |",
        "| --- | ---: | ---: |",
    ]
    previous = 0.0
    for name in ("session", "auth", "gps fix", "page query", "page out", "asgi request"):
        if name in stages:
            lines.append(f"| {name} | {stages[name]:.2f} | {stages[name] - previous:+.2f} |")
            previous = stages[name]
    if "bare request" in stages:
        lines.append(f"| bare request (whole) | {stages['bare request']:.2f} | |")
    return lines


def _profile_tables(profile: dict[str, Any]) -> list[str]:
    if not profile.get("samples"):
        return [f"Profile: {profile.get('skipped', 'no samples')}."]
    lines = [
        f"py-spy profile of ours at peak ({profile['samples']:,} samples, {profile['file']}):",
        "",
        "| innermost frame in | share |",
        "| --- | ---: |",
    ]
    lines += [f"| {name} | {share:.1%} |" for name, share in profile["leaf_share"].items()]
    lines += ["", "| stack passes through | share |", "| --- | ---: |"]
    lines += [f"| {name} | {share:.1%} |" for name, share in profile["inclusive_share"].items()]
    return lines


def _verdict(goals: dict[str, Any]) -> str:
    ratio = goals.get("ratio", float("nan"))
    p99 = goals.get("p99_ms", float("nan"))
    cpu_ratio = goals.get("cpu_ratio", float("nan"))
    return (
        f"Goals: ours/bare requests/s = {ratio:.3f} (goal ≥ {GOAL_RATIO}, "
        f"{'met' if goals.get('ratio_met') else 'MISSED'}; from server CPU per request "
        f"{cpu_ratio:.2f}); p99 at the fixed rate, from the schedule = {p99:.1f} ms "
        f"(goal ≤ {GOAL_P99_MS:.0f} ms, {'met' if goals.get('p99_met') else 'MISSED'})."
    )


def markdown(report: dict[str, Any]) -> str:
    data, machine, place = report["data"], report["machine"], report.get("placement", {})
    out = [
        f"Run {report['started']}: {machine['cpus']} × {machine['cpu']}, "
        f"{machine['memory_gib']} GiB, Linux {machine['kernel']}, Python {machine['python']}, "
        f"{machine['postgres']}, {machine['wrk']}; "
        f"load average at the start {machine['load_average'][0]:.2f}. "
        f"Servers on CPU {place.get('server_cpus') or 'any'}, wrk and pgbench on CPU "
        f"{place.get('load_cpus') or 'any'}, PostgreSQL on any, nice {place.get('nice', 0)}.",
        "",
        f"Data: {data['cities']:,} cities, {data['products']:,} products "
        f"({data['city_active_products']:,} active in Cascavel), {data['product_images']:,} "
        f"photo rows, {data['users']:,} users. Baseline SQL = ours: {report['sql']['matches']} "
        f"({report['sql']['statements_per_request']} statements per request). "
        f"Answer check: {report['answer_check']}.",
        "",
        "Peak (closed loop, wrk 1 thread):",
        "",
        *_peaks_table(report["peaks"]),
        "",
        *markdown_table(pgbench_table(report["pgbench"])),
        "",
        "Fixed rate (latency from each request's send, and p99 from its scheduled time; the "
        "first 3 s are left out):",
        "",
        *_rate_table(report["fixed_rate"]),
        "",
        _verdict(report["goals"]),
    ]
    if "breakdown" in report:
        out += ["", *_breakdown_table(report["breakdown"])]
    if "profile" in report:
        out += ["", *_profile_tables(report["profile"])]
    return "\n".join(out)


STAGES = ("session", "auth", "gps fix", "page query", "page out", "asgi request")


def breakdown_table(breakdown: dict[str, Any]) -> dict[str, Any] | None:
    stages: dict[str, float] = breakdown.get("cpu_ms", {})
    if not stages:
        return None
    rows: list[list[Any]] = []
    previous = 0.0
    for name in STAGES:
        if name in stages:
            rows.append([name, stages[name], stages[name] - previous])
            previous = stages[name]
    if "bare request" in stages:
        rows.append(["bare request (whole)", stages["bare request"], None])
    return result_table(
        "CPU per request by stage (one process, no socket; median of 5 rounds of 50):",
        [column("stage"), column("CPU ms (cumulative)", ".2f"), column("this step ms", "+.2f")],
        rows,
    )


def is_quick(argv: list[str]) -> bool:
    """Tell whether the run was a quick one: `--quick`, or runs shorter than the defaults."""
    if "--quick" in argv:
        return True
    full = {"--peak-seconds": 15, "--rate-seconds": 30}
    for position, value in enumerate(argv):
        name, _, inline = value.partition("=")
        if name in full:
            seconds = inline or (argv[position + 1] if position + 1 < len(argv) else "")
            if seconds.isdigit() and int(seconds) < full[name]:
                return True
    return False


def result_of(report: dict[str, Any]) -> dict[str, Any]:
    """Build the stored result of one run from its report.json."""
    started = datetime.strptime(report["started"], "%Y%m%d-%H%M%S").astimezone(UTC)
    goals = report.get("goals", {})
    ours = [row for row in report["peaks"] if row["target"] == "ours"]
    bare = [row for row in report["peaks"] if row["target"] == "bare"]
    peak = {
        name: max((row["requests_per_second"] for row in rows), default=None)
        for name, rows in (("ours", ours), ("bare", bare))
    }

    rate = next((row for row in report["fixed_rate"] if row["target"] == "ours"), None)
    rate_detail = ""
    if rate:
        rate_detail = (
            f"offered {rate['schedule']['offered_rate']:,.0f} req/s, sent "
            f"{rate['recorded'].get('sent_per_second', 0):,.0f}; p99 from send "
            f"{rate['recorded'].get('p99', 0):.1f} ms"
        )

    tables = [
        peaks_table(report["peaks"]),
        pgbench_table(report["pgbench"]),
        rate_table(report["fixed_rate"]),
    ]
    stages = breakdown_table(report.get("breakdown", {}))
    if stages:
        tables.append(stages)

    data, place = report["data"], report.get("placement", {})
    notes = [
        f"Data: {data['cities']:,} cities, {data['products']:,} products "
        f"({data['city_active_products']:,} active in Cascavel), {data['product_images']:,} "
        f"photo rows, {data['users']:,} users.",
        f"Baseline SQL = ours: {'yes' if report['sql']['matches'] else 'NO'} "
        f"({report['sql']['statements_per_request']} statements per request); answer check: "
        f"{report['answer_check']}.",
        f"Servers on CPU {place.get('server_cpus') or 'any'}, wrk and pgbench on CPU "
        f"{place.get('load_cpus') or 'any'}, PostgreSQL on any, nice {place.get('nice', 0)}.",
        f"Every figure and command of the run: `{report['run_dir']}/report.json` on the "
        "machine that ran it.",
    ]

    profile = report.get("profile", {})
    if profile.get("samples"):
        passes = ", ".join(
            f"{name} {share:.0%}" for name, share in profile["inclusive_share"].items()
        )
        notes.append(f"py-spy profile of ours at peak ({profile['samples']:,} samples): {passes}.")
    return {
        "benchmark": "products_listing",
        "status": "ok",
        "quick": is_quick(report.get("argv", [])),
        "command": module_command("bench.products_listing", report.get("argv", [])),
        "started": started.isoformat(timespec="seconds"),
        "load_average": {"before": list(report["machine"].get("load_average", []))},
        "figures": {
            "peaks": report["peaks"],
            "fixed_rate": report["fixed_rate"],
            "breakdown": report.get("breakdown", {}),
            "goals": goals,
        },
        "baseline": {"pgbench": report["pgbench"]},
        "tables": tables,
        "goals": [
            goal(
                "ours ÷ bare, peak requests/s",
                issue="#4",
                measured=goals.get("ratio"),
                target=GOAL_RATIO,
                op=">=",
                detail=f"ours {peak['ours'] or 0:,.0f}, bare {peak['bare'] or 0:,.0f} req/s; "
                f"from server CPU per request {goals.get('cpu_ratio', float('nan')):.2f}",
            ),
            goal(
                "p99 at 80 % of peak, from the schedule",
                issue="#4",
                measured=goals.get("p99_ms"),
                target=GOAL_P99_MS,
                op="<=",
                unit="ms",
                detail=rate_detail,
            ),
        ],
        "notes": notes,
    }


def store_result(report: dict[str, Any], *, report_path: Path | None = None) -> Path:
    """Store a finished run's result for docs/benchmarks.md."""
    result = result_of(report)
    if report_path is not None:
        finished = datetime.fromtimestamp(report_path.stat().st_mtime, UTC)
        result["finished"] = finished.isoformat(timespec="seconds")
        started = datetime.fromisoformat(result["started"])
        result["seconds"] = round((finished - started).total_seconds(), 1)
    result["load_average"]["after"] = load_average()
    result["machine"] = machine_facts(("wrk", "pgbench"))
    return store(result)


def collect_result(*, since: float, **_: Any) -> Path | None:
    """Store the result of the run whose report.json was written after `since` (Unix time).

    `python -m bench` calls this after the benchmark exits; it returns None without a run.
    """
    reports = [
        path
        for path in (ROOT / "var" / "bench" / "products").glob("*/report.json")
        if path.stat().st_mtime >= since
    ]
    if not reports:
        return None
    newest = max(reports, key=lambda path: path.stat().st_mtime)
    return store_result(json.loads(newest.read_text()), report_path=newest)
