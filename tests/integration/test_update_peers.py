"""RFC 2136 UPDATE and RFC 8945 TSIG against ``dns-suite authoritative``, driven by real peers.

* ``nsupdate -y``, ``nsupdate -k KEYFILE`` (bind9-dnsutils) and ``knsupdate`` (knot-dnsutils) send
  adds, deletes (RRset, all at a name, one value), prerequisites of all five kinds (RFC 2136 §2.4:
  yxdomain, nxdomain, yxrrset value-independent and value-dependent, nxrrset) and an update to a
  zone not served; each reply has the rcode RFC 2136 §3 prescribes, and ``dig`` shows exactly the
  expected zone afterwards, again after SIGTERM + start, and again after SIGKILL + start (journal
  replay); the flushed zone file holds exactly the same records.
* TSIG (RFC 8945 §5.2, §5.3.2): a table of cases through the three tools and through hand-built
  messages (dnspython, raw UDP and TCP, signed at a chosen time): rcode, TSIG error and whether the
  reply is signed (BADKEY/BADSIG unsigned, BADTIME signed with the server's time in Other Data).
* Policy: the ``_acme-challenge``-only key, the ``subdomain`` key, unsigned updates, a zone
  without a policy; nothing changes on refusal (dig and SOA serial).
* ``dns-suite ctl``: zone-status, stats, freeze (file holds every change, updates refused), thaw
  (higher-serial hand edit taken, lower ignored), reload.
* ``workers = 2``: UPDATEs over UDP reach a worker and are forwarded to the control process.
"""

from __future__ import annotations

import os
import time

import dns.message
import dns.name
import dns.rcode
import dns.update
import pytest

from dynhelpers import (ORIGIN, TOOLS, ZONE_TEXT, DynServer, make_update, missing, random_key,
                        reply_mac_ok, run_tool)

pytestmark = [
    pytest.mark.integration,
]

NOERROR, FORMERR, NXDOMAIN, REFUSED = 0, 1, 3, 5
YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE = 6, 7, 8, 9, 10
BADSIG, BADKEY, BADTIME = 16, 17, 18

TOOL_BINARY = {"nsupdate-y": "nsupdate", "nsupdate-k": "nsupdate", "knsupdate": "knsupdate"}


def need_tool(tool: str) -> None:
    absent = missing(TOOL_BINARY[tool])
    if absent:
        pytest.fail(f"{absent[0]} not installed (scripts/test installs it)")


@pytest.fixture
def server(tmp_path):
    srv = DynServer(tmp_path / "srv")
    srv.start()
    yield srv
    srv.close()


# --------------------------------------------------------------------------- the model


INITIAL = {
    (ORIGIN, "NS"): {"ns.dyn.test."},
    ("ns.dyn.test.", "A"): {"127.0.0.1"},
    ("www.dyn.test.", "A"): {"192.0.2.1"},
    ("www.dyn.test.", "TXT"): {'"www text"'},
}
NAMES = [ORIGIN] + [f"{n}.dyn.test." for n in
                    ("ns", "www", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
                     "n", "z", "nothere", "_acme-challenge", "_acme-challenge.www", "sub", "x.sub")]
TYPES = ["A", "AAAA", "TXT", "MX", "NS"]


class Model:
    """What the zone ``dyn.test.`` should hold: ``{(owner, type): {rdata text}}`` and the serial."""

    def __init__(self, serial: int = 1) -> None:
        self.rrs: dict[tuple[str, str], set[str]] = {k: set(v) for k, v in INITIAL.items()}
        self.serial = serial

    def add(self, name: str, rtype: str, *values: str) -> None:
        self.rrs.setdefault((name, rtype), set()).update(values)

    def delete(self, name: str, rtype: str | None = None, value: str | None = None) -> None:
        for key in [k for k in self.rrs if k[0] == name and rtype in (None, k[1])]:
            if value is None:
                del self.rrs[key]
            else:
                self.rrs[key].discard(value)
                if not self.rrs[key]:
                    del self.rrs[key]

    def expect(self, name: str, rtype: str) -> tuple[int, frozenset[str]]:
        """(rcode, values) a query should get: NXDOMAIN for a name with no records (none here
        is an empty non-terminal except ``www.dyn.test.`` above ``_acme-challenge.www``)."""
        values = frozenset(self.rrs.get((name, rtype), ()))
        exists = any(k[0] == name or k[0].endswith("." + name) for k in self.rrs) or name == ORIGIN
        return (NOERROR if exists else NXDOMAIN), values

    def names(self) -> list[str]:
        return sorted({k[0] for k in self.rrs} | set(NAMES))


