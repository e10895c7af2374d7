"""The DNS-01 lab: the DNS that the ACME tests (test_acme_dns01.py, test_acme_pebble.py) and
bench/acme_bench.py run against, on loopback as in production.

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

The secondary knows the primary by B.2:53: the primary sends NOTIFY from its first listen
address (as BIND's notify-source), and a secondary accepts NOTIFY only from a primary's address.

:func:`start_lab` writes every zone and config into a folder, starts the servers (each answering
before the next starts) and returns the :class:`Lab`; :meth:`Lab.stop` ends them. Needs root
(port 53), ``dns-suite`` and ``named``.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype

from localnet import _free
from peers import DNS_SUITE, PeerError, Server, START_TIMEOUT, free_port, wait_answering
from dns_suite.acme.dns01 import UpdateTarget
from dns_suite.wire.tsig import TsigKey

NAMED = shutil.which("named") or "/usr/sbin/named"
ACME_SECRET = base64.b64encode(os.urandom(32)).decode()
XFR_SECRET = base64.b64encode(os.urandom(32)).decode()
KEY = TsigKey.from_text("acme-key.", "hmac-sha256", ACME_SECRET)
SOA_TIMERS = "3600 600 86400 60"

ROOT_ZONES = {
    ".": """$ORIGIN .
$TTL 3600
@ SOA ns.nic.test. hostmaster.nic.test. 1 {timers}
@ NS ns.nic.test.
test. NS ns.nic.test.
net. NS ns.nic.test.
ns.nic.test. A {B}.1
""",
    "test.": """$ORIGIN test.
$TTL 3600
@ SOA ns.nic hostmaster.nic 1 {timers}
@ NS ns.nic
ns.nic A {B}.1
example NS ns1.example
example NS ns2.example
ns1.example A {B}.2
ns2.example A {B}.3
lag NS ns1.example
lag NS ns3.lag
lag NS ns4.lag
ns3.lag A {B}.5
ns4.lag A {B}.6
bind NS ns2.example
_acme-challenge.own NS ns1.example
""",
    "net.": """$ORIGIN net.
$TTL 3600
@ SOA ns.nic.test. hostmaster.nic.test. 1 {timers}
@ NS ns.nic.test.
acme.example NS ns1.example.test.
acme.example NS ns2.example.test.
""",
}

PRIMARY_ZONES = {
    "example.test.": """$ORIGIN example.test.
$TTL 300
@ SOA ns1 hostmaster 1 {timers}
@ NS ns1
@ NS ns2
ns1 A {B}.2
ns2 A {B}.3
www A 192.0.2.1
update A {B}.6
update A {B}.2
_acme-challenge TXT "unrelated text"
_acme-challenge.www CNAME _acme-challenge.www.acme.example.net.
""",
    "acme.example.net.": """$ORIGIN acme.example.net.
$TTL 300
@ SOA ns1.example.test. hostmaster.example.test. 1 {timers}
@ NS ns1.example.test.
@ NS ns2.example.test.
""",
    "_acme-challenge.own.test.": """$ORIGIN _acme-challenge.own.test.
$TTL 300
@ SOA ns1.example.test. hostmaster.example.test. 1 {timers}
@ NS ns1.example.test.
""",
    "lag.test.": """$ORIGIN lag.test.
