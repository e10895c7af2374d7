"""BIND key files (``tsig-keygen`` output and ``named.conf`` key statements), ``format_key``,
``keys_from_config`` and ``dns-suite tsig-keygen``.

Real ``tsig-keygen`` output is checked twice: as captured from BIND 9.18.49 (below, always run),
and freshly generated when ``tsig-keygen`` is found (``$TSIG_KEYGEN``, ``PATH`` or /usr/sbin; on
Debian it ships in the ``bind9`` package). When BIND's ``named-checkconf`` is installed
(``bind9-utils``) it confirms that what we write is a valid key statement, and that the files
we reject BIND rejects too.
"""

from __future__ import annotations

import functools

import base64
import os
import shutil
import subprocess
import time
from pathlib import Path

import dns.message
import dns.name
import dns.tsig
import pytest

from dns_suite.cli import main
from dns_suite.config import KeyConfig
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import decode
from dns_suite.wire.name import Name
from dns_suite.wire.tsig import TsigKey, parse_rdata, verify
from dns_suite.wire.tsigkeys import KeyConfigError, KeyFileError, format_key, keys_from_config, parse_key_file

ALGS = ["hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"]
CANON = {"hmac-md5": "hmac-md5.sig-alg.reg.int."} | {a: a + "." for a in ALGS[1:]}

# `tsig-keygen -a ALG example.key` (BIND 9.18.49), byte for byte.
CAPTURED = {
    "hmac-md5": 'key "example.key" {\n\talgorithm hmac-md5;\n\tsecret "LHo6ReJDCAGG2uD1ZKVLNw==";\n};\n',
    "hmac-sha1": 'key "example.key" {\n\talgorithm hmac-sha1;\n\tsecret "wryk6QvFn47t9kQiH76B1Era2NM=";\n};\n',
    "hmac-sha224": 'key "example.key" {\n\talgorithm hmac-sha224;\n'
                   '\tsecret "YJZNU9JBxTaosINQ9HG9SEmB3bDjrdZup3L7Zw==";\n};\n',
    "hmac-sha256": 'key "example.key" {\n\talgorithm hmac-sha256;\n'
                   '\tsecret "ZmgdU4dq8RsR+Elex5iX9Lci2LI90QvdTg5ui9qAZtM=";\n};\n',
    "hmac-sha384": 'key "example.key" {\n\talgorithm hmac-sha384;\n'
                   '\tsecret "ujj8toh7+1gZCY34j6tZif6Ao3/LmvLkd9J8g9RFQxtVdwnDsW+9Kgt1AFLFQOL+";\n};\n',
    "hmac-sha512": 'key "example.key" {\n\talgorithm hmac-sha512;\n\tsecret "b8gJ4HT4MRlVrP1i2Yop3V6ndIgTXiW4s/3Pu7n/'
                   'gqsudFNMsgnY9nAsexavWknwxNsPJmUokVOhN4YtKBnQaA==";\n};\n',
}
# `rndc-confgen -A hmac-sha384 -k rk` (BIND 9.18.49): a key among other statements and comments.
RNDC_CONF = """# Start of rndc.conf
key "rk" {
\talgorithm hmac-sha384;
\tsecret "dPhDFFPVEerWGWy2D6UXIKYsJHbn4yEEEYs2W+j+y5yvY5y2ECTuhsLR1kj5GEcf";
};

options {
\tdefault-key "rk";
\tdefault-server 127.0.0.1;
\tdefault-port 953;
};
# End of rndc.conf
"""


def _tool(name: str) -> str | None:
    env = os.environ.get(name.upper().replace("-", "_"))
    if env and Path(env).is_file():
        return env
    found = shutil.which(name)
    if found:
        return found
    return next((str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.is_file()), None)


TSIG_KEYGEN = _tool("tsig-keygen")
NAMED_CHECKCONF = _tool("named-checkconf")
def _needs(path, what: str):
    """Mark tests that run a BIND tool; a missing one fails them (scripts/test installs bind9)."""
    def mark(test):
        def run(*args, **kwargs):
            assert path is not None, f"{what} not installed (scripts/test installs bind9, bind9-utils)"
            return test(*args, **kwargs)
        return functools.wraps(test)(run)
    return mark


