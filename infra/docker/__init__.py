"""The Docker adapter of the sandboxes' `ContainerRuntime` port (docker-py)."""

from infra.docker.runtime import DockerRuntime, limits_from_settings

__all__ = ["DockerRuntime", "limits_from_settings"]
