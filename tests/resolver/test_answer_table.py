"""The rendered-reply table (resolver/answers.py): TTLs counted down, expiry, prefetch flags,
the counters' kind, and ``peek`` leaving the table's shape alone (it runs in the UDP threads)."""

from __future__ import annotations

import threading

import dns.message
import dns.rcode
import dns.rrset

from dns_suite.resolver.answers import PREFETCH_HITS, AnswerTable


def pair(name: str = "www.example.test.", ttls=(300, 60), qtype: str = "A"):
    q = dns.message.make_query(name, qtype, use_edns=False)
    q.id = 0x1111
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(name, ttls[0], "IN", qtype, "192.0.2.1" if qtype == "A" else "::1"))
    r.authority.append(dns.rrset.from_text("example.test.", ttls[1], "IN", "NS", "ns.example.test."))
    return q.to_wire(), r.to_wire()


def ttls_of(wire: bytes) -> list[int]:
    msg = dns.message.from_wire(wire)
    return [rrset.ttl for rrset in msg.answer + msg.authority]


def stored(query: bytes, reply: bytes, now: float = 100.0) -> AnswerTable:
    table = AnswerTable()
    table.put(query, reply, now)
    assert not table.table  # seen once: not kept
    table.put(query, reply, now)
    return table


def test_ttls_count_down_by_whole_seconds_rounded_up() -> None:
    query, reply = pair()
    table = stored(query, reply)
    asked = b"\xab\xcd" + query[2:]
    assert ttls_of(table.get(asked, 100.0)) == [300, 60]
    assert table.get(asked, 100.0)[:2] == b"\xab\xcd"
    assert ttls_of(table.get(asked, 100.2)) == [299, 59]
    assert ttls_of(table.get(asked, 101.0)) == [299, 59]
    assert ttls_of(table.get(asked, 101.01)) == [298, 58]
    assert ttls_of(table.get(asked, 159.5)) == [240, 0]
    assert table.hits == 6


def test_an_entry_lives_until_its_smallest_ttl_and_peek_never_drops() -> None:
    query, reply = pair()
    table = stored(query, reply)
    assert table.peek(query, 160.0) is None  # 100 + 60: expired
    assert table.table  # peek left it (the loop's thread drops)
    assert table.get(query, 160.0) is None
    assert not table.table and table.bytes == 0


def test_peek_gives_the_kind_for_the_counters() -> None:
    query, reply = pair(qtype="AAAA")
    entry = stored(query, reply).peek(query, 100.5)
    assert entry is not None and entry.kind == 28 << 8 | dns.rcode.NOERROR
    assert ttls_of(query[:2] + entry.body) == [299, 59]


def test_popular_entry_in_its_last_tenth_is_due_once() -> None:
    query, reply = pair(ttls=(100, 100))
    table = stored(query, reply)
    for _ in range(PREFETCH_HITS):
        table.peek(query, 150.0)
    assert table.due == []  # not in its last tenth yet
    for _ in range(PREFETCH_HITS):
        table.peek(query, 191.0)
    assert table.due == [query[2:]]  # flagged once
    table.peek(query, 192.0)
    assert table.due == [query[2:]]


def test_peek_from_threads_beside_puts_keeps_the_table_consistent() -> None:
    """Listener threads peek while the loop's thread puts and drops: no exception, no reply
    with more TTL than the time allows, the byte count equals the entries'."""
    queries = [pair(f"h{i}.example.test.") for i in range(200)]
    table = AnswerTable(max_entries=150)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                for query, _ in queries:
                    entry = table.peek(query, 130.5)
                    if entry is not None:
                        assert max(ttls_of(query[:2] + entry.body)) <= 300 - 30
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for round_ in range(20):
        for query, reply in queries:
            table.put(query, reply, 100.0)
            table.get(query, 130.5 + round_ * 0.01)
    stop.set()
    for t in threads:
        t.join(10)
    assert not errors, errors[0]
    assert len(table.table) <= 150
    assert table.bytes == sum(len(k) + len(e.body) + 330 for k, e in table.table.items())
