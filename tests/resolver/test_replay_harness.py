"""Tests of the replay harness itself (rpl.py, replay.py), with tiny fake resolvers only.

The fakes here are throwaway stand-ins for the resolver core, never a resolver: a forwarder
that relays each client query to the hinted server, one that answers SERVFAIL at once, one
that never answers, one that loops, one that crashes.
"""

from __future__ import annotations

import re
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from dns_suite.resolver.actions import Answer, SendQuery
from replay import (Replay, ReplayFailure, build_reply, client_query, mismatches, parse_file,
                    parse_text)
from rpl import ScenarioError, parse_record

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"  # a copy of ../shared/resolver-scenarios with its licences
FILES = sorted(SCENARIO_DIR.glob("*.rpl"))


# --- the parser on the real files ---------------------------------------------------------

def _raw_counts(text: str) -> dict[str, int]:
    """Counts made without the parser: keyword lines and record lines inside SECTIONs."""
    counts = dict.fromkeys(("RANGE_BEGIN", "STEP", "ENTRY_BEGIN", "records"), 0)
    in_section = False
    for line in text.splitlines():
        words = line.split(";")[0].split()  # no ';' inside quotes in the top-level files
        if not words:
            continue
        if words[0] in counts:
            counts[words[0]] += 1
        if words[0] == "SECTION":
            in_section = True
        elif words[0] in ("ENTRY_END", "ENTRY_BEGIN"):
            in_section = False
        elif in_section and re.match(r"[A-Z_]+$", words[0]) is None:
            counts["records"] += 1
    return counts


def test_all_top_level_files_are_there() -> None:
    assert len(FILES) == 26, f"expected the 26 scenarios in {SCENARIO_DIR}, found {len(FILES)}"


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_parser_reads_every_range_step_entry_and_record(path: Path) -> None:
    scenario = parse_file(path)
    raw = _raw_counts(path.read_text())
    entries = [e for r in scenario.ranges for e in r.entries] + [
        s.entry for s in scenario.steps if s.entry is not None]
    records = sum(len(rrsets) for e in entries for rrsets in e.sections.values())
    assert len(scenario.steps) == raw["STEP"] > 0
    assert len(scenario.ranges) == raw["RANGE_BEGIN"]
    assert len(entries) == raw["ENTRY_BEGIN"] > 0
    assert records == raw["records"] > 0
    assert scenario.get("stub-addr") and scenario.description
    assert all(r.addresses and r.entries for r in scenario.ranges)
    assert any(s.kind == "CHECK_ANSWER" for s in scenario.steps)


def test_parser_config_and_range_forms() -> None:
    minmax = parse_file(SCENARIO_DIR / "iter_minmaxttl.rpl")
    assert minmax.features == {"min_ttl": "300", "max_ttl": "600"}
    assert minmax.qname_minimisation is False and minmax.get("do-ip6") == "no"
    replay = Replay(scenario=minmax, resolver_factory=Forwarder)
    assert (replay.settings().min_ttl, replay.settings().max_ttl) == (300, 600)
    assert replay.settings().do_ip6 is False and replay.settings().query_private is True
    timeouted = parse_file(SCENARIO_DIR / "iter_timeouted_ns.rpl")
    assert timeouted.get("stub-addr") == "193.0.14.129"  # '# comment' dropped
    assert timeouted.ranges[0].addresses == {"193.0.14.129"}  # 'RANGE_BEGIN 1 100 addr; root'
    assert [s.elapse for s in timeouted.steps if s.kind == "TIME_PASSES"] == [15.0]
    assert parse_file(SCENARIO_DIR / "iter_tcbit.rpl").uses_step_reply


@pytest.mark.parametrize(("line", "question", "owner", "rdtype", "rdata", "ttl"), [
    ("net\tNS\tm.gtld-servers.net.", False, "net.", "NS", "m.gtld-servers.net.", 3600),
    ("ns.fail.net\t20\tA\t1.1.1.1", False, "ns.fail.net.", "A", "1.1.1.1", 20),
    (".\tNS\tk.root-servers.net", False, ".", "NS", "k.root-servers.net.", 3600),
    ("x. 3600 CH TXT \"a b\" c", False, "x.", "TXT", '"a b" "c"', 3600),
    ("x. IN 60 MX 10 mail", False, "x.", "MX", "10 mail.", 60),
    ("www.example.com. IN ANY", True, "www.example.com.", "ANY", None, 0),
    ("www.example.com. ANY", True, "www.example.com.", "ANY", None, 0),
])
def test_parse_record(line: str, question: bool, owner: str, rdtype: str, rdata: str | None,
                      ttl: int) -> None:
    rrset = parse_record(line, question=question)
    assert (rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype)) == (owner, rdtype)
    assert [r.to_text() for r in rrset] == ([] if rdata is None else [rdata])
    assert rrset.ttl == ttl


