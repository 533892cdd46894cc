"""Import saved OpenAI threads with their ids, and export a project's threads.

    python -m admin.threads --stack threads-api import saved.jsonl --project proj_acme
    python -m admin.threads --stack threads-api export --project proj_acme > threads.jsonl
    python -m admin.threads --endpoint URL import saved.jsonl --project proj_acme    # make serve's storage

The file is JSON Lines: per line a `thread` object, a `thread.message` object, or a saved list page of messages
(`{"object": "list", "data": [...]}`), as the `openai` client returned them. A thread's lines stand together,
in any order among themselves; its messages list by `created_at`, then by their order in the file. Every line
is checked with the API's rules; a refused line is reported with its number and the API's error text, and its
thread is not imported, while the others are. Each thread is imported whole or not at all; running the same
import again changes nothing, and an import that was stopped is finished by running it again. An export writes
every thread of the project and its messages in the same shapes (oldest message first), which an import into
an empty project takes back as they were. `docs/migration.md` is the guide.

`--stack NAME` finds the tables and the bucket from a deployed stack's outputs, with your AWS credentials;
`--endpoint URL` talks to a local DynamoDB (and S3: the same URL unless `--s3-endpoint` says) with the local
names `make serve` gives them. Exit status: 0 when every line was imported (or was already), 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from admin.aws import OperatorError, command, one_line, region_of, require_credentials, session, stack_output
from local.stack import local_bucket_name, local_table_name
from local.storage import EMBEDDED_AWS, aws_client
from threads_api.bucket import ContentBucket
from threads_api.cleanup import Cleanup
from threads_api.exceptions import StorageUnavailable
from threads_api.imported import Refused, Saved, read_line
from threads_api.message import Message
from threads_api.thread import Thread
from threads_api.transfer import (
    MAX_IMPORTED_MESSAGES,
    Outcome,
    ProjectExport,
    Refusal,
    Tables,
    ThreadImport,
    digest_entry,
)

WORKERS = 8  # threads written at once
# Bulk writes wait out throttling: more attempts than an operator's one-off call, with botocore's backoff.
BULK_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 10},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=4 * WORKERS,
)
_OUTPUTS = {"threads": "ThreadsTableName", "messages": "MessagesTableName", "bucket": "ContentBucketName"}


@dataclass
class Storage:
    dynamodb: Any
    s3: Any
    tables: Tables
    bucket: str

    def content(self) -> ContentBucket:
        return ContentBucket(self.bucket, lambda: self.s3)


def storage(args: argparse.Namespace) -> Storage:
    if args.endpoint:
        environment = {**EMBEDDED_AWS, **os.environ, **({"AWS_REGION": args.region} if args.region else {})}
        return Storage(
            aws_client("dynamodb", args.endpoint, environment, BULK_CONFIG),
            aws_client("s3", args.s3_endpoint or args.endpoint, environment, BULK_CONFIG),
            Tables(local_table_name("ThreadsTable"), local_table_name("MessagesTable")),
            local_bucket_name("ContentBucket"),
        )
    aws = session(args.region)
    region_of(aws)
    require_credentials(aws)
    names = {name: stack_output(aws, args.stack, output) for name, output in _OUTPUTS.items()}
    return Storage(
        aws.session.client("dynamodb", config=BULK_CONFIG),
        aws.session.client("s3", config=BULK_CONFIG),
        Tables(names["threads"], names["messages"]),
        names["bucket"],
    )


# Reading the file


@dataclass
class Group:
    """The lines of one thread: where they stand in the file, and what checking them found. Its objects are
    hashed as they are read, not kept."""

    thread_id: str
    first_line: int
    start: int  # the byte offset of its first line
    end: int = 0  # past its last line
    last_line: int = 0
    thread: Thread | None = None
    messages: int = 0
    refusals: list[str] = field(default_factory=list)
    _message_ids: set[str] = field(default_factory=set)
    _hash: Any = field(default_factory=hashlib.sha256)

    def add(self, saved: Saved, line: str) -> None:
        if isinstance(saved, Thread):
            if self.thread is not None:
                self.refusals.append(f"{line}: a second thread object for {self.thread_id}")
            self.thread = saved
        else:
            if saved.id in self._message_ids:
                self.refusals.append(f"{line}: message {saved.id} is in the file twice")
            self._message_ids.add(saved.id)
            self.messages += 1
        self._hash.update(digest_entry(saved))

    def digest(self) -> str:
        return str(self._hash.hexdigest())

    def refusal(self) -> str | None:
        """Why the thread cannot be imported, if it cannot: the first problem of its lines."""
        if self.refusals:
            return self.refusals[0]
        if self.thread is None:
            return f"{self.lines()}: no thread object for {self.thread_id}"
        if self.messages > MAX_IMPORTED_MESSAGES:
            return f"{self.lines()}: {self.thread_id} has more than {MAX_IMPORTED_MESSAGES:,} messages"
        return None

    def lines(self) -> str:
        return (
            f"line {self.first_line}"
            if self.first_line == self.last_line
            else f"lines {self.first_line}-{self.last_line}"
        )


def _thread_of(saved: Saved | Refused) -> str | None:
    return saved.id if isinstance(saved, Thread) else saved.thread_id


def groups(path: Path, project: str, refused: Callable[[str], None], read: Callable[[int], None]) -> Iterator[Group]:
    """The file's threads, one group of lines each, checked, in file order. A line that names no thread, or one
    of a thread whose lines ended earlier, is `refused` on its own. Memory: one group's message ids, and the
    ids of the threads read so far."""
    done: dict[str, str] = {}  # a thread whose lines ended: where they were
    current: Group | None = None
    offset = 0
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            start, offset = offset, offset + len(line)
            read(len(line))
            if not line.strip():
                continue
            for saved in read_line(line, project):
                where = f"line {number}" + (f" ({saved.where})" if isinstance(saved, Refused) and saved.where else "")
                thread_id = _thread_of(saved) or (current.thread_id if current is not None else None)
                if thread_id is None:
                    assert isinstance(saved, Refused)
                    refused(f"{where}: {saved.error.message}")
                    continue
                if current is None or current.thread_id != thread_id:
                    if current is not None:
                        done[current.thread_id] = current.lines()
                        yield current
                        current = None
                    if thread_id in done:
                        refused(
                            f"{where}: the lines of {thread_id} must stand together; it was read from "
                            f"{done[thread_id]} without this one"
                        )
                        continue
                    current = Group(thread_id, number, start)
                current.end, current.last_line = offset, number
                if isinstance(saved, Refused):
                    current.refusals.append(f"{where}: {saved.error.message}")
                else:
                    current.add(saved, where)
    if current is not None:
        yield current


def reread(path: Path, group: Group, project: str) -> Iterator[Message]:
    """The group's messages, read again from its lines (which were checked when the group was read)."""
    with path.open("rb") as lines:
        lines.seek(group.start)
        offset = group.start
        for line in lines:
            if offset >= group.end:
                return
            offset += len(line)
            for saved in read_line(line, project):
                if isinstance(saved, Message) and saved.thread_id == group.thread_id:
                    yield saved


