"""List pages against a plain reference model: any creates and deletes, any order, cursors and limit.

The model is the contract's paging rule written as plainly as possible: the thread's messages in the order
asked for; `after` keeps those that follow the cursor, `before` those that precede it; a page is the first
`limit` of them, or with `before` alone the `limit` closest to it; `has_more` says whether any were left out.
"""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def model_page(live: list[str], positions: dict[str, int], order: str, after, before, limit: int):
    ordered = sorted(live, key=positions.__getitem__, reverse=order == "desc")
    ahead = (lambda a, b: positions[a] > positions[b]) if order == "asc" else (lambda a, b: positions[a] < positions[b])
    if after is not None:
        ordered = [m for m in ordered if ahead(m, after)]
    if before is not None:
        ordered = [m for m in ordered if ahead(before, m)]
    if before is not None and after is None:
        return ordered[-limit:], len(ordered) > limit
    return ordered[:limit], len(ordered) > limit


operations = st.lists(st.one_of(st.just(("create",)), st.tuples(st.just("delete"), st.integers(0, 30))), max_size=14)
queries = st.lists(
    st.tuples(
        st.sampled_from(["asc", "desc"]),
        st.one_of(st.none(), st.integers(0, 30)),
        st.one_of(st.none(), st.integers(0, 30)),
        st.integers(1, 6),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=operations, queries=queries)
def test_pages_equal_the_models(invoke, operations, queries):
    thread = invoke("POST", "/v1/threads", {}).json["id"]
    path = f"/v1/threads/{thread}/messages"
    made: list[str] = []
    live: list[str] = []
    for operation in operations:
        if operation[0] == "create" or not live:
            message = invoke("POST", path, {"role": "user", "content": f"m{len(made)}"}).json
            made.append(message["id"])
            live.append(message["id"])
        else:
            gone = live.pop(operation[1] % len(live))
            assert invoke("DELETE", f"{path}/{gone}").status == 200
    positions = {message_id: i for i, message_id in enumerate(made)}  # the order the creates were answered in
    for order, after_at, before_at, limit in queries:
        after = made[after_at % len(made)] if made and after_at is not None else None
        before = made[before_at % len(made)] if made and before_at is not None else None
        query = {
            "order": order,
            "limit": limit,
            **({"after": after} if after else {}),
            **({"before": before} if before else {}),
        }
        page = invoke("GET", path, query=urlencode(query))
        assert page.status == 200, page
        expected, more = model_page(live, positions, order, after, before, limit)
        assert [m["id"] for m in page.json["data"]] == expected, query
        assert page.json["has_more"] is more, query
        assert page.json["first_id"] == (expected[0] if expected else None)
        assert page.json["last_id"] == (expected[-1] if expected else None)
