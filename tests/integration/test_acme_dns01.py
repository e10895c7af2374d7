"""The DNS side of DNS-01 (dns_suite.acme.dns01) against real servers on loopback, as in production.

The lab, on port 53 of its own addresses in a block ``127.86.N.0/24`` (the first block whose
addresses are all free; ``B`` below):

=======  ================================  =====================================================
address  server                            zones
=======  ================================  =====================================================
B.1      dns-suite authoritative (static)  ``.``, ``test.``, ``net.``: the root delegates
                                           ``test.``/``net.``; ``test.`` delegates
                                           ``example.test.`` (ns1, ns2), ``lag.test.`` (ns1, ns3,
                                           ns4), ``bind.test.`` (ns2.example.test.) and
                                           ``_acme-challenge.own.test.`` (ns1);
                                           ``net.`` delegates ``acme.example.net.`` (ns1, ns2
                                           of example.test., no glue)
B.2      dns-suite authoritative primary   ``example.test.``, ``acme.example.net.``,
         (``ns1.example.test.``)           ``lag.test.``, ``_acme-challenge.own.test.`` (a
                                           challenge name delegated as a zone of its own):
                                           dynamic, key ``acme-key.`` may change TXT at
                                           ``_acme-challenge`` names; NOTIFY to B.3
B.3      dns-suite authoritative secondary ``example.test.``, ``acme.example.net.`` from B.2,
         (``ns2.example.test.``)           ``bind.test.`` from named (NOTIFY + IXFR, key xfr-key)
B.4      dns-suite resolver                root hints -> B.1; ``query_private``: the resolver
                                           ``publish`` discovers through
B.5      dns-suite authoritative (static)  an old copy of ``lag.test.`` (``ns3.lag.test.``)
B.6      nothing                           ``ns4.lag.test.``: no server at all
=======  ================================  =====================================================

BIND's ``named`` is the hidden primary of ``bind.test.`` (NS: ns2.example.test. only) on
127.0.0.1 and a free port (named listens only on addresses configured on an interface, and the
lab's are not), with ``update-policy`` granting ``acme-key.`` TXT changes; it NOTIFYs B.3.

The secondary knows the dns-suite primary by B.2:53, its first listen address, which is where
the primary's NOTIFYs leave from (a secondary accepts NOTIFY only from a primary's address).

Also here: the stub client (dns_suite.net.client) against small in-process servers.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import socket
import struct
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.rrset
import dns.update
import pytest

from acmelab import ACME_SECRET, KEY, NAMED, Lab, start_lab  # the lab: root, our primary, secondary, resolver, BIND
from dns_suite.acme.dns01 import (PropagationError, PublishError, UpdateRefused, UpdateTarget, publish,
                                  system_resolver, unpublish)
from dns_suite.net.client import QueryError, QueryTimeout, Unreachable, query
from dns_suite.wire.tsig import TsigKey

pytestmark = pytest.mark.integration

V1, V2, V3 = ("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", "9ihDbjxTSpqc0yE1ayHfbKEGeTfT7CTNTvHMqF3I0m8",
              "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    assert shutil.which("dns-suite") and os.path.exists(NAMED), "scripts/test installs dns-suite and bind9"
    running = start_lab(tmp_path_factory.mktemp("acme-dns01"))
    yield running
    running.stop()


def run(coro, timeout: float = 60.0):
    """Run ``coro`` in a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def wait_values(lab: Lab, octet: int, name: str, expect: set[str], timeout: float = 15.0) -> set[str]:
    """Poll B.octet (bounded) until ``name`` has exactly ``expect``; returns what it has last."""
    deadline = time.monotonic() + timeout
    while True:
        have = lab.txt(octet, name)
        if have == expect or time.monotonic() > deadline:
            return have
        time.sleep(0.05)


# --------------------------------------------------------------------------- publish / unpublish


