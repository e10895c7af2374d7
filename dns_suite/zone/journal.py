"""Zone journal: serial-ordered diffs for UPDATE durability and IXFR (I/O).

How it works: every accepted UPDATE becomes a :class:`Diff` (an IXFR
difference sequence, RFC 1995 §4: the old SOA among the removed RRs, the new
SOA among the added ones). :meth:`Journal.append` writes it to
``<zonefile>.jnl`` and fsyncs before returning; only then is the UPDATE
acknowledged. At start the zone is its file plus :func:`replay` of the
journal. Now and then (and at shutdown) the zone file is rewritten with
:func:`write_zone_file` and the journal is cut with :meth:`Journal.compact`;
both write a temp file in the same directory, fsync it, rename it over the
original and fsync the directory, so a crash leaves the old or the new file.

File format (all integers unsigned, network order)::

    magic   "DNSSUITE-JNL 1\\n" (15 octets)
    entry*  length u32   octets of body
            crc    u32   CRC-32 (ISO-HDLC, as zlib.crc32) of body
            body   serial_from u32, serial_to u32,
                   count_removed u32, count_added u32,
                   change * (count_removed + count_added), removed first

    change  owner   uncompressed wire name (RFC 1035 §3.1)
            type    u16
            ttl     u32  seconds
            rdlen   u16  octets
            rdata   rdlen octets, uncompressed

The class is the zone's and is not stored. Entries are only ever appended;
a crash during an append leaves a torn or CRC-failing tail that was never
acknowledged. Readers stop there; :meth:`Journal.append` cuts it off first,
saving the cut octets to ``<journal>.discarded`` (a damaged middle entry
cuts off the entries after it too, and they are kept there for an operator).

Serial comparisons use RFC 1982 arithmetic (:func:`serial_gt`). One
:class:`Journal` object per file, owned by one process (the control process).
"""

from __future__ import annotations

import glob
import logging
import os
import tempfile
from typing import Callable, Iterable

from dns_suite.zone.diff import (MAGIC, Change, Diff, JournalError, Scan, apply_diff, apply_diffs,  # noqa: F401
                                 decode_diff, encode_diff, encode_entry, replay_diffs, scan_journal,
                                 serial_gt, since_serial)
from dns_suite.zone.loader import zone_to_text
from dns_suite.zone.model import Zone


log = logging.getLogger(__name__)




def journal_path(zone_path: str) -> str:
    """The journal file of a zone file: ``<zonefile>.jnl``."""
    return os.fspath(zone_path) + ".jnl"