def check_dnspython(srv: DynServer, model: Model, where: str) -> None:
    """Every name x type over UDP (dnspython) equals the model; the SOA serial too."""
    wrong = []
    for name in model.names():
        for rtype in TYPES:
            got = srv.values(name, rtype)
            if got != model.expect(name, rtype):
                wrong.append(f"{name} {rtype}: got {got}, want {model.expect(name, rtype)}")
    assert not wrong, f"{where}: zone differs from the model:\n" + "\n".join(wrong)
    assert srv.soa_serial() == model.serial, where


def check_dig(srv: DynServer, model: Model, where: str) -> None:
    """Every name x type through ``dig`` equals the model; the SOA serial too."""
    queries = [(name, rtype) for name in model.names() for rtype in TYPES] + [(ORIGIN, "SOA")]
    got = srv.dig_many(queries)
    wrong = []
    for query in queries[:-1]:
        rcode, values = model.expect(*query)
        want = (dns.rcode.to_text(rcode), values)
        if got[query] != want:
            wrong.append(f"{query}: dig shows {got[query]}, want {want}")
    assert not wrong, f"{where}: dig shows a zone other than the model:\n" + "\n".join(wrong)
    soa = got[(ORIGIN, "SOA")][1]
    assert len(soa) == 1 and int(next(iter(soa)).split()[2]) == model.serial, (where, soa)


def check_file(srv: DynServer, model: Model, where: str) -> None:
    """The zone file holds exactly the model's records and serial."""
    records = srv.file_records()
    soa = records.pop((ORIGIN, "SOA"))
    assert int(next(iter(soa)).split()[2]) == model.serial, (where, soa)
    want = {k: frozenset(v) for k, v in model.rrs.items()}
    assert records == want, f"{where}: file {records} != model {want}"


# --------------------------------------------------------------------------- 1. the peers