$TTL 300
@ SOA ns1.example.test. hostmaster.example.test. {serial} {timers}
@ NS ns1.example.test.
@ NS ns3
@ NS ns4
ns3 A {B}.5
ns4 A {B}.6
""",
}

BIND_ZONE = """$ORIGIN bind.test.
$TTL 300
@ SOA hidden-primary hostmaster 1 {timers}
@ NS ns2.example.test.
"""

OCTETS = (1, 2, 3, 4, 5, 6)


# --------------------------------------------------------------------------- the lab


def choose_block() -> str:
    """The first block 127.86.N whose lab addresses are all free on port 53."""
    for n in range(64):
        block = f"127.86.{n}"
        if all(_free(f"{block}.{o}", 53) for o in OCTETS):
            return block
    raise PeerError("no free address block 127.86.N.0/24")


def _popen(name: str, argv: list[str], workdir: Path, host: str) -> Server:
    log = workdir / f"{name}.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return Server(name=name, host=host, port=53, proc=proc, workdir=workdir, log=log)


@dataclass
class Lab:
    """The running lab: its block, servers and working folder."""

    block: str
    workdir: Path
    named_port: int = field(default_factory=free_port)
    servers: dict[str, Server] = field(default_factory=dict)

    def addr(self, octet: int) -> str:
        return f"{self.block}.{octet}"

    @property
    def resolver(self) -> tuple[str, int]:
        return (self.addr(4), 53)

    def target(self, **kw) -> UpdateTarget:
        kw.setdefault("server", None)
        kw.setdefault("key", KEY)
        return UpdateTarget(resolver=self.resolver, **kw)

    def start(self, name: str, argv: list[str], octet: int, probe: str) -> Server:
        sdir = self.workdir / name
        sdir.mkdir(exist_ok=True)
        server = _popen(name, argv, sdir, self.addr(octet))
        self.servers[name] = server
        wait_answering(server, probe, START_TIMEOUT)
        return server

    def stop(self) -> None:
        for server in reversed(list(self.servers.values())):
            server.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{s.log_text()}" for name, s in self.servers.items())

    def txt(self, octet: int, name: str) -> set[str]:
        """The TXT values ``name`` has at server B.octet (RD=0)."""
        reply = dns.query.udp(dns.message.make_query(name, "TXT"), self.addr(octet), timeout=2)
        return {b"".join(rd.strings).decode() for rrset in reply.answer if rrset.rdtype == dns.rdatatype.TXT
                for rd in rrset}

    def serial(self, octet: int, zone: str) -> int:
        reply = dns.query.udp(dns.message.make_query(zone, "SOA"), self.addr(octet), timeout=2)
        return reply.answer[0][0].serial


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _keys_toml() -> str:
    return (f'[[authoritative.keys]]\nname = "acme-key."\nalgorithm = "hmac-sha256"\nsecret = "{ACME_SECRET}"\n'
            f'[[authoritative.keys]]\nname = "xfr-key."\nalgorithm = "hmac-sha256"\nsecret = "{XFR_SECRET}"\n')


def _primary_toml(lab: Lab, zdir: Path) -> str:
    text = f'[authoritative]\nlisten = ["{lab.addr(2)}:53"]\ncontrol_socket = "ctl.sock"\n' + _keys_toml()
    for origin in PRIMARY_ZONES:
        notify = (f'also_notify = ["{lab.addr(3)}:53 key xfr-key."]\n'
                  if origin in ("example.test.", "acme.example.net.") else "")
        text += (f'[[authoritative.zones]]\norigin = "{origin}"\nfile = "{zdir / origin}zone"\n'
                 f'notify_ns = false\nallow_transfer = ["127.0.0.0/8 key xfr-key."]\n{notify}'
                 f'update_policy = [{{key = "acme-key.", grant = "acme"}}]\n')
    return text


def _secondary_toml(lab: Lab) -> str:
    text = f'[authoritative]\nlisten = ["{lab.addr(3)}:53"]\ncontrol_socket = "ctl.sock"\n' + _keys_toml()
    primaries = {"example.test.": f"{lab.addr(2)}:53", "acme.example.net.": f"{lab.addr(2)}:53",
                 "bind.test.": f"127.0.0.1:{lab.named_port}"}
    for origin, primary in primaries.items():
        text += (f'[[authoritative.zones]]\norigin = "{origin}"\nfile = "{origin}copy"\nnotify_ns = false\n'
                 f'primaries = ["{primary} key xfr-key."]\n')
    return text


def _named_conf(lab: Lab, workdir: Path, zone: Path) -> str:
    return f"""key "acme-key." {{ algorithm hmac-sha256; secret "{ACME_SECRET}"; }};
