"""The policy language: one statement per line, e.g. `GetObject(repository="data-*")`.

Grammar (see docs/policies.md)::

    policy     := { line NEWLINE }
    line       := [ statement ] [ "#" comment ]
    statement  := [ "allow" | "deny" ] action "(" [ arg { "," arg } [ "," ] ] ")"
    action     := an action name, or a glob over names: "*", "Get*", "*Object"
    arg        := attribute ( "=" | ":" ) string  (attribute: repository, path, group, …)
    string     := '"' characters, with \\" and \\\\ escapes '"'

A request is allowed when at least one statement matches it and no `deny` statement does.
String values are globs (`*` any run of characters, `/` included; `?` one character).
Tilde's published form `GetObject (path: "/data/*")` means the same as `GetObject(path="data/*")`:
a path pattern's leading `/` is the repository root.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase, translate
from functools import lru_cache

from domain.shared.actions import GLOB_ACTIONS, POLICY_ACTIONS
from domain.shared.errors import Invalid

SELF = "self"  # `agent_owner="self"`: the agent was created by the principal being checked
_ACTION_CHARS = re.compile(r"[A-Za-z*?]+")
_IDENT = re.compile(r"[a-z_]+")


@dataclass(frozen=True)
class PolicyError:
    """Where and why a line does not parse (1-based line and column)."""

    line: int
    column: int
    message: str


@dataclass(frozen=True)
class Statement:
    """One allow or deny line."""

    effect: str
    action: str
    conditions: tuple[tuple[str, str], ...] = ()
    line: int = 0
    actions: frozenset[str] = field(default=frozenset(), compare=False)

    def matches(
        self,
        action: str,
        resource: Mapping[str, str],
        self_id: str,
        unknown: frozenset[str] = frozenset(),
    ) -> bool:
        """Whether this line applies. Attributes in `unknown` are not known yet (they come
        from a request body checked later): an allow line may apply, a deny line may not."""
        if action not in self.actions:
            return False
        for attribute, pattern in self.conditions:
            if attribute in unknown:
                if self.effect == "deny":
                    return False
                continue
            value = resource.get(attribute)
            if value is None:
                return False
            if attribute == "agent_owner" and pattern == SELF:
                if value != self_id:
                    return False
            elif not _glob(pattern).match(value):
                return False
        return True


@lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(translate(pattern))


class _Line:
    """A cursor over one line of policy text."""

    def __init__(self, text: str, number: int) -> None:
        self.text = text
        self.number = number
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r":
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text) or self.text[self.pos] == "#"

    def error(self, message: str, pos: int | None = None) -> PolicyError:
        return PolicyError(self.number, (self.pos if pos is None else pos) + 1, message)

    def take(self, pattern: re.Pattern[str]) -> str | None:
        match = pattern.match(self.text, self.pos)
        if not match:
            return None
        self.pos = match.end()
        return match.group(0)

    def expect(self, *chars: str) -> PolicyError | None:
        self.skip_ws()
        if self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1
            return None
        found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of line"
        wanted = " or ".join(f"'{c}'" for c in chars)
        return self.error(f"expected {wanted}, found {found}")

    def string(self) -> tuple[str | None, PolicyError | None]:
        self.skip_ws()
        if self.pos >= len(self.text) or self.text[self.pos] != '"':
            return None, self.error('expected a double-quoted string such as "data-*"')
        start, self.pos, out = self.pos, self.pos + 1, []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text) and self.text[self.pos + 1] in '"\\':
                out.append(self.text[self.pos + 1])
                self.pos += 2
            elif ch == '"':
                self.pos += 1
                return "".join(out), None
            else:
                out.append(ch)
                self.pos += 1
        return None, self.error("unterminated string", start)


def _parse_line(line: _Line) -> tuple[Statement | None, PolicyError | None]:
    if line.at_end():
        return None, None
    start = line.pos
    word = line.take(_ACTION_CHARS)
    if word is None:
        return None, line.error("expected an action name such as GetObject")
    effect = "allow"
    if word in ("allow", "deny"):
        effect = word
        line.skip_ws()
        if line.pos == start + len(word):
            return None, line.error(f"expected an action after '{word}'")
        start = line.pos
        word = line.take(_ACTION_CHARS)
        if word is None:
            return None, line.error(f"expected an action after '{effect}'")
    actions = _resolve_actions(word)
    if not actions:
        kind = "pattern matches no action" if any(c in word for c in "*?") else "unknown action"
        return None, line.error(f"{kind} '{word}'", start)
    if err := line.expect("("):
        return None, err
    conditions: list[tuple[str, str]] = []
    line.skip_ws()
    while line.pos < len(line.text) and line.text[line.pos] != ")":
        attr_pos = line.pos
        attribute = line.take(_IDENT)
        if attribute is None:
            return None, line.error("expected an attribute name such as repository")
        allowed = set().union(*(POLICY_ACTIONS[a].resources for a in actions))
        if attribute not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            return None, line.error(
                f"'{attribute}' does not apply to {word} (attributes: {names})", attr_pos
            )
        if any(attribute == a for a, _ in conditions):
            return None, line.error(f"'{attribute}' is given twice", attr_pos)
        if err := line.expect("=", ":"):  # `name="v"` here, `name: "v"` in Tilde's docs
            return None, err
        value, err = line.string()
        if err:
            return None, err
        assert value is not None
        if attribute == "path" and value.startswith("/"):
            value = value[1:]  # object paths are relative to the root a leading '/' names
        if attribute in ("host", "method"):  # host names are case-insensitive, methods upper
            value = value.lower() if attribute == "host" else value.upper()
        if attribute == "agent_owner" and value != SELF:
            return None, line.error('agent_owner only accepts "self"', attr_pos)
        conditions.append((attribute, value))
        line.skip_ws()
        if line.pos < len(line.text) and line.text[line.pos] == ",":
            line.pos += 1
            line.skip_ws()
        elif line.pos < len(line.text) and line.text[line.pos] != ")":
            return None, line.error("expected ',' or ')'")
    if err := line.expect(")"):
        return None, err
    if not line.at_end():
        return None, line.error("unexpected text after the statement (one per line)")
    return Statement(effect, word, tuple(conditions), line.number, actions), None


@lru_cache(maxsize=1024)
def _resolve_actions(word: str) -> frozenset[str]:
    if any(c in word for c in "*?"):
        return frozenset(a for a in GLOB_ACTIONS if fnmatchcase(a, word))
    return frozenset({word}) if word in POLICY_ACTIONS else frozenset()


def parse(text: str) -> tuple[tuple[Statement, ...], list[PolicyError]]:
    """All statements of `text`, and every error found (line, column, message)."""
    statements: list[Statement] = []
    errors: list[PolicyError] = []
    if len(text) > 64 * 1024:
        return (), [PolicyError(1, 1, "policy text is longer than 64 KiB")]
    for number, raw in enumerate(text.split("\n"), start=1):
        statement, error = _parse_line(_Line(raw, number))
        if error:
            errors.append(error)
        elif statement:
            statements.append(statement)
    return tuple(statements), errors


@lru_cache(maxsize=2048)
def compile_policy(text: str) -> tuple[Statement, ...]:
    """Statements of a policy known to be valid; `Invalid` listing the errors otherwise."""
    statements, errors = parse(text)
    if errors:
        first = "; ".join(f"line {e.line}, column {e.column}: {e.message}" for e in errors[:3])
        raise Invalid(f"invalid policy: {first}")
    return statements


def decide(
    statements: Iterable[Statement],
    action: str,
    resource: Mapping[str, str],
    self_id: str,
    unknown: frozenset[str] = frozenset(),
) -> bool:
    """Allowed when some statement matches and no deny statement does."""
    allowed = False
    for statement in statements:
        if statement.matches(action, resource, self_id, unknown):
            if statement.effect == "deny":
                return False
            allowed = True
    return allowed
