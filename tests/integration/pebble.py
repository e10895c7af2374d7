"""Pebble, Let's Encrypt's test CA (Debian ``pebble`` 2.4), on loopback for the ACME tests.

:class:`Pebble` writes an HTTPS CA and a ``localhost``/``127.0.0.1`` server certificate made with
``cryptography`` (the Debian package ships none), a config on two free ports, and runs ``pebble``
with ``-dnsserver`` and the given environment (``PEBBLE_VA_NOSLEEP`` etc., see
../shared/acme-pebble.md). It is ready when ``GET /dir`` answers. The management port gives the
root of the issued chains (``/roots/0``, new at every start) and revocation status
(``/cert-status-by-serial/<hex>``).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from peers import HOST, PeerError, Server, free_port

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"
DETERMINISTIC = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
"""The environment for repeatable runs: no VA sleeps, no rejected nonces, no reused authorizations."""
DEFAULTS = {"PEBBLE_VA_NOSLEEP": "1"}
"""Pebble's defaults (5 % bad nonces, 50 % authorization reuse), only without the VA sleeps."""


def write_https_cert(folder: Path) -> tuple[Path, Path, Path]:
    """An HTTPS CA and a server certificate for localhost and 127.0.0.1: ``(ca, cert, key)`` paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dns-suite test HTTPS CA")])

    def build(subject, public_key, *extensions):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=7)))
        for ext, critical in extensions:
            builder = builder.add_extension(ext, critical=critical)
        return builder.sign(ca_key, hashes.SHA256())

    ca = build(ca_name, ca_key.public_key(), (x509.BasicConstraints(ca=True, path_length=0), True))
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))])
    cert = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), key.public_key(),
                 (san, False))
    paths = folder / "https-ca.pem", folder / "https-cert.pem", folder / "https-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class Pebble:
    """``pebble -config ... -dnsserver DNS`` in its own folder; :meth:`start` / :meth:`stop`."""

    def __init__(self, workdir: Path, dns: tuple[str, int], env: dict[str, str] | None = None, *,
                 validity: int | None = None, eab: dict[str, str] | None = None) -> None:
        """Args:
            workdir: Its folder (created).
            dns: The DNS server the VA asks (``-dnsserver``).
            env: PEBBLE_* variables (default :data:`DETERMINISTIC`).
            validity: ``certificateValidityPeriod`` in seconds (default 5 years).
            eab: ``{kid: base64url HMAC key}``: external account binding required.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir, self.dns, self.env = workdir, dns, dict(DETERMINISTIC if env is None else env)
        self.ca_bundle, cert, key = write_https_cert(workdir)
        self.port, self.mgmt_port = free_port(), free_port()
        config = {"listenAddress": f"{HOST}:{self.port}", "managementListenAddress": f"{HOST}:{self.mgmt_port}",
                  "certificate": cert.name, "privateKey": key.name, "httpPort": free_port(),
                  "tlsPort": free_port(), "ocspResponderURL": "",
                  "externalAccountBindingRequired": bool(eab), "externalAccountMACKeys": eab or {}}
        if validity is not None:
            config["certificateValidityPeriod"] = validity
        (workdir / "pebble.json").write_text(json.dumps({"pebble": config}, indent=1))
        self.server: Server | None = None
        self._ssl = ssl.create_default_context(cafile=str(self.ca_bundle))

    @property
    def directory(self) -> str:
        return f"https://{HOST}:{self.port}/dir"

    def start(self, timeout: float = 30.0) -> Pebble:
        log = self.workdir / "pebble.out"
        with open(log, "ab") as out:
            proc = subprocess.Popen([PEBBLE, "-config", "pebble.json", "-dnsserver", f"{self.dns[0]}:{self.dns[1]}"],
                                    cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env={**os.environ, **self.env},
                                    start_new_session=True)
        self.server = Server(name="pebble", host=HOST, port=self.port, proc=proc, workdir=self.workdir, log=log)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get(self.directory)
                return self
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise PeerError(f"pebble did not start:\n{self.server.log_text()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def get(self, url: str) -> bytes:
        with urllib.request.urlopen(url, context=self._ssl, timeout=10) as response:
            return response.read()

    def root_pem(self) -> bytes:
        """The root of the chains Pebble issues (management ``/roots/0``; new at every start)."""
        return self.get(f"https://{HOST}:{self.mgmt_port}/roots/0")

    def cert_status(self, serial: int) -> dict:
        """``/cert-status-by-serial/<hex>``: ``{"Status": "Valid"|"Revoked", ...}``."""
        text = format(serial, "x")
        text = "0" * (len(text) % 2) + text  # Go's hex.EncodeToString(serial.Bytes())
        return json.loads(self.get(f"https://{HOST}:{self.mgmt_port}/cert-status-by-serial/{text}"))

    def log_text(self) -> str:
        return (self.workdir / "pebble.out").read_text(errors="replace")[-6000:]
