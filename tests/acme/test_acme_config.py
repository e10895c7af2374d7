"""The ``[acme]`` table (dns_suite.config.load_acme_config): defaults, paths, and refused values."""

from __future__ import annotations

import pytest

from dns_suite.config import AcmeConfig, load_acme_config
from dns_suite.errors import ConfigError

GOOD = """
[acme]
directory = "letsencrypt-staging"
ca_bundle = "ca.pem"
email = "hostmaster@example.test"
agree_terms = true
resolver = "127.0.0.53"
state_dir = "state"

[[acme.certificate]]
name = "example"
names = ["example.test", "*.example.test", "www.example.test"]
update_server = "ns1.example.test"
key_name = "acme-key."
key_secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
check_servers = ["127.0.0.1:5300", "192.0.2.1"]
post_renewal_command = "systemctl reload nginx"

[[acme.certificate]]
name = "mail.example"
names = ["mail.example.test"]
key_type = "rsa-3072"
key_file = "keys/acme.key"
profile = "shortlived"
"""


def write(tmp_path, text: str) -> str:
    path = tmp_path / "acme.toml"
    path.write_text(text)
    return str(path)


def test_example_loads_with_paths_resolved(tmp_path) -> None:
    cfg = load_acme_config(write(tmp_path, GOOD))
    assert cfg.directory_url == "https://acme-staging-v02.api.letsencrypt.org/directory"
    assert cfg.state_dir == str(tmp_path / "state") and cfg.ca_bundle == str(tmp_path / "ca.pem")
    first, second = cfg.certificate
    assert first.names == ("example.test", "*.example.test", "www.example.test")
    assert (first.key_type, first.update_port, first.key_algorithm) == ("ecdsa-p256", 53, "hmac-sha256")
    assert second.key_file == str(tmp_path / "keys" / "acme.key") and second.update_server is None
    assert AcmeConfig().directory_url == "https://acme-v02.api.letsencrypt.org/directory"


def test_shipped_example_loads() -> None:
    cfg = load_acme_config("configs/acme.toml")
    assert cfg.certificate


BASE = '[acme]\n{acme}\n[[acme.certificate]]\nname = "c"\nnames = ["example.test"]\n{cert}\n'

# (case, extra [acme] lines, extra certificate lines, expected key, fragment of the reason)
REFUSED = [
    ("directory neither name nor https", 'directory = "http://ca.test/dir"', "", "acme.directory", "https"),
    ("half an EAB", 'eab_kid = "kid-1"', "", "acme.eab_kid", "both"),
    ("resolver not an address", 'resolver = "dns.example:53"', "", "acme.resolver", "IPv4"),
    ("retry_min above retry_max", "retry_min = 100.0\nretry_max = 10.0", "", "acme.retry_min", "retry_max"),
    ("bad key type", "", 'key_type = "dsa"', "acme.certificate[0].key_type", "one of"),
    ("secret without name", "", 'key_secret = "c2VjcmV0"', "acme.certificate[0].key_name", "key_secret"),
    ("secret and file", "", 'key_name = "k"\nkey_secret = "c2VjcmV0"\nkey_file = "k.key"',
     "acme.certificate[0].key_secret", "not both"),
    ("name without secret or file", "", 'key_name = "k"', "acme.certificate[0].key_name", "key_file"),
    ("bad check server", "", 'check_servers = ["ns1.example.test"]', "acme.certificate[0].check_servers",
     "item 0"),
    ("unknown key", "", "update_srever = \"x\"", "acme.certificate[0].update_srever", "unknown key"),
    ("port out of range", "", "update_port = 0", "acme.certificate[0].update_port", "1..65535"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(tmp_path, case) -> None:
    _, acme, cert, key, reason = case
    with pytest.raises(ConfigError) as info:
        load_acme_config(write(tmp_path, BASE.format(acme=acme, cert=cert)))
    assert info.value.key == key and reason in info.value.reason


@pytest.mark.parametrize(("names", "reason"), [
    ("[]", "at least one"),
    ('["example.test", "EXAMPLE.test."]', "twice"),
    ('["*.*.example.test"]', "wildcard"),
    ('["www.*.example.test"]', "wildcard"),
    ('["*."]', "wildcard"),
    ('["a..b"]', "not a domain name"),
])
def test_bad_names(tmp_path, names, reason) -> None:
    text = f'[acme]\n[[acme.certificate]]\nname = "c"\nnames = {names}\n'
    with pytest.raises(ConfigError) as info:
        load_acme_config(write(tmp_path, text))
    assert info.value.key == "acme.certificate[0].names" and reason in info.value.reason


@pytest.mark.parametrize("name", ["../etc", ".hidden", "a/b", "", "x" * 129])
def test_bad_folder_names(tmp_path, name) -> None:
    text = f'[acme]\n[[acme.certificate]]\nname = "{name}"\nnames = ["example.test"]\n'
    with pytest.raises(ConfigError) as info:
        load_acme_config(write(tmp_path, text))
    assert info.value.key == "acme.certificate[0].name"


def test_duplicate_certificate_names(tmp_path) -> None:
    text = ('[acme]\n[[acme.certificate]]\nname = "c"\nnames = ["a.test"]\n'
            '[[acme.certificate]]\nname = "c"\nnames = ["b.test"]\n')
    with pytest.raises(ConfigError) as info:
        load_acme_config(write(tmp_path, text))
    assert info.value.key == "acme.certificate" and "twice" in info.value.reason


def test_missing_table(tmp_path) -> None:
    with pytest.raises(ConfigError) as info:
        load_acme_config(write(tmp_path, '[resolver]\nlisten = ["127.0.0.1:5353"]\n'))
    assert info.value.key == "acme"
