"""Settings: every `TILDE_*` environment variable, read once into one object."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.sandboxes.egress import parse_operator_hosts
from domain.shared.errors import Invalid

Role = Literal["all", "api", "worker", "cli"]


class Settings(BaseSettings):
    """Runtime configuration. The README's configuration table mirrors these fields."""

    model_config = SettingsConfigDict(env_prefix="TILDE_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./tilde-data"),
        description="Where embedded mode keeps SQLite files, blobs, mail",
    )
    database_url: str = Field(
        default="",
        description="postgresql://… selects PostgreSQL; empty = SQLite files in the data directory",
    )
    redis_url: str = Field(
        default="",
        description="redis://… for rate limits shared by processes; empty = in-process limiter",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field(
        default="",
        description="Absolute base URL clients reach the "
        "server at (links in emails, upload URLs); default http://HOST:PORT",
    )
    secret_key: str = Field(
        default="",
        description="Signs session cookies and links; generated into the data directory when empty",
    )
    secrets_key: str = Field(
        default="",
        description="Base64 of 32 bytes: the key-encryption key wrapping each organization's "
        "data keys for repository/agent secrets and connector configs; empty = generated into "
        "<data dir>/secrets.key (`tilde-server secrets new-key` makes one)",
    )
    secrets_previous_keys: str = Field(
        default="",
        description="Comma-separated retired secrets keys that still unwrap data keys until "
        "`tilde-server secrets rotate-key` has re-wrapped them under TILDE_SECRETS_KEY",
    )
    event_cipher_key: str = Field(
        default="", description="Base64 AES key: encrypt events at rest (eventsourcing AESCipher)"
    )
    smtp_url: str = Field(
        default="",
        description="smtp://user:pass@host:port (smtps:// for "
        "TLS); empty = write .eml files to <data dir>/mailbox",
    )
    mail_from: str = "Tilde <no-reply@tilde.local>"

    blob_store: Literal["local", "s3"] = Field(
        default="local",
        description="local = files under <data dir>/blobs served by the API; "
        "s3 = an S3 bucket (TILDE_S3_*)",
    )
    blob_writer_process: bool = Field(
        default=True,
        description="With the local blob store, while the disk's fsyncs are slow, small "
        "uploads are made durable by a helper process the API server starts (the event loop "
        "does not wait for their fsyncs); false = by worker threads of the server itself",
    )
    s3_bucket: str = ""
    s3_prefix: str = Field(default="", description="Key prefix inside the bucket")
    s3_endpoint_url: str = Field(
        default="", description="S3-compatible endpoint (MinIO, …); empty = AWS"
    )
    s3_region: str = "us-east-1"
    s3_access_key_id: str = Field(default="", description="Empty = the AWS default chain")
    s3_secret_access_key: str = ""
    blob_public_url: str = Field(
        default="",
        description="Base URL of the local store's signed /_blob URLs, e.g. "
        "https://blobs.example-usercontent.net: serve user bytes from an origin other than the "
        "API and console (same process, other hostname); default = the public URL",
    )
    upload_url_ttl_seconds: int = Field(default=900, description="Lifetime of upload URLs")
    download_url_ttl_seconds: int = Field(default=300, description="Lifetime of download URLs")
    connector_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Connect and read timeout of every call to a connector's S3 or GCS source",
    )
    connector_test_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="Bound of a whole connector test (`connectors:test`, `…/{id}/test`): "
        "past it the test answers 502",
    )
    connector_allowed_endpoints: str = Field(
        default="",
        description="Comma-separated hosts and CIDRs a connector's endpoint may reach although "
        "they are loopback, private, link-local, CGNAT, ULA or this server's own addresses "
        "(refused by default: the server fetches the endpoint itself), e.g. "
        "`minio.internal,10.20.0.0/16`",
    )

    db_pool_size: int = Field(
        default=10,
        ge=1,
        description="PostgreSQL connections of one process, shared by the event store and the "
        "read models (CLI commands use 2; see the README's connection formula)",
    )
    db_pool_timeout: float = Field(
        default=2.0, description="Seconds to wait for a pooled connection before answering 503"
    )
    db_max_waiting: int = Field(
        default=64, description="Requests allowed to queue for a connection before 503 at once"
    )

    role: Role = Field(
        default="all",
        description="What this process runs: all = API + projectors/outbox/GC (embedded serve), "
        "api = HTTP only, worker = projectors/outbox/GC only, cli = a one-shot command",
    )
    health_max_lag_events: int = Field(
        default=1000,
        description="/health says degraded when a projector lags the log by more events",
    )
    projector_batch_size: int = 500
    projector_batch_seconds: float = 0.02
    projector_poll_interval: float = Field(
        default=1.0,
        description="Idle poll of the event log: projectors wake on this process's saves and "
        "on PostgreSQL NOTIFY at once; the poll only catches writes by other SQLite processes",
    )
    read_your_writes_timeout: float = 5.0
    cache_check_interval: float = Field(
        default=0.25,
        description="Seconds between checks of the identity and organizations log heads that "
        "drop cached keys and authorization snapshots whatever NOTIFY does: a revocation or "
        "removal applies in every process within this plus ~0.3 s",
    )
    gc_interval_seconds: float = Field(
        default=3600,
        description="Retention and garbage collection period (0 = only `tilde-server gc`)",
    )
    deleted_retention_days: int = Field(
        default=7,
        ge=0,
        le=36500,
        description="Days a deleted organization or repository stays restorable (its name "
        "reserved) before garbage collection purges it (0 = at the next collection)",
    )

    sandbox_log_retention_seconds: float = Field(
        default=7 * 86400,
        gt=0,
        description="Seconds a sandbox's output log stays readable after the sandbox ended; "
        "then `logs/stdout` answers 410 and the log's chunks are deleted",
    )
    trigger_max_depth: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Longest chain of sandbox triggers firing each other: a commit made by a "
        "triggered sandbox fires other triggers until a run would be this deep (then a "
        "skipped run says so); a trigger never fires on its own sandbox's commit",
    )
    trigger_poll_interval: float = Field(
        default=0.1,
        description="Idle poll of the trigger evaluation queue (commit -> run latency)",
    )
    sandbox_user: str = Field(
        default="1000:1000",
        description="uid:gid sandboxes run as (never root); the repository tree is shown "
        "owned by it through an idmapped mount",
    )
    sandbox_tree_cache_bytes: int = Field(
        default=20 << 30,
        ge=0,
        description="Bytes of materialized commit trees (hard links) and downloaded blobs kept "
        "under <data dir>/sandboxes for reuse; unused trees beyond it are evicted, oldest first",
    )
    sandbox_docker_url: str = Field(
        default="",
        description="Docker engine of this host's sandboxes (unix:///var/run/docker.sock, "
        "tcp://…); empty = DOCKER_HOST or the local socket. The engine must share this host's "
        "filesystem: a sandbox's disk image and overlay live under the data directory",
    )
    sandbox_memory_bytes: int = Field(
        default=1 << 30, ge=1 << 22, description="Memory limit of a sandbox (no swap)"
    )
    sandbox_cpus: float = Field(default=1.0, gt=0, description="CPUs a sandbox may use")
    sandbox_pids: int = Field(
        default=256, ge=8, description="Processes and threads a sandbox may run (fork bombs)"
    )
    sandbox_disk_bytes: int = Field(
        default=1 << 30,
        ge=8 << 20,
        description="Bytes a sandbox may write under its mountpoint (an ext4 image per "
        "sandbox: past it writes fail with ENOSPC and the run is a policy violation)",
    )
    sandbox_tmpfs_bytes: int = Field(
        default=64 << 20, ge=1 << 20, description="Size of a sandbox's /tmp (memory)"
    )
    sandbox_pull_timeout_seconds: float = Field(
        default=60, gt=0, description="Longest pull of a missing image before image_not_found"
    )
    sandbox_subnet_pool: str = Field(
        default="10.213.0.0/16",
        description="Private range the per-sandbox internal networks (a /28 each) come from",
    )
    sandbox_busybox_path: Path = Field(
        default=Path("/bin/busybox"),
        description="A static busybox mounted read-only into service sandboxes as their "
        "sleeper, so any image works",
    )
    sandbox_proxy_port: int = Field(
        default=3128,
        ge=1,
        le=65535,
        description="TCP port of the egress proxy on every sandbox network's gateway (the only "
        "way out of a sandbox; HTTP_PROXY/HTTPS_PROXY point at it)",
    )
    sandbox_egress_allow: str = Field(
        default="",
        description="Comma-separated private addresses or CIDRs every sandbox may reach through "
        "the proxy (an internal mirror); loopback, link-local/metadata and this server's own "
        "addresses are refused",
    )
    sandbox_egress_hosts: str = Field(
        default="",
        description="Comma-separated name=address pairs the egress proxy resolves without DNS "
        "(an internal mirror's name; a name may repeat). Network policies see the name; the "
        "address still passes the baseline and TILDE_SANDBOX_EGRESS_ALLOW",
    )
    installation_id: str = Field(
        default="",
        description="Labels this installation's sandbox containers, volumes and networks "
        "(engines shared by installations); empty = derived from the database URL or the data "
        "directory",
    )
    sandbox_max_concurrent: int = Field(
        default=4,
        ge=0,
        description="Sandboxes one worker process runs at a time (its slots; 0 = this process "
        "runs none, e.g. an API-only process of an embedded setup)",
    )
    sandbox_default_timeout_seconds: int = Field(
        default=3600,
        ge=1,
        description="timeout_seconds of a sandbox created without one (capped by the "
        "repository's session max duration)",
    )
    sandbox_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A worker's claim on a running sandbox, renewed every third of it; a "
        "killed worker's sandboxes are taken over (re-attached or marked lost) after it lapses",
    )
    sandbox_credentials_port: int = Field(
        default=7491,
        ge=1,
        le=65535,
        description="TCP port of the credentials endpoint and API relay a worker serves on "
        "each sandbox's gateway address (TILDE_SANDBOX_CREDENTIALS_URI, TILDE_API_URL)",
    )
    sandbox_token_ttl_seconds: int = Field(
        default=900,
        ge=180,
        le=900,
        description="Lifetime of the tst- tokens sandboxes fetch (refetching renews them)",
    )
    sandbox_api_upstream: str = Field(
        default="",
        description="Origin workers relay sandboxes' API calls to (the API as this worker "
        "reaches it, e.g. http://10.0.0.5:8000); default = the public URL",
    )
    sandbox_janitor_interval_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Period of the sweep that removes labelled containers, volumes and "
        "networks of finished sandboxes nobody owns (0 = only at worker start)",
    )

    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    login_attempts_per_ip: int = Field(default=10, description="Login attempts per IP per minute")
    lockout_threshold: int = Field(
        default=10,
        description="Failed logins in the window, from one client address, that lock the "
        "account for that address",
    )
    lockout_account_threshold: int = Field(
        default=100,
        description="Failed logins in the window, from all addresses, that lock the account "
        "for everyone (needs many sources: each address locks itself out after "
        "lockout_threshold)",
    )
    lockout_window_minutes: int = 15
    lockout_minutes: int = 15
    session_ttl_hours: int = 336
    auto_approve_signups: bool = False
    trust_forwarded_for: bool = Field(
        default=False,
        description="Take the client address from X-Forwarded-For and the scheme from "
        "X-Forwarded-Proto (behind a trusted proxy)",
    )
    metrics_token: str = Field(
        default="",
        description="When set, GET /metrics requires `Authorization: Bearer <token>`; "
        "empty = /metrics is open",
    )

    @field_validator("sandbox_egress_hosts")
    @classmethod
    def _pinned_hosts(cls, value: str) -> str:
        """Checked in every process role, at start (the proxy parses it again)."""
        try:
            parse_operator_hosts(value)
        except Invalid as e:
            raise ValueError(str(e)) from None
        return value

    @property
    def run_projectors(self) -> bool:
        """Whether this process runs projectors, the outbox and GC (its role says so)."""
        return self.role in ("all", "worker")

    def to_environment(self) -> dict[str, str]:
        """`TILDE_*` variables from which `Settings()` rebuilds exactly these settings (what a
        re-executed child process such as a uvicorn worker inherits)."""
        env = {}
        for name, value in self.model_dump(mode="json").items():
            text = value if isinstance(value, str) else json.dumps(value)
            env[f"TILDE_{name.upper()}"] = text
        return env

    @property
    def installation(self) -> str:
        """This installation's id on shared container engines (same in every process)."""
        if self.installation_id:
            return self.installation_id
        source = self.database_url if self.is_postgres else str(self.data_dir.resolve())
        return hashlib.sha256(source.encode()).hexdigest()[:16]

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def blob_base_url(self) -> str:
        return self.blob_public_url.rstrip("/") if self.blob_public_url else self.base_url
