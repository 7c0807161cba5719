"""`DockerRuntime`: the sandboxes' `ContainerRuntime` on a Docker engine (docker-py).

Every sandbox gets its own internal network, an overlay volume over the read-only lower tree
(upper layer in a capped ext4 image) and a hardened container: a non-root user, no
capabilities, no-new-privileges, read-only root with a small /tmp, pids/memory/CPU limits,
never the Docker socket. All of it carries this installation's labels, so `find`/`owned` see
only its own sandboxes on an engine other installations share."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.types import Mount

from application.sandboxes.ports import (
    LABEL_INSTALLATION,
    LABEL_SANDBOX,
    ContainerSpec,
    Exit,
    Handle,
    ImageNotFound,
    Limits,
    RuntimeUnavailable,
    SandboxGone,
    SandboxNetwork,
)
from infra.docker.exec import DockerExecProcess
from infra.docker.network import create_network, ensure_host_firewall, network_info
from infra.docker.streams import CHUNK, FrameReader, Hijacked, hijack
from infra.docker.terminal import DockerTerminal
from infra.docker.volumes import SandboxDisk, create_overlay_volume, remove_volume
from infra.settings import Settings

PREFIX = "tilde-sbx-"
SLEEPER = "/.tilde/busybox"
# The engine's own calls are quick; a hung engine must not hang a request.
API_TIMEOUT = 30
PING_TIMEOUT = 3
ENGINE_ERRORS = (requests.exceptions.ConnectionError, DockerException)


def limits_from_settings(settings: Settings) -> Limits:
    return Limits(
        memory_bytes=settings.sandbox_memory_bytes,
        nano_cpus=int(settings.sandbox_cpus * 1e9),
        pids=settings.sandbox_pids,
        disk_bytes=settings.sandbox_disk_bytes,
        tmpfs_bytes=settings.sandbox_tmpfs_bytes,
    )


class DockerRuntime:
    """`ContainerRuntime` on one Docker engine sharing this host's filesystem."""

    def __init__(
        self,
        *,
        installation: str,
        state_dir: Path,
        url: str = "",
        subnet_pool: str = "10.213.0.0/16",
        busybox: Path = Path("/bin/busybox"),
    ) -> None:
        self.installation = installation
        self.engine = url or "local"
        self._url = url
        self._disks = state_dir
        self._pool = subnet_pool
        self._busybox = busybox
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()
        # Output sockets attached before start (so nothing is missed), handed to `output`.
        self._attached: dict[str, Hijacked] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> DockerRuntime:
        return cls(
            installation=settings.installation,
            state_dir=settings.data_dir / "sandbox-disks",
            url=settings.sandbox_docker_url,
            subnet_pool=settings.sandbox_subnet_pool,
            busybox=settings.sandbox_busybox_path,
        )

    # -- engine ----------------------------------------------------------------------------

    @property
    def api(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    if self._url:
                        self._client = docker.DockerClient(
                            base_url=self._url, timeout=API_TIMEOUT, version="auto"
                        )
                    else:
                        self._client = docker.from_env(timeout=API_TIMEOUT)
                except ENGINE_ERRORS as exc:
                    raise RuntimeUnavailable(f"no Docker engine reachable: {exc}") from exc
            return self._client.api

    def ping(self) -> bool:
        try:
            return bool(self.api.ping())
        except (RuntimeUnavailable, *ENGINE_ERRORS, requests.exceptions.RequestException):
            return False

    def _labels(self, sandbox_id: str) -> dict[str, str]:
        return {LABEL_SANDBOX: sandbox_id, LABEL_INSTALLATION: self.installation}

    def _filters(self, sandbox_id: str | None = None) -> dict[str, list[str]]:
        labels = [f"{LABEL_INSTALLATION}={self.installation}"]
        if sandbox_id is not None:
            labels.append(f"{LABEL_SANDBOX}={sandbox_id}")
        return {"label": labels}

    # -- images ----------------------------------------------------------------------------

    def ensure_image(self, image: str, *, pull_timeout: float) -> None:
        try:
            self.api.inspect_image(image)
            return
        except NotFound:
            pass
        except APIError as exc:
            raise ImageNotFound(f"{image}: {exc.explanation or exc}") from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc
        errors: list[str] = []
        pull = threading.Thread(target=self._pull, args=(image, errors), daemon=True)
        pull.start()
        pull.join(pull_timeout)
        if pull.is_alive():
            raise ImageNotFound(f"{image}: not pulled within {pull_timeout:g} s")
        if errors:
            raise ImageNotFound(f"{image}: {errors[0]}")

    def _pull(self, image: str, errors: list[str]) -> None:
        repository, tag = docker.utils.parse_repository_tag(image)
        try:
            for event in self.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                if "error" in event:
                    errors.append(str(event["error"]))
                    return
            self.api.inspect_image(image)
        except Exception as exc:  # the pull's failure is reported, whatever it is
            errors.append(str(exc))

    # -- lifecycle -------------------------------------------------------------------------

    def prepare(self, spec: ContainerSpec) -> Handle:
        """Leftovers of an earlier attempt for the same sandbox are removed first."""
        name = PREFIX + spec.sandbox_id
        labels = {**spec.labels, **self._labels(spec.sandbox_id)}
        uid, _, gid = spec.user.partition(":")
        if not uid.isdigit() or int(uid) == 0 or not (gid or uid).isdigit():
            raise ValueError(f"sandboxes run as a numeric non-root uid:gid, not {spec.user!r}")
        try:
            self._remove(spec.sandbox_id, "")
        except ENGINE_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc
        try:
            ensure_host_firewall()
            create_network(self.api, name, self._pool, labels)
            if spec.network_env is not None:
                network = self._network(name)
                if network is None:
                    raise RuntimeUnavailable(f"the network {name} vanished while being prepared")
                spec = dataclasses.replace(spec, env={**spec.env, **spec.network_env(network)})
            disk = SandboxDisk(self._disks, spec.sandbox_id)
            disk.create(spec.limits.disk_bytes, int(uid), int(gid or uid))
            create_overlay_volume(self.api, name, spec.lower, disk, labels)
            container = self.api.create_container(
                name=name, labels=labels, **self._container_config(spec, name)
            )
        except BaseException as exc:
            # Nothing half-made stays behind: a failed prepare leaves no network, volume or disk.
            with contextlib.suppress(Exception):
                self._remove(spec.sandbox_id, "")
            if isinstance(exc, docker.errors.ImageNotFound):
                raise ImageNotFound(f"{spec.image}: {exc.explanation or exc}") from exc
            if isinstance(exc, APIError):
                raise
            if isinstance(exc, ENGINE_ERRORS):
                raise RuntimeUnavailable(str(exc)) from exc
            raise
        return Handle(spec.sandbox_id, self.engine, str(container["Id"]), name, name)

    def _container_config(self, spec: ContainerSpec, name: str) -> dict[str, Any]:
        # no_copy: an empty tree must not take the image's directory (owner root) at the
        # mountpoint, which the engine copies into an empty volume by default.
        mounts = [Mount(target=spec.mountpoint, source=name, type="volume", no_copy=True)]
        mounts += [
            Mount(target, str(source), type="bind", read_only=True)
            for target, source in spec.files.items()
        ]
        config: dict[str, Any] = {"image": spec.image}
        if spec.mode == "service":
            mounts.append(Mount(SLEEPER, str(self._busybox), type="bind", read_only=True))
            config.update(entrypoint=[SLEEPER], command=["sleep", "2147483647"])
        elif spec.command:
            config.update(entrypoint=[spec.command[0]], command=list(spec.command[1:]))
        elif spec.mode == "interactive":
            config.update(entrypoint=["/bin/sh"], command=[])
        interactive = spec.mode == "interactive"
        limits = spec.limits
        host_config = self.api.create_host_config(
            mounts=mounts,
            network_mode=name,
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,mode=1777,size={limits.tmpfs_bytes}"},  # noqa: S108
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=limits.pids,
            mem_limit=limits.memory_bytes,
            memswap_limit=limits.memory_bytes,
            nano_cpus=limits.nano_cpus,
            init=spec.mode == "service",
            ipc_mode="private",
        )
        config.update(
            user=spec.user,
            environment=dict(spec.env),
            working_dir=spec.mountpoint,
            hostname="sandbox",
            tty=interactive,
            stdin_open=interactive,
            host_config=host_config,
        )
        return config

    def _network(self, name: str) -> SandboxNetwork | None:
        found = network_info(self.api, name)
        return SandboxNetwork(name, *found) if found is not None else None

    def network(self, handle: Handle) -> SandboxNetwork | None:
        try:
            return self._network(handle.network_name) if handle.network_name else None
        except ENGINE_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc

    def start(self, handle: Handle) -> None:
        try:
            if handle.container_id not in self._attached:
                self._attached[handle.container_id] = self._attach(handle, logs=False)
            self.api.start(handle.container_id)
        except NotFound as exc:
            self._drop_attachment(handle)
            raise SandboxGone(str(exc)) from exc
        except ENGINE_ERRORS as exc:
            self._drop_attachment(handle)
            raise RuntimeUnavailable(str(exc)) from exc

    def _attach(self, handle: Handle, *, logs: bool) -> Any:
        params = {"stdout": 1, "stderr": 1, "stream": 1, "logs": 1 if logs else 0}
        return hijack(self.api, f"/containers/{handle.container_id}/attach", params=params)

    def _drop_attachment(self, handle: Handle) -> None:
        sock = self._attached.pop(handle.container_id, None)
        if sock is not None:
            sock.close()

    def output(self, handle: Handle) -> Iterator[bytes]:
        """Attached before `start` when this process started it (raw bytes from the first);
        a re-attaching worker replays the engine's log first. Attaches at the call."""
        sock = self._attached.pop(handle.container_id, None)
        try:
            tty = bool(self.api.inspect_container(handle.container_id)["Config"].get("Tty"))
            if sock is None:
                sock = self._attach(handle, logs=True)
        except NotFound as exc:
            raise SandboxGone(str(exc)) from exc
        except ENGINE_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc
        # A TTY (interactive) stream is raw; otherwise it is multiplexed with headers.
        return _raw_chunks(sock) if tty else _chunks(FrameReader(sock), sock)

    def wait(self, handle: Handle, timeout: float | None) -> Exit | None:
        try:
            result = self.api.wait(handle.container_id, timeout=timeout)
            state = self.api.inspect_container(handle.container_id)["State"]
        except NotFound as exc:
            raise SandboxGone(str(exc)) from exc
        except requests.exceptions.ReadTimeout:
            return None
        except requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                return None
            raise RuntimeUnavailable(str(exc)) from exc
        disk = SandboxDisk(self._disks, handle.sandbox_id)
        return Exit(
            exit_code=int(result.get("StatusCode", -1)),
            disk_exceeded=disk.full(),
            oom_killed=bool(state.get("OOMKilled")),
        )

    def exec(
        self,
        handle: Handle,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        *,
        stdin: bool = True,
    ) -> DockerExecProcess:
        """`stdin=False`: the child's stdin is closed at once (EOF), so it never waits on it."""
        try:
            created = self.api.exec_create(
                handle.container_id,
                list(argv),
                stdin=True,
                stdout=True,
                stderr=True,
                tty=False,
                environment=dict(env),
                workdir=cwd or None,
            )
            sock = hijack(
                self.api, f"/exec/{created['Id']}/start", body={"Tty": False, "Detach": False}
            )
        except NotFound as exc:
            raise SandboxGone(str(exc)) from exc
        except APIError as exc:
            if exc.status_code == 409:
                raise SandboxGone(str(exc.explanation or exc)) from exc
            raise
        except ENGINE_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc
        return DockerExecProcess(self.api, created["Id"], sock, stdin=stdin)

    def terminal(self, handle: Handle) -> DockerTerminal:
        try:
            return DockerTerminal.attach(self.api, handle.container_id)
        except ENGINE_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc

    def stop(self, handle: Handle) -> None:
        try:
            self.api.kill(handle.container_id)
        except NotFound:
            return
        except APIError as exc:
            if exc.status_code != 409:  # not running: already stopped
                raise
        self.api.wait(handle.container_id, timeout=API_TIMEOUT)

    def upper(self, handle: Handle) -> Path:
        return SandboxDisk(self._disks, handle.sandbox_id).upper

    def remove(self, handle: Handle) -> None:
        self._drop_attachment(handle)
        try:
            self._remove(handle.sandbox_id, handle.container_id)
        except ENGINE_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc

    def _remove(self, sandbox_id: str, container: str) -> None:
        """Container, volume, network, disk: whatever exists, found by name and by label."""
        filters = self._filters(sandbox_id)
        containers = {c["Id"] for c in self.api.containers(all=True, filters=filters)}
        if container:
            containers.add(container)
        for ref in containers:
            try:
                self.api.remove_container(ref, force=True)
            except NotFound:
                pass
            except APIError as exc:
                if exc.status_code != 409:  # 409: removal already in progress
                    raise
        for volume in {v["Name"] for v in self.api.volumes(filters=filters).get("Volumes") or []}:
            remove_volume(self.api, volume)
        for network in {n["Id"] for n in self.api.networks(filters=filters)}:
            with contextlib.suppress(NotFound):
                self.api.remove_network(network)
        SandboxDisk(self._disks, sandbox_id).release()

    # -- discovery -------------------------------------------------------------------------

    def find(self, sandbox_id: str) -> Handle | None:
        filters = self._filters(sandbox_id)
        try:
            containers = self.api.containers(all=True, filters=filters)
            volumes = self.api.volumes(filters=filters).get("Volumes") or []
            networks = self.api.networks(filters=filters)
        except ENGINE_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc
        disk = SandboxDisk(self._disks, sandbox_id)
        if not (containers or volumes or networks or disk.dir.exists()):
            return None
        return Handle(
            sandbox_id,
            self.engine,
            containers[0]["Id"] if containers else "",
            volumes[0]["Name"] if volumes else "",
            networks[0]["Name"] if networks else "",
        )

    def owned(self) -> list[str]:
        """Sandboxes with containers, volumes, networks or a disk of this installation."""
        filters = self._filters()
        try:
            found = [c["Labels"] for c in self.api.containers(all=True, filters=filters)]
            found += [v["Labels"] for v in self.api.volumes(filters=filters).get("Volumes") or []]
            found += [n["Labels"] for n in self.api.networks(filters=filters)]
        except ENGINE_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc
        ids = {labels[LABEL_SANDBOX] for labels in found if labels and LABEL_SANDBOX in labels}
        if self._disks.is_dir():
            ids |= {d.name for d in self._disks.iterdir() if d.is_dir()}
        return sorted(ids)


def _chunks(frames: FrameReader, sock: Hijacked) -> Iterator[bytes]:
    try:
        while (frame := frames.read()) is not None:
            yield frame[1]
    finally:
        sock.close()


def _raw_chunks(sock: Hijacked) -> Iterator[bytes]:
    try:
        while data := sock.read1(CHUNK):
            yield data
    except OSError:
        return
    finally:
        sock.close()