def _steps():
    """(label, commands, expected rcode name, change to the model: fn(model) or None)."""
    z = "zone dyn.test."
    return [
        ("add: three TXT, two A, an AAAA, and a name with two types",
         [z, 'update add a.dyn.test. 300 TXT "one"', 'update add a.dyn.test. 300 TXT "two"',
          'update add a.dyn.test. 300 TXT "three"', "update add b.dyn.test. 300 A 192.0.2.20",
          "update add b.dyn.test. 300 A 192.0.2.21", "update add b.dyn.test. 300 AAAA 2001:db8::20",
          "update add c.dyn.test. 300 A 192.0.2.30", 'update add c.dyn.test. 300 TXT "c"'],
         "NOERROR", lambda m: (m.add("a.dyn.test.", "TXT", '"one"', '"two"', '"three"'),
                               m.add("b.dyn.test.", "A", "192.0.2.20", "192.0.2.21"),
                               m.add("b.dyn.test.", "AAAA", "2001:db8::20"),
                               m.add("c.dyn.test.", "A", "192.0.2.30"), m.add("c.dyn.test.", "TXT", '"c"'))),
        ("delete one value (class NONE)", [z, 'update delete a.dyn.test. TXT "two"'],
         "NOERROR", lambda m: m.delete("a.dyn.test.", "TXT", '"two"')),
        ("delete an RRset (class ANY, type A)", [z, "update delete b.dyn.test. A"],
         "NOERROR", lambda m: m.delete("b.dyn.test.", "A")),
        ("delete all RRsets at a name (class ANY, type ANY)", [z, "update delete c.dyn.test."],
         "NOERROR", lambda m: m.delete("c.dyn.test.")),
        ("duplicate add changes nothing (no serial change)", [z, 'update add a.dyn.test. 300 TXT "one"'],
         "NOERROR", None),
        ("apex NS delete is ignored (RFC 2136 3.4.2.4), the add beside it applies",
         [z, "update delete dyn.test. NS", 'update add n.dyn.test. 300 TXT "apex ns kept"'],
         "NOERROR", lambda m: m.add("n.dyn.test.", "TXT", '"apex ns kept"')),
        ("yxdomain met", [z, "prereq yxdomain a.dyn.test.", 'update add d.dyn.test. 300 TXT "yxdomain"'],
         "NOERROR", lambda m: m.add("d.dyn.test.", "TXT", '"yxdomain"')),
        ("yxdomain not met -> NXDOMAIN",
         [z, "prereq yxdomain nothere.dyn.test.", 'update add e.dyn.test. 300 TXT "no"'], "NXDOMAIN", None),
        ("nxdomain met", [z, "prereq nxdomain nothere.dyn.test.", 'update add f.dyn.test. 300 TXT "nxdomain"'],
         "NOERROR", lambda m: m.add("f.dyn.test.", "TXT", '"nxdomain"')),
        ("nxdomain not met -> YXDOMAIN", [z, "prereq nxdomain a.dyn.test.", 'update add g.dyn.test. 300 TXT "no"'],
         "YXDOMAIN", None),
        ("yxrrset value-independent met",
         [z, "prereq yxrrset a.dyn.test. TXT", 'update add h.dyn.test. 300 TXT "yxrrset"'],
         "NOERROR", lambda m: m.add("h.dyn.test.", "TXT", '"yxrrset"')),
        ("yxrrset value-independent not met -> NXRRSET",
         [z, "prereq yxrrset a.dyn.test. MX", 'update add i.dyn.test. 300 TXT "no"'], "NXRRSET", None),
        ("yxrrset value-dependent met (the whole RRset)",
         [z, 'prereq yxrrset a.dyn.test. TXT "one"', 'prereq yxrrset a.dyn.test. TXT "three"',
          'update add j.dyn.test. 300 TXT "value"'],
         "NOERROR", lambda m: m.add("j.dyn.test.", "TXT", '"value"')),
        ("yxrrset value-dependent, a subset of the RRset -> NXRRSET",
         [z, 'prereq yxrrset a.dyn.test. TXT "one"', 'update add k.dyn.test. 300 TXT "no"'], "NXRRSET", None),
        ("yxrrset value-dependent, a superset -> NXRRSET",
         [z, 'prereq yxrrset a.dyn.test. TXT "one"', 'prereq yxrrset a.dyn.test. TXT "three"',
          'prereq yxrrset a.dyn.test. TXT "nine"', 'update add k.dyn.test. 300 TXT "no"'], "NXRRSET", None),
        ("nxrrset met", [z, "prereq nxrrset a.dyn.test. MX", 'update add l.dyn.test. 300 TXT "nxrrset"'],
         "NOERROR", lambda m: m.add("l.dyn.test.", "TXT", '"nxrrset"')),
        ("nxrrset not met -> YXRRSET",
         [z, "prereq nxrrset a.dyn.test. TXT", 'update add m.dyn.test. 300 TXT "no"'], "YXRRSET", None),
        ("zone not served -> NOTAUTH", ["zone nope.test.", 'update add x.nope.test. 300 TXT "x"'],
         "NOTAUTH", None),
    ]


@pytest.mark.parametrize("tool", TOOLS)
def test_peer_updates_prerequisites_restart_and_journal(tool, tmp_path):
    need_tool(tool)
    srv = DynServer(tmp_path / "srv")
    srv.start()
    try:
        key = srv.keys["file"] if tool == "nsupdate-k" else srv.keys["full"]
        keyfile = srv.workdir / "file.key"  # what tsig-keygen wrote and the config names (nsupdate -k)
        model = Model()
        check_dnspython(srv, model, "start")
        for label, commands, want, change in _steps():
            res = run_tool(tool, srv.port, commands, key, tmp_path, keyfile)
            assert res.status == want, f"{tool} {label}: status {res.status}, want {want}\n{res.output}"
            assert (res.returncode == 0) == (want == "NOERROR"), f"{tool} {label}: exit {res.returncode}"
            # a reply to a well-signed request is signed (RFC 8945 5.3), whatever its rcode
            assert res.tsig_error == "NOERROR" and res.mac_size, f"{tool} {label}: reply unsigned\n{res.output}"
            if change is not None:
                change(model)
                model.serial += 1
            check_dnspython(srv, model, f"{tool} after {label!r}")
        check_dig(srv, model, f"{tool} after all steps")
        assert srv.stop() == 0
        check_file(srv, model, f"{tool} file after SIGTERM")
        srv.start()
        check_dig(srv, model, f"{tool} after SIGTERM + start")

        res = run_tool(tool, srv.port, ["zone dyn.test.", 'update delete a.dyn.test. TXT "one"',
                                        'update add z.dyn.test. 300 TXT "after restart"'], key, tmp_path,
                       keyfile)
        assert res.status == "NOERROR", res.output
        model.delete("a.dyn.test.", "TXT", '"one"')
        model.add("z.dyn.test.", "TXT", '"after restart"')
        model.serial += 1
        check_dnspython(srv, model, f"{tool} after the post-restart update")
        srv.kill()
        assert srv.file_records()[(ORIGIN, "SOA")] != frozenset(), "file readable after SIGKILL"
        file_serial = int(next(iter(srv.file_records()[(ORIGIN, "SOA")])).split()[2])
        assert file_serial == model.serial - 1, "the last update lives only in the journal"
        srv.start()
        assert "journal replayed" in srv.log_text().rsplit("--- start", 1)[-1], srv.log_tail()
        check_dig(srv, model, f"{tool} after SIGKILL + start (journal replay)")
    finally:
        srv.close()


