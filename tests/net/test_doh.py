"""DoH request handling (RFC 8484) as a table: method, target, content type, body -> status."""

from __future__ import annotations

import asyncio
import base64

import dns.message
import pytest

from dns_suite.net.http import DohServer, decode_dns_param

QUERY = dns.message.make_query("www.example.test", "A").to_wire()
B64 = base64.urlsafe_b64encode(QUERY).rstrip(b"=").decode()


def handler(query: bytes, client: str) -> bytes | None:
    if query[2] & 0x80:
        return None  # a response: no reply
    if query[2] & 0x78:
        return b""  # another opcode: deferred
    return dns.message.make_response(dns.message.from_wire(query)).to_wire()


async def defer(query: bytes, client: str):
    return [b"one", b"two"]  # a zone transfer: several messages


def bug(query: bytes, client: str) -> bytes:
    raise RuntimeError("bug")


def servfail(query: bytes, exc: BaseException) -> bytes:
    return query[:2] + b"\x81\x82" + bytes(8)


@pytest.mark.parametrize("method, target, ctype, body, status", [
    ("GET", f"/dns-query?dns={B64}", None, b"", 200),
    ("GET", f"/dns-query?dns={B64}{'=' * (-len(B64) % 4)}", None, b"", 200),  # padding tolerated
    ("POST", "/dns-query", "application/dns-message", QUERY, 200),
    ("POST", "/dns-query", "application/dns-message; charset=x", QUERY, 200),
    ("GET", f"/other?dns={B64}", None, b"", 404),
    ("PUT", "/dns-query", "application/dns-message", QUERY, 405),
    ("DELETE", "/dns-query", None, b"", 405),
    ("POST", "/dns-query", "application/json", QUERY, 415),
    ("POST", "/dns-query", None, QUERY, 415),
    ("GET", "/dns-query", None, b"", 400),
    ("GET", "/dns-query?dns=", None, b"", 400),
    ("GET", "/dns-query?dns=a+b/c", None, b"", 400),  # base64, not base64url
    ("GET", "/dns-query?dns=AAEC", None, b"", 400),  # 3 octets
    ("POST", "/dns-query", "application/dns-message", b"", 400),
    ("POST", "/dns-query", "application/dns-message", QUERY[:2] + b"\x80" + QUERY[3:], 400),  # QR set
    ("POST", "/dns-query", "application/dns-message", QUERY[:2] + b"\x28" + QUERY[3:], 400),  # transfer-like
    ("POST", "/dns-query", "application/dns-message", b"\0" * 65536, 413),
])
def test_exchange(method, target, ctype, body, status) -> None:
    server = DohServer(lambda: handler, servfail, defer=defer)
    got, data, headers = asyncio.run(server.exchange(method, target, ctype, body, "192.0.2.1"))
    assert got == status, data
    if status == 200:
        assert headers["Content-Type"] == "application/dns-message"
        assert dns.message.from_wire(data).id == dns.message.from_wire(QUERY).id
    if status == 405:
        assert headers["Allow"] == "GET, POST"


def test_a_handler_bug_is_servfail_not_a_crash() -> None:
    server = DohServer(lambda: bug, servfail)
    status, data, _ = asyncio.run(server.exchange("POST", "/dns-query", "application/dns-message", QUERY, ""))
    assert status == 200 and data[3] & 0x0F == 2


@pytest.mark.parametrize("text, octets", [
    ("AAEC", b"\0\1\2"), ("AAE", b"\0\1"), ("AAE=", b"\0\1"), ("-_8", b"\xfb\xff"), ("", None), ("A", None),
    ("a b", None), ("AA*", None),
])
def test_decode_dns_param(text, octets) -> None:
    assert decode_dns_param(text) == octets
