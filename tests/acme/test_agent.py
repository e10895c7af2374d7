"""Pieces of the ACME client (dns_suite.acme.agent) that need no CA: error mapping, badNonce
retries, challenge selection, TSIG keys, the newOrder body. The flows run against Pebble in
tests/integration/test_acme_pebble.py."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from acme import messages

from dns_suite.acme import agent as agent_mod
from dns_suite.acme.agent import BAD_NONCE_TRIES, AcmeError, Agent, _NewOrder, _Network
from dns_suite.acme.service import _tsig_key, update_target
from dns_suite.acme.store import Store
from dns_suite.config import AcmeCertificateConfig, AcmeConfig

SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
NOW = 1_735_689_600


def make_agent(tmp_path) -> Agent:
    agent = Agent(AcmeConfig(directory="https://ca.test/dir", state_dir=str(tmp_path)), Store(str(tmp_path)),
                  publish=lambda *a, **k: None, unpublish=lambda p: None, clock=lambda: NOW)
    agent._net = SimpleNamespace(last_response=None)
    return agent


def problem(code: str, detail: str = "") -> messages.Error:
    return messages.Error(typ=f"urn:ietf:params:acme:error:{code}", detail=detail)


def raising(exc: BaseException):
    def call():
        raise exc

    return call


@pytest.mark.parametrize(("exc", "headers", "fragment", "retry_after", "code"), [
    (problem("rateLimited", "too many certificates"), {"Retry-After": "3600"}, "too many certificates",
     NOW + 3600, "rateLimited"),
    (problem("serverInternal"), {"Retry-After": "Wed, 01 Jan 2025 00:01:00 GMT"}, "serverInternal", NOW + 60,
     "serverInternal"),
    (problem("unauthorized", "Incorrect TXT record"), {}, "Incorrect TXT record", None, "unauthorized"),
    (ConnectionRefusedError(111, "Connection refused"), {}, "cannot reach the CA at https://ca.test/dir", None,
     None),
])
def test_errors_become_acme_errors(tmp_path, exc, headers, fragment, retry_after, code) -> None:
    agent = make_agent(tmp_path)
    agent._net.last_response = SimpleNamespace(headers=headers, status_code=429)
    with pytest.raises(AcmeError) as info:
        asyncio.run(agent._call("new order", raising(exc)))
    assert fragment in str(info.value) and str(info.value).startswith("new order: ")
    assert info.value.retry_after == retry_after
    if code is None:
        assert info.value.problem is None and agent._net is None  # reconnect next time
    else:
        assert info.value.problem["type"].endswith(":" + code)


@pytest.mark.parametrize(("rejections", "succeeds"), [(0, True), (1, True), (BAD_NONCE_TRIES - 1, True),
                                                      (BAD_NONCE_TRIES, False)])
def test_bad_nonce_retried_more_than_once(monkeypatch, rejections, succeeds) -> None:
    calls = []

    def post_once(self, url, obj, **kwargs):
        calls.append(kwargs)
        if len(calls) <= rejections:
            raise problem("badNonce")
        return "response"

    monkeypatch.setattr(_Network, "_post_once", post_once)
    net = _Network(key=None)
    if succeeds:
        assert net.post("https://ca.test/x", None, new_nonce_url="https://ca.test/nonce") == "response"
    else:
        with pytest.raises(messages.Error):
            net.post("https://ca.test/x", None, new_nonce_url="https://ca.test/nonce")
    assert len(calls) == min(rejections + 1, BAD_NONCE_TRIES)
    assert all(call == {"new_nonce_url": "https://ca.test/nonce"} for call in calls)


def test_other_errors_not_retried(monkeypatch) -> None:
    calls = []

    def post_once(self, url, obj, **kwargs):
        calls.append(url)
        raise problem("malformed")

    monkeypatch.setattr(_Network, "_post_once", post_once)
    with pytest.raises(messages.Error):
        _Network(key=None).post("https://ca.test/x", None)
    assert len(calls) == 1


def authz(ident: str, status: str, types=("http-01", "dns-01"), wildcard=None) -> messages.AuthorizationResource:
    body = {"identifier": {"type": "dns", "value": ident}, "status": status,
            "challenges": [{"type": t, "url": f"https://ca.test/chal/{ident}/{t}", "token": "tok0" * 11,
                            "status": "pending"} for t in types]}
    if wildcard:
        body["wildcard"] = True
    return messages.AuthorizationResource(body=messages.Authorization.from_json(body),
                                          uri=f"https://ca.test/authz/{ident}")


def test_pending_challenges_skip_valid_authorizations() -> None:
    found = Agent._pending_challenges([authz("example.test", "valid"), authz("example.test", "pending", wildcard=True),
                                       authz("www.example.test", "pending")])
    assert [(a.body.identifier.value, c.chall.typ, c.uri) for a, c in found] == [
        ("example.test", "dns-01", "https://ca.test/chal/example.test/dns-01"),
        ("www.example.test", "dns-01", "https://ca.test/chal/www.example.test/dns-01")]
    assert Agent._pending_challenges([authz("a.test", "valid")]) == []


@pytest.mark.parametrize(("authzs", "fragment"), [
    ([authz("a.test", "pending", types=("http-01", "tls-alpn-01"))], "no dns-01 challenge for a.test"),
    ([authz("a.test", "invalid")], "authorization for a.test is invalid"),
    ([authz("a.test", "deactivated")], "is deactivated"),
])
def test_unusable_authorizations(authzs, fragment) -> None:
    with pytest.raises(AcmeError, match=fragment):
        Agent._pending_challenges(authzs)


def test_new_order_body() -> None:
    ids = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value="example.test")]
    full = json.loads(_NewOrder(identifiers=ids, profile="shortlived", replaces="aaa.bbb").json_dumps())
    assert full == {"identifiers": [{"type": "dns", "value": "example.test"}], "profile": "shortlived",
                    "replaces": "aaa.bbb"}
    bare = json.loads(_NewOrder(identifiers=ids, profile=None, replaces=None).json_dumps())
    assert bare == {"identifiers": [{"type": "dns", "value": "example.test"}]}


def cert_config(**kw) -> AcmeCertificateConfig:
    return AcmeCertificateConfig(name="c", names=("example.test",), **kw)


def test_tsig_keys(tmp_path) -> None:
    assert _tsig_key(cert_config()) is None
    inline = _tsig_key(cert_config(key_name="acme-key", key_secret=SECRET, key_algorithm="hmac-sha512"))
    assert str(inline.name) == "acme-key." and str(inline.algorithm) == "hmac-sha512."
    path = tmp_path / "keys.conf"
    path.write_text(f'key "acme-key." {{ algorithm hmac-sha256; secret "{SECRET}"; }};\n'
                    f'key "other" {{ algorithm hmac-sha1; secret "{SECRET}"; }};\n')
    assert str(_tsig_key(cert_config(key_name="ACME-key", key_file=str(path))).name) == "acme-key."
    with pytest.raises(AcmeError, match="has no key missing"):
        _tsig_key(cert_config(key_name="missing", key_file=str(path)))
    with pytest.raises(AcmeError, match="give key_name"):  # two keys and no name
        _tsig_key(cert_config(key_file=str(path)))
    single = tmp_path / "one.key"
    single.write_text(f'key "solo." {{ algorithm hmac-sha256; secret "{SECRET}"; }};\n')
    assert str(_tsig_key(cert_config(key_file=str(single))).name) == "solo."
    with pytest.raises(AcmeError, match="cannot read key file"):
        _tsig_key(cert_config(key_file=str(tmp_path / "absent.key")))
    with pytest.raises(AcmeError, match="certificate c"):
        _tsig_key(cert_config(key_name="k", key_secret="not base64!"))
    assert agent_mod.REVOCATION_REASONS["keyCompromise"] == 1


def test_update_target() -> None:
    cfg = AcmeConfig(resolver="127.0.0.53")
    cert = cert_config(update_server="ns1.example.test", update_port=5353, key_name="acme-key",
                       key_secret=SECRET, check_servers=("192.0.2.1", "192.0.2.2:5300"))
    target = update_target(cfg, cert)
    assert (target.server, target.port, str(target.key.name)) == ("ns1.example.test", 5353, "acme-key.")
    assert target.check_servers == (("192.0.2.1", 53), ("192.0.2.2", 5300))
    assert target.resolver == ("127.0.0.53", 53)
    assert update_target(AcmeConfig(), cert_config()).resolver is None
