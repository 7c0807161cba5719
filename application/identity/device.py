"""Device login (the CLI's `tilde auth login`): code, browser confirmation, token polling."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.base import Result
from application.identity.app import IdentityBase
from domain.identity.api_key import ApiKey
from domain.identity.device_authorization import DeviceAuthorization
from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.ids import derived_id, index_id
from domain.shared.index import IndexEntry
from domain.shared.values import Actor

# No vowels or look-alikes: codes are read off a terminal and typed into a browser.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"


@dataclass(frozen=True)
class DeviceCode:
    """What `/auth/device/code` hands the CLI."""

    device_code: str
    user_code: str
    expires_in: int
    interval: int


def device_authorization_id(device_code: str) -> UUID:
    return derived_id("device", hashlib.sha256(device_code.encode()).hexdigest())


def normalize_user_code(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("user_code is required")
    code = "".join(ch for ch in value.upper() if ch.isalnum())
    if len(code) != 8 or any(ch not in USER_CODE_ALPHABET for ch in code):
        raise NotFound("device code not found or expired")
    return f"{code[:4]}-{code[4:]}"


class DeviceCommands(IdentityBase):
    """The three steps of the device flow."""

    def request_device_code(self) -> Result[DeviceCode]:
        ttl = self.policy.device_code_ttl
        for _ in range(5):
            device_code = secrets.token_urlsafe(32)
            raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
            user_code = f"{raw[:4]}-{raw[4:]}"
            auth_id = device_authorization_id(device_code)
            auth = DeviceAuthorization._create(
                DeviceAuthorization.Requested,
                id=auth_id,
                user_code=user_code,
                expires_at=self.clock() + ttl,
                interval=self.policy.device_poll_interval,
            )
            index = self.find(index_id("device-code", user_code), IndexEntry)
            if index is not None:
                continue  # user codes are never reused
            try:
                written = self.record(auth, IndexEntry.claim("device-code", user_code, auth_id))
            except IntegrityError:
                continue
            return Result(
                DeviceCode(
                    device_code,
                    user_code,
                    int(ttl.total_seconds()),
                    self.policy.device_poll_interval,
                ),
                (written,),
            )
        raise Conflict("could not allocate a device code; retry")

    def confirm_device(self, user_code: object, user_id: str) -> Result[None]:
        code = normalize_user_code(user_code)
        owner = self.index_owner("device-code", code)
        auth = self.device_authorization(UUID(owner)) if owner else None
        if auth is None or auth.is_expired(self.clock()) or auth.key_id:
            raise NotFound("device code not found or expired")
        auth.confirm(user_id, self.clock())
        return Result(None, (self.record(auth),))

    def poll_device_token(self, device_code: object) -> Result[dict[str, str]]:
        """`{"access_token"}` once confirmed, else an RFC 8628 `error` value."""
        if not isinstance(device_code, str) or not device_code:
            raise Invalid("device_code is required")
        auth = self.device_authorization(device_authorization_id(device_code))
        if auth is None:
            raise Invalid("unknown device_code")
        if auth.is_expired(self.clock()) or auth.key_id:
            return Result({"error": "expired_token"})
        if self.limiter.hit(
            f"device-poll:{auth.id}", limit=1, window_seconds=max(1, auth.interval - 1)
        ):
            return Result({"error": "slow_down"})
        if not auth.confirmed_by:
            return Result({"error": "authorization_pending"})
        user = self.user(auth.confirmed_by)
        if user is None or not user.is_active:
            return Result({"error": "expired_token"})
        key, token = ApiKey.issue(
            key_id=derived_id("device-key", auth.id),
            owner_type="user",
            owner_id=str(user.id),
            organization_id="",
            name="tilde CLI (device login)",
            description=f"created by device login {auth.user_code}",
            secret=secrets.token_urlsafe(32),
            actor=Actor("user", str(user.id)),
        )
        auth.issue_token(str(key.id))
        try:
            written = self.record(auth, key)
        except IntegrityError:
            return Result({"error": "expired_token"})  # another poll won the race
        return Result({"access_token": token}, (written,))
