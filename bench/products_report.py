"""The products listing benchmark's report: Markdown tables and the py-spy profile summary."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

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


def _peaks_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | conns | req/s | p50 ms | p99 ms | errors | server CPU ms/req "
        "| postgres CPU ms/req | cores: server / postgres / wrk / other |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for row in rows:
        cores = row["cpu_cores"]
        per = row["cpu_ms_per_request"]
        errors = sum(row["errors"].values()) + row["bad_status"]
        lines.append(
            f"| {row['target']} | {row['connections']} | {row['requests_per_second']:,.0f} "
            f"| {row['latency_ms']['p50']:.1f} | {row['latency_ms']['p99']:.1f} | {errors} "
            f"| {per.get('server', 0):.2f} | {per.get('postgres', 0):.2f} "
            f"| {cores.get('server', 0):.2f} / {cores.get('postgres', 0):.2f} / "
            f"{cores.get('load_generator', 0):.2f} / {cores.get('other', 0):.2f} |"
        )
    return lines


def _rate_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | offered req/s | sent req/s | conns | p50 ms | p95 ms | p99 ms | p99.9 ms "
        "| max ms | p99 from schedule ms | late slots (max ms) | non-200 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for row in rows:
        rec, sched = row["recorded"], row["schedule"]
        lines.append(
            f"| {row['target']} | {sched['offered_rate']:,.0f} "
            f"| {rec.get('sent_per_second', 0):,.0f} | {row['connections']} "
            f"| {rec.get('p50', 0):.1f} | {rec.get('p95', 0):.1f} | {rec.get('p99', 0):.1f} "
            f"| {rec.get('p999', 0):.1f} | {rec.get('max', 0):.1f} | {rec.get('slot_p99', 0):.1f} "
            f"| {sched['late_slots']} ({sched['late_ms_max']:.1f}) | {rec.get('non_200', 0)} |"
        )
    return lines


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
        f"Goals: ours/bare requests/s = {ratio:.2f} (goal ≥ {GOAL_RATIO}, "
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
        "pgbench (16 clients, prepared):",
        "",
        "| script | tps | mean latency ms |",
        "| --- | ---: | ---: |",
        *[
            f"| {row['name']} | {row['tps']:,.0f} | {row['latency_ms']:.2f} |"
            for row in report["pgbench"]
        ],
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
