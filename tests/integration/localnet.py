"""A local Internet on loopback: a root, two TLDs and zones below them, for testing resolvers.

Every authoritative server listens on port 53 of its own address in one block
``127.53.N.0/24`` (N is the first block whose addresses are all free), because resolvers ask
port 53 of every server a delegation names. The layout (``B`` is the block, e.g. ``127.53.0``):

=========  =======================  ========================================================
address    server                   zones, and what they exercise
=========  =======================  ========================================================
B.1        NSD                      ``.``: NS ``a.root-servers.corp.`` (glue), delegates
                                    ``example.`` and ``corp.`` with glue
B.2        NSD                      ``example.``: ``alpha.example.`` with glue, ``beta.example.``
                                    glueless (NS ``ns.beta-dns.corp.``, in the other TLD)
B.3        dns-suite authoritative  ``corp.``: ``beta-dns``/``shop`` with glue, ``store`` whose NS
                                    is ``ns1.shop.corp.`` (a sibling's in-bailiwick name, sibling
                                    glue), ``gamma`` glueless two levels deep (NS
                                    ``ns.kids.beta.example.``), ``lame`` (B.22 only) and
                                    ``halflame`` (B.22 and B.13), ``evil`` (B.24), ``bare``
                                    (B.25), ``dangling`` (NS name that does not exist)
B.10       NSD                      ``alpha.example.``: hosts, MX/TXT, NODATA, CNAME chains (in
                                    the zone, to beta, to corp, to NXDOMAIN, loops), DNAMEs (in
                                    the zone and to ``shop.corp.``), wildcards, a deep empty
                                    non-terminal; delegates ``silent`` (B.20), ``tc`` (B.21),
                                    ``upward`` (B.23), ``mixed`` (B.20 and B.14)
B.11       dns-suite authoritative  ``beta.example.``: hosts, a wildcard, CNAMEs back into alpha
                                    and to corp, the other half of a cross-zone loop; delegates
                                    ``kids`` with glue
B.12       NSD                      ``beta-dns.corp.``: the address of ``ns.beta-dns.corp.``
B.13       NSD                      ``shop.corp.``, ``store.corp.`` (its apex NS set has a name
                                    more than the parent's), ``halflame.corp.``
B.14, .15  NSD                      ``kids.beta.example.``, ``mixed.alpha.example.``,
                                    ``gamma.corp.``; the NS names' addresses in the children are
                                    B.14 and B.15, the parents' glue says B.14 only
B.20       Python: silent           never answers (UDP read and dropped, TCP held open)
B.21       Python: tc               UDP: TC=1 and nothing else; TCP: answers
                                    ``tc.alpha.example.`` properly
B.22       Python: refused          REFUSED to everything (lame)
B.23       Python: upward           NOERROR without AA, an upward referral to the root (lame)
B.24       Python: poison           serves ``evil.corp.`` and adds out-of-bailiwick records to
                                    every reply: A of ``victim.shop.corp.`` and
                                    ``victim.alpha.example.``, NS of
                                    ``shop.corp.``/``alpha.example.`` -> ``ns.evil.corp.``,
                                    ``ns1.shop.corp.`` A B.24 (a resolver must drop them all)
B.25, .26  Python: nosoa            serves ``bare.corp.`` but leaves the SOA out of NXDOMAIN and
                                    NODATA answers; the zone says ``ns.bare.corp.`` is B.25 and
                                    B.26, the glue in ``corp.`` says B.25
B.50-52    resolvers under test     (port RESOLVER_PORT): Unbound A, Unbound B, ours
=========  =======================  ========================================================

:func:`start_localnet` writes the zones and the root hints, starts everything and returns a
:class:`LocalNet` once each server answers; :func:`start_unbound` and :func:`start_our_resolver`
start resolvers that use the hints. Needs root (port 53) and, for the servers, ``nsd`` and
``dns-suite``; the resolvers need ``unbound`` and ``dns-suite resolver``.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

from peers import DNS_SUITE, NSD, PeerError, Server, START_TIMEOUT, kill_all, wait_answering

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
UNBOUND_CHECKCONF = shutil.which("unbound-checkconf") or "/usr/sbin/unbound-checkconf"
RESOLVER_PORT = 5353
ROOT_NS = "a.root-servers.corp."
FAKE_LIFETIME = 900.0  # seconds a misbehaving server lives at most (the fixture stops it sooner)

# Last octet of each server's address in the block.
ROOT, TLD_EXAMPLE, TLD_CORP = 1, 2, 3
ALPHA, BETA, BETA_DNS, SHOP, KIDS, KIDS2 = 10, 11, 12, 13, 14, 15
SILENT, TC, REFUSED, UPWARD, POISON, NOSOA, NOSOA2 = 20, 21, 22, 23, 24, 25, 26
UNBOUND_A, UNBOUND_B, OURS = 50, 51, 52
ALL_HOSTS = (ROOT, TLD_EXAMPLE, TLD_CORP, ALPHA, BETA, BETA_DNS, SHOP, KIDS, KIDS2, SILENT, TC,
             REFUSED, UPWARD, POISON, NOSOA, NOSOA2, UNBOUND_A, UNBOUND_B, OURS)

# Authoritative servers: (last octet, program, origins). Zone texts are in ZONES.
AUTHORITIES = [
    (ROOT, "nsd", ["."]),
    (TLD_EXAMPLE, "nsd", ["example."]),
    (TLD_CORP, "dns-suite", ["corp."]),
    (ALPHA, "nsd", ["alpha.example."]),
    (BETA, "dns-suite", ["beta.example."]),
    (BETA_DNS, "nsd", ["beta-dns.corp."]),
    (SHOP, "nsd", ["shop.corp.", "store.corp.", "halflame.corp."]),
    (KIDS, "nsd", ["kids.beta.example.", "mixed.alpha.example.", "gamma.corp."]),
]
# Servers that listen on more addresses (the child zones list both, the parents' glue one).
ALSO_LISTENS = {KIDS: [KIDS2]}
# Misbehaving servers: last octet -> mode (see FakeServer).
FAKES = {SILENT: "silent", TC: "tc", REFUSED: "refused", UPWARD: "upward", POISON: "poison",
         NOSOA: "nosoa", NOSOA2: "nosoa"}
# The zone each fake server answers from.
FAKE_ZONES = {TC: "tc.alpha.example.", POISON: "evil.corp.", NOSOA: "bare.corp.",
              NOSOA2: "bare.corp."}
POISONED_A = "192.0.2.66"  # where the poisoner's records point the names it targets
# What the poisoner adds to each reply, by section ("{B}": the block).
POISON_EXTRAS = {
    "answer": ["victim.shop.corp. 3600 IN A " + POISONED_A,
               "victim.alpha.example. 3600 IN A " + POISONED_A],
    "authority": ["shop.corp. 3600 IN NS ns.evil.corp.",
                  "alpha.example. 3600 IN NS ns.evil.corp."],
    "additional": [f"ns.evil.corp. 3600 IN A {{B}}.{POISON}",
                   f"ns1.shop.corp. 3600 IN A {{B}}.{POISON}"],
}

_SOA = "@ SOA ns hostmaster 2026010101 3600 900 604800 300"

# The zones; "{B}" is replaced by the address block ("127.53.N"). Hosts h*/b*/s* are added by
# _hosts(). TTLs are all 3600 except where a test wants otherwise.
ZONES: dict[str, str] = {
    ".": f"""
