"""The counters of chain/metrics.py and the query log's fields: tables of cases, no sockets."""

from __future__ import annotations

import logging
import marshal

import dns.message
import dns.rcode
import pytest

from dns_suite.chain.metrics import (FAMILIES, LATENCY_BUCKETS, Aggregate, QueryCounters, merge, qtype_of,
                                     queries_snapshot)
from dns_suite.chain.querylog import log_query, query_fields


def wire(name: str, qtype: str, rcode: int | None = None) -> bytes:
    msg = dns.message.make_query(name, qtype)
    if rcode is None:
        return msg.to_wire()
    reply = dns.message.make_response(msg)
    reply.set_rcode(rcode)
    return reply.to_wire()


@pytest.mark.parametrize("message, expected", [
    (wire("www.example.", "A"), 1),
    (wire("example.", "MX"), 15),
    (wire(".", "NS"), 2),
    (wire("a.b.c.d.e.", "TYPE65280"), 65280),
    (bytes(12), 0),                                   # no question
    (b"\0\1\0\0\0\1\0\0\0\0\0\0\3www", 0),              # question cut short
    (b"\0\1\0\0\0\1\0\0\0\0\0\0\xc0\x0c\0\1\0\1", 0),   # compressed qname: not read
    (b"\0\1", 0),
])
def test_qtype_of(message: bytes, expected: int) -> None:
    assert qtype_of(message) == expected


def test_counters_by_qtype_rcode_and_latency() -> None:
    c = QueryCounters("udp")
    c.answered(wire("a.", "A"), wire("a.", "A", 0), 0.00005)
    c.answered(wire("a.", "A"), wire("a.", "A", 0), 0.0003)
    c.answered(wire("b.", "MX"), wire("b.", "MX", dns.rcode.NXDOMAIN), 7.0)
    c.answered(wire("c.", "A"), None, 0.001)
    reply = wire("d.", "AAAA", dns.rcode.REFUSED)
    for _ in range(3):
        c.hit(wire("d.", "AAAA"), reply[2:], 0.0001)
    snap = queries_snapshot("authoritative", [c])
    assert snap["dns_queries"] == {
        ("authoritative", "udp", "A", "NOERROR"): 2, ("authoritative", "udp", "MX", "NXDOMAIN"): 1,
        ("authoritative", "udp", "A", "NOREPLY"): 1, ("authoritative", "udp", "AAAA", "REFUSED"): 3}
    hist = snap["dns_query_duration_seconds"][("authoritative", "udp")]
    assert len(hist) == len(LATENCY_BUCKETS) + 2 and sum(hist[:-1]) == 7
    assert hist[0] == 4 and hist[2] == 1 and hist[3] == 1 and hist[-2] == 1  # 0.1 ms bucket, +Inf
    assert hist[-1] == pytest.approx(0.00005 + 0.0003 + 7.0 + 0.001 + 3 * 0.0001)
    assert len(c.kinds) == 1  # the tail's kind worked out once


def test_hit_memory_is_bounded(monkeypatch) -> None:
    import dns_suite.chain.metrics as metrics

    monkeypatch.setattr(metrics, "MAX_KINDS", 4)
    c = QueryCounters("udp")
    for i in range(10):
        c.hit(wire(f"n{i}.", "A"), wire(f"n{i}.", "A", 0)[2:], 0.0)
    assert len(c.kinds) <= 4 and sum(c.counts.values()) == 10


def test_snapshots_add_up_and_cross_processes() -> None:
    a, b = QueryCounters("udp"), QueryCounters("tcp")
    a.answered(wire("x.", "A"), wire("x.", "A", 0), 0.001)
    b.answered(wire("x.", "A"), wire("x.", "A", 0), 0.001)
    one = queries_snapshot("resolver", [a, b])
    one["dns_cache_bytes"] = {(): 100}
    two = marshal.loads(marshal.dumps(one))  # what a worker sends
    total = merge(one, two)
    assert total["dns_queries"][("resolver", "udp", "A", "NOERROR")] == 2
    assert total["dns_cache_bytes"] == {(): 200}
    assert total["dns_query_duration_seconds"][("resolver", "tcp")][-1] == pytest.approx(0.002)


def test_aggregate_keeps_counters_of_exited_workers_and_drops_their_gauges() -> None:
    agg = Aggregate()
    snap = {"dns_queries": {("authoritative", "udp", "A", "NOERROR"): 5}, "dns_ready": {("authoritative",): 1}}
    agg.update(1, snap)
    agg.update(2, snap)
    agg.update(1, {"dns_queries": {("authoritative", "udp", "A", "NOERROR"): 7}, "dns_ready": {("authoritative",): 1}})
    assert agg.total()["dns_queries"] == {("authoritative", "udp", "A", "NOERROR"): 12}
    agg.retire(1)
    agg.retire(1)  # twice: no effect
    agg.update(3, {"dns_queries": {("authoritative", "udp", "A", "NOERROR"): 1}})
    total = agg.total()
    assert total["dns_queries"] == {("authoritative", "udp", "A", "NOERROR"): 13}
    assert total["dns_ready"] == {("authoritative",): 1}  # worker 2's only


def test_every_family_is_described() -> None:
    for name, family in FAMILIES.items():
        assert family.kind in ("counter", "gauge", "histogram"), name
        assert family.help and not name.endswith("_total"), name


def test_query_log_fields_and_line(caplog) -> None:
    query, reply = wire("Www.Example.", "AAAA"), wire("www.example.", "AAAA", dns.rcode.NXDOMAIN)
    fields = query_fields("tcp", "127.0.0.2", query, reply, 0.0012345)
    assert fields | {"id": 0} == {"client": "127.0.0.2", "transport": "tcp", "id": 0, "qname": "Www.Example.",
                                  "qtype": "AAAA", "rcode": "NXDOMAIN", "size": len(reply), "ms": 1.234}
    assert query_fields("udp", "::1", b"\0\1", None, 0)["rcode"] == "NOREPLY"
    with caplog.at_level(logging.INFO, logger="dns_suite.query"):
        c = QueryCounters("udp", log_query)
        c.answered(query, reply, 0.001, "127.0.0.3")
    assert "client=127.0.0.3" in caplog.text and "qname=Www.Example." in caplog.text
    assert caplog.records[0].query["rcode"] == "NXDOMAIN"
