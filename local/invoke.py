"""Replay one API Gateway event through the Lambda entry point, against the embedded DynamoDB.

The Docker-free twin of `sam local invoke -e EVENT`:  python -m local.invoke events/modify-metadata.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys


def invoke(event: dict) -> dict:
    from local.embedded import embedded_dynamodb
    from local.events import LambdaContext

    with embedded_dynamodb():
        import app

        return app.lambda_handler(event, LambdaContext())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event", type=pathlib.Path, help="an API Gateway HTTP API v2 event, e.g. events/create.json")
    args = parser.parse_args(argv)
    response = invoke(json.loads(args.event.read_text(encoding="utf-8")))
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
