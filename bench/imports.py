"""Import and export throughput: a file of saved threads through `admin.threads`, into the embedded DynamoDB
(moto in server mode, as `make serve` runs it) and into dynalite.

    python -m bench.imports [--threads 1000] [--messages 100] [--workers 8] [--storage embedded dynalite]

The file is written first (each thread with `--messages` messages of about 300 characters, a fifth of them an
assistant's with a run id and an annotation), then imported by a fresh `python -m admin.threads` process, and
exported again. It reports threads and messages per second, and where the CPU went (the importer, the storage
server), which is what bounds the figure on a small machine. Results: bench/out/imports.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from local.launch import ROOT, dynalite
from local.storage import EMBEDDED_AWS, aws_client, embedded_dynamodb_server, prepare_buckets, prepare_tables
from local.table import load_template

OUT = pathlib.Path(__file__).resolve().parent / "out" / "imports.json"
TICKS = os.sysconf("SC_CLK_TCK")
PROJECT = "proj_bench"


def write_file(path: pathlib.Path, threads: int, messages: int) -> int:
    """The saved threads, as the openai client returns them; returns the file's size in bytes."""
    with path.open("w", encoding="utf-8") as out:
        for t in range(threads):
            thread_id = f"thread_bench{t:019d}"
            thread = {"id": thread_id, "object": "thread", "created_at": 1_700_000_000 + t, "metadata": {"n": str(t)}}
            out.write(json.dumps({**thread, "tool_resources": {}}) + "\n")
            for m in range(messages):
                assistant = m % 5 == 4
                text = {"value": f"message {m} of thread {t}: " + "lorem ipsum dolor sit amet " * 10, "annotations": []}
                if assistant:
                    text["annotations"] = [
                        {
                            "type": "file_citation",
                            "text": "[1]",
                            "file_citation": {"file_id": "file-abc"},
                            "start_index": 0,
                            "end_index": 3,
                        }
                    ]
                message = {
                    "id": f"msg_{t:012d}{m:012d}",
                    "object": "thread.message",
                    "created_at": 1_700_000_000 + t + m // 3,
                    "thread_id": thread_id,
                    "role": "assistant" if assistant else "user",
                    "content": [{"type": "text", "text": text}],
                    "assistant_id": "asst_bench" if assistant else None,
                    "run_id": f"run_{m}" if assistant else None,
                    "attachments": [],
                    "metadata": {},
                }
                out.write(json.dumps(message) + "\n")
    return path.stat().st_size


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


@contextlib.contextmanager
def storage(kind: str) -> Iterator[tuple[str, str, int | None]]:
    """(DynamoDB URL, S3 URL, pid of the DynamoDB server, when it is another process) with the template's tables."""
    with embedded_dynamodb_server() as moto:
        if kind == "embedded":
            _prepare(moto, moto)
            yield moto, moto, None
            return
        with dynalite() as endpoint:
            pid = _pid_listening(endpoint)
            _prepare(endpoint, moto)
            yield endpoint, moto, pid


def _prepare(endpoint: str, s3: str) -> None:
    template = load_template()
    prepare_tables(aws_client("dynamodb", endpoint, EMBEDDED_AWS), template, {})
    prepare_buckets(aws_client("s3", s3, EMBEDDED_AWS), template, {})


def _pid_listening(endpoint: str) -> int | None:
    port = endpoint.rsplit(":", 1)[1]
    found = subprocess.run(["pgrep", "-f", "--", f"--port {port}"], capture_output=True, text=True).stdout.split()
    return int(found[0]) if found else None


def run_command(args: list[str], out: int | None = None) -> tuple[float, float, str]:
    """A fresh `python -m admin.threads` process: wall seconds, its CPU seconds, its standard output."""
    before = os.times()
    began = time.monotonic()
    process = subprocess.run(
        [sys.executable, "-m", "admin.threads", *args],
        cwd=ROOT,
        env={**os.environ, **EMBEDDED_AWS},
        stdout=out if out is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.monotonic() - began
    after = os.times()
    if process.returncode != 0:
        raise SystemExit(f"admin.threads failed ({process.returncode}): {process.stderr}")
    cpu = after.children_user + after.children_system - before.children_user - before.children_system
    return wall, cpu, process.stdout if out is None else ""


def peak_rss_mb() -> float:
    """The largest peak memory of the commands run so far (each run is a fresh process)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def own_cpu() -> float:
    """This process's CPU seconds: the embedded moto server runs in it."""
    times = os.times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.imports", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100, help="messages per thread")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--storage", nargs="+", default=["embedded", "dynalite"])
    # moto reads every item of a table on an index Query (DynamoDB reads only the partition's), so an export
    # on moto takes time in the square of the table's size: measured on dynalite only, unless asked.
    parser.add_argument("--export-on", nargs="*", default=["dynalite"])
    args = parser.parse_args()

    results: dict[str, object] = {"threads": args.threads, "messages": args.threads * args.messages}
    with tempfile.TemporaryDirectory() as scratch:
        path = pathlib.Path(scratch) / "saved.jsonl"
        size = write_file(path, args.threads, args.messages)
        results["file_bytes"] = size
        print(f"file: {args.threads:,} threads, {args.threads * args.messages:,} messages, {size / 1e6:.1f} MB")
        for kind in args.storage:
            with storage(kind) as (endpoint, s3, pid):
                where = ["--endpoint", endpoint, "--s3-endpoint", s3]
                server_before = cpu_seconds(pid) if pid else own_cpu()
                wall, importer_cpu, summary = run_command(
                    [*where, "import", str(path), "--project", PROJECT, "--workers", str(args.workers)]
                )
                server = (cpu_seconds(pid) if pid else own_cpu()) - server_before
                again, _, _ = run_command([*where, "import", str(path), "--project", PROJECT])
                row: dict[str, object] = {
                    "import_seconds": round(wall, 2),
                    "threads_per_second": round(args.threads / wall, 1),
                    "messages_per_second": round(args.threads * args.messages / wall, 1),
                    "importer_cpu_seconds": round(importer_cpu, 2),
                    "server_cpu_seconds": round(server, 2),
                    "second_run_seconds": round(again, 2),
                    "largest_peak_rss_mb": round(peak_rss_mb(), 1),
                    "summary": summary.strip(),
                }
                if kind in args.export_on:
                    exported = pathlib.Path(scratch) / f"export-{kind}.jsonl"
                    with exported.open("wb") as out:
                        export_wall, _, _ = run_command([*where, "export", "--project", PROJECT], out=out.fileno())
                    lines = sum(1 for _ in exported.open("rb"))
                    row |= {
                        "export_seconds": round(export_wall, 2),
                        "export_lines_per_second": round(lines / export_wall, 1),
                        "export_lines": lines,
                    }
                results[kind] = row
                print(f"{kind}: {json.dumps(row, indent=1)}")
    results["load_average"] = os.getloadavg()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
