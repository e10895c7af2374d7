"""What the resolver core asks its I/O layer to do (DESIGN convention 1, 3).

The core (:class:`dns_suite.resolver.iterator.Resolver`) returns lists of these; the I/O layer
(service.py, or a test harness) carries them out and feeds the outcome back with
``Resolver.on_response(token, ...)`` or ``Resolver.on_timeout(token, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class SendQuery:
    """Send one query to an authoritative server (or a forwarder).

    Attributes:
        token: identifies this upstream query; unique among the outstanding ones.
        address: the server's IP address (IPv4 or IPv6 text form).
        port: the server's port (53 unless configured).
        tcp: send over TCP (RFC 7766) instead of UDP.
        wire: the query message octets, ID set (RFC 5452 §9.2 random).
        timeout: seconds from now after which the I/O layer calls ``on_timeout(token)``
            if no reply came (a refused TCP connection or a network error: at once).
    """

    token: int
    address: str
    port: int = 53
    tcp: bool = False
    wire: bytes
    timeout: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """Send a reply to a client.

    Attributes:
        client: the handle given to ``Resolver.submit``, returned untouched.
        wire: the reply octets: the client's ID and question (case kept, RFC 4343).
    """

    client: object
    wire: bytes


Action = SendQuery | Answer
