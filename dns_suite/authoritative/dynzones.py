"""Dynamic zones on disk: zone file + journal, commit, flush, hand edits (I/O).

How it works: a dynamic zone (one with an ``update_policy``) is its file
plus its journal (``<file>.jnl``): at start the file is loaded and every
journal entry that follows its serial is applied. An accepted UPDATE is
appended to the journal and fsynced (:meth:`DynamicZone.commit`) before the
reply is sent, so a crash at any moment loses nothing acknowledged and
leaves nothing half-applied (a torn last entry was never acknowledged and is
cut off at the next open). After ``flush_interval`` seconds, and at
shutdown, the zone file is rewritten atomically (temp file, fsync, rename)
and the journal compacted (:meth:`flush`). A reload takes a hand-edited file
only when its serial is higher (RFC 1982), journaling the difference;
``freeze`` flushes and refuses updates until ``thaw`` so hand edits are safe.

The file is written in a worker thread (a million records take seconds),
so the event loop goes on serving, TCP and UPDATE included: one write of a
zone runs at a time, a flush asked for meanwhile waits and then writes the
newest snapshot (nothing when no UPDATE came in between). An UPDATE
journaled during the write marks the zone dirty again, and the compaction
after the write keeps every entry from the written serial on, so the file
plus the journal is always the whole zone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from dns_suite.zone.journal import (Change, Diff, Journal, JournalError, journal_path, replay, serial_gt,
                                    write_zone_file)
from dns_suite.zone.loader import load_zone
from dns_suite.zone.model import Zone
from dns_suite.zone.update import UpdateResult

log = logging.getLogger("dns_suite.authoritative.dynamic")
KEEP_ENTRIES = 100  # journal entries kept after a flush (for IXFR)


class DynamicZone:
    """One dynamic zone's durable state.

    Args:
        origin: the zone's origin text.
        path: its zone file.
        allow_generate: passed to the loader.
    """

    def __init__(self, origin: str, path: str, allow_generate: bool = True) -> None:
        self.origin = origin
        self.path = path
        self.allow_generate = allow_generate
        self.journal = Journal(journal_path(path))
        self.frozen = False
        self.dirty = False
        self.rewrite = False  # a reload ignored the file: write it from the zone served
        self._writing = asyncio.Lock()  # one write of the file at a time
        self._abandoned = False  # shutting down, out of time: stop writing, the journal has it all
        self._stop_write = False  # the running write's task was cancelled
        self.last_update = 0.0
        self.updates = 0

    def load(self) -> Zone | None:
        """The zone file plus the journal; None (logged) when the file does not load."""
        result = load_zone(self.origin, self.path, allow_generate=self.allow_generate)
        for p in result.problems:
            (log.error if p.severity == "error" else log.warning)("zone=%s %s", self.origin, p)
        if result.zone is None:
            return None
        return self._replay(result.zone)

    def _replay(self, zone: Zone) -> Zone:
        try:
            replayed, applied, warnings = replay(zone, self.journal)
        except JournalError as exc:
            log.error("zone=%s journal does not apply to the file (serial %d): %s", self.origin,
                      zone.serial, exc)
            return zone
        for warning in warnings:
            log.warning("zone=%s journal: %s", self.origin, warning)
        if applied:
            self.dirty = True
            log.info("zone=%s journal replayed entries=%d serial=%d", self.origin, applied, replayed.serial)
        return replayed

    def commit(self, old: Zone, result: UpdateResult) -> None:
        """Make an accepted UPDATE durable: append it to the journal (fsync).

        Raises:
            JournalError: the journal could not be written (reply SERVFAIL, publish nothing).
        """
        diff = Diff(serial_from=old.serial, serial_to=result.zone.serial,
                    removed=tuple(Change(*c) for c in result.removed),
                    added=tuple(Change(*c) for c in result.added))
        self.journal.append(diff)
        self.dirty = True
        self.last_update = time.time()
        self.updates += 1

    async def flush(self, latest: Callable[[], Zone | None]) -> None:
        """Write the zone file (atomic, in a worker thread) and compact the journal.

        Waits for a write of this zone already running, then writes the
        snapshot ``latest()`` gives at that moment, if any UPDATE is unwritten.

        Raises:
            OSError: the file could not be written (InterruptedError: abandoned);
                the journal keeps the changes, the zone stays dirty.
            JournalError: the compaction failed (the file is written).
        """
        async with self._writing:
            zone = latest()
            if not self.dirty or zone is None:
                return
            if self._abandoned:
                raise InterruptedError("zone file writes abandoned (shutting down)")
            self.dirty = False  # an UPDATE journaled during the write sets it again
            self._stop_write = False
            try:
                await _in_thread(lambda: write_zone_file(zone, self.path, cancelled=self._cancelled),
                                 self._stop)
            except BaseException:
                self.dirty = True
                raise
            self._compact(zone.serial)
            log.info("zone=%s flushed serial=%d journal=%d octets", self.origin, zone.serial,
                     self.journal.size())

    async def settled(self) -> None:
        """Return once no write of the file is running (a reload reads the file after it)."""
        async with self._writing:
            pass

    def abandon(self) -> None:
        """Stop a running write at its next batch of lines and refuse further ones (shutdown
        out of time): the old file stays, the journal holds every change."""
        self._abandoned = True

    def _stop(self) -> None:
        self._stop_write = True

    def _cancelled(self) -> bool:  # asked from the writing thread
        return self._stop_write or self._abandoned

    def _compact(self, written: int) -> None:
        """Keep the last KEEP_ENTRIES entries (for IXFR), and every entry from serial
        ``written`` on (UPDATEs journaled while the file was written are not in it)."""
        entries = self.journal.entries()
        if len(entries) > KEEP_ENTRIES:
            keep = entries[-KEEP_ENTRIES].serial_from
            self.journal.compact(written if serial_gt(keep, written) else keep)

    def reload(self, current: Zone) -> Zone:
        """SIGHUP/ctl reload: the file if its serial is higher (difference journaled), else ``current``."""
        result = load_zone(self.origin, self.path, allow_generate=self.allow_generate)
        if result.zone is None:
            for p in result.errors:
                log.error("zone=%s %s", self.origin, p)
            log.error("zone=%s not reloaded: keeps serving serial=%d", self.origin, current.serial)
            return current
        edited = result.zone
        if not serial_gt(edited.serial, current.serial):
            if edited.serial != current.serial:
                log.warning("zone=%s file serial %d not above %d: file ignored and rewritten from "
                            "the zone served", self.origin, edited.serial, current.serial)
                self.dirty = True  # else a restart would load the ignored file: updates lost
                self.rewrite = True  # the service flushes it after the reload
            return current
        removed, added = zone_difference(current, edited)
        self.journal.append(Diff(serial_from=current.serial, serial_to=edited.serial,
                                 removed=removed, added=added))
        log.info("zone=%s hand edit taken serial=%d removed=%d added=%d", self.origin, edited.serial,
                 len(removed), len(added))
        return edited

    def status(self, zone: Zone) -> dict:
        """For ``dns-suite ctl zone-status``."""
        return {"zone": self.origin, "serial": zone.serial, "dynamic": True, "frozen": self.frozen,
                "journal_octets": self.journal.size(),
                "unflushed": self.dirty or self._writing.locked(), "updates": self.updates,
                "last_update": self.last_update or None, "file": self.path}


async def _in_thread(work: Callable[[], None], on_cancel: Callable[[], None]) -> None:
    """Run ``work`` in the default executor. When the waiting task is cancelled, ``on_cancel``
    is called and the thread is still waited for, so that no second write can begin while it
    holds the file."""
    future = asyncio.get_running_loop().run_in_executor(None, work)
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        on_cancel()
        await asyncio.wait([future])
        raise


def zone_difference(old: Zone, new: Zone) -> tuple[tuple[Change, ...], tuple[Change, ...]]:
    """The RRs only in ``old`` and only in ``new`` (SOA first in each), as an IXFR difference."""
    def rrs(zone: Zone) -> set[Change]:
        return {Change(r.wire, r.rrtype, r.ttl, rd) for first in zone.nodes.values()
                for r in first.chain() for rd in r.rdatas}
    before, after = rrs(old), rrs(new)
    order = lambda c: (c.rrtype != 6, c)  # noqa: E731 - SOA first
    return tuple(sorted(before - after, key=order)), tuple(sorted(after - before, key=order))
