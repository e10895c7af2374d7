"""Tests of the ``[resolver]`` table: dns_suite.config.ResolverConfig and load_resolver_config, and
how the service turns it into the core's Settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dns_suite.config import (
    RESOLVER_ALLOW,
    ForwardConfig,
    ResolverConfig,
    load_resolver_config,
    parse_server,
)
from dns_suite.errors import ConfigError
from dns_suite.resolver.service import settings_from_config
from dns_suite.resolver.settings import ServerSet, Settings
from dns_suite.wire.name import Name

REPO = Path(__file__).resolve().parents[2]

VALID = """\
[resolver]
listen = ["127.0.0.1:5353", "[::1]:5353"]
allow = ["10.0.0.0/8", "192.0.2.7"]
root_hints = "lab.hints"
root_hints_port = 5300
log_level = "debug"
qname_minimisation = false
use_0x20 = true
min_ttl = 60
max_ttl = 3600
cache_bytes = 1048576
serve_stale = true
query_private = true
edns_payload = 1400
timeout = 0.5
max_timeout = 2

[[resolver.forward]]
zone = "corp.example"
servers = ["192.0.2.53", "[2001:db8::53]:5353"]

[[resolver.stub]]
zone = "lab.test."
servers = ["127.0.0.1:5300"]
"""


def write(tmp_path: Path, text: str, name: str = "resolver.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file(tmp_path: Path) -> None:
    config = load_resolver_config(str(write(tmp_path, VALID)))
    assert config == ResolverConfig(
        listen=("127.0.0.1:5353", "[::1]:5353"), allow=("10.0.0.0/8", "192.0.2.7"),
        root_hints=str(tmp_path / "lab.hints"), root_hints_port=5300, log_level="debug",
        qname_minimisation=False, use_0x20=True, min_ttl=60, max_ttl=3600, cache_bytes=1 << 20,
        serve_stale=True, query_private=True, edns_payload=1400, timeout=0.5, max_timeout=2.0,
        forward=(ForwardConfig(zone="corp.example", servers=("192.0.2.53", "[2001:db8::53]:5353")),),
        stub=(ForwardConfig(zone="lab.test.", servers=("127.0.0.1:5300",)),),
    )
    assert isinstance(config.max_timeout, float)


def test_defaults_from_empty_table(tmp_path: Path) -> None:
    config = load_resolver_config(str(write(tmp_path, "[resolver]\n")))
    assert config == ResolverConfig()
    assert config.listen == ("127.0.0.1:53", "[::1]:53")
    assert config.allow == RESOLVER_ALLOW and config.root_hints is None and config.workers == 1


def test_defaults_are_the_cores() -> None:
    """Every Settings knob is a config key with the same default (they cannot drift apart)."""
    assert settings_from_config(ResolverConfig()) == Settings()
    names = {f.name for f in dataclasses.fields(ResolverConfig)}
    assert {f.name for f in dataclasses.fields(Settings)} - names == {"forwards"}


def test_settings_from_config(tmp_path: Path) -> None:
    settings = settings_from_config(load_resolver_config(str(write(tmp_path, VALID))))
    assert settings.forwards == (
        ServerSet(zone=Name.from_text("corp.example."),
                  servers=(("192.0.2.53", 53), ("2001:db8::53", 5353)), recursive=True),
        ServerSet(zone=Name.from_text("lab.test."), servers=(("127.0.0.1", 5300),), recursive=False),
    )
    assert (settings.qname_minimisation, settings.use_0x20, settings.min_ttl, settings.timeout) == (
        False, True, 60, 0.5)


def test_shipped_config_loads() -> None:
    config = load_resolver_config(str(REPO / "configs" / "resolver.toml"))
    assert config == ResolverConfig(listen=("127.0.0.1:5353",), allow=(
        "127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10"))


def test_relative_hints_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path / "etc", '[resolver]\nroot_hints = "../share/root.hints"\n')
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert load_resolver_config("../etc/resolver.toml").root_hints == str(tmp_path / "share" / "root.hints")
    write(tmp_path / "etc", '[resolver]\nroot_hints = "/srv/root.hints"\n')
    assert load_resolver_config("../etc/resolver.toml").root_hints == "/srv/root.hints"


FWD = '[[resolver.forward]]\nzone = "a.test."\nservers = ["192.0.2.1"]\n'

ERROR_CASES = [
    # (id, file text, expected key, fragment of the reason)
    ("missing table", "[authoritative]\n", "resolver", "missing table"),
    ("not a table", "resolver = 3\n", "resolver", "expected a table"),
    ("unknown key", "[resolver]\nforwards = []\n", "resolver.forwards", "unknown key"),
    ("workers 257", "[resolver]\nworkers = 257\n", "resolver.workers", "must be in 1..256"),
    ("workers 0", "[resolver]\nworkers = 0\n", "resolver.workers", "must be in 1..256"),
    ("listen port 0", '[resolver]\nlisten = ["127.0.0.1:0"]\n', "resolver.listen", "port 0"),
    ("no listen", "[resolver]\nlisten = []\n", "resolver.listen", "at least one"),
    ("allow bad", '[resolver]\nallow = ["10.0.0.0/8", "10.0.0.0/33"]\n', "resolver.allow", "item 1"),
    ("allow name", '[resolver]\nallow = ["localhost"]\n', "resolver.allow", "not an address"),
    ("allow type", "[resolver]\nallow = [10]\n", "resolver.allow[0]", "expected a string"),
    ("hints empty", '[resolver]\nroot_hints = ""\n', "resolver.root_hints", "must not be empty"),
    ("hints port", "[resolver]\nroot_hints_port = 0\n", "resolver.root_hints_port", "1..65535"),
    ("log level", '[resolver]\nlog_level = "trace"\n', "resolver.log_level", "must be one of"),
    ("min_ttl negative", "[resolver]\nmin_ttl = -1\n", "resolver.min_ttl", "0..2147483647"),
    ("max_ttl huge", "[resolver]\nmax_ttl = 2147483648\n", "resolver.max_ttl", "0..2147483647"),
    ("min over max", "[resolver]\nmin_ttl = 600\nmax_ttl = 300\n", "resolver.min_ttl", "must not exceed max_ttl"),
    ("servfail ttl", "[resolver]\nservfail_ttl = 301\n", "resolver.servfail_ttl", "0..300"),
    ("cache tiny", "[resolver]\ncache_bytes = 100\n", "resolver.cache_bytes", "at least 65536"),
    ("payload small", "[resolver]\nedns_payload = 511\n", "resolver.edns_payload", "512..4096"),
    ("payload big", "[resolver]\nedns_payload = 4097\n", "resolver.edns_payload", "512..4096"),
    ("max_queries 0", "[resolver]\nmax_queries = 0\n", "resolver.max_queries", "at least 1"),
    ("max_referrals 0", "[resolver]\nmax_referrals = 0\n", "resolver.max_referrals", "at least 1"),
    ("max_cname negative", "[resolver]\nmax_cname = -1\n", "resolver.max_cname", "at least 0"),
    ("timeout 0", "[resolver]\ntimeout = 0\n", "resolver.timeout", "> 0"),
    ("timeout inf", "[resolver]\nmax_timeout = inf\n", "resolver.max_timeout", "> 0"),
    ("timeout over max", "[resolver]\ntimeout = 5\n", "resolver.timeout", "must not exceed max_timeout"),
    ("no family", "[resolver]\ndo_ip4 = false\ndo_ip6 = false\n", "resolver.do_ip6", "both false"),
    ("bool type", '[resolver]\nprefetch = "yes"\n', "resolver.prefetch", "expected a boolean"),
    ("forward no servers", '[[resolver.forward]]\nzone = "a.test."\nservers = []\n',
     "resolver.forward[0].servers", "at least one server"),
    ("forward missing servers", '[[resolver.forward]]\nzone = "a.test."\n',
     "resolver.forward[0].servers", "missing required key"),
    ("forward bad server", '[[resolver.forward]]\nzone = "a.test."\nservers = ["192.0.2.1", "ns.a.test"]\n',
     "resolver.forward[0].servers", "item 1"),
    ("forward port 0", '[[resolver.forward]]\nzone = "a.test."\nservers = ["192.0.2.1:0"]\n',
     "resolver.forward[0].servers", "port 0"),
    ("forward bad zone", '[[resolver.forward]]\nzone = "a..test"\nservers = ["192.0.2.1"]\n',
     "resolver.forward[0].zone", "not a domain name"),
    ("stub unknown key", '[[resolver.stub]]\nzone = "a.test."\nservers = ["192.0.2.1"]\nrd = 1\n',
     "resolver.stub[0].rd", "unknown key"),
    ("zone twice", FWD + '[[resolver.stub]]\nzone = "A.TEST"\nservers = ["192.0.2.2"]\n',
     "resolver.stub[0].zone", "appears twice"),
    ("forward twice", FWD + FWD, "resolver.forward[1].zone", "appears twice"),
]


@pytest.mark.parametrize(("text", "key", "reason"), [case[1:] for case in ERROR_CASES],
                         ids=[case[0] for case in ERROR_CASES])
def test_config_errors(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_resolver_config(str(path))
    assert (caught.value.file, caught.value.key) == (str(path), key)
    assert reason in caught.value.reason, caught.value.reason


@pytest.mark.parametrize(("text", "expected"), [
    ("192.0.2.1", ("192.0.2.1", 53)),
    ("192.0.2.1:5353", ("192.0.2.1", 5353)),
    ("2001:DB8::1", ("2001:db8::1", 53)),
    ("[2001:db8::1]:853", ("2001:db8::1", 853)),
    ("::1", ("::1", 53)),
])
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize("text", ["ns.example", "192.0.2.1:0", "192.0.2.1:", "[::1]", "", "300.0.0.1"])
def test_parse_server_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_server(text)
