"""A 1,000,000-record zone out of ``dns-suite authoritative`` (primary) to a real NSD and a real
Knot secondary at once, on loopback (issue "Replication": "a 1,000,000-record zone transferred too").

What it proves (``test_million_records_to_nsd_and_knot``, slow):

- the zone ``bench/gen_zone.py`` generates (seed 1, 1,000,000 records: A, AAAA, TXT, MX, CNAME,
  delegations with glue) is served by dns-suite as a dynamic zone, transfers allowed with the TSIG
  key ``xfr-key.`` (hmac-sha256) and both secondaries NOTIFYed (``also_notify``, signed);
- NSD (``request-xfr`` + ``allow-notify`` with the key, ``rrl-ratelimit: 0``) and Knot (``master``
  with the key) start with no copy, each transfers the zone by AXFR (both at the same time) and
  within ``SYNC_TIMEOUT`` answers the SOA with the primary's serial;
- an AXFR from each secondary (``kdig``, TSIG checked on every message) holds exactly the records
  an AXFR from the primary holds: the sorted record lines (owners lowercased) have the same count
  and the same SHA-256, and the count is the generator's;
- one signed UPDATE on the primary (a record replaced, one added) reaches both by NOTIFY and IXFR
  (our log, each secondary's log, the IXFR history each then serves) and both serve the changed
  and the new record.

Printed (``-s``), never asserted: the primary's load time and peak RSS (VmHWM after loading, and
during the two transfers: the mark is reset in between), each secondary's time from start to serving the serial, what each
secondary logged of its AXFR, the kdig AXFR times, and the time from the UPDATE to each serving it.
"""

from __future__ import annotations

import importlib.util
import io
import re
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from peers import REPO, free_port
from xfrpeers import (SECONDARIES, Key, Primary, PrimaryZone, canonical_axfr, digest, kdig_axfr, need,
                      secondary_ixfr_evidence, soa_serial, update, wait_for)

pytestmark = pytest.mark.integration

ORIGIN = "large.test."
RECORDS = 1_000_000
SEED = 1  # bench/gen_zone.py's seed: the same zone as the AXFR benchmark's
LOAD_TIMEOUT = 300.0  # seconds for the primary to load the zone and answer
SYNC_TIMEOUT = 600.0  # seconds for both secondaries to serve the primary's serial
UPDATE_TIMEOUT = 120.0  # seconds for both to serve the UPDATE's serial
KDIG_TIMEOUT = 300.0  # seconds for one kdig AXFR of the whole zone


def bench_zone(count: int, origin: str) -> tuple[str, int]:
    """The text of ``bench/gen_zone.py``'s zone and its number of records."""
    spec = importlib.util.spec_from_file_location("gen_zone", REPO / "bench" / "gen_zone.py")
    gen_zone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_zone)
    out = io.StringIO()
    written = gen_zone.write_zone(out, count, origin, seed=SEED)
    return out.getvalue(), written


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set size of ``pid`` (VmHWM) in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)[1]) / 1024


