"""Render docs/benchmarks.md from the stored benchmark results.

`python -m bench` calls this after its benchmarks ran; run it alone to render the document
again from what is stored, without measuring anything:

    python -m bench.report               # docs/benchmarks.md from docs/benchmark-results/
    python -m bench.report --quick       # var/bench/benchmarks-quick.md, quick runs included

The prose of each section (what the benchmark measures, how, its options) is kept in
bench/about/NAME.md, and the introduction in bench/about/intro.md. The figures, tables, goals
and notes come from the results (see bench/results.py).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.results import QUICK_DIR, RESULTS_DIR, ROOT, benchmark_names, last_success, load_all

ABOUT_DIR = Path(__file__).resolve().parent / "about"
DOCUMENT = ROOT / "docs" / "benchmarks.md"
QUICK_DOCUMENT = ROOT / "var" / "bench" / "benchmarks-quick.md"
# Section order. Benchmarks not named here follow in alphabetical order.
ORDER = ("geocoder", "service_order_dispatch", "products_listing", "chat_bench")
MACHINE_FACTS = (
    ("cpu", "CPU"),
    ("cores", "cores"),
    ("memory_gib", "RAM GiB"),
    ("kernel", "kernel"),
    ("os", "OS"),
    ("python", "Python"),
    ("postgres", "PostgreSQL server"),
)


def when(stamp: str | None) -> str:
    """Format an ISO 8601 time as `2026-12-04 21:40 UTC`, or as the date when it has no time."""
    if not stamp:
        return "an unknown date"
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if len(stamp) <= 10:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def cell(value: Any, fmt: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and fmt:
        return format(value, fmt)
    return str(value).replace("|", "\\|")


def number(value: float | None) -> str:
    """Format a goal's figure with the digits it needs to be read, and no more."""
    if value is None:
        return "–"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    # Ratios: 0.497 must not read as the 0.50 it misses.
    return f"{value:.3f}"


