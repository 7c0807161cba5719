"""The README's test command is the CI entry point, and its design link stays in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_documented_test_command_is_ci_run_which_runs_pytest_last() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.DOTALL)
    assert "bash .ci/run\n" in blocks
    script = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert script[-1] == "python3 -m pytest -q"
    assert "chromium" in (ROOT / ".ci" / "run").read_text() and "Chromium" in readme


def test_the_design_is_linked_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "../shared/" not in readme
    assert "(docs/architecture.md)" in readme and (ROOT / "docs" / "architecture.md").is_file()
