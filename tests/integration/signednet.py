"""The local Internet, signed: a root, two TLDs and zones below them, DNSSEC-signed at start.

The signed sibling of localnet.py (whose helpers it uses: NSD configuration, process start,
root hints, Unbound's configuration): the zones are signed here, children before parents, each
signed child's DS going into its parent, and the root's KSK is the trust anchor both resolvers
are given (``net.anchor_file``; never the real root's). Servers listen on port 53 of their own
address in a block ``127.54.N.0/24`` (``B`` below; N is the first block whose addresses are
free). Signers: ``ldns`` (ldns-keygen + ldns-signzone) and ``bind`` (dnssec-keygen +
dnssec-signzone), as signedzones.py drives them.

==========  =========  ================================  =====================================
address     server     zone                              signed
==========  =========  ================================  =====================================
B.1         NSD        ``.``                             bind, NSEC, ECDSAP256SHA256 (anchor)
B.2         NSD        ``example.``                      ldns, NSEC3 (no salt, 0 it.), RSASHA256
B.3         dns-suite  ``corp.``                         bind, NSEC, ED25519
B.10        NSD        ``alpha.example.``                bind, NSEC, ECDSAP256SHA256: hosts,
                                                         NODATA, CNAMEs within and across zones
                                                         (to beta, shop, the insecure and the
                                                         bogus zones), DNAMEs, wildcards, ENTs
B.11        dns-suite  ``beta.example.``                 ldns, NSEC3 (salt, 1 it.), ED25519;
                                                         glueless (NS ``ns-beta.corp.``)
B.12        NSD        ``expired.example.``              ldns, ECDSAP256SHA256, every signature
                                                         expired: bogus (EDE 7)
B.13        NSD        ``wrongds.corp.``                 bind, ECDSAP256SHA256, fine itself, but
                                                         ``corp.`` has a DS of a wrong digest for
                                                         it: bogus (EDE 9)
B.14        NSD        ``insecure.example.``,            unsigned; ``example.`` has no DS for the
                       ``legacy.shop.corp.``             first (NSEC3 proves it), ``shop.corp.``
                                                         none for the second (an opt-out span)
B.15        NSD        ``shop.corp.``                    bind, NSEC3 opt-out, RSASHA256 (no NSEC3
                                                         for ``legacy``: in an opt-out span)
B.16        dns-suite  ``kids.shop.corp.``               ldns, NSEC, ECDSAP256SHA256 (a secure
                                                         child of the opt-out zone)
B.50, .51   Unbound    resolvers under test (RESOLVER_PORT), validating
B.52        ours       ``dns-suite resolver``, validating
==========  =========  ================================  =====================================

:func:`start_signednet` signs, writes and starts everything; :func:`start_validating_unbound` and
:func:`start_our_validating_resolver` start the resolvers with the local anchor.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import dns.name
import dns.zone

from localnet import ALPHA, ROOT, TLD_CORP, TLD_EXAMPLE, ZONES as LOCALNET_ZONES  # same octets: same texts
from localnet import (RESOLVER_PORT, UNBOUND, UNBOUND_CHECKCONF, UNBOUND_OPTIONAL, LocalNet, _free,
                      _hosts, _nsd_conf, _popen, _unbound_conf, _waited, write_hints)
from peers import DNS_SUITE, NSD, PeerError, Server, START_TIMEOUT, wait_answering
from signedzones import (LDNS_SIGNZONE, PROGRAMS, Signing, _dnskey_of, _ds_of, _keygen_bind,
                         _keygen_ldns, _run, _sign_bind, _sign_ldns)

BETA, EXPIRED, WRONGDS, UNSIGNED, SHOP, KIDS = 11, 12, 13, 14, 15, 16  # ROOT, TLDs, ALPHA: localnet's
UNBOUND_A, UNBOUND_B, OURS = 50, 51, 52
SERVERS = (ROOT, TLD_EXAMPLE, TLD_CORP, ALPHA, BETA, EXPIRED, WRONGDS, UNSIGNED, SHOP, KIDS)
RESOLVERS = (UNBOUND_A, UNBOUND_B, OURS)
# the expired zone's signatures: valid from 2020-01-01 to 2020-02-01
EXPIRED_WINDOW = ("20200101000000", "20200201000000")

_SOA = "@ SOA ns1 hostmaster 2026010101 3600 900 604800 300"


@dataclass(frozen=True)
class ZoneDef:
    """One zone of the signed network.

    Attributes:
        origin: the apex.
        host: last octet of the server's address.
        program: "nsd" or "dns-suite".
        signing: how it is signed (signedzones.Signing), None: unsigned.
        expired: signed with signatures that expired in 2020 (EXPIRED_WINDOW).
        wrong_ds: the parent publishes a DS whose digest matches none of its keys.
        text: the zone text ("{B}": the address block).
    """

    origin: str
    host: int
    program: str
    signing: Signing | None
    text: str
    expired: bool = False
    wrong_ds: bool = False


# The unsigned localnet's alpha.example. without its delegations to misbehaving servers and the
# names that lead there, plus CNAMEs into the zones of this network.
_LOCALNET_ONLY = {"silent", "tc", "upward", "mixed", "gamma", "xloop"}
ALPHA_TEXT = "".join(
    line + "\n" for line in LOCALNET_ZONES["alpha.example."].splitlines()
    if not any(_LOCALNET_ONLY & set(token.split(".")) for token in line.split())) + """\
