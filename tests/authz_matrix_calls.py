"""How the authorization matrix calls a route: `Call`, `Entry`, `Scope` and the builders the
route table (`tests/authz_matrix_table.py`) is written with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from tests.authz_matrix_setup import World
from tests.builders import name


@dataclass
class Call:
    """One concrete request: path parameters (besides defaults), query, body, and the
    attributes the guard sees for the policy decision."""

    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] | None = None
    body: Any = None
    resource: dict[str, str] = field(default_factory=dict)
    world: World | None = None  # a throwaway organization, for calls that destroy one
    # Further (action, attributes) decisions the call needs as well (a copy reads its source).
    also: tuple[tuple[str, dict[str, str]], ...] = ()


Build = Callable[[World, str], Call]


@dataclass(frozen=True)
class Scope:
    """Where a path-scoped route names its object: the query parameter it declares (`paths`:
    the body's list), whether it is a listing prefix (absent means "", the whole repository),
    and the query parameter of an object it also reads (a copy's source, GetObject)."""

    param: str
    prefix: bool = False
    reads: str = ""

    def names(self) -> tuple[str, ...]:
        """The parameters a scope walk varies."""
        return (self.param, self.reads) if self.reads else (self.param,)

    def place(self, call: Call, name: str, value: str) -> Call:
        """`call` naming `value` in `name`, with the attributes the guard will test."""
        query, payload = dict(call.query or {}), call.body
        if name == "paths":
            payload = {**(payload or {}), "paths": [value]}
        elif value or not self.prefix:
            query[name] = value
        else:
            query.pop(name, None)
        return self.resolve(replace(call, query=query, body=payload))

    def resolve(self, call: Call) -> Call:
        """`call` with the object path (and a copy's read) as the guard and handler see them."""
        query = call.query or {}
        path = call.body["paths"][0] if self.param == "paths" else query.get(self.param, "")
        resource = {**call.resource, "path": path}
        also = call.also
        if self.reads:
            read = {"repository": resource["repository"], "path": query[self.reads]}
            also = (*also, ("GetObject", read))
        return replace(call, resource=resource, also=also)


@dataclass(frozen=True)
class Entry:
    build: Build = lambda w, p: Call()
    # A public route's own refusal (status, words of its message), not the guard's.
    refusal: tuple[int, str] | None = None
    # 5xx statuses an allowed call answers by design.
    statuses: frozenset[int] = frozenset()
    # A HEAD answer has no body: a 404 is told apart from the hidden organization by the
    # GET route of the same path, which declares the same action.
    twin: str = ""
    # Path-scoped routes: where the object path goes (the matrix walks paths in and out of
    # the principals' scopes through it).
    scope: Scope | None = None


def body(value: Any) -> Entry:
    return Entry(lambda w, p: Call(body=value))


def query(**values: str) -> Entry:
    return Entry(lambda w, p: Call(query=values))


def group_call(make: Callable[[World], dict[str, Any]], **kw: Any) -> Build:
    def build(w: World, _p: str) -> Call:
        group = make(w)
        return Call({"group_id": group["id"]}, resource={"group": group["name"]}, **kw)

    return build


def policy_call(make: Callable[[World], dict[str, Any]], **kw: Any) -> Build:
    def build(w: World, _p: str) -> Call:
        policy = make(w)
        return Call({"policy_id": policy["id"]}, resource={"policy": policy["name"]}, **kw)

    return build


def connector_call() -> Build:
    """A call on a connector nobody created: an allowed principal gets the handler's 404."""

    def build(_w: World, _p: str) -> Call:
        unknown = "00000000-0000-0000-0000-000000000000"
        return Call({"connector_id": unknown}, resource={"connector": unknown})

    return build


def member_subject(w: World, _p: str) -> dict[str, str]:
    return {"subject_type": "user", "subject_id": w.member.id}


def agent_call(
    make: Callable[[World], dict[str, Any]], params: dict[str, str] | None = None, **kw: Any
) -> Build:
    def build(w: World, _p: str) -> Call:
        agent = make(w)
        resource = {"agent": agent["name"], "agent_owner": agent["created_by"]}
        return Call({"agent_name": agent["name"], **(params or {})}, resource=resource, **kw)

    return build


def keys_agent_call(key: Callable[[World], str] | None = None, **kw: Any) -> Build:
    def build(w: World, p: str) -> Call:
        params = {"key_id": key(w)} if key else {}
        return agent_call(lambda w: w.keys_agent, params=params, **kw)(w, p)

    return build


def role_call(
    role: Callable[[World], str], key: Callable[[World], str] | None = None, **kw: Any
) -> Build:
    def build(w: World, _p: str) -> Call:
        role_name = role(w)
        params = {"role_name": role_name, **({"key_id": key(w)} if key else {})}
        return Call(params, resource={"role": role_name}, **kw)

    return build


def named(attribute: str, **extra: Any) -> Build:
    """A create call whose name arrives in the body (checked against the attribute)."""

    def build(_w: World, _p: str) -> Call:
        label = name(f"{attribute[0]}-")
        return Call(body={"name": label, **extra}, resource={attribute: label})

    return build


def repo(
    path: str | None = None, *, twin: str = "", scope: Scope | None = None, **kw: Any
) -> Entry:
    """A repository-scope call on `world.repo`; a path-scoped one names `path` (or, for a
    listing, the prefix: none given means "") where its `scope` says."""

    extra = kw.pop("query", {})
    payload = kw.pop("body", None)

    def build(w: World, _p: str) -> Call:
        call = Call(
            dict(kw),
            query={"session_id": "s-1", **extra},
            body=payload,
            resource={"repository": w.repo},
        )
        return scope.place(call, scope.param, path or "") if scope else call

    return Entry(build, twin=twin, scope=scope)


def obj(path: str, **kw: Any) -> Entry:
    """A call naming one object in `path` (`…/object`, finalize, multipart)."""
    return repo(path, scope=Scope("path"), **kw)


def listing(prefix: str | None = None, **kw: Any) -> Entry:
    """A call naming a listing prefix (objects, changes, diff)."""
    return repo(prefix, scope=Scope("prefix", prefix=True), **kw)
