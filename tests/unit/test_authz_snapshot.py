"""OrgSnapshot built by hand: effective groups and policies, agents bounded by their creator."""

from __future__ import annotations

from typing import Any

import pytest

from application.authz import (
    AgentInfo,
    Authorizer,
    EffectiveGroup,
    EffectivePolicy,
    OrgSnapshot,
    PolicyInfo,
)
from application.principal import Principal
from domain.organizations.builtins import AGENT_MANAGER_TEXT, MEMBER_TEXT, OWNER_TEXT
from domain.organizations.policy_language import compile_policy
from domain.shared.errors import Forbidden, NotFound

OWNER, ALICE, BOB, CAROL, GONE = "u-owner", "u-alice", "u-bob", "u-carol", "u-gone"
CI, DEAD_ROLE = "r-ci", "r-dead"


def policy(ident: str, text: str, *, builtin: bool = False) -> PolicyInfo:
    return PolicyInfo(ident, ident.removeprefix("p-").title(), builtin, compile_policy(text))


def snapshot(**overrides: Any) -> OrgSnapshot:
    """An organization: owner; alice (Member, AgentManager, nested groups); bob (direct
    readers policy); carol (member with no policy); a CI role; agents of alice, of the role,
    of a user who left and of a deleted role."""
    policies = {
        "p-owner": policy("p-owner", OWNER_TEXT, builtin=True),
        "p-member": policy("p-member", MEMBER_TEXT, builtin=True),
        "p-agentmanager": policy("p-agentmanager", AGENT_MANAGER_TEXT, builtin=True),
        "p-readers": policy("p-readers", "ListRepositories()\nGetRepository()\nGetObject()"),
        "p-writers": policy("p-writers", 'PutObject(repository="data-*", path="raw/*")'),
        "p-ops": policy("p-ops", 'DeleteRepository()\ndeny DeleteRepository(repository="prod*")'),
        "p-ci": policy("p-ci", 'CreateSession(repository="artefacts")\nGetOrganization()'),
        "p-dangling": policy("p-dangling", "*()"),
    }
    values: dict[str, Any] = {
        "org_id": "org-1",
        "name": "acme",
        "display_name": "Acme",
        "members": {u: "2024-01-01T00:00:00Z" for u in (OWNER, ALICE, BOB, CAROL)},
        "roles": {CI: "ci"},
        "agents": {
            "ag-alice": AgentInfo(
                "ag-alice", "alice-bot", "user", ALICE, "GetObject()\nPutObject()"
            ),
            "ag-bare": AgentInfo("ag-bare", "bare-bot", "user", ALICE, ""),
            "ag-ci": AgentInfo("ag-ci", "ci-bot", "role", CI, "CreateSession()\nGetObject()"),
            "ag-orphan": AgentInfo("ag-orphan", "orphan-bot", "user", GONE, "*()"),
            "ag-deadrole": AgentInfo("ag-deadrole", "dead-bot", "role", DEAD_ROLE, "*()"),
            "ag-attached": AgentInfo("ag-attached", "att-bot", "user", ALICE, ""),
        },
        "groups": {
            "g-eng": ("engineering", "all engineers"),
            "g-data": ("data", "data team"),
            "g-all": ("everyone", "the whole company"),
            "g-empty": ("empty", ""),
        },
        # "type:id" -> groups it is directly in; data ⊂ engineering ⊂ everyone.
        "memberships": {
            f"user:{ALICE}": ["g-data"],
            "group:g-data": ["g-eng"],
            "group:g-eng": ["g-all"],
            "agent:ag-attached": ["g-data"],
        },
        "attachments": {
            f"user:{OWNER}": ["p-owner"],
            f"user:{ALICE}": ["p-member", "p-agentmanager"],
            f"user:{BOB}": ["p-readers", "p-missing"],
            "group:g-data": ["p-writers"],
            "group:g-all": ["p-ops"],
            f"role:{CI}": ["p-ci"],
        },
        "policies": policies,
    }
    values.update(overrides)
    return OrgSnapshot(**values)


def test_effective_groups_are_direct_then_inherited_with_the_group_they_come_through() -> None:
    snap = snapshot()
    assert snap.effective_groups("user", ALICE) == [
        EffectiveGroup("g-data", "data", "data team", "direct", ""),
        EffectiveGroup("g-eng", "engineering", "all engineers", "group", "data"),
        EffectiveGroup("g-all", "everyone", "the whole company", "group", "engineering"),
    ]
    assert snap.effective_groups("user", BOB) == []
    assert [g.group_id for g in snap.effective_groups("group", "g-data")] == ["g-eng", "g-all"]


