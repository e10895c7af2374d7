"""Tests of dns_suite.resolver.hints and the shipped root.hints file (pure: text in, Hints out)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from dns_suite.resolver.hints import parse_hints
from dns_suite.resolver.settings import Hints
from dns_suite.wire.name import Name
from dns_suite.zone.errors import ZoneError

# The 13 root servers (IANA named.root, root zone 2024041801; b.root's addresses changed on
# 2023-11-27). Checked against Debian's dns-root-data /usr/share/dns/root.hints.
ROOT_SERVERS = {
    "a": ("198.41.0.4", "2001:503:ba3e::2:30"),
    "b": ("170.247.170.2", "2801:1b8:10::b"),
    "c": ("192.33.4.12", "2001:500:2::c"),
    "d": ("199.7.91.13", "2001:500:2d::d"),
    "e": ("192.203.230.10", "2001:500:a8::e"),
    "f": ("192.5.5.241", "2001:500:2f::f"),
    "g": ("192.112.36.4", "2001:500:12::d0d"),
    "h": ("198.97.190.53", "2001:500:1::53"),
    "i": ("192.36.148.17", "2001:7fe::53"),
    "j": ("192.58.128.30", "2001:503:c27::2:30"),
    "k": ("193.0.14.129", "2001:7fd::1"),
    "l": ("199.7.83.42", "2001:500:9f::42"),
    "m": ("202.12.27.33", "2001:dc3::35"),
}


def shipped_text() -> str:
    return (resources.files("dns_suite.resolver") / "root.hints").read_text(encoding="utf-8")


def test_shipped_file_holds_the_13_root_servers() -> None:
    hints = parse_hints(shipped_text(), "root.hints")
    assert hints.port == 53
    expected = tuple((Name.from_text(f"{letter}.root-servers.net."), addresses)
                     for letter, addresses in ROOT_SERVERS.items())
    assert hints.servers == expected


def test_shipped_file_matches_the_system_copy() -> None:
    system = Path("/usr/share/dns/root.hints")
    assert system.exists(), "no /usr/share/dns/root.hints: dns-root-data (a dependency of unbound) is missing"
    ours = parse_hints(shipped_text(), "root.hints")
    theirs = parse_hints(system.read_text(), str(system))
    # the same servers unless the system copy is newer than ours: then update ours
    assert ours == theirs


TINY = """\
$TTL 3600000
; a lab root
.                 NS    ns1.lab.
.                 NS    NS2.lab.
ns1.lab.          A     127.0.0.2
ns1.lab.          AAAA  ::1
ns1.lab.          A     127.0.0.2
ns2.lab.    3600  IN  A 127.0.0.3
"""


def test_small_file_order_duplicates_case_and_port() -> None:
    hints = parse_hints(TINY, "lab.hints", port=5353)
    assert hints == Hints(servers=((Name.from_text("ns1.lab."), ("127.0.0.2", "::1")),
                                   (Name.from_text("ns2.lab."), ("127.0.0.3",))), port=5353)


def test_addresses_may_come_before_their_ns() -> None:
    text = "ns1.lab. A 127.0.0.2\n. NS ns1.lab.\n"
    assert parse_hints(text, "x").servers == ((Name.from_text("ns1.lab."), ("127.0.0.2",)),)


ERROR_CASES = [
    # (text, line in the error, fragment of the reason)
    ("", 0, "no NS record"),
    ("; only a comment\n", 0, "no NS record"),
    ("ns1.lab. 3600 A 127.0.0.2\n", 0, "no NS record"),
    (". NS ns1.lab.\n", 1, "has no A or AAAA"),
    (". NS ns1.lab.\nns1.lab. A 127.0.0.2\n. NS ns2.lab.\n", 3, "ns2.lab. has no A or AAAA"),
    (". NS ns1.lab.\nns1.lab. A 127.0.0.2\nother.lab. A 127.0.0.9\n", 3, "which no root NS record names"),
    ("lab. NS ns1.lab.\n", 1, "at '.' only"),
    (". NS ns1.lab.\nns1.lab. A 127.0.0.2\n. MX 10 mail.lab.\n", 3, "MX record"),
    (". NS ns1.lab.\nns1.lab. A 127.0.0.300\n", 2, ""),
    (". NS ns1.lab.\nns1.lab. AAAA 127.0.0.1\n", 2, ""),
    (". NS ns1.lab.\n$INCLUDE other.hints\n", 2, ""),
    (". NS (ns1.lab.\n", 1, "unbalanced"),
]


@pytest.mark.parametrize(("text", "line", "reason"), ERROR_CASES)
def test_errors_name_file_and_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(ZoneError) as info:
        parse_hints(text, "bad.hints")
    assert info.value.file == "bad.hints"
    assert info.value.line == line, str(info.value)
    assert reason in info.value.reason
    assert str(info.value).startswith(f"bad.hints:{line}: " if line else "bad.hints: ")  # no ':0'
