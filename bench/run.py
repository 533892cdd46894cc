"""What a request and a cold start cost, measured beside the floor: `make bench` (`python -m bench.run`).

    python -m bench.run [--quick] [--publish | --out DIR] [--work DIR]

Writes `results.json`, `REPORT.md` and `chart.png` to `--out`: by default `--work` (bench/out/, git-ignored) for a
full run and bench/out/quick/ for a quick one, so that a run changes no tracked file. `--publish` (`make bench
PUBLISH=1`) writes a full run's to bench/ instead, the copies kept in git. The raw samples and the environments go
to `--work`. Every figure is measured in the same run as its baseline, the
floor (`bench/floor.py`: the same event, the same single DynamoDB call, a plain boto3 client, nothing else), and
given as median, spread and ratio.

- **Layout, as Lambda has it.** `--work/runtime-venv` holds the runtime's SDK only (boto3 and botocore at the
  versions of uv.lock, compiled, as /var/runtime has them); the function is assembled in a temporary directory as
  `make build` packs it (its code, and `requirements.txt` installed beside it, compiled to CPython 3.13 bytecode:
  /var/task is read only, so without the `.pyc` Lambda would compile those modules at every cold start). No test
  or CLI package is importable.
- **Cold start.** Fresh processes (`bench/cold.py`) import the entry point and serve one modify event, ours and the
  floor interleaved; measured from the moment the process is started to the end of that invocation (one clock,
  CLOCK_MONOTONIC, across processes), plus peak memory. Also the same without the bytecode (plain `sam build`),
  the import-time profile (`-X importtime`), and the cost of each step of the import.
- **Warm requests** (`bench/warm.py`): a thread's modify, create and retrieve, a message's create and retrieve,
  and list pages of 20 and 100, through the entry point, thousands of calls each, with DynamoDB answered in
  process at the HTTP layer (`bench/canned.py`): p50, p95, p99, CPU per request.
- **DynamoDB calls per operation** (`bench/calls.py`), with the key check cached and not, on the embedded moto.
- **A list page against the size of its thread** (`bench/pages.py`): 10 and 10,000 messages on the embedded moto,
  the items DynamoDB read per page and the latency, moto's own time apart.
- **Size:** `sam build` into `--work/sam-build`, compiled as `make build` does: the artifact's bytes, zipped bytes,
  and what takes them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile

from bench import chart

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
FUNCTION = ROOT / "functions" / "threads"
EVENT = ROOT / "events" / "modify-metadata.json"
RUNTIME_SDK = ("boto3", "botocore")  # what the python3.13 runtime provides, at the versions locked here
LAYOUT_VERSION = "1"  # bump when the way the environments are made changes
COLD_BUDGET, WARM_BUDGET = 1.5, 2.0
# What the measures aim at, within the budgets: cold start and warm modify, and the first modify after a SnapStart
# restore (from the after-restore hooks to the end of that modify), each against the floor's.
GOALS = {"cold_start": 1.25, "warm_modify": 1.45, "restore": 1.2}
PAGE_SIZES = (10, 10_000)  # bench/pages.py's threads
REQUIRED_KEYS = (
    "cold_start_ms",
    "cold_start_floor_ms",
    "warm_modify_us_p50",
    "warm_modify_floor_us_p50",
    "dynamodb_calls",
    "artifact_bytes",
)
# The function's environment in Lambda (template.yaml and the runtime's own variables), with fake credentials.
LAMBDA_ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "bench-not-a-secret",
    "AWS_SESSION_TOKEN": "bench-not-a-token",
    "AWS_LAMBDA_FUNCTION_NAME": "ThreadsFunction",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/ThreadsFunction",
    "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "TABLE_NAME": "threads-bench",
    "KEYS_TABLE_NAME": "threads-bench-keys",
    "IDEMPOTENCY_TABLE_NAME": "threads-bench-idempotency",
    "MESSAGES_TABLE_NAME": "threads-bench-messages",
    "CONTENT_BUCKET_NAME": "threads-bench-content",
    "API_KEY_CACHE_SECONDS": "30",
    "POWERTOOLS_SERVICE_NAME": "threads",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read only: nothing compiled is ever kept between cold starts
}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _uv() -> list[str]:
    """The uv the Makefile installs (it exports UV), else one on PATH."""
    installed = sorted(ROOT.glob(".tools/uv-*/bin/uv"))
    found = os.environ.get("UV") or (str(installed[-1]) if installed else None) or shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"] if package["name"] in RUNTIME_SDK}


class Layout:
    """The runtime's SDK (a virtual environment) and the function as packaged (a directory, plain and compiled)."""

    def __init__(self, work: pathlib.Path, scratch: pathlib.Path):
        self.venv = work / "runtime-venv"
        self.python = self.venv / "bin" / "python"
        self.deps = work / "function-deps"
        self.task = scratch / "task"  # as make build packs it: every module compiled ahead
        self.task_source = scratch / "task-source"  # as plain sam build packs it: no .pyc
        self.versions = _locked_versions()

    def prepare(self) -> None:
        requirements = (FUNCTION / "requirements.txt").read_text()
        inputs = json.dumps([LAYOUT_VERSION, requirements, self.versions, platform.machine()]).encode()
        stamp = hashlib.sha256(inputs).hexdigest()
        self.venv.parent.mkdir(parents=True, exist_ok=True)
        with open(self.venv.parent / ".layout.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent run (the quick test) waits rather than racing
            stamp_file = self.venv.parent / ".layout-stamp"
            if not (stamp_file.exists() and stamp_file.read_text() == stamp and self.python.exists()):
                log("making the runtime environment (runtime SDK) and the function's dependencies")
                shutil.rmtree(self.venv, ignore_errors=True)
                shutil.rmtree(self.deps, ignore_errors=True)
                pip = [*_uv(), "pip", "install", "--quiet", "--python", str(self.python)]
                _run([*_uv(), "venv", "--quiet", "--python", sys.executable, str(self.venv)])
                _run([*pip, "--compile-bytecode", *(f"{name}=={version}" for name, version in self.versions.items())])
                _run([*pip, "--target", str(self.deps), "-r", str(FUNCTION / "requirements.txt")])
                stamp_file.write_text(stamp)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "bin")
        shutil.copytree(self.deps, self.task_source, ignore=ignore)
        shutil.copytree(FUNCTION, self.task_source, ignore=ignore, dirs_exist_ok=True)
        shutil.copytree(self.task_source, self.task)
        compileall = [str(self.python), "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"]
        _run([*compileall, str(self.task)])

    def environment(self, task: pathlib.Path, *extra: pathlib.Path) -> dict[str, str]:
        env = {**LAMBDA_ENVIRONMENT, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LAMBDA_TASK_ROOT": str(task)}
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in (task, *extra))
        return env


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(command[:4])}... failed:\n{done.stdout}\n{done.stderr}")
    return done


