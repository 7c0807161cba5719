"""Record the API traffic of a client and judge each answer against the official spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conformance.spec import API

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class Recorder:
    """An httpx response hook keeping every `/api/v1` exchange, body read."""

    exchanges: list[httpx.Response] = field(default_factory=list)

    def __call__(self, response: httpx.Response) -> None:
        if response.request.url.path.startswith(API + "/"):
            response.read()
            self.exchanges.append(response)

    def client(self, base_url: str, **kwargs: Any) -> httpx.Client:
        """An httpx client whose traffic this recorder keeps."""
        return httpx.Client(
            base_url=base_url, timeout=60, event_hooks={"response": [self]}, **kwargs
        )


def violations(
    schema: Any,
    exchanges: list[httpx.Response],
    allowed: dict[tuple[str, int], str],
) -> tuple[list[str], set[str]]:
    """Each answer of a spec operation that breaks its schema or declares an undocumented
    status (skipping the `allowed` (operationId, status) deviations), and the operationIds
    seen."""
    found: list[str] = []
    seen: set[str] = set()
    for response in exchanges:
        request = response.request
        path = request.url.path.removeprefix(API)
        operation = schema.find_operation_by_path(request.method, path)
        if operation is not None and request.method != operation.method.upper():
            # The router answers HEAD with the GET operation; the spec may list HEAD apart.
            operation = _operation(schema, operation.path, request.method)
        if operation is None:  # a route outside the spec (e.g. deleteOrg): nothing to judge
            continue
        op_id = str(operation.definition.raw.get("operationId"))
        seen.add(op_id)
        if (op_id, response.status_code) in allowed:
            continue
        case = operation.Case(
            path_parameters=_path_parameters(operation.path, path),
            query=dict(request.url.params),
        )
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:  # collect them all, judge at the end
            for failure in group.exceptions:
                message = " ".join(failure.message.split())[:400]
                found.append(
                    f"{op_id} {request.method} {path}?{request.url.query.decode()} -> "
                    f"{response.status_code}: "
                    f"{failure.title}: {message}"
                )
    return found, seen


def _operation(schema: Any, path: str, method: str) -> Any:
    try:
        return schema[path][method]
    except LookupError:
        return None


def _path_parameters(template: str, path: str) -> dict[str, str]:
    names = template.strip("/").split("/")
    values = path.strip("/").split("/")
    return {
        n[1:-1]: v for n, v in zip(names, values, strict=False) if n.startswith("{") and "}" in n
    }


def official_schema(spec_path: Any) -> Any:
    return schemathesis.openapi.from_path(spec_path)
