"""The schedule wiring of ``dns-suite acme`` (dns_suite.acme.service) with a fake agent: ARI fetched
and followed (``replaces`` sent), failures backed off, the daemon stopped mid-issuance."""

from __future__ import annotations

import asyncio
import io
import json

from dns_suite.acme import plan
from dns_suite.acme.agent import AcmeError
from dns_suite.acme.service import MAX_SLEEP, Service
from dns_suite.acme.store import cert_facts, new_key_pem
from dns_suite.config import AcmeCertificateConfig, AcmeConfig
from test_plan import RECORDED_ARI
from test_store import CHAIN, NOW, make_cert

T0 = int(NOW.timestamp())  # the stored certificate's notBefore; 90 days of validity
NAMES = ("example.test", "*.example.test")


class FakeAgent:
    """Offers ARI with the recorded window; ``issue`` installs a certificate or fails as told."""

    url = "https://ca.test/dir"

    def __init__(self, store, *, fail: Exception | None = None, block: asyncio.Event | None = None) -> None:
        self.store, self.fail, self.block = store, fail, block
        self.issued: list[str | None] = []
        self.ari_fetches = 0
        self.cancelled = False
        self.revoked: list[int] = []

    async def offers_ari(self) -> bool:
        return True

    async def renewal_info(self, issued):
        self.ari_fetches += 1
        return json.loads(RECORDED_ARI["body"]), RECORDED_ARI["headers"]["Retry-After"]

    async def revoke(self, cert_pem, reason=0):
        self.revoked.append(reason)

    async def issue(self, cert, target, *, replaces=None):
        self.issued.append(replaces)
        if self.block is not None:
            try:
                await self.block.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        if self.fail is not None:
            raise self.fail
        key = new_key_pem("ecdsa-p256")
        return self.store.install(cert.name, key_pem=key, cert_pem=make_cert(key, names=cert.names), chain_pem=CHAIN)


def service(tmp_path, now: int, **agent_kw) -> tuple[Service, FakeAgent]:
    cfg = AcmeConfig(directory="https://ca.test/dir", state_dir=str(tmp_path), retry_min=60.0, retry_max=3600.0,
                     certificate=(AcmeCertificateConfig(name="web", names=NAMES),))
    svc = Service(cfg, agent=None, clock=lambda: now, rand=lambda: 0.5)
    fake = FakeAgent(svc.store, **agent_kw)
    svc.agent = fake
    svc.target = lambda cfg, cert: "target"
    return svc, fake


def install_first(svc: Service) -> plan.Issued:
    key = new_key_pem("ecdsa-p256")
    bundle = svc.store.install("web", key_pem=key, cert_pem=make_cert(key, names=NAMES), chain_pem=CHAIN)
    return cert_facts(bundle.cert_pem)


def test_ari_window_ahead_waits_inside_it(tmp_path) -> None:
    svc, fake = service(tmp_path, T0 + 3600)
    install_first(svc)
    wake, failed = asyncio.run(svc.renew_due())
    assert (fake.issued, failed, fake.ari_fetches) == ([], 0, 1)
    status = svc.store.load_status("web")
    start, end = 1_735_790_400, 1_735_876_800  # the recorded window
    assert start <= status["next_attempt"] <= end
    assert wake == T0 + 3600 + MAX_SLEEP  # the daemon wakes at least hourly
    assert status["next_reason"].startswith("ARI window")
    asyncio.run(svc.renew_due())  # the window is kept until Retry-After (6 h): no second fetch
    assert fake.ari_fetches == 1


def test_ari_window_passed_renews_with_replaces(tmp_path) -> None:
    svc, fake = service(tmp_path, 1_735_876_800 + 60)  # just after the window's end
    issued = install_first(svc)
    wake, failed = asyncio.run(svc.renew_due())
    assert fake.issued == [issued.ari_id] and failed == 0
    assert svc.store.current("web").version == 2
    status = svc.store.load_status("web")
    assert status["version"] == 2 and plan.memory_from_json(status["memory"]).failures == 0