# Statistics.


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: list[float], digits: int = 1) -> dict:
    return {
        "median": round(statistics.median(values), digits),
        "p25": round(quantile(values, 0.25), digits),
        "p75": round(quantile(values, 0.75), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def ratio(ours: float, floor: float) -> float:
    return round(ours / floor, 2) if floor else float("nan")


# Cold start.

# variant: (what bench/cold.py runs, which directory is /var/task: a Layout attribute, or None for the floor's)
COLD_VARIANTS = {"ours": ("ours", "task"), "floor": ("floor", None), "ours_no_bytecode": ("ours", "task_source")}
STAGE_VARIANTS = {
    "ours": ("ours-stages", "task"),
    "ours_no_bytecode": ("ours-stages", "task_source"),
    "floor": ("floor-stages", None),
}


def _cold_process(layout: Layout, script_variant: str, where: str | None) -> dict:
    task = BENCH if where is None else getattr(layout, where)  # the floor: floor.py in its own /var/task
    command = [str(layout.python), str(BENCH / "cold.py"), script_variant, str(EVENT)]
    spawned = time.perf_counter_ns()
    done = subprocess.run(command, capture_output=True, text=True, cwd=task, env=layout.environment(task))
    exited = time.perf_counter_ns()
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"bench: cold start {script_variant} failed:\n{done.stdout}\n{done.stderr}")
    result = json.loads(lines[-1][6:])
    if result["status"] != 200:
        raise SystemExit(f"bench: cold start {script_variant} answered {result['status']}:\n{done.stdout}")
    if result["started_ns"] < spawned:  # not one clock after all: fall back to the process's own view
        spawned = result["started_ns"]
    result["cold_ms"] = (result["ended_ns"] - spawned) / 1e6
    result["in_process_ms"] = (result["ended_ns"] - result["started_ns"]) / 1e6
    result["process_wall_ms"] = (exited - spawned) / 1e6
    return result


def measure_cold(layout: Layout, runs: int) -> dict:
    samples: dict[str, list[dict]] = {variant: [] for variant in COLD_VARIANTS}
    order = list(COLD_VARIANTS)
    for run in range(runs):
        for variant in order[run % len(order) :] + order[: run % len(order)]:  # each goes first in turn
            samples[variant].append(_cold_process(layout, *COLD_VARIANTS[variant]))
    summary = {}
    for variant, runs_of in samples.items():
        summary[variant] = {
            "cold_ms": spread([r["cold_ms"] for r in runs_of]),
            "in_process_ms": spread([r["in_process_ms"] for r in runs_of]),
            "process_wall_ms": spread([r["process_wall_ms"] for r in runs_of]),
            "cpu_ms": spread([r["cpu_ms"] for r in runs_of]),
            "peak_rss_mb": spread([r["maxrss_kb"] / 1024 for r in runs_of]),
            "modules_loaded": runs_of[0]["modules"],
        }
    paired = [o["cold_ms"] / f["cold_ms"] for o, f in zip(samples["ours"], samples["floor"], strict=True)]
    summary["paired_ratio"] = spread(paired, 2)
    return {"summary": summary, "samples": samples}


RESTORE_VARIANTS = {"ours": ("ours-restore", "task"), "floor": ("floor-restore", None)}


def measure_restore(layout: Layout, runs: int) -> dict:
    """SnapStart, played in fresh processes, ours and the floor interleaved: the initialisation, the before-snapshot
    hooks, then the after-restore hooks and the first modify, timed together (the floor registers no hook)."""
    samples: dict[str, list[dict]] = {variant: [] for variant in RESTORE_VARIANTS}
    for run in range(runs):
        order = list(RESTORE_VARIANTS) if run % 2 == 0 else list(reversed(RESTORE_VARIANTS))
        for variant in order:
            result = _cold_process(layout, *RESTORE_VARIANTS[variant])
            steps = dict(result["marks"])
            sample = {
                "first_ms": (result["ended_ns"] - result["restored_ns"]) / 1e6,
                "hooks_ms": (steps["after-restore hooks"] - result["restored_ns"]) / 1e6,
                "second_ms": (steps["second modify"] - steps["first modify"]) / 1e6,
                "hooks": result["hooks"],
            }
            if "before the snapshot" in steps:
                sample["before_snapshot_ms"] = (steps["before the snapshot"] - steps["import app"]) / 1e6
            samples[variant].append(sample)
    summary: dict = {}
    for variant, runs_of in samples.items():
        summary[variant] = {key: spread([r[key] for r in runs_of], 2) for key in ("first_ms", "hooks_ms", "second_ms")}
        summary[variant]["hooks"] = runs_of[0]["hooks"]
    summary["ours"]["before_snapshot_ms"] = spread([r["before_snapshot_ms"] for r in samples["ours"]])
    pairs = [o["first_ms"] / f["first_ms"] for o, f in zip(samples["ours"], samples["floor"], strict=True)]
    summary["paired_ratio"] = spread(pairs, 2)
    return summary


def measure_stages(layout: Layout, runs: int) -> dict:
    """Where a cold start goes: the increments of each import step and of the first invocations."""
    found: dict[str, dict[str, list[float]]] = {variant: {} for variant in STAGE_VARIANTS}
    calls: dict[str, list[list[float]]] = {variant: [] for variant in STAGE_VARIANTS}
    for _ in range(runs):
        for variant, (script_variant, where) in STAGE_VARIANTS.items():
            result = _cold_process(layout, script_variant, where)
            marks = result["marks"]
            for (_, before), (name, at) in zip(marks, marks[1:], strict=False):
                found[variant].setdefault(name, []).append((at - before) / 1e6)
            calls[variant].append([ns / 1e6 for ns in result["botocore_call_ns"]])
    stages = {}
    for variant in STAGE_VARIANTS:
        stages[variant] = {
            "steps_ms": {name: round(statistics.median(values), 1) for name, values in found[variant].items()},
            "botocore_calls_in_first_modify_ms": [
                round(statistics.median(c), 2) for c in zip(*calls[variant], strict=False)
            ],
        }
    return stages


# Our modules only the message routes need, and the one a message request imports on first use (what it imports
# that `import app` has not is the message store's share, loaded lazily).
MESSAGE_MODULES = (
    "threads_api.message_routes",
    "threads_api.message",
    "threads_api.messages",
    "threads_api.bucket",
)
FIRST_MESSAGE_IMPORT = "threads_api.messages"


def import_profile(layout: Layout, runs: int) -> dict:
    """`python -X importtime -c 'import app'`: time by top-level package (own time of its modules), and by module;
    then what the first message request imports on top (the same process goes on to import the message store)."""
    profiles = {}
    command = ["-X", "importtime", "-c", f"import app; import {FIRST_MESSAGE_IMPORT}"]
    for name, task in (("shipped", layout.task), ("no_bytecode", layout.task_source)):
        by_package: dict[str, list[float]] = {}
        by_module: dict[str, list[float]] = {}
        totals, later_totals = [], []
        later_modules: dict[str, list[float]] = {}
        for _ in range(runs):
            done = _run([str(layout.python), *command], cwd=task, env=layout.environment(task))
            package_ms: dict[str, float] = {}
            total = later = 0.0
            imported_app = False
            for line in done.stderr.splitlines():
                if not line.startswith("import time:") or "imported package" in line:
                    continue
                own, cumulative, module = line.removeprefix("import time:").split("|")
                module, own_ms = module.strip(), int(own) / 1000
                if imported_app:  # after `import app`: the first message request's imports
                    later += own_ms
                    later_modules.setdefault(module, []).append(own_ms)
                    continue
                imported_app = module == "app"
                total += own_ms
                top = module.split(".")[0]
                group = f"{top} (standard library)" if top in sys.stdlib_module_names else top
                package_ms[group] = package_ms.get(group, 0.0) + own_ms
                by_module.setdefault(module, []).append(own_ms)
            totals.append(total)
            later_totals.append(later)
            stdlib = sum(ms for group, ms in package_ms.items() if group.endswith("(standard library)"))
            package_ms["all of the standard library"] = stdlib
            for group, ms in package_ms.items():
                by_package.setdefault(group, []).append(ms)
        medians = {
            group: statistics.median(values + [0.0] * (runs - len(values))) for group, values in by_package.items()
        }
        modules = {module: statistics.median(values) for module, values in by_module.items()}
        profiles[name] = {
            "total_ms": round(statistics.median(totals), 1),
            "packages_ms": {k: round(v, 1) for k, v in sorted(medians.items(), key=lambda i: -i[1])[:25]},
            "top_modules_own_ms": {k: round(v, 1) for k, v in sorted(modules.items(), key=lambda i: -i[1])[:15]},
            # Own time at `import app` of each message module (absent: not imported there).
            "message_modules_at_init_ms": {m: round(modules[m], 2) for m in MESSAGE_MODULES if m in modules},
            "first_message_import_ms": round(statistics.median(later_totals), 2),
            "first_message_import_modules": sorted(later_modules),
        }
    return profiles


# Warm requests.


# bench/warm.py's other modifies: ours with its key looked up every time, the floor's with parameter validation off.
WARM_EXTRAS = {
    "modify_uncached_key": "modify, key looked up",
    "modify_unvalidated": "modify, parameter validation off",
}


def measure_warm(layout: Layout, work: pathlib.Path, calls: int, rounds: int) -> dict:
    per_round = max(1, calls // rounds)
    merged: dict[str, dict] = {}
    for run in range(rounds):
        for variant in ("ours", "floor") if run % 2 == 0 else ("floor", "ours"):
            out = work / f"warm-{variant}-{run}.json"
            _run(
                [str(layout.python), str(BENCH / "warm.py"), variant, str(per_round), str(out)],
                cwd=layout.task,
                env=layout.environment(layout.task, ROOT),
            )
            result = json.loads(out.read_text())
            into = merged.setdefault(variant, {"operations": {}, "extras": []})
            operations = result.pop("operations")
            for extra, operation in WARM_EXTRAS.items():  # measured on fewer calls, reported beside the rest
                if extra in result:
                    operations[operation] = result.pop(extra)
            for operation, samples in operations.items():
                target = into["operations"].setdefault(operation, {"wall_ns": [], "cpu_ns": []})
                target["wall_ns"] += samples["wall_ns"]
                target["cpu_ns"] += samples["cpu_ns"]
            into["extras"].append(result)
    summary: dict[str, dict] = {}
    for variant, data in merged.items():
        operations = {}
        for operation, samples in data["operations"].items():
            wall = [ns / 1000 for ns in samples["wall_ns"]]
            cpu = [ns / 1000 for ns in samples["cpu_ns"]]
            operations[operation] = {
                "p50_us": round(statistics.median(wall), 1),
                "p25_us": round(quantile(wall, 0.25), 1),
                "p75_us": round(quantile(wall, 0.75), 1),
                "p95_us": round(quantile(wall, 0.95), 1),
                "p99_us": round(quantile(wall, 0.99), 1),
                "cpu_mean_us": round(statistics.fmean(cpu), 1),
                "cpu_p50_us": round(statistics.median(cpu), 1),
                "calls": len(wall),
            }
        extras = data["extras"][-1]
        shares = [extra["botocore_share"] for extra in data["extras"]]
        summary[variant] = {
            "operations": operations,
            "modify_inside_botocore_us": round(statistics.median(s["botocore_ns"] for s in shares) / 1000, 1),
            "modify_invocation_us": round(statistics.median(s["invocation_ns"] for s in shares) / 1000, 1),
            "modify_profile_by_package": extras["profile"]["by_package"],
            "modify_profile_top": extras["profile"]["top_cumulative"],
        }
        if "cached_key_check_ns" in extras:
            checks = [extra["cached_key_check_ns"] for extra in data["extras"]]
            summary[variant]["cached_key_check_us"] = round(statistics.median(checks) / 1000, 2)
    return summary


# DynamoDB calls and the artifact.


def count_calls() -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FUNCTION), str(ROOT)])}
    done = _run([sys.executable, "-m", "bench.calls"], cwd=ROOT, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_pages(pages: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FUNCTION), str(ROOT)])}
    done = _run([sys.executable, "-m", "bench.pages", str(pages)], cwd=ROOT, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_worst_bodies() -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FUNCTION), str(ROOT)])}
    done = _run([sys.executable, "-m", "bench.worst"], cwd=ROOT, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_artifact(work: pathlib.Path, build: bool) -> dict:
    built = work / "sam-build"
    if build:
        sam = pathlib.Path(sys.executable).parent / "sam"
        env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
        _run(
            [str(sam), "build", "--template", str(ROOT / "template.yaml"), "--build-dir", str(built)], cwd=ROOT, env=env
        )
        # What make build ships: the package compiled to bytecode (.ci/build-check).
        compileall = [sys.executable, "-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash"]
        _run([*compileall, str(built / "ThreadsFunction")])
        source = built
    else:
        source = next((p for p in (built, ROOT / ".aws-sam" / "build") if (p / "ThreadsFunction").is_dir()), None)
        if source is None:
            return {"artifact_bytes": None, "note": "quick run: no earlier build to measure, and none was made"}
    function = source / "ThreadsFunction"
    files = [path for path in function.rglob("*") if path.is_file()]
    total = sum(path.stat().st_size for path in files)
    by_entry: dict[str, int] = {}
    for path in files:
        entry = path.relative_to(function).parts[0]
        entry = entry.split("-", 1)[0] + " (dist-info)" if entry.endswith((".dist-info", ".data")) else entry
        by_entry[entry] = by_entry.get(entry, 0) + path.stat().st_size
    zipped = work / "artifact.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.write(path, path.relative_to(function))
    return {
        "artifact_bytes": total,
        "artifact_zip_bytes": zipped.stat().st_size,
        "files": len(files),
        "pyc_files": sum(path.suffix == ".pyc" for path in files),
        "by_entry_bytes": dict(sorted(by_entry.items(), key=lambda item: -item[1])[:10]),
        "source": "sam build in this run" if build else f"an earlier build: {os.path.relpath(source, ROOT)}",
    }


# The report.


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain", "functions"], capture_output=True, text=True, cwd=ROOT)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": (commit.stdout.strip() or "unknown") + (" (functions/ modified)" if dirty.stdout.strip() else ""),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _mb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:.2f} MB"


