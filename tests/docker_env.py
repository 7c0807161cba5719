"""The Docker test images, built locally (no registry): `python3 -m tests.docker_env` builds them.

- `tilde-test/busybox:latest`: `docker import` of a rootfs holding the host's static busybox
  (~2 MB, built in about a second).
- `tilde-test/python:3`: `debootstrap --variant=minbase --include=python3 bookworm`, kept as a
  tarball under `/var/cache/tilde-test` so only the first build on a machine pays ~45 s.

Both builds are idempotent: an image already in the engine is left alone. Tests use the
fixtures below (`busybox_image`, `python_image`, `docker_engine`); import them into a test module
or a conftest with `from tests.docker_env import busybox_image, docker_engine`.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

BUSYBOX_IMAGE = "tilde-test/busybox:latest"
PYTHON_IMAGE = "tilde-test/python:3"
# The python image plus the host's official SDK (`tilde-sdk`) and what it imports, copied in.
PYTHON_SDK_IMAGE = "tilde-test/python-sdk:3"
SDK_PACKAGES = (
    "tilde", "httpx", "httpcore", "h11", "anyio", "sniffio", "idna", "certifi", "yaml",
    "click", "rich", "pygments", "markdown_it", "mdurl", "websockets", "typing_extensions",
)  # fmt: skip
CACHE_DIR = Path(os.environ.get("TILDE_TEST_IMAGE_CACHE", "/var/cache/tilde-test"))
STATIC_BUSYBOX = Path("/bin/busybox")
# The test images' only account besides root: the sandbox user of the default settings.
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/tmp:/bin/sh\n"
GROUP = b"root:x:0:\nsandbox:x:1000:\n"


def docker_client() -> docker.DockerClient:
    """A client of the local engine (DOCKER_HOST or the default socket)."""
    return docker.from_env(timeout=60)


def _image_present(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def _import(tar_path: Path, image: str, cmd: str) -> None:
    # `docker import` streams the tarball itself; docker-py's import_image would load it into
    # memory first (the python rootfs is ~260 MB).
    subprocess.run(
        ["docker", "import", "--change", f"CMD {cmd}", str(tar_path), image],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def busybox_rootfs(out: Path) -> None:
    """A tarball of a minimal rootfs: /bin/busybox plus a symlink per applet."""
    listing = subprocess.run(
        [str(STATIC_BUSYBOX), "--list"], check=True, capture_output=True, text=True
    )
    with tarfile.open(out, "w") as tar:
        for directory in ("bin", "etc", "tmp", "root", "proc", "sys", "dev"):
            _add_dir(tar, directory, 0o1777 if directory == "tmp" else 0o755)
        tar.add(str(STATIC_BUSYBOX), arcname="bin/busybox")
        for applet in sorted(set(listing.stdout.split())):
            # `busybox --list` names busybox itself: a symlink there would replace the binary.
            if applet == "busybox" or "/" in applet:
                continue
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        _add_bytes(tar, "etc/passwd", PASSWD)
        _add_bytes(tar, "etc/group", GROUP)


def build_busybox(client: docker.DockerClient) -> None:
    if _image_present(client, BUSYBOX_IMAGE):
        return
    with tempfile.TemporaryDirectory() as tmp:
        tar_path = Path(tmp) / "busybox.tar"
        busybox_rootfs(tar_path)
        _import(tar_path, BUSYBOX_IMAGE, '["/bin/sh"]')


def python_rootfs_tarball() -> Path:
    """The cached debootstrap tarball, built when missing (needs root and the Debian mirror)."""
    target = CACHE_DIR / "python3-bookworm-minbase.tar"
    if target.exists():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    mirror = os.environ.get("TILDE_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        root = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3",
                "bookworm",
                str(root),
                mirror,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # Keep the image small: package caches and lists are not needed at run time.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / junk, ignore_errors=True)
        (root / "etc" / "passwd").write_text(
            (root / "etc" / "passwd").read_text() + "sandbox:x:1000:1000:sandbox:/tmp:/bin/sh\n"
        )
        (root / "etc" / "group").write_text(
            (root / "etc" / "group").read_text() + "sandbox:x:1000:\n"
        )
        partial = Path(tmp) / "rootfs.tar"
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True
        )
        partial.rename(target)
    return target


def build_python(client: docker.DockerClient) -> None:
    if _image_present(client, PYTHON_IMAGE):
        return
    _import(python_rootfs_tarball(), PYTHON_IMAGE, '["/usr/bin/python3"]')


def build_python_sdk(client: docker.DockerClient) -> None:
    """`PYTHON_IMAGE` with the SDK importable by its python3 (same minor version as the host's:
    the pure-Python packages and the optional extensions load as they are)."""
    if _image_present(client, PYTHON_SDK_IMAGE):
        return
    build_python(client)
    import importlib

    target = "/usr/local/lib/python3.11/dist-packages/"
    created = client.containers.create(PYTHON_IMAGE, command=["true"])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "sdk.tar"
            with tarfile.open(archive, "w") as tar:
                for name in SDK_PACKAGES:
                    module = importlib.import_module(name)
                    source = Path(str(module.__file__))
                    path = source.parent if source.name == "__init__.py" else source
                    tar.add(str(path), arcname=path.name, filter=_no_pycache)
            created.put_archive(target, archive.read_bytes())
        created.commit(*PYTHON_SDK_IMAGE.split(":"), changes=['CMD ["/usr/bin/python3"]'])
    finally:
        created.remove(force=True)


def _no_pycache(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if "__pycache__" in info.name else info


def ensure_images(*, python: bool = True) -> None:
    """Both test images present in the local engine (built when missing)."""
    client = docker_client()
    try:
        build_busybox(client)
        if python:
            build_python(client)
    finally:
        client.close()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[docker.DockerClient]:
    """The local engine; the Docker tests never skip (CI starts dockerd)."""
    client = docker_client()
    client.ping()
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_image(docker_engine: docker.DockerClient) -> str:
    build_busybox(docker_engine)
    return BUSYBOX_IMAGE


@pytest.fixture(scope="session")
def python_sdk_image(docker_engine: docker.DockerClient) -> str:
    build_python_sdk(docker_engine)
    return PYTHON_SDK_IMAGE


@pytest.fixture(scope="session")
def python_image(docker_engine: docker.DockerClient) -> str:
    build_python(docker_engine)
    return PYTHON_IMAGE


def main() -> None:
    started = time.monotonic()
    ensure_images(python="--busybox-only" not in sys.argv)
    print(
        f"test images ready in {time.monotonic() - started:.1f}s: {BUSYBOX_IMAGE}, {PYTHON_IMAGE}"
    )


if __name__ == "__main__":
    main()
