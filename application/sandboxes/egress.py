"""Which outbound requests a sandbox may make: its organization's network policies, evaluated
for the sandbox's principal (`run_as`, else its creator), cached per sandbox.

A sandbox's decisions are kept with the authorization snapshot they came from; the
authorizer replaces that snapshot when the organizations log moves (a policy edited, attached
or detached, in any process: the same `LogWatch` that invalidates API authorization), and a
new snapshot empties the sandbox's cache."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from application.authz import Authorizer, OrgSnapshot
from domain.sandboxes.egress import EgressRequest, Verdict


class SandboxFacts(Protocol):
    organization_id: str
    principal: dict[str, str]


class EgressJudge:
    """`judge(sandbox_id, request)` for the egress proxy."""

    def __init__(
        self,
        authorizer: Authorizer,
        sandbox: Callable[[str], SandboxFacts],
        default_allow: Callable[[OrgSnapshot], bool] = lambda snap: snap.egress_default_allow,
    ) -> None:
        self.authorizer = authorizer
        self.sandbox = sandbox
        self.default_allow = default_allow
        self._who: dict[str, tuple[str, str, str]] = {}
        self._cache: dict[str, tuple[OrgSnapshot, dict[EgressRequest, Verdict]]] = {}
        self._lock = threading.Lock()

    def __call__(self, sandbox_id: str, request: EgressRequest) -> Verdict:
        who = self._who.get(sandbox_id)
        if who is None:
            facts = self.sandbox(sandbox_id)
            who = (facts.organization_id, facts.principal["type"], facts.principal["id"])
            self._who[sandbox_id] = who
        org_id, kind, ident = who
        snap = self.authorizer.cached(org_id) or self.authorizer.snapshot(org_id)
        if snap is None:
            return Verdict(False, "the sandbox's organization is gone")
        cached = self._cache.get(sandbox_id)
        if cached is not None and cached[0] is snap:
            verdict = cached[1].get(request)
            if verdict is not None:
                return verdict
        verdict = snap.egress(kind, ident, request, self.default_allow(snap))
        with self._lock:
            cached = self._cache.get(sandbox_id)
            if cached is None or cached[0] is not snap:
                cached = (snap, {})
                self._cache[sandbox_id] = cached
            if len(cached[1]) < 10_000:
                cached[1][request] = verdict
        return verdict

    def quick(self, sandbox_id: str, request: EgressRequest) -> Verdict | None:
        """The cached verdict when it is current and needs no I/O (the proxy's fast path,
        taken on its event loop); None otherwise (ask `__call__` in a thread)."""
        who = self._who.get(sandbox_id)
        cached = self._cache.get(sandbox_id)
        if who is None or cached is None or self.authorizer.cached(who[0]) is not cached[0]:
            return None
        return cached[1].get(request)

    def forget(self, sandbox_id: str) -> None:
        """The sandbox ended."""
        with self._lock:
            self._who.pop(sandbox_id, None)
            self._cache.pop(sandbox_id, None)