needs_keygen = _needs(TSIG_KEYGEN, "tsig-keygen")
needs_checkconf = _needs(NAMED_CHECKCONF, "named-checkconf")


def bind_accepts(text: str, tmp_path: Path) -> bool:
    """Does BIND's named-checkconf accept ``text`` as a configuration file?"""
    path = tmp_path / "keys.conf"
    path.write_text(text)
    return subprocess.run([NAMED_CHECKCONF, str(path)], capture_output=True).returncode == 0


# --------------------------------------------------------------------------- tsig-keygen output


@pytest.mark.parametrize("alg", ALGS)
def test_captured_tsig_keygen_output(alg: str) -> None:
    [key] = parse_key_file(CAPTURED[alg], "example.key")
    secret_b64 = CAPTURED[alg].split('secret "')[1].split('"')[0]
    assert key.name == Name.from_text("example.key.")
    assert key.algorithm.to_text() == CANON[alg]
    assert key.secret == base64.b64decode(secret_b64) and len(key.secret) == key.digest_size()
    assert key.min_mac == 0
    assert format_key("example.key", alg, key.secret) == CAPTURED[alg]


@needs_keygen
@pytest.mark.parametrize("alg", ALGS)
def test_live_tsig_keygen_output(alg: str) -> None:
    text = subprocess.run([TSIG_KEYGEN, "-a", alg, "Live.Key."], capture_output=True, text=True,
                          check=True).stdout
    [key] = parse_key_file(text)
    assert key.name.wire == b"\x04Live\x03Key\x00" and key.algorithm.to_text() == CANON[alg]
    assert format_key("Live.Key.", alg, key.secret) == text


@needs_keygen
def test_live_tsig_keygen_default_name() -> None:
    text = subprocess.run([TSIG_KEYGEN], capture_output=True, text=True, check=True).stdout
    [key] = parse_key_file(text)
    assert key.name.to_text() == "tsig-key." and key.algorithm.to_text() == "hmac-sha256."


def test_rndc_conf_skips_other_statements() -> None:
    [key] = parse_key_file(RNDC_CONF, "rndc.conf")
    assert key.name.to_text() == "rk." and key.algorithm.to_text() == "hmac-sha384." and len(key.secret) == 48


def test_parsed_key_verifies_a_dnspython_signature() -> None:
    """A key read from a file is the key dnspython signs with (RFC 8945 §4.3)."""
    [key] = parse_key_file(CAPTURED["hmac-sha256"])
    secret_b64 = base64.b64encode(key.secret).decode()
    now = int(time.time())
    query = dns.message.make_query("www.example.test.", "A")
    query.use_tsig({dns.name.from_text("example.key."): dns.tsig.Key("example.key.", secret_b64,
                                                                     dns.tsig.HMAC_SHA256)})
    wire = query.to_wire()
    msg = decode(wire)
    record = parse_rdata(msg.tsig.owner, msg.tsig.rdata)
    assert verify(wire, msg.tsig_offset, record, {key.name.key: key}, now=now).ok


# --------------------------------------------------------------------------- syntax


MULTI = """/* three keys, three comment styles */
# shell comment with "quotes" and { braces }
key "First.Key." {          // name quoted, case kept
    algorithm HMAC-SHA256;  # keyword values in any case
    secret "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=";
};
KEY second-key{ALGORITHM hmac-sha512;SECRET
   "c2Vjb25kLXNlY29uZC1zZWNvbmQ=" ; } ;
key
  third
  {
    secret   " dGhp cmQt dGhpcmQ= "  /* whitespace inside the base64 */ ;
    algorithm "hmac-md5" ;
  };
key "trunc" { algorithm hmac-sha256-128; secret c2hvcnQ=; };
view "inside" { key "not-top-level" { algorithm hmac-sha1; secret "eA=="; }; };
"""

