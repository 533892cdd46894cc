"""Modify throughput through the local endpoint: N concurrent clients updating one thread over real HTTP.

    python -m bench.serve_load [--clients 8] [--seconds 10] [--concurrency 4 8] [--storage embedded dynalite]

For each storage and each LAMBDA_CONCURRENCY it starts `python -m local.server`, warms every execution
environment, then runs the clients for the given time and reports requests per second, latency percentiles, and
where the CPU went (server process, its execution environments, dynalite, this load generator), which is what
bounds the figure on a small machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import resource
import statistics
import threading
import time

import httpx2

from local.fixtures import API_KEY
from local.launch import dynalite, local_endpoint
from local.storage import EMBEDDED_AWS

OUT = pathlib.Path(__file__).resolve().parent / "out" / "serve_load.json"
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _children(pid: int) -> list[int]:
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError):
                pass
    return found


def _dynalite_pids(endpoint: str) -> list[int]:
    port = endpoint.rsplit(":", 1)[1].encode()
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
                if any(b"dynalite" in argument for argument in arguments) and port in arguments:
                    found.append(int(entry.name))
    return found


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += _cpu_seconds(pid)
    return total


def run(base_url: str, clients: int, seconds: float, thread_id: str) -> dict:
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        headers = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
        with httpx2.Client(base_url=base_url, headers=headers, timeout=30) as http:
            barrier.wait()
            n = 0
            while not stop.is_set():
                n += 1
                body = json.dumps({"metadata": {f"client{index}": str(n)}})
                started = time.perf_counter()
                response = http.post(f"/threads/{thread_id}", content=body)
                latencies[index].append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    every = sorted(latency for per_client in latencies for latency in per_client)
    return {
        "requests": len(every),
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(every) / elapsed, 1),
        "latency_ms_p50": round(statistics.median(every) * 1000, 2),
        "latency_ms_p99": round(every[int(len(every) * 0.99)] * 1000, 2),
    }


def measure(storage: str, concurrency: int, clients: int, seconds: float, endpoint: str | None) -> dict:
    extra = {"LAMBDA_CONCURRENCY": str(concurrency)}
    if endpoint:
        extra.update(AWS_ENDPOINT_URL_DYNAMODB=endpoint, **EMBEDDED_AWS)
    with local_endpoint(**extra) as server:
        auth = {"authorization": f"Bearer {API_KEY}"}
        thread_id = httpx2.post(f"{server.base_url}/threads", json={}, headers=auth).json()["id"]
        run(server.base_url, clients, 2.0, thread_id)  # warm every execution environment
        server_pid = server.process.pid
        environments = _children(server_pid)
        others = _dynalite_pids(endpoint) if endpoint else []
        before = (_cpu([server_pid]), _cpu(environments), _cpu(others), resource.getrusage(resource.RUSAGE_SELF))
        result = run(server.base_url, clients, seconds, thread_id)
        after = (_cpu([server_pid]), _cpu(environments), _cpu(others), resource.getrusage(resource.RUSAGE_SELF))
    me = (after[3].ru_utime + after[3].ru_stime) - (before[3].ru_utime + before[3].ru_stime)
    cpu = {
        "server_process": after[0] - before[0],
        "execution_environments": after[1] - before[1],
        "dynalite": after[2] - before[2],
        "load_generator": me,
    }
    result.update(
        storage=storage,
        lambda_concurrency=concurrency,
        clients=clients,
        cpu_cores_busy={name: round(value / result["seconds"], 2) for name, value in cpu.items()},
        cpu_ms_per_request={name: round(value * 1000 / result["requests"], 2) for name, value in cpu.items()},
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--storage", nargs="+", default=["embedded", "dynalite"], choices=["embedded", "dynalite"])
    args = parser.parse_args()
    results = []
    for storage in args.storage:
        with contextlib.ExitStack() as stack:
            endpoint = None
            if storage == "dynalite":
                endpoint = stack.enter_context(dynalite())
            for concurrency in args.concurrency:
                results.append(measure(storage, concurrency, args.clients, args.seconds, endpoint))
                print(json.dumps(results[-1]), flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"cores": os.cpu_count(), "results": results}, indent=2))
    print(
        "| storage | environments | clients | req/s | p50 ms | p99 ms | errors "
        "| CPU cores busy (server / envs / dynalite / load) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        busy = r["cpu_cores_busy"]
        print(
            f"| {r['storage']} | {r['lambda_concurrency']} | {r['clients']} | {r['requests_per_second']} | "
            f"{r['latency_ms_p50']} | {r['latency_ms_p99']} | {r['errors']} | {busy['server_process']} / "
            f"{busy['execution_environments']} / {busy['dynalite']} / {busy['load_generator']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