# --------------------------------------------------------------------------- 2. TSIG


def _tool_rows(srv: DynServer):
    """(label, key as the client spells it, expected TSIG error or None for success[, the key
    file nsupdate -k reads: the one the server's config names])."""
    full = srv.keys["full"]
    return [
        ("right key", full, None),
        ("unknown key", random_key("nobody-key."), "BADKEY"),
        ("wrong secret", full.with_(secret=os.urandom(32)), "BADSIG"),
        ("algorithm spelled HMAC-SHA256", full.with_(algorithm="HMAC-SHA256"), None),
        ("key name in capitals", full.with_(name="FULL-KEY."), None),
        ("hmac-sha1", srv.keys["sha1"], None),
        ("hmac-sha256 (tsig-keygen file)", srv.keys["file"], None, srv.workdir / "file.key"),
        ("hmac-sha512", srv.keys["sha512"], None),
        ("hmac-sha512 (dns-suite tsig-keygen file)", srv.keys["suitefile"], None, srv.workdir / "suite.key"),
    ]


@pytest.mark.parametrize("tool", TOOLS)
def test_tsig_table_through_tools(tool, server, tmp_path):
    """Old-time rows need a client clock that lies: they are in the hand-built table below."""
    need_tool(tool)
    serial = server.soa_serial()
    for index, (label, key, error, *keyfile) in enumerate(_tool_rows(server)):
        name = f"t{index}.dyn.test."
        res = run_tool(tool, server.port, [f"zone {ORIGIN}", f'update add {name} 300 TXT "{label}"'],
                       key, tmp_path, *keyfile)
        if error is None:
            assert (res.status, res.tsig_error) == ("NOERROR", "NOERROR"), f"{tool} {label}\n{res.output}"
            assert res.mac_size, f"{tool} {label}: the reply must be signed\n{res.output}"
            serial += 1
            assert server.values(name, "TXT") == (NOERROR, frozenset({f'"{label}"'})), (tool, label)
        else:
            # nsupdate shows the header rcode (NOTAUTH); knsupdate shows the TSIG error in its place
            want_status = "NOTAUTH" if tool.startswith("nsupdate") else error
            assert (res.status, res.tsig_error) == (want_status, error), f"{tool} {label}\n{res.output}"
            assert res.mac_size == 0, f"{tool} {label}: RFC 8945 5.3.2: {error} replies are unsigned"
            assert server.values(name, "TXT")[0] == NXDOMAIN, (tool, label)
        assert server.soa_serial() == serial, (tool, label)