PARSED = [
    # (index, name wire, algorithm, secret, min_mac)
    (0, b"\x05First\x03Key\x00", "hmac-sha256.", b"abcdefghijklmnopqrstuvwxyz123456", 0),
    (1, b"\x0asecond-key\x00", "hmac-sha512.", b"second-second-second", 0),
    (2, b"\x05third\x00", "hmac-md5.sig-alg.reg.int.", b"third-third", 0),
    (3, b"\x05trunc\x00", "hmac-sha256.", b"short", 16),
]


def test_multi_key_file() -> None:
    keys = parse_key_file(MULTI, "multi.conf")
    assert len(keys) == len(PARSED)
    for index, wire, alg, secret, min_mac in PARSED:
        key = keys[index]
        assert (key.name.wire, key.algorithm.to_text(), key.secret, key.min_mac) == (wire, alg, secret, min_mac)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "/* a\n b */", "options { directory \"/x\"; };"])
def test_files_without_keys(text: str) -> None:
    assert parse_key_file(text) == []


def test_comment_markers_inside_quotes_are_text() -> None:
    [key] = parse_key_file('key "k#1" { algorithm hmac-sha1; secret "YS8vYg=="; }; // a/*b')
    assert key.name.wire == b"\x03k#1\x00" and key.secret == b"a//b"


KEY = 'key "k" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0";\n};\n'

# (case, text, line, reason fragment, BIND's named-checkconf rejects it too)
ERRORS = [
    ("no secret", 'key "k" {\n algorithm hmac-sha256;\n};\n', 1, "key 'k' has no secret", True),
    ("no algorithm", '\nkey "k" {\n secret "c2VjcmV0";\n};\n', 2, "key 'k' has no algorithm", True),
    ("secret twice", 'key "k" {\n algorithm hmac-sha256;\n secret "c2VjcmV0";\n secret "c2VjcmV0";\n};\n', 4,
     "secret given twice", True),
    ("not base64", 'key "k" {\n algorithm hmac-sha256;\n secret "c2VjcmV";\n};\n', 3, "secret is not base64", True),
    ("unknown algorithm", 'key "k" {\n algorithm hmac-sha3;\n secret "c2VjcmV0";\n};\n', 2,
     "unsupported TSIG algorithm", True),
    ("same name twice, any case", KEY + "\n" + KEY.replace('"k"', '"K."'), 6, "key K. defined twice", True),
    ("missing ; after a clause", 'key "k" {\n algorithm hmac-sha256\n secret "c2VjcmV0";\n};\n', 3,
     "expected ';' after the algorithm of key 'k', got 'secret'", True),
    ("missing ; at the end", KEY[:-2], 4, "file ends where ';' after the '}' of key 'k' was expected", True),
    ("unterminated comment", KEY + "\n/* open\n", 6, "unterminated /* comment", True),
    ("unbalanced quotes", 'key "k {\n algorithm hmac-sha256;\n};\n', 1, "unbalanced quotes", True),
    ("unknown clause", 'key "k" {\n algorithm hmac-sha256;\n secret "c2VjcmV0";\n digest-bits 128;\n};\n', 4,
     "expected 'algorithm' or 'secret', got 'digest-bits'", True),
    ("stray }", KEY + "};\n", 5, "expected a statement, got '}'", True),
    ("bad key name", 'key "a..b" {\n algorithm hmac-sha256;\n secret "c2VjcmV0";\n};\n', 1, "bad key name 'a..b'",
     True),
    ("truncation below half the hash", KEY.replace("hmac-sha256", "hmac-sha256-64"), 2,
     "multiple of 8 bits in 128..256", False),  # BIND only warns
    ("truncation not in octets", KEY.replace("hmac-sha256", "hmac-sha256-129"), 2, "multiple of 8 bits", True),
    ("empty secret", KEY.replace("c2VjcmV0", ""), 3, "empty secret", False),  # BIND accepts it
    ("no {", 'key "k" algorithm hmac-sha256;\n', 1, "expected '{' after key 'k', got 'algorithm'", True),
    ("no key name", "key {\n};\n", 1, "expected a key name after 'key', got '{'", True),
    ("unfinished other statement", 'options {\n directory "/tmp";\n', 2,
     "file ends where the end of the 'options' statement of line 1 was expected", True),
    ("} without { in another statement", "options\n foo } ;\n", 2, "'}' without its '{'", True),
    ("unquoted base64 cut by //", 'key k { algorithm hmac-sha256; secret YW//Jj; };\n', 1,
     "file ends where ';' after the secret of key 'k' was expected", True),
]


