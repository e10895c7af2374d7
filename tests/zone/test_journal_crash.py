"""Crash test: a child appends (and now and then compacts) in a loop and is killed with SIGKILL.

The child prints ``A SERIAL`` after each append returned (the UPDATE would be acknowledged then)
and ``C KEEP`` before each compaction. After every kill the journal must parse, chain without a
gap, end at the last acknowledged serial (or one append past it, done but not yet reported), and
hold every acknowledged serial the compactions did not ask to drop. Serials start just below
2**32 so the run crosses the RFC 1982 wrap. ``JOURNAL_CRASH_SEED`` replays a run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dns_suite.zone.journal import Journal, serial_gt

REPO = Path(__file__).resolve().parents[2]
KILLS = 30
START = 4294967295 - 150

CHILD = r"""
import os, sys
from dns_suite.zone.journal import Change, Diff, Journal

path, start = sys.argv[1], int(sys.argv[2])
origin = b"\x01x\x04test\x00"

def soa(serial):
    return Change(origin, 6, 60, b"\x02ns\x00\x01h\x00" + serial.to_bytes(4, "big") + bytes(16))

journal = Journal(path)
entries = journal.entries()
serial = entries[-1].serial_to if entries else start
recent = []
while True:
    new = serial % 0xFFFFFFFF + 1
    txt = Change(b"\x01t" + origin, 16, 60, b"\x0a" + str(new).rjust(10).encode())
    journal.append(Diff(serial_from=serial, serial_to=new, removed=(soa(serial),),
                        added=(soa(new), txt)))
    os.write(1, b"A %d\n" % new)  # one write: a line is whole or absent
    recent.append(serial)
    serial = new
    if len(recent) >= 40:
        keep = recent[-10]
        os.write(1, b"C %d\n" % keep)
        journal.compact(keep)
        recent = recent[-10:]
"""


def _run_child(path: Path, rng: random.Random) -> list[tuple[str, int]]:
    """Start the child, let it run a random while, SIGKILL it; its reported lines."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(START)],
                            stdout=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    seen = []
    try:
        for _ in range(rng.randrange(0, 60)):
            seen.append(proc.stdout.readline())
            if not seen[-1]:
                break
        time.sleep(rng.random() * 0.004)  # land the kill anywhere within an append or compaction
    finally:
        proc.send_signal(signal.SIGKILL)
        seen.append(proc.stdout.read())  # every line flushed before the kill
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.returncode
    lines = []
    for line in "".join(seen).splitlines():
        kind, value = line.split()
        lines.append((kind, int(value)))
    return lines


def _check(path: Path, acked: list[int], keep: int | None) -> None:
    entries = Journal(path).entries()
    for a, b in zip(entries, entries[1:]):
        assert a.serial_to == b.serial_from, (a.serial_to, b.serial_from)
    if not acked:
        return
    last = acked[-1]
    assert entries, "acknowledged appends but the journal is empty"
    assert entries[-1].serial_to in (last, last % 0xFFFFFFFF + 1), (entries[-1].serial_to, last)
    present = {d.serial_to for d in entries}
    required = [s for s in acked if keep is None or serial_gt(s, keep)]
    missing = [s for s in required if s not in present]
    assert not missing, missing


@pytest.mark.slow
def test_sigkill_never_loses_an_acknowledged_append(tmp_path: Path) -> None:
    seed = int(os.environ.get("JOURNAL_CRASH_SEED", random.randrange(2**32)))
    print(f"journal crash test seed={seed}")
    rng = random.Random(seed)
    path = tmp_path / "z.jnl"
    acked: list[int] = []
    keep: int | None = None
    for kill in range(KILLS):
        for kind, value in _run_child(path, rng):
            if kind == "A":
                acked.append(value)
            else:
                keep = value
        try:
            _check(path, acked, keep)
        except AssertionError as exc:
            raise AssertionError(f"seed={seed} kill={kill}: {exc}") from None
    assert len(acked) <= 4294967295 - START or any(s < START for s in acked), "no wrap crossed"
