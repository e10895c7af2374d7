"""Secondary zones: the per-zone refresh/retry/expire machine (RFC 1034 §4.3.5, RFC 1996, RFC 1982), sans-IO.

How it works: one :class:`Secondary` per zone. The I/O side calls :meth:`step` with an event
and ``now`` (monotonic seconds), with :class:`Tick` at :meth:`next_wakeup`, and carries out the
actions returned. It answers every :class:`QuerySoa` with one :class:`SoaReply` and every
:class:`StartTransfer` with one :class:`TransferDone` or :class:`TransferFailed`; its own
timeouts (a stalled transfer, issue 5 "Limits") arrive as errors. Replies that do not match the
operation in flight are logged and dropped; one operation at most is in flight per zone.

A *check* walks the primaries in order (a NOTIFY's sender first) until one succeeds: SOA query;
a higher serial (RFC 1982) -> IXFR from our serial; an IXFR that fails is retried as AXFR from the
same primary; an AXFR that fails moves to the next primary. With no zone, or when forced (``ctl
retransfer``), the SOA query is skipped and the transfer is an AXFR. When every primary failed,
the check is retried after RETRY.

Timers (from our SOA, clamped by :class:`Timers`): the next check comes REFRESH seconds after a
success, RETRY after a failed check. The copy expires EXPIRE seconds (at least REFRESH + RETRY, as
BIND does) after the last success; a copy loaded at :class:`Start` counts as refreshed at start
unless its ``age`` is given (seconds since its last refresh, e.g. from the file's mtime). Expiry
emits :class:`Expire` (answer SERVFAIL) and keeps the copy; the next success publishes it again.
NOTIFY checks are rate-limited to one per ``notify_interval``: a NOTIFY sooner than that moves the
next check to the end of the interval; a NOTIFY or retransfer during a check runs another check
right after it.

Transitions (``phase``; Expire may happen in any phase but NEW)::

    phase      event                         actions                      -> phase
    NEW        Start(zone)                   Publish(save=False), QuerySoa -> QUERY
    NEW        Start(zone, age >= expire)    QuerySoa, Expire              -> QUERY
    NEW        Start(None)                   StartTransfer(AXFR)           -> XFR
    WAIT/RETRY Tick >= next check            QuerySoa (AXFR if no zone)    -> QUERY/XFR
    WAIT/RETRY NotifyReceived(p)             QuerySoa(p) (or at +interval) -> QUERY
    WAIT/RETRY RetransferRequested           StartTransfer(AXFR)           -> XFR
    QUERY      SoaReply(newer)               StartTransfer(IXFR)           -> XFR
    QUERY      SoaReply(same or older)       (Publish if expired)          -> WAIT
    QUERY      SoaReply(error)               QuerySoa(next)                -> QUERY
    XFR        TransferDone(newer or forced) Publish(zone)                 -> WAIT
    XFR        TransferDone(else)            (Publish if expired)          -> WAIT
    XFR        TransferFailed, was IXFR      StartTransfer(same, AXFR)     -> XFR
    XFR        TransferFailed, was AXFR      next primary, as at a check   -> QUERY/XFR
    QUERY/XFR  the last primary failed       -                             -> RETRY
    QUERY/XFR  NotifyReceived/Retransfer     (remembered; a check follows) -> same
    any        now >= expires_at             Expire                        -> same
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import unpack_from

from dns_suite.wire.name import Name
from dns_suite.zone.diff import Diff, serial_gt
from dns_suite.zone.model import Zone

NEW, WAIT, RETRY, QUERY, XFR = "new", "wait", "retry", "query", "transfer"


@dataclass(frozen=True, slots=True, kw_only=True)
class Primary:
    """A primary to transfer from: address, port, TSIG key name (or None)."""

    host: str
    port: int = 53
    key_name: Name | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Timers:
    """Bounds (seconds) the SOA's REFRESH and RETRY are clamped into; ``no_zone_retry``: seconds
    between attempts while we hold no zone; ``notify_interval``: least time between NOTIFY checks."""

    min_refresh: float = 60.0
    max_refresh: float = 2419200.0
    min_retry: float = 10.0
    max_retry: float = 1209600.0
    no_zone_retry: float = 60.0
    notify_interval: float = 0.5


_EVENT = _ACTION = dataclass(frozen=True, slots=True, kw_only=True)


@_EVENT
class Start:
    """Serving starts: ``zone`` loaded from disk, or None; ``age``: seconds since it was refreshed."""

    zone: Zone | None
    age: float | None = None


@_EVENT
class Tick:
    """Time passed (sent at :meth:`Secondary.next_wakeup`)."""


@_EVENT
class NotifyReceived:
    """An allowed NOTIFY (RFC 1996 §3.10) from a primary: its index or its address."""

    primary: int | str


@_EVENT
class SoaReply:
    """The answer to :class:`QuerySoa`: the primary's serial, or None and ``error``."""

    primary: int
    serial: int | None
    error: str = ""


