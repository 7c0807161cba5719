"""The expected state of a repository (head, every commit, open sessions) and the checks
that read a repository back against it over HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.catalog_api import Api

Snapshot = dict[str, bytes]


@dataclass
class Model:
    """What a repository must show: the head and the tree at every commit, by commit id."""

    head: Snapshot = field(default_factory=dict)
    commits: list[tuple[str, Snapshot]] = field(default_factory=list)
    sessions: dict[str, tuple[Snapshot, dict[str, bytes | None]]] = field(default_factory=dict)

    def open(self, session_id: str) -> None:
        self.sessions[session_id] = (dict(self.head), {})

    def view(self, session_id: str) -> Snapshot:
        base, staged = self.sessions[session_id]
        tree = dict(base)
        for path, data in staged.items():
            if data is None:
                tree.pop(path, None)
            else:
                tree[path] = data
        return tree

    def put(self, session_id: str, path: str, data: bytes) -> None:
        self.sessions[session_id][1][path] = data

    def delete(self, session_id: str, path: str) -> None:
        self.sessions[session_id][1][path] = None

    def copy(self, session_id: str, source: str, destination: str) -> None:
        self.sessions[session_id][1][destination] = self.view(session_id)[source]

    def committed(self, session_id: str, commit_id: str) -> None:
        _, staged = self.sessions.pop(session_id)
        for path, data in staged.items():
            if data is None:
                self.head.pop(path, None)
            else:
                self.head[path] = data
        self.commits.append((commit_id, dict(self.head)))

    def imported(self, commit_id: str, files: Snapshot) -> None:
        """An import's commit: `files` land on top of the head."""
        self.head.update(files)
        self.commits.append((commit_id, dict(self.head)))

    def rolled_back(self, session_id: str) -> None:
        self.sessions.pop(session_id)

    def reverted(self, target: str, commit_id: str) -> None:
        ids = [c for c, _ in self.commits]
        index = ids.index(target)
        before = self.commits[index - 1][1] if index else {}
        after = self.commits[index][1]
        for path in set(before) | set(after):
            if before.get(path) != after.get(path):
                if path in before:
                    self.head[path] = before[path]
                else:
                    self.head.pop(path, None)
        self.commits.append((commit_id, dict(self.head)))

    def tree(self, commit_id: str) -> Snapshot:
        return next(t for c, t in self.commits if c == commit_id)


def check_tree(api: Api, repo: str, tree: Snapshot, **where: str) -> int:
    """The listing at `where` (head, ref=…, session_id=…) is exactly `tree`, every object
    reads back with its bytes; how many objects were read."""
    assert api.list_paths(repo, **where) == sorted(tree), where
    for path, data in tree.items():
        assert api.read(repo, path, **where) == data, (path, where)
    return len(tree)


def check_model(
    api: Api,
    repo: str,
    model: Model,
    *,
    stale: frozenset[str] | set[str] = frozenset(),
    last: int | None = None,
) -> int:
    """Head, every retained commit (or the `last` few) and every open session read back
    exactly; stale commits answer 410 and the log marks them. Returns objects read."""
    read = check_tree(api, repo, model.head)
    log = {c["id"]: c for c in api.log(repo)}
    assert set(log) == {c for c, _ in model.commits}, "the log lists every commit"
    for index, (commit_id, tree) in enumerate(model.commits):
        assert log[commit_id]["is_stale"] is (commit_id in stale), commit_id
        if last is not None and index < len(model.commits) - last:
            continue
        if commit_id in stale:
            some = next(iter(tree), "missing")
            assert api.get_object(repo, some, ref=commit_id).status_code == 410
            assert api.list_status(repo, ref=commit_id) == 410
        else:
            read += check_tree(api, repo, tree, ref=commit_id)
    for session_id in model.sessions:
        read += check_tree(api, repo, model.view(session_id), session_id=session_id)
    return read
