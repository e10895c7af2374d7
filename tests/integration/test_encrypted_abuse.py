"""DoT, DoH, RRL, cookies and the resolver's client limit, on real processes over loopback.

One ``dns-suite authoritative`` serves a root zone and ``example.test.`` on 127.0.0.1 over UDP,
TCP, DoT and DoH (a self-signed certificate made here with ``cryptography``), with RRL and
cookies required over a rate; one ``dns-suite resolver`` iterates from it (root hints naming
it) and serves DoT and DoH too, with a per-client limit. Clients: kdig (``+tls``, ``+https``,
``+cookie``), aiohttp's client (DoH GET and POST over HTTP/1.1), dnspython for raw UDP. Floods
are bounded in count (3,000 queries) and come from their own loopback prefixes (127.1.0.1,
127.3.0.1, 127.4.0.1), so the other tests, from 127.0.0.1, are not limited.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from peers import DNS_SUITE, HOST, START_TIMEOUT, Server, _spawn, free_port, missing

pytestmark = pytest.mark.integration

ROOT_ZONE = """$TTL 3600
@ SOA a.root.lab. hostmaster.root.lab. 1 3600 900 604800 300
@ NS a.root.lab.
a.root.lab. A 127.0.0.1
example.test. NS ns1.example.test.
ns1.example.test. A 127.0.0.1
"""
EXAMPLE_ZONE = """$TTL 300
@ SOA ns1 hostmaster 1 3600 900 604800 300
@ NS ns1
ns1 A 127.0.0.1
www A 192.0.2.80
"""
HOSTNAME = "dns.test"
FLOOD = 3000
RRL_RATE = 100


def make_certificate(cert: Path, key: Path, serial_hint: str = "") -> str:
    """A self-signed ECDSA certificate for ``dns.test`` and 127.0.0.1, written atomically;
    returns its SHA-256 fingerprint (hex)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTNAME + serial_hint)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(HOSTNAME), x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256()))
    for path, data in ((key, private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption())),
                       (cert, certificate.public_bytes(serialization.Encoding.PEM))):
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return certificate.fingerprint(hashes.SHA256()).hex()


def _start(name: str, argv: list[str], workdir: Path, port: int, probe: str) -> Server:
    return _spawn(name, argv, workdir, port, probe, START_TIMEOUT)


class Service:
    """A running service with its plain, DoT and DoH ports and certificate files."""

    def __init__(self, server: Server, dot: int, doh: int, cert: Path, key: Path) -> None:
        self.server, self.port, self.dot, self.doh, self.cert, self.key = server, server.port, dot, doh, cert, key


def _encrypted_keys(dot: int, doh: int) -> str:
    return (f'tls_listen = ["{HOST}:{dot}"]\nhttps_listen = ["{HOST}:{doh}"]\n'
            'tls_certificate = "cert.pem"\ntls_key = "key.pem"\ntls_check_interval = 0.5\n')


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """(authoritative, resolver), both with DoT and DoH."""
    assert not missing("kdig"), "kdig (knot-dnsutils) is needed"
    work = tmp_path_factory.mktemp("encrypted")
    auth_dir, res_dir = work / "auth", work / "resolver"
    auth_dir.mkdir()
    res_dir.mkdir()
    for d in (auth_dir, res_dir):
        make_certificate(d / "cert.pem", d / "key.pem")
    (auth_dir / "root.zone").write_text(ROOT_ZONE)
    (auth_dir / "example.test.zone").write_text(EXAMPLE_ZONE)
    port, dot, doh = free_port(), free_port(), free_port()
    (auth_dir / "auth.toml").write_text(
        f'[authoritative]\nlisten = ["{HOST}:{port}"]\n' + _encrypted_keys(dot, doh)
        + f"rrl_rate = {RRL_RATE}\nrrl_slip = 2\ncookies_required_above = 20\n"
        'control_socket = "ctl.sock"\n'
        '[[authoritative.zones]]\norigin = "."\nfile = "root.zone"\nnotify_ns = false\n'
        '[[authoritative.zones]]\norigin = "example.test."\nfile = "example.test.zone"\nnotify_ns = false\n')
    servers = []
    try:
        auth = _start("auth", [DNS_SUITE, "authoritative", "--config", str(auth_dir / "auth.toml")], auth_dir,
                      port, "example.test.")
        servers.append(auth)
        (res_dir / "hints").write_text(f".  3600000 NS a.root.lab.\na.root.lab.  3600000 A {HOST}\n")
        rport, rdot, rdoh = free_port(), free_port(), free_port()
        (res_dir / "resolver.toml").write_text(
            f'[resolver]\nlisten = ["{HOST}:{rport}"]\nroot_hints = "hints"\nroot_hints_port = {port}\n'
            "query_private = true\ndo_ip6 = false\nclient_rate = 50\n" + _encrypted_keys(rdot, rdoh)
            + ("dnssec = false\n" if _has_key("dnssec") else ""))  # the lab root is not signed
        res = _start("resolver", [DNS_SUITE, "resolver", "--config", str(res_dir / "resolver.toml")], res_dir,
                     rport, "example.test.")
        servers.append(res)
        yield {"authoritative": Service(auth, dot, doh, auth_dir / "cert.pem", auth_dir / "key.pem"),
               "resolver": Service(res, rdot, rdoh, res_dir / "cert.pem", res_dir / "key.pem")}
    finally:
        for server in servers:
            server.stop()


