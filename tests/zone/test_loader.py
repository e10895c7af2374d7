"""The zone snapshot, the named-checkzone checks and ``dns-suite check-zone``."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from dns_suite.wire.name import Name
from dns_suite.zone.loader import check_zone_main, load_zone, zone_to_text

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "zones" / "example.test.zone"
HEAD = "$ORIGIN x.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"

# (case, body after HEAD, expected [(severity, line, reason substring)], loads)
CASES = [
    ("clean", "www A 192.0.2.2\n", [], True),
    ("cname beside data", "foo CNAME bar\nfoo A 192.0.2.3\n",
     [("error", 7, "CNAME and other data")], False),
    ("data beside cname", "foo A 192.0.2.3\nfoo CNAME bar\n",
     [("error", 7, "CNAME and other data")], False),
    ("two cnames", "foo CNAME bar\nfoo CNAME baz\n", [("error", 7, "more than one CNAME")], False),
    ("cname with rrsig is fine", "foo CNAME bar\nfoo RRSIG A 8 2 60 20300101000000 "
     "20200101000000 1 x.test. AAAA\n", [], True),
    ("below dname", "d DNAME y.test.\nq.d A 192.0.2.1\n", [("error", 7, "below the DNAME")], False),
    ("occluded below cut", "sub NS ns.sub\nns.sub A 192.0.2.9\ntxt.sub TXT x\n",
     [("warning", 8, "below the zone cut")], True),
    ("occluded at cut", "sub NS ns.sub\nsub TXT x\nns.sub A 192.0.2.9\n",
     [("warning", 7, "at a zone cut")], True),  # the occluded TXT RRset's own line
    ("missing glue", "sub NS ns.sub\n", [("error", 6, "has no glue")], False),
    ("in-zone target without address", "sub NS ns9\n", [("error", 6, "has no address records")],
     False),
    ("out-of-zone data", "other.test. A 192.0.2.1\n", [("warning", 6, "out-of-zone")], True),
    ("ttl differs", "w 30 A 192.0.2.1\nw 60 A 192.0.2.2\n", [("warning", 7, "TTL 60 differs")],
     True),
    ("duplicate collapsed", "w A 192.0.2.1\nw A 192.0.2.1\n", [("warning", 7, "duplicate")], True),
    ("soa not at apex", "sub SOA ns h 1 2 3 4 5\n", [("error", 6, "not at the apex")], False),
    ("syntax error", "www A 192.0.2.300\n", [("error", 6, "bad IPv4")], False),
]


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "x.test.zone"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case,body,expected,loads", CASES, ids=[c[0] for c in CASES])
def test_checks(tmp_path, case, body, expected, loads):
    result = load_zone("x.test.", _write(tmp_path, HEAD + body))
    got = [(p.severity, p.line, p.reason) for p in result.problems]
    assert len(got) == len(expected), got
    for (sev, line, reason), (gsev, gline, greason) in zip(expected, got):
        assert (gsev, gline) == (sev, line) and reason in greason, got
    assert (result.zone is not None) == loads


def test_missing_soa_and_ns(tmp_path):
    result = load_zone("x.test.", _write(tmp_path, "$TTL 60\nwww.x.test. A 192.0.2.1\n"))
    reasons = " | ".join(p.reason for p in result.errors)
    assert "no SOA" in reasons and "no NS" in reasons and result.zone is None


def test_snapshot_structure(tmp_path):
    body = ("sub NS ns.sub\nns.sub A 192.0.2.9\nd DNAME y.test.\na.b.c TXT deep\n"
            "*.w A 192.0.2.7\n")
    zone = load_zone("x.test.", _write(tmp_path, HEAD + body)).zone
    key = lambda t: Name.from_text(t).key  # noqa: E731
    assert zone.cuts == {key("sub.x.test.")}
    assert zone.dnames == {key("d.x.test.")}
    assert zone.ents == {key("b.c.x.test."), key("c.x.test."), key("w.x.test.")}
    assert zone.exists(key("c.x.test.")) and not zone.exists(key("nope.x.test."))
    assert zone.get(key("ns.x.test."), 1).rdatas == (bytes([192, 0, 2, 1]),)
    assert zone.serial == 1 and zone.record_count() == 8


def test_example_zone_loads_clean():
    result = load_zone("example.test.", str(EXAMPLE))
    assert result.zone is not None and result.problems == ()


def test_print_round_trips(tmp_path):
    zone = load_zone("example.test.", str(EXAMPLE)).zone
    printed = "".join(zone_to_text(zone))
    again = load_zone("example.test.", _write(tmp_path, printed)).zone
    assert "".join(zone_to_text(again)) == printed
    assert again.record_count() == zone.record_count()


def test_check_zone_exit_codes(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    assert check_zone_main("example.test.", str(EXAMPLE), out=out, err=err) == 0
    assert "loaded serial 2026112901" in out.getvalue()
    bad = _write(tmp_path, HEAD + "www A 192.0.2.300\n")
    out, err = io.StringIO(), io.StringIO()
    assert check_zone_main("x.test.", bad, out=out, err=err) == 1
    assert f"{bad}:6: error: bad IPv4 address" in err.getvalue()


def test_unreadable_file(tmp_path):
    result = load_zone("x.test.", str(tmp_path / "missing.zone"))
    assert result.zone is None and "cannot read" in result.errors[0].reason


def test_cli_check_zone_print():
    run = subprocess.run(["dns-suite", "check-zone", "example.test.", str(EXAMPLE), "--print"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].split("\t")[3] == "SOA"


PEERS = [("nsd-checkzone", ["nsd-checkzone", "example.test.", str(EXAMPLE)]),
         ("kzonecheck", ["kzonecheck", "-o", "example.test.", str(EXAMPLE)])]


@pytest.mark.integration
@pytest.mark.parametrize("tool,cmd", PEERS, ids=[p[0] for p in PEERS])
def test_example_zone_clean_under_peers(tool, cmd):
    assert shutil.which(tool), f"{tool} missing: scripts/test installs it"
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.integration
def test_printed_zone_accepted_by_nsd(tmp_path):
    zone = load_zone("example.test.", str(EXAMPLE)).zone
    path = _write(tmp_path, "".join(zone_to_text(zone)))
    run = subprocess.run(["nsd-checkzone", "example.test.", path], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_syntax_error_reported_with_its_line(tmp_path):
    body = "bad A 192.0.2.999\nbad2 AAAA zz\nok A 192.0.2.7\nbad3 MX x\n$INCLUDE missing.inc\n"
    result = load_zone("x.test.", _write(tmp_path, HEAD + body))
    assert [(p.line, p.reason.split(":")[0]) for p in result.errors] == [
        (6, "bad IPv4 address '192.0.2.999'"), (7, "bad IPv6 address 'zz'"), (9, "MX needs 2 fields, got 1"),
        (10, "$INCLUDE missing.inc")]
    assert result.zone is None


def test_non_utf8_octets_are_kept(tmp_path):
    path = tmp_path / "x.test.zone"
    path.write_bytes(HEAD.encode() + b'txt TXT "caf\xe9"\n')
    zone = load_zone("x.test.", str(path)).zone
    assert zone.get(Name.from_text("txt.x.test.").key, 16).rdatas == (b"\x04caf\xe9",)


def test_rdata_over_65535_octets_refused(tmp_path):
    text = HEAD + "big TXT " + " ".join(['"' + "x" * 255 + '"'] * 300) + "\n"
    result = load_zone("x.test.", _write(tmp_path, text))
    assert result.zone is None and "max 65535" in result.errors[0].reason and result.errors[0].line == 6


def test_generate_total_is_capped(tmp_path, monkeypatch):
    from dns_suite.zone import reader
    monkeypatch.setattr(reader, "MAX_GENERATE", 10)
    text = HEAD + "$GENERATE 1-6 a$ A 192.0.2.$\n$GENERATE 1-6 b$ A 192.0.2.$\n"
    result = load_zone("x.test.", _write(tmp_path, text))
    assert result.zone is None and "more than 10 records" in result.errors[0].reason
