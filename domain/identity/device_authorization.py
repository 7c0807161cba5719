"""The DeviceAuthorization aggregate: the CLI's device-code login (RFC 8628 style)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import Aggregate

from domain.shared.errors import Conflict, Gone


class DeviceAuthorization(Aggregate):
    """A pending CLI login; its id derives from the device code's hash, never the code."""

    class Requested(Aggregate.Created):
        """A client asked for a device code."""

        user_code: str
        expires_at: datetime
        interval: int

        def apply(self, auth: DeviceAuthorization) -> None:
            auth.user_code = self.user_code
            auth.expires_at = self.expires_at
            auth.interval = self.interval
            auth.confirmed_by = ""
            auth.key_id = ""

    class Confirmed(Aggregate.Event):
        """A signed-in user approved the code in the browser."""

        user_id: str

        def apply(self, auth: DeviceAuthorization) -> None:
            auth.confirmed_by = self.user_id

    class TokenIssued(Aggregate.Event):
        """The polling client received an API key; the code is spent."""

        key_id: str

        def apply(self, auth: DeviceAuthorization) -> None:
            auth.key_id = self.key_id

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        user_code: str
        expires_at: datetime
        interval: int
        confirmed_by: str
        key_id: str

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def confirm(self, user_id: str, now: datetime) -> None:
        if self.is_expired(now) or self.key_id:
            raise Gone("this device code has expired")
        if self.confirmed_by and self.confirmed_by != user_id:
            raise Conflict("this device code was confirmed by another user")
        if not self.confirmed_by:
            self.trigger_event(self.Confirmed, user_id=user_id)

    def issue_token(self, key_id: str) -> None:
        self.trigger_event(self.TokenIssued, key_id=key_id)
