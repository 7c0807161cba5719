"""The server side: the composition root under test (`infra.bootstrap.bootstrap`), in this
process."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import uuid
from pathlib import Path
from typing import Any

from psycopg import sql


class Tilde:
    """The composition root under test, with one approved user who owns the keys."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        from domain.shared.values import Actor
        from infra.bootstrap import bootstrap
        from infra.crypto.passwords import Argon2PasswordHasher
        from infra.settings import Settings

        self.settings = Settings(
            data_dir=data_dir, database_url=database_url, secret_key="bench", log_level="WARNING"
        )
        self.container = bootstrap(
            self.settings, hasher=Argon2PasswordHasher(time_cost=1, memory_cost=1024)
        )
        identity = self.container.identity
        user = identity.signup(
            username="bench",
            email="bench@example.com",
            full_name="Bench Mark",
            password="correct-horse-battery-staple",
        ).value
        identity.approve("bench", Actor.operator())
        self.user_id = str(user.id)
        self.actor = Actor("user", self.user_id)
        self.keys = 0
        self._lock = threading.Lock()

    @property
    def app(self) -> Any:
        return self.container.identity

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def other_logs(self) -> dict[str, int]:
        """Events in the other applications' logs (the benchmark writes none)."""
        return {
            name: int(app.recorder.max_notification_id() or 0)
            for name, app in self.container.applications.items()
            if name != self.app.name
        }

    def create_key(self) -> Any:
        result = self.app.create_api_key(
            owner_type="user", owner_id=self.user_id, name="bench", actor=self.actor
        )
        with self._lock:
            self.keys += 1
        return result

    def append_used_keys(self, events: int, *, per_save: int = 500) -> int:
        """`events` ApiKey.Created + ApiKey.Used events, `per_save` events per `save()`."""
        from domain.identity.api_key import ApiKey

        keys_per_save = max(1, per_save // 2)
        remaining = events // 2
        appended = 0
        while remaining > 0:
            batch = []
            for _ in range(min(keys_per_save, remaining)):
                key, _token = ApiKey.issue(
                    key_id=uuid.uuid4(),
                    owner_type="user",
                    owner_id=self.user_id,
                    organization_id="",
                    name="bulk",
                    description="",
                    secret=secrets.token_urlsafe(32),
                    actor=self.actor,
                )
                key.note_used(dt.datetime.now(dt.UTC))
                batch.append(key)
            self.app.save(*batch)
            self.keys += len(batch)
            remaining -= len(batch)
            appended += 2 * len(batch)
        return appended

    def api_keys_fingerprint(self) -> tuple[int, str]:
        """Rows and a digest of the api_keys view (rebuilt must equal incrementally built)."""
        rows = self.container.db.query(
            "SELECT id, owner_id, name, created_at, last_used_at, revoked_at"
            " FROM api_keys ORDER BY id"
        )
        digest = hashlib.sha256(repr([tuple(r.values()) for r in rows]).encode()).hexdigest()
        return len(rows), digest[:16]

    def events_table(self) -> sql.Composable:
        recorder = self.app.recorder
        return sql.Identifier(recorder.datastore.schema, recorder.events_table_name)

    def close(self) -> None:
        self.container.close()