def test_effective_groups_survive_a_cycle_and_skip_deleted_groups() -> None:
    memberships = {
        f"user:{ALICE}": ["g-data", "g-gone"],
        "group:g-data": ["g-eng"],
        "group:g-eng": ["g-data"],  # a cycle the write side would refuse
    }
    snap = snapshot(memberships=memberships)
    assert [(g.group_id, g.source) for g in snap.effective_groups("user", ALICE)] == [
        ("g-data", "direct"),
        ("g-eng", "group"),
    ]


def test_effective_policies_direct_then_through_groups_with_the_group_name() -> None:
    snap = snapshot()
    assert snap.effective_policies("user", ALICE) == [
        EffectivePolicy("p-member", "Member", True, "direct", ""),
        EffectivePolicy("p-agentmanager", "Agentmanager", True, "direct", ""),
        EffectivePolicy("p-writers", "Writers", False, "group", "data"),
        EffectivePolicy("p-ops", "Ops", False, "group", "everyone"),
    ]
    # A dangling attachment (policy deleted) is not listed.
    assert [p.policy_id for p in snap.effective_policies("user", BOB)] == ["p-readers"]
    assert snap.effective_policies("user", CAROL) == []
    assert snap.effective_policies("role", CI) == [
        EffectivePolicy("p-ci", "Ci", False, "direct", "")
    ]


def test_effective_policies_of_an_agent_start_with_its_inline_policy() -> None:
    snap = snapshot()
    assert snap.effective_policies("agent", "ag-alice") == [
        EffectivePolicy("ag-alice", "alice-bot (inline)", False, "inline", "")
    ]
    assert snap.effective_policies("agent", "ag-bare") == []
    assert snap.effective_policies("agent", "ag-attached") == [
        EffectivePolicy("p-writers", "Writers", False, "group", "data"),
        EffectivePolicy("p-ops", "Ops", False, "group", "everyone"),
    ]


def test_user_decisions_follow_direct_and_group_policies() -> None:
    snap = snapshot()
    raw = {"repository": "data-1", "path": "raw/2024/a.csv"}
    assert snap.allows("user", OWNER, "DeleteOrganization", {})
    assert snap.allows("user", ALICE, "ListMembers", {})
    assert not snap.allows("user", ALICE, "RemoveMember", {})
    assert snap.allows("user", ALICE, "PutObject", raw)  # Member, unconstrained
    assert snap.allows("user", BOB, "GetObject", raw)
    assert not snap.allows("user", BOB, "PutObject", raw)
    assert not snap.allows("user", CAROL, "ListMembers", {})
    # Through the nested groups: everyone → ops; the deny wins for prod repositories.
    assert snap.allows("user", ALICE, "DeleteRepository", {"repository": "dev"})
    assert not snap.allows("user", ALICE, "DeleteRepository", {"repository": "prod-eu"})


def test_unknown_principals_are_denied_everything() -> None:
    snap = snapshot()
    assert not snap.allows("user", "u-stranger", "GetOrganization", {})
    assert not snap.allows("role", DEAD_ROLE, "GetOrganization", {})
    assert not snap.allows("agent", "ag-nobody", "GetOrganization", {})
    assert not snap.knows("user", GONE)
    assert snap.knows("group", "g-eng") and not snap.knows("group", "g-nope")
    assert not snap.knows("bucket", "x")


def test_role_decisions_come_from_the_role_policies_only() -> None:
    snap = snapshot()
    assert snap.allows("role", CI, "GetOrganization", {})
    assert snap.allows("role", CI, "CreateSession", {"repository": "artefacts"})
    assert not snap.allows("role", CI, "CreateSession", {"repository": "other"})
    assert not snap.allows("role", CI, "ListMembers", {})


def test_an_agent_is_bounded_by_its_inline_policy_and_by_its_creator() -> None:
    snap = snapshot()
    raw = {"repository": "data-1", "path": "raw/a.csv"}
    # Both the inline policy and the creator (alice: Member) allow it.
    assert snap.allows("agent", "ag-alice", "GetObject", raw)
    assert snap.allows("agent", "ag-alice", "PutObject", raw)
    # Alice may list members, but the agent's inline policy does not say so.
    assert not snap.allows("agent", "ag-alice", "ListMembers", {})
    # The role creator allows CreateSession only on "artefacts".
    assert snap.allows("agent", "ag-ci", "CreateSession", {"repository": "artefacts"})
    assert not snap.allows("agent", "ag-ci", "CreateSession", {"repository": "data-1"})
    # ... and GetObject not at all, whatever the inline policy says.
    assert not snap.allows("agent", "ag-ci", "GetObject", raw)