IN_ENTRY = "RANGE_BEGIN 0 1 1.1.1.1\nENTRY_BEGIN\n"


@pytest.mark.parametrize(("bad", "message"), [
    ("RANGE_BEGIN 0 x", r"t\.rpl:4: RANGE_BEGIN needs"),
    ("STEP 1 FROBNICATE", r"t\.rpl:4: unsupported step 'FROBNICATE'"),
    (IN_ENTRY + "MATCH qcolour", r"t\.rpl:6: unsupported MATCH 'qcolour'"),
    (IN_ENTRY + "REPLY QR XX", r"t\.rpl:6: unknown flag or code 'XX'"),
    (IN_ENTRY + "SECTION ANSWER\nx. IN A 1.2.3", r"t\.rpl:7: bad record"),
    (IN_ENTRY + "x. IN A 1.2.3.4", r"t\.rpl:6: unexpected 'x. IN A 1.2.3.4' outside a SECTION"),
    ("RANGE_BEGIN 0 1 not-an-ip", r"t\.rpl:4: not an IP address"),
])
def test_parser_rejects_unknown_constructs_with_the_line(bad: str, message: str) -> None:
    text = f"stub-addr: 1.1.1.1\nCONFIG_END\nSCENARIO_BEGIN x\n{bad}\nENTRY_END\nRANGE_END\n"
    with pytest.raises(ScenarioError, match=message):
        parse_text(text + "SCENARIO_END\n", name="t.rpl")


# --- matcher and reply builder --------------------------------------------------------------

ENTRIES = """stub-addr: 1.1.1.1
CONFIG_END
SCENARIO_BEGIN entries
RANGE_BEGIN 0 100 1.1.1.1
ENTRY_BEGIN
MATCH opcode qname qtype
SECTION QUESTION
www.a. IN A
ENTRY_END
ENTRY_BEGIN
MATCH subdomain
SECTION QUESTION
example.com. IN A
ENTRY_END
ENTRY_BEGIN
MATCH TCP question
SECTION QUESTION
x. IN A
ENTRY_END
ENTRY_BEGIN
ENTRY_END
RANGE_END
SCENARIO_END
"""


def _query(name: str, rdtype: str = "A") -> dns.message.Message:
    return dns.message.make_query(name, rdtype)


def _entry(body: str):
    """The entry of a one-entry range with this body."""
    text = f"stub-addr: 1.1.1.1\nCONFIG_END\nSCENARIO_BEGIN e\nRANGE_BEGIN 0 1 1.1.1.1\n" \
           f"ENTRY_BEGIN\n{body}ENTRY_END\nRANGE_END\nSCENARIO_END\n"
    return parse_text(text).ranges[0].entries[0]


def test_matcher() -> None:
    qname_qtype, subdomain, tcp_only, anything = parse_text(ENTRIES).ranges[0].entries
    assert mismatches(qname_qtype, _query("WwW.a.")) == []
    assert mismatches(qname_qtype, _query("www.a.", "AAAA")) == ["qtype: expected A, got AAAA"]
    assert mismatches(qname_qtype, _query("a.")) == ["qname: expected www.a., got a."]
    assert mismatches(subdomain, _query("example.com.", "NS")) == []
    assert mismatches(subdomain, _query("x.y.EXAMPLE.com.")) == []
    assert mismatches(subdomain, _query("com.")) == [
        "subdomain: com. is not at or below example.com."]
    assert mismatches(tcp_only, _query("X."), tcp=True) == []
    assert mismatches(tcp_only, _query("x."), tcp=False) == ["transport: got UDP"]
    assert mismatches(anything, _query("x.", "MX")) == []