def _raw_rows(srv: DynServer):
    """(label, key, sign options, rcode, TSIG error, signed)."""
    full = srv.keys["full"]
    now = int(time.time())
    return [
        ("right key", full, {}, NOERROR, 0, True),
        ("unknown key", random_key("nobody-key."), {}, NOTAUTH, BADKEY, False),
        ("wrong secret", full.with_(secret=os.urandom(32)), {}, NOTAUTH, BADSIG, False),
        ("old time, right secret", full, {"when": now - 3600}, NOTAUTH, BADTIME, True),
        ("future time, right secret", full, {"when": now + 3600}, NOTAUTH, BADTIME, True),
        ("old time, wrong secret (bad MAC reported first)", full.with_(secret=os.urandom(32)),
         {"when": now - 3600}, NOTAUTH, BADSIG, False),
        ("algorithm spelled HMAC-SHA256 on the wire", full, {"wire_algorithm": "HMAC-SHA256."}, NOERROR, 0, True),
        ("key name in capitals on the wire", full, {"wire_name": "FULL-KEY."}, NOERROR, 0, True),
        ("algorithm other than the key's", full, {"wire_algorithm": "hmac-sha512."}, NOTAUTH, BADKEY, False),
        ("hmac-sha1", srv.keys["sha1"], {}, NOERROR, 0, True),
        ("hmac-sha256", srv.keys["file"], {}, NOERROR, 0, True),
        ("hmac-sha512", srv.keys["sha512"], {}, NOERROR, 0, True),
    ]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_tsig_table_hand_built(transport, server):
    serial = server.soa_serial()
    for index, (label, key, opts, rcode, error, signed) in enumerate(_raw_rows(server)):
        name = f"raw{index}.dyn.test."
        upd = make_update(adds=[(name, 300, "TXT", f'"{label}"')])
        reply, mac = server.send_signed(upd, key, tcp=transport == "tcp", **opts)
        assert reply is not None, f"{label}: no reply"
        got = (reply.rcode, reply.tsig_error, reply.signed)
        assert got == (rcode, error, signed), f"{label}: (rcode, tsig error, signed) = {got}"
        assert reply.message.id == upd.id
        assert reply.message.tsig.name == dns.name.from_text(opts.get("wire_name", key.name)), label
        if signed:
            assert reply_mac_ok(reply, key, mac), f"{label}: reply MAC does not verify"
        if error == BADTIME:  # RFC 8945 5.2.3: the server's time in Other Data, 48 bits
            assert len(reply.tsig.other) == 6, label
            assert abs(int.from_bytes(reply.tsig.other, "big") - time.time()) < 60, label
        if rcode == NOERROR:
            dns.message.from_wire(reply.wire, keyring=key.dnspython(), request_mac=mac)  # validates
            serial += 1
            assert server.values(name, "TXT") == (NOERROR, frozenset({f'"{label}"'})), label
        else:
            assert server.values(name, "TXT")[0] == NXDOMAIN, f"{label}: applied despite {got}"
        assert server.soa_serial() == serial, label


def test_zone_section_and_out_of_zone_records(server):
    full = server.keys["full"]
    serial = server.soa_serial()
    # a prerequisite outside the zone: NOTZONE (RFC 2136 3.2.x, checked before permissions)
    upd = make_update(adds=[("p.dyn.test.", 300, "TXT", "p")])
    upd.present("x.other.test.")
    assert server.send(upd, full).rcode == NOTZONE
    # an update RR outside the zone: NOTZONE by the prescan (3.4.1.3), or REFUSED when the
    # permission check (3.3, which comes first) already finds no grant for it; both are allowed
    upd = make_update(adds=[("q.dyn.test.", 300, "TXT", "q"), ("x.other.test.", 300, "TXT", "x")])
    assert server.send(upd, full).rcode in (NOTZONE, REFUSED)
    # a prerequisite with a TTL: FORMERR (3.2.1)
    upd = make_update(adds=[("r.dyn.test.", 300, "TXT", "r")])
    upd.present("www.dyn.test.")
    any_any_ttl0 = b"\x00\xff\x00\xff\x00\x00\x00\x00\x00\x00"  # type ANY, class ANY, TTL 0, no rdata
    wire = upd.to_wire()
    assert wire.count(any_any_ttl0) == 1
    reply, _ = server.send_signed(wire.replace(any_any_ttl0, any_any_ttl0[:7] + b"\x05" + any_any_ttl0[8:]), full)
    assert reply.rcode == FORMERR
    # a zone not served, and a zone served but named in the wrong class
    assert server.send(make_update("nope.test.", adds=[("x.nope.test.", 300, "TXT", "x")]), full).rcode == NOTAUTH
    for name in ("p", "q", "r"):
        assert server.values(f"{name}.dyn.test.", "TXT")[0] == NXDOMAIN
    assert server.soa_serial() == serial


# --------------------------------------------------------------------------- 3. policy


