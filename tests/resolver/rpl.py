"""Deckard/Unbound ``.rpl`` resolver scenarios: frozen values, the parser, entries as messages.

The subset parsed is the one ``shared/resolver-scenarios/README.md`` describes: ``key: value``
config lines up to CONFIG_END, then SCENARIO_BEGIN, RANGE_BEGIN/ADDRESS/ENTRY.../RANGE_END and
STEP n QUERY|CHECK_ANSWER|TIME_PASSES ELAPSE s|REPLY|CHECK_OUT_QUERY, up to SCENARIO_END; ``;``
starts a comment anywhere (outside double quotes), ``#`` too in a config value. An ENTRY holds
MATCH, ADJUST, REPLY (or its old spelling FLAGS), SECTION and record lines in zone-file syntax
(``owner [ttl] [class] type rdata``; TTL 3600 and class IN when left out; names relative to
``$ORIGIN``, the root unless set), and MANDATORY (Deckard: the entry must have answered at least
one query by the end of the scenario; val_cname_to_unsigned uses it for the DS query that proves
an unsigned delegation). Records become dnspython RRsets, one record each: dnspython is
the test oracle here, never the code under test. Anything else is a ScenarioError naming the
file and line, so an unknown construct is noticed rather than skipped.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.ttl

DEFAULT_TTL = 3600
"""TTL of a record line that gives none (Deckard's and ldns's default), seconds."""

HEADER_FLAGS = {"QR", "AA", "TC", "RD", "RA", "AD", "CD"}
MATCH_FIELDS = {"opcode", "qtype", "qname", "subdomain", "flags", "rcode", "answer", "authority",
                "additional", "TCP", "UDP"}
MATCH_GROUPS = {"all": ("opcode", "qtype", "qname", "flags", "rcode", "answer", "authority",
                        "additional"), "question": ("qname", "qtype")}
ADJUSTS = {"copy_id", "copy_query", "do_not_answer"}
SECTIONS = ("QUESTION", "ANSWER", "AUTHORITY", "ADDITIONAL")
ENTRY_STEPS = {"QUERY", "CHECK_ANSWER", "REPLY", "CHECK_OUT_QUERY"}
TIME_FORMAT = "%Y%m%d%H%M%S"


class ScenarioError(ValueError):
    """The scenario file is malformed or uses a construct the harness does not know."""


# --- the parsed scenario --------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One ENTRY_BEGIN..ENTRY_END block; ``sections`` maps QUESTION/ANSWER/... to RRsets;
    ``mandatory``: it must be used at least once (MANDATORY)."""

    line: int
    match: frozenset[str] | None
    adjust: frozenset[str]
    flags: int
    do: bool
    rcode: int | None
    opcode: int
    sections: dict[str, tuple[dns.rrset.RRset, ...]]
    mandatory: bool = False

    @property
    def question(self) -> dns.rrset.RRset | None:
        """The first QUESTION record, or None."""
        return self.sections["QUESTION"][0] if self.sections["QUESTION"] else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Range:
    """A simulated server: live for steps ``first..last``, answering for ``addresses``."""

    line: int
    first: int
    last: int
    addresses: frozenset[str]
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One STEP: ``kind`` is QUERY, CHECK_ANSWER, TIME_PASSES, REPLY or CHECK_OUT_QUERY."""

    line: int
    number: int
    kind: str
    entry: Entry | None = None
    elapse: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A whole file: config ``(key, value)`` pairs in order, then ranges and steps."""

    name: str
    description: str
    config: tuple[tuple[str, str], ...]
    ranges: tuple[Range, ...]
    steps: tuple[Step, ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        """The last value of a config key, quotes stripped."""
        values = [v.strip("\"'") for k, v in self.config if k == key]
        return values[-1] if values else default

    @property
    def features(self) -> dict[str, str]:
        """``features: k = v`` lines (several allowed; ``;``-separated items are not supported)."""
        pairs = (v.partition("=") for k, v in self.config if k == "features")
        return {k.strip(): v.strip() for k, _, v in pairs}

    @property
    def qname_minimisation(self) -> bool | None:
        """The file's ``query-minimization`` (None: the file works both ways)."""
        value = self.get("query-minimization")
        return None if value is None else yes(value)

    @property
    def trust_anchors(self) -> tuple[str, ...]:
        """Every ``trust-anchor`` value (DS or DNSKEY record text), quotes stripped."""
        return tuple(v.strip().strip("\"'").strip() for k, v in self.config if k == "trust-anchor")

    @property
    def validation_time(self) -> int | None:
        """``val-override-date`` (YYYYMMDDHHMMSS, UTC) as seconds since the epoch, or None."""
        value = self.get("val-override-date")
        if value is None:
            return None
        when = datetime.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
        return int(when.timestamp())

    @property
    def uses_step_reply(self) -> bool:
        """Whether upstream answers are scripted as one-shot STEP REPLY entries."""
        return any(step.kind == "REPLY" for step in self.steps)


def yes(text: str) -> bool:
    """A config boolean: yes, on, true or 1 (any case)."""
    return text.lower() in ("yes", "on", "true", "1")


# --- the parser ---------------------------------------------------------------------------

def _strip_comment(line: str) -> str:
    """The line without a ``;`` comment (outside double quotes), stripped."""
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            return line[:i].strip()
    return line.strip()


class _Lines:
    """A cursor over the non-empty, comment-free lines of a file."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        raw = ((no, _strip_comment(line)) for no, line in enumerate(text.splitlines(), 1))
        self.lines = [(no, line) for no, line in raw if line]
        self.pos = 0

    def next(self, what: str) -> tuple[int, str, list[str]]:
        """The next line as (number, text, words); ScenarioError at the end of the file."""
        if self.pos >= len(self.lines):
            raise ScenarioError(f"{self.name}: end of file while looking for {what}")
        no, line = self.lines[self.pos]
        self.pos += 1
        return no, line, line.split()

    def error(self, line: int, message: str) -> ScenarioError:
        return ScenarioError(f"{self.name}:{line}: {message}")


def parse_file(path: Path | str) -> Scenario:
    """Parse one ``.rpl`` file. Raises ScenarioError naming the file and line."""
    path = Path(path)
    return parse_text(path.read_text(encoding="utf-8"), name=path.name)


def parse_text(text: str, *, name: str = "<scenario>") -> Scenario:
    """Parse the text of a scenario (see :func:`parse_file`)."""
    cur = _Lines(name, text)
    config = []
    while True:
        no, line, words = cur.next("CONFIG_END")
        if words[0] == "CONFIG_END":
            break
        key, sep, value = line.partition(":")
        if not sep:
            raise cur.error(no, f"config line is not 'key: value': {line!r}")
        config.append((key.strip(), value.partition("#")[0].strip()))
    no, line, words = cur.next("SCENARIO_BEGIN")
    if words[0] != "SCENARIO_BEGIN":
        raise cur.error(no, f"expected SCENARIO_BEGIN, got {line!r}")
    description = line[len("SCENARIO_BEGIN"):].strip()
    ranges, steps = [], []
    while True:
        no, line, words = cur.next("SCENARIO_END")
        if words[0] == "SCENARIO_END":
            return Scenario(name=name, description=description, config=tuple(config),
                            ranges=tuple(ranges), steps=tuple(steps))
        if words[0] == "RANGE_BEGIN":
            ranges.append(_parse_range(cur, no, words))
        elif words[0] == "STEP":
            steps.append(_parse_step(cur, no, words))
        else:
            raise cur.error(no, f"expected RANGE_BEGIN, STEP or SCENARIO_END, got {line!r}")


def _parse_range(cur: _Lines, start: int, words: list[str]) -> Range:
    if len(words) < 3 or not (words[1].isdigit() and words[2].isdigit()):
        raise cur.error(start, "RANGE_BEGIN needs <from> <to> [address]")
    first, last = int(words[1]), int(words[2])
    addresses, entries = [_address(cur, start, w) for w in words[3:]], []
    while True:
        no, line, words = cur.next("RANGE_END")
        if words[0] == "RANGE_END":
            return Range(line=start, first=first, last=last, addresses=frozenset(addresses),
                         entries=tuple(entries))
        if words[0] == "ADDRESS" and len(words) == 2:
            addresses.append(_address(cur, no, words[1]))
        elif words[0] == "ENTRY_BEGIN":
            entries.append(_parse_entry(cur, no))
        else:
            raise cur.error(no, f"expected ADDRESS, ENTRY_BEGIN or RANGE_END, got {line!r}")


def normal_address(text: str) -> str:
    """An IP address in its normal text form (so ``::1`` and ``0::1`` compare equal).

    Raises:
        ValueError: ``text`` is not an IPv4 or IPv6 address.
    """
    return ipaddress.ip_address(text).compressed


def _address(cur: _Lines, line: int, text: str) -> str:
    try:
        return normal_address(text)
    except ValueError:
        raise cur.error(line, f"not an IP address: {text!r}") from None


def _parse_step(cur: _Lines, start: int, words: list[str]) -> Step:
    if len(words) < 3 or not words[1].isdigit():
        raise cur.error(start, "STEP needs <number> <kind>")
    number, kind = int(words[1]), words[2]
    if kind == "TIME_PASSES":
        if len(words) != 5 or words[3] != "ELAPSE":
            raise cur.error(start, "expected STEP n TIME_PASSES ELAPSE <seconds>")
        return Step(line=start, number=number, kind=kind, elapse=float(words[4]))
    if kind not in ENTRY_STEPS or len(words) != 3:
        raise cur.error(start, f"unsupported step {' '.join(words[2:])!r}")
    no, line, words = cur.next("ENTRY_BEGIN")
    if words[0] != "ENTRY_BEGIN":
        raise cur.error(no, f"STEP {number} {kind} needs an entry, got {line!r}")
    return Step(line=start, number=number, kind=kind, entry=_parse_entry(cur, no))


def _parse_entry(cur: _Lines, start: int) -> Entry:
    match, adjust, header, mandatory = None, set(), ([], []), False
    sections: dict[str, list] = {name: [] for name in SECTIONS}
    section, origin = None, dns.name.root
    while True:
        no, line, words = cur.next("ENTRY_END")
        key = words[0]
        if key == "ENTRY_END":
            break
        if key == "MANDATORY" and len(words) == 1:
            mandatory = True
        elif key == "MATCH":
            match = (match or set()) | _match_fields(cur, no, words[1:])
        elif key == "ADJUST":
            if not set(words[1:]) <= ADJUSTS:
                raise cur.error(no, f"unsupported ADJUST {' '.join(words[1:])!r}")
            adjust |= set(words[1:])
        elif key in ("REPLY", "FLAGS"):  # FLAGS: an old spelling (iter_minim_nonempty)
            header[0].extend(words[1:])
            header[1].append(no)
        elif key == "SECTION" and len(words) == 2 and words[1].upper() in SECTIONS:
            section = words[1].upper()
        elif key == "$ORIGIN" and len(words) == 2:
            origin = dns.name.from_text(words[1])
        elif section is None:
            raise cur.error(no, f"unexpected {line!r} outside a SECTION")
        else:
            sections[section].append(_record(cur, no, line, section == "QUESTION", origin))
    flags, do, rcode, opcode = _header(cur, header[1][0] if header[1] else start, header[0])
    return Entry(line=start, match=None if match is None else frozenset(match),
                 adjust=frozenset(adjust), flags=flags, do=do, rcode=rcode, opcode=opcode,
                 sections={name: tuple(rrsets) for name, rrsets in sections.items()}, mandatory=mandatory)


def _match_fields(cur: _Lines, line: int, words: list[str]) -> set[str]:
    fields: set[str] = set()
    for word in words:
        if word in MATCH_GROUPS:
            fields.update(MATCH_GROUPS[word])
        elif word in MATCH_FIELDS:
            fields.add(word)
        else:
            raise cur.error(line, f"unsupported MATCH {word!r}")
    return fields


def _header(cur: _Lines, line: int, words: list[str]) -> tuple[int, bool, int | None, int]:
    """REPLY words -> (header flags, DO, rcode or None, opcode)."""
    flags, do, rcode, opcode = 0, False, None, dns.opcode.QUERY
    for word in words:
        if word in HEADER_FLAGS:
            flags |= dns.flags.from_text(word)
        elif word == "DO":
            do = True
        elif word in dns.rcode.Rcode.__members__:
            rcode = dns.rcode.from_text(word)
        elif word in dns.opcode.Opcode.__members__:
            opcode = dns.opcode.from_text(word)
        else:
            raise cur.error(line, f"unknown flag or code {word!r} in REPLY")
    return flags, do, rcode, opcode


def _record(cur: _Lines, line: int, text: str, question: bool,
            origin: dns.name.Name) -> dns.rrset.RRset:
    """``owner [ttl] [class] type [rdata]`` -> a one-record RRset (no rdata in QUESTION)."""
    try:
        return parse_record(text, question=question, origin=origin)
    except Exception as exc:  # dnspython raises many kinds; all mean a bad line here
        raise cur.error(line, f"bad record {text!r}: {exc}") from exc


def parse_record(text: str, *, question: bool = False,
                 origin: dns.name.Name = dns.name.root) -> dns.rrset.RRset:
    """Parse one record line; TTL defaults to :data:`DEFAULT_TTL`, class to IN.

    Relative names (owner and rdata) are made absolute with ``origin``.
    """
    owner, rest = text.split(None, 1)
    ttl, rdclass = DEFAULT_TTL, dns.rdataclass.IN
    word, rest = _split(rest)
    for _ in range(2):
        if word[0].isdigit():
            ttl = dns.ttl.from_text(word)
        elif word.upper() in dns.rdataclass.RdataClass.__members__ and (rest or not question):
            rdclass = dns.rdataclass.from_text(word)
        else:
            break
        word, rest = _split(rest)
    rrset = dns.rrset.RRset(dns.name.from_text(owner, origin), rdclass,
                            dns.rdatatype.from_text(word))
    if question:
        if rest:
            raise ValueError("rdata in a QUESTION record")
        return rrset
    rdata = dns.rdata.from_text(rdclass, rrset.rdtype, rest, origin=origin, relativize=False)
    rrset.add(rdata, ttl)
    return rrset


def _split(text: str) -> tuple[str, str]:
    words = text.split(None, 1)
    if not words:
        raise ValueError("record type missing")
    return words[0], words[1] if len(words) == 2 else ""


# --- entries as messages ----------------------------------------------------------------

def entry_message(entry: Entry, query: dns.message.Message | None = None) -> dns.message.Message:
    """``entry`` as a message; with ``query``, adjusted as the reply to it per its ADJUST line.

    ``copy_id`` copies the ID and, when the entry has a question, the query's name with its
    case (0x20); ``copy_query`` copies the whole question. The reply carries OPT when the query
    did, with the query's EDNS flags (DO) plus DO if the entry says so (as Deckard does).
    """
    adjust = entry.adjust if query is not None else frozenset()
    msg = dns.message.Message(id=query.id if "copy_id" in adjust else 0)
    msg.flags = entry.flags
    msg.set_opcode(entry.opcode)
    if "copy_query" in adjust:
        msg.question = [dns.rrset.RRset(q.name, q.rdclass, q.rdtype) for q in query.question]
    elif entry.question is not None:
        q = entry.question
        name = query.question[0].name if "copy_id" in adjust and query.question else q.name
        msg.question = [dns.rrset.RRset(name, q.rdclass, q.rdtype)]
    for name in ("answer", "authority", "additional"):
        setattr(msg, name, [rrset.copy() for rrset in entry.sections[name.upper()]])
    if query is None and entry.do or query is not None and query.edns >= 0:
        ednsflags = (query.ednsflags if query is not None else 0)
        msg.use_edns(0, ednsflags | (dns.flags.DO if entry.do else 0), 1232)
    msg.set_rcode(entry.rcode or dns.rcode.NOERROR)
    return msg


def build_reply(entry: Entry, query: dns.message.Message) -> bytes:
    """The wire form of ``entry`` as the reply to ``query`` (see :func:`entry_message`)."""
    return entry_message(entry, query).to_wire(max_size=65535)


def servfail(query: dns.message.Message) -> bytes:
    """What a simulated server with no matching entry says (as Deckard does): SERVFAIL."""
    reply = dns.message.make_response(query)
    reply.set_rcode(dns.rcode.SERVFAIL)
    return reply.to_wire(max_size=65535)


def client_query(entry: Entry, query_id: int) -> bytes:
    """The client's query of a QUERY step: its question and flags; EDNS (DO) when DO is set."""
    if entry.question is None:
        raise ScenarioError(f"QUERY entry at line {entry.line} has no question")
    msg = entry_message(entry)
    msg.id = query_id
    msg.answer, msg.authority, msg.additional = [], [], []
    return msg.to_wire()
