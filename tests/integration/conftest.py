"""Fixtures shared by the integration tests of the catalog over raw HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.catalog_helpers import Repo, new_repo


@pytest.fixture
def repo(client: TestClient[Any], container: Container) -> Repo:
    return new_repo(container, client)