def markdown_table(spec: dict[str, Any]) -> list[str]:
    columns = spec["columns"]
    lines = []
    if spec.get("title"):
        lines += [spec["title"], ""]
    lines.append("| " + " | ".join(column["name"] for column in columns) + " |")
    lines.append("| " + " | ".join("---:" if col["format"] else "---" for col in columns) + " |")
    for row in spec["rows"]:
        cells = [cell(value, column["format"]) for value, column in zip(row, columns, strict=False)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def goal_ratio(goal: dict[str, Any]) -> float | None:
    """Return measured ÷ target. At most 1 meets an upper bound, at least 1 a lower bound."""
    measured, target = goal.get("measured"), goal.get("target")
    if measured is None or not target:
        return None
    return measured / target


def goal_verdict(goal: dict[str, Any]) -> str:
    if goal.get("met") is None:
        return "not measured"
    return "met" if goal["met"] else "**missed**"


def goals_table(goals: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| goal | measured | target | measured ÷ target | result | detail |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for goal in goals:
        unit = goal.get("unit") or ""
        unit = unit if unit in ("", "×") else f" {unit}"
        ratio = goal_ratio(goal)
        lines.append(
            f"| {goal['name']} | {number(goal.get('measured'))}{unit} "
            f"| {goal['op'].replace('<=', '≤').replace('>=', '≥')} {number(goal['target'])}{unit} "
            f"| {'–' if ratio is None else number(ratio)} | {goal_verdict(goal)} "
            f"| {cell(goal.get('detail') or '')} |"
        )
    return lines


def goals_summary(result: dict[str, Any] | None) -> str:
    if not result or not result.get("goals"):
        return "–"
    goals = result["goals"]
    met = sum(1 for goal in goals if goal.get("met"))
    return f"{met} of {len(goals)} met"


def load_text(result: dict[str, Any]) -> str:
    load = result.get("load_average") or {}
    before, after = load.get("before"), load.get("after")
    parts = []
    if before:
        parts.append(f"{before[0]:.1f} before")
    if after:
        parts.append(f"{after[0]:.1f} after")
    return ", ".join(parts) if parts else "not recorded"


def machine_key(machine: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(machine.get(key) for key, _ in MACHINE_FACTS)


def run_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"Command: `{result.get('command') or 'not recorded'}`", ""]
    timing = f"Started {when(result.get('started'))}"
    if result.get("seconds") is not None:
        timing += f", took {result['seconds']:,.0f} s"
    lines += [f"{timing}; 1-minute load average {load_text(result)}.", ""]
    tools = {
        name: version for name, version in (result.get("machine", {}).get("tools") or {}).items()
    }
    if tools:
        described = ", ".join(f"{name}: {version or 'missing'}" for name, version in tools.items())
        lines += [f"Tools: {described}.", ""]
    return lines


def result_body(result: dict[str, Any]) -> list[str]:
    lines = run_lines(result)
    for spec in result.get("tables", []):
        lines += [*markdown_table(spec), ""]
    if result.get("goals"):
        label = "Goals (a quick run only shows that they can be computed):"
        lines += [label if result.get("quick") else "Goals:", "", *goals_table(result["goals"]), ""]
    lines += [f"- {note}" for note in result.get("notes", [])]
    if result.get("notes"):
        lines.append("")
    return lines


def result_heading(result: dict[str, Any], *, fresh: bool, invocation: bool) -> list[str]:
    """Return the heading that gives when and how the figures below were measured."""
    date = when(result.get("started"))
    if result.get("title"):
        title = (
            f"### {result['title']}: {'quick run' if result.get('quick') else 'result'} of {date}"
        )
        banner = "**Quick run**: shortened measurements." if result.get("quick") else ""
    elif result.get("quick"):
        title = f"### Quick run of {date}"
        banner = (
            "**Quick run** (smoke test): shortened measurements that show the benchmark "
            "works; the figures are not comparable with the goals."
        )
    else:
        title = f"### Result of {date}"
        banner = ""
    lines = [title, ""]
    if banner:
        lines += [banner, ""]
    if result.get("source"):
        lines += [f"From an earlier run: {result['source']}", ""]
    elif invocation and not fresh:
        lines += [f"Not run this time; this is the stored result of {date}.", ""]
    return lines


def failure_lines(result: dict[str, Any], *, fresh: bool, invocation: bool) -> list[str]:
    date = when(result.get("started"))
    status = result.get("status", "failed")
    detail = f" (exit status {result['exit_code']})" if result.get("exit_code") is not None else ""
    lines = [f"### Run of {date}: {status.upper()}{detail}", ""]
    if invocation and not fresh:
        lines += ["Not run this time; that earlier run did not finish.", ""]
    lines += run_lines(result)
    if result.get("reason"):
        lines += [result["reason"], ""]
    if result.get("output_tail"):
        lines += ["Last lines of its output:", "", "```", *result["output_tail"], "```", ""]
    previous = last_success(result)
    if previous is None or previous is result:
        lines += ["No successful result of this benchmark is stored.", ""]
        return lines
    lines += [
        f"The last successful result follows. It is from {when(previous.get('started'))}, "
        "an earlier run, not from the failed one.",
        "",
        *result_heading(previous, fresh=False, invocation=False),
        *result_body(previous),
    ]
    return lines


def about(name: str) -> list[str]:
    path = ABOUT_DIR / f"{name}.md"
    if path.exists():
        return [path.read_text().strip(), ""]
    return [f"## {name}", "", f"(No description yet: add bench/about/{name}.md.)", ""]


def result_lines(result: dict[str, Any], *, fresh: bool, invocation: bool) -> list[str]:
    if result.get("status") == "ok":
        return [
            *result_heading(result, fresh=fresh, invocation=invocation),
            *result_body(result),
        ]
    return failure_lines(result, fresh=fresh, invocation=invocation)


def section(
    name: str,
    results: dict[str, dict[str, Any] | None],
    *,
    fresh: set[str],
    invocation: bool,
) -> list[str]:
    """Return a benchmark's prose, its result, then the results of its parts (NAME.PART)."""
    lines = about(name)
    main = results.get(name)
    if main is None:
        lines += [f"No result stored yet: run `python -m bench {name}`.", ""]
    else:
        lines += result_lines(main, fresh=name in fresh, invocation=invocation)
    for part in sorted(key for key in results if key.startswith(name + ".")):
        stored = results[part]
        if stored is not None:
            lines += result_lines(stored, fresh=part in fresh, invocation=invocation)
    return lines


def ordered(names: Iterable[str]) -> list[str]:
    """Sort benchmarks in section order, each part (NAME.PART) right after its benchmark."""
    known = set(names)
    tops = {name.split(".", 1)[0] for name in known}
    listed = [name for name in ORDER if name in tops] + sorted(tops - set(ORDER))
    return [
        name
        for top in listed
        for name in [top, *sorted(key for key in known if key.startswith(top + "."))]
        if name in known
    ]


def machine_section(results: dict[str, dict[str, Any]]) -> list[str]:
    """Return the machine table: one column per group of benchmarks run on the same machine."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    machines: dict[tuple[Any, ...], dict[str, Any]] = {}
    tools: dict[str, set[str]] = {}
    for name in ordered(results):
        machine = results[name].get("machine") or {}
        if not machine:
            continue
        key = machine_key(machine)
        groups.setdefault(key, []).append(name)
        machines[key] = machine
        for tool, version in (machine.get("tools") or {}).items():
            tools.setdefault(tool, set()).add(version or "missing")

    if not groups:
        return ["No machine facts are stored.", ""]
    keys = list(groups)
    header = "| fact | " + " | ".join(", ".join(groups[key]) for key in keys) + " |"
    lines = [
        "Gathered by each benchmark when it ran (columns: the benchmarks that ran on the machine):",
        "",
        header,
        "| --- | " + " | ".join("---" for _ in keys) + " |",
    ]

    for fact, label in MACHINE_FACTS:
        lines.append(
            f"| {label} | " + " | ".join(cell(machines[key].get(fact)) for key in keys) + " |"
        )
    lines.append("")
    if tools:
        described = "; ".join(f"{tool}: {', '.join(sorted(tools[tool]))}" for tool in sorted(tools))
        lines += [f"Load generators and relays: {described}.", ""]
    return lines


def summary_table(results: dict[str, dict[str, Any] | None]) -> list[str]:
    lines = [
        "| benchmark | run | status | goals | load average before, after |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in ordered(results):
        result = results[name]
        if result is None:
            lines.append(f"| {name} | – | no result | – | – |")
            continue
        status = result.get("status", "?")
        if result.get("quick"):
            status += ", quick"
        if result.get("source"):
            status += ", transcribed"
        shown = result if result.get("status") == "ok" else last_success(result)
        goals = goals_summary(shown)
        if shown is not None and shown is not result:
            goals += f" (last success, {when(shown.get('started'))})"
        lines.append(
            f"| {name} | {when(result.get('started'))} | {status} | {goals} | {load_text(result)} |"
        )
    return [*lines, ""]


def render(
    results: dict[str, dict[str, Any]],
    *,
    names: Iterable[str] = (),
    fresh: Iterable[str] = (),
    invocation: str | None = None,
) -> str:
    """Render the whole document.

    `names` lists the benchmarks that exist, with or without a result. `fresh` lists those
    that `invocation` ran; `invocation` is None when the document is only rendered again.
    """
    fresh_names = set(fresh)
    everything: dict[str, dict[str, Any] | None] = {name: None for name in names}
    everything.update(results)
    for name in list(everything):
        everything.setdefault(name.split(".", 1)[0], None)
    intro = ABOUT_DIR / "intro.md"
    lines = ["# Benchmarks", ""]
    lines += [
        "<!-- Generated by bench/report.py from docs/benchmark-results/*.json. Edit "
        "bench/about/*.md or the benchmarks and run `python -m bench.report`, not this file. "
        "-->",
        "",
    ]
    if intro.exists():
        lines += [intro.read_text().strip(), ""]
    if invocation:
        ran = ", ".join(ordered(fresh_names)) or "nothing"
        lines += [
            f"Last rendered by `{invocation}`, which ran: {ran}. Every other section shows "
            "the stored result of an earlier run, with its date.",
            "",
        ]
    else:
        lines += [
            "Rendered from the stored results; each section gives the date of its run.",
            "",
        ]
    lines += ["## Summary", "", *summary_table(everything)]
    lines += ["## Machine", "", *machine_section(results)]
    for name in ordered(everything):
        if "." not in name:
            lines += section(name, everything, fresh=fresh_names, invocation=invocation is not None)
    text = "\n".join(lines).rstrip() + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def write(
    *,
    quick: bool = False,
    fresh: Iterable[str] = (),
    invocation: str | None = None,
    results_dir: Path = RESULTS_DIR,
    quick_dir: Path = QUICK_DIR,
    output: Path | None = None,
) -> Path:
    """Render the stored results to docs/benchmarks.md.

    With `quick`, the quick runs replace the stored results they have and the document goes
    to var/bench/benchmarks-quick.md.
    """
    results = load_all(results_dir)
    if quick:
        results.update(load_all(quick_dir))
    target = output or (QUICK_DOCUMENT if quick else DOCUMENT)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(results, names=benchmark_names(), fresh=fresh, invocation=invocation))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render docs/benchmarks.md from stored results.")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"Include the quick runs and write {QUICK_DOCUMENT.relative_to(ROOT)} instead.",
    )
    parser.add_argument("--output", type=Path, help="Write here instead.")
    args = parser.parse_args(argv)
    path = write(quick=args.quick, output=args.output)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
