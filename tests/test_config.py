"""Tests of dns_suite.config: the generic TOML loader and the authoritative service's table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dns_suite.config import (
    AuthoritativeConfig,
    ZoneConfig,
    load_authoritative_config,
    load_section,
    parse_listen,
)
from dns_suite.errors import ConfigError, DnsSuiteError

REPO = Path(__file__).resolve().parent.parent

VALID = """\
[authoritative]
listen = ["127.0.0.1:5300", "[::1]:5300"]
workers = 2
allow_generate = false
udp_payload_size = 1400
nsid = "ns1"
tcp_idle_timeout = 5

[[authoritative.zones]]
origin = "example.test."
file = "zones/example.test.zone"

[[authoritative.zones]]
origin = "other.test."
file = "/srv/zones/other.test.zone"
"""


def write(tmp_path: Path, text: str, name: str = "dns.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    config = load_authoritative_config(str(path))
    assert config == AuthoritativeConfig(
        listen=("127.0.0.1:5300", "[::1]:5300"),
        zones=(
            ZoneConfig(origin="example.test.", file=str(tmp_path / "zones/example.test.zone")),
            ZoneConfig(origin="other.test.", file="/srv/zones/other.test.zone"),
        ),
        workers=2,
        allow_generate=False,
        udp_payload_size=1400,
        nsid="ns1",
        tcp_idle_timeout=5.0,
        control_socket=str(tmp_path / "dns-suite-authoritative.sock"),
    )
    assert isinstance(config.tcp_idle_timeout, float)
    assert config.identity is None and config.version is None


def test_defaults_from_empty_table(tmp_path: Path) -> None:
    config = load_authoritative_config(str(write(tmp_path, "[authoritative]\n")))
    assert config == AuthoritativeConfig(control_socket=str(tmp_path / "dns-suite-authoritative.sock"))
    assert config.listen == ("127.0.0.1:5300",) and config.zones == ()


def test_dataclasses_are_frozen_slotted_keyword_only() -> None:
    config = AuthoritativeConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.workers = 3  # type: ignore[misc]
    assert not hasattr(config, "__dict__")
    with pytest.raises(TypeError):
        ZoneConfig("example.test.", "x.zone")  # type: ignore[misc]


ZONE = '[[authoritative.zones]]\norigin = "a.test."\nfile = "a.zone"\n'

ERROR_CASES = [
    # (id, file text, expected key, fragment of the reason)
    ("unknown key", "[authoritative]\nworkerz = 2\n", "authoritative.workerz", "unknown key"),
    ("unknown table", "[authoritativ]\n", "authoritativ", "unknown table"),
    ("missing table", "[resolver]\n", "authoritative", "missing table"),
    ("wrong type int", '[authoritative]\nworkers = "2"\n', "authoritative.workers", "expected an integer"),
    ("bool is no int", "[authoritative]\nworkers = true\n", "authoritative.workers", "got boolean"),
    ("wrong type bool", "[authoritative]\nallow_generate = 1\n", "authoritative.allow_generate",
     "expected a boolean"),
    ("wrong type float", '[authoritative]\ntcp_idle_timeout = "1s"\n', "authoritative.tcp_idle_timeout",
     "expected a float"),
    ("array expected", '[authoritative]\nlisten = "127.0.0.1:53"\n', "authoritative.listen",
     "expected an array"),
    ("array item type", "[authoritative]\nlisten = [5300]\n", "authoritative.listen[0]",
     "expected a string"),
    ("optional wrong type", "[authoritative]\nnsid = 5\n", "authoritative.nsid", "expected a string"),
    ("table expected", "[authoritative]\nzones = [1]\n", "authoritative.zones[0]", "expected a table"),
    ("nested unknown key", ZONE + '[[authoritative.zones]]\norigin = "b.test."\nfile = "b"\nttl = 3\n',
     "authoritative.zones[1].ttl", "unknown key"),
    ("nested wrong type", ZONE + '[[authoritative.zones]]\norigin = "b.test."\nfile = 7\n',
     "authoritative.zones[1].file", "expected a string"),
    ("nested missing key", ZONE + '[[authoritative.zones]]\norigin = "b.test."\n',
     "authoritative.zones[1].file", "missing required key"),
    ("duplicate origin", ZONE + '[[authoritative.zones]]\norigin = "A.TEST"\nfile = "b"\n',
     "authoritative.zones", "appears twice"),
    ("workers zero", "[authoritative]\nworkers = 0\n", "authoritative.workers", "must be in 1..256"),
    ("workers huge", "[authoritative]\nworkers = 100000\n", "authoritative.workers", "must be in 1..256"),
    ("listen port 0", '[authoritative]\nlisten = ["127.0.0.1:0"]\n', "authoritative.listen", "port 0"),
    ("nsid too long", '[authoritative]\nnsid = "' + "x" * 200 + '"\n', "authoritative.nsid", "128 octets"),
    ("bad origin", '[[authoritative.zones]]\norigin = "bad..origin"\nfile = "z"\n', "authoritative.zones[0].origin",
     "not a domain name"),
    ("payload small", "[authoritative]\nudp_payload_size = 511\n", "authoritative.udp_payload_size",
     "512..4096"),
    ("payload big", "[authoritative]\nudp_payload_size = 4097\n", "authoritative.udp_payload_size",
     "512..4096"),
    ("idle timeout", "[authoritative]\ntcp_idle_timeout = 0\n", "authoritative.tcp_idle_timeout", "> 0"),
    ("idle timeout nan", "[authoritative]\ntcp_idle_timeout = nan\n", "authoritative.tcp_idle_timeout",
     "> 0"),
    ("no listen", "[authoritative]\nlisten = []\n", "authoritative.listen", "at least one"),
    ("listen no port", '[authoritative]\nlisten = ["127.0.0.1"]\n', "authoritative.listen", "ADDR:PORT"),
    ("listen bad v4", '[authoritative]\nlisten = ["::1", "300.1.1.1:53"]\n', "authoritative.listen",
     "item 0"),
    ("listen unbracketed v6", '[authoritative]\nlisten = ["::1:53"]\n', "authoritative.listen",
     "ADDR:PORT"),
    ("listen bad port", '[authoritative]\nlisten = ["127.0.0.1:65536"]\n', "authoritative.listen",
     "out of range"),
    ("listen hostname", '[authoritative]\nlisten = ["localhost:53"]\n', "authoritative.listen",
     "not an IPv4 address"),
    ("toml syntax", "[authoritative]\nworkers = 1\nlisten = [\n  \"127.0.0.1:53\",\n  oops\n]\n",
     "line 5", "invalid TOML"),
    ("toml duplicate key", "[authoritative]\nworkers = 1\nworkers = 2\n", "line 3", "invalid TOML"),
]


@pytest.mark.parametrize(("text", "key", "reason"), [case[1:] for case in ERROR_CASES],
                         ids=[case[0] for case in ERROR_CASES])
def test_config_errors(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_authoritative_config(str(path))
    error = caught.value
    assert (error.file, error.key) == (str(path), key)
    assert reason in error.reason
    assert str(error) == f"{path}: {key}: {error.reason}"
    assert isinstance(error, DnsSuiteError)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as caught:
        load_authoritative_config(str(path))
    assert caught.value.file == str(path) and "cannot read" in str(caught.value)


def test_relative_zone_path_resolved_against_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "elsewhere").mkdir()
    path = write(tmp_path / "etc", ZONE.replace("a.zone", "../zones/a.zone"))
    monkeypatch.chdir(tmp_path / "elsewhere")
    config = load_authoritative_config("../etc/dns.toml")
    assert config.zones[0].file == str(tmp_path / "zones" / "a.zone")
    assert load_authoritative_config(str(path)) == config


def test_shipped_config_loads() -> None:
    config = load_authoritative_config(str(REPO / "configs" / "authoritative.toml"))
    assert config.listen == ("127.0.0.1:5300",) and config.workers == 1
    assert config.zones == (
        ZoneConfig(origin="example.test.", file=str(REPO / "zones" / "example.test.zone"), notify_ns=False),
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Inner:
    name: str
    weight: float = 1.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Outer:
    inner: _Inner
    items: tuple[_Inner, ...] = ()
    tags: tuple[str, ...] = ()
    limit: int | None = None


LOAD_SECTION_CASES = [
    # (id, data, expected instance or (key, reason fragment))
    ("nested table", {"inner": {"name": "a"}}, _Outer(inner=_Inner(name="a"))),
    ("all kinds", {"inner": {"name": "a", "weight": 2}, "items": [{"name": "b"}], "tags": ["x"],
                   "limit": 3},
     _Outer(inner=_Inner(name="a", weight=2.0), items=(_Inner(name="b"),), tags=("x",), limit=3)),
    ("missing nested table", {}, ("s.inner", "missing required key")),
    ("nested key path", {"inner": {"name": "a"}, "items": [{"name": "b"}, {"name": 1}]},
     ("s.items[1].name", "expected a string")),
    ("inner not a table", {"inner": "a"}, ("s.inner", "expected a table")),
    ("optional int", {"inner": {"name": "a"}, "limit": 1.5}, ("s.limit", "expected an integer")),
]


@pytest.mark.parametrize(("data", "expected"), [case[1:] for case in LOAD_SECTION_CASES],
                         ids=[case[0] for case in LOAD_SECTION_CASES])
def test_load_section(data: dict, expected: object) -> None:
    if isinstance(expected, tuple):
        with pytest.raises(ConfigError) as caught:
            load_section(data, _Outer, file="f.toml", prefix="s")
        assert (caught.value.file, caught.value.key) == ("f.toml", expected[0])
        assert expected[1] in caught.value.reason
    else:
        assert load_section(data, _Outer, file="f.toml", prefix="s") == expected


def test_load_section_without_prefix() -> None:
    with pytest.raises(ConfigError) as caught:
        load_section({"bogus": 1}, _Inner, file="f.toml", prefix="")
    assert str(caught.value).startswith("f.toml: bogus: unknown key")


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:53", ("127.0.0.1", 53)),
    ("0.0.0.0:0", ("0.0.0.0", 0)),
    ("[::1]:5300", ("::1", 5300)),
    ("[2001:DB8::1]:853", ("2001:db8::1", 853)),
])
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", "[127.0.0.1]:53", "::1:53", "[::1]", ":53", "a:b:53",
                                  "127.0.0.1:99999", "127.0.0.1:-1", "[::1]:53x"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(text)


def test_keys_and_update_policy(tmp_path: Path) -> None:
    text = ('[authoritative]\n[[authoritative.keys]]\nname = "acme."\nsecret = "c2VjcmV0"\n'
            '[[authoritative.keys]]\nname = "admin."\nfile = "keys/admin.key"\n'
            '[[authoritative.zones]]\norigin = "a.test."\nfile = "a.zone"\nserial_policy = "unixtime"\n'
            'update_policy = [{key = "acme.", grant = "acme"}, {key = "admin.", grant = "subdomain", '
            'name = "dev.a.test."}]\n')
    config = load_authoritative_config(str(write(tmp_path, text)))
    assert config.keys[1].file == str(tmp_path / "keys/admin.key")
    zone = config.zones[0]
    assert zone.serial_policy == "unixtime"
    assert [(g.key, g.grant, g.name) for g in zone.update_policy] == [
        ("acme.", "acme", None), ("admin.", "subdomain", "dev.a.test.")]


@pytest.mark.parametrize("text,key", [
    ('[[authoritative.zones]]\norigin = "a."\nfile = "a"\nupdate_policy = [{key = "k.", grant = "all"}]\n',
     "authoritative.zones[0].update_policy[0].grant"),
    ('[[authoritative.zones]]\norigin = "a."\nfile = "a"\nserial_policy = "date"\n',
     "authoritative.zones[0].serial_policy"),
])
def test_policy_errors(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_authoritative_config(str(write(tmp_path, "[authoritative]\n" + text)))
    assert err.value.key == key