tokids CNAME www.kids.shop.corp.
toinsecure CNAME www.insecure.example.
tolegacy CNAME www.legacy.shop.corp.
toexpired CNAME www.expired.example.
towrongds CNAME www.wrongds.corp.
"""


ZONES: list[ZoneDef] = [
    ZoneDef(".", ROOT, "nsd", Signing(".", "bind", "nsec", "ECDSAP256SHA256"), LOCALNET_ZONES["."]),
    ZoneDef("example.", TLD_EXAMPLE, "nsd", Signing("example.", "ldns", "nsec3", "RSASHA256"), f"""
$TTL 3600
@ SOA ns1.nic hostmaster.nic 2026010101 3600 900 604800 300
@ NS ns1.nic
ns1.nic A {{B}}.{TLD_EXAMPLE}
www.nic A 192.0.2.2
info TXT "the example. TLD"
alpha NS ns1.alpha
ns1.alpha A {{B}}.{ALPHA}
beta NS ns-beta.corp.
expired NS ns1.expired
ns1.expired A {{B}}.{EXPIRED}
insecure NS ns1.insecure
ns1.insecure A {{B}}.{UNSIGNED}
"""),
    ZoneDef("corp.", TLD_CORP, "dns-suite", Signing("corp.", "bind", "nsec", "ED25519"), f"""
$TTL 3600
@ SOA ns1.nic hostmaster.nic 2026010101 3600 900 604800 300
@ NS ns1.nic
ns1.nic A {{B}}.{TLD_CORP}
a.root-servers A {{B}}.{ROOT}
ns-beta A {{B}}.{BETA}
www.nic A 192.0.2.3
shop NS ns1.shop
ns1.shop A {{B}}.{SHOP}
wrongds NS ns1.wrongds
ns1.wrongds A {{B}}.{WRONGDS}
"""),
    ZoneDef("alpha.example.", ALPHA, "nsd", Signing("alpha.example.", "bind", "nsec", "ECDSAP256SHA256"),
            ALPHA_TEXT),
    ZoneDef("beta.example.", BETA, "dns-suite",
            Signing("beta.example.", "ldns", "nsec3", "ED25519", salt="aabbccdd", iterations=1), """
$TTL 3600
@ SOA ns-beta.corp. hostmaster 2026010101 3600 900 604800 300
@ NS ns-beta.corp.
@ TXT "beta zone, signed with NSEC3, behind a glueless delegation"
www A 192.0.2.110
www AAAA 2001:db8::110
chain1 CNAME chain2
chain2 CNAME www.shop.corp.
back CNAME www.alpha.example.
toinsecure CNAME tosecure.insecure.example.
*.users A 192.0.2.111
*.users MX 10 mail.alpha.example.
x.y.ent TXT "below two empty non-terminals"
"""),
    ZoneDef("expired.example.", EXPIRED, "nsd",
            Signing("expired.example.", "ldns", "nsec", "ECDSAP256SHA256"), f"""
