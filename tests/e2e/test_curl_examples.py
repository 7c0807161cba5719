"""The API reference's curl examples, run with the real `curl` against a live server (local blob
store): downloading with `-L`, capturing the download URL with `-w '%{redirect_url}'`, and the
multipart walk-through (JSON parsed in Python instead of jq)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra.bootstrap import Container
from tests.catalog_helpers import (
    Repo,
    live_container,
    md5,
    multipart_etag,
    new_repo,
    served_settings,
)

pytestmark = pytest.mark.e2e

CURL = shutil.which("curl")
CSV = b"id,name\n1,ada\n2,grace\n" * 1000


@dataclass
class Live:
    container: Container
    url: str
    repo: Repo
    token: str
    tmp: Path


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    assert CURL, "curl is required for these tests (apt-get install -y curl)"
    with (
        live_container(served_settings(tmp_path, "sqlite")) as (container, server),
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        repo = new_repo(container, http)
        work = tmp_path / "work"
        work.mkdir()
        yield Live(container, server.url, repo, repo.owner.token, work)


def curl(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([CURL or "curl", *args], cwd=cwd, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done


def shell(script: str, cwd: Path, **env: str) -> str:
    """Run a snippet under bash (pipes and `$VAR`s as the reference writes them)."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", **env},
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_curl_downloads_an_object_and_prints_its_download_url(live: Live) -> None:
    sid = live.repo.open_session()
    live.repo.upload(sid, "data/file.csv", CSV)
    live.repo.commit_ok(sid, "add file")
    url = f"{live.url}/api/v1/organizations/{live.repo.org}/repositories/{live.repo.name}"

    # curl -L -H "Authorization: Bearer YOUR_API_TOKEN" ".../object?path=data/file.csv" -o file.csv
    curl(
        "-L",
        "-H",
        f"Authorization: Bearer {live.token}",
        f"{url}/object?path=data/file.csv",
        "-o",
        "file.csv",
        cwd=live.tmp,
    )
    assert (live.tmp / "file.csv").read_bytes() == CSV

    # curl -H "Authorization: …" ".../object?path=…" -s -o /dev/null -w '%{redirect_url}'
    printed = curl(
        "-H",
        f"Authorization: Bearer {live.token}",
        f"{url}/object?path=data/file.csv",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{redirect_url}",
        cwd=live.tmp,
    ).stdout.decode()
    assert printed.startswith(live.url + "/"), printed
    # The printed URL needs no token: plain curl fetches the bytes, and ranges work.
    curl("-s", "-f", printed, "-o", "again.csv", cwd=live.tmp)
    assert (live.tmp / "again.csv").read_bytes() == CSV
    first_line = curl("-s", "-f", "-r", "0-7", printed, cwd=live.tmp).stdout
    assert first_line == CSV[:8]
    headers = curl("-s", "-f", "-I", printed, cwd=live.tmp).stdout.decode().lower()
    assert f'etag: "{md5(CSV)}"' in headers and f"content-length: {len(CSV)}" in headers

    # Without the token the API itself answers 401; with -L and a bad path, 404.
    status = curl(
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        f"{url}/object?path=data/file.csv",
        cwd=live.tmp,
    ).stdout.decode()
    assert status == "401"
    status = curl(
        "-s",
        "-L",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        f"Authorization: Bearer {live.token}",
        f"{url}/object?path=data/missing.csv",
        cwd=live.tmp,
    ).stdout.decode()
    assert status == "404"


def multipart_walkthrough(live: Live, *, send_upload_token: bool) -> tuple[str, bytes]:
    """The reference's multipart example, step by step; the object's path and bytes."""
    sid = live.repo.open_session()
    path = "data/large-file.parquet"
    api = f"{live.url}/api/v1/organizations/{live.repo.org}/repositories/{live.repo.name}"
    part1 = hashlib.sha256(b"part one").digest() * 65536  # 2 MiB: curl sends Expect: 100-continue
    (live.tmp / "part1.bin").write_bytes(part1)
    auth = f"Authorization: Bearer {live.token}"

    # 1. INIT=$(curl -s -H "Authorization: …" -X POST ".../object/multipart?session_id=…&path=…")
    init = curl(
        "-s",
        "-H",
        auth,
        "-X",
        "POST",
        f"{api}/object/multipart?session_id={sid}&path={path}",
        cwd=live.tmp,
    ).stdout
    init_json = json.loads(init)  # instead of: echo "$INIT" | jq -r .upload_id / .upload_token
    upload_id, upload_token = init_json["upload_id"], init_json["upload_token"]

    # 2. PART_URL=$(curl -s -H "…" ".../object/multipart/part?session_id=…&path=…
    #      &upload_id=$UPLOAD_ID&part_number=1" | jq -r .upload_url)
    query = f"session_id={sid}&path={path}&upload_id={upload_id}&part_number=1"
    if send_upload_token:  # SPEC and the SDK (0.7.8+) send it; the reference omits it
        query += f"&upload_token={upload_token}"
    answer = curl("-s", "-H", auth, f"{api}/object/multipart/part?{query}", cwd=live.tmp).stdout
    answer_json = json.loads(answer)
    assert "upload_url" in answer_json, answer_json
    part_url = answer_json["upload_url"]

    # ETAG=$(curl -s -X PUT -T part1.bin "$PART_URL" -D - -o /dev/null | grep -i '^etag:'
    #        | tr -d '\r' | cut -d' ' -f2)
    etag = shell(
        """curl -s -X PUT -T part1.bin "$PART_URL" -D - -o /dev/null \\
             | grep -i '^etag:' | tr -d '\\r' | cut -d' ' -f2""",
        live.tmp,
        PART_URL=part_url,
    ).strip()
    assert etag == f'"{md5(part1)}"', etag

    # 3. curl -H "…" -X POST ".../object/multipart/complete?session_id=…&path=…"
    #      -H "Content-Type: application/json" -d "{… \"parts\": [{… \"etag\": $ETAG}] …}"
    completed = shell(
        r"""BODY="{\"upload_id\": \"$UPLOAD_ID\", \"upload_token\": \"$UPLOAD_TOKEN\", "
            BODY+="\"parts\": [{\"part_number\": 1, \"etag\": $ETAG}], "
            BODY+="\"content_type\": \"application/octet-stream\"}"
            curl -s -H "Authorization: Bearer $TOKEN" \
              -X POST "$API/object/multipart/complete?session_id=$SESSION_ID&path=$OBJECT_PATH" \
              -H "Content-Type: application/json" \
              -d "$BODY" -w '\n%{http_code}'""",
        live.tmp,
        TOKEN=live.token,
        API=api,
        SESSION_ID=sid,
        OBJECT_PATH=path,
        UPLOAD_ID=upload_id,
        UPLOAD_TOKEN=upload_token,
        ETAG=etag,
    )
    body, _, status = completed.rpartition("\n")
    assert status == "201", completed
    assert json.loads(body) == {"path": path, "etag": f'"{multipart_etag([part1])}"'}
    live.repo.commit_ok(sid, "large file")
    return path, part1


def test_the_multipart_example_uploads_a_part_and_completes(live: Live) -> None:
    path, part1 = multipart_walkthrough(live, send_upload_token=True)
    assert live.repo.read(path) == part1
    head = live.repo.head(path)
    assert head.headers["etag"] == f'"{multipart_etag([part1])}"'
    assert head.headers["content-length"] == str(len(part1))


def test_the_multipart_example_verbatim_without_upload_token(live: Live) -> None:
    path, part1 = multipart_walkthrough(live, send_upload_token=False)
    assert live.repo.read(path) == part1
