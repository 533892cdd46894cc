"""`make bench` runs: its quick mode, end to end, writes the results, the report and the chart.

The figures themselves are not checked here (the machine running the tests is busy with them); only that every
part ran and gave values of the right kind. The full run is `make bench`, outside `make test`.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_quick_bench_writes_results_report_and_chart(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())

    for key in ("cold_start_ms", "cold_start_floor_ms", "warm_modify_us_p50", "warm_modify_floor_us_p50"):
        assert isinstance(results[key], int | float) and results[key] > 0, key
    # The floor is the lower bound: ours cannot beat it (the spread on a busy machine aside).
    assert results["cold_start_ms"] > results["cold_start_floor_ms"] * 0.8
    assert results["warm_modify_us_p50"] > results["warm_modify_floor_us_p50"] * 0.8
    assert results["artifact_bytes"] is None or results["artifact_bytes"] > 1_000_000  # a quick run builds nothing

    calls = results["dynamodb_calls"]
    assert {"create", "retrieve", "modify", "empty modify", "delete"} <= calls.keys()
    assert all(entry["status_as_expected"] for entry in calls.values()), calls
    assert calls["modify"]["cached"] == 1  # the contract: one call for a modify in the common case
    assert calls["modify"]["uncached"] == 2  # the key looked up first
    assert all(entry["uncached"] >= entry["cached"] for entry in calls.values())

    assert results["budgets"]["cold_start"]["limit"] == 1.5 and results["budgets"]["warm_modify"]["limit"] == 2.0
    assert results["cold"]["ours"]["cold_ms"]["n"] >= 3
    assert results["import_profile"]["shipped"]["packages_ms"]
    report = (tmp_path / "REPORT.md").read_text()
    assert "## Cold start" in report
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    worst = results["worst_bodies"]
    for name in ("unknown keys, create", "wrong-type metadata values, modify"):
        assert worst[name]["worst_bytes"] > 1_000_000 and worst[name]["small_bytes"] <= 16 * 1024
        assert worst[name]["worst_ms"] > worst[name]["small_ms"] > 0
    assert "## The worst invalid bodies" in (tmp_path / "REPORT.md").read_text()

    # Whether each budget held is said in words, on the console and in the report, whichever way it went.
    from bench.run import budget_summary, budget_verdicts

    for line in [*budget_verdicts(results["budgets"]), budget_summary(results["budgets"])]:
        assert line in done.stderr, (line, done.stderr[-2000:])
        assert line in report, line
    missed = [budget for budget in results["budgets"].values() if not budget["ok"]]
    assert ("MISSED" in done.stderr) == bool(missed) and ("MISSED" in report) == bool(missed)


def test_a_missed_budget_is_said_in_words():
    from bench.run import budget_summary, budget_verdicts

    budgets = {
        "cold_start": {"ratio": 1.62, "limit": 1.5, "ok": False},
        "warm_modify": {"ratio": 1.4, "limit": 2.0, "ok": True},
    }
    assert budget_verdicts(budgets) == [
        "cold start: budget MISSED: 1.62x the floor, over the 1.5x allowed",
        "warm modify p50: 1.4x the floor, within its 2.0x budget",
    ]
    assert budget_summary(budgets) == "Budget missed: cold start (1 of 2)."
    assert budget_summary({"warm_modify": budgets["warm_modify"]}) == "Every budget held."