$TTL 3600
@ SOA {ROOT_NS} hostmaster.root-servers.corp. 2026010101 3600 900 604800 300
@ NS {ROOT_NS}
example. NS ns1.nic.example.
ns1.nic.example. A {{B}}.{TLD_EXAMPLE}
corp. NS ns1.nic.corp.
ns1.nic.corp. A {{B}}.{TLD_CORP}
{ROOT_NS} A {{B}}.{ROOT}
""",
    "example.": f"""
$TTL 3600
@ SOA ns1.nic hostmaster.nic 2026010101 3600 900 604800 300
@ NS ns1.nic
ns1.nic A {{B}}.{TLD_EXAMPLE}
www.nic A 192.0.2.2
info TXT "the example. TLD"
alpha NS ns1.alpha
ns1.alpha A {{B}}.{ALPHA}
beta NS ns.beta-dns.corp.
""",
    "corp.": f"""
$TTL 3600
@ SOA ns1.nic hostmaster.nic 2026010101 3600 900 604800 300
@ NS ns1.nic
ns1.nic A {{B}}.{TLD_CORP}
a.root-servers A {{B}}.{ROOT}
www.nic A 192.0.2.3
beta-dns NS ns1.beta-dns
ns1.beta-dns A {{B}}.{BETA_DNS}
shop NS ns1.shop
ns1.shop A {{B}}.{SHOP}
store NS ns1.shop
gamma NS ns.kids.beta.example.
lame NS ns.lame
ns.lame A {{B}}.{REFUSED}
halflame NS ns.lame
halflame NS ns1.shop
evil NS ns.evil
ns.evil A {{B}}.{POISON}
bare NS ns.bare
ns.bare A {{B}}.{NOSOA}
dangling NS ns.nothere.beta.example.
""",
    "alpha.example.": f"""