def test_wildcard_and_apex_values_then_unpublish(lab, caplog):
    """Two values at one name (``*.example.test`` and ``example.test``), proven on both NS, then
    deleted one by one: the unrelated TXT at the same name stays."""
    caplog.set_level(logging.INFO, logger="dns_suite.acme.dns01")
    name = "_acme-challenge.example.test."
    serial = lab.serial(2, "example.test.")
    pub = run(publish([("example.test", V1), ("example.test", V2)], lab.target(), deadline=30))
    assert {r[:3] for r in pub.records} == {("example.test.", name, V1), ("example.test.", name, V2)}
    assert {r[3] for r in pub.records} == {(lab.addr(2), 53)}
    assert sorted(pub.servers) == [("ns1.example.test.", lab.addr(2), 53), ("ns2.example.test.", lab.addr(3), 53)]
    for octet in (2, 3):  # proven: no waiting needed here
        assert lab.txt(octet, name) == {V1, V2, "unrelated text"}
    assert lab.serial(2, "example.test.") == serial + 1  # one UPDATE for the batch
    print(f"\npublish: {pub.seconds * 1e3:.0f} ms in all, {pub.propagation * 1e3:.0f} ms to propagate")
    messages = [r.getMessage() for r in caplog.records]
    assert any("zone example.test.: 2 value(s)" in m for m in messages), messages
    assert any("UPDATE add 2 TXT in zone example.test." in m for m in messages), messages
    assert any("served by all 2 server(s)" in m for m in messages), messages
    run(unpublish(pub))
    assert lab.txt(2, name) == {"unrelated text"}
    assert wait_values(lab, 3, name, {"unrelated text"}) == {"unrelated text"}


def test_one_value_of_two_orders_removed(lab):
    """Unpublishing one order's value leaves another order's value at the same name."""
    name = "_acme-challenge.example.test."
    first = run(publish([("example.test", V1)], lab.target(check_servers=((lab.addr(2), 53),))))
    second = run(publish([("example.test", V2)], lab.target(check_servers=((lab.addr(2), 53),))))
    run(unpublish(first))
    assert lab.txt(2, name) == {V2, "unrelated text"}
    run(unpublish(second))
    assert lab.txt(2, name) == {"unrelated text"}


def test_cname_into_another_zone_and_server_by_host_name(lab):
    """``_acme-challenge.www.example.test. CNAME _acme-challenge.www.acme.example.net.``: the TXT
    goes to acme.example.net. (same primary, named by host name), proven on its NS set."""
    target = "_acme-challenge.www.acme.example.net."
    pub = run(publish([("www.example.test", V3)], lab.target(server="ns1.example.test"), deadline=30))
    assert pub.records == (("acme.example.net.", target, V3, (lab.addr(2), 53)),)
    assert sorted(pub.servers) == [("ns1.example.test.", lab.addr(2), 53), ("ns2.example.test.", lab.addr(3), 53)]
    assert lab.txt(3, target) == {V3}
    assert lab.txt(2, "_acme-challenge.www.example.test.") == {V3}  # the primary follows the CNAME
    run(unpublish(pub))
    assert lab.txt(2, target) == set()


def test_update_server_with_a_dead_address(lab, caplog):
    """``update.example.test.`` has two addresses, the first with no server: the UPDATE goes to
    the other."""
    caplog.set_level(logging.INFO, logger="dns_suite.acme.dns01")
    pub = run(publish([("example.test", V1)], lab.target(server="update.example.test."), deadline=30))
    assert pub.records == (("example.test.", "_acme-challenge.example.test.", V1, (lab.addr(2), 53)),)
    order = dns.query.udp(dns.message.make_query("update.example.test.", "A"), *lab.resolver[:1], timeout=2)
    if [rd.address for rd in order.answer[0]][0] == lab.addr(6):  # the resolver keeps the zone's order
        assert any(f"UPDATE to {lab.addr(6)}:53: port unreachable" in r.getMessage() for r in caplog.records)
    run(unpublish(pub))
    assert lab.txt(2, "_acme-challenge.example.test.") == {"unrelated text"}


def test_two_zones_in_one_batch(lab):
    """Names in two zones: one UPDATE each, all proven before publish returns."""
    pub = run(publish([("example.test", V1), ("www.example.test", V2), ("*.example.test", V3)],
                      lab.target(), deadline=30))
    zones = sorted({r[0] for r in pub.records})
    assert zones == ["acme.example.net.", "example.test."]
    assert lab.txt(3, "_acme-challenge.example.test.") == {V1, V3, "unrelated text"}
    assert lab.txt(3, "_acme-challenge.www.acme.example.net.") == {V2}
    run(unpublish(pub))
    assert lab.txt(2, "_acme-challenge.example.test.") == {"unrelated text"}
    assert lab.txt(2, "_acme-challenge.www.acme.example.net.") == set()


