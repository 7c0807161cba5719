"""Regenerate the action table of docs/policies.md from the live route table.

python3 docs/actions_table.py > /tmp/table.md   # then paste between the markers
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.shared.actions import POLICY_ACTIONS
from infra.bootstrap import bootstrap
from infra.settings import Settings
from interfaces.http.app import create_app


def main() -> None:
    container = bootstrap(Settings(data_dir=Path(tempfile.mkdtemp())))
    app = create_app(container, run_background=False)
    routes: dict[str, set[str]] = defaultdict(set)
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            action = handler.opt.get("action")
            for method in handler.http_methods:
                if action and method != "OPTIONS":
                    path = re.sub(r":\w+}", "}", route.path).replace("/api/v1", "")
                    routes[action].add(f"`{method} {path}`")
    for scope in ("organization", "repository"):
        print(f"\n### {scope.capitalize()} actions\n")
        print("| Action | Attributes | Endpoints it guards |")
        print("|---|---|---|")
        for name, action in POLICY_ACTIONS.items():
            if action.scope == scope:
                endpoints = "<br>".join(sorted(routes.get(name, ()))) or "(none yet)"
                attributes = ", ".join(action.resources) or "—"
                print(f"| `{name}` | {attributes} | {endpoints} |")
    container.close()


if __name__ == "__main__":
    main()
