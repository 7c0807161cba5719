"""Metric 6: a large upload and download through the SDK and the local blob store, beside
`shutil.copyfile` (with and without fsync)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.catalog.config import READ_SHARE, Config, MiB
from bench.catalog.live import Live, Usage
from bench.common import Row, Target


def measure_blobs(live: Live, work: Path, cfg: Config) -> tuple[list[Row], dict[str, Any]]:
    import tilde

    size = cfg.blob_mib * MiB
    source = work / "source.bin"
    with open(source, "wb") as f:
        for _ in range(cfg.blob_mib):
            f.write(os.urandom(MiB))
    source_md5 = md5_file(source)

    def best(fn: Callable[[int], None]) -> list[float]:
        rates = []
        for i in range(cfg.blob_repeat):
            os.sync()  # do not pay for the previous run's dirty pages
            time.sleep(0.5)
            started = time.perf_counter()
            fn(i)
            rates.append(size / (time.perf_counter() - started) / 1e6)
        return rates

    def copy(fsync: bool) -> Callable[[int], None]:
        def go(_i: int) -> None:
            target = work / "copy.bin"
            shutil.copyfile(source, target)
            if fsync:
                with open(target, "rb") as f:
                    os.fsync(f.fileno())

        return go

    checks: dict[str, Any] = {}
    with tilde.Client(endpoint_url=live.url, api_key=live.token) as client:
        session = client.repository(f"{live.org}/{live.repo}").session()

        def upload(i: int) -> None:
            result = session.objects.put(f"blob/big{i}.bin", source)
            checks["upload_etag"] = result.etag

        def download(_i: int) -> None:
            target = work / "download.bin"
            with (
                session.objects.get("blob/big0.bin", cache=False) as reader,
                open(target, "wb") as out,
            ):
                for chunk in reader.iter_bytes(chunk_size=MiB):
                    out.write(chunk)

        copy_rates = best(copy(False))
        copy_sync_rates = best(copy(True))
        with Usage(live.pid) as up_usage:
            up_rates = best(upload)
        with Usage(live.pid) as down_usage:
            down_rates = best(download)
        checks["download_md5_matches"] = md5_file(work / "download.bin") == source_md5
        session.rollback()
    for name in ("source.bin", "copy.bin", "download.bin"):
        (work / name).unlink(missing_ok=True)
    detail = {
        "bytes": size,
        "MB_per_s": {
            "copyfile": copy_rates,
            "copyfile_fsync": copy_sync_rates,
            "sdk_upload": up_rates,
            "sdk_download": down_rates,
        },
        "upload_cpu": up_usage.result,
        "download_cpu": down_usage.result,
        "checks": checks,
    }
    copy_best = max(copy_rates)
    read_target = Target(
        ">=", READ_SHARE * copy_best, f"≥ 80% of copy ({READ_SHARE * copy_best:,.0f} MB/s)"
    )
    label = f"{cfg.blob_mib:,} MiB"
    rows = [
        Row(f"upload {label} via SDK (multipart) [vs copyfile+fsync]", " MB/s", max(up_rates),
            max(copy_sync_rates), None, detail),
        Row(f"download {label} via SDK [vs copyfile]", " MB/s", max(down_rates), copy_best,
            read_target, detail),
    ]  # fmt: skip
    return rows, detail


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()
