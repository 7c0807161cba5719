"""Metric 6: a large upload and download through the SDK and the local blob store, beside
`shutil.copyfile` (with and without fsync)."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.catalog.config import READ_SHARE, WRITE_SHARE, Config, MiB
from bench.catalog.floor import floor_server, sdk_style_download, sdk_style_upload
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

    def timed(fn: Callable[[int], None], i: int) -> float:
        os.sync()  # do not pay for the previous run's dirty pages
        time.sleep(0.5)
        started = time.perf_counter()
        fn(i)
        return size / (time.perf_counter() - started) / 1e6

    def copy(fsync: bool) -> Callable[[int], None]:
        def go(_i: int) -> None:
            target = work / "copy.bin"
            shutil.copyfile(source, target)
            if fsync:
                with open(target, "rb") as f:
                    os.fsync(f.fileno())

        return go

    checks: dict[str, Any] = {}
    rates: dict[str, list[float]] = {
        "copy": [], "copy_fsync": [], "upload": [], "download": [],
        "floor_upload": [], "floor_download": [], "floor_discard": [],
    }  # fmt: skip
    usage: dict[str, list[dict[str, float]]] = {"upload": [], "download": []}
    growth: dict[str, list[float]] = {"upload": [], "download": []}
    with (
        tilde.Client(endpoint_url=live.url, api_key=live.token) as client,
        floor_server(work / "floor") as floor,
    ):
        session = client.repository(f"{live.org}/{live.repo}").session()
        os.link(source, work / "floor" / "whole")
        floor_etags: list[str] = []

        def floor_upload(_i: int) -> None:
            floor_etags[:] = sdk_style_upload(client._http, floor.url, source)

        def floor_discard(_i: int) -> None:
            sdk_style_upload(client._http, f"{floor.url}/discard", source)

        def floor_download(_i: int) -> None:
            sdk_style_download(client._http, f"{floor.url}/whole", work / "download.bin")

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

        # Rounds interleave the four jobs: on a VM whose freshly touched memory is slow (the
        # host backs guest pages on first touch, and takes freed ones back), a job run in a
        # block of its own can land on slow pages while its baseline did not. Best of each.
        for i in range(cfg.blob_repeat):
            rates["copy"].append(timed(copy(False), i))
            rates["copy_fsync"].append(timed(copy(True), i))
            rates["floor_upload"].append(timed(floor_upload, i))
            rates["floor_discard"].append(timed(floor_discard, i))
            rates["floor_download"].append(timed(floor_download, i))
            for kind, job in (("upload", upload), ("download", download)):
                with Usage(live.pid) as used, RssWatch(live.pid) as rss:
                    rates[kind].append(timed(job, i))
                usage[kind].append(used.result)
                growth[kind].append(rss.growth_mib)
        checks["download_md5_matches"] = md5_file(work / "download.bin") == source_md5
        checks["floor_part_etags"] = len(floor_etags)
        session.rollback()
    copy_rates, copy_sync_rates = rates["copy"], rates["copy_fsync"]
    up_rates, down_rates = rates["upload"], rates["download"]
    for name in ("source.bin", "copy.bin", "download.bin"):
        (work / name).unlink(missing_ok=True)
    shutil.rmtree(work / "floor", ignore_errors=True)
    detail = {
        "bytes": size,
        "MB_per_s": {
            "copyfile": copy_rates,
            "copyfile_fsync": copy_sync_rates,
            "sdk_upload": up_rates,
            "sdk_download": down_rates,
            "floor_upload": rates["floor_upload"],
            "floor_download": rates["floor_download"],
            "floor_discard": rates["floor_discard"],
        },
        "upload_cpu": usage["upload"],
        "download_cpu": usage["download"],
        "server_rss_growth_mib": {
            "upload": max(growth["upload"]),
            "download": max(growth["download"]),
        },
        "checks": checks,
    }
    copy_best = max(copy_rates)
    read_target = Target(
        ">=", READ_SHARE * copy_best, f"≥ 80% of copy ({READ_SHARE * copy_best:,.0f} MB/s)"
    )
    sync_best = max(copy_sync_rates)
    write_target = Target(
        ">=", WRITE_SHARE * sync_best,
        f"≥ 40% of copy+fsync ({WRITE_SHARE * sync_best:,.0f} MB/s)",
    )  # fmt: skip
    label = f"{cfg.blob_mib:,} MiB"
    rows = [
        Row(f"upload {label} via SDK (multipart) [vs copyfile+fsync]", " MB/s", max(up_rates),
            sync_best, write_target, detail),
        Row(f"download {label} via SDK [vs copyfile]", " MB/s", max(down_rates), copy_best,
            read_target, detail),
        Row(f"  upload {label} via SDK [vs minimal socket server: MD5+write+fsync,"
            " SDK's client]", " MB/s", max(up_rates), max(rates["floor_upload"]), None, {}),
        Row(f"  upload {label} via SDK [vs a server that drops the bytes: the client's and"
            " loopback's ceiling]", " MB/s", max(up_rates), max(rates["floor_discard"]), None,
            {}),
        Row(f"  download {label} via SDK [vs minimal sendfile server, SDK's client]", " MB/s",
            max(down_rates), max(rates["floor_download"]), None, {}),
        Row(f"  server memory growth (peak RSS) during the upload [vs the {label}]", " MiB",
            max(growth["upload"]), cfg.blob_mib, None, {}),
        Row(f"  server memory growth (peak RSS) during the download [vs the {label}]", " MiB",
            max(growth["download"]), cfg.blob_mib, None, {}),
    ]  # fmt: skip
    return rows, detail


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


class RssWatch:
    """The server's peak resident memory above where it started, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = self.peak = math.nan
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mib(self.pid))

    def __enter__(self) -> RssWatch:
        self.start = self.peak = rss_mib(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return self.peak - self.start


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()
