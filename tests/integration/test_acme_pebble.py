"""The ACME agent against Pebble (Debian ``pebble`` 2.4), on loopback.

Part 1, the protocol side alone: Pebble validates every challenge without DNS
(``PEBBLE_VA_ALWAYS_VALID``) and a recording stand-in takes the place of ``dns01.publish`` /
``unpublish``: order of the steps, cleanup on failure, badNonce, account reuse, EAB, key types,
revocation, the post-renewal command.

Part 2, end to end (``test_e2e_*``): Pebble's VA asks a dns-suite *secondary*, fed by NOTIFY/IXFR
from the dns-suite primary that receives the agent's UPDATEs, in the lab of acmelab.py; the
``dns-suite acme`` command runs as a process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dns_suite.acme import plan
from dns_suite.acme.agent import AcmeError, Agent
from dns_suite.acme.service import Service
from dns_suite.acme.store import KEY_TYPES, Store, cert_facts
from dns_suite.config import AcmeCertificateConfig, AcmeConfig
from acmelab import ACME_SECRET, start_lab, wait_values
from pebble import DETERMINISTIC, Pebble
from peers import DNS_SUITE, HOST, free_port

pytestmark = pytest.mark.integration

NAMES = ("example.test", "*.example.test", "www.example.test")
ALWAYS_VALID = {**DETERMINISTIC, "PEBBLE_VA_ALWAYS_VALID": "1"}
TARGET = "where the stand-in publishes"


def verify_chain(fullchain: bytes, root_pem: bytes) -> x509.Certificate:
    """Check each certificate of ``fullchain`` is signed by the next and the last by ``root_pem``."""
    chain = x509.load_pem_x509_certificates(fullchain)
    root = x509.load_pem_x509_certificate(root_pem)
    for child, parent in zip(chain, [*chain[1:], root]):
        child.verify_directly_issued_by(parent)
    return chain[0]


# --------------------------------------------------------------------------- part 1: a stand-in for dns01


class StandIn:
    """Records publish/unpublish calls and the challenge answers posted in between."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.fail_publish: Exception | None = None

    async def publish(self, challenges, target, *, deadline: float, poll: float = 0.2):
        assert target == TARGET
        self.events.append(("publish", tuple(challenges), deadline))
        if self.fail_publish is not None:
            raise self.fail_publish
        return "the-published-token"

    async def unpublish(self, published) -> None:
        self.events.append(("unpublish", published))

    async def withdraw(self, challenges, target) -> None:
        self.events.append(("withdraw", tuple(challenges)))

    def kinds(self) -> list[str]:
        return [event[0] for event in self.events]


@pytest.fixture(scope="module")
def always_valid(tmp_path_factory):
    pebble = Pebble(tmp_path_factory.mktemp("pebble-always"), dns=(HOST, free_port()), env=ALWAYS_VALID).start()
    yield pebble
    pebble.stop()


def config(pebble: Pebble, tmp_path: Path, **kw) -> AcmeConfig:
    cert = AcmeCertificateConfig(name="example", names=NAMES, key_type=kw.pop("key_type", "ecdsa-p256"),
                                 profile=kw.pop("profile", None),
                                 post_renewal_command=kw.pop("post_renewal_command", None))
    return AcmeConfig(directory=pebble.directory, ca_bundle=str(pebble.ca_bundle), agree_terms=True,
                      state_dir=str(tmp_path / "state"), certificate=(cert,), **kw)


def make_agent(cfg: AcmeConfig, standin: StandIn) -> Agent:
    return Agent(cfg, Store(cfg.state_dir, keep=cfg.keep_versions), publish=standin.publish,
                 unpublish=standin.unpublish, withdraw=standin.withdraw)


def standin_service(cfg: AcmeConfig) -> Service:
    service = Service(cfg, agent=make_agent(cfg, StandIn()))
    service.target = lambda cfg, cert: TARGET
    return service


def posts(monkeypatch, standin: StandIn) -> None:
    """Record every POST of the agent (its URL) in the stand-in's events."""
    real = Agent._post

    def recording(self, url, obj):
        standin.events.append(("post", url))
        return real(self, url, obj)

    monkeypatch.setattr(Agent, "_post", recording)