@pytest.mark.parametrize("tool", TOOLS)
def test_acme_key_policy(tool, server, tmp_path):
    need_tool(tool)
    acme = server.keys["acme"]
    z = f"zone {ORIGIN}"

    def run(*commands):
        return run_tool(tool, server.port, [z, *commands], acme, tmp_path, server.workdir / "acme.key")

    def state():
        names = ["_acme-challenge.dyn.test.", "_acme-challenge.www.dyn.test.", "www.dyn.test."]
        return ({(n, t): server.values(n, t) for n in names for t in ("TXT", "A")}, server.soa_serial())

    ok = [
        ('update add _acme-challenge.dyn.test. 60 TXT "tok1"', 'update add _acme-challenge.dyn.test. 60 TXT "tok2"'),
        ('update add _acme-challenge.www.dyn.test. 60 TXT "tokw"',),
        ('update delete _acme-challenge.dyn.test. TXT "tok1"',),
        ("update delete _acme-challenge.www.dyn.test. TXT",),
    ]
    for commands in ok:
        before = server.soa_serial()
        res = run(*commands)
        assert res.status == "NOERROR", res.output
        assert server.soa_serial() == before + 1
    assert server.values("_acme-challenge.dyn.test.", "TXT") == (NOERROR, frozenset({'"tok2"'}))
    assert server.values("_acme-challenge.www.dyn.test.", "TXT")[0] == NXDOMAIN

    refused = [
        ("update add _acme-challenge.dyn.test. 60 A 192.0.2.99",),
        ('update add www.dyn.test. 60 TXT "not acme"',),
        ('update add _acme-challenge.dyn.test. 60 TXT "tok3"', 'update add www.dyn.test. 60 TXT "mixed"'),
        ("update delete _acme-challenge.dyn.test.",),  # every RRset at the name: not granted
        ("update delete www.dyn.test. TXT",),
    ]
    for commands in refused:
        before = state()
        res = run(*commands)
        assert res.status == "REFUSED", f"{commands}: {res.output}"
        assert res.mac_size, "a refusal of a well-signed update is signed"
        assert state() == before, f"{commands} changed the zone"
        dug = server.dig_many([("_acme-challenge.dyn.test.", "TXT"), ("_acme-challenge.dyn.test.", "A"),
                               ("www.dyn.test.", "TXT")])
        assert dug[("_acme-challenge.dyn.test.", "TXT")] == ("NOERROR", frozenset({'"tok2"'}))
        assert dug[("_acme-challenge.dyn.test.", "A")] == ("NOERROR", frozenset())
        assert dug[("www.dyn.test.", "TXT")] == ("NOERROR", frozenset({'"www text"'}))
    refusals = [line for line in server.log_text().splitlines() if "rcode=5" in line or "refused" in line]
    assert any("key=acme-key." in line and "client=127.0.0.1" in line for line in refusals), refusals


def test_subdomain_key_policy(server):
    sub = server.keys["sub"]
    assert server.send(make_update(adds=[("sub.dyn.test.", 300, "A", "192.0.2.7"),
                                         ("x.sub.dyn.test.", 300, "TXT", "x")]), sub).rcode == NOERROR
    serial = server.soa_serial()
    assert server.send(make_update(adds=[("www.dyn.test.", 300, "A", "192.0.2.8")]), sub).rcode == REFUSED
    assert server.send(make_update(adds=[("dyn.test.", 300, "TXT", "apex")]), sub).rcode == REFUSED
    assert server.values("www.dyn.test.", "A") == (NOERROR, frozenset({"192.0.2.1"}))
    assert server.soa_serial() == serial
    assert server.values("x.sub.dyn.test.", "TXT") == (NOERROR, frozenset({'"x"'}))


@pytest.mark.parametrize("tool", ["nsupdate-y", "knsupdate"])
def test_unsigned_update_refused(tool, server, tmp_path):
    need_tool(tool)
    serial = server.soa_serial()
    res = run_tool(tool, server.port, [f"zone {ORIGIN}", 'update add u.dyn.test. 300 TXT "unsigned"'],
                   None, tmp_path)
    assert res.status == "REFUSED" and res.tsig_error is None, res.output
    reply = server.send(make_update(adds=[("u.dyn.test.", 300, "TXT", "raw")]), None)
    assert reply.rcode == REFUSED and reply.tsig is None
    assert server.values("u.dyn.test.", "TXT")[0] == NXDOMAIN
    assert server.soa_serial() == serial