@_EVENT
class TransferDone:
    """A transfer succeeded: the zone (our own when the IXFR said up to date), octets
    received, the IXFR differences (None for the AXFR form)."""

    primary: int
    zone: Zone
    octets: int = 0
    diffs: tuple[Diff, ...] | None = None


@_EVENT
class TransferFailed:
    """A transfer failed: refused, bad TSIG, malformed, too large, stalled (``reason``)."""

    primary: int
    reason: str


@_EVENT
class RetransferRequested:
    """``dns-suite ctl retransfer ZONE``: a full AXFR now, whatever the serials."""


Event = Start | Tick | NotifyReceived | SoaReply | TransferDone | TransferFailed | RetransferRequested


@_ACTION
class QuerySoa:
    """Ask primary number ``index`` for the zone's SOA; answer with :class:`SoaReply`."""

    index: int
    primary: Primary


@_ACTION
class StartTransfer:
    """Run ``kind`` ("IXFR" or "AXFR") from primary ``index``; answer with TransferDone or
    TransferFailed. ``serial``: the serial we hold (IXFR asks from it), None without a zone."""

    index: int
    primary: Primary
    kind: str
    serial: int | None


@_ACTION
class Publish:
    """Serve ``zone``; when ``save``, also write it to disk atomically (tmp, fsync, rename).
    ``diffs``: the IXFR differences that led to it (for our journal), None after an AXFR."""

    zone: Zone
    diffs: tuple[Diff, ...] | None = None
    save: bool = True


@_ACTION
class Expire:
    """Stop serving the zone: answer SERVFAIL for it (RFC 1034 §4.3.5)."""


@_ACTION
class Log:
    """A line for the log; ``level`` is ``"info"`` or ``"warning"``."""

    text: str
    level: str = "info"


Action = QuerySoa | StartTransfer | Publish | Expire | Log


def soa_timers(zone: Zone) -> tuple[int, int, int]:
    """REFRESH, RETRY, EXPIRE of the zone's SOA, seconds (RFC 1035 §3.3.13)."""
    return unpack_from("!3I", zone.soa.rdatas[0], len(zone.soa.rdatas[0]) - 16)


