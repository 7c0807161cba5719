"""Authorization: effective policies of users, roles and agents, and cached decisions.

An organization's authorization state (members, groups, attachments, policies, roles,
agents) is loaded from the read models into an `OrgSnapshot`, cached per organization until
the organizations log moves (`LogWatch`, shared with the Bearer-key cache). Decisions are
memoized on the snapshot, so a warm decision is a dictionary lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from application.cache import LogWatch
from application.principal import Principal
from domain.organizations.navigation import MEMBERSHIP_READS, decide_with_navigation
from domain.organizations.policy_language import Statement, compile_policy
from domain.sandboxes.egress import EgressRequest, Verdict, decide_egress
from domain.shared.errors import Forbidden, NotFound


@dataclass(frozen=True)
class PolicyInfo:
    id: str
    name: str
    is_builtin: bool
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class AgentInfo:
    id: str
    name: str
    created_by_type: str
    created_by: str
    inline_policy: str


@dataclass(frozen=True)
class EffectivePolicy:
    policy_id: str
    policy_name: str
    is_builtin: bool
    source: str
    source_name: str


@dataclass(frozen=True)
class EffectiveGroup:
    group_id: str
    group_name: str
    description: str
    source: str
    source_name: str


def key(kind: str, ident: str) -> str:
    return f"{kind}:{ident}"


class OrgSnapshot:
    """One organization's authorization state as of one position of the organizations log."""

    def __init__(
        self,
        *,
        org_id: str,
        name: str,
        display_name: str,
        members: dict[str, str],
        roles: dict[str, str],
        agents: dict[str, AgentInfo],
        groups: dict[str, tuple[str, str]],
        memberships: dict[str, list[str]],
        attachments: dict[str, list[str]],
        policies: dict[str, PolicyInfo],
        egress_default_allow: bool = True,
    ) -> None:
        self.org_id = org_id
        # Sandboxes reach public destinations no network statement names (else: denied).
        self.egress_default_allow = egress_default_allow
        self.name = name
        self.display_name = display_name
        self.members = members  # user id -> joined at
        self.roles = roles  # id -> name
        self.agents = agents
        self.groups = groups  # id -> (name, description)
        self.memberships = memberships  # "type:id" -> group ids it is directly in
        self.attachments = attachments  # "type:id" -> policy ids attached directly
        self.policies = policies
        self._memo: dict[Any, Any] = {}
        self._lock = threading.Lock()

    # -- lookups ----------------------------------------------------------------------
    def agent_by_name(self, name: str) -> AgentInfo | None:
        return next((a for a in self.agents.values() if a.name == name), None)

    def role_by_name(self, name: str) -> str | None:
        return next((i for i, n in self.roles.items() if n == name), None)

    def knows(self, principal_type: str, principal_id: str) -> bool:
        """Whether the principal exists in this organization (members, live roles/agents)."""
        if principal_type == "user":
            return principal_id in self.members
        if principal_type == "role":
            return principal_id in self.roles
        if principal_type == "agent":
            return principal_id in self.agents
        if principal_type == "group":
            return principal_id in self.groups
        return False

    # -- groups and policies ----------------------------------------------------------
    def effective_groups(self, principal_type: str, principal_id: str) -> list[EffectiveGroup]:
        """Direct groups, then groups reached through them (breadth first)."""
        found: dict[str, EffectiveGroup] = {}
        queue: list[tuple[str, str, str]] = [
            (g, "direct", "") for g in self.memberships.get(key(principal_type, principal_id), [])
        ]
        while queue:
            group_id, source, via = queue.pop(0)
            if group_id in found or group_id not in self.groups:
                continue
            name, description = self.groups[group_id]
            found[group_id] = EffectiveGroup(group_id, name, description, source, via)
            for parent in self.memberships.get(key("group", group_id), []):
                queue.append((parent, "group", name))
        return list(found.values())

    def effective_policies(self, principal_type: str, principal_id: str) -> list[EffectivePolicy]:
        result: list[EffectivePolicy] = []
        if principal_type == "agent" and principal_id in self.agents:
            agent = self.agents[principal_id]
            if agent.inline_policy:
                result.append(
                    EffectivePolicy(agent.id, f"{agent.name} (inline)", False, "inline", "")
                )
        for policy_id in self.attachments.get(key(principal_type, principal_id), []):
            if policy_id in self.policies:
                p = self.policies[policy_id]
                result.append(EffectivePolicy(p.id, p.name, p.is_builtin, "direct", ""))
        for group in self.effective_groups(principal_type, principal_id):
            for policy_id in self.attachments.get(key("group", group.group_id), []):
                if policy_id in self.policies:
                    p = self.policies[policy_id]
                    result.append(
                        EffectivePolicy(p.id, p.name, p.is_builtin, "group", group.group_name)
                    )
        return result

    def statements(self, principal_type: str, principal_id: str) -> tuple[Statement, ...]:
        memo_key = ("statements", principal_type, principal_id)
        cached = self._memo.get(memo_key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        out: list[Statement] = []
        for eff in self.effective_policies(principal_type, principal_id):
            if eff.source == "inline":
                out.extend(compile_policy(self.agents[principal_id].inline_policy))
            else:
                out.extend(self.policies[eff.policy_id].statements)
        result = tuple(out)
        with self._lock:
            self._memo[memo_key] = result
        return result

    # -- decisions --------------------------------------------------------------------
    def allows(
        self,
        principal_type: str,
        principal_id: str,
        action: str,
        resource: Mapping[str, str],
        unknown: frozenset[str] = frozenset(),
    ) -> bool:
        memo_key = (principal_type, principal_id, action, tuple(sorted(resource.items())), unknown)
        cached = self._memo.get(memo_key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        allowed = self._decide(principal_type, principal_id, action, resource, unknown, 0)
        with self._lock:
            if len(self._memo) > 50_000:
                self._memo.clear()
            self._memo[memo_key] = allowed
        return allowed

    def egress(
        self, principal_type: str, principal_id: str, request: EgressRequest, default_allow: bool
    ) -> Verdict:
        """The network policies' verdict on a sandbox's request made as this principal; an
        agent is bounded by its creator (both must allow). Memoized like `allows`."""
        memo_key = ("egress", principal_type, principal_id, request, default_allow)
        cached = self._memo.get(memo_key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        verdict = Verdict(False, "the sandbox's principal is no longer in the organization")
        kind, ident = principal_type, principal_id
        for _ in range(5):
            if not self.knows(kind, ident):
                verdict = Verdict(False, f"the sandbox's {kind} is no longer in the organization")
                break
            verdict = decide_egress(
                self.statements(kind, ident), request, default_allow=default_allow
            )
            if not verdict.allowed or kind != "agent":
                break
            agent = self.agents[ident]
            kind, ident = agent.created_by_type, agent.created_by
        with self._lock:
            if len(self._memo) > 50_000:
                self._memo.clear()
            self._memo[memo_key] = verdict
        return verdict

    def _decide(
        self,
        principal_type: str,
        principal_id: str,
        action: str,
        resource: Mapping[str, str],
        unknown: frozenset[str],
        depth: int,
    ) -> bool:
        if depth > 4 or not self.knows(principal_type, principal_id):
            return False
        if action in MEMBERSHIP_READS:  # belonging is enough, whatever the policies say
            return True
        own = decide_with_navigation(
            self.statements(principal_type, principal_id), action, resource, principal_id, unknown
        )
        if not own or principal_type != "agent":
            return own
        # An agent never exceeds its creator: the creator must be allowed too.
        agent = self.agents[principal_id]
        return self._decide(
            agent.created_by_type, agent.created_by, action, resource, unknown, depth + 1
        )


class AuthzSource(Protocol):
    """Loads snapshots from the read models."""

    def catch_up(self) -> None:
        """Bring what `load` reads up to the organizations log's current head."""
        ...

    def load(self, org: str) -> OrgSnapshot | None:
        """The snapshot of a live organization by name or id, or None."""
        ...

    def organizations_of(self, principal: Principal) -> list[str]:
        """Names of the organizations the principal belongs to."""
        ...


# The logs a snapshot is derived from (the Bearer-key cache watches identity too).
AUTHZ_LOGS = ("organizations",)


class Authorizer:
    """Answers "may this principal do this here?" from cached snapshots."""

    def __init__(self, source: AuthzSource, watch: LogWatch | None = None) -> None:
        self.source = source
        self.watch = watch or LogWatch()
        self._cache: dict[str, tuple[tuple[int, ...], OrgSnapshot]] = {}
        self._caught_up: tuple[int, ...] | None = None
        self._lock = threading.Lock()

    def snapshot(self, org: str) -> OrgSnapshot | None:
        # Read before loading: a write landing during the load leaves the entry stale-marked.
        generation = self.watch.current(AUTHZ_LOGS)
        cached = self._cache.get(org)
        if cached is not None and cached[0] == generation:
            return cached[1]
        if self._caught_up != generation:
            # The views may lag the log (a slow or dead projector): fold up to its head first,
            # so what is cached under this generation is as new as the generation itself.
            self.source.catch_up()
            self._caught_up = generation
        snapshot = self.source.load(org)
        if snapshot is not None:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[org] = (generation, snapshot)
        return snapshot

    def cached(self, org: str) -> OrgSnapshot | None:
        """The organization's snapshot if it is cached and current (no I/O), else None."""
        cached = self._cache.get(org)
        if cached is not None and cached[0] == self.watch.current_without_io(AUTHZ_LOGS):
            return cached[1]
        return None

    def organization(self, principal: Principal, org: str) -> OrgSnapshot:
        """The organization if the principal belongs to it; NotFound otherwise (no leak)."""
        return self.member_view(principal, org, self.snapshot(org))

    def member_view(self, principal: Principal, org: str, snap: OrgSnapshot | None) -> OrgSnapshot:
        """`snap` if the principal belongs to it; NotFound otherwise (no leak)."""
        if (
            snap is None
            or not snap.knows(principal.type, principal.id)
            or (principal.type != "user" and principal.organization_id != snap.org_id)
        ):
            raise NotFound(f"organization '{org}' not found")
        return snap

    def authorize(
        self,
        principal: Principal,
        org: str,
        action: str,
        resource: Mapping[str, str] | None = None,
        unknown: Iterable[str] = (),
    ) -> OrgSnapshot:
        """The snapshot when allowed; NotFound for outsiders, Forbidden for members."""
        snap = self.organization(principal, org)
        if not snap.allows(
            principal.type, principal.id, action, resource or {}, frozenset(unknown)
        ):
            raise Forbidden(f"{principal.type} '{principal.name}' may not {action} here")
        return snap

    def may(
        self, principal: Principal, org: str, action: str, resource: Mapping[str, str] | None = None
    ) -> bool:
        try:
            self.authorize(principal, org, action, resource)
        except (NotFound, Forbidden):
            return False
        return True
