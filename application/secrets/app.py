"""SecretsApplication: repository and agent secrets, and each organization's data keys."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from application.base import Result, TildeApplication
from application.principal import Principal
from application.secrets.ports import SecretCipher
from domain.secrets.keyring import KeyRing, keyring_id
from domain.secrets.rules import associated_data, check_key, check_value
from domain.secrets.secret import Secret, secret_id
from domain.shared.errors import NotFound
from domain.shared.values import Actor


class SecretsApplication(TildeApplication):
    """Secrets are stored as AES-256-GCM ciphertexts (the cipher is injected); their values
    never enter an event, a view or an error message."""

    name = "secrets"
    snapshotting_intervals = {Secret: 100, KeyRing: 100}

    def __init__(self, env: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        # Set by the composition root: the envelope cipher keeps its data keys in this app.
        self.cipher: SecretCipher | None = None

    def _cipher(self) -> SecretCipher:
        if self.cipher is None:
            raise RuntimeError("SecretsApplication.cipher is not set")
        return self.cipher

    # -- secrets --------------------------------------------------------------------------
    def put_secret(
        self,
        org_id: str,
        scope: str,
        scope_id: str,
        key: str,
        value: object,
        principal: Principal,
    ) -> Result[str]:
        """Create or update: an update keeps the original creator, a deleted key starts anew."""
        check_key(key)
        plaintext = check_value(value)
        token = self._cipher().encrypt(org_id, plaintext, associated_data(scope, scope_id, key))
        actor = principal.actor

        def command() -> Result[str]:
            secret = self.find(secret_id(org_id, scope, scope_id, key), Secret)
            if secret is None:
                secret = Secret.create(
                    organization_id=org_id,
                    scope=scope,
                    scope_id=scope_id,
                    key=key,
                    ciphertext=token,
                    actor=actor,
                )
            else:
                secret.put(token, actor)
            return Result(key, (self.record(secret),))

        return self.retrying(command)

    def delete_secret(
        self, org_id: str, scope: str, scope_id: str, key: str, principal: Principal
    ) -> Result[None]:
        check_key(key)

        def command() -> Result[None]:
            secret = self._live(org_id, scope, scope_id, key)
            secret.delete(principal.actor)
            return Result(None, (self.record(secret),))

        return self.retrying(command)

    def read_secret(self, org_id: str, scope: str, scope_id: str, key: str) -> str:
        """The decrypted value (from the event store's ciphertext), or NotFound."""
        check_key(key)
        secret = self.peek(secret_id(org_id, scope, scope_id, key), Secret)
        if secret is None or secret.deleted:
            raise NotFound(f"secret '{key}' not found")
        return self._decrypt(secret)

    def values(self, org_id: str, scope: str, scope_id: str, keys: Sequence[str]) -> dict[str, str]:
        """The decrypted values of the live secrets among `keys` (for a sandbox's environment)."""
        found = {}
        for key in keys:
            secret = self.peek(secret_id(org_id, scope, scope_id, key), Secret)
            if secret is not None and not secret.deleted:
                found[key] = self._decrypt(secret)
        return found

    def _live(self, org_id: str, scope: str, scope_id: str, key: str) -> Secret:
        secret = self.find(secret_id(org_id, scope, scope_id, key), Secret)
        if secret is None or secret.deleted:
            raise NotFound(f"secret '{key}' not found")
        return secret

    def _decrypt(self, secret: Secret) -> str:
        associated = associated_data(secret.scope, secret.scope_id, secret.key)
        plaintext = self._cipher().decrypt(secret.organization_id, secret.ciphertext, associated)
        return plaintext.decode("utf-8")

    # -- data keys (the envelope cipher's storage) -----------------------------------------
    def keyring(self, org_id: str) -> KeyRing | None:
        return self.find(keyring_id(org_id), KeyRing)

    def start_keyring(self, org_id: str, data_key_id: str, kek_id: str, wrapped: str) -> KeyRing:
        """The organization's key ring, made with this first data key unless another process
        made it first (then theirs, and this data key is discarded unused)."""
        ring = KeyRing.create(
            organization_id=org_id,
            data_key_id=data_key_id,
            kek_id=kek_id,
            wrapped=wrapped,
            actor=Actor.system(),
        )
        try:
            self.record(ring)
        except IntegrityError:
            existing = self.keyring(org_id)
            if existing is None:
                raise
            return existing
        return ring

    def rewrap(self, org_id: str, wrapped: dict[str, tuple[str, str]], actor: Actor) -> int:
        """Record data keys wrapped anew (key rotation); how many changed."""

        def command() -> int:
            ring = self.keyring(org_id)
            if ring is None:
                return 0
            ring.rewrap(wrapped, actor)
            self.record(ring)
            return len(wrapped)

        return self.retrying(command)

    def keyring_orgs(self) -> Iterator[str]:
        """Every organization with a key ring (read from the log: a one-off operator task)."""
        start, topic = 1, get_topic(KeyRing.Created)
        while True:
            items = self.recorder.select_notifications(start, 500, topics=[topic])
            for item in items:
                event: Any = self.mapper.to_domain_event(item)
                yield str(event.organization_id)
            if len(items) < 500:
                return
            start = items[-1].id + 1
