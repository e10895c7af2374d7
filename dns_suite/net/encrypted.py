"""The encrypted listeners of a service: DNS over TLS and DNS over HTTPS (I/O).

Both hand each query to the service's TCP handler and its ``defer`` (as
:class:`~dns_suite.net.tcp.TcpServer` does), share one :class:`~dns_suite.net.tls.Certificates`
(reloaded on SIGHUP through :meth:`EncryptedListeners.reload`, and when the files change),
and live in the control process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Iterable

from dns_suite.net.http import DohServer
from dns_suite.net.tcp import TcpServer
from dns_suite.net.tls import Certificates

log = logging.getLogger("dns_suite.net.encrypted")


class EncryptedListeners:
    """DoT and DoH listeners over one certificate.

    Args:
        tls_listen, https_listen: ``(host, port)`` pairs.
        certificate, key: PEM file paths.
        get_handler, on_error, defer: as for :class:`TcpServer`.
        idle_timeout, max_connections: per listener kind, as for TCP.
        check_interval: seconds between checks of the certificate files.
        path: the DoH URL path.

    Raises:
        OSError, ssl.SSLError: the certificate or key cannot be loaded.
    """

    def __init__(self, *, tls_listen: list[tuple[str, int]], https_listen: list[tuple[str, int]],
                 certificate: str, key: str, get_handler: Callable, on_error: Callable,
                 defer: Callable[[bytes, str], Awaitable["bytes | Iterable[bytes] | None"]] | None,
                 idle_timeout: float = 10.0, max_connections: int = 256, check_interval: float = 5.0,
                 path: str = "/dns-query") -> None:
        self.tls_listen, self.https_listen = tls_listen, https_listen
        self.certificates = Certificates(certificate, key)
        self.check_interval = check_interval
        self.dot = TcpServer(get_handler, on_error, idle_timeout=idle_timeout,
                             max_connections=max_connections, defer=defer)
        self.doh = DohServer(get_handler, on_error, defer=defer, path=path, idle_timeout=idle_timeout,
                             max_connections=max_connections)
        self._watch: asyncio.Task | None = None

    async def start(self) -> None:
        """Bind every address; raises OSError when one cannot be bound."""
        if self.tls_listen:
            ctx = self.certificates.context(("dot",))
            for host, port in self.tls_listen:
                try:
                    await self.dot.listen(host, port, ssl=ctx)
                except OSError as exc:
                    raise OSError(exc.errno, f"DoT {host}:{port}: {exc.strerror}") from None
        if self.https_listen:
            ctx = self.certificates.context(("h2", "http/1.1"))
            for host, port in self.https_listen:
                try:
                    await self.doh.listen(host, port, ssl=ctx)
                except OSError as exc:
                    raise OSError(exc.errno, f"DoH {host}:{port}: {exc.strerror}") from None
        self._watch = asyncio.get_running_loop().create_task(self.certificates.watch(self.check_interval))
        log.info("encrypted listeners tls=%s https=%s",
                 ",".join(f"{h}:{p}" for h, p in self.tls_listen) or "-",
                 ",".join(f"{h}:{p}" for h, p in self.https_listen) or "-")

    def reload(self) -> None:
        """SIGHUP: load the certificate files again (logged and kept old when they fail)."""
        self.certificates.reload()

    async def close(self) -> None:
        """Stop listening and drop open connections."""
        if self._watch is not None:
            self._watch.cancel()
        await self.dot.close()
        await self.doh.close()


def from_config(cfg, parse_listen: Callable[[str], tuple[str, int]], *, get_handler: Callable,
                on_error: Callable, defer) -> EncryptedListeners | None:
    """The listeners a service's config asks for (its ``tls_listen``, ``https_listen``,
    ``tls_certificate``, ``tls_key``, ``tls_check_interval``, ``https_path``,
    ``tcp_idle_timeout`` and ``tcp_max_connections``), or None when it asks for none.

    Raises:
        OSError, ssl.SSLError: the certificate or key cannot be loaded.
    """
    if not (cfg.tls_listen or cfg.https_listen):
        return None
    return EncryptedListeners(
        tls_listen=[parse_listen(x) for x in cfg.tls_listen], https_listen=[parse_listen(x) for x in cfg.https_listen],
        certificate=cfg.tls_certificate, key=cfg.tls_key, get_handler=get_handler, on_error=on_error,
        defer=defer, idle_timeout=cfg.tcp_idle_timeout, max_connections=cfg.tcp_max_connections,
        check_interval=cfg.tls_check_interval, path=cfg.https_path)
