"""Write the golden data directory (`python3 -m tests.golden.make_golden tests/golden/v1`).

It drives today's server through the official SDK: two users, an organization, a repository
with three commits (puts, an overwrite, a delete, a copy), an open session with staged
changes. The result (SQLite event stores and blobs, no views: the upgrade test rebuilds them)
and `golden.json` (credentials and what every later version must serve) are committed; rerun
only for a new format version (v2, …), never to paper over a broken replay.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import tilde

from infra.backup import backup
from infra.bootstrap import bootstrap
from tests.catalog_helpers import serve, served_settings
from tests.conftest import FAST_HASHER
from tests.orgs import API, person

SECRET_KEY = "golden-secret-key-v1"
ORG, REPO = "golden-org", "golden-data"
FILES = {
    "data/a.csv": b"id,value\n1,2\n",
    "data/b.bin": bytes(range(256)),
    "readme.txt": b"the golden repository\n",
}


def write(target: Path) -> dict[str, Any]:
    """Build the history in a scratch directory and copy its stores into `target`."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = served_settings(Path(scratch), "sqlite", secret_key=SECRET_KEY)
        container = bootstrap(settings, hasher=FAST_HASHER)
        try:
            with serve(container) as server:
                facts = _history(container, server.url)
        finally:
            container.close()
        if target.exists():
            shutil.rmtree(target)
        manifest = backup(settings.data_dir, target)
    (target / "views.sqlite").unlink()  # views are rebuilt from the log by the test
    manifest.databases.remove("views.sqlite")
    manifest.created_at = "golden v1"
    (target / "manifest.json").write_text(json.dumps(vars(manifest), indent=2) + "\n")
    (target / "golden.json").write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    return facts


def _history(container: Any, url: str) -> dict[str, Any]:
    owner, member = person(container, "golden-owner"), person(container, "golden-member")
    with (
        httpx.Client(base_url=url, headers=owner.auth) as http,
        tilde.Client(endpoint_url=url, api_key=owner.token) as sdk,
    ):
        org = sdk.organizations.create(ORG, "The Golden Org")
        joined = http.post(
            f"{API}/organizations/{org.name}/members", json={"username": member.username}
        )
        assert joined.status_code in (200, 201), joined.text
        repo = org.repositories.create(REPO, description="golden")
        commits = []
        with repo.session() as session:
            for path, data in FILES.items():
                session.objects.put(path, data)
            commits.append(session.commit("first: three files", metadata={"step": "1"}))
        with repo.session() as session:
            session.objects.put("data/a.csv", b"id,value\n1,3\n")
            session.objects.delete("data/b.bin")
            commits.append(session.commit("second: overwrite and delete"))
        with repo.session() as session:
            session.objects.copy("readme.txt", "docs/readme.txt")
            commits.append(session.commit("third: copy"))
        open_session = repo.session()
        open_session.objects.put("staged/new.txt", b"not committed yet\n")
        return {
            "secret_key": SECRET_KEY,
            "owner": {"username": owner.username, "id": owner.id, "token": owner.token},
            "member": {"username": member.username, "id": member.id, "token": member.token},
            "org": ORG,
            "repo": REPO,
            "commits": commits,
            "open_session": open_session.session_id,
        }


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/v1")
    print(json.dumps(write(out), indent=2))