class Secondary:
    """The refresh/retry/expire machine of one secondary zone (see the module docstring).

    Args:
        origin: the zone's apex.
        primaries: where to transfer from, in order of preference.
        timers: bounds on the SOA timers.

    Raises:
        ValueError: no primaries.
    """

    def __init__(self, origin: Name, primaries: tuple[Primary, ...], timers: Timers = Timers()) -> None:
        if not primaries:
            raise ValueError(f"secondary zone {origin} has no primaries")
        self.origin, self.primaries, self.timers = origin, tuple(primaries), timers
        self.zone: Zone | None = None
        self.phase, self.expired, self.last_error = NEW, False, ""
        self.last_refresh: float | None = None  # monotonic seconds of the last success
        self.expires_at: float | None = None
        self.next_check = 0.0  # when WAIT/RETRY ends
        self._order: list[int] = []  # primaries still to try in this check
        self._current, self._kind = -1, ""  # the primary and transfer kind in flight
        self._force = False  # this check must AXFR (retransfer)
        self._again = self._force_next = False  # a NOTIFY / retransfer came during a check
        self._last_notify_check = float("-inf")

    def step(self, event: Event, now: float) -> list[Action]:
        """Take one event at ``now`` (monotonic seconds); return what to do, in order."""
        if self.phase == NEW and not isinstance(event, Start):
            return self._log([], f"{type(event).__name__} before start ignored", "warning")
        out: list[Action] = []
        handler = {Start: self._start, Tick: self._tick, NotifyReceived: self._notify,
                   RetransferRequested: self._retransfer, SoaReply: self._soa_reply,
                   TransferDone: self._done, TransferFailed: self._failed}[type(event)]
        handler(event, now, out)
        self._check_expiry(now, out)
        return out

    def _start(self, event: Start, now: float, out: list[Action]) -> None:
        if self.phase != NEW:
            self._log(out, "started twice; ignored", "warning")
            return
        zone = event.zone
        if zone is not None:
            if zone.origin != self.origin:
                raise ValueError(f"zone {zone.origin} given to the secondary of {self.origin}")
            self.zone, self.last_refresh = zone, now - (event.age or 0.0)
            self.expires_at = self.last_refresh + self._expire()
            if now < self.expires_at:
                out.append(Publish(zone=zone, save=False))
                self._log(out, f"serving serial {zone.serial} from disk")
        self._begin(None, now, out)

    def _tick(self, event: Tick, now: float, out: list[Action]) -> None:
        if self.phase in (WAIT, RETRY) and now >= self.next_check:
            self._begin(None, now, out)

    def _notify(self, event: NotifyReceived, now: float, out: list[Action]) -> None:
        index = self._index(event.primary)
        if index is None:
            self._log(out, f"NOTIFY from {event.primary}, not a primary; ignored", "warning")
            return
        self._log(out, f"NOTIFY from {self.primaries[index].host}")
        if self.phase in (QUERY, XFR):
            self._again = True
            return
        at = self._last_notify_check + self.timers.notify_interval
        if now < at:  # rate-limited: check at the end of the interval
            self.next_check = min(self.next_check, at)
            return
        self._last_notify_check = now
        self._begin(index, now, out)

    def _retransfer(self, event: RetransferRequested, now: float, out: list[Action]) -> None:
        self._log(out, "retransfer requested")
        if self.phase in (QUERY, XFR):
            self._again = self._force_next = True
            return
        self._force = True
        self._begin(None, now, out)

    # --- a check: walking the primaries ----------------------------------------

    def _begin(self, first: int | None, now: float, out: list[Action]) -> None:
        """Start a check: primaries in order, ``first`` (a NOTIFY's sender) moved to the front."""
        order = list(range(len(self.primaries)))
        self._order = order if first is None else [first, *(i for i in order if i != first)]
        self._next_primary(now, out)

    def _next_primary(self, now: float, out: list[Action]) -> None:
        """Try the next primary of this check, or end it as failed."""
        if not self._order:
            self._log(out, f"every primary failed; retrying in {self._retry():g} s", "warning")
            self._end(now, now + self._retry(), RETRY, out)
            return
        index = self._order.pop(0)
        if self.zone is None or self._force:
            self._transfer(index, "AXFR", out)
        else:
            self.phase, self._current = QUERY, index
            out.append(QuerySoa(index=index, primary=self.primaries[index]))

    def _transfer(self, index: int, kind: str, out: list[Action]) -> None:
        self.phase, self._kind, self._current = XFR, kind, index
        serial = self.zone.serial if self.zone is not None else None
        out.append(StartTransfer(index=index, primary=self.primaries[index], kind=kind, serial=serial))

    def _matches(self, phase: str, index: int, what: str, out: list[Action]) -> bool:
        if self.phase == phase and index == self._current:
            return True
        self._log(out, f"unexpected {what} from primary {index}; ignored", "warning")
        return False

    def _soa_reply(self, event: SoaReply, now: float, out: list[Action]) -> None:
        if not self._matches(QUERY, event.primary, "SOA reply", out):
            return
        host, ours = self.primaries[event.primary].host, self.zone.serial if self.zone else 0
        if event.serial is None:
            self._error(f"SOA query to {host} failed: {event.error or 'no SOA'}", out)
            self._next_primary(now, out)
        elif serial_gt(event.serial, ours):
            self._log(out, f"{host} has serial {event.serial}, we {ours}")
            self._transfer(event.primary, "IXFR", out)
        else:
            if event.serial != ours:
                self._log(out, f"{host} has serial {event.serial}, lower than our {ours} "
                          "(RFC 1982); keeping ours", "warning")
            self._refreshed(now, out)

    def _done(self, event: TransferDone, now: float, out: list[Action]) -> None:
        if not self._matches(XFR, event.primary, "transfer result", out):
            return
        zone, old, host = event.zone, self.zone, self.primaries[event.primary].host
        if zone.origin != self.origin:
            self._failed(TransferFailed(primary=event.primary, reason=f"got zone {zone.origin}"), now, out)
        elif old is None or serial_gt(zone.serial, old.serial) or (self._force and zone is not old):
            self.zone, self.expired = zone, False
            out.append(Publish(zone=zone, diffs=event.diffs))
            form = "IXFR" if event.diffs is not None else "AXFR"
            self._log(out, f"{form} of serial {zone.serial} from {host}, {event.octets} octets")
            self._refreshed(now, out)
        else:
            if zone.serial != old.serial:
                self._log(out, f"{host} sent serial {zone.serial}, not newer than our {old.serial}; "
                          "keeping ours", "warning")
            self._refreshed(now, out)

    def _failed(self, event: TransferFailed, now: float, out: list[Action]) -> None:
        if not self._matches(XFR, event.primary, "transfer failure", out):
            return
        self._error(f"{self._kind} from {self.primaries[event.primary].host} failed: {event.reason}", out)
        if self._kind == "IXFR":
            self._transfer(event.primary, "AXFR", out)
        else:
            self._next_primary(now, out)

    # --- the end of a check, expiry --------------------------------------------

    def _refreshed(self, now: float, out: list[Action]) -> None:
        """A check succeeded: the copy is current as of ``now``."""
        assert self.zone is not None
        if self.expired:
            self.expired = False
            out.append(Publish(zone=self.zone, save=False))
            self._log(out, f"serving serial {self.zone.serial} again")
        self.last_refresh, self.last_error = now, ""
        self.expires_at = now + self._expire()
        self._end(now, now + self._refresh(), WAIT, out)

    def _end(self, now: float, next_check: float, phase: str, out: list[Action]) -> None:
        """Close the check; start the one a NOTIFY or retransfer asked for meanwhile."""
        self.phase, self.next_check, self._kind, self._force = phase, next_check, "", False
        if self._again:
            self._again, self._force, self._force_next = False, self._force_next, False
            self._begin(None, now, out)

    def _check_expiry(self, now: float, out: list[Action]) -> None:
        if self.expires_at is not None and not self.expired and now >= self.expires_at:
            self.expired = True
            out.append(Expire())
            self._log(out, f"expired: no successful refresh since {self.last_refresh:g}; "
                      "answering SERVFAIL", "warning")

    def _error(self, text: str, out: list[Action]) -> None:
        self.last_error = text
        self._log(out, text, "warning")

    def _log(self, out: list[Action], text: str, level: str = "info") -> list[Action]:
        out.append(Log(text=f"zone {self.origin}: {text}", level=level))
        return out

    # --- timers, queries ----------------------------------------------------------

    def _clamp(self, which: int, low: float, high: float) -> float:
        return min(max(soa_timers(self.zone)[which], low), high) if self.zone else self.timers.no_zone_retry

    def _refresh(self) -> float:
        return self._clamp(0, self.timers.min_refresh, self.timers.max_refresh)

    def _retry(self) -> float:
        return self._clamp(1, self.timers.min_retry, self.timers.max_retry)

    def _expire(self) -> float:
        """EXPIRE, at least REFRESH + RETRY (as BIND does)."""
        assert self.zone is not None
        return max(float(soa_timers(self.zone)[2]), self._refresh() + self._retry())

    def _index(self, primary: int | str) -> int | None:
        if isinstance(primary, int):
            return primary if 0 <= primary < len(self.primaries) else None
        return next((i for i, p in enumerate(self.primaries) if p.host == primary), None)

    def next_wakeup(self) -> float | None:
        """When to send the next :class:`Tick` (monotonic seconds); None: wait for events only."""
        times = [self.next_check] if self.phase in (WAIT, RETRY) else []
        if self.expires_at is not None and not self.expired:
            times.append(self.expires_at)
        return min(times) if times else None

    def status(self) -> dict:
        """For ``ctl zone-status``; times in monotonic seconds (the caller converts them)."""
        busy, waiting = self.phase in (QUERY, XFR), self.phase in (WAIT, RETRY)
        return {"zone": self.origin.to_text(), "serial": self.zone.serial if self.zone else None,
                "state": "expired" if self.expired else self.phase,
                "serving": self.zone is not None and not self.expired,
                "primary": self.primaries[self._current].host if busy else None,
                "transfer": self._kind or None, "last_refresh": self.last_refresh,
                "next_check": self.next_check if waiting else None, "expires_at": self.expires_at,
                "last_error": self.last_error}