def _s(d: dict, unit: str = "ms") -> str:
    return f"{d['median']:g} {unit} (IQR {d['p25']:g}–{d['p75']:g}, min {d['min']:g}, max {d['max']:g}, n={d['n']})"


BUDGET_NAMES = {"cold_start": "cold start", "warm_modify": "warm modify p50"}
# The warm operations the summary lists, and how it names them.
WARM_SUMMARY = ("modify", "create", "retrieve", "message create", "message retrieve", "list 20", "list 100")
WARM_NAMES = {"list 20": "list page of 20 messages", "list 100": "list page of 100 messages"}


def budget_verdicts(budgets: dict) -> list[str]:
    """Each budget in words: held, or MISSED and by how much."""
    lines = []
    for key, budget in budgets.items():
        name = BUDGET_NAMES.get(key, key.replace("_", " "))
        if budget["ok"]:
            lines.append(f"{name}: {budget['ratio']}x the floor, within its {budget['limit']}x budget")
        else:
            lines.append(f"{name}: budget MISSED: {budget['ratio']}x the floor, over the {budget['limit']}x allowed")
    return lines


def budget_summary(budgets: dict) -> str:
    missed = [BUDGET_NAMES.get(key, key) for key, budget in budgets.items() if not budget["ok"]]
    if not missed:
        return "Every budget held."
    return f"Budget missed: {' and '.join(missed)} ({len(missed)} of {len(budgets)})."


