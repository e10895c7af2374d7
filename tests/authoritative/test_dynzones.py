"""Dynamic zones' file writes off the event loop (authoritative/dynzones.py).

The writer is replaced by one that holds the write open until the test lets it go (a
threading.Event), so every step is observable without timing: the write runs in another thread
while the loop goes on, UPDATEs journaled meanwhile stay durable (the zone stays dirty, the
compaction keeps their entries, a restart replays them), flushes asked for meanwhile wait and
write only the newest snapshot, one write at a time; at shutdown a write can be abandoned.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from dns_suite.authoritative import dynzones
from dns_suite.authoritative.dynzones import DynamicZone
from dns_suite.authoritative.service import AuthoritativeService
from dns_suite.wire.name import Name
from dns_suite.zone.journal import Change, Diff, apply_diff, write_zone_file
from dns_suite.zone.loader import load_zone
from dns_suite.zone.reader import ZoneReader
from dns_suite.zone.update import UpdateResult

ORIGIN = "x.test."
ZONE = "$ORIGIN x.test.\n$TTL 60\n@ SOA ns h {serial} 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
WAIT = 30.0  # seconds: only a bound for a broken test, never waited for when it passes


def rr(text: str) -> Change:
    (owner, ttl, rrtype, rdata, _f, _l), = ZoneReader(Name.from_text(ORIGIN), file="t").records(
        ["$TTL 60\n", text + "\n"])
    return Change(owner.wire, rrtype, ttl, rdata)


def update(dz: DynamicZone, zone, name: str):
    """An accepted UPDATE adding ``name`` TXT: journaled by ``dz.commit``; the new zone."""
    a, b = zone.serial, zone.serial + 1
    d = Diff(serial_from=a, serial_to=b, removed=(rr(f"@ SOA ns h {a} 2 3 4 5"),),
             added=(rr(f"@ SOA ns h {b} 2 3 4 5"), rr(f'{name} TXT "{name}"')))
    new = apply_diff(zone, d)
    dz.commit(zone, UpdateResult(rcode=0, zone=new, removed=d.removed, added=d.added))
    return new


class HeldWriter:
    """Stands in for write_zone_file: records each call, holds it until released, then writes."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.serials: list[int] = []
        self.threads: set[int] = set()
        self.running = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, zone, path, *, cancelled=None) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.serials.append(zone.serial)
        self.threads.add(threading.get_ident())
        self.entered.release()
        try:
            while not self.release.wait(0.01):
                if cancelled is not None and cancelled():
                    raise InterruptedError("write cancelled")
            write_zone_file(zone, path, cancelled=cancelled)
        finally:
            with self.lock:
                self.running -= 1

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.acquire, True, WAIT), "the write did not start"


@pytest.fixture
def dz(tmp_path: Path, monkeypatch):
    path = tmp_path / "x.test.zone"
    path.write_text(ZONE.format(serial=1))
    writer = HeldWriter()
    monkeypatch.setattr(dynzones, "write_zone_file", writer)
    zone = DynamicZone(ORIGIN, str(path))
    zone.writer = writer
    return zone


def test_write_off_the_loop_one_at_a_time_newest_wins(dz, monkeypatch) -> None:
    monkeypatch.setattr(dynzones, "KEEP_ENTRIES", 1)
    writer = dz.writer

    async def main():
        zone = update(dz, dz.load(), "a")  # serial 2
        current = [zone]
        first = asyncio.create_task(dz.flush(lambda: current[0]))
        await writer.wait_entered()
        assert writer.threads != {threading.get_ident()}  # not the loop's thread
        # the loop goes on while the file is written: UPDATEs are journaled and served
        for name in "bcd":
            current[0] = update(dz, current[0], name)  # serials 3, 4, 5
        assert dz.dirty and dz.status(current[0])["unflushed"]
        later = [asyncio.create_task(dz.flush(lambda: current[0])) for _ in range(3)]
        await asyncio.sleep(0)
        assert writer.serials == [2] and not any(t.done() for t in later)
        writer.release.set()
        await asyncio.gather(first, *later)
        return current[0]

    newest = asyncio.run(main())
    assert writer.serials == [2, 5] and writer.most == 1  # the newest snapshot, once; never two at once
    assert not dz.dirty and not dz.status(newest)["unflushed"]
    assert load_zone(ORIGIN, dz.path).zone.serial == 5


def test_update_during_write_stays_dirty_and_journaled(dz, monkeypatch) -> None:
    monkeypatch.setattr(dynzones, "KEEP_ENTRIES", 1)
    writer = dz.writer

    async def main():
        zone = update(dz, dz.load(), "a")
        zone = update(dz, zone, "b")  # serial 3: the snapshot written
        flush = asyncio.create_task(dz.flush(lambda: zone))
        await writer.wait_entered()
        newer = update(dz, update(dz, zone, "c"), "d")  # 4, 5: journaled during the write
        writer.release.set()
        await flush
        return newer

    newer = asyncio.run(main())
    assert dz.dirty  # the file (serial 3) lacks 4 and 5
    assert load_zone(ORIGIN, dz.path).zone.serial == 3
    assert [(d.serial_from, d.serial_to) for d in dz.journal.entries()] == [(3, 4), (4, 5)]
    dz.journal.close()
    again = DynamicZone(ORIGIN, dz.path).load()  # a restart: the file plus the journal
    assert again.serial == newer.serial == 5
    assert again.get(Name.from_text("d.x.test.").key, 16) is not None


def test_abandoned_write_keeps_old_file(dz) -> None:
    writer = dz.writer
    before = Path(dz.path).read_text()

    async def main():
        zone = update(dz, dz.load(), "a")
        service = SimpleNamespace(dynamic={b"x": dz})

        async def flush(key):  # as AuthoritativeService.flush: errors are logged, not raised
            try:
                await dz.flush(lambda: zone)
            except OSError as exc:
                service.error = exc
        service.flush = flush
        await AuthoritativeService._flush_all(service, 0.05)  # the held write never ends by itself
        return service

    service = asyncio.run(main())
    assert isinstance(service.error, InterruptedError)
    assert dz.dirty and Path(dz.path).read_text() == before
    assert [p.name for p in Path(dz.path).parent.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(InterruptedError):  # no write begins after that
        asyncio.run(dz.flush(lambda: load_zone(ORIGIN, dz.path).zone))


def test_cancelled_real_write_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "x.test.zone"
    path.write_text(ZONE.format(serial=1) + "".join(f"h{i} A 192.0.2.1\n" for i in range(10000)))
    zone = load_zone(ORIGIN, str(path)).zone
    before = path.read_text()
    with pytest.raises(InterruptedError):
        write_zone_file(zone, path, cancelled=lambda: True)
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["x.test.zone"]
