"""The authoritative service's guards and encrypted listeners (I/O): cookies, RRL, DoT, DoH.

How the handlers are layered (DESIGN "The hot path"; all synchronous):

- UDP: the loop of net/udp.py answers table hits itself and puts them through the response
  rate limiter (``HandlerRef.rrl``); everything else goes to ``udp_handler`` =
  cookies(RRL(table.udp)), where a query with a valid server cookie skips RRL (its source is
  not spoofed) and one without a valid cookie may get BADCOOKIE over ``cookies_required_above``.
- TCP, DoT, DoH: ``tcp_handler`` = cookies(table.tcp): answered, never required, never limited.

The cookie secret is the configured ``cookie_secret`` or one drawn at start; a SIGHUP with a
new configured secret rotates it (the old one stays valid, RFC 9018 §5). RRL settings apply
from the next reload; its counters start again then.
"""

from __future__ import annotations

import logging
import time

from dns_suite.chain import cookies, ratelimit
from dns_suite.config import AuthoritativeConfig, parse_listen
from dns_suite.net import encrypted
from dns_suite.net.encrypted import EncryptedListeners

log = logging.getLogger("dns_suite.authoritative")


def make_rrl(cfg: AuthoritativeConfig) -> ratelimit.ResponseRateLimiter | None:
    """The response rate limiter ``cfg`` asks for, or None (``rrl_rate = 0``)."""
    if not cfg.rrl_rate:
        return None
    return ratelimit.ResponseRateLimiter(cfg.rrl_rate, clock=time.monotonic, slip=cfg.rrl_slip,
                                         ipv4_prefix=cfg.rrl_ipv4_prefix, ipv6_prefix=cfg.rrl_ipv6_prefix)


class Protection:
    """Cookies, RRL and the encrypted listeners of one authoritative service.

    Args:
        cfg: the configuration.
        secret: the cookie secret drawn at start (used when the config names none).
    """

    def __init__(self, cfg: AuthoritativeConfig, secret: bytes) -> None:
        self.cfg = cfg
        configured = bytes.fromhex(cfg.cookie_secret) if cfg.cookie_secret else secret
        self.jar = cookies.CookieJar(configured, clock=time.time, required_above=cfg.cookies_required_above)
        self.rrl = make_rrl(cfg)
        self.encrypted: EncryptedListeners | None = None
        self.udp_handler = self.tcp_handler = None

    def publish(self, table) -> None:
        """Build the handlers over a new pre-rendered table (its ``udp`` and ``tcp``)."""
        inner = table.udp
        limited = ratelimit.guard(self.rrl, inner) if self.rrl is not None else inner
        self.udp_handler = cookies.guard(self.jar, limited, udp=True, verified=inner)
        self.tcp_handler = cookies.guard(self.jar, table.tcp, udp=False)

    async def start(self, on_error, defer) -> None:
        """Start DoT/DoH when configured (raises OSError or ssl.SSLError)."""
        self.encrypted = encrypted.from_config(self.cfg, parse_listen, get_handler=lambda: self.tcp_handler,
                                               on_error=on_error, defer=defer)
        if self.encrypted is not None:
            await self.encrypted.start()

    def reload(self, cfg: AuthoritativeConfig) -> None:
        """SIGHUP: certificates again, a rotated secret, new RRL and cookie settings.
        (Encrypted listen addresses change only at a restart.)"""
        if self.encrypted is not None:
            self.encrypted.reload()
        if cfg.cookie_secret and cfg.cookie_secret != self.cfg.cookie_secret:
            self.jar.rotate(bytes.fromhex(cfg.cookie_secret))
        if cfg.cookies_required_above != self.cfg.cookies_required_above:
            self.jar.gate = (ratelimit.TokenBuckets(cfg.cookies_required_above)
                             if cfg.cookies_required_above > 0 else None)
        rrl_keys = ("rrl_rate", "rrl_slip", "rrl_ipv4_prefix", "rrl_ipv6_prefix")
        if any(getattr(cfg, k) != getattr(self.cfg, k) for k in rrl_keys):
            self.log_counters()
            self.rrl = make_rrl(cfg)
        self.cfg = cfg

    def log_counters(self) -> None:
        """Log what RRL and cookies did (at stop and when RRL is replaced)."""
        if self.rrl is not None and (self.rrl.dropped or self.rrl.slipped):  # workers = N: in their logs
            log.info("rrl dropped=%d slipped=%d", self.rrl.dropped, self.rrl.slipped)
        if self.jar.badcookies:
            log.info("cookies badcookie=%d", self.jar.badcookies)

    async def close(self) -> None:
        """Stop the encrypted listeners; log the counters."""
        self.log_counters()
        if self.encrypted is not None:
            await self.encrypted.close()
