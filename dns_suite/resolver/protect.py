"""The resolver's guards and encrypted listeners (I/O): per-client query limit, cookies, DoT, DoH.

How a UDP query from an allowed client is screened (:meth:`ResolverProtection.screen`,
synchronous, before the rendered-reply hot path):

1. ``client_rate`` (queries per second per client address; 0: off): over it the query is
   dropped, or answered REFUSED with ``client_rate_refuse`` (dropping gives a spoofed flood
   nothing to reflect; REFUSED tells a real, misconfigured client why).
2. Cookies (RFC 7873, RFC 9018; chain/cookies.py): a query carrying a COOKIE option is handed
   on without it (so it shares the rendered replies of every other client), and the option is
   added to whatever reply it gets, from the hot path or from the core; a malformed option
   gets FORMERR, and over ``cookies_required_above`` a client without a valid server cookie
   gets BADCOOKIE with a fresh one.

TCP, DoT and DoH queries get cookies answered the same way (never required, never limited).
"""

from __future__ import annotations

import logging
import time

from dns_suite.chain import cookies
from dns_suite.chain.acl import refused
from dns_suite.chain.ratelimit import QueryRateLimiter, TokenBuckets
from dns_suite.config import ResolverConfig, parse_listen
from dns_suite.net import encrypted
from dns_suite.net.encrypted import EncryptedListeners

log = logging.getLogger("dns_suite.resolver")


class ResolverProtection:
    """The per-client limit, the cookie jar and the encrypted listeners of one resolver process.

    Args:
        cfg: the configuration; its ``cookie_secret`` is set (``run`` draws one for every
            worker when the file names none), else a random one is drawn here.
    """

    def __init__(self, cfg: ResolverConfig) -> None:
        import secrets

        self.cfg = cfg
        secret = bytes.fromhex(cfg.cookie_secret) if cfg.cookie_secret else secrets.token_bytes(16)
        self.jar = cookies.CookieJar(secret, clock=time.time, required_above=cfg.cookies_required_above,
                                     recursive=True)
        self.limiter = QueryRateLimiter(cfg.client_rate) if cfg.client_rate > 0 else None
        self.encrypted: EncryptedListeners | None = None

    def screen(self, data: bytes, client: str) -> tuple[bytes | None, cookies.Prepared | None, bytes | None]:
        """``(query, prepared, reply)`` for a UDP query from an allowed client: hand ``query``
        on (``prepared``: its cookie, for :func:`cookies.finish`), or send ``reply``, or, when
        both are None, drop it."""
        limiter = self.limiter
        if limiter is not None and not limiter.allows(client, time.monotonic()):
            return None, None, (refused(data) if self.cfg.client_rate_refuse else None)
        prepared = self.jar.prepare(data, client, udp=True)
        if prepared is None:
            return data, None, None
        if prepared.reply is not None:
            return None, None, prepared.reply
        return prepared.query, prepared, None

    def tcp(self, data: bytes, client: str) -> tuple[bytes, cookies.Prepared | None, bytes | None]:
        """``(query, prepared, reply)`` for a TCP/DoT/DoH query: as :meth:`screen`, no limit."""
        prepared = self.jar.prepare(data, client, udp=False)
        if prepared is None:
            return data, None, None
        return prepared.query, prepared, prepared.reply

    async def start(self, get_handler, on_error, defer) -> None:
        """Start DoT/DoH when configured (raises OSError or ssl.SSLError)."""
        self.encrypted = encrypted.from_config(self.cfg, parse_listen, get_handler=get_handler,
                                               on_error=on_error, defer=defer)
        if self.encrypted is not None:
            await self.encrypted.start()

    def reload(self, cfg: ResolverConfig) -> None:
        """SIGHUP: certificates again, a rotated secret, new limits."""
        if self.encrypted is not None:
            self.encrypted.reload()
        if cfg.cookie_secret and cfg.cookie_secret != self.cfg.cookie_secret:
            self.jar.rotate(bytes.fromhex(cfg.cookie_secret))
        if cfg.cookies_required_above != self.cfg.cookies_required_above:
            self.jar.gate = TokenBuckets(cfg.cookies_required_above) if cfg.cookies_required_above > 0 else None
        if cfg.client_rate != self.cfg.client_rate:
            self.limiter = QueryRateLimiter(cfg.client_rate) if cfg.client_rate > 0 else None
        self.cfg = cfg

    async def close(self) -> None:
        """Stop the encrypted listeners; log what the limits did."""
        if self.limiter is not None and self.limiter.limited:
            log.info("client_rate limited=%d", self.limiter.limited)
        if self.encrypted is not None:
            await self.encrypted.close()
