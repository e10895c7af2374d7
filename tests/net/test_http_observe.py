"""net/observe.py and net/feed.py: the Prometheus exposition, the HTTP endpoints, worker reports."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dns_suite.chain.metrics import LATENCY_BUCKETS
from dns_suite.net.feed import Feed, Receiver
from dns_suite.net.observe import ObserveServer, render_metrics
from dns_suite.runtime import JsonFormatter

sys.path.append(str(Path(__file__).resolve().parents[1] / "integration"))
from peers import free_port  # noqa: E402 - the integration tests' helper

SNAPSHOT = {
    "dns_queries": {("authoritative", "udp", "A", "NOERROR"): 3, ("authoritative", "tcp", "MX", "NXDOMAIN"): 1},
    "dns_query_duration_seconds": {("authoritative", "udp"): [2, 1] + [0] * (len(LATENCY_BUCKETS) - 1) + [0.0004]},
    "dns_zone_serial": {("example.",): 2026113001},
    "not_a_family": {(): 1},
}


def families(text: bytes) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text.decode())}


def test_exposition_parses_and_keeps_the_values() -> None:
    got = families(render_metrics(lambda: SNAPSHOT))
    queries = {(s.labels["transport"], s.labels["qtype"], s.labels["rcode"]): s.value
               for s in got["dns_queries"].samples if s.name == "dns_queries_total"}
    assert queries == {("udp", "A", "NOERROR"): 3, ("tcp", "MX", "NXDOMAIN"): 1}
    hist = {s.labels.get("le"): s.value for s in got["dns_query_duration_seconds"].samples
            if s.name.endswith("_bucket")}
    assert hist["0.0001"] == 2 and hist["0.00025"] == 3 and hist["+Inf"] == 3
    assert got["dns_zone_serial"].samples[0].value == 2026113001
    assert "not_a_family" not in got
    assert "process_cpu_seconds" in got  # prometheus-client's process metrics


def test_a_failing_snapshot_does_not_break_the_scrape(caplog) -> None:
    def broken():
        raise RuntimeError("boom")

    assert b"dns_" not in render_metrics(broken, process=False)
    assert "boom" in caplog.text


def test_endpoints() -> None:
    import aiohttp

    state = {"ready": False}

    async def main():
        port = free_port()
        server = ObserveServer(("127.0.0.1", port), lambda: SNAPSHOT,
                               lambda: (state["ready"], "zones loaded" if state["ready"] else "loading"))
        await server.start()
        out = []
        try:
            async with aiohttp.ClientSession() as http:
                for path in ("/health", "/ready", "/ready", "/metrics", "/nothing"):
                    async with http.get(f"http://127.0.0.1:{port}{path}") as reply:
                        out.append((reply.status, await reply.text(), reply.headers.get("Content-Type", "")))
                    state["ready"] = len(out) >= 2  # loaded after the first /ready
        finally:
            await server.close()
        return out

    health, not_ready, ready, metrics, missing = asyncio.run(main())
    assert health[:2] == (200, "ok\n")
    assert not_ready[:2] == (503, "not ready: loading\n")
    assert ready[:2] == (200, "ready: zones loaded\n")
    assert metrics[0] == 200 and metrics[2].startswith("text/plain") and "dns_queries_total" in metrics[1]
    assert missing[0] == 404


def test_endpoint_address_in_use() -> None:
    async def main():
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            server = ObserveServer(taken.getsockname(), dict, lambda: (True, ""))
            with pytest.raises(OSError, match="HTTP 127.0.0.1"):
                await server.start()

    asyncio.run(main())


def test_feed_reports_from_a_forked_worker_and_its_last_report_at_sigterm() -> None:
    feed = Feed()
    pid = os.fork()
    if pid == 0:  # the worker: counts, reports once by itself, then SIGTERM sends the last report
        try:
            sender = feed.in_child()
            count = {"n": 1}
            sender.snapshot = lambda: {"dns_queries": {("authoritative", "udp", "A", "NOERROR"): count["n"]}}
            sender.exit_on_sigterm()
            sender.send()
            count["n"] = 5
            while True:
                time.sleep(1)
        finally:
            os._exit(1)
    receiver = Receiver(None)
    receiver.attach(pid, feed.in_parent())
    deadline = time.monotonic() + 10
    while not receiver.aggregate.live and time.monotonic() < deadline:
        receiver.total()
        time.sleep(0.01)
    assert receiver.total()["dns_queries"] == {("authoritative", "udp", "A", "NOERROR"): 1}
    os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    receiver.drain(pid)
    assert receiver.socks == {} and receiver.aggregate.live == {}
    assert receiver.total()["dns_queries"] == {("authoritative", "udp", "A", "NOERROR"): 5}


def test_json_log_lines() -> None:
    record = logging.LogRecord("dns_suite.query", logging.INFO, __file__, 1, "query %s", ("x",), None)
    record.query = {"qname": "a.", "rcode": "NOERROR"}
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "query x" and line["level"] == "info" and line["qname"] == "a."
    plain = logging.LogRecord("x", logging.ERROR, __file__, 1, "bad \"thing\"\n", (), None)
    assert json.loads(JsonFormatter().format(plain))["message"] == "bad \"thing\"\n"