# Import


@dataclass
class Summary:
    imported: int = 0
    unchanged: int = 0
    messages: int = 0
    refused_threads: int = 0
    refused_lines: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        rate = f"{self.imported / self.seconds:,.0f} threads/s, {self.messages / self.seconds:,.0f} messages/s"
        return (
            f"imported {self.imported:,} threads ({self.messages:,} messages), {self.unchanged:,} already imported, "
            f"{self.refused_threads:,} threads refused, {self.refused_lines:,} lines refused outside a thread; "
            f"{self.seconds:.1f} s ({rate if self.seconds else '-'})"
        )


class Progress:
    """A progress bar on a terminal (rich): the file read, threads and messages imported, each per second."""

    def __init__(self, total_bytes: int | None, enabled: bool):
        self._bar: Any = None
        self._read: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description:>9}"),
                BarColumn(),
                TaskProgressColumn(show_speed=True),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            if total_bytes is not None:
                self._read = self._bar.add_task("file", total=total_bytes)
            self._threads = self._bar.add_task("threads", total=None)
            self._messages = self._bar.add_task("messages", total=None)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def read(self, count: int) -> None:
        if self._read is not None:
            self._bar.advance(self._read, count)

    def threads(self, count: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._threads, count)

    def messages(self, count: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._messages, count)


