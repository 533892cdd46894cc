"""What template.yaml declares that a local run needs: the API's routes, the functions, their tables and buckets.

The local endpoint serves exactly the routes declared here, so a route added to the template is served
locally with no change to the server.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from local.table import load_template

DEFAULT_ROUTE = "$default"


@dataclass(frozen=True)
class Function:
    """An `AWS::Serverless::Function`, as a local runtime needs it."""

    name: str  # logical id
    code_uri: str
    handler: str  # "module.function"
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, Any] = field(default_factory=dict)  # values as in the template, intrinsics unresolved


@dataclass(frozen=True)
class Route:
    """One HTTP API route: `method` is `ANY` for any method; `path` is `$default` for the catch-all route."""

    method: str
    path: str
    function: str

    @property
    def key(self) -> str:
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if this route takes the request, else None."""
        if self.method not in ("ANY", method.upper()):
            return None
        if self.path == DEFAULT_ROUTE:
            return {}
        found = _path_pattern(self.path).fullmatch(path)
        return found.groupdict() if found else None

    @property
    def rank(self) -> tuple[int, int, int]:
        """API Gateway prefers the most specific route: $default last, greedy paths late, literal segments first."""
        if self.path == DEFAULT_ROUTE:
            return (2, 0, 0)
        segments = self.path.strip("/").split("/")
        greedy = any(segment.endswith("+}") for segment in segments)
        variables = sum(segment.startswith("{") for segment in segments)
        return (int(greedy), variables, -len(segments))


def _path_pattern(path: str) -> re.Pattern[str]:
    parts = []
    for segment in path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts))


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in template["Resources"].items() if resource["Type"] == kind}


def functions(template: dict[str, Any] | None = None) -> dict[str, Function]:
    template = template or load_template()
    defaults = template.get("Globals", {}).get("Function", {})
    found = {}
    for name, resource in _resources(template, "AWS::Serverless::Function").items():
        props = {**defaults, **resource["Properties"]}
        environment = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **resource["Properties"].get("Environment", {}).get("Variables", {}),
        }
        found[name] = Function(
            name=name,
            code_uri=props["CodeUri"],
            handler=props["Handler"],
            timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment=environment,
        )
    return found


def routes(template: dict[str, Any] | None = None) -> list[Route]:
    """Every HttpApi route of the template, most specific first (the order API Gateway matches in)."""
    template = template or load_template()
    found = []
    for name, resource in _resources(template, "AWS::Serverless::Function").items():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            props = event.get("Properties") or {}
            path, method = props.get("Path"), props.get("Method")
            if path is None and method is None:
                found.append(Route("ANY", DEFAULT_ROUTE, name))
            else:
                found.append(Route(_http_method(method or "ANY"), path or "/", name))
    return sorted(found, key=lambda route: route.rank)


def _http_method(method: str) -> str:
    method = method.upper()
    return "ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method


def match_route(all_routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in all_routes:
        params = route.match(method, path)
        if params is not None:
            return route, params
    return None


def tables(template: dict[str, Any] | None = None) -> list[str]:
    """Logical ids of the template's DynamoDB tables."""
    return list(_resources(template or load_template(), "AWS::DynamoDB::Table"))


def local_table_name(logical_id: str) -> str:
    """The name a table gets locally: ThreadsTable -> threads-local."""
    base = logical_id.removesuffix("Table") or logical_id
    return re.sub(r"(?<!^)(?=[A-Z])", "-", base).lower() + "-local"


def buckets(template: dict[str, Any] | None = None) -> list[str]:
    """Logical ids of the template's S3 buckets."""
    return list(_resources(template or load_template(), "AWS::S3::Bucket"))


def local_bucket_name(logical_id: str) -> str:
    """The name a bucket gets locally: ContentBucket -> content-local."""
    base = logical_id.removesuffix("Bucket") or logical_id
    return re.sub(r"(?<!^)(?=[A-Z])", "-", base).lower() + "-local"


def local_names(template: dict[str, Any], environment: dict[str, str]) -> dict[str, str]:
    """Logical id -> local name of every table and bucket: the caller's own value of an environment variable of
    a function that refers to it (e.g. TABLE_NAME), else its local name."""
    names = {logical_id: local_table_name(logical_id) for logical_id in tables(template)}
    names.update({logical_id: local_bucket_name(logical_id) for logical_id in buckets(template)})
    for function in functions(template).values():
        for variable, value in function.environment.items():
            ref = value.get("Ref") if isinstance(value, dict) else None
            if ref in names and environment.get(variable):
                names[ref] = environment[variable]
    return names


@dataclass(frozen=True)
class StreamSource:
    """A DynamoDB stream event of a function: which table's stream feeds it, and how."""

    function: str  # logical id
    table: str  # logical id of the table whose stream it reads
    starting_position: str  # TRIM_HORIZON or LATEST
    batch_size: int
    maximum_retry_attempts: int  # -1: until the record expires
    filters: list[dict[str, Any]]  # the event patterns, parsed; a record matching any of them is delivered
    reports_item_failures: bool


def stream_sources(template: dict[str, Any] | None = None) -> list[StreamSource]:
    """Every DynamoDB stream event source of the template's functions."""
    template = template or load_template()
    found = []
    for name, resource in _resources(template, "AWS::Serverless::Function").items():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "DynamoDB":
                continue
            props = event["Properties"]
            stream = props["Stream"]
            table, attribute = stream["Fn::GetAtt"]
            assert attribute == "StreamArn", stream
            filters = (props.get("FilterCriteria") or {}).get("Filters") or []
            found.append(
                StreamSource(
                    function=name,
                    table=table,
                    starting_position=props["StartingPosition"],
                    batch_size=int(props.get("BatchSize", 100)),
                    maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                    filters=[json.loads(item["Pattern"]) for item in filters],
                    reports_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                )
            )
    return found


def resolve_environment(function: Function, template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """The function's environment variables as a local run sees them.

    A variable that `overrides` (the caller's own environment) sets takes that value, which is how a real table
    is chosen; otherwise a `!Ref` to a table or a bucket becomes its local name and a `!Ref` to a parameter its
    default.
    """
    parameters = template.get("Parameters", {})
    known_tables = set(tables(template))
    known_buckets = set(buckets(template))
    resolved = {}
    for name, value in function.environment.items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        if overrides.get(name):
            resolved[name] = overrides[name]
        elif isinstance(value, str | int | float | bool):
            resolved[name] = str(value)
        elif ref in known_tables:
            resolved[name] = local_table_name(ref)
        elif ref in known_buckets:
            resolved[name] = local_bucket_name(ref)
        elif ref in parameters and "Default" in parameters[ref]:
            resolved[name] = str(parameters[ref]["Default"])
    return resolved