def test_an_agent_whose_creator_lacks_the_action_or_is_gone_is_denied() -> None:
    snap = snapshot()
    # inline `*()` but the creator left the organization / the creating role was deleted.
    for agent in ("ag-orphan", "ag-deadrole"):
        assert not snap.allows("agent", agent, "ListMembers", {})
        assert not snap.allows("agent", agent, "GetObject", {"repository": "r", "path": "p"})
    # No inline policy and no attachment: nothing at all.
    assert not snap.allows("agent", "ag-bare", "ListMembers", {})
    # Group policies reach agents too, still bounded by the creator (alice reaches ops through
    # her nested groups, so she may delete non-production repositories: so may the agent).
    raw = {"repository": "data-1", "path": "raw/a.csv"}
    assert snap.allows("agent", "ag-attached", "PutObject", raw)
    assert snap.allows("user", ALICE, "DeleteRepository", {"repository": "data-1"})
    assert snap.allows("agent", "ag-attached", "DeleteRepository", {"repository": "data-1"})
    lacking = snapshot(attachments={**snapshot().attachments, f"user:{ALICE}": []})
    assert not lacking.allows("agent", "ag-alice", "GetObject", raw)


def test_unknown_attributes_let_an_allow_through_but_not_a_deny() -> None:
    group_admins = policy("p-groups", 'CreateGroup(group="team-*")\ndeny CreateGroup(group="x*")')
    snap = snapshot(
        policies={**snapshot().policies, "p-groups": group_admins},
        attachments={f"user:{CAROL}": ["p-groups"]},
    )
    unknown = frozenset({"group"})
    assert snap.allows("user", CAROL, "CreateGroup", {}, unknown)
    assert snap.allows("user", CAROL, "CreateGroup", {"group": "team-a"})
    assert not snap.allows("user", CAROL, "CreateGroup", {"group": "ops"})
    assert not snap.allows("user", CAROL, "CreateGroup", {"group": "xteam-a"})


def test_decisions_and_statements_are_memoized() -> None:
    snap = snapshot()
    raw = {"repository": "data-1", "path": "raw/a.csv"}
    first = snap.statements("user", ALICE)
    assert snap.statements("user", ALICE) is first
    answers = [snap.allows("agent", "ag-alice", "PutObject", raw) for _ in range(3)]
    denials = [snap.allows("user", CAROL, "ListMembers", {}) for _ in range(3)]
    assert answers == [True] * 3 and denials == [False] * 3
    memo = snap._memo
    assert ("agent", "ag-alice", "PutObject", tuple(sorted(raw.items())), frozenset()) in memo
    assert ("user", CAROL, "ListMembers", (), frozenset()) in memo
    # The memo answers, not the statements: poisoning it shows it is consulted.
    memo[("user", CAROL, "ListMembers", (), frozenset())] = True
    assert snap.allows("user", CAROL, "ListMembers", {})
    # Resource order does not matter for the memo key.
    assert snap.allows("agent", "ag-alice", "PutObject", dict(reversed(list(raw.items()))))


def test_lookups_by_name() -> None:
    snap = snapshot()
    agent = snap.agent_by_name("ci-bot")
    assert agent is not None and agent.created_by == CI
    assert snap.agent_by_name("nope") is None
    assert snap.role_by_name("ci") == CI and snap.role_by_name("x") is None


class FakeSource:
    """An AuthzSource over one hand-built snapshot."""

    def __init__(self, snap: OrgSnapshot) -> None:
        self.snap = snap
        self.loads = 0
        self.catch_ups = 0

    def catch_up(self) -> None:
        self.catch_ups += 1

    def load(self, org: str) -> OrgSnapshot | None:
        self.loads += 1
        return self.snap if org in (self.snap.name, self.snap.org_id) else None

    def organizations_of(self, principal: Principal) -> list[str]:
        return [self.snap.name]


def user(ident: str) -> Principal:
    return Principal("user", ident, ident, "bearer")


def test_the_authorizer_hides_the_organization_from_outsiders_and_caches_snapshots() -> None:
    source = FakeSource(snapshot())
    authorizer = Authorizer(source)
    assert authorizer.authorize(user(ALICE), "acme", "ListMembers").org_id == "org-1"
    with pytest.raises(Forbidden):
        authorizer.authorize(user(ALICE), "acme", "RemoveMember")
    with pytest.raises(NotFound, match="organization 'acme' not found"):
        authorizer.authorize(user("u-stranger"), "acme", "GetOrganization")
    with pytest.raises(NotFound):
        authorizer.authorize(user(OWNER), "nowhere", "GetOrganization")
    # A role of another organization is an outsider even with a matching id.
    foreign_role = Principal("role", CI, "ci", "bearer", organization_id="org-2")
    with pytest.raises(NotFound):
        authorizer.authorize(foreign_role, "acme", "GetOrganization")
    own_role = Principal("role", CI, "ci", "bearer", organization_id="org-1")
    assert authorizer.may(own_role, "acme", "GetOrganization")
    assert not authorizer.may(own_role, "acme", "ListMembers")
    loads = source.loads
    assert authorizer.snapshot("acme") is authorizer.snapshot("acme")
    assert source.loads == loads
    authorizer.watch.moved("organizations")  # the log moved: the next decision reloads
    authorizer.snapshot("acme")
    assert source.loads == loads + 1


