"""What SnapStart needs of the code: a snapshot that holds what first requests would make, and restored environments
that renew what may not be shared (their retries' random waits, connections, cached key answers) and issue unique
ids.

`snapshot_restore_py` exists only in the Lambda runtime, so each test runs the real entry point in a child
Python with a stand-in module that records the hooks `app` registers, then plays the runtime's part.
"""

from __future__ import annotations

import textwrap

from tests import fresh

RUNTIME = textwrap.dedent(
    """
    import types

    hooks = {"before_snapshot": [], "after_restore": []}
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = lambda hook, *a, **k: hooks["before_snapshot"].append((hook, a, k))
    runtime.register_after_restore = lambda hook, *a, **k: hooks["after_restore"].append((hook, a, k))
    sys.modules["snapshot_restore_py"] = runtime

    import app  # the initialisation a snapshot is taken of

    def snapshot():
        for hook, args, kwargs in hooks["before_snapshot"]:
            hook(*args, **kwargs)

    def restore():
        for hook, args, kwargs in hooks["after_restore"]:
            hook(*args, **kwargs)
    """
)


def run(script: str, **variables: str) -> dict:
    found: dict = fresh.run(RUNTIME + textwrap.dedent(script), **variables)
    return found


def test_a_restored_environment_keeps_its_clients_and_renews_what_may_not_be_shared():
    found = run(
        """
        import random
        from threads_api import resources

        snapshot()
        store, client, check = resources.thread_store(), resources.dynamodb_client(), resources.authenticator()
        pools = client._endpoint.http_session._manager.pools
        pools["stands for a connection made before the snapshot"] = None  # what closing empties
        random.seed(20261206)  # stands for the generator's state in the snapshot, the same in every environment
        restore()
        print(json.dumps({
            "hooks": {name: len(registered) for name, registered in hooks.items()},
            "same_store": resources.thread_store() is store,
            "same_client": resources.dynamodb_client() is client,
            "new_key_cache": resources.authenticator() is not check,
            "pools": len(pools),
            "reseeded": random.random() != random.Random(20261206).random(),
        }))
        """
    )
    assert found == {
        "hooks": {"before_snapshot": 1, "after_restore": 1},
        "same_store": True,
        "same_client": True,
        "new_key_cache": True,
        "pools": 0,
        "reseeded": True,
    }


def test_priming_serves_every_route_once_and_sends_nothing():
    # The statuses are the ones app.PRIMED_STATUSES expects: a route that answered otherwise would be logged.
    # DynamoDB is a closed port here: a request sent would fail (a 503), not answer.
    found = run(
        """
        from threads_api import resources

        resources.before_snapshot()
        statuses = app.prime()
        print(json.dumps({"statuses": statuses, "cached_keys": len(resources.authenticator()._valid)}))
        """,
        AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:9",
    )
    assert found == {"statuses": [200, 400, 404, 404, 404, 404, 404, 404, 404, 200, 404], "cached_keys": 0}


def test_environments_resumed_from_one_snapshot_issue_different_thread_ids():
    # A snapshot copies all of the process's memory into every environment resumed from it, Python's own random
    # generator included; fork copies it too. Seeding that generator alike on both sides stands for the copy
    # (fork alone reseeds it): ids drawn from it would then repeat, ids from the kernel's generator do not.
    found = run(
        """
        import os, random, re
        from threads_api.thread import new_thread_id

        reader, writer = os.pipe()
        child = os.fork()
        restore()
        random.seed(20261125)
        ids = [new_thread_id() for _ in range(3)]
        if child == 0:
            os.write(writer, json.dumps(ids).encode())
            os._exit(0)
        os.waitpid(child, 0)
        theirs = json.loads(os.read(reader, 4096))
        print(json.dumps({
            "shared": sorted(set(ids) & set(theirs)),
            "well_formed": all(re.fullmatch(r"thread_[A-Za-z0-9]{24}", i) for i in ids + theirs),
        }))
        """
    )
    assert found == {"shared": [], "well_formed": True}


def test_the_message_store_is_imported_before_the_snapshot_not_at_a_cold_start():
    # A cold start leaves the store's modules to the first message request; with SnapStart they go into the snapshot.
    found = run(
        """
        lazy = {"threads_api.messages", "threads_api.bucket"}
        at_init = sorted(lazy & set(sys.modules))
        snapshot()
        print(json.dumps({"at_init": at_init, "in_the_snapshot": sorted(lazy & set(sys.modules))}))
        """
    )
    assert found == {"at_init": [], "in_the_snapshot": ["threads_api.bucket", "threads_api.messages"]}


def test_a_restored_environment_answers_its_first_modify_as_a_cold_one_does():
    script = """
        import canned
        from threads_api import resources

        {prepare}
        canned.install(resources.dynamodb_client())
        with open("events/modify-metadata.json", encoding="utf-8") as file:
            event = json.load(file)

        response = app.lambda_handler(event, Context())
        answer = {{"status": response["statusCode"], "body": json.loads(response["body"])}}
        print(json.dumps({{**answer, "etag": response["headers"]["ETag"]}}))
        """
    cold = run(script.format(prepare=""))
    restored = run(script.format(prepare="snapshot(); restore()"))
    assert cold["status"] == 200 and cold["body"]["object"] == "thread"
    assert restored == cold


def test_preparing_the_snapshot_never_fails_it_and_logs_what_went_otherwise():
    # A failure before the snapshot must not fail the version's publishing: each first request does the rest. A
    # route that primes to another status than expected (a 500 among them) is logged.
    found = run(
        """
        import io
        from threads_api import resources

        logged = io.StringIO()
        app.logger.registered_handler.setStream(logged)

        def broken():
            raise RuntimeError("no client")

        made, resources.before_snapshot = resources.before_snapshot, broken
        snapshot()
        resources.before_snapshot = made
        app.PRIMED_STATUSES = [200]
        snapshot()
        print(json.dumps({"logged": [json.loads(line)["message"] for line in logged.getvalue().splitlines()]}))
        """
    )
    assert found == {"logged": ["preparing the snapshot failed", "priming answered otherwise"]}
