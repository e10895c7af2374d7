"""The ACME agent's files (I/O): account keys, certificate versions, status files.

Layout under ``state_dir``::

    accounts/<CA>/key.pem           account key, ECDSA P-256, mode 0600, created once per CA
    accounts/<CA>/account.json      {"directory": URL, "uri": account URL}
    certs/<NAME>/versions/<N>/      privkey.pem (0600), cert.pem, chain.pem, fullchain.pem
    certs/<NAME>/current            symlink -> versions/<N>
    certs/<NAME>/privkey.pem        symlink -> current/privkey.pem (also cert, chain, fullchain)
    status/<NAME>.json              the plan's memory, for ``status`` and the schedule
    status/<NAME>.lock              flock held while NAME is being issued

How a new certificate is switched in, so that no reader ever pairs a new certificate with an
old key: the four files are written into a fresh folder ``versions/.tmp-N-*`` (each written and
fsynced), the folder is fsynced and renamed to ``versions/N`` (atomic), then a new symlink
``current`` -> ``versions/N`` is made under a temporary name and renamed over the old one
(``rename(2)`` replaces it atomically), and the parent folder is fsynced. The four names at the
top are symlinks through ``current``, so at every instant all four resolve into one version. A
process that opens the key and the certificate separately at the moment of a switch can still
read one from each version; such a reader should resolve ``current`` once (``readlink``) and read
both from that folder, as :meth:`Store.current` does. Older versions are kept (``keep``, the
newest first; the current one is never removed). Nothing is written before the certificate is in
hand, so a failed issuance leaves no certificate files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dns_suite.errors import DnsSuiteError

from .plan import Issued, ari_cert_id

__all__ = ["FILES", "KEY_TYPES", "Bundle", "Store", "StoreBusy", "StoreError", "cert_facts", "key_matches",
           "new_key_pem", "split_chain"]

FILES = ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem")
KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096")
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\n.+?-----END CERTIFICATE-----", re.DOTALL)

log = logging.getLogger("dns_suite.acme.store")


class StoreError(DnsSuiteError):
    """A stored file is unreadable or damaged, or cannot be written."""


class StoreBusy(StoreError):
    """Another process is issuing the same certificate (its lock is held)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    """One stored version of a certificate, read from a single version folder.

    Attributes:
        version: The version number N (``versions/N``).
        folder: The certificate's folder (``certs/NAME``), where the four symlinks are.
        key_pem, cert_pem, chain_pem, fullchain_pem: The files' contents.
    """

    version: int
    folder: str
    key_pem: bytes
    cert_pem: bytes
    chain_pem: bytes
    fullchain_pem: bytes


