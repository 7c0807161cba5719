"""Tree: which version of a repository's objects a read sees (what a sandbox mounts)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tree:
    """The head (`seq` None), the tree at commit `seq`, or a session's view: its staged
    changes (`session_id`) over the tree at its base commit `seq`."""

    repository_id: str
    seq: int | None = None
    session_id: str = ""

    @classmethod
    def head(cls, repository_id: str) -> Tree:
        return cls(repository_id)

    @classmethod
    def at(cls, repository_id: str, seq: int) -> Tree:
        return cls(repository_id, seq)

    @classmethod
    def staged(cls, repository_id: str, session_id: str, base_seq: int) -> Tree:
        return cls(repository_id, base_seq, session_id)