def test_publish_all_values_first_then_answer_then_unpublish(always_valid, tmp_path, monkeypatch) -> None:
    standin = StandIn()
    posts(monkeypatch, standin)
    cfg = config(always_valid, tmp_path)
    bundle = asyncio.run(make_agent(cfg, standin).issue(cfg.certificate[0], TARGET))
    publishes = [e for e in standin.events if e[0] == "publish"]
    assert len(publishes) == 1  # one call with every value: the wildcard and its apex share a name
    values = publishes[0][1]
    assert sorted(name for name, _ in values) == ["example.test", "example.test", "www.example.test"]
    assert len({value for _, value in values}) == 3 and publishes[0][2] == cfg.propagation_timeout
    challenge_posts = [i for i, e in enumerate(standin.events) if e[0] == "post" and "/chal" in e[1]]
    first_publish = standin.kinds().index("publish")
    assert len(challenge_posts) == 3 and first_publish < min(challenge_posts)
    assert ("unpublish", "the-published-token") in standin.events
    assert standin.kinds().index("unpublish") > max(challenge_posts)
    leaf = verify_chain(bundle.fullchain_pem, always_valid.root_pem())
    assert sorted(cert_facts(bundle.cert_pem).names) == sorted(NAMES)
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    folder = Path(cfg.state_dir) / "certs" / "example"
    assert (folder / "fullchain.pem").read_bytes() == bundle.fullchain_pem
    assert stat.S_IMODE(os.stat(folder / "privkey.pem").st_mode) == 0o600


def test_values_left_by_a_killed_run_are_withdrawn_first(always_valid, tmp_path) -> None:
    standin = StandIn()
    cfg = config(always_valid, tmp_path)
    store = Store(cfg.state_dir)
    store.save_ledger("example", [("example.test", "left-by-a-kill")])  # as a killed run leaves it
    asyncio.run(make_agent(cfg, standin).issue(cfg.certificate[0], TARGET))
    assert standin.kinds()[:2] == ["withdraw", "publish"]
    assert standin.events[0] == ("withdraw", (("example.test", "left-by-a-kill"),))
    assert store.load_ledger("example") == [], "cleared after the clean-up worked"


def test_failure_after_publish_still_unpublishes_and_writes_nothing(always_valid, tmp_path, monkeypatch) -> None:
    async def broken_finalize(self, *args):
        raise AcmeError("finalize: the CA says: urn:ietf:params:acme:error:badCSR")

    monkeypatch.setattr(Agent, "_finalize", broken_finalize)
    standin = StandIn()
    cfg = config(always_valid, tmp_path)
    with pytest.raises(AcmeError, match="badCSR"):
        asyncio.run(make_agent(cfg, standin).issue(cfg.certificate[0], TARGET))
    assert standin.kinds() == ["publish", "unpublish"]
    assert not (Path(cfg.state_dir) / "certs").exists()


def test_failed_publish_answers_nothing(always_valid, tmp_path, monkeypatch) -> None:
    standin = StandIn()
    standin.fail_publish = AcmeError("UPDATE refused")
    posts(monkeypatch, standin)
    cfg = config(always_valid, tmp_path)
    with pytest.raises(AcmeError, match="UPDATE refused"):
        asyncio.run(make_agent(cfg, standin).issue(cfg.certificate[0], TARGET))
    assert not [e for e in standin.events if e[0] == "post" and "/chal" in e[1]]
    assert "unpublish" not in standin.kinds()  # publish cleans up after itself
    assert not (Path(cfg.state_dir) / "certs").exists()


def test_bad_nonces_retried(tmp_path, caplog) -> None:
    """30 % of good nonces rejected: the library alone (one retry) fails most orders of this size."""
    caplog.set_level(logging.DEBUG, logger="dns_suite.acme")
    pebble = Pebble(tmp_path / "pebble", dns=(HOST, free_port()),
                    env={**ALWAYS_VALID, "PEBBLE_WFE_NONCEREJECT": "30"}).start()
    try:
        cfg = config(pebble, tmp_path)
        agent = make_agent(cfg, StandIn())
        for _ in range(5):
            asyncio.run(agent.issue(cfg.certificate[0], TARGET))
        assert Store(cfg.state_dir).versions("example") == [1, 2, 3, 4, 5]
        retries = [r.getMessage() for r in caplog.records if "badNonce" in r.getMessage()]
        assert any(message.endswith("(2)") for message in retries), retries  # a second retry was needed
    finally:
        pebble.stop()