def test_failure_backs_off_and_is_recorded(tmp_path) -> None:
    svc, fake = service(tmp_path, T0, fail=AcmeError("new order: the CA says: rateLimited", retry_after=T0 + 7200))
    wake, failed = asyncio.run(svc.renew_due())
    assert failed == 1 and fake.issued == [None]
    status = svc.store.load_status("web")
    memory = plan.memory_from_json(status["memory"])
    assert memory.failures == 1 and "rateLimited" in memory.last_error
    assert status["next_attempt"] == T0 + 7200  # the CA's Retry-After beats the 60 s backoff
    assert wake == T0 + MAX_SLEEP
    asyncio.run(svc.renew_due())  # still inside the backoff: no attempt
    assert fake.issued == [None]
    assert not (tmp_path / "certs").exists()


def test_daemon_stops_mid_issuance(tmp_path) -> None:
    async def scenario() -> None:
        svc, fake = service(tmp_path, T0, block=asyncio.Event())
        stop = asyncio.Event()
        daemon = asyncio.create_task(svc.run_daemon(stop))
        while not fake.issued:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(daemon, 5)
        assert fake.cancelled

    asyncio.run(scenario())


def test_disk_full_is_a_failure_with_backoff_not_a_loop(tmp_path, monkeypatch) -> None:
    svc, fake = service(tmp_path, T0, fail=OSError(28, "No space left on device"))
    wake, failed = asyncio.run(svc.renew_due())
    assert failed == 1 and len(fake.issued) == 1
    again, failed = asyncio.run(svc.renew_due())
    assert fake.issued == [None], "backing off: no second order at once"
    real_save = svc.store.save_status

    def full(name, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(svc.store, "save_status", full)
    svc2, fake2 = service(tmp_path / "other", T0, fail=OSError(28, "No space left on device"))
    monkeypatch.setattr(svc2.store, "save_status", full)
    asyncio.run(svc2.renew_due())
    asyncio.run(svc2.renew_due())
    assert len(fake2.issued) == 1, "the backoff holds even when the status file cannot be written"
    assert real_save


def test_revoked_certificate_is_shown_revoked_and_replaced_at_once(tmp_path) -> None:
    svc, fake = service(tmp_path, T0 + 3600)
    install_first(svc)
    asyncio.run(svc.renew_due())  # schedules the renewal inside the ARI window, days ahead
    assert svc.store.load_status("web")["next_attempt"] > T0 + 86400
    svc.clock = lambda: T0 + 7200
    asyncio.run(svc.revoke("web", "keyCompromise"))
    assert fake.revoked == [1]
    status = svc.store.load_status("web")
    assert (status["revoked_at"], status["revoked_version"], status["revoked_reason"]) == (
        T0 + 7200, 1, "keyCompromise")
    assert status["next_attempt"] == T0 + 7200 and "revoked" in status["next_reason"]
    out = io.StringIO()
    svc.status(out)
    text = out.getvalue()
    assert "  revoked:      2025-01-01T02:00:00Z (version 1, keyCompromise)" in text
    assert "  next renewal: 2025-01-01T02:00:00Z (due now) - the certificate was revoked" in text
    svc.clock = lambda: T0 + 7260
    wake, failed = asyncio.run(svc.renew_due())  # the daemon's pass: a new certificate at once
    assert failed == 0 and len(fake.issued) == 1 and svc.store.current("web").version == 2
    out = io.StringIO()
    svc.status(out)
    assert "(revoked)" not in out.getvalue() and "  revoked:" not in out.getvalue()


def test_revocation_is_kept_with_the_version_when_the_memory_is_lost(tmp_path) -> None:
    """The status file's revoked_version marks the stored version revoked even when the plan's
    memory in it is unreadable (the memory starts afresh)."""
    svc, fake = service(tmp_path, T0 + 3600)
    install_first(svc)
    asyncio.run(svc.revoke("web", "superseded"))
    status = svc.store.load_status("web")
    status["memory"] = {"failures": "garbled"}
    svc.store.save_status("web", status)
    asyncio.run(svc.renew_due())
    assert len(fake.issued) == 1 and svc.store.current("web").version == 2


def test_ca_timeouts_come_from_the_config(tmp_path) -> None:
    from dns_suite.config import AcmeConfig
    from dns_suite.acme.service import Service

    cfg = AcmeConfig(state_dir=str(tmp_path / "state"), ca_connect_timeout=2.5, ca_request_timeout=7.0)
    assert Service(cfg).agent.timeouts == (2.5, 7.0)