$TTL 3600
{_SOA}
@ NS ns1
@ TXT "signatures expired in 2020"
ns1 A {{B}}.{EXPIRED}
www A 192.0.2.120
""", expired=True),
    ZoneDef("wrongds.corp.", WRONGDS, "nsd", Signing("wrongds.corp.", "bind", "nsec", "ECDSAP256SHA256"), f"""
$TTL 3600
{_SOA}
@ NS ns1
@ TXT "signed, but corp. has a DS of another digest"
ns1 A {{B}}.{WRONGDS}
www A 192.0.2.125
""", wrong_ds=True),
    ZoneDef("insecure.example.", UNSIGNED, "nsd", None, f"""
$TTL 3600
{_SOA}
@ NS ns1
@ TXT "unsigned, no DS in example."
ns1 A {{B}}.{UNSIGNED}
www A 192.0.2.140
tosecure CNAME www.alpha.example.
*.wild A 192.0.2.141
"""),
    ZoneDef("shop.corp.", SHOP, "nsd", Signing("shop.corp.", "bind", "optout", "RSASHA256"), f"""
$TTL 3600
{_SOA}
@ NS ns1
@ MX 10 mail
ns1 A {{B}}.{SHOP}
www A 192.0.2.130
www AAAA 2001:db8::130
mail A 192.0.2.131
towild CNAME anything.wild.alpha.example.
q.r.s.t.u.deep A 192.0.2.132
*.any TXT "shop wildcard"
legacy NS ns1.legacy
ns1.legacy A {{B}}.{UNSIGNED}
kids NS ns.kids
ns.kids A {{B}}.{KIDS}
"""),
    ZoneDef("legacy.shop.corp.", UNSIGNED, "nsd", None, f"""
$TTL 3600
{_SOA}
@ NS ns1
ns1 A {{B}}.{UNSIGNED}
www A 192.0.2.150
www TXT "unsigned, below an opt-out span of shop.corp."
"""),
    ZoneDef("kids.shop.corp.", KIDS, "dns-suite",
            Signing("kids.shop.corp.", "ldns", "nsec", "ECDSAP256SHA256"), f"""
$TTL 3600
@ SOA ns hostmaster 2026010101 3600 900 604800 300
@ NS ns
ns A {{B}}.{KIDS}
www A 192.0.2.160
toy TXT "a signed zone below the opt-out shop.corp."
*.w A 192.0.2.161
"""),
]
BY_ORIGIN = {z.origin: z for z in ZONES}
# Generated hosts per zone: (origin, label prefix, count, seed), as localnet's.
HOSTS = [("alpha.example.", "h", 40, 1), ("beta.example.", "b", 30, 2), ("shop.corp.", "s", 30, 3),
         ("corp.", "c", 10, 4), ("insecure.example.", "u", 10, 5), ("kids.shop.corp.", "k", 10, 6)]
SECURE_ZONES = [z.origin for z in ZONES if z.signing is not None and not z.expired and not z.wrong_ds]
BOGUS_ZONES = {"expired.example.": 7, "wrongds.corp.": 9}  # origin -> the EDE it must carry
INSECURE_ZONES = [z.origin for z in ZONES if z.signing is None]
OPTOUT_ZONES = [z.origin for z in ZONES if z.signing is not None and z.signing.denial == "optout"]


def zone_text(origin: str, block: str) -> str:
    """The unsigned text of ``origin`` with the addresses of ``block`` (e.g. "127.54.0")."""
    text = BY_ORIGIN[origin].text.replace("{B}", block)
    for zone, prefix, count, seed in HOSTS:
        if zone == origin:
            text += _hosts(prefix, count, seed)
    return f"$ORIGIN {origin}\n" + text.lstrip("\n")


def parent_of(origin: str) -> str | None:
    """The origin of the zone of this network that holds ``origin``'s delegation."""
    name = dns.name.from_text(origin)
    while name != dns.name.root:
        name = name.parent()
        if name.to_text() in BY_ORIGIN:
            return name.to_text()
    return None


# --- signing -------------------------------------------------------------------------------

