"""The secondary zone machine (dns_suite.authoritative.secondary): tables of events at given times
and the actions expected (Log lines left out), no sockets, time as numbers."""

from __future__ import annotations

import pytest

from dns_suite.authoritative.secondary import (
    Expire, Log, NotifyReceived, Primary, Publish, QuerySoa, RetransferRequested, Secondary, SoaReply,
    Start, StartTransfer, Tick, TransferDone, TransferFailed,
)
from dns_suite.wire.name import Name
from dns_suite.zone.diff import Diff
from dns_suite.zone.model import ZoneBuilder
from dns_suite.zone.reader import ZoneReader

ORIGIN = Name.from_text("example.test.")
P = (Primary(host="192.0.2.1"), Primary(host="192.0.2.2", port=5353, key_name=Name.from_text("k.")))
REFRESH, RETRY, EXPIRE = 3600, 600, 86400


def make_zone(serial: int, extra: str = ""):
    text = (f"$TTL 300\n@ SOA ns1 hostmaster {serial} {REFRESH} {RETRY} {EXPIRE} 300\n@ NS ns1\n"
            f"ns1 A 192.0.2.53\n{extra}")
    builder = ZoneBuilder(ORIGIN)
    for rec in ZoneReader(ORIGIN, file="test").records(text.splitlines()):
        builder.add(*rec)
    zone, problems = builder.build()
    assert zone is not None, problems
    return zone


Z1, Z2, Z3 = make_zone(1), make_zone(2), make_zone(3)
Z1B = make_zone(1, "again A 192.0.2.9\n")  # serial 1 again (an AXFR after ctl retransfer)
ZMAX = make_zone(0xFFFFFFFF)
D12 = (Diff(serial_from=1, serial_to=2, removed=(), added=()),)


def q(i):
    return QuerySoa(index=i, primary=P[i])


def x(i, kind, serial):
    return StartTransfer(index=i, primary=P[i], kind=kind, serial=serial)


def soa(i, serial, error=""):
    return SoaReply(primary=i, serial=serial, error=error)


def done(i, zone, diffs=None):
    return TransferDone(primary=i, zone=zone, octets=1234, diffs=diffs)


def failed(i, reason="connection refused"):
    return TransferFailed(primary=i, reason=reason)


TICK = Tick()
LOADED = [(0, Start(zone=Z1), [Publish(zone=Z1, save=False), q(0)]), (1, soa(0, 1), [])]
ALL_FAIL = [(0, Start(zone=Z1), [Publish(zone=Z1, save=False), q(0)]),
            (1, soa(0, None, "timeout"), [q(1)]), (2, soa(1, None, "timeout"), [])]
UNTIL_EXPIRE = ALL_FAIL + [
    (601, TICK, []), (602, TICK, [q(0)]), (603, soa(0, None, "timeout"), [q(1)]),
    (604, soa(1, None, "refused"), []),
    (86399, TICK, [q(0)]), (86399.5, soa(0, None, "timeout"), [q(1)]),
    (86399.7, soa(1, None, "timeout"), []), (86400, TICK, [Expire()]), (86401, TICK, []),
]

