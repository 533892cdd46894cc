"""What a cold start loads: only what the first modify uses, and the rest of Powertools still there on first use.

Each test runs the real entry point in a fresh Python, as an execution environment starts, with DynamoDB answered at
botocore's HTTP layer (`bench/canned.py`), so that nothing but the function's own imports is loaded.
"""

from __future__ import annotations

import pathlib
import textwrap

from tests import fresh

ROOT = pathlib.Path(__file__).resolve().parents[2]

COLD = textwrap.dedent(
    """
    import app
    from threads_api import resources
    import canned

    canned.install(resources.dynamodb_client())
    with open(sys.argv[1], encoding="utf-8") as file:
        event = json.load(file)

    status = app.lambda_handler(event, Context())["statusCode"]
    """
)


def run(script: str) -> dict:
    found: dict = fresh.run(COLD + textwrap.dedent(script), str(ROOT / "events" / "modify-metadata.json"))
    return found


def test_a_cold_modify_loads_neither_the_other_resolvers_nor_the_other_event_classes():
    found = run(
        """
        unused = [
            "asyncio",
            "aws_lambda_powertools.event_handler.appsync",
            "aws_lambda_powertools.event_handler.bedrock_agent",
            "aws_lambda_powertools.event_handler.vpc_lattice",
            "aws_lambda_powertools.utilities.data_classes.kinesis_firehose_event",
            "aws_lambda_powertools.utilities.data_classes.sqs_event",
        ]
        print(json.dumps({"status": status, "loaded": [name for name in unused if name in sys.modules]}))
        """
    )
    assert found == {"status": 200, "loaded": []}


def test_every_name_the_deferred_packages_offer_is_still_there_and_is_the_packages_own():
    found = run(
        """
        import aws_lambda_powertools.event_handler as handlers
        import aws_lambda_powertools.utilities.data_classes as events
        from aws_lambda_powertools.event_handler import AppSyncResolver, APIGatewayHttpResolver, content_types
        from aws_lambda_powertools.event_handler.appsync import AppSyncResolver as own_appsync
        from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver as own_http
        from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent

        from aws_lambda_powertools.utilities.data_classes.event_source import event_source

        same = [
            AppSyncResolver is own_appsync,
            APIGatewayHttpResolver is own_http,
            events.SQSEvent is SQSEvent,
            events.event_source is event_source,  # a function named as its submodule: the function, as __init__ has it
        ]
        submodule = content_types is sys.modules["aws_lambda_powertools.event_handler.content_types"]
        # Asking for __all__ runs the whole __init__: everything it lists is there.
        offered = sorted(name for name in handlers.__all__ if not hasattr(handlers, name))
        print(json.dumps({
            "status": status,
            "same": same,
            "submodule": submodule,
            "missing": offered,
            "complete": "__getattr__" not in vars(handlers),
            "unknown": hasattr(events, "NoSuchEvent"),
        }))
        """
    )
    assert found == {
        "status": 200,
        "same": [True, True, True, True],
        "submodule": True,
        "missing": [],
        "complete": True,
        "unknown": False,
    }


def test_the_deferred_packages_init_holds_nothing_but_its_re_exports():
    # What the deferral leaves out of a cold start must be imports alone: were an upgrade of Powertools to give
    # one of these `__init__` files other work to do, that work would wait for a name nobody might ask for.
    import ast
    import importlib.util

    from threads_api.reexports import POWERTOOLS_PACKAGES

    for name in POWERTOOLS_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None and spec.origin.endswith("__init__.py"), name
        body = ast.parse(pathlib.Path(spec.origin).read_text(encoding="utf-8")).body
        docstring = body[:1] if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else []
        others = [
            ast.dump(node)
            for node in body[len(docstring) :]
            if not isinstance(node, ast.ImportFrom)
            and not (isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"])
        ]
        assert others == [], name
