"""Replay one API Gateway event through the Lambda entry point, against the embedded DynamoDB.

The Docker-free twin of `sam local invoke -e EVENT`:  python -m local.invoke events/modify-metadata.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    from local.embedded import embedded_dynamodb
    from local.events import LambdaContext

    with embedded_dynamodb(messages=True):  # the sample events name the fixture messages too
        import app

        return app.lambda_handler(event, LambdaContext())


def read_event(path: pathlib.Path) -> dict[str, Any]:
    """The event file as JSON; a wrong path or a file that is not an event is one line, not a traceback."""
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        same_name = pathlib.Path("events") / path.name
        nearby = (
            [str(same_name)]
            if same_name.is_file()
            else sorted(map(str, pathlib.Path("events").glob(f"*{path.stem}*.json")))
        )
        hint = f"did you mean {', '.join(nearby[:3])}?" if nearby else "the sample events are in events/"
        raise SystemExit(f"make invoke: no file {path} ({hint})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SystemExit(f"make invoke: cannot read {path}: {error}") from None
    except ValueError as error:
        raise SystemExit(f"make invoke: {path} is not JSON: {error}") from None
    if not isinstance(event, dict) or "requestContext" not in event:
        raise SystemExit(f"make invoke: {path} is not an API Gateway HTTP API event (no requestContext)")
    return event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event", type=pathlib.Path, help="an API Gateway HTTP API v2 event, e.g. events/create.json")
    args = parser.parse_args(argv)
    response = invoke(read_event(args.event))
    body = response.get("body")
    try:
        response["body"] = json.loads(body) if body else body  # shown as JSON, not as an escaped string
    except ValueError:
        pass
    json.dump(response, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