# (case id, steps: [(now, event, expected actions without Log)])
CASES = [
    ("initial-axfr-no-zone", [
        (0, Start(zone=None), [x(0, "AXFR", None)]),
        (5, done(0, Z1), [Publish(zone=Z1)]),
        (3604, TICK, []), (3605, TICK, [q(0)]),
    ]),
    ("refresh-timer-higher-serial-ixfr", LOADED + [
        (3600, TICK, []), (3601, TICK, [q(0)]), (3602, soa(0, 2), [x(0, "IXFR", 1)]),
        (3603, done(0, Z2, D12), [Publish(zone=Z2, diffs=D12)]),
    ]),
    ("ixfr-failure-axfr-fallback", LOADED + [
        (3601, TICK, [q(0)]), (3602, soa(0, 2), [x(0, "IXFR", 1)]),
        (3603, failed(0, "IXFR does not apply"), [x(0, "AXFR", 1)]),
        (3604, done(0, Z2), [Publish(zone=Z2)]),
    ]),
    ("axfr-fallback-fails-next-primary", LOADED + [
        (3601, TICK, [q(0)]), (3602, soa(0, 3), [x(0, "IXFR", 1)]),
        (3603, failed(0), [x(0, "AXFR", 1)]), (3604, failed(0), [q(1)]),
        (3605, soa(1, 3), [x(1, "IXFR", 1)]), (3606, done(1, Z3), [Publish(zone=Z3)]),
    ]),
    ("primary-1-fails-primary-2", [
        (0, Start(zone=Z1), [Publish(zone=Z1, save=False), q(0)]),
        (1, soa(0, None, "timeout"), [q(1)]), (2, soa(1, 2), [x(1, "IXFR", 1)]),
        (3, done(1, Z2, D12), [Publish(zone=Z2, diffs=D12)]),
    ]),
    ("all-fail-retry-timer", ALL_FAIL + [(601, TICK, []), (602, TICK, [q(0)])]),
    ("no-zone-all-fail-retry", [
        (0, Start(zone=None), [x(0, "AXFR", None)]), (1, failed(0), [x(1, "AXFR", None)]),
        (2, failed(1), []), (61, TICK, []), (62, TICK, [x(0, "AXFR", None)]),
    ]),
    ("no-success-until-expire", UNTIL_EXPIRE),
    ("success-after-expire-same-serial", UNTIL_EXPIRE + [
        (87000, TICK, [q(0)]), (87001, soa(0, 1), [Publish(zone=Z1, save=False)]),
    ]),
    ("success-after-expire-transfer", UNTIL_EXPIRE + [
        (87000, TICK, [q(0)]), (87001, soa(0, 2), [x(0, "IXFR", 1)]),
        (87002, done(0, Z2), [Publish(zone=Z2)]),
    ]),
    ("notify-immediate-soa-query", LOADED + [
        (100, NotifyReceived(primary="192.0.2.2"), [q(1)]), (100.1, soa(1, 1), []),
        (100.2, NotifyReceived(primary=0), []),  # rate-limited: the check moves to 100.5
        (100.4, TICK, []), (100.5, TICK, [q(0)]),
    ]),
    ("notify-unknown-source-ignored", LOADED + [(100, NotifyReceived(primary="198.51.100.1"), [])]),
    ("notify-during-transfer-checks-after", LOADED + [
        (3601, TICK, [q(0)]), (3602, soa(0, 2), [x(0, "IXFR", 1)]),
        (3603, NotifyReceived(primary=0), []), (3604, done(0, Z2), [Publish(zone=Z2), q(0)]),
        (3605, soa(0, 3), [x(0, "IXFR", 2)]),
    ]),
    ("lower-serial-no-transfer", [
        (0, Start(zone=Z2), [Publish(zone=Z2, save=False), q(0)]), (1, soa(0, 1), []),
        (3600, TICK, []), (3601, TICK, [q(0)]),
    ]),
    ("equal-serial-refreshed", LOADED + [(3601, TICK, [q(0)]), (3602, soa(0, 1), [])]),
    ("serial-wraps-rfc1982", [
        (0, Start(zone=ZMAX), [Publish(zone=ZMAX, save=False), q(0)]),
        (1, soa(0, 1), [x(0, "IXFR", 0xFFFFFFFF)]), (2, done(0, Z1), [Publish(zone=Z1)]),
    ]),
    ("retransfer-forces-axfr", LOADED + [
        (50, RetransferRequested(), [x(0, "AXFR", 1)]), (51, done(0, Z1B), [Publish(zone=Z1B)]),
        (3650, TICK, []), (3651, TICK, [q(0)]),
    ]),
    ("retransfer-during-query", [
        (0, Start(zone=Z1), [Publish(zone=Z1, save=False), q(0)]),
        (1, RetransferRequested(), []), (2, soa(0, 1), [x(0, "AXFR", 1)]),
        (3, failed(0), [x(1, "AXFR", 1)]), (4, done(1, Z1B), [Publish(zone=Z1B)]),
    ]),
    ("up-to-date-ixfr-no-publish", LOADED + [
        (3601, TICK, [q(0)]), (3602, soa(0, 2), [x(0, "IXFR", 1)]), (3603, done(0, Z1), []),
    ]),
    ("older-transfer-kept-ours", [
        (0, Start(zone=Z2), [Publish(zone=Z2, save=False), q(0)]), (1, soa(0, 3), [x(0, "IXFR", 2)]),
        (2, done(0, Z1), []),
    ]),
    ("stale-replies-ignored", [
        (0, Start(zone=Z1), [Publish(zone=Z1, save=False), q(0)]),
        (1, soa(1, 5), []), (2, done(0, Z2), []), (3, failed(0), []), (4, soa(0, 1), []),
    ]),
    ("old-copy-expired-at-start", [
        (0, Start(zone=Z1, age=EXPIRE + 1), [q(0), Expire()]),
        (1, soa(0, 1), [Publish(zone=Z1, save=False)]),
    ]),
    ("copy-age-shortens-expiry", [
        (0, Start(zone=Z1, age=EXPIRE - 100), [Publish(zone=Z1, save=False), q(0)]),
        (1, soa(0, None), [q(1)]), (2, soa(1, None), []), (100, TICK, [Expire()]),
    ]),
    ("events-before-start-ignored", [
        (0, TICK, []), (1, soa(0, 3), []), (2, Start(zone=None), [x(0, "AXFR", None)]),
    ]),
]


