"""The ACME agent's files (dns_suite.acme.store), in a temporary folder."""

from __future__ import annotations

import datetime
import os
import stat
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from dns_suite.acme import store as store_mod
from dns_suite.acme.plan import ari_cert_id
from dns_suite.acme.store import (FILES, KEY_TYPES, Store, StoreBusy, StoreError, cert_facts, key_matches,
                                  new_key_pem, split_chain)

NOW = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
_CA_KEY = ec.generate_private_key(ec.SECP256R1())
_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test intermediate")])


def make_cert(key_pem: bytes, names=("example.test", "*.example.test"), days: int = 90, serial: int = 0x87654321) -> bytes:
    """A leaf for ``key_pem`` signed by a throwaway CA, with SAN and Authority Key Identifier."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([]))
            .issuer_name(_CA_NAME).public_key(key.public_key()).serial_number(serial)
            .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(_CA_KEY.public_key()), critical=False)
            .sign(_CA_KEY, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


CHAIN = make_cert(new_key_pem("ecdsa-p256"), names=("intermediate.test",))


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_new_key_types(key_type) -> None:
    key = serialization.load_pem_private_key(new_key_pem(key_type), password=None)
    if key_type.startswith("ecdsa"):
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == {"ecdsa-p256": "secp256r1", "ecdsa-p384": "secp384r1"}[key_type]
    else:
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == int(key_type[4:])


def test_unknown_key_type() -> None:
    for bad in ("ecdsa-p521", "rsa-1024", "ed25519"):
        with pytest.raises(ValueError):
            new_key_pem(bad)


def test_cert_facts_and_chain() -> None:
    key = new_key_pem("ecdsa-p256")
    leaf = make_cert(key)
    facts = cert_facts(leaf)
    assert facts.names == ("example.test", "*.example.test")
    assert facts.not_before == int(NOW.timestamp()) and facts.not_after == facts.not_before + 90 * 86400
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(_CA_KEY.public_key()).key_identifier
    assert facts.ari_id == ari_cert_id(aki, 0x87654321)
    assert key_matches(key, leaf) and not key_matches(new_key_pem("ecdsa-p256"), leaf)
    assert split_chain(leaf + CHAIN) == (leaf, CHAIN)
    assert split_chain(leaf.replace(b"\n", b"\r\n")) == (leaf, b"")
    with pytest.raises(StoreError):
        split_chain(b"<html>not a chain</html>")


def test_account_key_created_once(tmp_path) -> None:
    store = Store(str(tmp_path / "state"))
    url = "https://127.0.0.1:14000/dir"
    key, created = store.account_key(url)
    assert created
    path = tmp_path / "state" / "accounts" / "127.0.0.1_14000_dir" / "key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert Store(str(tmp_path / "state")).account_key(url) == (key, False)  # found again
    assert store.account_key("https://acme-v02.api.letsencrypt.org/directory")[0] != key  # one per CA
    assert store.account_uri(url) is None
    store.save_account_uri(url, "https://127.0.0.1:14000/my-account/1")
    assert Store(str(tmp_path / "state")).account_uri(url) == "https://127.0.0.1:14000/my-account/1"
    assert not [p for p in path.parent.iterdir() if ".tmp-" in p.name]


def test_install_versions_and_links(tmp_path) -> None:
    store = Store(str(tmp_path), keep=2)
    assert store.current("web") is None
    bundles = []
    for _ in range(3):
        key = new_key_pem("ecdsa-p256")
        bundles.append(store.install("web", key_pem=key, cert_pem=make_cert(key), chain_pem=CHAIN))
    folder = tmp_path / "certs" / "web"
    assert [b.version for b in bundles] == [1, 2, 3]
    assert os.readlink(folder / "current") == "versions/3"
    for name in FILES:
        assert os.readlink(folder / name) == f"current/{name}"
    assert (folder / "privkey.pem").read_bytes() == bundles[2].key_pem
    assert (folder / "fullchain.pem").read_bytes() == bundles[2].cert_pem + CHAIN
    assert (folder / "chain.pem").read_bytes() == CHAIN
    assert stat.S_IMODE((folder / "versions" / "3" / "privkey.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "versions" / "3" / "cert.pem").stat().st_mode) == 0o644
    assert store.versions("web") == [2, 3]  # keep = 2
    assert store.current("web") == bundles[2]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES, "current", "versions"])


def test_failed_write_leaves_nothing(tmp_path, monkeypatch) -> None:
    store = Store(str(tmp_path))
    key = new_key_pem("ecdsa-p256")
    first = store.install("web", key_pem=key, cert_pem=make_cert(key), chain_pem=CHAIN)
    real = store_mod._write_new

    def failing(path, data, mode):
        if path.endswith("chain.pem"):
            raise OSError(28, "No space left on device")
        real(path, data, mode)

    monkeypatch.setattr(store_mod, "_write_new", failing)
    key2 = new_key_pem("ecdsa-p256")
    with pytest.raises(OSError):
        store.install("web", key_pem=key2, cert_pem=make_cert(key2), chain_pem=CHAIN)
    assert store.current("web") == first
    assert os.listdir(tmp_path / "certs" / "web" / "versions") == ["1"]


def test_readers_never_pair_a_new_certificate_with_an_old_key(tmp_path) -> None:
    """While versions switch, every name resolves into one version, and a reader that resolves
    ``current`` once gets a matching key and certificate."""
    store = Store(str(tmp_path), keep=3)
    pairs = []
    for _ in range(3):
        key = new_key_pem("ecdsa-p256")
        pairs.append((key, make_cert(key)))
    store.install("web", key_pem=pairs[0][0], cert_pem=pairs[0][1], chain_pem=CHAIN)
    folder = tmp_path / "certs" / "web"
    stop, problems, reads = threading.Event(), [], [0]

    def reader() -> None:
        while not stop.is_set():
            bundle = store.current("web")
            if not key_matches(bundle.key_pem, bundle.cert_pem):
                problems.append(f"version {bundle.version}: key and certificate differ")
            if {os.readlink(folder / name) for name in FILES} != {f"current/{name}" for name in FILES}:
                problems.append("a top-level name does not go through current")
            reads[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for index in range(40):
            key, cert = pairs[index % 3]
            store.install("web", key_pem=key, cert_pem=cert, chain_pem=CHAIN)
    finally:
        stop.set()
        thread.join(10)
    assert problems == [] and reads[0] > 0


def test_status_and_lock(tmp_path) -> None:
    store = Store(str(tmp_path))
    assert store.load_status("web") == {}
    store.save_status("web", {"memory": {"failures": 1}, "next_attempt": 5})
    assert store.load_status("web") == {"memory": {"failures": 1}, "next_attempt": 5}
    (tmp_path / "status" / "web.json").write_text("[1, 2]")
    with pytest.raises(StoreError):
        store.load_status("web")
    (tmp_path / "status" / "web.json").write_text("{not json")
    with pytest.raises(StoreError):
        store.load_status("web")
    with store.lock("web"):
        with pytest.raises(StoreBusy):
            with Store(str(tmp_path)).lock("web"):
                pass
        with store.lock("other"):
            pass
    with store.lock("web"):  # released
        pass


def test_existing_folders_keep_their_modes(tmp_path) -> None:
    """Only folders the store creates get its modes; a user's own modes (tighter or looser,
    e.g. a state folder of 0750 for a group that reads the certificates) are left alone."""
    root = tmp_path / "state"
    chosen = {root: 0o750, root / "accounts": 0o711, root / "certs": 0o700, root / "status": 0o750}
    for path in chosen:  # made in order: root first
        path.mkdir()
        path.chmod(chosen[path])
    store = Store(str(root))
    store.account_key("https://127.0.0.1:14000/dir")
    key = new_key_pem("ecdsa-p256")
    store.install("web", key_pem=key, cert_pem=make_cert(key), chain_pem=CHAIN)
    store.save_status("web", {})
    with store.lock("web"):
        pass
    assert {p: stat.S_IMODE(p.stat().st_mode) for p in chosen} == chosen
    old = os.umask(0o077)  # created folders get exactly the store's modes, whatever the umask
    try:
        fresh = Store(str(tmp_path / "new" / "state"))
        fresh.account_key("https://127.0.0.1:14000/dir")
        fresh.install("web", key_pem=key, cert_pem=make_cert(key), chain_pem=CHAIN)
    finally:
        os.umask(old)
    made = tmp_path / "new" / "state"
    assert {str(p.relative_to(made)): stat.S_IMODE(p.stat().st_mode)
            for p in (made, made / "accounts", made / "accounts" / "127.0.0.1_14000_dir", made / "certs",
                      made / "certs" / "web", made / "certs" / "web" / "versions",
                      made / "certs" / "web" / "versions" / "1")} == {
        ".": 0o700, "accounts": 0o700, "accounts/127.0.0.1_14000_dir": 0o700, "certs": 0o755,
        "certs/web": 0o755, "certs/web/versions": 0o755, "certs/web/versions/1": 0o755}
