"""Who is calling: the authenticated principal a request acts as."""

from __future__ import annotations

from dataclasses import dataclass

from domain.shared.values import Actor


@dataclass(frozen=True)
class Principal:
    """An authenticated user, role or agent, and how it authenticated."""

    type: str  # "user" | "role" | "agent"
    id: str
    name: str
    via: str  # "bearer" | "basic" | "cookie" | "sandbox"
    key_id: str = ""
    login_session_id: str = ""
    organization_id: str = ""
    is_admin: bool = False
    # Set when a sandbox's `tst-` token authenticated the request (via "sandbox").
    sandbox_id: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(self.type, self.id)

    @property
    def is_user(self) -> bool:
        return self.type == "user"