@pytest.mark.parametrize(("case", "steps"), CASES, ids=[c[0] for c in CASES])
def test_sequences(case, steps):
    sec = Secondary(ORIGIN, P)
    for n, (now, event, expected) in enumerate(steps):
        got = [a for a in sec.step(event, now) if not isinstance(a, Log)]
        assert got == expected, f"step {n} at {now}: {event}"


def run(steps) -> Secondary:
    sec = Secondary(ORIGIN, P)
    for now, event, _ in steps:
        sec.step(event, now)
    return sec


def test_next_wakeup():
    sec = Secondary(ORIGIN, P)
    assert sec.next_wakeup() is None
    sec.step(Start(zone=Z1), 0)
    assert sec.next_wakeup() == EXPIRE  # a query in flight: only the expiry
    sec.step(soa(0, 1), 1)
    assert sec.next_wakeup() == 1 + REFRESH
    sec = run(ALL_FAIL)
    assert sec.next_wakeup() == 2 + RETRY
    sec = run(UNTIL_EXPIRE)
    assert sec.next_wakeup() == 86399.7 + RETRY  # expired: the retry timer only


def test_status():
    sec = run(LOADED)
    st = sec.status()
    assert st == {"zone": "example.test.", "serial": 1, "state": "wait", "serving": True,
                  "primary": None, "transfer": None, "last_refresh": 1, "next_check": 1 + REFRESH,
                  "expires_at": 1 + EXPIRE, "last_error": ""}
    sec.step(TICK, 3601)
    sec.step(soa(0, 2), 3602)
    st = sec.status()
    assert st["state"] == "transfer" and st["primary"] == "192.0.2.1" and st["transfer"] == "IXFR"
    st = run(UNTIL_EXPIRE).status()
    assert st["state"] == "expired" and not st["serving"] and "timeout" in st["last_error"]


def test_logs_say_why():
    sec = Secondary(ORIGIN, P)
    sec.step(Start(zone=Z1), 0)
    logs = [a for a in sec.step(soa(0, None, "timeout"), 1) if isinstance(a, Log)]
    assert logs and logs[0].level == "warning" and "192.0.2.1" in logs[0].text and "timeout" in logs[0].text


def test_no_primaries_is_a_config_error():
    with pytest.raises(ValueError):
        Secondary(ORIGIN, ())