def test_matcher_sections_are_multisets_ignoring_ttl_and_owner_case() -> None:
    entry = _entry("MATCH all\nREPLY QR RD RA NOERROR\nSECTION QUESTION\na. IN A\n"
                   "SECTION ANSWER\na. 5 IN A 1.2.3.4\na. IN A 1.2.3.5\n")
    got = dns.message.from_text("id 1\nflags QR RD RA\n;QUESTION\na. IN A\n;ANSWER\n"
                                "A. 99 IN A 1.2.3.5\nA. 99 IN A 1.2.3.4\n")
    assert mismatches(entry, got) == []
    got.flags |= dns.flags.AA
    got.answer = [dns.rrset.from_text("A.", 9, "IN", "A", "1.2.3.5") for _ in range(2)]
    assert mismatches(entry, got) == [
        "answer: missing a. IN A 1.2.3.4; unexpected a. IN A 1.2.3.5",
        "flags: expected 'QR RD RA', got 'QR AA RD RA'"]
    got.set_rcode(dns.rcode.SERVFAIL)
    assert "rcode: expected NOERROR, got SERVFAIL" in mismatches(entry, got)


def test_reply_builder_copy_id_keeps_the_query_case_and_edns() -> None:
    entry = _entry("ADJUST copy_id\nREPLY QR AA TC NXDOMAIN\nSECTION QUESTION\n"
                   "www.example.com. IN A\nSECTION AUTHORITY\n"
                   "example.com. IN SOA a. b. 1 2 3 4 5\n")
    query = dns.message.make_query("wWw.ExAmPlE.cOm.", "A", use_edns=0, want_dnssec=True)
    reply = dns.message.from_wire(build_reply(entry, query))
    assert reply.id == query.id and reply.question[0].name.to_text() == "wWw.ExAmPlE.cOm."
    assert reply.flags & dns.flags.TC and reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.edns == 0 and reply.ednsflags & dns.flags.DO and len(reply.authority) == 1
    assert dns.message.from_wire(build_reply(entry, _query("x."))).edns == -1


def test_reply_builder_copy_query_copies_the_whole_question() -> None:
    entry = _entry("ADJUST copy_id copy_query\nSECTION QUESTION\ncom. IN A\n")
    query = _query("Sub.Example.COM.", "MX")
    reply = dns.message.from_wire(build_reply(entry, query))
    assert reply.question[0].name.to_text() == "Sub.Example.COM."
    assert reply.question[0].rdtype == dns.rdatatype.MX and reply.id == query.id
    unadjusted = _entry("SECTION QUESTION\ncom. IN A\n")
    assert dns.message.from_wire(build_reply(unadjusted, query)).id == 0


def test_client_query_flags_and_edns() -> None:
    step = parse_file(SCENARIO_DIR / "iter_dname_insec.rpl").steps[0]
    msg = dns.message.from_wire(client_query(step.entry, 4242))
    assert msg.id == 4242 and msg.flags == dns.flags.RD and msg.ednsflags & dns.flags.DO
    plain = parse_file(SCENARIO_DIR / "iter_resolve.rpl").steps[0]
    assert dns.message.from_wire(client_query(plain.entry, 1)).edns == -1


# --- the driver, with fake resolvers -------------------------------------------------------

class Forwarder:
    """A fake: relays each client query (qname case flipped, as 0x20 would) to the hinted server,
    retries over TCP on TC, answers the client with the server's answer section; SERVFAIL on a
    timeout. No cache."""

    def __init__(self, settings, hints, *, randbits) -> None:
        self.server, self.randbits = hints.servers[0][1][0], randbits
        self.pending: dict[int, tuple] = {}
        self.clock: list[float] = []

    def submit(self, wire: bytes, client: object, now: float, *, tcp: bool = False) -> list:
        self.clock.append(now)
        query = dns.message.from_wire(wire)
        return [self._send(client, query, tcp=False)]

    def _send(self, client: object, query: dns.message.Message, *, tcp: bool) -> SendQuery:
        q = query.question[0]
        upstream = dns.message.make_query(q.name.to_text().swapcase(), q.rdtype,
                                          id=self.randbits(16))
        upstream.flags = 0
        token = len(self.clock) * 1000 + len(self.pending)
        self.pending[token] = (client, query, upstream)
        return SendQuery(token=token, address=self.server, tcp=tcp, wire=upstream.to_wire(),
                         timeout=1.0)

    def on_response(self, token, reply, now, *, source=None, tcp=False) -> list:
        client, query, upstream = self.pending.pop(token)
        msg = dns.message.from_wire(reply)
        assert source == (self.server, 53) and msg.id == upstream.id
        assert msg.question[0].name.to_text() == upstream.question[0].name.to_text()  # case kept
        if msg.flags & dns.flags.TC and not tcp:
            return [self._send(client, query, tcp=True)]
        return [self._answer(client, query, msg.rcode(), msg.answer)]

    def on_timeout(self, token, now) -> list:
        client, query, _ = self.pending.pop(token)
        return [self._answer(client, query, dns.rcode.SERVFAIL, [])]

    @staticmethod
    def _answer(client, query, rcode, answer) -> Answer:
        msg = dns.message.make_response(query)
        msg.flags |= dns.flags.RA
        msg.set_rcode(rcode)
        msg.answer = answer
        return Answer(client=client, wire=msg.to_wire())


