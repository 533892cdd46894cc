"""`make bench` runs: its quick mode, end to end, writes the results, the report and the chart.

The figures themselves are not checked here (the machine running the tests is busy with them); only that every
part ran and gave values of the right kind. The full run is `make bench`, outside `make test`.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import struct
import subprocess
import sys
import zlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_quick_bench_writes_results_report_and_chart(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=480,  # a few minutes on a busy machine: cold starts, warm requests, list pages on moto
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
    assert_png((tmp_path / "chart.png").read_bytes())

    # A SnapStart restore, played with the hooks the entry point registers (the floor registers none).
    restore = results["restore"]
    assert restore["ours"]["hooks"] == {"before_snapshot": 1, "after_restore": 1}
    assert restore["floor"]["hooks"] == {"before_snapshot": 0, "after_restore": 0}
    for variant in ("ours", "floor"):
        assert 0 < restore[variant]["first_ms"]["median"], variant
    assert restore["ours"]["before_snapshot_ms"]["median"] > restore["ours"]["first_ms"]["median"]
    assert set(results["goals"]) == {"cold_start", "warm_modify", "restore"}
    assert all(isinstance(goal["met"], bool) for goal in results["goals"].values())
    assert "## A SnapStart restore" in report and "| first modify after a SnapStart restore |" in report

    # The message routes: each warm operation beside its floor, and the calls each makes.
    for variant in ("ours", "floor"):
        operations = results["warm"][variant]["operations"]
        for operation in ("message create", "message retrieve", "list 20", "list 100"):
            measured = operations[operation]
            assert 0 < measured["p50_us"] <= measured["p95_us"] <= measured["p99_us"], (variant, operation)
    warm = results["warm"]["ours"]["operations"]
    assert warm["list 100"]["p50_us"] > warm["list 20"]["p50_us"]  # five times the messages: more work, not less
    for operation, cached in {
        "message create": ["TransactWriteItems(threads, messages)"],
        "create thread with 3 messages": ["TransactWriteItems(threads, messages, messages, messages)"],
        "message retrieve": ["BatchGetItem(threads, messages)"],
        "message modify": ["BatchGetItem(threads, messages)", "TransactWriteItems(threads, messages)"],
        "message delete": ["BatchGetItem(threads, messages)", "TransactWriteItems(messages)"],
        "list": ["BatchGetItem(threads)", "Query(messages)"],
        "list, after a cursor": ["BatchGetItem(threads, messages)", "Query(messages)"],
        "list, before a cursor": ["BatchGetItem(threads, messages)", "Query(messages)"],
    }.items():
        assert calls[operation]["cached_operations"] == cached, operation
        assert calls[operation]["uncached_operations"] == ["GetItem(keys)", *cached], operation
    assert "| warm list page of 100 messages, p50 |" in report and "| message create |" in report

    # A list page reads what it answers, not the thread: 20 messages of 10,000 read as much per message as 10 of 10.
    pages = results["list_pages"]
    assert pages["sizes"] == [10, 10_000] and pages["limit"] == 20
    newest = pages["pages"]["newest first"]["sizes"]
    assert newest["10"]["messages"] == 10 and newest["10000"]["messages"] == 20
    assert newest["10"]["items_read"] == 11 and newest["10000"]["items_read"] == 22  # the thread; limit + 1 at most
    middle = pages["pages"]["from the middle, after"]["sizes"]
    assert middle["10"]["messages"] == 5 and middle["10000"]["messages"] == 20
    assert middle["10000"]["items_read"] == 23  # the thread and the cursor's message, then limit + 1
    assert pages["pages"]["newest first"]["ratio_large_to_small"]["items_read_per_message"] == 1.0
    for kind in pages["pages"].values():
        for size in kind["sizes"].values():
            assert 0 < size["outside_storage_p50_ms"] < size["p50_ms"] and size["n"] == 3
    assert "## A list page against the size of its thread" in report

    # The message store is not imported at a cold start; the first message request imports it.
    profile = results["import_profile"]["shipped"]
    assert "threads_api.message_routes" in profile["message_modules_at_init_ms"]
    assert "threads_api.messages" not in profile["message_modules_at_init_ms"]
    assert {"threads_api.messages", "threads_api.bucket"} <= set(profile["first_message_import_modules"])
    assert profile["first_message_import_ms"] > 0
    assert "**The message routes at import**" in report

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


def assert_png(data: bytes) -> tuple[int, int]:
    """A whole PNG: the signature, chunks whose CRCs hold, IHDR first and IEND last, and an image Pillow decodes."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        at += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND" and at == len(data)
    # No date and no software version written into it: the same results give the same bytes.
    assert not {b"tIME", b"tEXt", b"iTXt", b"zTXt"} & {kind for kind, _ in chunks}
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


@pytest.fixture(scope="module")
def published() -> dict:
    """The results of the last published full run (bench/results.json), as draw takes them."""
    return json.loads((ROOT / "bench" / "results.json").read_text())


def test_the_chart_is_a_png_drawn_from_the_results(published):
    from bench.run import draw

    png = draw(published)
    width, height = assert_png(png)
    assert width == 1000 and 600 <= height <= 1400
    assert draw(json.loads(json.dumps(published))) == png  # deterministic: the same results, the same bytes
    changed = json.loads(json.dumps(published))
    changed["cold"]["ours"]["cold_ms"]["median"] *= 1.2
    assert draw(changed) != png  # and drawn from them


def test_the_chart_writes_each_bar_its_figures_and_the_footnote(published, monkeypatch):
    from bench import chart
    from bench.run import COLD_BUDGET, WARM_BUDGET, draw

    drawn = {}
    monkeypatch.setattr(chart, "bar_chart", lambda title, groups, footnote: drawn.update(locals()) or b"")
    draw({**published, "quick": True})
    groups = drawn["groups"]
    assert [len(group.bars) for group in groups] == [3, 2, 2, 2]
    cold = groups[0]
    assert "millisecond" in cold.unit and all("microsecond" in group.unit for group in groups[1:])
    ours = cold.bars[0]
    c = published["cold"]["ours"]["cold_ms"]
    assert (ours.value, ours.low, ours.high) == (c["median"], c["p25"], c["p75"])  # whiskers: the quartiles
    assert ours.note.startswith(f"{c['median']:.0f} ms") and "×" in ours.note
    assert cold.budget == published["cold"]["floor"]["cold_ms"]["median"] * COLD_BUDGET
    assert groups[1].budget == published["warm"]["floor"]["operations"]["modify"]["p50_us"] * WARM_BUDGET
    assert groups[2].budget is None and groups[3].budget is None
    assert drawn["footnote"].startswith("Quick run") and published["machine"]["date"] in drawn["footnote"]


def test_a_run_writes_no_tracked_file_unless_published(tmp_path):
    from bench.run import BENCH, arguments

    assert arguments([]).out == BENCH / "out"
    assert arguments(["--quick"]).out == BENCH / "out" / "quick"
    assert arguments(["--work", str(tmp_path)]).out == tmp_path
    assert arguments(["--out", str(tmp_path / "x")]).out == tmp_path / "x"
    assert arguments(["--publish"]).out == BENCH
    for argv in (["--publish", "--quick"], ["--publish", "--out", str(tmp_path)]):
        with pytest.raises(SystemExit) as refused:
            arguments(argv)
        assert refused.value.code == 2
    written = ["bench/out/REPORT.md", "bench/out/results.json", "bench/out/quick/chart.png"]
    ignored = subprocess.run(["git", "check-ignore", *written], cwd=ROOT, capture_output=True, text=True)
    assert ignored.stdout.split() == written