GOAL_NAMES = {**BUDGET_NAMES, "restore": "first modify after a restore"}


def goal_summary(goals: dict) -> str:
    """Each goal in words: met, or not and by how much."""
    parts = [
        f"{GOAL_NAMES[name]} {goal['ratio']}x the floor ({'met' if goal['met'] else 'NOT met'}: goal {goal['goal']}x)"
        for name, goal in goals.items()
    ]
    return "Goals: " + "; ".join(parts) + "."


def restore_section(restore: dict) -> list[str]:
    ours, floor, pairs = restore["ours"], restore["floor"], restore["paired_ratio"]
    return [
        "",
        "## A SnapStart restore",
        "",
        "Fresh processes, ours and the floor interleaved, playing SnapStart as the Lambda runtime does: a stand-in for",
        "the runtime's `snapshot_restore_py` records the hooks the entry point registers; after the initialisation",
        "(the import), the before-snapshot hooks run (ours: the stores and their clients made, every route primed, the",
        "DynamoDB calls answered in process), then the clock starts, the after-restore hooks run (ours: `random`",
        "reseeded, pooled connections closed, the key cache emptied; the floor has none) and the first modify is",
        "served, with the key check not cached. What a restore costs the Lambda service itself (loading the snapshot,",
        "which grows with the memory it holds) is not in it.",
        "",
        "| | after-restore hooks | first modify after the restore (hooks included) | second modify |",
        "|---|---|---|---|",
        f"| ours | {_s(ours['hooks_ms'])} | {_s(ours['first_ms'])} | {ours['second_ms']['median']:g} ms |",
        f"| floor | – | {_s(floor['first_ms'])} | {floor['second_ms']['median']:g} ms |",
        "",
        f"Ratio ours / floor, first modify after the restore: "
        f"{ratio(ours['first_ms']['median'], floor['first_ms']['median'])}x of the medians; per interleaved pair "
        f"{pairs['median']}x (IQR {pairs['p25']}–{pairs['p75']}). Ours does its share of the work before the "
        f"snapshot, once per published version: the before-snapshot hooks took {_s(ours['before_snapshot_ms'])}.",
    ]