def test_a_cached_snapshot_is_offered_without_io_only_while_current() -> None:
    source = FakeSource(snapshot())
    authorizer = Authorizer(source)
    assert authorizer.cached("acme") is None  # never loaded: the guard must take the slow path
    loaded = authorizer.snapshot("acme")
    loads = source.loads
    assert authorizer.cached("acme") is loaded and source.loads == loads
    assert authorizer.member_view(user(ALICE), "acme", loaded) is loaded
    with pytest.raises(NotFound):
        authorizer.member_view(user("u-stranger"), "acme", loaded)
    authorizer.watch.moved("organizations")  # a membership or policy changed
    assert authorizer.cached("acme") is None and source.loads == loads


# -- reads the SDK makes on the way to a named action ----------------------------------------


def test_every_principal_of_the_organization_may_read_its_record_whatever_its_policies() -> None:
    snap = snapshot(
        policies={**snapshot().policies, "p-hide": policy("p-hide", "deny GetOrganization()")},
        attachments={**snapshot().attachments, f"user:{BOB}": ["p-readers", "p-hide"]},
    )
    # carol has no policy, bob denies it himself (ListOrganizations shows him the record anyway),
    # the bare agent asks for nothing, the orphans' creators are gone: they all still belong.
    for kind, ident in [
        ("user", CAROL),
        ("user", BOB),
        ("role", CI),
        ("agent", "ag-bare"),
        ("agent", "ag-orphan"),
        ("agent", "ag-deadrole"),
    ]:
        assert snap.allows(kind, ident, "GetOrganization", {}), (kind, ident)
        assert not snap.allows(kind, ident, "ListMembers", {}), (kind, ident)
    # Outsiders and deleted principals still get nothing.
    for kind, ident in [("user", GONE), ("role", DEAD_ROLE), ("agent", "ag-nobody")]:
        assert not snap.allows(kind, ident, "GetOrganization", {}), (kind, ident)


def test_reading_every_object_of_a_repository_implies_reading_its_commits() -> None:
    texts = {
        "p-readers": "ListRepositories()\nGetRepository()\nGetObject()\n",  # the SDK's example
        "p-lister": 'ListObjects(repository="data-*")',
        "p-scoped": 'GetObject(path="public/*")\nListObjects(path="public/*")',
        "p-nolog": "GetObject()\ndeny ListCommits()",
        "p-minus": 'GetObject()\ndeny GetObject(path="secret/*")',
    }
    people = {"p-readers": BOB, "p-lister": CAROL, "p-scoped": "u-s", "p-nolog": "u-n"}
    people["p-minus"] = "u-m"
    snap = snapshot(
        members={u: "2024-01-01T00:00:00Z" for u in (OWNER, ALICE, *people.values())},
        policies={i: policy(i, t) for i, t in texts.items()},
        attachments={f"user:{u}": [p] for p, u in people.items()},
    )
    data = {"repository": "data-1"}
    for read in ("ListCommits", "GetCommit"):
        assert snap.allows("user", BOB, read, data)
        assert snap.allows("user", CAROL, read, data)
        assert not snap.allows("user", CAROL, read, {"repository": "other"})
        # A path-scoped reader would see the log of commits outside its paths: not implied.
        assert not snap.allows("user", "u-s", read, data)
        assert snap.allows("user", "u-m", read, data)  # a deny on some paths leaves the root
    assert not snap.allows("user", "u-n", "ListCommits", data)  # a deny names the read itself
    assert snap.allows("user", "u-n", "GetCommit", data)
    # Only reads are implied, and only commit reads.
    for action in ("RevertCommit", "DiffCommits", "CreateSession", "ListChanges"):
        assert not snap.allows("user", BOB, action, {**data, "path": ""}), action


def test_an_agent_gets_an_implied_read_only_when_its_creator_gets_it_too() -> None:
    agents = {
        "ag-bob": AgentInfo("ag-bob", "bob-bot", "user", BOB, "GetObject()"),
        "ag-carol": AgentInfo("ag-carol", "carol-bot", "user", CAROL, "GetObject()"),
    }
    snap = snapshot(agents=agents)
    assert snap.allows("agent", "ag-bob", "ListCommits", {"repository": "r"})  # bob: readers
    assert not snap.allows("agent", "ag-carol", "ListCommits", {"repository": "r"})  # no policy
