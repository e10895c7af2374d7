"""The ACME agent against a CA that accepts connections and never answers, on loopback: each
step fails within the agent's request timeout (small here, 10 s/30 s by default), the CA is asked
once per pass, and the failure backs off like any other CA failure."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading

import pytest

from dns_suite.acme import plan
from dns_suite.acme.agent import AcmeError, Agent
from dns_suite.acme.service import Service
from dns_suite.acme.store import Store
from dns_suite.config import AcmeCertificateConfig, AcmeConfig
from pebble import write_https_cert
from peers import HOST

pytestmark = pytest.mark.integration

TIMEOUTS = (0.5, 1.0)  # connect, request: seconds
T0 = 1_735_689_600


class SilentCA:
    """Listens on loopback, accepts every connection (and, with ``tls``, completes the TLS
    handshake) and never sends a byte; counts the connections."""

    def __init__(self, tmp_path, *, tls: bool) -> None:
        self.ca_bundle, cert, key = write_https_cert(tmp_path)
        self.context = None
        if tls:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(0.1)
        self.url = f"https://{HOST}:{self.listener.getsockname()[1]}/dir"
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            if self.context is not None:
                conn.settimeout(5)
                try:
                    conn = self.context.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError):
                    conn.close()
                    continue
            self.held.append(conn)

    def __enter__(self) -> SilentCA:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)
        for conn in self.held:
            conn.close()
        self.listener.close()


def config(ca: SilentCA, tmp_path) -> AcmeConfig:
    return AcmeConfig(directory=ca.url, ca_bundle=str(ca.ca_bundle), agree_terms=True, retry_min=60.0,
                      retry_max=3600.0, state_dir=str(tmp_path / "state"),
                      certificate=(AcmeCertificateConfig(name="web", names=("example.test",)),))


@pytest.mark.parametrize("tls", [False, True], ids=["tls-handshake-hangs", "no-http-answer"])
def test_a_silent_ca_fails_within_the_timeout(tmp_path, tls) -> None:
    with SilentCA(tmp_path, tls=tls) as ca:
        cfg = config(ca, tmp_path)
        agent = Agent(cfg, Store(cfg.state_dir), timeouts=TIMEOUTS)
        with pytest.raises(AcmeError) as info:
            asyncio.run(agent.connect())
    # the timeouts ended it: the TLS handshake's read (connect timeout) or the whole request's
    assert "timed out" in str(info.value) or f"did not answer within {TIMEOUTS[1]:g} s" in str(info.value)
    assert info.value.unreachable and str(info.value).startswith("directory: ")
    assert ca.url in str(info.value), str(info.value)
    if tls:
        assert len(ca.held) == 1


def test_issue_and_the_daemon_pass_back_off_from_a_silent_ca(tmp_path) -> None:
    with SilentCA(tmp_path, tls=True) as ca:
        cfg = config(ca, tmp_path)
        now = [T0]
        svc = Service(cfg, clock=lambda: now[0], rand=lambda: 0.0)
        svc.agent = Agent(cfg, svc.store, timeouts=TIMEOUTS, clock=lambda: now[0])
        svc.target = lambda cfg, cert: "not reached"
        assert not asyncio.run(svc.issue("web"))
        assert len(ca.held) == 1, "the CA is asked once (one timeout), not again for the order"
        memory = plan.memory_from_json(svc.store.load_status("web")["memory"])
        assert memory.failures == 1 and memory.retry_at == T0 + 60
        assert f"did not answer within {TIMEOUTS[1]:g} s" in memory.last_error
        wake, failed = asyncio.run(svc.renew_due())  # the daemon's pass inside the backoff
        assert failed == 0 and wake == T0 + 60 and len(ca.held) == 2  # only its directory fetch
        assert plan.memory_from_json(svc.store.load_status("web")["memory"]).failures == 1
        now[0] = T0 + 61
        wake, failed = asyncio.run(svc.renew_due())  # due again: one more try, a doubled backoff
        memory = plan.memory_from_json(svc.store.load_status("web")["memory"])
        assert failed == 1 and memory.failures == 2 and memory.retry_at == T0 + 61 + 120
        assert wake == T0 + 61 + 120 and len(ca.held) == 3  # the directory, not again for the order
        assert not (tmp_path / "state" / "certs").exists()