def test_zone_without_policy_refused(server, tmp_path):
    before = server.values("www.static.test.", "A")
    reply, mac = server.send_signed(make_update("static.test.", adds=[("new.static.test.", 300, "A", "192.0.2.1")]),
                                    server.keys["full"])
    assert reply.rcode == REFUSED and reply.signed and reply_mac_ok(reply, server.keys["full"], mac)
    assert server.send(make_update("static.test.", adds=[("new.static.test.", 300, "A", "192.0.2.1")]),
                       None).rcode == REFUSED
    if not missing("nsupdate"):
        res = run_tool("nsupdate-y", server.port, ["zone static.test.", "update add new.static.test. 300 A 192.0.2.1"],
                       server.keys["full"], tmp_path)
        assert res.status == "REFUSED", res.output
    assert server.values("new.static.test.", "A")[0] == NXDOMAIN
    assert server.values("www.static.test.", "A") == before
    assert server.soa_serial("static.test.") == 1


# --------------------------------------------------------------------------- 4. dns-suite ctl


def _zone_text(serial: int, *extra: str) -> str:
    return ZONE_TEXT.format(serial=serial) + "".join(line + "\n" for line in extra)


def _ok(srv: DynServer, command: str, zone: str | None = None):
    code, result, err = srv.ctl(command, zone)
    assert code == 0, f"ctl {command} {zone}: exit {code}: {err}"
    return result


def test_ctl_status_stats_freeze_thaw_reload(server):
    full = server.keys["full"]
    status = _ok(server, "zone-status", ORIGIN)
    status = status[0] if isinstance(status, list) else status
    assert (status["serial"], status["dynamic"], status["frozen"]) == (1, True, False), status
    everything = _ok(server, "zone-status")
    assert {s["zone"].lower(): s["dynamic"] for s in everything} == {ORIGIN: True, "static.test.": False}

    model = Model()
    for i in range(3):
        assert server.send(make_update(adds=[(f"u{i}.dyn.test.", 300, "TXT", f"v{i}")]), full).rcode == NOERROR
        model.add(f"u{i}.dyn.test.", "TXT", f'"v{i}"')
        model.serial += 1
    status = _ok(server, "zone-status", ORIGIN)
    status = status[0] if isinstance(status, list) else status
    assert status["serial"] == 4 and status["journal_octets"] > 0 and status["unflushed"], status
    stats = _ok(server, "stats")
    assert stats["updates"] == 3 and stats["zones"] == 2, stats

    # freeze: the file holds every change; updates are refused and change nothing
    status = _ok(server, "freeze", ORIGIN)
    assert status["frozen"] is True, status
    check_file(server, model, "after freeze")
    reply = server.send(make_update(adds=[("frozen.dyn.test.", 300, "TXT", "f")]), full)
    assert reply.rcode == REFUSED and reply.signed
    check_dnspython(server, model, "update while frozen")

    # hand edit with a higher serial, then thaw: taken
    server.zone_path.write_text(_zone_text(10, *[f'u{i} TXT "v{i}"' for i in range(3)], 'hand TXT "edited"'))
    status = _ok(server, "thaw", ORIGIN)
    assert status["frozen"] is False and status["serial"] == 10, status
    model.add("hand.dyn.test.", "TXT", '"edited"')
    model.serial = 10
    check_dnspython(server, model, "after thaw of a higher serial")
    assert server.send(make_update(adds=[("after.dyn.test.", 300, "TXT", "thawed")]), full).rcode == NOERROR
    model.add("after.dyn.test.", "TXT", '"thawed"')
    model.serial = 11
    check_dig(server, model, "update after thaw")

    # hand edit with a lower serial, then thaw: ignored
    _ok(server, "freeze", ORIGIN)
    check_file(server, model, "second freeze")
    server.zone_path.write_text(_zone_text(5, 'low TXT "lower serial"'))
    status = _ok(server, "thaw", ORIGIN)
    assert status["serial"] == 11, status
    check_dig(server, model, "after thaw of a lower serial")

    # reload: all zones, then one static zone edited by hand
    version = _ok(server, "stats")["version"]
    assert _ok(server, "reload")["version"] > version
    check_dnspython(server, model, "after ctl reload")
    server.static_path.write_text(server.static_path.read_text().replace(" 1 3600", " 2 3600")
                                  .replace("198.51.100.1", "198.51.100.2"))
    _ok(server, "reload", "static.test.")
    assert server.values("www.static.test.", "A") == (NOERROR, frozenset({"198.51.100.2"}))
    assert server.soa_serial("static.test.") == 2

    code, _, err = server.ctl("freeze", "static.test.")
    assert code == 1 and "not dynamic" in err
    code, _, err = server.ctl("zone-status", "nope.test.")
    assert code == 1 and "not served" in err
    mode = os.stat(server.socket_path).st_mode & 0o777
    assert mode == 0o600, oct(mode)


