"""The named cases of issue 3 through ``dig`` and ``kdig`` against ``dns-suite authoritative``.

One server process serves the example zone and one zone per case (tests/integration/zones/, each
file's header says what it exercises). Each case is asked with both tools over UDP with EDNS
(payload 1232), UDP without EDNS, and TCP; the tools' text output is parsed (status, flags,
question, answer, authority, additional, EDNS pseudo-section) and checked against the answer the
issue lists. Then: BADVERS for OPT version 1 before and after the same name was asked with
version 0 (the pre-rendered table must not answer it), and the mixed-case qname echoed byte for
byte (dig, and raw wire with dnspython; kdig lowercases the qname it sends, see below).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import pytest

from peers import CASE_ZONES, Server, TcpClient, missing, start_ours, udp_exchange

pytestmark = [pytest.mark.integration]

TOOLS = ("dig", "kdig")
TRANSPORTS = ("udp-edns1232", "udp-noedns", "tcp")
SOA_TAIL = "2026112901 7200 1800 1209600 300"


def _soa(origin: str) -> str:
    return f"{origin} 300 IN SOA ns1.{origin} hostmaster.{origin} {SOA_TAIL}"


@dataclass(frozen=True)
class Case:
    """A named case: the question and the reply expected (RRs as 'owner ttl class type rdata')."""

    id: str
    qname: str
    qtype: str
    status: str
    aa: bool
    answer: tuple[str, ...] = ()
    authority: tuple[str, ...] = ()
    additional_includes: tuple[str, ...] = ()


CASES = [
    # Wildcards (RFC 4592): only the '*' child of the closest encloser synthesizes.
    Case("wildcard: x.c.d -> NXDOMAIN", "x.c.d.example.org.", "A", "NXDOMAIN", True,
         authority=(_soa("example.org."),)),
    Case("wildcard: x.r.c.d -> NXDOMAIN", "x.r.c.d.example.org.", "A", "NXDOMAIN", True,
         authority=(_soa("example.org."),)),
    Case("wildcard: nope.deep -> NXDOMAIN", "nope.deep.example.org.", "A", "NXDOMAIN", True,
         authority=(_soa("example.org."),)),
    Case("wildcard: x.d -> *.d, owner x.d", "x.d.example.org.", "A", "NOERROR", True,
         answer=("x.d.example.org. 3600 IN A 192.0.2.53",)),
    # The source of synthesis '*.e' is an empty non-terminal: NODATA.
    Case("f.*.e and t.e: anything.e -> NODATA", "anything.e.fstar.test.", "A", "NOERROR", True,
         authority=(_soa("fstar.test."),)),
    # DNAME (RFC 6672), rcode from the end of the chain (RFC 6604).
    Case("DNAME: a.c.d A -> DNAME + CNAME, NXDOMAIN", "a.c.d.campus.test.", "A", "NXDOMAIN", True,
         answer=("c.d.campus.test. 3600 IN DNAME f.d.campus.test.",
                 "a.c.d.campus.test. 3600 IN CNAME a.f.d.campus.test."),
         authority=(_soa("campus.test."),)),
    Case("DNAME: a.c.d CNAME -> not followed", "a.c.d.campus.test.", "CNAME", "NOERROR", True,
         answer=("c.d.campus.test. 3600 IN DNAME f.d.campus.test.",
                 "a.c.d.campus.test. 3600 IN CNAME a.f.d.campus.test.")),
    Case("DNAME: foo.c.d A -> full chain", "foo.c.d.campus.test.", "A", "NOERROR", True,
         answer=("c.d.campus.test. 3600 IN DNAME f.d.campus.test.",
                 "foo.c.d.campus.test. 3600 IN CNAME foo.f.d.campus.test.",
                 "foo.f.d.campus.test. 3600 IN CNAME done.campus.test.",
                 "done.campus.test. 3600 IN A 192.0.2.7")),
    Case("DNAME: c.d DNAME -> the DNAME only", "c.d.campus.test.", "DNAME", "NOERROR", True,
         answer=("c.d.campus.test. 3600 IN DNAME f.d.campus.test.",)),
    # CNAME to a name that does not exist.
    Case("a CNAME b.example., b absent", "a.example.", "A", "NXDOMAIN", True,
         answer=("a.example. 3600 IN CNAME b.example.",), authority=(_soa("example."),)),
    # The topmost cut wins over the occluded one below it.
    Case("delegations foo and bar.foo: x.bar.foo -> foo's NS", "x.bar.foo.deleg.test.", "A",
         "NOERROR", False, authority=("foo.deleg.test. 3600 IN NS ns.foo.deleg.test.",),
         additional_includes=("ns.foo.deleg.test. 3600 IN A 192.0.2.10",)),
    # Referral with A and AAAA glue: both present, over UDP with and without EDNS.
    Case("referral to sub: A and AAAA glue", "x.sub.glue.test.", "A", "NOERROR", False,
         authority=("sub.glue.test. 3600 IN NS ns1.sub.glue.test.",),
         additional_includes=("ns1.sub.glue.test. 3600 IN A 192.0.2.53",
                              "ns1.sub.glue.test. 3600 IN AAAA 2001:db8::53")),
]


# --- running dig/kdig and reading their output ----------------------------------------------

@dataclass
class Output:
    """What dig or kdig printed, parsed."""

    text: str
    status: str
    flags: set[str]
    question: list[list[str]] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)
    authority: list[str] = field(default_factory=list)
    additional: list[str] = field(default_factory=list)
    edns: dict | None = None  # {"version": int, "flags": str, "udp": int}


_SECTION = re.compile(r";; (QUESTION|ANSWER|AUTHORITY|ADDITIONAL) SECTION:")
_DIG_EDNS = re.compile(r"; EDNS: version: (\d+), flags:([^;]*); udp: (\d+)")
_KDIG_EDNS = re.compile(r";; Version: (\d+); flags:([^;]*); UDP size: (\d+) B")


def parse_output(text: str) -> Output:
    """Parse dig's or kdig's text output (both print ';; X SECTION:' blocks)."""
    status = re.search(r"status: ([A-Z0-9]+)", text)
    flags = re.search(r";; [Ff]lags:([a-z ]*);", text)
    assert status and flags, f"no header in the output:\n{text}"
    out = Output(text=text, status=status.group(1), flags=set(flags.group(1).split()))
    m = _DIG_EDNS.search(text) or _KDIG_EDNS.search(text)
    if m:
        out.edns = {"version": int(m.group(1)), "flags": m.group(2).strip(), "udp": int(m.group(3))}
    current = None
    for line in text.splitlines():
        sm = _SECTION.match(line)
        if sm:
            current = sm.group(1).lower()
            continue
        if current is None:
            continue
        if not line.strip() or line.startswith(";; Received") or line.startswith(";; Query time"):
            current = None
            continue
        if current == "question":
            out.question.append(line.lstrip(";").split())
        else:
            getattr(out, current).append(" ".join(line.split()))
    return out


def run_tool(tool: str, server: Server, qname: str, qtype: str, transport: str,
             *extra: str) -> Output:
    """Ask ``server`` with dig or kdig; returns the parsed output."""
    argv = [tool, f"@{server.host}", "-p", str(server.port), "+norec"]
    if tool == "dig":
        argv += ["+time=3", "+tries=1", "+noednsnegotiation"]
    else:
        argv += ["+timeout=3", "+retry=0"]
    if transport == "tcp":
        argv.append("+tcp")
    elif transport == "udp-noedns":
        argv.append("+noedns")
    elif transport == "udp-edns1232":
        argv.append("+bufsize=1232")
    argv += list(extra) + [qname, qtype]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}"
    return parse_output(done.stdout)


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    gone = missing("dig", "kdig") + ([] if shutil.which("dns-suite") else ["dns-suite"])
    if gone:
        pytest.fail(f"not installed (scripts/test installs it): {', '.join(gone)}")
    server = start_ours(CASE_ZONES, tmp_path_factory.mktemp("ours"))
    try:
        yield server
    finally:
        server.stop()


# --- the named cases ------------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_named_case(ours, case, tool, transport):
    out = run_tool(tool, ours, case.qname, case.qtype, transport)
    where = f"{tool} {transport} {case.qname} {case.qtype}:\n{out.text}"
    assert out.status == case.status, where
    assert ("aa" in out.flags) == case.aa, where
    assert "tc" not in out.flags, where
    assert "qr" in out.flags and "rd" not in out.flags and "ra" not in out.flags, where
    assert out.question == [[case.qname, "IN", case.qtype]], where
    assert sorted(out.answer) == sorted(case.answer), where
    assert sorted(out.authority) == sorted(case.authority), where
    for rr in case.additional_includes:
        assert rr in out.additional, where
    if transport == "udp-noedns":
        assert out.edns is None, where
    elif transport == "udp-edns1232" or tool == "dig":  # kdig +tcp sends no OPT by default
        assert out.edns is not None and out.edns["version"] == 0, where


# --- BADVERS --------------------------------------------------------------------------------

@pytest.mark.parametrize("tool,qname", [("dig", "www.example.test."),
                                        ("kdig", "mail.example.test."),
                                        ("dig", "WwW5m.ExAmple.TEST.")])
def test_badvers_before_and_after_version_0(ours, tool, qname):
    """OPT version 1 -> BADVERS (extended rcode 16), question copied, OPT version 0 in the reply
    (RFC 6891 §6.1.3); the same after the name was asked with version 0 (the pre-rendered
    table must not answer a version-1 query)."""
    # kdig lowercases the qname it sends (so its question comes back lowercase).
    sent = qname if tool == "dig" else qname.lower()

    def badvers() -> Output:
        out = run_tool(tool, ours, qname, "A", "udp-edns1232", "+edns=1")
        where = f"{tool} +edns=1 {qname}:\n{out.text}"
        assert out.status == "BADVERS", where
        assert out.question == [[sent, "IN", "A"]], where
        assert out.answer == [] and out.authority == [], where
        assert out.edns is not None and out.edns["version"] == 0, where
        assert "aa" not in out.flags and "tc" not in out.flags, where
        return out

    before = badvers()
    normal = run_tool(tool, ours, qname, "A", "udp-edns1232", "+edns=0")
    assert normal.status == "NOERROR" and normal.answer, normal.text
    normal_again = run_tool(tool, ours, qname, "A", "udp-edns1232")
    assert normal_again.answer == normal.answer
    after = badvers()
    assert (after.status, after.flags, after.question, after.edns) == \
        (before.status, before.flags, before.question, before.edns)
    tcp = run_tool(tool, ours, qname, "A", "tcp", "+edns=1")
    assert tcp.status == "BADVERS" and tcp.question == [[sent, "IN", "A"]], tcp.text


def _query_wire(qname: str, qtype: int, qid: int, edns_version: int | None) -> bytes:
    out = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0 if edns_version is None else 1)
    out += dns.name.from_text(qname).to_wire() + struct.pack("!HH", qtype, 1)
    if edns_version is not None:
        out += b"\0" + struct.pack("!HHBBHH", 41, 1232, 0, edns_version, 0, 0)
    return out


def test_badvers_raw_wire(ours):
    """The same on the wire: rcode 16 split between the header and the OPT TTL, question copied."""
    with TcpClient(ours.addr) as tcp:
        for version in (1, 0, 1, 255):
            for transport in ("udp", "tcp"):
                q = _query_wire("FtP.example.test.", 1, 4000 + version, version)
                raw = udp_exchange(ours.addr, q) if transport == "udp" else tcp.exchange(q)
                assert raw is not None
                msg = dns.message.from_wire(raw)
                assert raw[12:12 + len(q) - 12 - 11] == q[12:len(q) - 11]  # question, byte for byte
                if version:
                    assert msg.rcode() == dns.rcode.BADVERS and raw[3] & 0x0F == 0
                    assert msg.edns == 0 and not msg.answer
                else:
                    assert msg.rcode() == dns.rcode.NOERROR and msg.answer


# --- mixed case -----------------------------------------------------------------------------

MIXED = "WwW.ExAmPlE.TeSt."


def test_mixed_case_question_echoed_by_dig(ours):
    """dig sends the qname as typed: the question comes back byte for byte (RFC 4343 §4.1),
    also after the same name was asked in lowercase (a pre-rendered reply is patched)."""
    run_tool("dig", ours, MIXED.lower(), "A", "udp-edns1232")
    for transport in TRANSPORTS:
        for name in (MIXED, "wWw.eXaMpLe.tEsT.", MIXED):
            out = run_tool("dig", ours, name, "A", transport)
            where = f"dig {transport} {name}:\n{out.text}"
            assert out.question == [[name, "IN", "A"]], where
            assert out.status == "NOERROR" and "aa" in out.flags, where
            assert [rr.split()[0] for rr in out.answer] == [name], where


def test_mixed_case_with_kdig(ours):
    """kdig lowercases the qname before sending it (checked here on its own output), so with kdig
    the case can only be seen to come back as sent."""
    for transport in TRANSPORTS:
        out = run_tool("kdig", ours, MIXED, "A", transport)
        assert out.question == [[MIXED.lower(), "IN", "A"]], out.text
        assert out.status == "NOERROR" and out.answer == ["www.example.test. 3600 IN A 192.0.2.80"]


@pytest.mark.parametrize("edns", [None, 0])
def test_mixed_case_question_raw_wire(ours, edns):
    """The question section octets of the reply equal the query's, over UDP and TCP, whatever
    case was asked before; several names and types, including a NXDOMAIN and a referral."""
    names = ["WwW.ExAmPlE.TeSt.", "X.d.EXAMPLE.org.", "NoPe.DeEp.example.ORG.",
             "A.C.d.CAMPUS.test.", "x.SUB.glue.TEST.", "aNyThInG.E.fstar.test.",
             "ThIs.Is.NoT.sErVeD."]
    with TcpClient(ours.addr) as tcp:
        qid = 100
        for name in names:
            for variant in (name.lower(), name, name.upper(), name):
                for transport in ("udp", "tcp"):
                    qid += 1
                    q = _query_wire(variant, 1, qid, edns)
                    qend = 12 + len(dns.name.from_text(variant).to_wire()) + 4
                    raw = udp_exchange(ours.addr, q) if transport == "udp" else tcp.exchange(q)
                    assert raw is not None, (variant, transport)
                    assert raw[:2] == q[:2]
                    assert raw[12:qend] == q[12:qend], (variant, transport, raw[12:qend])
                    msg = dns.message.from_wire(raw)
                    assert msg.flags & dns.flags.QR
