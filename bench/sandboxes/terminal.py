"""Phase `terminal`: keystroke echo round trip through `/terminal`, beside the same round trip
on a raw attach to the engine's socket (what `docker attach` does) measured in the same run.

Both ends run `stty raw -echo; exec cat` on a busybox pty, so every byte typed comes back from
a process in the sandbox (as a shell's line editor echoes it), not from the kernel's tty echo.
One sample = send one byte, read until it comes back. The two paths alternate sample by sample,
so a busy moment of the machine hits both alike."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
from websockets.sync.client import connect

from bench.common import Row, Summary, Target, interleaved_latencies, log, ms
from bench.sandboxes.e2e import IMAGE, serve
from infra.docker.terminal import DockerTerminal

ECHO = "stty raw -echo; exec cat\n"
LETTERS = b"abcdefghijklmnopqrstuvwxyz"


class Typist:
    """Sends one letter at a time and waits for it to come back (a letter never repeats
    twice in a row, so a late echo is not taken for the next one)."""

    def __init__(self, send: Any, receive: Any) -> None:
        self.send, self.receive = send, receive
        self.i = 0

    def __call__(self) -> None:
        letter = LETTERS[self.i % len(LETTERS) : self.i % len(LETTERS) + 1]
        self.i += 1
        self.send(letter)
        while letter not in self.receive():
            pass


def raw_attach(client: docker.DockerClient) -> tuple[Any, DockerTerminal]:
    """A busybox pty running the echo loop, attached through the engine's socket."""
    container = client.containers.create(
        IMAGE, ["sh", "-c", ECHO.strip()], tty=True, stdin_open=True, user="1000:1000"
    )
    container.start()
    terminal = DockerTerminal.attach(client.api, container.id)
    time.sleep(0.3)  # stty ran
    return container, terminal


def run(args: argparse.Namespace) -> list[Row]:
    samples = 200 if args.quick else 1000
    engine = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="bench-term-", ignore_cleanup_errors=True) as tmp:
        container, server, api = serve(Path(tmp), slots=2)
        baseline, raw = raw_attach(engine)
        try:
            response = api.http.post("", json={"image": IMAGE, "mode": "interactive"})
            response.raise_for_status()
            sid = response.json()["sandbox_id"]
            while api.http.get(f"/{sid}/status").json()["status"] != "running":
                time.sleep(0.05)
            url = str(api.http.base_url).replace("http://", "ws://") + f"/{sid}/terminal"
            ws = connect(
                url, additional_headers={"Authorization": api.http.headers["authorization"]}
            )
            ws.send(b"\x02" + json.dumps({"cols": 80, "rows": 24}).encode())
            ws.send(b"\x00" + ECHO.encode())
            time.sleep(0.5)
            while True:  # drain the prompt and the echoed command
                try:
                    ws.recv(timeout=0.2)
                except TimeoutError:
                    break
            log(f"terminal: {samples} keystrokes through /terminal and through a raw attach")
            times = interleaved_latencies(
                {
                    "tilde": Typist(lambda b: ws.send(b"\x00" + b), lambda: ws.recv()[1:]),
                    "raw": Typist(raw.write, raw.read),
                },
                samples,
                warmup=20,
            )
            ws.close()
            api.http.delete(f"/{sid}")
            api.wait(sid)
        finally:
            raw.close()
            baseline.remove(force=True)
            server.__exit__(None, None, None)
            container.close()
    tilde, base = Summary.of(times["tilde"]), Summary.of(times["raw"])
    return [
        Row(
            "terminal keystroke echo round trip, p50",
            "ms",
            ms(tilde.p50),
            ms(base.p50),
            Target("<=", 20.0, "≤ 20 ms"),
            {"samples": samples, "baseline": "raw attach on the engine socket"},
        ),
        Row(
            "terminal keystroke echo round trip, p99",
            "ms",
            ms(tilde.p99),
            ms(base.p99),
            None,
            {"samples": samples, "max_ms": ms(tilde.max)},
        ),
    ]