@dataclass
class SignedZone:
    """A zone ready to serve: its file, and the DS lines its parent publishes."""

    zone: ZoneDef
    path: Path
    ds: list[str] = field(default_factory=list)
    ksk_dnskey: str = ""


def _wrong(ds_line: str) -> str:
    """The DS line with its digest's first octet changed (key tag and algorithm kept)."""
    fields = ds_line.split()
    digest = "".join(fields[fields.index("DS") + 4:])
    wrong = f"{(int(digest[:2], 16) ^ 0xFF):02X}" + digest[2:]
    return " ".join(fields[:fields.index("DS") + 4] + [wrong])


def _sign_expired(s: Signing, d: Path, src: Path, out: Path, ksk: str, zsk: str) -> None:
    """ldns-signzone with the inception and expiration of EXPIRED_WINDOW (NSEC only)."""
    _run([LDNS_SIGNZONE, "-o", s.origin, "-f", str(out), "-i", EXPIRED_WINDOW[0],
          "-e", EXPIRED_WINDOW[1], str(src), zsk, ksk], d)


def sign_network(workdir: Path, block: str) -> dict[str, SignedZone]:
    """Key and sign every zone (children first: their DS go into the parents); unsigned
    zones are written as they are."""
    done: dict[str, SignedZone] = {}
    for z in sorted(ZONES, key=lambda z: -len(dns.name.from_text(z.origin))):
        d = workdir / "signing" / (z.origin.rstrip(".") or "root")
        d.mkdir(parents=True)
        children = [c for c in ZONES if parent_of(c.origin) == z.origin]
        ds_lines = [line for c in children for line in done[c.origin].ds]
        src = d / "zone"
        src.write_text(zone_text(z.origin, block) + "".join(line + "\n" for line in ds_lines))
        s = z.signing
        if s is None:
            done[z.origin] = SignedZone(z, src)
            continue
        ksk, zsk = (_keygen_ldns if s.signer == "ldns" else _keygen_bind)(s, d)
        out = d / "zone.signed"
        if z.expired:
            _sign_expired(s, d, src, out, ksk, zsk)
        elif s.signer == "ldns":
            _sign_ldns(s, d, src, out, ksk, zsk)
        else:
            _sign_bind(s, d, src, out)
        ds = _ds_of(s, d, ksk)
        done[z.origin] = SignedZone(z, out, [_wrong(x) for x in ds] if z.wrong_ds else ds,
                                    _dnskey_of(d, ksk))
    return done


# --- the network ---------------------------------------------------------------------------

@dataclass
class SignedNet(LocalNet):
    """The running signed network; ``anchor``: the root's DS line, also in ``anchor_file``."""

    anchor: str = ""
    anchor_file: Path | None = None
    signed: dict[str, SignedZone] = field(default_factory=dict)

    def zones(self) -> dict[str, dns.zone.Zone]:
        """Every zone's unsigned contents, parsed (origin -> zone), for building corpora."""
        return {z.origin: dns.zone.from_text(zone_text(z.origin, self.block), z.origin,
                                             relativize=False, check_origin=True) for z in ZONES}


def choose_block() -> str:
    """The first block 127.54.N (N < 64) whose server and resolver addresses are free."""
    for n in range(64):
        block = f"127.54.{n}"
        if all(_free(f"{block}.{o}", 53) for o in SERVERS) and \
                all(_free(f"{block}.{o}", RESOLVER_PORT) for o in RESOLVERS):
            return block
    raise PeerError("no free address block 127.54.N.0/24 for the signed local Internet")