def test_account_key_reused_and_account_found_again(tmp_path) -> None:
    pebble = Pebble(tmp_path / "pebble", dns=(HOST, free_port()), env=ALWAYS_VALID).start()
    try:
        cfg = config(pebble, tmp_path)
        store = Store(cfg.state_dir)
        asyncio.run(make_agent(cfg, StandIn()).issue(cfg.certificate[0], TARGET))
        key, uri = store.account_key(cfg.directory_url)[0], store.account_uri(cfg.directory_url)
        assert uri and key
        asyncio.run(make_agent(cfg, StandIn()).issue(cfg.certificate[0], TARGET))  # a new process: same account
        assert store.account_uri(cfg.directory_url) == uri
        pebble.stop()
        pebble.start()  # Pebble forgets its accounts: the saved URL is gone, the key registers again
        asyncio.run(make_agent(cfg, StandIn()).issue(cfg.certificate[0], TARGET))
        assert store.account_key(cfg.directory_url) == (key, False)
        assert store.account_uri(cfg.directory_url) != uri
        assert store.versions("example") == [1, 2, 3]
    finally:
        pebble.stop()


def test_external_account_binding(tmp_path) -> None:
    pebble = Pebble(tmp_path / "pebble", dns=(HOST, free_port()), env=ALWAYS_VALID,
                    eab={"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}).start()
    try:
        cfg = config(pebble, tmp_path)
        with pytest.raises(AcmeError, match="external account binding"):
            asyncio.run(make_agent(cfg, StandIn()).issue(cfg.certificate[0], TARGET))
        cfg = dataclasses.replace(cfg, eab_kid="kid-1",
                                  eab_hmac_key="zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W")
        asyncio.run(make_agent(cfg, StandIn()).issue(cfg.certificate[0], TARGET))
        wrong = dataclasses.replace(cfg, eab_hmac_key="AAAA" + cfg.eab_hmac_key[4:],
                                    state_dir=str(tmp_path / "other"))
        with pytest.raises(AcmeError, match="new account"):
            asyncio.run(make_agent(wrong, StandIn()).issue(cfg.certificate[0], TARGET))
    finally:
        pebble.stop()


def test_terms_must_be_agreed(always_valid, tmp_path) -> None:
    cfg = dataclasses.replace(config(always_valid, tmp_path), agree_terms=False)
    with pytest.raises(AcmeError, match="agree_terms = true"):
        asyncio.run(make_agent(cfg, StandIn()).issue(cfg.certificate[0], TARGET))


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_key_types(always_valid, tmp_path, key_type) -> None:
    cfg = config(always_valid, tmp_path, key_type=key_type, profile="shortlived")  # 2.4 ignores profiles
    bundle = asyncio.run(make_agent(cfg, StandIn()).issue(cfg.certificate[0], TARGET))
    key = x509.load_pem_x509_certificate(bundle.cert_pem).public_key()
    if key_type.startswith("ecdsa"):
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size == int(key_type[-3:])
    else:
        assert isinstance(key, rsa.RSAPublicKey) and key.key_size == int(key_type[4:])


def test_revoke_then_renew_issues_again(always_valid, tmp_path) -> None:
    cfg = config(always_valid, tmp_path)
    service = standin_service(cfg)
    assert asyncio.run(service.issue("example"))
    bundle = service.store.current("example")
    serial = x509.load_pem_x509_certificate(bundle.cert_pem).serial_number
    assert always_valid.cert_status(serial)["Status"] == "Valid"
    asyncio.run(service.revoke("example", "keyCompromise"))
    assert always_valid.cert_status(serial)["Status"] == "Revoked"
    memory = plan.memory_from_json(service.store.load_status("example")["memory"])
    assert memory.revoked
    wake, failed = asyncio.run(service.renew_due())
    assert failed == 0 and service.store.current("example").version == 2
    assert not plan.memory_from_json(service.store.load_status("example")["memory"]).revoked


def test_names_are_lowercased_and_idna_converted(always_valid, tmp_path) -> None:
    """Mixed case and a U-label in the config: the order, the TXT names and the certificate use
    lowercase A-labels, and the config spelled another way is still the same certificate."""
    cfg = dataclasses.replace(config(always_valid, tmp_path), certificate=(AcmeCertificateConfig(
        name="example", names=("Example.TEST", "*.Example.test", "Bücher.example.TEST")),))
    standin = StandIn()
    service = Service(cfg, agent=make_agent(cfg, standin))
    service.target = lambda cfg, cert: TARGET
    assert asyncio.run(service.issue("example"))
    wanted = ["*.example.test", "example.test", "xn--bcher-kva.example.test"]
    assert sorted(cert_facts(service.store.current("example").cert_pem).names) == wanted
    published = [e for e in standin.events if e[0] == "publish"][0][1]
    assert sorted(name for name, _ in published) == ["example.test", "example.test", "xn--bcher-kva.example.test"]
    respelled = dataclasses.replace(cfg, certificate=(AcmeCertificateConfig(
        name="example", names=("EXAMPLE.test", "xn--bcher-kva.example.test", "*.example.test.")),))
    for spelling in (cfg, respelled):
        again = standin_service(spelling)
        wake, failed = asyncio.run(again.renew_due())
        assert failed == 0 and again.store.current("example").version == 1, "not a new certificate"


def test_post_renewal_command_environment(always_valid, tmp_path) -> None:
    out = tmp_path / "hook.out"
    command = (f'env | grep ^DNS_SUITE_ | sort > {out}; test "$(readlink -f "$DNS_SUITE_KEY_PATH")" = '
               f'"$(readlink -f "$DNS_SUITE_CERT_DIR/current/privkey.pem")"')
    cfg = config(always_valid, tmp_path, post_renewal_command=command)
    service = standin_service(cfg)
    assert asyncio.run(service.issue("example"))
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    folder = str(Path(cfg.state_dir) / "certs" / "example")
    assert env["DNS_SUITE_CERT_NAME"] == "example" and env["DNS_SUITE_CERT_DIR"] == folder
    assert env["DNS_SUITE_CERT_NAMES"] == " ".join(NAMES) and env["DNS_SUITE_CERT_VERSION"] == "1"
    for var, file in [("KEY", "privkey"), ("CERT", "cert"), ("CHAIN", "chain"), ("FULLCHAIN", "fullchain")]:
        assert env[f"DNS_SUITE_{var}_PATH"] == f"{folder}/{file}.pem"
    assert int(env["DNS_SUITE_CERT_NOT_AFTER"]) == cert_facts(service.store.current("example").cert_pem).not_after
    assert service.store.load_status("example")["post_renewal"] == "ok"
    failing = dataclasses.replace(cfg, certificate=(dataclasses.replace(cfg.certificate[0],
                                                                        post_renewal_command="exit 3"),))
    service = standin_service(failing)
    assert asyncio.run(service.issue("example"))  # the certificate stays; the failure is noted
    assert service.store.load_status("example")["post_renewal"] == "exit 3"
    assert service.store.current("example").version == 2


# --------------------------------------------------------------------------- part 2: end to end


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The DNS-01 lab (acmelab.py): root, primary B.2 (UPDATEs), secondary B.3 (NOTIFY + IXFR),
    resolver B.4, BIND's named as the hidden primary of bind.test."""
    running = start_lab(tmp_path_factory.mktemp("acme-lab"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def pebble(lab, tmp_path_factory):
    """Pebble whose VA asks the secondary (B.3), deterministic settings."""
    running = Pebble(tmp_path_factory.mktemp("pebble"), dns=(lab.addr(3), 53)).start()
    yield running
    running.stop()


def lab_toml(lab, pebble: Pebble, state: Path, *, secret: str | None = None, certs: str = "", **acme) -> str:
    lines = ["[acme]", f'directory = "{pebble.directory}"', f'ca_bundle = "{pebble.ca_bundle}"',
             "agree_terms = true", f'resolver = "{lab.addr(4)}:53"', f'state_dir = "{state}"']
    acme = {"propagation_timeout": 20.0, "order_timeout": 30.0, **acme}
    lines += [f"{key} = {value}" for key, value in acme.items()]
    lines += ["", "[[acme.certificate]]", 'name = "example"',
              'names = ["example.test", "*.example.test", "www.example.test"]',
              'update_server = "ns1.example.test"', 'key_name = "acme-key."',
              f'key_secret = "{secret or ACME_SECRET}"', certs]
    return "\n".join(lines) + "\n"


def acme_cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run([DNS_SUITE, "acme", *args], capture_output=True, text=True, timeout=timeout)


CHALLENGE_NAMES = {"_acme-challenge.example.test.": {"unrelated text"},
                   "_acme-challenge.www.acme.example.net.": set()}


def assert_no_challenge_txt(lab) -> None:
    """Only the unrelated TXT is left at the challenge names, on the primary and the secondary."""
    for name, expect in CHALLENGE_NAMES.items():
        assert lab.txt(2, name) == expect, name
        assert wait_values(lab, 3, name, expect) == expect, name


def serial_of(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def test_e2e_issue_renew_revoke(lab, pebble, tmp_path) -> None:
    conf = tmp_path / "acme.toml"
    conf.write_text(lab_toml(lab, pebble, tmp_path / "state"))
    folder = tmp_path / "state" / "certs" / "example"
    done = acme_cli("issue", "example", "--config", str(conf))
    assert done.returncode == 0, done.stderr
    leaf = verify_chain((folder / "fullchain.pem").read_bytes(), pebble.root_pem())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(names.get_values_for_type(x509.DNSName)) == sorted(NAMES)
    assert Store(str(tmp_path / "state")).current("example").version == 1
    assert_no_challenge_txt(lab)
    # a renewal: forced
    first = serial_of(folder / "cert.pem")
    done = acme_cli("renew", "--force", "--config", str(conf))
    assert done.returncode == 0, done.stderr
    assert serial_of(folder / "cert.pem") != first and os.readlink(folder / "current") == "versions/2"
    verify_chain((folder / "fullchain.pem").read_bytes(), pebble.root_pem())
    assert_no_challenge_txt(lab)
    # not due: nothing happens
    done = acme_cli("renew", "--config", str(conf))
    assert done.returncode == 0 and os.readlink(folder / "current") == "versions/2", done.stderr
    status = acme_cli("status", "--config", str(conf))
    assert status.returncode == 0 and "example: example.test *.example.test www.example.test" in status.stdout
    assert "next renewal:" in status.stdout and "last error:   -" in status.stdout
    # revocation
    serial = serial_of(folder / "cert.pem")
    assert pebble.cert_status(serial)["Status"] == "Valid"
    done = acme_cli("revoke", "example", "--reason", "superseded", "--config", str(conf))
    assert done.returncode == 0, done.stderr
    assert pebble.cert_status(serial)["Status"] == "Revoked"
    assert "(revoked)" in acme_cli("status", "--config", str(conf)).stdout


def test_e2e_wrong_tsig_key(lab, pebble, tmp_path) -> None:
    conf = tmp_path / "acme.toml"
    conf.write_text(lab_toml(lab, pebble, tmp_path / "state", secret="d3Jvbmd3cm9uZ3dyb25nd3Jvbmd3cm9uZ3dyb25nMTI="))
    done = acme_cli("issue", "example", "--config", str(conf))
    assert done.returncode == 1
    assert "acme-key" in done.stderr and f"{lab.addr(2)}" in done.stderr, done.stderr
    assert not (tmp_path / "state" / "certs").exists()
    assert_no_challenge_txt(lab)
    status = acme_cli("status", "--config", str(conf)).stdout
    assert "acme-key" in status and "failures:     1" in status


def test_e2e_bind_as_primary(lab, pebble, tmp_path) -> None:
    """The same flow with BIND's named as the zone's (hidden) primary, NOTIFYing our secondary."""
    conf = tmp_path / "acme.toml"
    text = lab_toml(lab, pebble, tmp_path / "state").replace(
        'names = ["example.test", "*.example.test", "www.example.test"]', 'names = ["bind.test", "*.bind.test"]')
    text = text.replace('update_server = "ns1.example.test"',
                        f'update_server = "127.0.0.1"\nupdate_port = {lab.named_port}')
    conf.write_text(text)
    done = acme_cli("issue", "example", "--config", str(conf))
    assert done.returncode == 0, done.stderr
    leaf = verify_chain((tmp_path / "state" / "certs" / "example" / "fullchain.pem").read_bytes(), pebble.root_pem())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(names.get_values_for_type(x509.DNSName)) == ["*.bind.test", "bind.test"]
    assert wait_values(lab, 3, "_acme-challenge.bind.test.", set()) == set()


def test_e2e_pebble_defaults_twenty_orders(lab, tmp_path) -> None:
    """Pebble at its defaults (5 % bad nonces, 50 % authorization reuse; no VA sleeps): 20 orders
    in a row succeed, the reused authorizations skipped."""
    pebble = Pebble(tmp_path / "pebble", dns=(lab.addr(3), 53), env={"PEBBLE_VA_NOSLEEP": "1"}).start()
    try:
        conf = tmp_path / "acme.toml"
        conf.write_text(lab_toml(lab, pebble, tmp_path / "state", secret=ACME_SECRET))
        from dns_suite.config import load_acme_config

        service = Service(load_acme_config(str(conf)))
        results = [asyncio.run(service.issue("example")) for _ in range(20)]
        assert results == [True] * 20
        assert service.store.versions("example") == [16, 17, 18, 19, 20]  # keep_versions = 5
    finally:
        pebble.stop()
    assert_no_challenge_txt(lab)


def test_e2e_lagging_secondary_gives_up(lab, pebble, tmp_path) -> None:
    """lag.test.'s NS ns3 serves an old copy and ns4 does not answer: the order is given up at the
    propagation deadline naming them, the TXT removed, nothing written."""
    conf = tmp_path / "acme.toml"
    text = lab_toml(lab, pebble, tmp_path / "state", propagation_timeout=2.0)
    conf.write_text(text.replace('names = ["example.test", "*.example.test", "www.example.test"]',
                                 'names = ["lag.test"]'))
    done = acme_cli("issue", "example", "--config", str(conf))
    assert done.returncode == 1
    assert "ns3.lag.test" in done.stderr and lab.addr(5) in done.stderr, done.stderr
    assert not (tmp_path / "state" / "certs").exists()
    assert lab.txt(2, "_acme-challenge.lag.test.") == set()


def test_e2e_daemon_survives_ca_down_and_renews_short_certificates(lab, tmp_path) -> None:
    """``acme run`` with the CA down: attempts back off (1, 2, 4 s ...) and the daemon stays up;
    once the CA is up the certificate is issued, and renewed at 2/3 of its 24 s lifetime; SIGTERM
    stops it."""
    pebble = Pebble(tmp_path / "pebble", dns=(lab.addr(3), 53), validity=24)
    conf = tmp_path / "acme.toml"
    conf.write_text(lab_toml(lab, pebble, tmp_path / "state", retry_min=1.0, retry_max=4.0))
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen([DNS_SUITE, "acme", "run", "--config", str(conf)], stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    store = Store(str(tmp_path / "state"))
    try:
        wait_until(lambda: log.read_text().count("issuance failed") >= 3, 30, daemon, log)
        assert daemon.poll() is None
        failures = [line for line in log.read_text().splitlines() if "next attempt in" in line]
        delays = [float(line.rsplit("in ", 1)[1].split()[0]) for line in failures]
        assert delays[2] > delays[0] and delays[2] >= 2, failures  # backing off (wall seconds are whole)
        assert "cannot reach the CA" in log.read_text()
        pebble.start()
        wait_until(lambda: store.current("example") is not None, 40, daemon, log)
        first = store.current("example")
        wait_until(lambda: store.current("example").version >= 2, 60, daemon, log)
        assert cert_facts(store.current("example").cert_pem).not_before >= cert_facts(first.cert_pem).not_before
        daemon.terminate()
        assert daemon.wait(30) == 0
        assert "acme agent stopped" in log.read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
        pebble.stop()
    assert_no_challenge_txt(lab)


def wait_until(check, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
