"""Observability of the running services: /health, /ready (false -> true), /metrics counting
exactly what dnsperf got back (per RCODE), with one process and with forked workers; JSON logs
and the query log."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import pytest

from peers import free_port

pytestmark = pytest.mark.integration

ZONE = """$ORIGIN obs.test.
$TTL 300
@ SOA ns hostmaster 7 3600 600 86400 60
@ NS ns
ns A 127.0.0.1
www A 192.0.2.1
mail A 192.0.2.2
@ MX 10 mail
"""
# dnsperf's input: NOERROR (A, MX, NODATA AAAA) and NXDOMAIN answers, in a fixed ratio
QUERIES = "www.obs.test A\nobs.test MX\nwww.obs.test AAAA\nnope.obs.test A\nmail.obs.test A\n"
DNSPERF_SECONDS = 5
DNSPERF_RATE = 2000  # queries per second: well below what either service answers on 2 cores


def http(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError):  # not listening (yet)
        return 0, ""


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``{sorted label pairs: value}`` of one metric in a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', match[1] or "")))
            out[labels] = float(match[2])
    return out


def by_rcode(text: str, service: str, transport: str = "udp") -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, value in samples(text, "dns_queries_total").items():
        d = dict(labels)
        if d["service"] == service and d["transport"] == transport:
            out[d["rcode"]] = out.get(d["rcode"], 0) + value
    return out


def wait_for(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Proc:
    """A dns-suite service process with its config and log in ``tmp``."""

    def __init__(self, tmp: Path, name: str, args: list[str], config: str) -> None:
        self.conf = tmp / f"{name}.toml"
        self.conf.write_text(config)
        self.log = tmp / f"{name}.log"
        self.proc = subprocess.Popen(["dns-suite", *args, "--config", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("w"))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        return self.proc.returncode


def authoritative(tmp: Path, *, workers: int = 1, extra: str = "", zones: str | None = None) -> tuple[Proc, int, int]:
    port, http_port = free_port(), free_port()
    (tmp / "obs.test.zone").write_text(ZONE)
    zones = zones if zones is not None else '[[authoritative.zones]]\norigin = "obs.test."\nfile = "obs.test.zone"\n' \
                                             'notify_ns = false\n'
    config = (f'[authoritative]\nlisten = ["127.0.0.1:{port}"]\nworkers = {workers}\n'
              f'http_listen = "127.0.0.1:{http_port}"\ncontrol_socket = "{tmp}/auth-{port}.sock"\n{extra}\n{zones}')
    return Proc(tmp, f"auth-{port}", ["authoritative"], config), port, http_port


def resolver(tmp: Path, upstream: int, *, workers: int = 1, extra: str = "") -> tuple[Proc, int, int]:
    port, http_port = free_port(), free_port()
    config = (f'[resolver]\nlisten = ["127.0.0.1:{port}"]\nworkers = {workers}\nquery_private = true\n'
              'dnssec = false\n'  # obs.test. is unsigned and not below any anchor but the root's
              f'http_listen = "127.0.0.1:{http_port}"\n{extra}\n'
              f'[[resolver.stub]]\nzone = "obs.test."\nservers = ["127.0.0.1:{upstream}"]\n')
    return Proc(tmp, f"res-{port}", ["resolver"], config), port, http_port


def answered(port: int) -> bool:
    try:
        reply = dns.query.udp(dns.message.make_query("www.obs.test.", "A"), "127.0.0.1", port=port, timeout=0.5)
        return reply.rcode() == 0
    except (dns.exception.Timeout, OSError):
        return False


def dnsperf(tmp: Path, port: int) -> dict[str, int]:
    """Run dnsperf at a fixed rate; returns its counts: completed, lost, and per RCODE."""
    queries = tmp / "queries.txt"
    queries.write_text(QUERIES)
    out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries),
                          "-l", str(DNSPERF_SECONDS), "-Q", str(DNSPERF_RATE), "-c", "4", "-t", "5"],
                         capture_output=True, text=True, timeout=DNSPERF_SECONDS + 60).stdout
    counts = {"completed": int(re.search(r"Queries completed:\s+(\d+)", out)[1]),
              "lost": int(re.search(r"Queries lost:\s+(\d+)", out)[1])}
    codes = re.search(r"Response codes:\s+(.*)", out)
    for name, count in re.findall(r"(\w+) (\d+) \(", codes[1] if codes else ""):
        counts[name] = int(count)
    return counts


def settled(http_port: int, service: str) -> dict[str, float]:
    """The counters once the workers' reports (every second) have caught up with the probes."""
    last = by_rcode(http(http_port, "/metrics")[1], service)
    for _ in range(30):
        time.sleep(1.5)
        now = by_rcode(http(http_port, "/metrics")[1], service)
        if now == last and now:
            return now
        last = now
    raise AssertionError(f"counters never settled: {last}")


