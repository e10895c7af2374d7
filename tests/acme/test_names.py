"""Certificate names as ACME identifiers (dns_suite.acme.names), and the configured certificates
made of them (acme_certificates)."""

from __future__ import annotations

import pytest

from dns_suite.acme.names import NameConversionError, acme_certificates, acme_name, acme_names
from dns_suite.config import AcmeCertificateConfig, AcmeConfig
from dns_suite.errors import DnsSuiteError


@pytest.mark.parametrize(("name", "identifier"), [
    ("Example.TEST", "example.test"),
    ("example.test.", "example.test"),
    ("bücher.example.test", "xn--bcher-kva.example.test"),
    ("BÜCHER.Example.Test.", "xn--bcher-kva.example.test"),
    ("*.Example.TEST", "*.example.test"),
    ("*.bücher.example.test", "*.xn--bcher-kva.example.test"),
    ("XN--BCHER-KVA.example.test", "xn--bcher-kva.example.test"),
    ("xn--strae-oqa.test", "xn--strae-oqa.test"),  # IDNA 2008's straße, given as its A-label
    ("ｅｘａｍｐｌｅ.test", "example.test"),  # fullwidth letters: NFKC
    ("exa\u0301mple.test", "xn--exmple-qta.test"),  # a combining accent composed (NFC) first
    ("_acme.a-b.example.test", "_acme.a-b.example.test"),
])
def test_names_become_identifiers(name, identifier) -> None:
    assert acme_name(name) == identifier


@pytest.mark.parametrize(("name", "reason"), [
    ("straße.test", "IDNA 2008: 'xn--strae-oqa'"),
    ("σίσυφος.test", "final sigma"),
    ("stra\u200dse.test", "ZERO WIDTH JOINER"),
    ("xn--zz.test", "not a valid IDNA A-label"),
    ("xn--a.test", "not a valid IDNA A-label"),
    ("\u05d0a.test", "BIDI"),
    ("\ue000.test", "cannot be converted to IDNA"),
    ("ä" * 60 + ".test", "too long"),
    ("a..test", "empty label"),
    ("-a.test", "not a host name label"),
    ("a b.test", "not a host name label"),
    ("www.*.test", "'*' is allowed only as the whole first label"),
    (".".join(["ä" * 30] * 8), "over 253"),
])
def test_unconvertible_names_are_refused_by_name(name, reason) -> None:
    with pytest.raises(NameConversionError) as info:
        acme_name(name)
    assert f"certificate name {name!r}: " in str(info.value) and reason in str(info.value)


def test_spellings_of_one_name_are_one_identifier() -> None:
    assert acme_names(["Example.TEST", "bücher.example.test", "example.test", "*.example.test",
                       "xn--bcher-kva.example.test."]) == (
        "example.test", "xn--bcher-kva.example.test", "*.example.test")


def cfg(*certs: AcmeCertificateConfig) -> tuple[AcmeCertificateConfig, ...]:
    return AcmeConfig(directory="https://ca.test/dir", state_dir="/nonexistent", certificate=certs).certificate


def test_config_certificates_are_converted() -> None:
    done = acme_certificates(cfg(AcmeCertificateConfig(name="web", names=("Example.TEST", "*.bücher.Example.test")),
                                 AcmeCertificateConfig(name="rsa", names=("example.test",), key_type="rsa-2048")))
    assert [c.names for c in done] == [("example.test", "*.xn--bcher-kva.example.test"),
                                                   ("example.test",)]


@pytest.mark.parametrize(("certs", "fragment"), [
    ((AcmeCertificateConfig(name="web", names=("straße.example.test",)),),
     "certificate web: certificate name 'straße.example.test': "),
    ((AcmeCertificateConfig(name="web", names=("Example.TEST",)),
      AcmeCertificateConfig(name="web2", names=("example.test",))),
     "certificates 'web' and 'web2' are one certificate configured twice"),
    ((AcmeCertificateConfig(name="web", names=("bücher.test", "a.test")),
      AcmeCertificateConfig(name="other", names=("A.test", "xn--bcher-kva.test"))),
     "certificates 'web' and 'other' are one certificate configured twice"),
    ((AcmeCertificateConfig(name="Web", names=("a.test",)), AcmeCertificateConfig(name="web", names=("b.test",))),
     "certificates 'Web' and 'web' differ only in case"),
])
def test_config_errors_name_the_certificate(certs, fragment) -> None:
    with pytest.raises(DnsSuiteError) as info:
        acme_certificates(cfg(*certs))
    assert fragment in str(info.value)