def import_file(
    path: Path,
    project: str,
    where: Storage,
    workers: int = WORKERS,
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    show_progress: bool = False,
) -> Summary:
    """Import the file's threads into the project, `workers` threads at a time; each refusal is `report`ed."""
    summary = Summary()
    lock = threading.Lock()
    began = time.monotonic()

    def refuse_line(line: str) -> None:
        with lock:
            summary.refused_lines += 1
        report(line)

    with Progress(path.stat().st_size, show_progress) as progress:

        def written(count: int) -> None:
            with lock:
                summary.messages += count
            progress.messages(count)

        importer = ThreadImport(
            where.dynamodb,
            where.tables,
            where.content(),
            Cleanup(where.dynamodb, where.s3, where.tables.messages, where.bucket),
            written,
        )

        def run(group: Group) -> None:
            assert group.thread is not None
            try:
                outcome = importer.run(project, group.thread, lambda: reread(path, group, project), group.digest())
            except Refusal as refusal:
                with lock:
                    summary.refused_threads += 1
                report(f"{group.lines()}: {refusal}")
                return
            with lock:
                if outcome is Outcome.IMPORTED:
                    summary.imported += 1
                else:
                    summary.unchanged += 1
            progress.threads()

        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import")
        in_flight: list[Future[None]] = []
        try:
            for group in groups(path, project, refuse_line, progress.read):
                problem = group.refusal()
                if problem is not None:
                    summary.refused_threads += 1
                    report(f"{problem} ({group.thread_id} not imported)")
                    continue
                in_flight.append(pool.submit(run, group))
                if len(in_flight) >= 2 * workers:  # memory stays bounded: the reading waits for the writing
                    in_flight.pop(0).result()
            for future in in_flight:
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    summary.seconds = time.monotonic() - began
    return summary


# Export


def export_project(project: str, where: Storage, out: IO[bytes], show_progress: bool = False) -> tuple[int, int]:
    """Write the project's threads, each followed by its messages (oldest first), as JSON Lines to `out`;
    returns how many threads and messages."""
    export = ProjectExport(where.dynamodb, where.tables, where.content())
    threads = messages = 0
    with Progress(None, show_progress) as progress:
        for thread in export.threads(project):
            out.write(_json_line(thread.to_wire()))
            for message in export.messages(thread.id):
                out.write(_json_line(message.to_wire()))
                messages += 1
                progress.messages(1)
            threads += 1
            progress.threads()
    return threads, messages


def _json_line(wire: dict[str, object]) -> bytes:
    return json.dumps(wire, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


# The command


@command("admin.threads")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="admin.threads", description=__doc__.splitlines()[0])
    place = parser.add_mutually_exclusive_group(required=True)
    place.add_argument("--stack", help="a deployed stack's name")
    place.add_argument("--endpoint", help="a local DynamoDB's URL (make serve prints it)")
    parser.add_argument("--s3-endpoint", help="a local S3's URL (default: the --endpoint URL)")
    parser.add_argument("--region")
    commands = parser.add_subparsers(dest="command", required=True)
    importing = commands.add_parser("import", help="import a JSON Lines file of saved threads and messages")
    importing.add_argument("file", type=Path)
    importing.add_argument("--project", required=True)
    importing.add_argument("--workers", type=int, default=WORKERS, help=f"threads written at once ({WORKERS})")
    exporting = commands.add_parser("export", help="write a project's threads and messages as JSON Lines")
    exporting.add_argument("--project", required=True)
    args = parser.parse_args(argv)

    if args.command == "import" and not args.file.is_file():
        raise OperatorError(f"no file {args.file}")
    where = storage(args)
    place_name = f"the storage at {args.endpoint}" if args.endpoint else f"stack {args.stack}"
    try:
        if args.command == "import":
            summary = import_file(
                args.file, args.project, where, max(1, args.workers), show_progress=sys.stderr.isatty()
            )
            print(summary.line())
            return 1 if summary.refused_threads or summary.refused_lines else 0
        out = sys.stdout.buffer
        threads, messages = export_project(args.project, where, out, show_progress=sys.stderr.isatty())
        out.flush()
        print(f"exported {threads:,} threads ({messages:,} messages) of {args.project}", file=sys.stderr)
        return 0
    except (ClientError, BotoCoreError, StorageUnavailable) as error:
        again = "; run the import again to finish it" if args.command == "import" else ""
        raise OperatorError(f"{place_name}: {one_line(error, args.endpoint)}{again}") from None


if __name__ == "__main__":
    sys.exit(main())
