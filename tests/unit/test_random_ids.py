"""Random ids from the pooled CSPRNG bytes: version 4 UUIDs, never repeated, and a forked
child never hands out what its parent will."""

from __future__ import annotations

import os
import threading
import uuid

from domain.shared.ids import random_hex, random_uuid


def test_random_ids_are_version_4_uuids_and_never_repeat() -> None:
    ids = [random_uuid() for _ in range(20_000)]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in ids)
    assert len(set(ids)) == len(ids)
    text = random_hex()
    assert len(text) == 32 and uuid.UUID(text).version == 4


def test_threads_drawing_at_once_get_distinct_ids() -> None:
    drawn: list[list[str]] = [[] for _ in range(8)]

    def draw(i: int) -> None:
        drawn[i] = [random_hex() for _ in range(5_000)]

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [x for part in drawn for x in part]
    assert len(set(everything)) == len(everything) == 40_000


def test_a_forked_child_does_not_hand_out_its_parents_next_ids() -> None:
    random_hex()  # the pool holds bytes the child would inherit
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids, then leave at once
        try:
            os.write(write, "".join(random_hex() for _ in range(4)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = "".join(random_hex() for _ in range(4))
    assert len(child) == len(parent) == 128
    assert {child[i : i + 32] for i in range(0, 128, 32)}.isdisjoint(
        {parent[i : i + 32] for i in range(0, 128, 32)}
    )