class ServfailAtOnce(Forwarder):
    """A fake whose every answer is an immediate SERVFAIL."""

    def submit(self, wire, client, now, *, tcp=False) -> list:
        return [self._answer(client, dns.message.from_wire(wire), dns.rcode.SERVFAIL, [])]


class Silent(Forwarder):
    """A fake that never answers."""

    def submit(self, wire, client, now, *, tcp=False) -> list:
        return []


class Looper(Forwarder):
    """A fake that asks again after every reply, forever."""

    def on_response(self, token, reply, now, *, source=None, tcp=False) -> list:
        client, query, _ = self.pending.pop(token)
        return [self._send(client, query, tcp=False)]


class Crasher(Forwarder):
    """A fake with a bug."""

    def submit(self, wire, client, now, *, tcp=False) -> list:
        raise NotImplementedError("not yet")


def _steps(*steps: tuple[int, str, str]) -> str:
    """STEP blocks: (number, kind, entry body)."""
    return "".join(f"STEP {n} {kind}\nENTRY_BEGIN\n{body}ENTRY_END\n" for n, kind, body in steps)


def _ask(name: str, rdtype: str = "A") -> str:
    return f"REPLY RD\nSECTION QUESTION\n{name} IN {rdtype}\n"


def _expect(name: str, rdtype: str, rcode: str, *answer: str, match: str = "all") -> str:
    records = "".join(f"{name} IN {rdtype} {rdata}\n" for rdata in answer)
    return (f"MATCH {match}\nREPLY QR RD RA {rcode}\nSECTION QUESTION\n{name} IN {rdtype}\n"
            f"SECTION ANSWER\n{records}")


def _served(rdata: str, *, match: str = "opcode qname qtype") -> str:
    return (f"MATCH {match}\nADJUST copy_id\nREPLY QR AA NOERROR\nSECTION QUESTION\n"
            f"www.example. IN A\nSECTION ANSWER\nwww.example. IN A {rdata}\n")


RANGES = """; a synthetic scenario for the fakes
stub-addr: 10.0.0.1   # the only server
CONFIG_END
SCENARIO_BEGIN every path of the driver
RANGE_BEGIN 0 10 10.0.0.1
ENTRY_BEGIN
MATCH opcode qname qtype UDP
ADJUST copy_id
REPLY QR AA TC NOERROR
SECTION QUESTION
big.example. IN TXT
ENTRY_END
ENTRY_BEGIN
MATCH opcode question TCP
ADJUST copy_id
REPLY QR AA NOERROR
SECTION QUESTION
big.example. IN TXT
SECTION ANSWER
big.example. IN TXT "over tcp"
ENTRY_END
ENTRY_BEGIN
""" + _served("192.0.2.1", match="opcode subdomain") + """ENTRY_END
RANGE_END
RANGE_BEGIN 20 30
ADDRESS 10.0.0.1
ENTRY_BEGIN
MATCH opcode subdomain
ADJUST copy_id do_not_answer
SECTION QUESTION
example. IN A
ENTRY_END
RANGE_END
"""

SCENARIO = RANGES + _steps(
    (1, "QUERY", _ask("www.example.")),
    (2, "CHECK_ANSWER", _expect("www.example.", "A", "NOERROR", "192.0.2.1")),
    (3, "CHECK_OUT_QUERY", "MATCH qname qtype UDP\nSECTION QUESTION\nwww.example. IN A\n"),
    (4, "QUERY", _ask("big.example.", "TXT")),
    (5, "CHECK_ANSWER", _expect("big.example.", "TXT", "NOERROR", '"over tcp"')),
    (20, "QUERY", _ask("www.example.")),
    (21, "CHECK_ANSWER", _expect("www.example.", "A", "SERVFAIL", match="rcode question")),
    (40, "QUERY", _ask("www.example.")),
    (41, "CHECK_ANSWER", _expect("www.example.", "A", "NOERROR", "192.0.2.9")),
) + "STEP 42 TIME_PASSES ELAPSE 5\n" + _steps(
    (43, "QUERY", _ask("www.example.")),
    (44, "CHECK_ANSWER", _expect("www.example.", "A", "NOERROR", "192.0.2.10")),
    (45, "QUERY", _ask("www.example.")),
    (46, "CHECK_ANSWER", _expect("www.example.", "A", "SERVFAIL")),
    (50, "REPLY", _served("192.0.2.9")),
    (51, "REPLY", _served("192.0.2.10")),
) + "SCENARIO_END\n"
"""Every path of the driver: ranges by step and address, TC then TCP, do_not_answer,
CHECK_OUT_QUERY, one-shot STEP REPLY entries (then none left: a timeout), TIME_PASSES."""