def test_thaw_ignored_lower_serial_edit_survives_restart(server):
    full = server.keys["full"]
    model = Model()
    for i in range(3):
        assert server.send(make_update(adds=[(f"u{i}.dyn.test.", 300, "TXT", f"v{i}")]), full).rcode == NOERROR
        model.add(f"u{i}.dyn.test.", "TXT", f'"v{i}"')
        model.serial += 1
    _ok(server, "freeze", ORIGIN)
    server.zone_path.write_text(_zone_text(2, 'low TXT "lower serial"'))
    _ok(server, "thaw", ORIGIN)
    check_dnspython(server, model, "after thaw of a lower serial")
    server.restart()
    check_dnspython(server, model, "after SIGTERM + start")


# --------------------------------------------------------------------------- 5. workers = 2


def _converged(srv: DynServer, name: str, rtype: str, want, timeout: float = 5.0) -> bool:
    """True once 20 UDP queries in a row (spread over the workers) agree with ``want``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(srv.values(name, rtype) == want for _ in range(20)):
            return True
        time.sleep(0.1)
    return False


def _converged_serial(srv: DynServer, serial: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(srv.soa_serial() == serial for _ in range(20)):
            return True
        time.sleep(0.1)
    return False


def test_workers_forward_updates(tmp_path):
    srv = DynServer(tmp_path / "srv", workers=2)
    srv.start()
    try:
        full = srv.keys["full"]
        steps = [
            (make_update(adds=[("w.dyn.test.", 300, "A", "192.0.2.50"), ("w.dyn.test.", 300, "A", "192.0.2.51")]),
             ("w.dyn.test.", "A"), {"192.0.2.50", "192.0.2.51"}),
            (make_update(adds=[("w.dyn.test.", 300, "TXT", "worker")]), ("w.dyn.test.", "TXT"), {'"worker"'}),
            (make_update(deletes=[("w.dyn.test.", "A", "192.0.2.50")]), ("w.dyn.test.", "A"), {"192.0.2.51"}),
        ]
        for serial, (upd, query, values) in enumerate(steps, start=2):
            reply, mac = srv.send_signed(upd, full)
            assert reply is not None and reply.rcode == NOERROR and reply_mac_ok(reply, full, mac)
            assert _converged(srv, *query, (NOERROR, frozenset(values))), query
            assert _converged_serial(srv, serial), serial
        upd = dns.update.UpdateMessage(ORIGIN)
        upd.delete("w.dyn.test.")
        assert srv.send(upd, full).rcode == NOERROR
        assert _converged(srv, "w.dyn.test.", "TXT", (NXDOMAIN, frozenset()))
        stats = _ok(srv, "stats")
        assert stats["updates"] == 4 and stats["workers"] == 2, stats
        srv.kill()
        srv.start()
        assert srv.values("w.dyn.test.", "A")[0] == NXDOMAIN and srv.soa_serial() == 5
    finally:
        srv.close()


def test_workers_read_after_write(tmp_path):
    srv = DynServer(tmp_path / "srv", workers=2)
    srv.start()
    try:
        highest = 1
        for i in range(5):
            upd = make_update(adds=[(f"raw{i}.dyn.test.", 300, "TXT", f"v{i}")])
            assert srv.send(upd, srv.keys["full"]).rcode == NOERROR
            highest = i + 2
            for _ in range(20):
                assert srv.values(f"raw{i}.dyn.test.", "TXT") == (NOERROR, frozenset({f'"v{i}"'}))
                assert srv.soa_serial() == highest
    finally:
        srv.close()