@pytest.mark.parametrize(("text", "line", "fragment"), [pytest.param(t, ln, f, id=c) for c, t, ln, f, _ in ERRORS])
def test_errors_name_file_line_reason(text: str, line: int, fragment: str) -> None:
    with pytest.raises(KeyFileError) as info:
        parse_key_file(text, "bad.key")
    err = info.value
    assert (err.file, err.line) == ("bad.key", line), str(err)
    assert fragment in err.reason, err.reason
    assert str(err).startswith(f"bad.key:{line}: ")


@needs_checkconf
@pytest.mark.parametrize(("text", "rejected"), [pytest.param(t, r, id=c) for c, t, _, _, r in ERRORS])
def test_errors_agree_with_named_checkconf(text: str, rejected: bool, tmp_path: Path) -> None:
    assert bind_accepts(text, tmp_path) is not rejected


@needs_checkconf
def test_named_checkconf_accepts_the_multi_key_file(tmp_path: Path) -> None:
    assert bind_accepts(MULTI, tmp_path)


# --------------------------------------------------------------------------- format_key


@pytest.mark.parametrize("name", ["example.key", "Example.Key.", "acme-key.example.test.", 'odd"name'])
@pytest.mark.parametrize("alg", ["hmac-sha256", "HMAC-SHA512.", "hmac-md5.sig-alg.reg.int.", "hmac-sha1"])
def test_format_key_round_trip(name: str, alg: str) -> None:
    secret = bytes(range(7, 39))
    text = format_key(name, alg, secret)
    [key] = parse_key_file(text)
    assert key.name == Name.from_text(name if name.endswith(".") else name + ".")
    assert key.algorithm == TsigKey.from_text("k", alg, "").algorithm and key.secret == secret


def test_format_key_layout() -> None:
    assert format_key("acme-key.", "hmac-sha256.", b"\x00" * 32) == (
        'key "acme-key." {\n\talgorithm hmac-sha256;\n\tsecret "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";\n};\n')
    assert "\talgorithm hmac-md5;\n" in format_key("k", "HMAC-MD5.SIG-ALG.REG.INT", b"x")


@pytest.mark.parametrize(("name", "alg", "fragment"), [
    ("a..b", "hmac-sha256", "bad key name 'a..b'"),
    ("k", "hmac-sha3", "unsupported TSIG algorithm"),
    ("x" * 64, "hmac-sha256", "bad key name"),
])
def test_format_key_errors(name: str, alg: str, fragment: str) -> None:
    with pytest.raises(WireError, match=fragment):
        format_key(name, alg, b"secret")


@needs_checkconf
@pytest.mark.parametrize("alg", ALGS)
def test_named_checkconf_accepts_format_key(alg: str, tmp_path: Path) -> None:
    assert bind_accepts(format_key("ours.example.", alg, os.urandom(32)), tmp_path)


# --------------------------------------------------------------------------- keys_from_config

FILES = {
    "acme.key": CAPTURED["hmac-sha512"].replace("example.key", "acme-key.") + RNDC_CONF,
    "broken.key": 'key "acme-key." {\n algorithm hmac-sha256;\n};\n',
    "trunc.key": KEY.replace("hmac-sha256", "hmac-sha256-160"),
}


def read(path: str) -> str:
    if path not in FILES:
        raise FileNotFoundError(2, "No such file or directory", path)
    return FILES[path]


def test_keys_from_config_inline_and_file() -> None:
    keys = keys_from_config((
        KeyConfig(name="Inline-Key", algorithm="HMAC-SHA1.", secret="c2VjcmV0", min_mac=12),
        KeyConfig(name="ACME-KEY", file="acme.key"),
        KeyConfig(name="rk.", file="acme.key", min_mac=40),
    ), read)
    assert list(keys) == [b"\x0ainline-key\x00", b"\x08acme-key\x00", b"\x02rk\x00"]
    inline, acme, rk = keys.values()
    assert (inline.algorithm.to_text(), inline.secret, inline.min_mac) == ("hmac-sha1.", b"secret", 12)
    assert acme.name.wire == b"\x08acme-key\x00"  # the file's spelling
    assert acme.algorithm.to_text() == "hmac-sha512." and len(acme.secret) == 64 and acme.min_mac == 0
    assert rk.algorithm.to_text() == "hmac-sha384." and rk.min_mac == 40