$TTL 3600
@ SOA ns1 hostmaster 2026010101 3600 900 604800 300
@ NS ns1
@ MX 10 mail
@ TXT "alpha zone"
@ A 192.0.2.10
ns1 A {{B}}.{ALPHA}
mail A 192.0.2.25
mail AAAA 2001:db8::25
www A 192.0.2.80
www AAAA 2001:db8::80
www TXT "www of alpha"
onlytxt TXT "nothing but TXT"
onlymx MX 20 mail.shop.corp.
c1 CNAME c2
c2 CNAME c3
c3 CNAME www
tobeta CNAME www.beta.example.
toshop CNAME www.shop.corp.
tocross CNAME chain1.beta.example.
tonx CNAME nothere
tonxother CNAME nothere.shop.corp.
tosilent CNAME www.silent
totc CNAME www.tc
togamma CNAME www.gamma.corp.
loop1 CNAME loop2
loop2 CNAME loop1
xloop CNAME xloop.beta.example.
old DNAME shop.corp.
legacy DNAME v2
v2 A 192.0.2.20
www.v2 A 192.0.2.21
mail.v2 MX 10 mail
*.wild A 192.0.2.99
*.wild TXT "wildcard"
explicit.wild A 192.0.2.98
*.wcname CNAME www
a.b.c.d.e.deep A 192.0.2.7
a.b.c.d.e.deep TXT "deep down"
silent NS ns.silent
ns.silent A {{B}}.{SILENT}
tc NS ns.tc
ns.tc A {{B}}.{TC}
upward NS ns.upward
ns.upward A {{B}}.{UPWARD}
mixed NS ns.silent
mixed NS ns2.mixed
ns2.mixed A {{B}}.{KIDS}
""",
    "beta.example.": f"""
$TTL 3600
@ SOA ns.beta-dns.corp. hostmaster 2026010101 3600 900 604800 300
@ NS ns.beta-dns.corp.
@ TXT "beta zone, served by dns-suite behind a glueless delegation"
www A 192.0.2.110
www AAAA 2001:db8::110
chain1 CNAME chain2
chain2 CNAME www.shop.corp.
back CNAME www.alpha.example.
xloop CNAME xloop.alpha.example.
*.users A 192.0.2.111
*.users MX 10 mail.alpha.example.
kids NS ns.kids
ns.kids A {{B}}.{KIDS}
""",
    "beta-dns.corp.": f"""
$TTL 3600
{_SOA}
@ NS ns1
ns1 A {{B}}.{BETA_DNS}
ns A {{B}}.{BETA}
""",
    "shop.corp.": f"""
$TTL 3600
{_SOA}
@ NS ns1
@ MX 10 mail
ns1 A {{B}}.{SHOP}
ns A {{B}}.{SHOP}
www A 192.0.2.130
www AAAA 2001:db8::130
mail A 192.0.2.131
towild CNAME anything.wild.alpha.example.
q.r.s.t.u.deep A 192.0.2.132
""",
    "store.corp.": """
$TTL 3600
@ SOA ns1.shop.corp. hostmaster 2026010101 3600 900 604800 300
@ NS ns1.shop.corp.
@ NS ns.shop.corp.
www A 192.0.2.140
www TXT "the store, whose server's name is in its sibling shop.corp."
""",
    "halflame.corp.": """
$TTL 3600
@ SOA ns1.shop.corp. hostmaster 2026010101 3600 900 604800 300
@ NS ns.lame.corp.
@ NS ns1.shop.corp.
www A 192.0.2.150
""",
    "kids.beta.example.": f"""
$TTL 3600
{_SOA}
@ NS ns
ns A {{B}}.{KIDS}
ns A {{B}}.{KIDS2}
www A 192.0.2.160
toy TXT "a zone below the glueless beta.example."
""",
    "mixed.alpha.example.": f"""
