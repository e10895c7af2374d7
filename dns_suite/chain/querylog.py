"""The query log: one line per query when ``query_log = true`` (pure; writes through logging).

A :class:`~dns_suite.chain.metrics.QueryCounters` calls :func:`log_query` for every query it
counts when its ``log`` is set; when the query log is off nothing here runs. Each line goes
to the ``dns_suite.query`` logger at INFO, so it takes the service's log format (text or
JSON, ``log_format``) and destination; its fields are also attached to the record as
``query`` (a dict), which the JSON formatter writes as keys of their own.
"""

from __future__ import annotations

import logging

from dns_suite.wire.errors import WireError
from dns_suite.wire.name import decode_name
from dns_suite.wire.types import Rcode, RRType

log = logging.getLogger("dns_suite.query")


def query_fields(transport: str, client: str, query: bytes, reply: bytes | None, seconds: float) -> dict:
    """The fields of one query's log line."""
    qname, qtype = "", 0
    if len(query) >= 12 and (query[4] or query[5]):
        try:
            name, pos = decode_name(query, 12, len(query), decompress=False)
            qname = name.to_text()
            qtype = int.from_bytes(query[pos:pos + 2], "big") if pos + 2 <= len(query) else 0
        except WireError:
            qname = "(malformed)"
    return {"client": client, "transport": transport, "id": int.from_bytes(query[:2], "big") if len(query) >= 2 else 0,
            "qname": qname, "qtype": RRType(qtype).to_text() if qtype else "NONE",
            "rcode": Rcode(reply[3] & 15).to_text() if reply is not None and len(reply) >= 4 else "NOREPLY",
            "size": len(reply) if reply is not None else 0, "ms": round(seconds * 1000, 3)}


def log_query(transport: str, client: str, query: bytes, reply: bytes | None, seconds: float) -> None:
    """Write one query's line (the ``log`` of :class:`~dns_suite.chain.metrics.QueryCounters`)."""
    fields = query_fields(transport, client, query, reply, seconds)
    log.info("query %s", " ".join(f"{k}={v}" for k, v in fields.items()), extra={"query": fields})