def test_challenge_name_is_its_own_zone(lab):
    pub = run(publish([("own.test", V1)], lab.target(), deadline=30))
    assert pub.records == (("_acme-challenge.own.test.", "_acme-challenge.own.test.", V1, (lab.addr(2), 53)),)
    assert pub.servers == (("ns1.example.test.", lab.addr(2), 53),)
    run(unpublish(pub))
    assert lab.txt(2, "_acme-challenge.own.test.") == set()


def test_bind_named_as_primary(lab):
    """BIND's named is the (hidden) primary: the UPDATE goes to it, our secondary gets the change
    by NOTIFY + IXFR from it, and the proof runs on the NS set (the secondary)."""
    name = "_acme-challenge.bind.test."
    target = lab.target(server="127.0.0.1", port=lab.named_port)
    pub = run(publish([("bind.test", V1), ("bind.test", V2)], target, deadline=30))
    assert {r[3] for r in pub.records} == {("127.0.0.1", lab.named_port)}
    assert pub.servers == (("ns2.example.test.", lab.addr(3), 53),)
    assert lab.txt(3, name) == {V1, V2}
    print(f"\nnamed primary: {pub.propagation * 1e3:.0f} ms to propagate")
    run(unpublish(pub))
    reply = dns.query.udp(dns.message.make_query(name, "TXT"), "127.0.0.1", port=lab.named_port, timeout=2)
    assert not reply.answer
    assert wait_values(lab, 3, name, set()) == set()


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(("key", "error"), [
    (TsigKey.from_text("acme-key.", "hmac-sha256", base64.b64encode(b"w" * 32).decode()), "BADSIG"),
    (TsigKey.from_text("nobody-key.", "hmac-sha256", ACME_SECRET), "BADKEY"),
])
def test_wrong_key_names_key_and_server(lab, key, error):
    serial = lab.serial(2, "example.test.")
    with pytest.raises(UpdateRefused) as info:
        run(publish([("example.test", V1)], lab.target(key=key), deadline=10))
    text = str(info.value)
    assert key.name.to_text() in text and f"{lab.addr(2)}:53" in text and error in text, text
    assert "rcode NOTAUTH" in text, text
    assert lab.txt(2, "_acme-challenge.example.test.") == {"unrelated text"}
    assert lab.serial(2, "example.test.") == serial


def test_a_name_in_no_zone_is_never_sent_to_the_root(lab):
    """A name under no zone but the root: no UPDATE (with our key name) goes to the root's MNAME."""
    with pytest.raises(PublishError) as info:
        run(publish([("nosuch.example", V1)], lab.target(), deadline=10))
    text = str(info.value)
    assert "no zone below the root" in text and "nosuch.example" in text, text


def test_lagging_servers_named_within_the_deadline(lab):
    """lag.test.: ns3 serves an old static copy, ns4 has no server at all. Both are named at the
    deadline, the primary is not, and the value is removed again."""
    deadline = 3.0
    with pytest.raises(PropagationError) as info:
        run(publish([("lag.test", V1)], lab.target(), deadline=deadline, poll=0.1))
    text = str(info.value)
    lagging = {(lag.server.name, lag.server.address) for lag in info.value.lagging}
    assert lagging == {("ns3.lag.test.", lab.addr(5)), ("ns4.lag.test.", lab.addr(6))}, text
    assert f"ns3.lag.test. {lab.addr(5)}:53" in text and f"ns4.lag.test. {lab.addr(6)}:53" in text, text
    assert ("0 of 1 value(s)" in text or "no reply" in text) and "port unreachable" in text, text
    assert "ns1.example.test." not in text, text
    assert lab.txt(2, "_acme-challenge.lag.test.") == set()


def test_resolver_not_answering(lab):
    with pytest.raises(PublishError) as info:
        run(publish([("example.test", V1)], UpdateTarget(server=None, key=KEY, resolver=(lab.addr(6), 53)),
                    deadline=5))
    assert "resolver" in str(info.value) and f"{lab.addr(6)}:53" in str(info.value)


