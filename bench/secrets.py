"""Secrets: what envelope encryption and the event store cost beside raw AES-GCM.

    python3 -m bench.secrets [--backend sqlite|postgres] [--calls N]

Built through the server's own composition root (`infra.bootstrap.bootstrap`), an
organization with one repository and one agent. What is measured (p50/p99, each call timed on
its own with `time.perf_counter_ns`):

- raw AES-GCM: `AESGCM.encrypt` + `decrypt` of a 32-byte value with a random nonce — the floor;
- cipher: `EnvelopeCipher.encrypt` + `decrypt` (data key cached in memory, token encoding);
- get: `GET …/secrets/{key}` in-process through Litestar's `TestClient` (authenticate the
  Bearer key, authorize `ReadRepositorySecrets`, load the Secret aggregate, decrypt);
- application get: `SecretsApplication.read_secret` alone (no HTTP);
- put: `PUT …/secrets/{key}` (authorize, encrypt, append one event, wait for the metadata view);
- environment: `SandboxEnvironment.environment_for` with 10 repository and 10 agent secrets
  (20 decryptions, the precedence rule).

Results: a table on stdout and bench/results/secrets-<backend>.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from litestar.testing import TestClient

from application.principal import Principal
from application.secrets.app import SecretsApplication
from application.secrets.ports import CIPHER_SERVICE, ENVIRONMENT_SERVICE
from bench.common import RESULTS_DIR, Summary, machine, write_json
from infra.bootstrap import bootstrap
from infra.logging import configure_logging
from infra.settings import Settings
from interfaces.http.app import create_app
from tests import services

warnings.filterwarnings("ignore", category=DeprecationWarning)


def timed(call: Callable[[], Any], n: int) -> Summary:
    samples = []
    for _ in range(n):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1e9)
    return Summary.of(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    tmp = Path(tempfile.mkdtemp(prefix="bench-secrets-"))
    values: dict[str, Any] = {"data_dir": tmp / "data", "log_level": "WARNING"}
    if args.backend == "postgres":  # a database of its own on the test server
        values["database_url"] = services.create_database()
    container = bootstrap(Settings(**values))
    try:
        results = run(container, args.calls)
    finally:
        container.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if args.backend == "postgres":
            services.drop_database(values["database_url"])
    floor = results["raw AES-GCM encrypt+decrypt"].p50
    print(f"{'measure':<40} {'p50 ms':>9} {'p99 ms':>9} {'x raw p50':>10}")
    for label, summary in results.items():
        print(
            f"{label:<40} {summary.p50 * 1e3:>9.3f} {summary.p99 * 1e3:>9.3f}"
            f" {summary.p50 / floor:>10.1f}"
        )
    path = write_json(
        RESULTS_DIR / f"secrets-{args.backend}.json",
        {
            "machine": machine(),
            "backend": args.backend,
            "calls": args.calls,
            "results": {k: vars(v) for k, v in results.items()},
        },
    )
    print(f"\nwritten to {path}")


def run(container: Any, calls: int) -> dict[str, Summary]:
    from tests.builders import name
    from tests.conftest import create_key, create_user

    user = create_user(container)
    token = create_key(container, user)
    auth = {"Authorization": f"Bearer {token}"}
    principal = Principal(type="user", id=user["id"], name=user["username"], via="bearer")
    results: dict[str, Summary] = {}
    key = AESGCM.generate_key(bit_length=256)
    aead = AESGCM(key)
    value = os.urandom(32)

    def raw() -> None:
        nonce = os.urandom(12)
        aead.decrypt(nonce, aead.encrypt(nonce, value, b"ad"), b"ad")

    results["raw AES-GCM encrypt+decrypt"] = timed(raw, calls * 10)
    cipher = container.services[CIPHER_SERVICE]
    cipher.encrypt("bench-org", value, b"ad")
    results["EnvelopeCipher encrypt+decrypt"] = timed(
        lambda: cipher.decrypt("bench-org", cipher.encrypt("bench-org", value, b"ad"), b"ad"),
        calls * 10,
    )
    with TestClient(create_app(container, run_background=True)) as http:
        org = name("bench")
        assert http.post(
            "/api/v1/organizations", json={"name": org, "display_name": org}, headers=auth
        ).is_success
        repo = name("r-")
        created = http.post(
            f"/api/v1/organizations/{org}/repositories", json={"name": repo}, headers=auth
        )
        assert created.is_success, created.text
        base = f"/api/v1/organizations/{org}/repositories/{repo}/secrets"
        assert http.put(f"{base}/API_KEY", json={"value": "v"}, headers=auth).status_code == 200

        def get() -> None:
            assert http.get(f"{base}/API_KEY", headers=auth).status_code == 200

        counter = iter(range(10**9))

        def put() -> None:
            body = {"value": f"value-{next(counter)}"}
            assert http.put(f"{base}/K{next(counter) % 50}", json=body, headers=auth).is_success

        for _ in range(20):
            get()
        results["GET secret (HTTP, in-process)"] = timed(get, calls)
        results["PUT secret (HTTP, in-process)"] = timed(put, calls)
        app = container.service("secrets", SecretsApplication)
        org_id = container.resolve_organization(org)
        repo_id = str(container.catalog.get_repository(org_id, repo, read_only=True).id)
        results["SecretsApplication.read_secret"] = timed(
            lambda: app.read_secret(org_id, "repository", repo_id, "API_KEY"), calls
        )
        env_repo, env_agent = "env-repo", "env-agent"
        for i in range(10):
            for scope, scope_id in (("repository", env_repo), ("agent", env_agent)):
                written = app.put_secret(org_id, scope, scope_id, f"S{i}", f"v{i}", principal)
                container.wait_for(written.written)
        environment = container.services[ENVIRONMENT_SERVICE]
        resolved = environment.environment_for(org_id, env_repo, {"S0": "request"}, env_agent)
        assert len(resolved) == 10 and resolved["S0"] == "request"
        results["environment of 20 secrets"] = timed(
            lambda: environment.environment_for(org_id, env_repo, {}, env_agent), calls
        )
    return results


if __name__ == "__main__":
    main()
