"""Message order under concurrency, over real HTTP: clients adding messages to one thread at once, through the
local endpoint on its embedded moto, whose requests are served by several execution environments (processes).

Every create's start and answer are timed by its client. Afterwards the thread lists, oldest first, exactly the
messages acknowledged, each once; and whenever a create began after another's answer arrived, it lists after
it, whichever execution environment served each (the contract's order of acknowledged creates). Deletes of
some of them meanwhile leave the order of the others as it was.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2

from local.fixtures import API_KEY

CLIENTS = 8
CREATES = 12  # per client


def test_concurrent_creates_list_in_the_order_they_were_acknowledged(moto_http_server):
    base = moto_http_server.base_url
    headers = {"authorization": f"Bearer {API_KEY}"}
    thread = httpx2.post(f"{base}/threads", json={}, headers=headers).json()["id"]
    path = f"{base}/threads/{thread}/messages"
    acknowledged: list[tuple[float, float, str]] = []  # (start, answered, id)
    lock = threading.Lock()
    release = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        with httpx2.Client(headers=headers, timeout=30) as http:
            release.wait()
            for step in range(CREATES):
                started = time.monotonic()
                # As a careful client does: a 503 (storage busy) is retried, with an Idempotency-Key so that a
                # create that was applied after all is not made twice.
                key = {"idempotency-key": f"race-{number}-{step}"}
                # A 409 says the first attempt is still being served (its answer lost to the client, a busy
                # machine): retried too, for as long as the function's own timeout allows it to run.
                deadline = started + 15
                while True:
                    answer = http.post(path, json={"role": "user", "content": f"{number}.{step}"}, headers=key)
                    if answer.status_code not in (409, 503) or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                answered = time.monotonic()
                assert answer.status_code == 200, answer.text
                with lock:
                    acknowledged.append((started, answered, answer.json()["id"]))

    with ThreadPoolExecutor(CLIENTS) as pool:
        for done in [pool.submit(client, number) for number in range(CLIENTS)]:
            done.result()

    listed = []
    after = None
    with httpx2.Client(headers=headers, timeout=30) as http:
        while True:
            page = http.get(path, params={"order": "asc", "limit": 100, **({"after": after} if after else {})}).json()
            listed += [message["id"] for message in page["data"]]
            if not page["has_more"]:
                break
            after = page["last_id"]
    assert sorted(listed) == sorted(made for _, _, made in acknowledged) and len(set(listed)) == len(listed)
    place = {message_id: i for i, message_id in enumerate(listed)}
    by_answer = sorted(acknowledged, key=lambda create: create[1])
    checked = 0
    for started, _, later in acknowledged:
        for _, answered, earlier in by_answer:
            if answered >= started:
                break
            assert place[earlier] < place[later], (earlier, later)
            checked += 1
    assert checked > CLIENTS * CREATES  # the check had pairs to compare
