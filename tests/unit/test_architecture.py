"""Architecture rules as tests: every route declares an action, the domain stays pure."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from domain.shared.actions import ACTIONS
from infra.bootstrap import bootstrap
from infra.settings import Settings
from interfaces.http.app import create_app
from interfaces.http.resources import (
    ALSO_READS,
    BODY_RESOURCE,
    MULTI_VALUED,
    RESOURCE_PATH,
    RESOURCE_PREFIX,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Litestar]:
    data_dir = tmp_path_factory.mktemp("arch") / "data"
    container = bootstrap(Settings(data_dir=data_dir, log_level="WARNING"))
    yield create_app(container, run_background=False)
    container.close()


def is_auto_options(handler: HTTPRouteHandler) -> bool:
    """Litestar adds an OPTIONS handler to every path; it is not a route we declare."""
    return handler.http_methods == {"OPTIONS"} and handler.handler_name == "options_handler"


def declared_handlers(app: Litestar) -> list[tuple[str, HTTPRouteHandler]]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not is_auto_options(handler):
                found.append((route.path, handler))
    return found


def describe(path: str, handler: HTTPRouteHandler) -> str:
    return f"{'/'.join(sorted(handler.http_methods))} {path} ({handler.handler_name})"


def test_the_app_has_the_identity_routes(app: Litestar) -> None:
    paths = {path for path, _ in declared_handlers(app)}
    assert {"/api/v1/auth/signup", "/api/v1/auth/keys", "/health"} <= paths


def test_every_route_declares_a_known_action(app: Litestar) -> None:
    missing = [
        describe(path, handler)
        for path, handler in declared_handlers(app)
        if not isinstance(handler.opt.get("action"), str) or handler.opt["action"] not in ACTIONS
    ]
    assert missing == [], f"routes without a known authorization action: {missing}"


def test_every_route_has_a_unique_operation_id(app: Litestar) -> None:
    seen: dict[str, str] = {}
    problems = []
    for path, handler in declared_handlers(app):
        op_id = handler.operation_id
        if not isinstance(op_id, str) or not op_id:
            problems.append(f"{describe(path, handler)} has no operation_id")
        elif op_id in seen:
            problems.append(f"{describe(path, handler)} reuses {op_id} of {seen[op_id]}")
        else:
            seen[op_id] = describe(path, handler)
    assert problems == []


def test_the_served_openapi_document_names_every_operation(app: Litestar) -> None:
    with TestClient(app) as client:
        document = client.get("/api/v1/openapi.json").json()
    served = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    declared = {
        h.operation_id
        for _, h in declared_handlers(app)
        if h.resolve_include_in_schema() and isinstance(h.operation_id, str)
    }
    assert declared and declared <= served


def test_options_requests_on_every_route_do_not_fail(app: Litestar) -> None:
    """The automatic OPTIONS handlers declare no action; the guard must not turn them into 500s."""
    paths = sorted(
        {re.sub(r"\{[^}]+\}", "x", r.path) for r in app.routes if isinstance(r, HTTPRoute)}
    )
    with TestClient(app) as client:
        failing = [p for p in paths if client.options(p).status_code >= 500]
    assert failing == [], f"OPTIONS answers 5xx on: {failing}"


def test_every_path_scoped_route_declares_where_its_path_comes_from(app: Litestar) -> None:
    """The guard reads exactly the parameter a route declares (no guessing over names): a
    route whose action takes a `path` must name it, and only such routes may."""
    problems = []
    for path, handler in declared_handlers(app):
        action = ACTIONS.get(str(handler.opt.get("action")))
        declared = [k for k in (RESOURCE_PATH, RESOURCE_PREFIX) if handler.opt.get(k)]
        in_body = handler.opt.get(BODY_RESOURCE) == "path"
        if action is not None and "path" in action.resources:
            if len(declared) + in_body != 1:
                problems.append(
                    f"{describe(path, handler)} must declare exactly one of "
                    f"{RESOURCE_PATH}, {RESOURCE_PREFIX} or {BODY_RESOURCE}='path'"
                )
        elif declared or in_body or handler.opt.get(ALSO_READS):
            problems.append(f"{describe(path, handler)} declares a path its action does not test")
    assert problems == [], "\n".join(problems)


# Building kwargs models again warns about inferred path parameters: not what this checks.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_only_declared_query_parameters_are_multi_valued(app: Litestar) -> None:
    """The guard refuses a repeated query parameter unless the route declares it
    multi-valued; a list-typed parameter must therefore be declared (and only those)."""
    problems = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            model = handler.create_kwargs_model(path_parameters=route.path_parameters)
            lists = set(model.sequence_query_parameter_names)
            declared = set(handler.opt.get(MULTI_VALUED, ()))
            if lists != declared:
                problems.append(f"{describe(route.path, handler)}: lists {lists}, {declared=}")
    assert problems == []


# -- the domain imports nothing but the standard library, eventsourcing.domain, domain.* ----


def imported_modules(tree: ast.AST, module: str) -> Iterator[tuple[int, str]]:
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            else:
                yield node.lineno, node.module or ""
        elif isinstance(node, ast.Call) and (
            getattr(node.func, "attr", None) == "import_module"
            or getattr(node.func, "id", None) in ("import_module", "__import__")
        ):
            yield node.lineno, "<dynamic import>"


def allowed_in_domain(name: str) -> bool:
    top = name.split(".")[0]
    if top == "domain" or name == "eventsourcing.domain":
        return True
    return top in sys.stdlib_module_names


def domain_modules() -> list[tuple[Path, str]]:
    files = sorted((ROOT / "domain").rglob("*.py"))
    return [(f, ".".join(f.relative_to(ROOT).with_suffix("").parts)) for f in files]


def test_the_domain_scan_sees_every_domain_module() -> None:
    modules = {name for _, name in domain_modules()}
    assert {"domain.identity.user", "domain.identity.api_key", "domain.shared.errors"} <= modules


def test_domain_modules_import_only_the_standard_library_and_eventsourcing_domain() -> None:
    offenders = []
    for path, module in domain_modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, name in imported_modules(tree, module):
            if not allowed_in_domain(name):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert offenders == []


def test_the_domain_scan_catches_forbidden_imports() -> None:
    source = (
        "import os\nfrom eventsourcing.domain import Aggregate\nfrom . import errors\n"
        "import eventsourcing.application\nfrom litestar import get\nimport psycopg\n"
    )
    names = [n for _, n in imported_modules(ast.parse(source), "domain.identity.user")]
    assert names[:3] == ["os", "eventsourcing.domain", "domain.identity"]
    assert [n for n in names if not allowed_in_domain(n)] == [
        "eventsourcing.application",
        "litestar",
        "psycopg",
    ]


# -- import-linter contracts ---------------------------------------------------------------


def test_import_linter_contracts_are_kept() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--no-cache",
            "--no-logo",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "0 broken" in output and "BROKEN" not in output, output


# -- lint, format and types ----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "ruff", "check", "--no-cache", "."],
        ["-m", "ruff", "format", "--check", "--no-cache", "."],
        ["-m", "mypy", "--cache-dir", "/dev/null"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_the_tree_is_linted_formatted_and_type_checked(command: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