key "xfr-key." {{ algorithm hmac-sha256; secret "{XFR_SECRET}"; }};
options {{
  directory "{workdir}";
  listen-on port {lab.named_port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  pid-file "{workdir}/named.pid";
  session-keyfile "{workdir}/session.key";
  recursion no;
  dnssec-validation no;
  notify explicit;
  also-notify {{ {lab.addr(3)} key "xfr-key."; }};
}};
controls {{ }};
zone "bind.test." {{
  type primary;
  file "{zone}";
  allow-transfer {{ key "xfr-key."; }};
  update-policy {{ grant "acme-key." name _acme-challenge.bind.test. TXT; grant "acme-key." wildcard *.bind.test. TXT; }};
}};
"""


def start_lab(workdir: Path) -> Lab:
    """Write every zone and config into ``workdir`` and start the lab (stop it with ``stop``)."""
    lab = Lab(block=choose_block(), workdir=workdir)
    fill = {"B": lab.block, "timers": SOA_TIMERS, "serial": 1}
    zdir = workdir / "zones"
    zdir.mkdir(parents=True)
    try:
        root_argv = [DNS_SUITE, "authoritative", "--listen", f"{lab.addr(1)}:53"]
        for origin, text in ROOT_ZONES.items():
            root_argv += ["--zone", f"{origin}={_write(zdir / f'root-{origin}zone', text.format(**fill))}"]
        lab.start("root", root_argv, 1, ".")
        for origin, text in PRIMARY_ZONES.items():
            _write(zdir / f"{origin}zone", text.format(**fill))
        conf = _write(workdir / "primary.toml", _primary_toml(lab, zdir))
        lab.start("primary", [DNS_SUITE, "authoritative", "--config", str(conf)], 2, "example.test.")
        stale = _write(zdir / "stale-lag.test.zone", PRIMARY_ZONES["lag.test."].format(**fill))
        lab.start("stale", [DNS_SUITE, "authoritative", "--listen", f"{lab.addr(5)}:53",
                            "--zone", f"lag.test.={stale}"], 5, "lag.test.")
        (workdir / "named").mkdir()
        bind_zone = _write(workdir / "named" / "bind.test.zone", BIND_ZONE.format(**fill))
        named_conf = _write(workdir / "named" / "named.conf", _named_conf(lab, workdir / "named", bind_zone))
        named = _popen("named", [NAMED, "-g", "-u", "root", "-c", str(named_conf)], workdir / "named", "127.0.0.1")
        named.port = lab.named_port
        lab.servers["named"] = named
        wait_answering(named, "bind.test.", START_TIMEOUT)
        conf = _write(workdir / "secondary.toml", _secondary_toml(lab))
        secondary = lab.start("secondary", [DNS_SUITE, "authoritative", "--config", str(conf)], 3,
                              "example.test.")
        for zone in ("acme.example.net.", "bind.test."):
            wait_answering(secondary, zone, START_TIMEOUT)
        hints = _write(workdir / "root.hints", f". 3600000 IN NS ns.nic.test.\nns.nic.test. 3600000 IN A "
                                               f"{lab.addr(1)}\n")
        conf = _write(workdir / "resolver.toml",
                      f'[resolver]\nlisten = ["{lab.addr(4)}:53"]\nroot_hints = "{hints}"\n'
                      f'query_private = true\ndo_ip6 = false\nlog_level = "debug"\n'
                      'dnssec = false\n')  # the lab's root is unsigned: no root trust anchor
        lab.start("resolver", [DNS_SUITE, "resolver", "--config", str(conf)], 4, ".")
    except BaseException:
        lab.stop()
        raise
    return lab


def wait_values(lab: Lab, octet: int, name: str, expect: set[str], timeout: float = 15.0) -> set[str]:
    """Poll B.octet (bounded) until ``name`` has exactly ``expect``; returns what it has last."""
    deadline = time.monotonic() + timeout
    while True:
        have = lab.txt(octet, name)
        if have == expect or time.monotonic() > deadline:
            return have
        time.sleep(0.05)