def _has_key(name: str) -> bool:
    import dataclasses

    from dns_suite.config import ResolverConfig

    return name in {f.name for f in dataclasses.fields(ResolverConfig)}


def kdig(*args: str) -> str:
    run = subprocess.run(["kdig", *args], capture_output=True, text=True, timeout=30)
    return run.stdout + run.stderr


SERVICES = ["authoritative", "resolver"]


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("mode", ["+tls", "+https", "+https-get"])
def test_kdig_over_tls_and_https(services, name: str, mode: str) -> None:
    svc = services[name]
    port = svc.dot if mode == "+tls" else svc.doh
    out = kdig(f"@{HOST}", "-p", str(port), mode, f"+tls-ca={svc.cert}", f"+tls-hostname={HOSTNAME}",
               "www.example.test", "A")
    assert "status: NOERROR" in out, out
    assert "192.0.2.80" in out, out
    assert "(TCP)" in out, out  # TLS over TCP: kdig says so


def _client_context(cert: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = True
    return ctx


async def _doh(svc: Service, method: str, *, body: bytes | None = None, params: str | None = None,
               content_type: str = "application/dns-message") -> tuple[int, bytes, dict]:
    import aiohttp

    url = f"https://{HOSTNAME}:{svc.doh}/dns-query" + (f"?{params}" if params is not None else "")
    connector = aiohttp.TCPConnector(ssl=_client_context(svc.cert), resolver=_Static())
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.request(method, url, data=body, headers={"Content-Type": content_type,
                                                                     "Accept": "application/dns-message"}) as r:
            return r.status, await r.read(), dict(r.headers)


class _Static:
    """An aiohttp resolver that sends ``dns.test`` to 127.0.0.1 (the certificate's name)."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": HOST, "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self):
        pass


def _query(name: str = "www.example.test", qtype: str = "A") -> dns.message.Message:
    q = dns.message.make_query(name, qtype)
    q.id = 0  # RFC 8484 §4.1: cache friendly
    return q


@pytest.mark.parametrize("name", SERVICES)
def test_doh_get_and_post_with_aiohttp(services, name: str) -> None:
    svc = services[name]
    wire = _query().to_wire()
    dns_param = base64.urlsafe_b64encode(wire).rstrip(b"=").decode()
    for method, kwargs in (("GET", {"params": f"dns={dns_param}"}), ("POST", {"body": wire})):
        status, body, headers = asyncio.run(_doh(svc, method, **kwargs))
        assert status == 200, (method, status, body)
        assert headers["Content-Type"] == "application/dns-message"
        reply = dns.message.from_wire(body)
        assert reply.rcode() == dns.rcode.NOERROR
        assert [rd.address for rr in reply.answer for rd in rr] == ["192.0.2.80"], reply
        assert "max-age=" in headers.get("Cache-Control", ""), headers


@pytest.mark.parametrize("name", SERVICES)
def test_malformed_doh_gets_400_and_the_service_goes_on(services, name: str) -> None:
    svc = services[name]
    cases = [
        ("GET", {"params": "dns=***not-base64***"}, 400),
        ("GET", {"params": "other=1"}, 400),
        ("GET", {"params": "dns=" + base64.urlsafe_b64encode(b"\x00\x01\x02").decode()}, 400),  # < 12 octets
        ("POST", {"body": b""}, 400),
        ("POST", {"body": b"\xff" * 5}, 400),
        ("POST", {"body": _query().to_wire(), "content_type": "text/plain"}, 415),
        ("PUT", {"body": _query().to_wire()}, 405),
    ]
    for method, kwargs, want in cases:
        status, body, _ = asyncio.run(_doh(svc, method, **kwargs))
        assert status == want, (method, kwargs, status, body)
    out = kdig(f"@{HOST}", "-p", str(svc.doh), "+https", f"+tls-ca={svc.cert}", f"+tls-hostname={HOSTNAME}",
               "www.example.test", "A")
    assert "192.0.2.80" in out, out
    assert svc.server.proc.poll() is None


def _served_fingerprint(port: int, cert: Path) -> str:
    ctx = ssl.create_default_context(cafile=str(cert))  # the new file: only the new cert verifies
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((HOST, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=HOSTNAME) as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


@pytest.mark.parametrize("name", SERVICES)
def test_certificate_replaced_on_disk_is_served_without_restart(services, name: str) -> None:
    svc = services[name]
    pid = svc.server.proc.pid
    old = _served_fingerprint(svc.dot, svc.cert)
    new = make_certificate(svc.cert, svc.key, serial_hint="")
    assert new != old
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _served_fingerprint(svc.dot, svc.cert) == new and _served_fingerprint(svc.doh, svc.cert) == new:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the new certificate is not served:\n{svc.server.log_text()}")
    assert svc.server.proc.pid == pid and svc.server.proc.poll() is None  # no restart
    out = kdig(f"@{HOST}", "-p", str(svc.dot), "+tls", f"+tls-ca={svc.cert}", f"+tls-hostname={HOSTNAME}",
               "www.example.test", "A")
    assert "192.0.2.80" in out, out
    newer = make_certificate(svc.cert, svc.key)  # and on SIGHUP too
    svc.server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while _served_fingerprint(svc.dot, svc.cert) != newer:
        assert time.monotonic() < deadline, svc.server.log_text()
        time.sleep(0.2)


def _flood(source: str, port: int, count: int, wire: bytes) -> dict[str, int]:
    """Send ``count`` copies of ``wire`` (IDs 0..count-1) from ``source`` as fast as possible while
    a thread reads the replies, until 2 s pass without one. Returns counts: answered, truncated
    (TC) and missing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((source, 0))
    sock.settimeout(2.0)
    seen: dict[int, bool] = {}

    def read() -> None:
        while True:
            try:
                data = sock.recv(4096)
            except (socket.timeout, OSError):
                return
            seen[int.from_bytes(data[:2], "big")] = bool(data[2] & 0x02)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(count):
            sock.sendto(i.to_bytes(2, "big") + wire[2:], (HOST, port))
    finally:
        reader.join(30)
        sock.close()
    truncated = sum(seen.values())
    return {"answered": len(seen) - truncated, "truncated": truncated, "missing": count - len(seen)}


def test_rrl_limits_a_flood_and_spares_another_prefix(services) -> None:
    svc = services["authoritative"]
    wire = dns.message.make_query("www.example.test", "A", use_edns=0).to_wire()
    flood = _flood("127.1.0.1", svc.port, FLOOD, wire)
    print(f"\nflood of {FLOOD} from 127.1.0.1 (rrl_rate {RRL_RATE}, slip 2): answered={flood['answered']} "
          f"slipped(TC)={flood['truncated']} dropped={flood['missing']}")
    assert flood["answered"] < FLOOD // 2, flood
    assert flood["truncated"] > 0 and flood["missing"] > 0, flood
    # about every second limited reply slips: truncated and dropped within a factor of two
    assert flood["truncated"] <= 2 * flood["missing"] + 10 and flood["missing"] <= 2 * flood["truncated"] + 10
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # another /24, at once, one at a time
    other.bind(("127.2.0.1", 0))
    other.settimeout(2.0)
    answered = 0
    try:
        for i in range(RRL_RATE // 2):
            other.sendto(i.to_bytes(2, "big") + wire[2:], (HOST, svc.port))
            reply = dns.message.from_wire(other.recv(4096))
            assert not reply.flags & dns.flags.TC and reply.answer, reply
            answered += 1
    finally:
        other.close()
    print(f"127.2.0.1: {answered} of {RRL_RATE // 2} answered in full")
    # the flood's prefix is still limited meanwhile, while TCP from it is never limited
    out = kdig(f"@{HOST}", "-p", str(svc.port), "+tcp", "www.example.test", "A")
    assert "192.0.2.80" in out


def _cookie_of(out: str) -> str:
    for line in out.splitlines():
        if "COOKIE:" in line:
            return line.split("COOKIE:")[1].split()[0]
    raise AssertionError(f"no cookie in:\n{out}")


@pytest.mark.parametrize("name", SERVICES)
def test_kdig_cookie_echoed_is_recognised_and_a_wrong_one_replaced(services, name: str) -> None:
    svc = services[name]
    first = kdig(f"@{HOST}", "-p", str(svc.port), "+cookie", "www.example.test", "A")
    cookie = _cookie_of(first)
    assert len(cookie) == 48 and cookie[16:18] == "01", cookie  # client 8 + RFC 9018 server 16 octets
    second = kdig(f"@{HOST}", "-p", str(svc.port), f"+cookie={cookie}", "www.example.test", "A")
    assert "status: NOERROR" in second and "192.0.2.80" in second, second
    assert "BADCOOKIE" not in second
    assert _cookie_of(second)[:16].lower() == cookie[:16].lower()
    wrong = cookie[:16] + "01000000" + "00000000" + "0123456789abcdef"
    third = kdig(f"@{HOST}", "-p", str(svc.port), f"+cookie={wrong}", "www.example.test", "A")
    fresh = _cookie_of(third)
    assert "status: NOERROR" in third and fresh.lower() != wrong.lower() and fresh[:16].lower() == cookie[:16].lower()


def test_cookies_required_over_the_rate(services) -> None:
    """Over ``cookies_required_above`` (20/s), a client-only cookie gets BADCOOKIE with a fresh
    cookie (RFC 7873 §5.2.3); the same client showing that cookie is answered."""
    svc = services["authoritative"]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.3.0.1", 0))
    sock.settimeout(2.0)
    client_cookie = os.urandom(8)
    rcodes: dict[int, int] = {}
    learned = None
    try:
        for _ in range(60):
            q = dns.message.make_query("www.example.test", "A", use_edns=0,
                                       options=[dns.edns.GenericOption(10, client_cookie)])
            sock.sendto(q.to_wire(), (HOST, svc.port))
            reply = dns.message.from_wire(sock.recv(4096))
            rcodes[reply.rcode()] = rcodes.get(reply.rcode(), 0) + 1
            learned = next(o.client + o.server for o in reply.options if o.otype == 10)
        print(f"\n60 client-only cookie queries from 127.3.0.1: {rcodes}")
        assert rcodes.get(dns.rcode.BADCOOKIE, 0) > 0, rcodes
        q = dns.message.make_query("www.example.test", "A", use_edns=0,
                                   options=[dns.edns.GenericOption(10, learned)])
        sock.sendto(q.to_wire(), (HOST, svc.port))
        reply = dns.message.from_wire(sock.recv(4096))
        assert reply.rcode() == dns.rcode.NOERROR and reply.answer, reply
    finally:
        sock.close()


def test_resolver_client_rate(services) -> None:
    svc = services["resolver"]
    wire = dns.message.make_query("www.example.test", "A").to_wire()
    flood = _flood("127.4.0.1", svc.port, 500, wire)
    print(f"\n500 queries from 127.4.0.1 to the resolver (client_rate 50): {flood}")
    assert flood["missing"] > 0 and flood["answered"] < 500, flood
    out = kdig(f"@{HOST}", "-p", str(svc.port), "www.example.test", "A")
    assert "192.0.2.80" in out, out
