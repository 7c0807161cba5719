"""`DiskOnLoop`: a small body's durable write runs on the event loop only while the disk's
fsyncs are quick; on a slow disk it goes to the blob writer process, with a probe on the loop
now and then that brings the writes back once the disk is quick again."""

from __future__ import annotations

from interfaces.http.hot_calls import DiskOnLoop


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def probes_until_back(disk: DiskOnLoop, clock: Clock, seconds: float) -> int:
    """Probes (each taking `seconds`, one per interval) until writes stay on the loop."""
    probes = 0
    while not disk.here():
        clock.now += 0.25
        if disk.here():
            probes += 1
            disk.took(seconds)
    return probes


def test_quick_writes_stay_on_the_loop() -> None:
    disk = DiskOnLoop(limit=0.002, probe_every=0.25, clock=Clock())
    for _ in range(100):
        assert disk.here()
        disk.took(0.0005)
    assert disk.average <= 0.002


def test_one_stall_among_quick_writes_does_not_send_them_away() -> None:
    disk = DiskOnLoop(limit=0.002, probe_every=0.25, clock=Clock())
    for _ in range(20):
        disk.took(0.0004)
    disk.took(0.005)  # one 5 ms stall: the average moves a quarter of the way
    assert disk.average < 0.002
    assert disk.here()


def test_a_slow_disk_sends_the_writes_away_and_a_probe_brings_them_back() -> None:
    clock = Clock()
    disk = DiskOnLoop(limit=0.002, probe_every=0.25, clock=clock)
    while disk.here():  # the disk turns slow: 10 ms per write
        disk.took(0.010)
    assert disk.average > 0.002
    # Until the probe is due, every write goes elsewhere (the writer process).
    clock.now += 0.2
    assert not disk.here()
    assert not disk.here()
    # The probe runs on the loop (once); the disk is still slow.
    clock.now += 0.06
    assert disk.here()
    assert not disk.here()  # one probe per interval, not one per caller
    disk.took(0.010)
    assert not disk.here()
    # The disk is quick again: a few probes bring the average under the limit.
    assert 1 <= probes_until_back(disk, clock, 0.0003) <= 8
    assert disk.here() and disk.here()  # back on the loop for every write


def test_one_long_stall_sends_the_writes_away_for_two_probes_at_most() -> None:
    """A stall is counted at most 4 x the limit: a single 79 ms fsync among quick writes
    (seen under load here) put the average at ~20 ms, and the writes stayed away for ten
    probes (2.5 s); now two quick probes at most bring them back (0.5 s)."""
    clock = Clock()
    disk = DiskOnLoop(limit=0.002, probe_every=0.25, clock=clock)
    for _ in range(20):
        disk.took(0.001)
    disk.took(0.079)
    assert disk.average < 4 * 0.002
    assert probes_until_back(disk, clock, 0.001) <= 2
    # A disk that stays slow is still left after a few writes, however slow each one is.
    for _ in range(3):
        disk.took(0.5)
    assert not disk.here()
