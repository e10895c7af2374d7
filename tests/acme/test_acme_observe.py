"""acme/observe.py: metrics and readiness read from the agent's status files and certificates."""

from __future__ import annotations

import asyncio
import datetime
import socket
import types
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dns_suite.acme.observe import Observer, observing

NOT_AFTER = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


def cert_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOT_AFTER - datetime.timedelta(days=90)).not_valid_after(NOT_AFTER)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("example.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


class FakeStore:
    def __init__(self) -> None:
        self.status: dict[str, dict] = {}
        self.bundles: dict[str, object] = {}

    def load_status(self, name: str) -> dict:
        return dict(self.status.get(name, {}))

    def current(self, name: str):
        return self.bundles.get(name)


def config(*names: str, http_listen: str | None = None):
    return types.SimpleNamespace(certificate=[types.SimpleNamespace(name=n) for n in names], http_listen=http_listen)


def test_not_ready_before_the_first_certificate_then_ready() -> None:
    store = FakeStore()
    observer = Observer(config("web", "mail"), store)
    ok, reason = observer.ready()
    assert not ok and "web (no certificate yet)" in reason and "mail" in reason
    assert observer.snapshot()["dns_ready"] == {("acme",): 0}
    pem = cert_pem()
    for name in ("web", "mail"):
        store.bundles[name] = types.SimpleNamespace(cert_pem=pem)
        store.status[name] = {"memory": {"failures": 0}, "last_success": 1_900_000_000, "next_attempt": 1_905_000_000}
    assert observer.ready() == (True, "2 certificates in place, last renewals ok")
    snap = observer.snapshot()
    assert snap["acme_certificate_not_after_seconds"] == {("web",): int(NOT_AFTER.timestamp()),
                                                          ("mail",): int(NOT_AFTER.timestamp())}
    assert snap["acme_last_renewal_success"] == {("web",): 1, ("mail",): 1}
    assert snap["acme_next_attempt_seconds"][("web",)] == 1_905_000_000


def test_a_failed_renewal_makes_it_not_ready() -> None:
    store = FakeStore()
    store.bundles["web"] = types.SimpleNamespace(cert_pem=cert_pem())
    store.status["web"] = {"memory": {"failures": 2, "last_error": "CA said no"}, "last_success": 1}
    observer = Observer(config("web"), store)
    ok, reason = observer.ready()
    assert not ok and "CA said no" in reason
    snap = observer.snapshot()
    assert snap["acme_last_renewal_success"] == {("web",): 0}
    assert snap["acme_renewal_failures"] == {("web",): 2}


def test_observing_serves_http_when_configured() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    service = types.SimpleNamespace(cfg=config("web", http_listen=f"127.0.0.1:{port}"), store=FakeStore())

    async def main():
        async with observing(service) as observer:
            assert observer is not None
            return await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read())

    assert b"acme_renewal_failures" in asyncio.run(main())

    async def off():
        async with observing(types.SimpleNamespace(cfg=config("web"), store=FakeStore())) as observer:
            return observer

    assert asyncio.run(off()) is None
