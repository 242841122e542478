"""docs/benchmarks.md rendering from stored results (bench/report.py), with fixture results.

Nothing here runs a benchmark: the results are written by the tests themselves.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench.report import number, render, write
from bench.results import column, goal, last_success, table

ROOT = Path(__file__).resolve().parents[2]
MACHINE = {
    "cpu": "Test CPU 9000",
    "cores": 2,
    "memory_gib": 23.5,
    "kernel": "Linux 6.18",
    "os": "Debian GNU/Linux 12 (bookworm)",
    "python": "3.11.7",
    "postgres": "PostgreSQL 15.20",
    "tools": {"wrk": "wrk 4.1.0"},
}


def ok_result(name: str, started: str = "2026-12-04T21:40:00+00:00", **extra: Any) -> dict:
    result = {
        "schema": 1,
        "benchmark": name,
        "status": "ok",
        "quick": False,
        "command": f"python -m bench.{name} --rounds 5",
        "started": started,
        "finished": started,
        "seconds": 61.0,
        "load_average": {"before": [6.9, 5.0, 4.0], "after": [7.2, 5.1, 4.0]},
        "machine": MACHINE,
        "figures": {"p99_us": 9.1},
        "baseline": {"p99_us": 9069.3},
        "tables": [
            table(
                "Lookups:",
                [column("geocoder"), column("lookups/s", ",.0f"), column("p99 µs", ".1f")],
                [["index", 259_627.6, 9.11], ["SQL scan", 381.3, 9069.28]],
            )
        ],
        "goals": [
            goal("lookup p99", issue="#3", measured=9.11, target=20.0, op="<=", unit="µs"),
            goal("speed-up", issue="#3", measured=80.0, target=100.0, op=">=", unit="×"),
        ],
        "notes": ["The two geocoders agreed on 100 of 100 points."],
    }
    result.update(extra)
    return result


def failed_result(name: str, previous: dict | None) -> dict:
    return {
        "benchmark": name,
        "status": "failed",
        "quick": False,
        "command": f"python -m bench.{name}",
        "started": "2026-12-05T09:15:00+00:00",
        "load_average": {"before": [1.0, 1, 1], "after": [1.5, 1, 1]},
        "machine": MACHINE,
        "exit_code": 1,
        "reason": "It failed; see the output below.",
        "output_tail": ["Traceback (most recent call last):", "RuntimeError: responses differ"],
        "last_success": last_success(previous),
    }


def section_of(document: str, title: str) -> str:
    """Return the text of the `## title` section, up to the next `## ` heading."""
    start = document.index(f"\n## {title}\n")
    end = document.find("\n## ", start + 1)
    return document[start : end if end != -1 else None]


def test_header_machine_and_summary() -> None:
    document = render({"alpha": ok_result("alpha")}, names=["alpha", "beta"])

    assert document.startswith("# Benchmarks\n")
    machine = section_of(document, "Machine")
    for fact in ("Test CPU 9000", "| cores | 2 |", "23.5", "Linux 6.18", "PostgreSQL 15.20"):
        assert fact in machine
    assert "wrk: wrk 4.1.0" in machine
    summary = section_of(document, "Summary")
    assert "| alpha | 2026-12-04 21:40 UTC | ok | 1 of 2 met | 6.9 before, 7.2 after |" in summary
    assert "| beta | – | no result |" in summary
    assert "No result stored yet: run `python -m bench beta`." in section_of(document, "beta")


def test_section_command_tables_goals() -> None:
    alpha = section_of(render({"alpha": ok_result("alpha")}), "alpha")

    assert "### Result of 2026-12-04 21:40 UTC" in alpha
    assert "Command: `python -m bench.alpha --rounds 5`" in alpha
    assert "1-minute load average 6.9 before, 7.2 after" in alpha
    assert "| geocoder | lookups/s | p99 µs |\n| --- | ---: | ---: |" in alpha
    assert "| index | 259,628 | 9.1 |" in alpha
    assert "| SQL scan | 381 | 9069.3 |" in alpha
    assert "| lookup p99 | 9.11 µs | ≤ 20.0 µs | 0.455 | met |" in alpha
    assert "| speed-up | 80.0× | ≥ 100× | 0.800 | **missed** |" in alpha
    assert "- The two geocoders agreed on 100 of 100 points." in alpha
    # Command, then the figures, then the goals.
    assert alpha.index("Command:") < alpha.index("| index |") < alpha.index("| lookup p99 |")


def test_not_run_keeps_dated_result() -> None:
    results = {
        "alpha": ok_result("alpha", started="2026-12-05T10:00:00+00:00"),
        "beta": ok_result("beta", started="2026-11-30T08:05:00+00:00"),
    }
    document = render(results, fresh=["alpha"], invocation="python -m bench alpha")

    assert "Last rendered by `python -m bench alpha`, which ran: alpha." in document
    alpha, beta = section_of(document, "alpha"), section_of(document, "beta")
    assert "Not run this time" not in alpha
    assert "Not run this time; this is the stored result of 2026-11-30 08:05 UTC." in beta
    assert "| index | 259,628 | 9.1 |" in beta


def test_failed_run_labels_older_figures() -> None:
    previous = ok_result("alpha", started="2026-12-04T21:40:00+00:00")
    document = render(
        {"alpha": failed_result("alpha", previous)},
        fresh=["alpha"],
        invocation="python -m bench",
    )
    alpha = section_of(document, "alpha")

    assert "### Run of 2026-12-05 09:15 UTC: FAILED (exit status 1)" in alpha
    assert "RuntimeError: responses differ" in alpha
    assert "It is from 2026-12-04 21:40 UTC, an earlier run, not from the failed one." in alpha
    # The failure comes first; no figure appears above it.
    assert alpha.index("FAILED") < alpha.index("| index |")
    assert "### Result of 2026-12-04 21:40 UTC" in alpha
    summary = section_of(document, "Summary")
    assert "| alpha | 2026-12-05 09:15 UTC | failed | 1 of 2 met (last success, 2026-12-04" in (
        summary
    )


def test_failure_without_success_shows_nothing() -> None:
    alpha = section_of(render({"alpha": failed_result("alpha", None)}), "alpha")

    assert "FAILED" in alpha
    assert "No successful result of this benchmark is stored." in alpha
    assert "| index |" not in alpha


def test_last_success_survives_failures() -> None:
    success = ok_result("alpha")
    first = failed_result("alpha", success)
    second = failed_result("alpha", first)

    assert last_success(second) == success
    assert last_success(failed_result("alpha", None)) is None


def test_part_follows_main_result() -> None:
    part = ok_result("alpha.sender", title="Sender alone", goals=[], notes=["part note"])
    document = render({"alpha": ok_result("alpha"), "alpha.sender": part})
    alpha = section_of(document, "alpha")

    assert "### Sender alone: result of 2026-12-04 21:40 UTC" in alpha
    assert alpha.index("### Result of") < alpha.index("### Sender alone") < alpha.index("part note")
    assert "\n## alpha.sender" not in document


def write_results(directory: Path, *results: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for result in results:
        (directory / f"{result['benchmark']}.json").write_text(json.dumps(result))


def test_quick_runs_stay_out_of_document(
    tmp_path: Path,
) -> None:
    full, quick = tmp_path / "results", tmp_path / "quick"
    write_results(full, ok_result("geocoder"))
    short = ok_result("geocoder", started="2026-12-05T11:00:00+00:00", quick=True)
    short["command"] = "python -m bench.geocoder --points 20000"
    write_results(quick, short)

    document = write(results_dir=full, quick_dir=quick, output=tmp_path / "doc.md").read_text()
    rendered_quick = write(
        quick=True, results_dir=full, quick_dir=quick, output=tmp_path / "quick.md"
    ).read_text()

    assert "--points 20000" not in document
    assert "Quick run" not in document
    assert "### Result of 2026-12-04 21:40 UTC" in section_of(document, "Geocoder")
    geocoder = section_of(rendered_quick, "Geocoder")
    assert "### Quick run of 2026-12-05 11:00 UTC" in geocoder
    assert "**Quick run** (smoke test)" in geocoder
    assert "Goals (a quick run only shows that they can be computed):" in geocoder
    assert "ok, quick" in section_of(rendered_quick, "Summary")


def test_goal_verdicts() -> None:
    assert goal("p99", issue="#3", measured=20.0, target=20.0, op="<=")["met"] is True
    assert goal("p99", issue="#3", measured=20.1, target=20.0, op="<=")["met"] is False
    assert goal("ratio", issue="#4", measured=0.5, target=0.5, op=">=")["met"] is True
    assert goal("ratio", issue="#4", measured=None, target=0.5, op=">=")["met"] is None
    with pytest.raises(ValueError, match="operator"):
        goal("ratio", issue="#4", measured=1.0, target=0.5, op="<")


@pytest.mark.skipif(shutil.which("flock") is None, reason="needs flock(1)")
def test_runner_sees_parent_flock(tmp_path: Path) -> None:
    """Under `flock LOCK make bench` the runner must not wait for its own parent's lock."""
    lock = tmp_path / "bench.lock"
    probe = (
        "import sys; from pathlib import Path; "
        "from bench.__main__ import lock_held_by_ancestor; "
        "print(lock_held_by_ancestor(Path(sys.argv[1])), "
        "lock_held_by_ancestor(Path(sys.argv[1] + '.other')))"
    )
    # bash in between, as make or uv would be.
    command = ["flock", str(lock), "bash", "-c", f'"{sys.executable}" -c "{probe}" {lock}; true']
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)  # noqa: S603

    assert done.stdout.split() == ["True", "False"], done.stderr


def test_ratio_just_below_its_goal_keeps_three_digits() -> None:
    assert number(0.4967) == "0.497"
    assert number(0.5) == "0.500"
    assert number(2.5) == "2.50"