# --- the file ---------------------------------------------------------------
class Journal:
    """The append-only journal file of one zone.

    Args:
        path: the journal file (see :func:`journal_path`); created on the first append.

    Attributes:
        discarded: octets of torn or damaged tail cut off since this object was made.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self.discarded = 0
        self._fd: int | None = None
        self._end = 0
        self._last: int | None = None

    def _scan(self) -> tuple[bytes, Scan]:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        try:
            return data, scan_journal(data)
        except JournalError as exc:
            raise JournalError(f"{self.path}: {exc}") from None

    def entries(self) -> list[Diff]:
        """Every complete, CRC-valid entry, oldest first (a bad tail is ignored)."""
        return list(self._scan()[1].diffs)

    def since(self, serial: int) -> list[Diff] | None:
        """Diffs from ``serial`` to the newest; None if the journal lacks them (see :func:`since_serial`)."""
        return since_serial(self.entries(), serial)

    def size(self) -> int:
        """The file's size in octets (0 when it does not exist)."""
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def append(self, diff: Diff) -> None:
        """Write one entry and make it durable (fdatasync; the directory too when new).

        Returns only once the entry is on stable storage: acknowledge the
        UPDATE after this. On failure the entry is cut off again.

        A diff starting after the journal's newest serial leaves a gap (a zone
        file edited while the server was down): accepted and logged; replay
        and :meth:`since` treat the entries before the gap as history.

        Raises:
            JournalError: the serials do not increase (RFC 1982), the diff
                starts before the journal's newest serial, or the write failed.
        """
        if not serial_gt(diff.serial_to, diff.serial_from):
            raise JournalError(f"{self.path}: serial {diff.serial_to} does not follow "
                               f"{diff.serial_from} (RFC 1982)")
        entry = encode_entry(diff)
        if self._fd is None:
            self._open_for_append()
        if self._last is not None and diff.serial_from != self._last:
            if not serial_gt(diff.serial_from, self._last):
                raise JournalError(f"{self.path}: diff from serial {diff.serial_from} goes back "
                                   f"behind the journal's serial {self._last}")
            log.warning("%s: gap in the journal from serial %d to %d (zone file edited?)",
                        self.path, self._last, diff.serial_from)
        try:
            _write_all(self._fd, entry)
            _datasync(self._fd)
        except OSError as exc:
            self._abandon()
            raise JournalError(f"{self.path}: append failed: {exc.strerror or exc}") from None
        self._end += len(entry)
        self._last = diff.serial_to

    def _open_for_append(self) -> None:
        """Open the file, cut a bad tail off, write the magic when missing."""
        data, scan = self._scan()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot open: {exc.strerror or exc}") from None
        try:
            if scan.end < scan.size:
                self._keep_aside(data, scan)
                os.ftruncate(fd, scan.end)
                _datasync(fd)
            if scan.end == 0:
                _write_all(fd, MAGIC)
                _datasync(fd)
                _fsync_dir(os.path.dirname(os.path.abspath(self.path)))
        except OSError as exc:
            os.close(fd)
            raise JournalError(f"{self.path}: cannot prepare: {exc.strerror or exc}") from None
        self._fd, self._end = fd, max(scan.end, len(MAGIC))
        self._last = scan.diffs[-1].serial_to if scan.diffs else None

    def _keep_aside(self, data: bytes, scan: Scan) -> None:
        """Append the bad tail to ``<journal>.discarded`` (fsynced) before it is cut off."""
        tail = data[scan.end:]
        log.warning("%s: %s; cutting off %d octets (kept in %s.discarded)", self.path,
                    scan.reason, len(tail), self.path)
        with open(self.path + ".discarded", "ab") as f:
            f.write(tail)
            f.flush()
            os.fsync(f.fileno())
        self.discarded += len(tail)

    def _abandon(self) -> None:
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, self._end)
        except OSError:
            pass  # the next open cuts the torn tail off
        os.close(fd)

    def compact(self, keep_from_serial: int) -> int:
        """Rewrite the file without the entries older than ``keep_from_serial``.

        Drops the leading entries whose ``serial_from`` precedes the serial
        (RFC 1982); atomic (temp file, fsync, rename, fsync of the directory).

        Returns:
            The number of entries dropped.
        """
        self.close()
        data, scan = self._scan()
        if not data:
            return 0
        diffs = list(scan.diffs)
        i = 0
        while i < len(diffs) and serial_gt(keep_from_serial, diffs[i].serial_from):
            i += 1
        try:
            if scan.end < scan.size:
                self._keep_aside(data, scan)
            _atomic_write(self.path, [MAGIC, *(encode_entry(d) for d in diffs[i:])])
        except OSError as exc:
            raise JournalError(f"{self.path}: compaction failed: {exc.strerror or exc}") from None
        return i

    def close(self) -> None:
        """Close the append handle (reopened by the next append)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _datasync(fd: int) -> None:
    # fdatasync also writes the size of a growing file (POSIX); fsync elsewhere.
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_prefix(path: str) -> str:
    return f".{os.path.basename(path)}.tmp-"


def _atomic_write(path: str, chunks: Iterable[bytes]) -> None:
    """Replace ``path`` by ``chunks``: temp file beside it, fsync, rename, fsync dir.

    The mode is the old file's, else 0644. Temp files left by an earlier
    crash of this writer (``.<name>.tmp-*``) are removed first.
    """
    directory = os.path.dirname(os.path.abspath(path))
    for stale in glob.glob(os.path.join(glob.escape(directory), glob.escape(_temp_prefix(path)) + "*")):
        os.unlink(stale)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_temp_prefix(path))
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def write_zone_file(zone: Zone, path: str | os.PathLike, *,
                    cancelled: Callable[[], bool] | None = None) -> None:
    """Write ``zone`` as master-file text atomically, keeping the old file's mode.

    A symbolic link is followed: its target is replaced, the link stays. The
    zone is an immutable snapshot, so this may run in a worker thread while
    the event loop goes on (the caller makes sure one write of a file runs at a time).

    Args:
        zone: the snapshot to write.
        path: the zone file.
        cancelled: asked between batches of lines; when it says True the write
            stops, the temp file is removed and the old file stays.

    Raises:
        OSError: the directory is not writable, the disk is full, ...;
            InterruptedError when ``cancelled`` said so.
    """
    real = os.path.realpath(os.fspath(path))
    _atomic_write(real, _zone_chunks(zone, cancelled or (lambda: False)))


def _zone_chunks(zone: Zone, cancelled: Callable[[], bool], lines: int = 4096) -> Iterable[bytes]:
    """The zone's text as octets, ``lines`` lines a chunk; InterruptedError once ``cancelled()``."""
    batch: list[str] = []
    for line in zone_to_text(zone):
        batch.append(line)
        if len(batch) == lines:
            if cancelled():
                raise InterruptedError(f"zone {zone.origin} serial {zone.serial}: write cancelled")
            yield "".join(batch).encode("utf-8", "surrogateescape")
            batch.clear()
    yield "".join(batch).encode("utf-8", "surrogateescape")


def replay(zone: Zone, journal: Journal) -> tuple[Zone, int, list[str]]:
    """:func:`replay_diffs` over every entry of ``journal``."""
    return replay_diffs(zone, journal.entries())