def reset_hwm(pid: int) -> bool:
    """Reset ``pid``'s VmHWM to its current RSS (``clear_refs`` 5, Linux 4.0); False when refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def wait_all_serving(secs: dict, origin: str, serial: int, timeout: float, others) -> dict[str, float]:
    """Poll every secondary of ``secs`` ({kind: secondary}) until all answer ``origin`` SOA with
    ``serial`` (bounded); returns {kind: seconds from now until it was first seen serving it}."""
    t0, seen = time.monotonic(), {}

    def check() -> bool:
        for kind, sec in secs.items():
            if kind not in seen and soa_serial(sec.addr, origin) == serial:
                seen[kind] = time.monotonic() - t0
        return len(seen) == len(secs)

    wait_for(f"{', '.join(secs)} to serve {origin} serial {serial}", check, timeout,
             [*others, *(s.server for s in secs.values())], interval=0.2)
    return seen


def served(addr: tuple[str, int], name: str, rdtype: str) -> set[str]:
    """The rdata texts ``addr`` answers for ``name``/``rdtype`` (over TCP)."""
    reply = dns.query.tcp(dns.message.make_query(name, rdtype), addr[0], port=addr[1], timeout=10)
    assert reply.rcode() == dns.rcode.NOERROR, reply
    return {rd.to_text() for rrset in reply.answer for rd in rrset}


def axfr_log_lines(kind: str, sec, origin: str) -> list[str]:
    """What the secondary logged of its incoming AXFR (Knot: seconds, messages, octets; NSD: the
    serial, octets and seconds)."""
    needle = f"[{origin}] AXFR, incoming" if kind == "knot" else f"zone {origin} received update to serial"
    return [line for line in sec.log_text().splitlines()
            if needle in line and ("finished" in line or kind == "nsd")]


@pytest.mark.slow
def test_million_records_to_nsd_and_knot(tmp_path):
    need("kdig", *(prog for _, progs in SECONDARIES.values() for prog in progs))
    key, upd = Key.new("xfr-key."), Key.new("upd-key.")
    t = time.monotonic()
    text, count = bench_zone(RECORDS, ORIGIN)
    t_gen = time.monotonic() - t
    assert count == RECORDS
    ports = {kind: free_port() for kind in SECONDARIES}
    notify = tuple(f"127.0.0.1:{port} key {key.name}" for port in ports.values())
    p = Primary(tmp_path / "primary", [PrimaryZone(ORIGIN, text, (f"127.0.0.1 key {key.name}",), notify, upd)],
                [upd, key])
    del text
    secs = {kind: cls(tmp_path / kind, [ORIGIN], p.port, key, port=ports[kind])
            for kind, (cls, _) in SECONDARIES.items()}
    try:
        t = time.monotonic()
        p.start(timeout=LOAD_TIMEOUT)
        t_load, rss_loaded = time.monotonic() - t, vm_hwm_mb(p.server.proc.pid)
        serial = soa_serial(p.addr, ORIGIN)
        print(f"\n{count} records generated in {t_gen:.1f} s; dns-suite loaded and serving in {t_load:.1f} s, "
              f"peak RSS {rss_loaded:.0f} MiB")
        hwm_reset = reset_hwm(p.server.proc.pid)
        rss_before = vm_hwm_mb(p.server.proc.pid)

        for sec in secs.values():
            sec.start()
        took = wait_all_serving(secs, ORIGIN, serial, SYNC_TIMEOUT, [p.server])
        rss_xfr = vm_hwm_mb(p.server.proc.pid)
        for kind, sec in secs.items():
            print(f"{kind}: started, transferred and serving serial {serial} after {took[kind]:.1f} s")
            logged = axfr_log_lines(kind, sec, ORIGIN)
            assert logged, sec.log_text()[-3000:]
            for line in logged:
                print(f"    {kind} log: {line}")
        print(f"dns-suite peak RSS {'during the transfers' if hwm_reset else 'since start'}: {rss_xfr:.0f} MiB "
              f"({rss_before:.0f} MiB before them)")
        assert len(p.log_lines(f"AXFR zone={ORIGIN} serial={serial} key={key.name} client=127.0.0.1")) == 2, \
            p.log_text()[-3000:]

        lines, t_ours = kdig_axfr(p.addr, ORIGIN, key, timeout=KDIG_TIMEOUT)
        ours = canonical_axfr(lines)
        del lines
        ours_digest = digest(ours)
        assert len(ours) == RECORDS
        print(f"kdig AXFR from dns-suite: {len(ours)} records in {t_ours:.1f} s, sha256 {ours_digest[:16]}")
        for kind, sec in secs.items():
            lines, t_theirs = kdig_axfr(sec.addr, ORIGIN, key, timeout=KDIG_TIMEOUT)
            theirs = canonical_axfr(lines)
            del lines
            print(f"kdig AXFR from {kind}: {len(theirs)} records in {t_theirs:.1f} s, "
                  f"sha256 {digest(theirs)[:16]}")
            if digest(theirs) != ours_digest:
                a, b = set(ours), set(theirs)
                pytest.fail(f"{kind} differs from dns-suite: {len(theirs)} records vs {len(ours)}; only in "
                            f"dns-suite: {sorted(a - b)[:10]}; only in {kind}: {sorted(b - a)[:10]}")
            del theirs
        del ours

        changes = [("replace", "ns2", 3600, "A", "192.0.2.22"), ("add", "late", 300, "A", "192.0.2.77")]
        assert update(p.addr, ORIGIN, upd, changes, timeout=60) == dns.rcode.NOERROR, p.log_text()[-3000:]
        new_serial = soa_serial(p.addr, ORIGIN)
        assert new_serial == serial + 1
        took = wait_all_serving(secs, ORIGIN, new_serial, UPDATE_TIMEOUT, [p.server])
        for kind, sec in secs.items():
            print(f"{kind}: serving serial {new_serial} {took[kind]:.1f} s after the UPDATE")
            assert served(sec.addr, f"ns2.{ORIGIN}", "A") == {"192.0.2.22"}
            assert served(sec.addr, f"late.{ORIGIN}", "A") == {"192.0.2.77"}
            secondary_ixfr_evidence(kind, sec, p, ORIGIN, [new_serial], key)
    finally:
        for sec in secs.values():
            sec.stop()
        p.stop()