def new_key_pem(key_type: str) -> bytes:
    """A new private key in PKCS#8 PEM.

    Args:
        key_type: One of :data:`KEY_TYPES` (ECDSA P-256/P-384, RSA 2048/3072/4096 bits).

    Raises:
        ValueError: An unknown key type.
    """
    if key_type.startswith("ecdsa-"):
        curves = {"ecdsa-p256": ec.SECP256R1(), "ecdsa-p384": ec.SECP384R1()}
        if key_type not in curves:
            raise ValueError(f"unknown key type {key_type!r}")
        key: Any = ec.generate_private_key(curves[key_type])
    elif key_type in ("rsa-2048", "rsa-3072", "rsa-4096"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    else:
        raise ValueError(f"unknown key type {key_type!r} (known: {', '.join(KEY_TYPES)})")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def split_chain(fullchain_pem: bytes) -> tuple[bytes, bytes]:
    """Split a PEM chain (RFC 8555 §7.4.2: leaf first) into ``(leaf, the rest)``.

    Raises:
        StoreError: No certificate in it.
    """
    text = fullchain_pem.replace(b"\r\n", b"\n")
    blocks = [m.group(0).rstrip(b"\n") + b"\n" for m in _PEM_CERT.finditer(text)]
    if not blocks:
        raise StoreError("the CA's certificate chain holds no PEM certificate")
    return blocks[0], b"".join(blocks[1:])


def cert_facts(cert_pem: bytes) -> Issued:
    """The plan's view of a certificate: its names, validity and ARI identifier."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ari_id = ari_cert_id(aki.key_identifier, cert.serial_number) if aki.key_identifier else None
    except x509.ExtensionNotFound:
        ari_id = None
    return Issued(names=names, not_before=int(cert.not_valid_before_utc.timestamp()),
                  not_after=int(cert.not_valid_after_utc.timestamp()), ari_id=ari_id)


def key_matches(key_pem: bytes, cert_pem: bytes) -> bool:
    """Whether the certificate carries the public half of the private key."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new(path: str, data: bytes, mode: int) -> None:
    """Create ``path`` (it must not exist) with ``mode``, write ``data`` and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _replace_file(path: str, data: bytes, mode: int) -> None:
    """Write ``path`` atomically: a temporary file beside it, fsync, rename, fsync the folder."""
    tmp = f"{path}.tmp-{secrets.token_hex(4)}"
    try:
        _write_new(tmp, data, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(path))


def _symlink(target: str, path: str) -> None:
    """Point the symlink ``path`` at ``target`` atomically (a new link renamed over the old)."""
    tmp = f"{path}.tmp-{secrets.token_hex(4)}"
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _mkdir(path: str, mode: int) -> None:
    """Create the folder ``path`` with exactly ``mode`` (whatever the umask) when it is missing.

    An existing folder is left as it is: its mode is the owner's choice (a state folder of 0750
    for a group that reads the certificates), never changed, so never loosened. Missing parents
    are created with the default mode (0777 less the umask).
    """
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        return
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            return
    os.chmod(path, mode)  # ours: the umask may have narrowed it


def _ca_slug(directory_url: str) -> str:
    """A folder name for a CA: ``acme-v02.api.letsencrypt.org_directory``, ``127.0.0.1_14000_dir``."""
    url = urllib.parse.urlsplit(directory_url)
    text = f"{url.hostname or 'ca'}_{url.port or ''}_{url.path.strip('/')}"
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_") or "ca"


class Store:
    """The files of one ``state_dir`` (see the module docstring)."""

    def __init__(self, root: str, *, keep: int = 5) -> None:
        """Args:
            root: The state folder (created 0700 when missing).
            keep: Certificate versions kept per certificate, the current one included (>= 1).
        """
        self.root = root
        self.keep = max(1, keep)

    # ------------------------------------------------------------------ accounts

    def _account_dir(self, directory_url: str) -> str:
        path = os.path.join(self.root, "accounts", _ca_slug(directory_url))
        _mkdir(self.root, 0o700)
        _mkdir(os.path.dirname(path), 0o700)
        _mkdir(path, 0o700)
        return path

    def account_key(self, directory_url: str) -> tuple[bytes, bool]:
        """The account key for a CA, created (ECDSA P-256, mode 0600) on first use.

        Two processes creating it at once agree on one key: the new key is linked into place
        with ``link(2)``, which fails when the other got there first, and that key is used.

        Returns:
            ``(PKCS#8 PEM, created now)``.
        """
        path = os.path.join(self._account_dir(directory_url), "key.pem")
        with contextlib.suppress(FileNotFoundError):
            return self._read(path), False
        tmp = f"{path}.tmp-{secrets.token_hex(4)}"
        _write_new(tmp, new_key_pem("ecdsa-p256"), 0o600)
        try:
            os.link(tmp, path)
            created = True
        except FileExistsError:
            created = False
        finally:
            os.unlink(tmp)
        _fsync_dir(os.path.dirname(path))
        return self._read(path), created

    def account_uri(self, directory_url: str) -> str | None:
        """The account URL saved for this CA, or None."""
        path = os.path.join(self._account_dir(directory_url), "account.json")
        try:
            data = json.loads(self._read(path))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise StoreError(f"{path}: not JSON: {exc}") from None
        uri = data.get("uri") if isinstance(data, dict) else None
        return uri if isinstance(uri, str) else None

    def save_account_uri(self, directory_url: str, uri: str) -> None:
        """Remember the account URL for this CA."""
        path = os.path.join(self._account_dir(directory_url), "account.json")
        data = json.dumps({"directory": directory_url, "uri": uri}, indent=1).encode()
        _replace_file(path, data + b"\n", 0o600)

    # ------------------------------------------------------------------ certificates

    def folder(self, name: str) -> str:
        """The certificate's folder, ``certs/NAME`` (where the four symlinks are)."""
        return os.path.join(self.root, "certs", name)

    def paths(self, name: str) -> dict[str, str]:
        """The four stable paths: ``{"privkey.pem": path, ...}`` (symlinks through current)."""
        return {file: os.path.join(self.folder(name), file) for file in FILES}

    def current(self, name: str) -> Bundle | None:
        """The version ``current`` points at, read from that one folder; None when none.

        Raises:
            StoreError: ``current`` points at a missing or incomplete version.
        """
        folder = self.folder(name)
        try:
            target = os.readlink(os.path.join(folder, "current"))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StoreError(f"{folder}/current: {exc.strerror or exc}") from None
        version_dir = os.path.join(folder, target)
        try:
            files = [self._read(os.path.join(version_dir, file)) for file in FILES]
            version = int(os.path.basename(target.rstrip("/")))
        except (OSError, ValueError) as exc:
            raise StoreError(f"{version_dir}: incomplete version: {exc}") from None
        return Bundle(version=version, folder=folder, key_pem=files[0], cert_pem=files[1],
                      chain_pem=files[2], fullchain_pem=files[3])

    def install(self, name: str, *, key_pem: bytes, cert_pem: bytes, chain_pem: bytes) -> Bundle:
        """Store a new version and switch ``current`` to it (see the module docstring).

        Args:
            name: The certificate's name (its folder).
            key_pem: The private key (written 0600).
            cert_pem: The leaf certificate.
            chain_pem: The intermediates (``fullchain.pem`` is ``cert_pem + chain_pem``).

        Returns:
            The installed version.
        """
        folder = self.folder(name)
        versions = os.path.join(folder, "versions")
        _mkdir(self.root, 0o700)
        _mkdir(os.path.dirname(folder), 0o755)
        _mkdir(folder, 0o755)
        _mkdir(versions, 0o755)
        number = 1 + max((int(d) for d in os.listdir(versions) if d.isdigit()), default=0)
        tmp = os.path.join(versions, f".tmp-{number}-{secrets.token_hex(4)}")
        os.mkdir(tmp, 0o755)
        os.chmod(tmp, 0o755)  # the umask may have narrowed it; the key file inside is 0600
        contents = {"privkey.pem": key_pem, "cert.pem": cert_pem, "chain.pem": chain_pem,
                    "fullchain.pem": cert_pem + chain_pem}
        try:
            for file, data in contents.items():
                _write_new(os.path.join(tmp, file), data, 0o600 if file == "privkey.pem" else 0o644)
            _fsync_dir(tmp)
            os.rename(tmp, os.path.join(versions, str(number)))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync_dir(versions)
        _symlink(os.path.join("versions", str(number)), os.path.join(folder, "current"))
        for file in FILES:
            link = os.path.join(folder, file)
            if not (os.path.islink(link) and os.readlink(link) == os.path.join("current", file)):
                _symlink(os.path.join("current", file), link)
        _fsync_dir(folder)
        self._prune(versions, number)
        return Bundle(version=number, folder=folder, key_pem=key_pem, cert_pem=cert_pem,
                      chain_pem=chain_pem, fullchain_pem=contents["fullchain.pem"])

    def versions(self, name: str) -> list[int]:
        """The stored version numbers, oldest first."""
        try:
            entries = os.listdir(os.path.join(self.folder(name), "versions"))
        except FileNotFoundError:
            return []
        return sorted(int(d) for d in entries if d.isdigit())

    def _prune(self, versions: str, current: int) -> None:
        """Remove versions beyond the newest ``keep`` (never ``current``) and leftover temporaries."""
        for entry in os.listdir(versions):
            if entry.startswith(".tmp-"):
                shutil.rmtree(os.path.join(versions, entry), ignore_errors=True)
        numbers = sorted((int(d) for d in os.listdir(versions) if d.isdigit()), reverse=True)
        for number in numbers[self.keep:]:
            if number != current:
                shutil.rmtree(os.path.join(versions, str(number)), ignore_errors=True)

    # ------------------------------------------------------------------ status and locks

    def _status_path(self, name: str, suffix: str) -> str:
        path = os.path.join(self.root, "status", name + suffix)
        _mkdir(self.root, 0o700)
        _mkdir(os.path.dirname(path), 0o700)
        return path

    def load_status(self, name: str) -> dict[str, Any]:
        """The certificate's status (``{}`` when none was saved).

        Raises:
            StoreError: The file is not a JSON object.
        """
        path = self._status_path(name, ".json")
        try:
            data = json.loads(self._read(path))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise StoreError(f"{path}: not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise StoreError(f"{path}: not a JSON object")
        return data

    def save_status(self, name: str, data: dict[str, Any]) -> None:
        """Replace the certificate's status atomically."""
        text = json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"
        _replace_file(self._status_path(name, ".json"), text, 0o644)

    def save_ledger(self, name: str, challenges: list[tuple[str, str]]) -> None:
        """Record the ``(identifier, TXT value)`` pairs about to be published (before the
        UPDATE), so a run killed before its clean-up is cleaned up by the next one."""
        text = json.dumps([list(c) for c in challenges]).encode() + b"\n"
        _replace_file(self._status_path(name, ".published.json"), text, 0o600)

    def load_ledger(self, name: str) -> list[tuple[str, str]]:
        """The pairs a previous run published and did not remove (``[]`` when none)."""
        path = self._status_path(name, ".published.json")
        try:
            data = json.loads(self._read(path))
        except FileNotFoundError:
            return []
        except ValueError:
            log.warning("%s: unreadable, ignored", path)
            return []
        return [(str(i), str(v)) for i, v in data if isinstance(i, str) and isinstance(v, str)]

    def clear_ledger(self, name: str) -> None:
        """The published values were removed."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._status_path(name, ".published.json"))

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the certificate's lock (``flock``) for the block.

        Raises:
            StoreBusy: Another process holds it.
        """
        fd = os.open(self._status_path(name, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreBusy(f"certificate {name} is being issued by another process") from None
            yield
        finally:
            os.close(fd)

    @staticmethod
    def _read(path: str) -> bytes:
        with open(path, "rb") as handle:
            return handle.read()
