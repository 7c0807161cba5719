"""The LoginSession aggregate: one browser sign-in, ended by logout or a password change."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import Aggregate


class LoginSession(Aggregate):
    """A signed-in browser; its id is the `jti` of the session cookie's JWT."""

    class Started(Aggregate.Created):
        """A user signed in from a browser or client."""

        user_id: str
        expires_at: datetime
        ip: str
        user_agent: str

        def apply(self, session: LoginSession) -> None:
            session.user_id = self.user_id
            session.expires_at = self.expires_at
            session.ended = False

    class Ended(Aggregate.Event):
        """The session was closed (logout, account deletion)."""

        reason: str

        def apply(self, session: LoginSession) -> None:
            session.ended = True

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        user_id: str
        expires_at: datetime
        ended: bool

    def is_valid(self, now: datetime) -> bool:
        return not self.ended and self.expires_at > now

    def end(self, reason: str) -> None:
        if not self.ended:
            self.trigger_event(self.Ended, reason=reason)