def test_keys_from_config_file_truncation_kept() -> None:
    [key] = keys_from_config((KeyConfig(name="k", file="trunc.key"),), read).values()
    assert key.min_mac == 20


@pytest.mark.parametrize(("entries", "fragment"), [
    ((KeyConfig(name="k1", file="missing.key"),), "keys[0] (k1): cannot read key file missing.key"),
    ((KeyConfig(name="other", file="acme.key"),), "key file acme.key has no key other. (it has: acme-key., rk.)"),
    ((KeyConfig(name="k", file="broken.key"),), "keys[0] (k): broken.key:1: key 'acme-key.' has no secret"),
    ((KeyConfig(name="k", secret="c2VjcmV0", file="acme.key"),), "give exactly one of secret and file"),
    ((KeyConfig(name="k"),), "keys[0] (k): give exactly one of secret and file"),
    ((KeyConfig(name="k", secret="not base64!"),), "keys[0] (k): TSIG key k: secret is not base64"),
    ((KeyConfig(name="k", algorithm="hmac-sha3", secret="c2VjcmV0"),), "unsupported TSIG algorithm 'hmac-sha3'"),
    ((KeyConfig(name="a..b", secret="c2VjcmV0"),), "keys[0] (a..b): "),
    ((KeyConfig(name="k1", secret="c2VjcmV0"), KeyConfig(name="K1.", secret="c2VjcmV0")),
     "keys[1] (K1.): key K1. is configured twice"),
])
def test_keys_from_config_errors_name_the_key(entries: tuple[KeyConfig, ...], fragment: str) -> None:
    with pytest.raises(KeyConfigError) as info:
        keys_from_config(entries, read)
    assert fragment in str(info.value)


def test_keys_from_config_empty() -> None:
    assert keys_from_config((), read) == {}


# --------------------------------------------------------------------------- dns-suite tsig-keygen


@pytest.mark.parametrize(("alg", "size", "printed"), [
    ([], 32, "hmac-sha256"), (["--algorithm", "hmac-sha384"], 64, "hmac-sha384"),
    (["-a", "HMAC-SHA512"], 64, "hmac-sha512"), (["-a", "hmac-sha224"], 32, "hmac-sha224"),
    (["-a", "hmac-sha1"], 32, "hmac-sha1"), (["-a", "hmac-md5"], 32, "hmac-md5"),
])
def test_cli_tsig_keygen(alg: list[str], size: int, printed: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tsig-keygen", "acme-key.", *alg]) == 0
    out = capsys.readouterr().out
    [key] = parse_key_file(out)
    assert len(key.secret) == size and key.name.to_text() == "acme-key."
    assert out == format_key("acme-key.", printed, key.secret)
    assert f"\talgorithm {printed};\n" in out


def test_cli_tsig_keygen_secrets_differ(capsys: pytest.CaptureFixture[str]) -> None:
    secrets = set()
    for _ in range(3):
        main(["tsig-keygen", "k"])
        secrets.add(parse_key_file(capsys.readouterr().out)[0].secret)
    assert len(secrets) == 3


@pytest.mark.parametrize(("argv", "fragment"), [
    (["tsig-keygen", "k", "-a", "hmac-sha3"], "unsupported TSIG algorithm"),
    (["tsig-keygen", "a..b"], "bad key name"),
])
def test_cli_tsig_keygen_errors(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and fragment in captured.err and captured.err.startswith("dns-suite tsig-keygen: ")


@needs_checkconf
def test_named_checkconf_accepts_cli_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    main(["tsig-keygen", "cli.example.", "-a", "hmac-sha512"])
    assert bind_accepts(capsys.readouterr().out, tmp_path)