$TTL 3600
@ SOA ns2 hostmaster 2026010101 3600 900 604800 300
@ NS ns.silent.alpha.example.
@ NS ns2
ns2 A {{B}}.{KIDS}
ns2 A {{B}}.{KIDS2}
www A 192.0.2.170
""",
    "gamma.corp.": """
$TTL 3600
@ SOA ns.kids.beta.example. hostmaster 2026010101 3600 900 604800 300
@ NS ns.kids.beta.example.
www A 192.0.2.180
www MX 10 www
""",
    # Served by the poisoner, with out-of-bailiwick records added to each reply.
    "evil.corp.": f"""
$TTL 3600
@ SOA ns hostmaster 2026010101 3600 900 604800 300
@ NS ns
ns A {{B}}.{POISON}
www A {POISONED_A}
""",
    # Served by the fake servers that leave the SOA out of negative answers.
    "bare.corp.": f"""
$TTL 3600
@ SOA ns hostmaster 2026010101 3600 900 604800 300
@ NS ns
ns A {{B}}.{NOSOA}
ns A {{B}}.{NOSOA2}
www A 192.0.2.200
www TXT "negative answers from this zone carry no SOA"
""",
    # Served by the TC fake server over TCP only.
    "tc.alpha.example.": f"""
$TTL 3600
@ SOA ns hostmaster 2026010101 3600 900 604800 300
@ NS ns
ns A {{B}}.{TC}
www A 192.0.2.190
www TXT "answered over TCP only"
""",
}

# Generated hosts per zone: (origin, label prefix, count, seed).
HOSTS = [("alpha.example.", "h", 40, 1), ("beta.example.", "b", 30, 2), ("shop.corp.", "s", 30, 3),
         ("corp.", "c", 10, 4)]


def _hosts(prefix: str, count: int, seed: int) -> str:
    """Deterministic host records: A on all, AAAA/TXT/MX on some, a few at depth 2."""
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        name = f"{prefix}{i}" if rng.random() < 0.8 else f"{prefix}{i}.grp{rng.randrange(3)}"
        lines.append(f"{name} A 198.51.100.{rng.randrange(1, 255)}")
        if rng.random() < 0.5:
            lines.append(f"{name} AAAA 2001:db8:{seed}::{rng.randrange(1, 0xffff):x}")
        if rng.random() < 0.4:
            lines.append(f'{name} TXT "host {i} of seed {seed}"')
        if rng.random() < 0.3:
            lines.append(f"{name} MX {rng.randrange(1, 50)} {prefix}{rng.randrange(count)}")
    return "\n".join(lines) + "\n"


def zone_text(origin: str, block: str) -> str:
    """The zone file text of ``origin`` with the addresses of ``block`` (e.g. "127.53.0")."""
    text = ZONES[origin].replace("{B}", block)
    for zone, prefix, count, seed in HOSTS:
        if zone == origin:
            text += _hosts(prefix, count, seed)
    return f"$ORIGIN {origin}\n" + text.lstrip("\n")


def load_zone(origin: str, block: str) -> dns.zone.Zone:
    """The zone as dnspython parses it (absolute names), for corpus building and the fakes."""
    return dns.zone.from_text(zone_text(origin, block), origin, relativize=False,
                              check_origin=True)


# --- the misbehaving servers ----------------------------------------------------------------

def answer_from_zone(zone: dns.zone.Zone, query: dns.message.Message) -> dns.message.Message:
    """A plain authoritative answer (no wildcards, cuts or DNAMEs: the fakes' zones have none);
    REFUSED outside the zone."""
    reply = dns.message.make_response(query)
    qname, qtype = query.question[0].name, query.question[0].rdtype
    if not qname.is_subdomain(zone.origin):
        reply.set_rcode(dns.rcode.REFUSED)
        return reply
    reply.flags |= dns.flags.AA
    node = zone.get_node(qname)
    found = None
    if node is not None:
        found = node.get_rdataset(dns.rdataclass.IN, qtype) or \
            node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
    if found is not None:
        reply.answer.append(dns.rrset.from_rdata_list(qname, found.ttl, list(found)))
        return reply
    if node is None and not any(n.is_subdomain(qname) for n in zone.nodes):
        reply.set_rcode(dns.rcode.NXDOMAIN)
    soa = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)
    reply.authority.append(dns.rrset.from_rdata_list(zone.origin, soa.ttl, list(soa)))
    return reply


class FakeServer:
    """A misbehaving authoritative server on ``host`` port 53 (UDP and TCP), in daemon threads.

    Modes: ``silent`` reads and drops every UDP query and holds TCP connections open without
    answering; ``tc`` answers UDP with TC=1 and empty sections, TCP properly from ``zone``;
    ``refused`` answers REFUSED; ``upward`` answers NOERROR without AA with a referral to the
    root (a lame server of the old BIND kind); ``poison`` answers from ``zone`` and adds the
    out-of-bailiwick ``extras`` ({section: [RR text]}) to every reply; ``nosoa`` answers from
    ``zone`` but leaves the SOA out of NXDOMAIN and NODATA answers. Stops at :meth:`stop` or
    after ``lifetime`` seconds. Counts the queries it saw in ``udp_queries`` / ``tcp_queries``.
    """

    def __init__(self, host: str, mode: str, *, zone: dns.zone.Zone | None = None,
                 root: tuple[str, str] | None = None, extras: dict[str, list[str]] | None = None,
                 port: int = 53, lifetime: float = FAKE_LIFETIME) -> None:
        self.host, self.port, self.mode, self.zone, self.root = host, port, mode, zone, root
        self.extras = extras or {}
        self.deadline = time.monotonic() + lifetime
        self.udp_queries = 0
        self.tcp_queries = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._udp.bind((host, port))
        self._tcp.bind((host, port))
        self._tcp.listen(64)
        for sock in (self._udp, self._tcp):
            sock.settimeout(0.2)
        self._spawn(self._serve_udp)
        self._spawn(self._serve_tcp)

    def _spawn(self, target, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True,
                             name=f"fake-{self.mode}-{self.host}")
        t.start()
        self._threads.append(t)

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self.deadline

    def reply(self, wire: bytes, tcp: bool) -> bytes | None:
        """The reply octets to ``wire`` (None: no reply)."""
        if self.mode == "silent":
            return None
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        if not query.question:
            return None
        if self.mode == "refused":
            reply = dns.message.make_response(query)
            reply.set_rcode(dns.rcode.REFUSED)
        elif self.mode == "upward":
            reply = dns.message.make_response(query)
            name, addr = self.root
            reply.authority.append(dns.rrset.from_text(".", 3600, "IN", "NS", name))
            reply.additional.append(dns.rrset.from_text(name, 3600, "IN", "A", addr))
        elif self.mode == "poison":
            reply = self._poisoned(query)
        elif self.mode == "nosoa":
            reply = answer_from_zone(self.zone, query)
            reply.authority.clear()
        elif not tcp:  # tc
            reply = dns.message.make_response(query)
            reply.flags |= dns.flags.AA | dns.flags.TC
        else:
            reply = answer_from_zone(self.zone, query)
        return reply.to_wire()

    def _poisoned(self, query: dns.message.Message) -> dns.message.Message:
        reply = answer_from_zone(self.zone, query)
        for section, rrs in self.extras.items():
            for text in rrs:
                getattr(reply, section).append(dns.rrset.from_text(*text.split(maxsplit=4)))
        return reply

    def _serve_udp(self) -> None:
        while self._running():
            try:
                wire, peer = self._udp.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            self.udp_queries += 1
            out = self.reply(wire, tcp=False)
            if out is not None:
                try:
                    self._udp.sendto(out, peer)
                except OSError:
                    pass

    def _serve_tcp(self) -> None:
        while self._running():
            try:
                conn, _ = self._tcp.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(0.5)
            self._conns.append(conn)
            self._spawn(self._serve_conn, conn)

    def _serve_conn(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while self._running():
                try:
                    chunk = conn.recv(65535)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                    n = struct.unpack("!H", buf[:2])[0]
                    wire, buf = buf[2:2 + n], buf[2 + n:]
                    self.tcp_queries += 1
                    out = self.reply(wire, tcp=True)
                    if out is None:
                        continue
                    try:
                        conn.sendall(struct.pack("!H", len(out)) + out)
                    except OSError:
                        return

    def stop(self) -> None:
        """Close the sockets and end the threads (bounded wait); idempotent."""
        self._stop.set()
        for sock in [self._udp, self._tcp, *self._conns]:
            try:
                sock.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(2.0)


# --- the network ----------------------------------------------------------------------------

@dataclass
class LocalNet:
    """The running local Internet: its address block, servers, zones and root hints."""

    block: str
    workdir: Path
    hints: Path
    servers: list[Server] = field(default_factory=list)
    fakes: dict[int, FakeServer] = field(default_factory=dict)

    def addr(self, octet: int) -> str:
        return f"{self.block}.{octet}"

    def zones(self) -> dict[str, dns.zone.Zone]:
        """Every zone of the network, parsed (origin -> zone)."""
        return {origin: load_zone(origin, self.block) for origin in ZONES}

    def stop(self) -> None:
        for fake in self.fakes.values():
            fake.stop()
        kill_all(self.servers)


def _free(addr: str, port: int) -> bool:
    """Whether UDP and TCP ``addr:port`` can be bound now (PermissionError: not root)."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addr, port))
            except PermissionError:
                raise PeerError(f"binding {addr}:{port} needs root (uid {os.geteuid()})") from None
            except OSError:
                return False
    return True


def choose_block() -> str:
    """The first block 127.53.N (N < 64) whose addresses are all free on port 53 and on
    RESOLVER_PORT: another run of this test, or another suite, may hold one."""
    for n in range(64):
        block = f"127.53.{n}"
        if all(_free(f"{block}.{o}", 53) and _free(f"{block}.{o}", RESOLVER_PORT)
               for o in ALL_HOSTS):
            return block
    raise PeerError("no free address block 127.53.N.0/24 for the local Internet")


def write_hints(path: Path, block: str) -> Path:
    """A root hints file naming the local root server."""
    path.write_text(f".  3600000 IN NS {ROOT_NS}\n{ROOT_NS}  3600000 IN A {block}.{ROOT}\n")
    return path


def _nsd_conf(workdir: Path, addrs: list[str], zones: list[tuple[str, Path]]) -> str:
    options = {"port": 53, "do-ip4": "yes", "do-ip6": "no",
               "username": '""', "chroot": '""', "zonesdir": f'"{workdir}"',
               "pidfile": f'"{workdir}/nsd.pid"', "xfrdfile": f'"{workdir}/xfrd.state"',
               "xfrdir": f'"{workdir}"', "zonelistfile": f'"{workdir}/zone.list"',
               "database": '""', "logfile": f'"{workdir}/nsd.log"', "verbosity": 1,
               "server-count": 1, "reuseport": "no", "tcp-count": 200, "rrl-ratelimit": 0,
               "rrl-whitelist-ratelimit": 0, "refuse-any": "no"}
    text = "server:\n" + "".join(f"    ip-address: {a}\n" for a in addrs)
    text += "".join(f"    {k}: {v}\n" for k, v in options.items())
    text += "remote-control:\n    control-enable: no\n"
    for origin, path in zones:
        text += f'zone:\n    name: "{origin}"\n    zonefile: "{path}"\n'
    return text


def _popen(name: str, argv: list[str], workdir: Path, host: str, port: int) -> Server:
    log = workdir / f"{name}.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return Server(name=name, host=host, port=port, proc=proc, workdir=workdir, log=log)


def start_localnet(workdir: Path, timeout: float = START_TIMEOUT) -> LocalNet:
    """Write the zones and hints into ``workdir``, start every server, wait until each answers
    SOA for its first zone over UDP and TCP, and return the network (stop it with ``stop``)."""
    block = choose_block()
    workdir.mkdir(parents=True, exist_ok=True)
    zonedir = workdir / "zones"
    zonedir.mkdir(exist_ok=True)
    paths = {}
    for origin in ZONES:
        paths[origin] = zonedir / (origin.rstrip(".") or "root")
        paths[origin].write_text(zone_text(origin, block))
    net = LocalNet(block=block, workdir=workdir, hints=write_hints(workdir / "root.hints", block))
    try:
        for octet, program, origins in AUTHORITIES:
            addr = net.addr(octet)
            sdir = workdir / f"{program}-{octet}"
            sdir.mkdir(exist_ok=True)
            if program == "nsd":
                conf = sdir / "nsd.conf"
                addrs = [addr] + [net.addr(o) for o in ALSO_LISTENS.get(octet, [])]
                conf.write_text(_nsd_conf(sdir, addrs, [(o, paths[o]) for o in origins]))
                argv = [NSD, "-d", "-c", str(conf)]
            else:
                argv = [DNS_SUITE, "authoritative", "--listen", f"{addr}:53"]
                for o in origins:
                    argv += ["--zone", f"{o}={paths[o]}"]
            net.servers.append(_popen(f"{program}-{octet}", argv, sdir, addr, 53))
        extras = {k: [rr.replace("{B}", block) for rr in v] for k, v in POISON_EXTRAS.items()}
        for octet, mode in FAKES.items():
            zone = load_zone(FAKE_ZONES[octet], block) if octet in FAKE_ZONES else None
            net.fakes[octet] = FakeServer(net.addr(octet), mode, zone=zone,
                                          root=(ROOT_NS, net.addr(ROOT)), extras=extras)
        for server, (_, _, origins) in zip(net.servers, AUTHORITIES):
            wait_answering(server, origins[0], timeout)
    except BaseException:
        net.stop()
        raise
    return net


# --- resolvers ------------------------------------------------------------------------------

# Unbound options that older, unpatched versions reject: kept only when unbound-checkconf takes
# them. discard-timeout (Unbound 1.21, backported by Debian 12) drops the reply to a client that
# waited over 1.9 s, so a resolution stuck on the silent server would answer no retry in time.
UNBOUND_OPTIONAL = ["discard-timeout: 0"]


def _unbound_conf(net: LocalNet, workdir: Path, addr: str, optional: list[str]) -> str:
    extra = "".join(f"    {line}\n" for line in optional)
    return f"""server:
    verbosity: 1
    interface: {addr}
    port: {RESOLVER_PORT}
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    access-control: 127.0.0.0/8 allow
    chroot: ""
    username: ""
    directory: "{workdir}"
    pidfile: "{workdir}/unbound.pid"
    logfile: ""
    use-syslog: no
    num-threads: 1
    so-reuseport: no
    root-hints: "{net.hints}"
    do-not-query-localhost: no
    module-config: "iterator"
    qname-minimisation: yes
{extra}remote-control:
    control-enable: no
"""


def start_unbound(net: LocalNet, workdir: Path, octet: int,
                  timeout: float = START_TIMEOUT) -> Server:
    """``unbound -d -c CONF`` on ``B.octet:RESOLVER_PORT`` with the local root hints (no
    DNSSEC: the iterator module only), once it answers ``. SOA`` over UDP and TCP."""
    workdir.mkdir(parents=True, exist_ok=True)
    addr = net.addr(octet)
    conf = workdir / "unbound.conf"
    conf.write_text(_unbound_conf(net, workdir, addr, UNBOUND_OPTIONAL))
    checked = subprocess.run([UNBOUND_CHECKCONF, str(conf)], capture_output=True, timeout=30)
    if checked.returncode != 0:
        conf.write_text(_unbound_conf(net, workdir, addr, []))
    server = _popen(f"unbound-{octet}", [UNBOUND, "-d", "-c", str(conf)], workdir, addr,
                    RESOLVER_PORT)
    return _waited(server, timeout)


def _waited(server: Server, timeout: float) -> Server:
    try:
        wait_answering(server, ".", timeout)
    except BaseException:
        server.stop()
        raise
    return server


def start_our_resolver(net: LocalNet, workdir: Path, octet: int = OURS,
                       timeout: float = START_TIMEOUT) -> Server:
    """``dns-suite resolver --config FILE`` on ``B.octet:RESOLVER_PORT`` with the same hints."""
    workdir.mkdir(parents=True, exist_ok=True)
    addr = net.addr(octet)
    conf = workdir / "resolver.toml"
    conf.write_text(f'[resolver]\nlisten = ["{addr}:{RESOLVER_PORT}"]\n'
                    f'root_hints = "{net.hints}"\nquery_private = true\ndo_ip6 = false\n'
                    "dnssec = false\n")  # unsigned local Internet; Unbound here has no anchor either
    server = _popen("dns-suite-resolver", [DNS_SUITE, "resolver", "--config", str(conf)],
                    workdir, addr, RESOLVER_PORT)
    return _waited(server, timeout)


__all__ = ["FAKES", "LocalNet", "FakeServer", "OURS", "POISONED_A", "RESOLVER_PORT", "TC",
           "UNBOUND", "UNBOUND_A", "UNBOUND_B", "ZONES", "answer_from_zone", "choose_block",
           "load_zone",
           "start_localnet", "start_our_resolver", "start_unbound",
           "write_hints", "zone_text"]
