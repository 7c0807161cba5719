"""Local blob store throughput over loopback HTTP against a raw `shutil.copyfile` baseline.

    python3 -m bench.blobs [--size-mib 1024] [--repeat 3] [--dir /tmp]

The server (only the blob routes, under uvicorn) runs in a child process so client and server
do not share a GIL; its CPU seconds per run are reported too, since wall-clock rates move with
whatever else the machine is doing. Each rate is the best of `--repeat` runs. The upload
includes the store's fsync, so compare it with the fsynced copy.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx

from tests import services

SECRET = "bench-secret"
OCTETS = "application/octet-stream"
CHUNK = 1 << 20


def serve(port: int, root: Path) -> None:
    import uvicorn
    from litestar import Litestar

    from infra.localfs import LocalBlobStore
    from interfaces.http.auth import guard
    from interfaces.http.controllers.blobs import BlobsController
    from interfaces.http.errors import EXCEPTION_HANDLERS

    app = Litestar(
        route_handlers=[BlobsController],
        guards=[guard],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        logging_config=None,
    )
    store = LocalBlobStore(root, f"http://127.0.0.1:{port}", SECRET)
    app.state.container = SimpleNamespace(blobs=store)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def best(label: str, size: int, fn: Callable[[], None], repeat: int, pid: int | None) -> float:
    rates, cpus = [], []
    for _ in range(repeat):
        os.sync()  # do not pay for the previous run's dirty pages
        time.sleep(0.5)
        cpu = cpu_seconds(pid) if pid else 0.0
        started = time.perf_counter()
        fn()
        rates.append(size / (time.perf_counter() - started) / 1e6)
        cpus.append(cpu_seconds(pid) - cpu if pid else 0.0)
    server = f"  server CPU {min(cpus):5.2f} s" if pid else ""
    runs = ", ".join(f"{r:.0f}" for r in rates)
    print(f"{label:<36} best {max(rates):7.1f} MB/s  (runs: {runs}){server}")
    return max(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tilde-blob-bench-", dir=args.dir))
    source = work / "source.bin"
    with open(source, "wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(CHUNK))
    port = services.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.blobs", "--serve", str(port), str(work / "blobs")]
    )
    try:
        services.wait_port(port)
        run(work, source, f"http://127.0.0.1:{port}", args.repeat, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, source: Path, url: str, repeat: int, pid: int) -> None:
    from infra.localfs import LocalBlobStore

    size = source.stat().st_size
    # Same root, secret and base URL as the server, so this process can sign its URLs.
    store = LocalBlobStore(work / "blobs", url, SECRET)
    addresses: list[str] = []

    def copy(fsync: bool) -> Callable[[], None]:
        def go() -> None:
            target = work / "copy.bin"
            shutil.copyfile(source, target)
            if fsync:
                with open(target, "rb") as f:
                    os.fsync(f.fileno())

        return go

    def hash_copy_fsync() -> None:
        # The store's own work for an upload, without HTTP: MD5, write, fsync.
        digest = hashlib.md5(usedforsecurity=False)
        with open(work / "copy.bin", "wb") as out:
            for chunk in file_chunks(source):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())

    with httpx.Client(timeout=httpx.Timeout(300, write=None)) as http:

        def upload() -> None:
            addresses.append(store.new_address("bench"))
            headers = {"Content-Type": OCTETS, "Content-Length": str(size)}
            put = http.put(
                store.upload_url(addresses[-1], expires_in=600),
                headers=headers,
                content=file_chunks(source),
            )
            put.raise_for_status()

        def download(target: str) -> Callable[[], None]:
            def go() -> None:
                info = store.stat(addresses[0])
                assert info is not None and info.size == size
                link = store.download_url(
                    addresses[0], expires_in=600, content_type=OCTETS, etag=info.etag
                )
                with http.stream("GET", link) as response, open(target, "wb") as out:
                    response.raise_for_status()
                    # No chunk size: re-chunking the socket reads would copy every byte again.
                    for chunk in response.iter_raw():
                        out.write(chunk)

            return go

        def curl_download() -> None:
            link = store.download_url(addresses[0], expires_in=600, content_type=OCTETS, etag="")
            subprocess.run(["curl", "-sfo", str(work / "curl.bin"), link], check=True)

        base = best("shutil.copyfile", size, copy(False), repeat, None)
        base_sync = best("shutil.copyfile + fsync", size, copy(True), repeat, None)
        work_only = best("md5 + copy + fsync (no HTTP)", size, hash_copy_fsync, repeat, None)
        up = best("httpx PUT (streamed; server fsyncs)", size, upload, repeat, pid)
        down = best("httpx GET streamed to a file", size, download(str(work / "d")), repeat, pid)
        best("httpx GET to /dev/null", size, download(os.devnull), repeat, pid)
        if shutil.which("curl"):
            best("curl GET to a file", size, curl_download, repeat, pid)
    print(f"upload   / copyfile+fsync: {up / base_sync:5.0%}")
    print(f"upload   / md5+copy+fsync: {up / work_only:5.0%}")
    print(f"download / copyfile:       {down / base:5.0%}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