def test_system_resolver(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch example.test\nnameserver bogus\nnameserver 192.0.2.53\nnameserver ::1\n")
    assert system_resolver(str(conf)) == ("192.0.2.53", 53)
    conf.write_text("options edns0\n")
    assert system_resolver(str(conf)) == ("127.0.0.1", 53)
    assert system_resolver(str(tmp_path / "missing")) == ("127.0.0.1", 53)


# --------------------------------------------------------------------------- the stub client


class FakeServer:
    """A UDP (and TCP) server on 127.0.0.1 in a thread: ``script(query) -> [replies]``."""

    def __init__(self, script, tcp_script=None) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.1)
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(4)
        self.tcp.settimeout(0.1)
        self.script, self.tcp_script = script, tcp_script or script
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._udp, self._tcp)]
        for t in self.threads:
            t.start()

    def _udp(self) -> None:
        while not self.stop.is_set():
            try:
                data, addr = self.udp.recvfrom(65535)
            except OSError:
                continue
            for reply in self.script(data):
                self.udp.sendto(reply, addr)

    def _tcp(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                size = struct.unpack("!H", conn.recv(2))[0]
                data = conn.recv(size)
                for reply in self.tcp_script(data):
                    conn.sendall(struct.pack("!H", len(reply)) + reply)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(2)
        self.udp.close()
        self.tcp.close()


def _answer(data: bytes, *, ident=None, qname=None, tc=False, rcode=0, text="ok") -> bytes:
    q = dns.message.from_wire(data)
    r = dns.message.make_response(q)
    if qname is not None:
        r.question[0].name = dns.name.from_text(qname)
    if ident is not None:
        r.id = ident
    r.set_rcode(rcode)
    if tc:
        r.flags |= dns.flags.TC
    else:
        r.answer.append(dns.rrset.from_text(r.question[0].name, 60, "IN", "TXT", f'"{text}"'))
    return r.to_wire()


def _q(name="client.test.") -> bytes:
    return dns.message.make_query(name, "TXT", id=4321).to_wire()


CLIENT_CASES = [
    # (id, UDP script, TCP script, expected TXT or exception)
    ("plain", lambda d: [_answer(d)], None, "ok"),
    ("wrong-id-then-right", lambda d: [_answer(d, ident=1), _answer(d, text="right")], None, "right"),
    ("wrong-question-ignored", lambda d: [_answer(d, qname="other.test.", text="bad"), _answer(d, text="right")],
     None, "right"),
    ("question-case-kept", lambda d: [_answer(d, qname="CLIENT.Test.", text="right")], None, "right"),
    ("truncated-then-tcp", lambda d: [_answer(d, tc=True)], lambda d: [_answer(d, text="tcp")], "tcp"),
    ("silent", lambda d: [], None, QueryTimeout),
    ("query-reply-without-question", lambda d: [d[:2] + b"\x81\x80" + b"\0" * 8], None, QueryTimeout),
]


@pytest.mark.parametrize(("script", "tcp_script", "expect"), [c[1:] for c in CLIENT_CASES],
                         ids=[c[0] for c in CLIENT_CASES])
def test_stub_client(script, tcp_script, expect):
    server = FakeServer(script, tcp_script)
    try:
        coro = query(("127.0.0.1", server.port), _q(), timeout=0.5)
        if isinstance(expect, str):
            reply = dns.message.from_wire(run(coro, 5))
            assert [b"".join(rd.strings).decode() for rd in reply.answer[0]] == [expect]
        else:
            with pytest.raises(expect):
                run(coro, 5)
    finally:
        server.close()


def test_stub_client_update_reply_without_zone_section():
    upd = dns.update.UpdateMessage("client.test.", id=77).to_wire()
    server = FakeServer(lambda d: [d[:2] + b"\xa8\x00" + b"\0" * 8])  # QR, opcode UPDATE, NOERROR, no sections
    try:
        assert run(query(("127.0.0.1", server.port), upd, timeout=1), 5)[:4] == b"\x00\x4d\xa8\x00"
    finally:
        server.close()


def test_stub_client_refused_port_and_tcp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(QueryError, match="port unreachable"):
        run(query(("127.0.0.1", port), _q(), timeout=2), 5)
    with pytest.raises(QueryError, match="TCP"):
        run(query(("127.0.0.1", port), _q(), timeout=2, tcp=True), 5)


def test_stub_client_no_route():
    """An IPv6 address with no route (or no IPv6 at all) is Unreachable at once, not a timeout."""
    began = time.monotonic()
    with pytest.raises((Unreachable, QueryTimeout)) as info:
        run(query(("2001:db8::53", 53), _q(), timeout=1), 5)
    if isinstance(info.value, Unreachable):
        assert time.monotonic() - began < 0.5