def _replay(fake: type, text: str = SCENARIO) -> Replay:
    return Replay(scenario=parse_text(text, name="t.rpl"), resolver_factory=fake)


def test_a_forwarder_passes_every_path() -> None:
    """Ranges by step and address, TC then TCP, do_not_answer, one-shot STEP REPLY, the clock."""
    replay = _replay(Forwarder)
    result = replay.run()
    assert (result.checked, result.steps, result.upstream) == (7, 16, 7)
    assert replay.resolver.clock == [1000.0, 1000.0, 1000.0, 1000.0, 1005.0, 1005.0]


@pytest.mark.parametrize(("fake", "text", "message"), [
    pytest.param(ServfailAtOnce, SCENARIO, r"STEP 2 CHECK_ANSWER .*\n?.*rcode: expected NOERROR, "
                 r"got SERVFAIL", id="servfail-at-once"),
    pytest.param(Silent, SCENARIO, r"STEP 2 CHECK_ANSWER .*: the resolver gave no answer to the "
                 r"client \(STEP 1 QUERY\)", id="silent"),
    pytest.param(Looper, SCENARIO, r"STEP 1 QUERY .*: more than 500 upstream queries", id="loop"),
    pytest.param(Forwarder, SCENARIO.replace("A 192.0.2.10\n", "A 192.0.2.11\n", 1),
                 r"STEP 44 CHECK_ANSWER .*: answer: missing www.example. IN A 192.0.2.11; "
                 r"unexpected www.example. IN A 192.0.2.10", id="wrong-answer"),
    pytest.param(Forwarder, SCENARIO.replace("MATCH qname qtype UDP", "MATCH qname qtype TCP"),
                 r"STEP 3 CHECK_OUT_QUERY .*: no upstream query since the last QUERY matches",
                 id="out-query-missing"),
])
def test_a_broken_resolver_fails_with_an_actionable_message(fake, text, message) -> None:
    with pytest.raises(AssertionError, match=message) as failure:
        _replay(fake, text).run()
    assert isinstance(failure.value, ReplayFailure)
    assert str(failure.value).startswith("t.rpl (qname minimisation on) STEP ")


def test_a_failure_lists_the_upstream_queries_of_the_step() -> None:
    with pytest.raises(ReplayFailure) as failure:
        _replay(Forwarder, SCENARIO.replace('"over tcp"', '"other"', 1)).run()
    text = str(failure.value)
    assert "STEP 5 CHECK_ANSWER" in text and "--- expected" in text and "--- got:" in text
    assert "1. 10.0.0.1#53 UDP BIG.EXAMPLE. TXT [-] -> RANGE line 5, ENTRY line 6" in text
    assert re.search(r"2\. 10\.0\.0\.1#53 TCP BIG\.EXAMPLE\. TXT", text)


def test_servfail_at_once_fails_a_real_file() -> None:
    with pytest.raises(ReplayFailure, match=r"rcode: expected NOERROR, got SERVFAIL"):
        Replay(scenario=parse_file(SCENARIO_DIR / "iter_resolve.rpl"),
               resolver_factory=ServfailAtOnce).run()


def test_a_resolver_without_a_cache_fails_the_ttl_limits() -> None:
    expected = r"iter_minmaxttl.rpl \(qname minimisation off\) STEP 5 CHECK_ANSWER"
    with pytest.raises(ReplayFailure, match=expected):
        Replay(scenario=parse_file(SCENARIO_DIR / "iter_minmaxttl.rpl"),
               resolver_factory=Forwarder).run()


def test_a_resolver_error_says_where_it_happened() -> None:
    with pytest.raises(NotImplementedError) as error:
        _replay(Crasher).run()
    assert "t.rpl (qname minimisation on) STEP 1 QUERY" in "\n".join(error.value.__notes__)