def start_signednet(workdir: Path, timeout: float = START_TIMEOUT) -> SignedNet:
    """Sign the zones into ``workdir``, start every server, wait until each answers SOA for
    its zones over UDP and TCP, and return the network (stop it with ``stop``)."""
    block = choose_block()
    workdir.mkdir(parents=True, exist_ok=True)
    signed = sign_network(workdir, block)
    anchor = signed["."].ds[0]
    anchor_file = workdir / "root.anchor"
    anchor_file.write_text(anchor + "\n")
    net = SignedNet(block=block, workdir=workdir, hints=write_hints(workdir / "root.hints", block),
                    anchor=anchor, anchor_file=anchor_file, signed=signed)
    by_host: dict[int, list[ZoneDef]] = {}
    for z in ZONES:
        by_host.setdefault(z.host, []).append(z)
    try:
        for octet, zones in by_host.items():
            addr, program = net.addr(octet), zones[0].program
            sdir = workdir / f"{program}-{octet}"
            sdir.mkdir()
            if program == "nsd":
                conf = sdir / "nsd.conf"
                conf.write_text(_nsd_conf(sdir, [addr], [(z.origin, signed[z.origin].path) for z in zones]))
                argv = [NSD, "-d", "-c", str(conf)]
            else:
                argv = [DNS_SUITE, "authoritative", "--listen", f"{addr}:53"]
                for z in zones:
                    argv += ["--zone", f"{z.origin}={signed[z.origin].path}"]
            net.servers.append(_popen(f"{program}-{octet}", argv, sdir, addr, 53))
        for server, zones in zip(net.servers, by_host.values()):
            for z in zones:
                wait_answering(server, z.origin, timeout)
    except BaseException:
        net.stop()
        raise
    return net


# --- resolvers -----------------------------------------------------------------------------

def unbound_validating_conf(net: SignedNet, workdir: Path, addr: str, optional: list[str]) -> str:
    """localnet's Unbound configuration with the validator on, the local anchor and EDE."""
    extra = optional + [f'trust-anchor-file: "{net.anchor_file}"', "ede: yes", "val-log-level: 2"]
    conf = _unbound_conf(net, workdir, addr, extra)
    return conf.replace('module-config: "iterator"', 'module-config: "validator iterator"')


def start_validating_unbound(net: SignedNet, workdir: Path, octet: int = UNBOUND_A,
                             timeout: float = START_TIMEOUT) -> Server:
    """Unbound on ``B.octet:RESOLVER_PORT``, validating from the local root's DS."""
    workdir.mkdir(parents=True, exist_ok=True)
    addr = net.addr(octet)
    conf = workdir / "unbound.conf"
    conf.write_text(unbound_validating_conf(net, workdir, addr, UNBOUND_OPTIONAL))
    checked = subprocess.run([UNBOUND_CHECKCONF, str(conf)], capture_output=True, timeout=30)
    if checked.returncode != 0:
        conf.write_text(unbound_validating_conf(net, workdir, addr, []))
    server = _popen(f"unbound-{octet}", [UNBOUND, "-d", "-c", str(conf)], workdir, addr, RESOLVER_PORT)
    return _waited(server, timeout)


def our_validating_toml(net: SignedNet, addr: str, extra: str = "") -> str:
    """The ``[resolver]`` configuration of ours: the local hints and anchor, DNSSEC on."""
    return (f'[resolver]\nlisten = ["{addr}:{RESOLVER_PORT}"]\nroot_hints = "{net.hints}"\n'
            f'query_private = true\ndo_ip6 = false\ndnssec = true\n'
            f'trust_anchor_files = ["{net.anchor_file}"]\n{extra}')


def start_our_validating_resolver(net: SignedNet, workdir: Path, octet: int = OURS,
                                  timeout: float = START_TIMEOUT) -> Server:
    """``dns-suite resolver`` on ``B.octet:RESOLVER_PORT``, validating from the local root's DS."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "resolver.toml"
    conf.write_text(our_validating_toml(net, net.addr(octet)))
    server = _popen("dns-suite-resolver", [DNS_SUITE, "resolver", "--config", str(conf)],
                    workdir, net.addr(octet), RESOLVER_PORT)
    return _waited(server, timeout)


def missing_programs() -> list[str]:
    """Programs this network needs that are not installed."""
    from peers import missing
    return missing("nsd", "unbound", "dns-suite", *PROGRAMS)


__all__ = ["BOGUS_ZONES", "INSECURE_ZONES", "OPTOUT_ZONES", "OURS", "SECURE_ZONES", "SignedNet", "UNBOUND_A",
           "UNBOUND_B", "ZONES", "missing_programs", "start_our_validating_resolver",
           "start_signednet", "start_validating_unbound", "zone_text"]