def check_counted(port: int, http_port: int, service: str, tmp: Path) -> dict[str, int]:
    """dnsperf at a fixed rate: the counters grow by exactly what it got back, per RCODE."""
    before = settled(http_port, service)
    result = dnsperf(tmp, port)
    assert result["lost"] == 0, result
    assert result["completed"] >= DNSPERF_SECONDS * DNSPERF_RATE * 0.9, result
    rcodes = {k: v for k, v in result.items() if k not in ("completed", "lost")}
    assert sum(rcodes.values()) == result["completed"]

    def grown():
        after = by_rcode(http(http_port, "/metrics")[1], service)
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        delta = {k: int(v) for k, v in delta.items() if v}
        return delta if delta == rcodes else None

    try:
        wait_for(grown, "the counters to match dnsperf", timeout=15)
    except AssertionError:
        after = by_rcode(http(http_port, "/metrics")[1], service)
        raise AssertionError(f"dnsperf {rcodes} != counted {after} - {before}") from None
    print(f"{service}: dnsperf completed {result['completed']} lost 0, counted per rcode {rcodes}")
    return rcodes


def _need_dnsperf() -> None:
    """A missing peer program fails the test (scripts/test installs dnsperf)."""
    assert shutil.which("dnsperf"), "dnsperf is not installed (scripts/test installs it)"


@pytest.mark.parametrize("workers", [1, 2])
def test_authoritative_counts_exactly_what_dnsperf_got(tmp_path: Path, workers: int) -> None:
    _need_dnsperf()
    auth, port, http_port = authoritative(tmp_path, workers=workers)
    try:
        wait_for(lambda: answered(port), "the authoritative service")
        assert http(http_port, "/health") == (200, "ok\n")
        assert http(http_port, "/ready")[0] == 200
        rcodes = check_counted(port, http_port, "authoritative", tmp_path)
        assert set(rcodes) == {"NOERROR", "NXDOMAIN"}
        text = http(http_port, "/metrics")[1]
        assert samples(text, "dns_zone_serial") == {(("zone", "obs.test."),): 7.0}
        histogram = samples(text, "dns_query_duration_seconds_count")
        assert sum(histogram.values()) >= sum(rcodes.values())
        if workers > 1:
            assert samples(text, "dns_workers") == {(("service", "authoritative"),): workers}
    finally:
        assert auth.stop() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_resolver_counts_exactly_what_dnsperf_got(tmp_path: Path, workers: int) -> None:
    _need_dnsperf()
    auth, auth_port, _ = authoritative(tmp_path)
    res, port, http_port = resolver(tmp_path, auth_port, workers=workers)
    try:
        wait_for(lambda: answered(auth_port), "the authoritative service")
        wait_for(lambda: answered(port), "the resolver")
        wait_for(lambda: http(http_port, "/ready")[0] == 200, "the resolver to be ready")
        rcodes = check_counted(port, http_port, "resolver", tmp_path)
        assert set(rcodes) == {"NOERROR", "NXDOMAIN"}
        text = http(http_port, "/metrics")[1]
        assert sum(samples(text, "dns_cache_hits_total").values()) > 0
        assert sum(samples(text, "dns_upstream_queries_total").values()) > 0
        assert sum(samples(text, "dns_answer_table_hits_total").values()) > 0
    finally:
        assert res.stop() == 0
        assert auth.stop() == 0


