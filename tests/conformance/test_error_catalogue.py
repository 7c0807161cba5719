"""The error-code catalogue: every `code` the server can answer is in the one table with its
status, and docs/errors.md is generated from that table."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path

from domain.shared.errors import DomainError
from interfaces.http.errors import CODES, HTTP_CODES, status_for

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "application", "projections", "infra", "interfaces")
sys.path.insert(0, str(ROOT / "docs"))
import errors_table  # noqa: E402


def error_classes() -> dict[str, type[DomainError]]:
    """Every DomainError subclass of the server, by class name (imports every module)."""
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            importlib.import_module(info.name)
    found: dict[str, type[DomainError]] = {}
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        kind = pending.pop()
        found[kind.__name__] = kind
        pending.extend(kind.__subclasses__())
    return found


def raised_codes(source: str, classes: dict[str, type[DomainError]]) -> Iterator[tuple[str, int]]:
    """(code, status) of every literal code in `source`: `SomeError(..., code="X")` and
    `error_response(request, <status>, message, "X")`; a literal code whose status cannot be
    told yields status -1 (the test then fails: teach this function the new form)."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else None
        callee = node.func.id if isinstance(node.func, ast.Name) else callee
        literal = next(
            (k.value.value for k in node.keywords if k.arg == "code" and _is_str(k.value)), None
        )
        if callee == "error_response":
            args = node.args
            literal = literal or (args[3].value if len(args) > 3 and _is_str(args[3]) else None)
            status = args[1].value if len(args) > 1 and isinstance(args[1], ast.Constant) else -1
            if literal is not None:
                yield str(literal), int(status)
        elif literal is not None:
            yield str(literal), status_for(classes[callee]) if callee in classes else -1


def _is_str(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def test_docs_errors_md_is_generated_from_the_table() -> None:
    document = errors_table.DOC.read_text()
    assert document == errors_table.with_table(document), "run python3 docs/errors_table.py"
    for code in CODES:
        assert f"| `{code}` |" in document


def test_every_default_status_code_is_catalogued_with_its_status() -> None:
    wrong = {
        code: status for status, code in HTTP_CODES.items() if CODES.get(code, (0,))[0] != status
    }
    assert wrong == {}


def test_every_error_class_code_is_catalogued_with_its_status() -> None:
    wrong = {
        name: (kind.code, status_for(kind))
        for name, kind in error_classes().items()
        if kind.code not in CODES or CODES[kind.code].status != status_for(kind)
    }
    assert wrong == {}, f"add these codes to CODES in interfaces/http/errors.py: {wrong}"


def test_every_code_raised_in_the_source_is_catalogued_with_its_status() -> None:
    classes = error_classes()
    wrong = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for code, status in raised_codes(path.read_text(), classes):
                if code not in CODES or CODES[code].status != status:
                    wrong.append(f"{path.relative_to(ROOT)}: {code} ({status})")
    assert wrong == [], f"uncatalogued codes (add them to CODES): {wrong}"


def test_the_scan_catches_a_new_code() -> None:
    """A regression guard for the scan itself: a new literal code anywhere is noticed."""
    source = """
raise Forbidden("no", code="BRAND_NEW")
raise Conflict("taken", code="EMAIL_TAKEN")
return error_response(request, 418, "teapot", "I_AM_A_TEAPOT")
raise Mystery("?", code="WHO_KNOWS")
"""
    found = list(raised_codes(source, error_classes()))
    assert found == [
        ("BRAND_NEW", 403),
        ("EMAIL_TAKEN", 409),
        ("I_AM_A_TEAPOT", 418),
        ("WHO_KNOWS", -1),
    ]
    assert [c for c, s in found if c not in CODES or CODES[c].status != s] == [
        "BRAND_NEW",
        "I_AM_A_TEAPOT",
        "WHO_KNOWS",
    ]
