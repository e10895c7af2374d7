"""DNS over TLS (RFC 7858) and the certificates of the encrypted listeners (I/O).

DoT is DNS over TCP inside TLS: the same two-octet framing, pipelining, idle timeout and
connection limit, so it is :class:`~dns_suite.net.tcp.TcpServer` listening with an SSL
context (port 853 by custom, RFC 7858 §3.1; TLS 1.2 or later, RFC 8310 §9; ALPN ``dot``,
RFC 7858 has none but clients offer it).

:class:`Certificates` holds the certificate chain and key files behind the server contexts
of DoT and DoH. The ACME agent renews the files in place; they are loaded again into the
same contexts (so every listener serves the new certificate from its next handshake, without
a restart, and open connections are kept) on :meth:`Certificates.reload` (SIGHUP) and when
:meth:`Certificates.watch` sees their modification time, size or inode change. A pair that
does not load (a half-written renewal, a key that does not match) is logged and the old
certificate keeps serving; it is tried again at the next check.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl

log = logging.getLogger("dns_suite.net.tls")

DOT_PORT = 853


class Certificates:
    """A certificate chain and key (PEM files) loaded into server SSL contexts.

    Args:
        certificate: path of the PEM certificate chain (leaf first).
        key: path of the PEM private key.

    Raises:
        OSError: the files cannot be read or do not match (at start: fatal), naming them.
    """

    def __init__(self, certificate: str, key: str) -> None:
        self.certificate, self.key = certificate, key
        self.contexts: list[ssl.SSLContext] = []
        self.loaded = self._stamp()
        self.reloads = 0
        self.context(("dot",))  # fail early when the files are wrong

    def _stamp(self) -> tuple:
        out = []
        for path in (self.certificate, self.key):
            try:
                st = os.stat(path)
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def context(self, alpn: tuple[str, ...]) -> ssl.SSLContext:
        """A new server context offering ``alpn``, kept up to date with the files."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(list(alpn))
        try:
            ctx.load_cert_chain(self.certificate, self.key)
        except (OSError, ssl.SSLError) as exc:  # say which files (the errno text alone does not)
            raise OSError(getattr(exc, "errno", None),
                          f"certificate={self.certificate} key={self.key}: {exc.strerror or exc}") from None
        self.contexts.append(ctx)
        return ctx

    def reload(self) -> bool:
        """Load the files again into every context; False (logged, old kept) when they fail."""
        stamp = self._stamp()
        try:
            probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            probe.load_cert_chain(self.certificate, self.key)  # all or nothing
            for ctx in self.contexts:
                ctx.load_cert_chain(self.certificate, self.key)
        except (OSError, ssl.SSLError) as exc:
            log.error("certificate=%s key=%s not loaded, the old one keeps serving: %s",
                      self.certificate, self.key, exc)
            return False
        self.loaded = stamp
        self.reloads += 1
        log.info("certificate=%s loaded", self.certificate)
        return True

    def changed(self) -> bool:
        """Whether the files differ from those last loaded (modification time, size, inode)."""
        return self._stamp() != self.loaded

    async def watch(self, interval: float) -> None:
        """Every ``interval`` seconds, reload when the files changed (runs until cancelled)."""
        while True:
            await asyncio.sleep(interval)
            if self.changed():
                self.reload()