def report(results: dict) -> str:
    m, cold, warm, calls = results["machine"], results["cold"], results["warm"], results["dynamodb_calls"]
    ours, floor, pyc = cold["ours"], cold["floor"], cold["ours_no_bytecode"]
    budgets = results["budgets"]
    ok = {True: "**holds**", False: "**MISSED**"}
    lines = [
        "# Performance: the Threads API against the floor",
        "",
        f"{'Quick run (few samples: a smoke test, not figures to quote)' if results['quick'] else 'Full run'}, "
        f"{m['date']}, commit {m['commit']}. Machine: {m['cpu']}, {m['cores']} cores, {m['arch']}, Linux "
        f"{m['kernel']}, load average {results['load_average'][0]} at start, {results['load_average'][1]} at end. "
        f"Made by `make bench` (`python -m bench.run`) in {results['duration_seconds']} s. The floor "
        "(`bench/floor.py`) parses the same event and makes the same single DynamoDB call with a plain boto3 client: "
        "the physical lower bound, not a peer. Medians; spread is the interquartile range (IQR) and min–max.",
        "",
        "## Summary",
        "",
        f"**{budget_summary(budgets)}** " + "; ".join(budget_verdicts(budgets)) + ".",
        "",
        goal_summary(results["goals"]),
        "",
        "| measure | ours | floor | ratio | budget |",
        "|---|---|---|---|---|",
        f"| cold start (process start → end of the first modify) | {ours['cold_ms']['median']:g} ms | "
        f"{floor['cold_ms']['median']:g} ms | {budgets['cold_start']['ratio']}x | ≤ {COLD_BUDGET}x: "
        f"{ok[budgets['cold_start']['ok']]} |",
    ]
    w_ours, w_floor = warm["ours"]["operations"], warm["floor"]["operations"]
    for operation in WARM_SUMMARY:
        budget = f"≤ {WARM_BUDGET}x: {ok[budgets['warm_modify']['ok']]}" if operation == "modify" else "–"
        o, f = w_ours[operation], w_floor[operation]
        lines.append(
            f"| warm {WARM_NAMES.get(operation, operation)}, p50 | {o['p50_us']:g} µs | {f['p50_us']:g} µs | "
            f"{ratio(o['p50_us'], f['p50_us'])}x | {budget} |"
        )
    r_ours, r_floor = results["restore"]["ours"]["first_ms"], results["restore"]["floor"]["first_ms"]
    lines.append(
        f"| first modify after a SnapStart restore | {r_ours['median']:g} ms | {r_floor['median']:g} ms | "
        f"{ratio(r_ours['median'], r_floor['median'])}x | – |"
    )
    lines += [
        f"| peak memory of a cold invocation (max RSS) | {ours['peak_rss_mb']['median']:.1f} MB | "
        f"{floor['peak_rss_mb']['median']:.1f} MB | "
        f"{ratio(ours['peak_rss_mb']['median'], floor['peak_rss_mb']['median'])}x | – |",
        f"| DynamoDB calls, modify (key cached / not) | {calls['modify']['cached']} / {calls['modify']['uncached']} "
        "| 1 / – | – | contract: 1 |",
        f"| artifact (`make build`, arm64, with bytecode) | {_mb(results['artifact']['artifact_bytes'])}, "
        f"{_mb(results['artifact'].get('artifact_zip_bytes'))} zipped | – | – | build check: ≤ 20 MiB |",
        "",
        "## Cold start",
        "",
        "Fresh `python3.13` processes, ours and the floor interleaved (each goes first in turn), each importing its",
        "entry point and serving one modify event, DynamoDB answered in process. The environment is Lambda's: the",
        "runtime's SDK (boto3, botocore) precompiled in a virtual environment, the function as `make build` packs it",
        "(code and `requirements.txt`, compiled to bytecode: /var/task is read only, so a plain `sam build`'s",
        'package, without `.pyc`, compiles them at every cold start; that is the row "without bytecode")',
        "on PYTHONPATH, the template's variables, fake credentials. Not included: the Lambda service's own work",
        "(placing the sandbox, downloading the code, the runtime's bootstrap), the same for both.",
        "",
        "| variant | cold start | of which in process | CPU time | peak RSS | modules |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "ours": "ours, as shipped",
        "ours_no_bytecode": "ours, no bytecode (plain sam build)",
        "floor": "floor",
    }
    for key in ("ours", "ours_no_bytecode", "floor"):
        c = cold[key]
        lines.append(
            f"| {names[key]} | {_s(c['cold_ms'])} | {c['in_process_ms']['median']:g} ms | "
            f"{c['cpu_ms']['median']:g} ms | {c['peak_rss_mb']['median']:.1f} MB | {c['modules_loaded']} |"
        )
    lines += [
        "",
        f"Ratio ours / floor: {budgets['cold_start']['ratio']}x of the medians; per interleaved pair "
        f"{cold['paired_ratio']['median']}x (IQR {cold['paired_ratio']['p25']}–{cold['paired_ratio']['p75']}). "
        f"Without bytecode: {ratio(pyc['cold_ms']['median'], floor['cold_ms']['median'])}x. CPU time, which other "
        f"work on the machine disturbs less: {ratio(ours['cpu_ms']['median'], floor['cpu_ms']['median'])}x as "
        f"shipped, {ratio(pyc['cpu_ms']['median'], floor['cpu_ms']['median'])}x without bytecode.",
        "",
        "### Where it goes, step by step",
        "",
        "Medians of separate runs that import in steps; each step excludes what the earlier ones imported.",
        "",
        "| step (ours) | as shipped | without bytecode |",
        "|---|---|---|",
    ]
    stages = results["cold_stages"]
    s_ours, s_pyc = stages["ours"]["steps_ms"], stages["ours_no_bytecode"]["steps_ms"]
    lines += [f"| {step} | {ms:g} ms | {s_pyc.get(step, 0):g} ms |" for step, ms in s_ours.items()]
    lines += ["", "| step (floor) | |", "|---|---|"]
    lines += [f"| {step} | {ms:g} ms |" for step, ms in stages["floor"]["steps_ms"].items()]
    lines += [
        "",
        f"Inside the first modify, botocore's own time per call: ours "
        f"{stages['ours']['botocore_calls_in_first_modify_ms']} ms (the key's GetItem, then the UpdateItem), floor "
        f"{stages['floor']['botocore_calls_in_first_modify_ms']} ms.",
        "",
        "### Import-time profile (`python -X importtime -c 'import app'`), top 10",
        "",
        "Own time of each package's modules (their execution, and their compilation where there is no `.pyc`).",
        "",
        "| package | as shipped | without bytecode |",
        "|---|---|---|",
    ]
    profile, compiled = results["import_profile"]["shipped"], results["import_profile"]["no_bytecode"]
    top = [item for item in profile["packages_ms"].items() if not item[0].endswith("(standard library)")][:10]
    for package, ms in top:
        lines.append(f"| {package} | {ms:g} ms | {compiled['packages_ms'].get(package, 0):g} ms |")
    lines += [
        f"| **total** | **{profile['total_ms']:g} ms** | **{compiled['total_ms']:g} ms** |",
        "",
        "Modules with the most own time (as shipped): "
        + ", ".join(f"`{name}` {ms:g} ms" for name, ms in list(profile["top_modules_own_ms"].items())[:10])
        + ".",
        "",
        *message_imports(profile, compiled),
        *restore_section(results["restore"]),
        "",
        "## Warm requests",
        "",
        "One process per variant and round, the rounds alternating; every call through the entry point with a real",
        "API Gateway v2 event, the key check cached as in a warm environment, DynamoDB answered in process at the HTTP",
        "layer (botocore still validates, serializes, signs and parses). CPU is the process's CPU time per call.",
        "The message operations read canned messages of about 1 KB of text each, stored as the MessageStore stores",
        "them (the body zlib-compressed JSON); a list page's Query answers limit + 1 of them, as a long thread's",
        "would. The floor makes the same calls bare: `TransactWriteItems` for a message create, `BatchGetItem` for",
        "a retrieve, `BatchGetItem` and `Query` for a list page, and decompresses the bodies into its JSON.",
        "",
        "| operation | ours p50 (IQR) | ours p95 | ours p99 | ours CPU | floor p50 (IQR) | floor p95 | floor p99 | "
        "floor CPU | p50 ratio | p95 ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for operation, o in w_ours.items():
        f = w_floor.get(operation if operation in w_floor else "modify")
        name = operation if operation in w_floor else f"{operation} (floor: modify)"
        lines.append(
            f"| {name} | {o['p50_us']:g} µs ({o['p25_us']:g}–{o['p75_us']:g}) | {o['p95_us']:g} µs | "
            f"{o['p99_us']:g} µs | {o['cpu_mean_us']:g} µs | {f['p50_us']:g} µs ({f['p25_us']:g}–{f['p75_us']:g}) | "
            f"{f['p95_us']:g} µs | {f['p99_us']:g} µs | {f['cpu_mean_us']:g} µs | {ratio(o['p50_us'], f['p50_us'])}x | "
            f"{ratio(o['p95_us'], f['p95_us'])}x |"
        )
    wo, wf = warm["ours"], warm["floor"]
    unvalidated = w_floor["modify, parameter validation off"]
    lines += [
        "",
        "The function's DynamoDB client has botocore's parameter validation off; the floor's plain client keeps "
        f"botocore's defaults. The floor's modify with it off too: p50 {unvalidated['p50_us']:g} µs (IQR "
        f"{unvalidated['p25_us']:g}–{unvalidated['p75_us']:g}); ours is "
        f"{ratio(w_ours['modify']['p50_us'], unvalidated['p50_us'])}x that.",
        "",
        f"Calls per figure: {w_ours['modify']['calls']} (ours), {w_floor['modify']['calls']} (floor); a list page "
        f"of 20, {w_ours['list 20']['calls']}, and of 100, {w_ours['list 100']['calls']} (each many times the "
        "work of one message, in smaller blocks interleaved with the rest).",
        "",
        f"**Inside a warm modify** (median): ours spends {wo['modify_inside_botocore_us']:g} µs of "
        f"{wo['modify_invocation_us']:g} µs inside botocore, the floor {wf['modify_inside_botocore_us']:g} µs of "
        f"{wf['modify_invocation_us']:g} µs. The key check alone, cached: {wo.get('cached_key_check_us', 'n/a')} µs.",
        "",
        "Own time by package in a warm modify (cProfile, so in proportion only):",
        "",
        "| package | ours | floor |",
        "|---|---|---|",
    ]
    for package, share in wo["modify_profile_by_package"].items():
        lines.append(f"| {package} | {share:.0%} | {wf['modify_profile_by_package'].get(package, 0):.0%} |")
    lines += [
        "",
        "## DynamoDB calls per operation",
        "",
        "Counted from botocore's `before-call` events on the function's client, through the entry point, on the",
        "embedded DynamoDB (moto). Cached: the request's key was checked by an earlier request within",
        "`ApiKeyCacheSeconds` (the common warm case); uncached: `API_KEY_CACHE_SECONDS=0`.",
        "",
        "| operation | status | calls, key cached | calls, key looked up | what (key cached) |",
        "|---|---|---|---|---|",
    ]
    for operation, c in calls.items():
        mark = "" if c["status_as_expected"] else " (unexpected)"
        lines.append(
            f"| {operation} | {c['status']}{mark} | {c['cached']} | {c['uncached']} | "
            f"{', '.join(c['cached_operations']) or '–'} |"
        )
    lines += list_pages_section(results["list_pages"])
    worst = dict(results["worst_bodies"])
    one = worst.pop("one unknown key, create")
    lines += [
        "",
        "## The worst invalid bodies",
        "",
        "Invalid bodies through the entry point (key cached), median of 5: the worst the 1 MiB limit allows for",
        "choosing the contract's one error (every key unknown, or every metadata value of the wrong type) beside a",
        "16 KiB body of the same kind. The work is linear in the body: what the time ratio has above the size ratio",
        "is Python's garbage collector, which walks the young objects more often as more of them are made.",
        f"One unknown key alone ({one['bytes']} bytes): {one['ms']} ms.",
        "",
        "| body | 16 KiB body | worst body | size ratio | time ratio |",
        "|---|---|---|---|---|",
        *[
            f"| {name} | {w['small_ms']} ms ({w['small_bytes']:,} B) | {w['worst_ms']} ms ({w['worst_bytes']:,} B) | "
            f"{w['size_ratio']}x | {w['time_ratio']}x |"
            for name, w in worst.items()
        ],
    ]
    artifact = results["artifact"]
    lines += ["", "## Size", ""]
    if artifact.get("artifact_bytes") is None:
        lines.append(f"Artifact not measured: {artifact['note']}.")
    else:
        lines += [
            f"`sam build` artifact (arm64; {artifact['source']}): {artifact['artifact_bytes']:,} bytes in "
            f"{artifact['files']} files ({artifact['pyc_files']} `.pyc`), {artifact['artifact_zip_bytes']:,} bytes "
            "zipped. The largest parts:",
            "",
            "| entry | bytes |",
            "|---|---|",
            *[f"| {entry} | {size:,} |" for entry, size in artifact["by_entry_bytes"].items()],
        ]
    lines += [
        "",
        f"Peak memory of one cold invocation (max RSS of the process): ours {_s(ours['peak_rss_mb'], 'MB')}; "
        f"floor {_s(floor['peak_rss_mb'], 'MB')}.",
        "",
        "## Reproduce",
        "",
        "`make bench` (a few minutes) writes this report, results.json and chart.png to bench/out/ (git-ignored);",
        "`make bench PUBLISH=1` to bench/, the copies kept in git; `make bench QUICK=1` is a smoke run into",
        "bench/out/quick/. The first run makes bench/out/runtime-venv and bench/out/function-deps from PyPI; later",
        "runs reuse them while requirements.txt and uv.lock's boto3/botocore stay the same. Every cold-start sample:",
        "bench/out/raw.json.",
        "",
    ]
    return "\n".join(lines)


def message_imports(profile: dict, compiled: dict) -> list[str]:
    """What the message routes add to `import app`, and what their first request imports on top."""
    at_init = profile["message_modules_at_init_ms"]
    deferred = [m for m in MESSAGE_MODULES if m not in at_init]
    return [
        "**The message routes at import** (as shipped; own time): "
        + ", ".join(f"`{module}` {ms:g} ms" for module, ms in at_init.items())
        + f", {sum(at_init.values()):.2f} ms in all. Not imported at a cold start: "
        + (", ".join(f"`{module}`" for module in deferred) or "none")
        + f"; the first message request imports them ({', '.join(profile['first_message_import_modules']) or '–'}): "
        f"{profile['first_message_import_ms']:g} ms as shipped, {compiled['first_message_import_ms']:g} ms "
        "without bytecode (with SnapStart, before the snapshot instead).",
    ]


def list_pages_section(pages: dict) -> list[str]:
    small, large = (f"{size:,}" for size in pages["sizes"])
    lines = [
        "",
        "## A list page against the size of its thread",
        "",
        f"A thread of {small} messages and one of {large} (about 1 KB of text each), written straight into the",
        "embedded DynamoDB (moto) in the MessageStore's format; then pages of at most "
        f"{pages['limit']} through the entry point, the two",
        f"sizes interleaved, {pages['pages_per_kind']} of each (medians). Items read: what DynamoDB read for the page,",
        "the Query's `ScannedCount` and the items the `BatchGetItem` answered (the thread, and the cursor's message).",
        "Moto goes through every item of the table at each Query of an index, which DynamoDB does not, so its own",
        "time is given apart and the figure for the function is the rest.",
        f"The thread of {small} fills less than a page: per message answered, what a page reads should not change",
        "with the thread (ratio about 1).",
        "",
        "| page | thread | messages answered | items read | items read per message | latency | of which moto | "
        "the rest |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, measured in pages["pages"].items():
        for size, p in measured["sizes"].items():
            lines.append(
                f"| {kind} | {int(size):,} | {p['messages']:g} | {p['items_read']:g} | {p['items_read_per_message']} | "
                f"{p['p50_ms']:g} ms | {p['storage_p50_ms']:g} ms | {p['outside_storage_p50_ms']:g} ms |"
            )
    lines += ["", f"Ratios, {large} messages to {small}:", ""]
    for kind, measured in pages["pages"].items():
        r = measured["ratio_large_to_small"]
        lines.append(
            f"- {kind}: items read per message answered {r['items_read_per_message']}x (per page {r['items_read']}x); "
            f"latency outside moto {r['outside_storage_p50_ms']}x, with moto {r['p50_ms']}x."
        )
    lines.append(f"\nSeeding both threads took {pages['seed_seconds']:g} s.")
    return lines


def draw(results: dict) -> bytes:
    cold, warm, budgets = results["cold"], results["warm"], results["budgets"]

    def cold_bar(label: str, key: str, color: chart.Color) -> chart.Bar:
        c = cold[key]["cold_ms"]
        note = f"{c['median']:.0f} ms"
        if key != "floor":
            note += f", {ratio(c['median'], cold['floor']['cold_ms']['median'])}× the floor"
        return chart.Bar(label, c["median"], c["p25"], c["p75"], color, note)

    groups = [
        chart.Group(
            "Cold start: process start to the end of the first modify",
            [
                cold_bar("ours, as shipped", "ours", chart.BLUE),
                cold_bar("ours, no bytecode", "ours_no_bytecode", chart.PALE_BLUE),
                cold_bar("floor", "floor", chart.GREY),
            ],
            unit="milliseconds (median; whisker: interquartile range)",
            budget=cold["floor"]["cold_ms"]["median"] * COLD_BUDGET,
            budget_label=f"budget {COLD_BUDGET}× the floor",
        )
    ]
    for operation in ("modify", "create", "retrieve"):
        o, f = warm["ours"]["operations"][operation], warm["floor"]["operations"][operation]
        groups.append(
            chart.Group(
                f"Warm {operation}: time per request",
                [
                    chart.Bar(
                        "ours",
                        o["p50_us"],
                        o["p25_us"],
                        o["p75_us"],
                        chart.BLUE,
                        f"{o['p50_us']:.0f} µs, {ratio(o['p50_us'], f['p50_us'])}× the floor",
                    ),
                    chart.Bar("floor", f["p50_us"], f["p25_us"], f["p75_us"], chart.GREY, f"{f['p50_us']:.0f} µs"),
                ],
                unit="microseconds (p50; whisker: interquartile range)",
                budget=f["p50_us"] * WARM_BUDGET if operation == "modify" else None,
                budget_label=f"budget {WARM_BUDGET}× the floor",
            )
        )
    m = results["machine"]
    verdict = ", ".join(f"{BUDGET_NAMES.get(name, name)} {b['ratio']}×" for name, b in budgets.items())
    footnote = (
        f"{'Quick run (few samples, not figures to quote). ' if results.get('quick') else ''}"
        f"Medians; whiskers: interquartile range. {m['cores']} cores, {m['cpu'][:40]}, commit {m['commit']}, "
        f"{m['date']}. Ours / floor: {verdict}."
    )
    return chart.bar_chart("Threads API against the floor", groups, footnote)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few samples and no sam build: a smoke test (CI)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--out",
        type=pathlib.Path,
        help="where results.json, REPORT.md and chart.png go (default: --work; quick: its quick/)",
    )
    where.add_argument("--publish", action="store_true", help="write them to bench/, the copies tracked in git")
    parser.add_argument("--work", type=pathlib.Path, default=BENCH / "out", help="environments and raw samples")
    args = parser.parse_args(argv)
    if args.publish and args.quick:
        parser.error("--publish takes a full run: a quick run's few samples are not figures to keep")
    args.out = BENCH if args.publish else args.out or (args.work / "quick" if args.quick else args.work)
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    out = args.out
    cold_runs, stage_runs, profile_runs = (3, 1, 1) if args.quick else (20, 5, 5)
    warm_calls, warm_rounds = (300, 1) if args.quick else (4000, 2)
    page_runs = 3 if args.quick else 20
    started, load_before = time.monotonic(), os.getloadavg()[0]
    args.work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.work, prefix="run-") as scratch:
        layout = Layout(args.work, pathlib.Path(scratch))
        layout.prepare()
        log(f"cold starts: {cold_runs} of each variant, interleaved")
        cold = measure_cold(layout, cold_runs)
        log(f"SnapStart restores: {cold_runs} of each, interleaved")
        restore = measure_restore(layout, cold_runs)
        log("cold start steps and the import-time profile")
        stages = measure_stages(layout, stage_runs)
        profile = import_profile(layout, profile_runs)
        log(f"warm requests: {warm_calls} calls per operation and variant")
        warm = measure_warm(layout, pathlib.Path(scratch), warm_calls, warm_rounds)
    log("DynamoDB calls per operation (embedded moto)")
    calls = count_calls()
    log(f"list pages at {' and '.join(f'{n:,}' for n in PAGE_SIZES)} messages (embedded moto)")
    pages = measure_pages(page_runs)
    log("the worst invalid bodies")
    worst_bodies = measure_worst_bodies()
    log("the artifact" + (" (an earlier build, if any)" if args.quick else ": sam build"))
    artifact = measure_artifact(args.work, build=not args.quick)
    summary = cold["summary"]
    cold_ratio = ratio(summary["ours"]["cold_ms"]["median"], summary["floor"]["cold_ms"]["median"])
    warm_ratio = ratio(warm["ours"]["operations"]["modify"]["p50_us"], warm["floor"]["operations"]["modify"]["p50_us"])
    restore_ratio = ratio(restore["ours"]["first_ms"]["median"], restore["floor"]["first_ms"]["median"])
    reached = {"cold_start": cold_ratio, "warm_modify": warm_ratio, "restore": restore_ratio}
    results = {
        "cold_start_ms": summary["ours"]["cold_ms"]["median"],
        "cold_start_floor_ms": summary["floor"]["cold_ms"]["median"],
        "warm_modify_us_p50": warm["ours"]["operations"]["modify"]["p50_us"],
        "warm_modify_floor_us_p50": warm["floor"]["operations"]["modify"]["p50_us"],
        "dynamodb_calls": calls,
        "list_pages": pages,
        "worst_bodies": worst_bodies,
        "artifact_bytes": artifact["artifact_bytes"],
        "peak_memory_mb": summary["ours"]["peak_rss_mb"]["median"],
        "peak_memory_floor_mb": summary["floor"]["peak_rss_mb"]["median"],
        "budgets": {
            "cold_start": {"ratio": cold_ratio, "limit": COLD_BUDGET, "ok": cold_ratio <= COLD_BUDGET},
            "warm_modify": {"ratio": warm_ratio, "limit": WARM_BUDGET, "ok": warm_ratio <= WARM_BUDGET},
        },
        "goals": {
            name: {"ratio": reached[name], "goal": limit, "met": reached[name] <= limit}
            for name, limit in GOALS.items()
        },
        "restore": restore,
        "quick": args.quick,
        "machine": machine(),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cold": summary,
        "cold_stages": stages,
        "import_profile": profile,
        "warm": warm,
        "artifact": artifact,
    }
    results["duration_seconds"] = round(time.monotonic() - started)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (out / "REPORT.md").write_text(report(results))
    (out / "chart.png").write_bytes(draw(results))
    with contextlib.suppress(OSError):
        (args.work / ("raw-quick.json" if args.quick else "raw.json")).write_text(json.dumps(cold["samples"]))
    log(
        f"cold start {results['cold_start_ms']} ms vs floor {results['cold_start_floor_ms']} ms ({cold_ratio}x, "
        f"budget {COLD_BUDGET}x); warm modify p50 {results['warm_modify_us_p50']} µs vs "
        f"{results['warm_modify_floor_us_p50']} µs ({warm_ratio}x, budget {WARM_BUDGET}x); "
        f"{results['duration_seconds']} s; written to {out}"
    )
    for line in budget_verdicts(results["budgets"]):
        log(line)
    log(goal_summary(results["goals"]))
    log(
        budget_summary(results["budgets"])
        + (" (a quick run: few samples, on a machine doing other work)" if args.quick else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
