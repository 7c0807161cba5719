"""The (status, status_reason) vocabulary of a sandbox (spec and SDK), and which are terminal."""

from __future__ import annotations

STARTING = "starting"
RUNNING = "running"
DONE = "done"
ERRORED = "errored"
FAILED = "failed"
CANCELLED = "cancelled"

# Reasons (status_reason) each status may carry; exactly the spec's pairs.
REASONS: dict[str, tuple[str, ...]] = {
    STARTING: ("created", "initializing"),
    RUNNING: ("",),
    DONE: ("committed", "no_changes", "awaiting_approval"),
    ERRORED: ("exit_non_zero",),
    FAILED: (
        "internal_error",
        "image_not_found",
        "sandbox_lost",
        "timeout",
        "commit_failed",
        "policy_violation",
        "storage_not_ready",
    ),
    CANCELLED: ("cancelled_by_user", "user_initiated_cancel"),
}
ACTIVE = frozenset({STARTING, RUNNING})
TERMINAL = frozenset({DONE, ERRORED, FAILED, CANCELLED})


def check_pair(status: str, reason: str) -> None:
    """Refuse a pair outside the vocabulary (a programming error, never user input)."""
    if reason not in REASONS.get(status, ()):
        raise ValueError(f"({status!r}, {reason!r}) is not a sandbox status pair")