def test_ready_false_until_the_secondary_zone_is_transferred(tmp_path: Path) -> None:
    """A secondary whose primary is not up yet: /health 200 and /ready 503; once the primary
    serves and NOTIFYs, /ready turns 200 and the zone's serial shows."""
    primary_port = free_port()
    secondary_dir = tmp_path / "secondary"
    secondary_dir.mkdir()
    zones = (f'[[authoritative.zones]]\norigin = "obs.test."\nfile = "obs.test.copy"\n'
             f'primaries = ["127.0.0.1:{primary_port}"]\n')
    sec, sec_port, sec_http = authoritative(secondary_dir, zones=zones, extra="min_retry = 1.0")
    prim = None
    try:
        wait_for(lambda: http(sec_http, "/health")[0] == 200, "the secondary's /health")
        status, body = http(sec_http, "/ready")
        assert status == 503 and "not loaded" in body, body
        primary_dir = tmp_path / "primary"
        primary_dir.mkdir()
        (primary_dir / "obs.test.zone").write_text(ZONE)
        prim = Proc(primary_dir, "primary", ["authoritative"],
                    f'[authoritative]\nlisten = ["127.0.0.1:{primary_port}"]\n'
                    f'control_socket = "{primary_dir}/p.sock"\n'
                    f'[[authoritative.zones]]\norigin = "obs.test."\nfile = "obs.test.zone"\n'
                    f'notify_ns = false\nallow_transfer = ["127.0.0.1"]\nalso_notify = ["127.0.0.1:{sec_port}"]\n')
        wait_for(lambda: http(sec_http, "/ready")[0] == 200, "the secondary's /ready", timeout=60)
        text = http(sec_http, "/metrics")[1]
        assert samples(text, "dns_zone_serial") == {(("zone", "obs.test."),): 7.0}
        assert samples(text, "dns_secondary_transfers_total") == {
            (("result", "transferred"), ("zone", "obs.test.")): 1.0}
    finally:
        if prim is not None:
            assert prim.stop() == 0
        assert sec.stop() == 0


def test_resolver_workers_ready_once_every_worker_reports(tmp_path: Path) -> None:
    auth, auth_port, _ = authoritative(tmp_path)
    res, port, http_port = resolver(tmp_path, auth_port, workers=2)
    try:
        first = wait_for(lambda: http(http_port, "/ready") if http(http_port, "/health")[0] == 200 else None,
                         "the resolver's /health")
        assert first[0] == 503, first  # the workers report after their first second
        wait_for(lambda: http(http_port, "/ready")[0] == 200, "the resolver's /ready")
        assert samples(http(http_port, "/metrics")[1], "dns_workers") == {(("service", "resolver"),): 2.0}
    finally:
        assert res.stop() == 0
        assert auth.stop() == 0


def test_json_logs_and_query_log(tmp_path: Path) -> None:
    auth, port, _ = authoritative(tmp_path, extra='log_format = "json"\nquery_log = true')
    try:
        wait_for(lambda: answered(port), "the authoritative service")
        dns.query.udp(dns.message.make_query("nope.obs.test.", "MX"), "127.0.0.1", port=port, timeout=2)
        wait_for(lambda: "nope.obs.test." in auth.log.read_text(), "the query log line")
    finally:
        assert auth.stop() == 0
    lines = [json.loads(line) for line in auth.log.read_text().splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    query = next(line for line in lines if line.get("qname") == "nope.obs.test.")
    assert (query["logger"], query["qtype"], query["rcode"], query["transport"]) == \
        ("dns_suite.query", "MX", "NXDOMAIN", "udp")
