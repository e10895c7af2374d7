"""The resolver core: client queries in, upstream queries and answers out (sans-IO).

API (stable; the service and the replay harness drive it)::

    r = Resolver(settings, hints, randbits=secrets.randbits)
    actions = r.submit(query_octets, client, now)           # a client's query
    actions = r.on_response(token, reply_octets, now, source=(addr, port), tcp=False)
    actions = r.on_timeout(token, now)                      # no reply / connection failed

Every call returns a list of :class:`~dns_suite.resolver.actions.SendQuery` and
:class:`~dns_suite.resolver.actions.Answer`. ``now`` is monotonic seconds (float).
"""

from __future__ import annotations

from typing import Callable

from dns_suite.resolver.actions import Action
from dns_suite.resolver.settings import Hints, Settings


class Resolver:
    """All resolutions in flight, sharing one cache and one server-statistics table."""

    def __init__(self, settings: Settings, hints: Hints, *, randbits: Callable[[int], int]) -> None:
        raise NotImplementedError

    def submit(self, query: bytes, client: object, now: float, *, tcp: bool = False) -> list[Action]:
        """A client's query (octets as received). Returns actions (often just the Answer)."""
        raise NotImplementedError

    def on_response(self, token: int, reply: bytes, now: float, *, source: tuple[str, int] | None = None,
                    tcp: bool = False) -> list[Action]:
        """An upstream reply for ``token`` (unknown or stale tokens are ignored)."""
        raise NotImplementedError

    def on_timeout(self, token: int, now: float) -> list[Action]:
        """No reply for ``token`` within its timeout, or the connection failed."""
        raise NotImplementedError
