"""Reads a principal may make without a policy naming them: the SDK's steps towards an action.

The official SDK reaches an organization's repositories through `organizations.get(org)` and
reads objects only through a commit (`repo.commits.list()` or `.get(id)`, then
`commit.objects`). A policy that names the action at the end of that walk (Tilde's own example,
`ListRepositories()\\nGetRepository()\\nGetObject()\\n`) must not fail on a step before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.organizations.policy_language import Statement, decide

# Every principal of an organization may read its record: `ListOrganizations` shows the same
# record to the same principals, so no policy (not even a deny line) can hide it.
MEMBERSHIP_READS = frozenset({"GetOrganization"})

# A read of the whole repository's objects implies reading its commits, unless a deny line
# names the commit read itself. A path-scoped grant (`GetObject(path="public/*")`) does not:
# the log would show the messages and authors of commits outside its paths.
IMPLIED_BY: dict[str, tuple[str, ...]] = {
    "ListCommits": ("GetObject", "ListObjects"),
    "GetCommit": ("GetObject", "ListObjects"),
}
WHOLE_REPOSITORY = ""  # the path of a request on every object (like an absent listing prefix)


def decide_with_navigation(
    statements: Iterable[Statement],
    action: str,
    resource: Mapping[str, str],
    self_id: str,
    unknown: frozenset[str] = frozenset(),
) -> bool:
    """`decide`, plus the commit reads that whole-repository object reads imply."""
    statements = tuple(statements)
    if decide(statements, action, resource, self_id, unknown):
        return True
    implying = IMPLIED_BY.get(action)
    if not implying or any(
        s.effect == "deny" and s.matches(action, resource, self_id, unknown) for s in statements
    ):
        return False
    whole = {**resource, "path": WHOLE_REPOSITORY}
    return any(decide(statements, read, whole, self_id) for read in implying)
