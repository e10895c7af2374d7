"""The resolver core's knobs (pure values; the service loads them from its TOML table)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dns_suite.wire.name import Name


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSet:
    """Servers for a zone that is not iterated to: a forward zone or a stub zone.

    Attributes:
        zone: the zone's apex; queries at or below it go to ``servers``.
        servers: ``(address, port)`` pairs, tried in smoothed-RTT order.
        recursive: True for a forward zone (RD=1 to recursive resolvers),
            False for a stub zone (RD=0 to authoritative servers).
    """

    zone: Name
    servers: tuple[tuple[str, int], ...]
    recursive: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Hints:
    """Root hints (RFC 8109): the root's NS names and their addresses.

    Attributes:
        servers: ``(ns_name, (address, ...))`` pairs; addresses are IPv4/IPv6 text.
        port: the port the hinted servers listen on (53; tests may use another).
        anchors: trust anchor texts shipped with the package (the root's KSK DS records,
            ``root.ds``), used unless ``Settings.trust_anchors`` anchors the same names.
    """

    servers: tuple[tuple[Name, tuple[str, ...]], ...]
    port: int = 53
    anchors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything that shapes a resolution.

    Attributes:
        qname_minimisation: RFC 9156, on by default.
        use_0x20: randomise the qname's case upstream and require it back.
        min_ttl, max_ttl: cache TTL floor and ceiling, seconds.
        max_negative_ttl: ceiling for NXDOMAIN/NODATA entries, seconds (RFC 2308 §5).
        servfail_ttl: how long a SERVFAIL is cached, seconds.
        cache_bytes: the cache's bound, octets (LRU eviction beyond).
        serve_stale: RFC 8767: answer expired data when every server fails.
        stale_answer_ttl: TTL of a stale answer, seconds (RFC 8767 §4: 30).
        stale_max: how long past expiry data may be served stale, seconds.
        prefetch: refresh a popular entry when a hit finds < 10 % of its TTL left.
        do_ip4, do_ip6: query upstream servers over IPv4 / IPv6.
        query_private: allow loopback and private upstream addresses (labs and tests).
        edns_payload: EDNS UDP payload size offered upstream, octets.
        max_queries: upstream queries per client query (NXNS limit).
        max_referrals: referrals followed per name.
        max_cname: CNAME/DNAME links per client query.
        max_glueless: glueless NS name look-ups per client query.
        timeout: first upstream timeout, seconds (later ones come from the RTT).
        max_timeout: the longest upstream timeout, seconds.
        lame_ttl: how long a lame or broken server is avoided, seconds.
        local_zones: answer localhost., invalid. and the private reverse zones locally
            (RFC 6761, RFC 6303).
        max_inflight: client questions resolved at once; more get SERVFAIL (bounds upstream sockets).
        dnssec: validate (RFC 4035 §5) under the trust anchors: AD on secure answers,
            SERVFAIL on bogus ones; upstream queries carry DO.
        trust_anchors: more trust anchors, DS or DNSKEY records in zone-file text; they
            replace the shipped ones for the names they anchor.
        negative_trust_anchors: names (and everything below them) not validated (RFC 7646).
        aggressive_nsec: answer NXDOMAIN and NODATA from validated NSEC records already
            cached, without asking upstream (RFC 8198; Unbound's ``aggressive-nsec``).
        forwards: forward and stub zones.
    """

    qname_minimisation: bool = True
    use_0x20: bool = False
    min_ttl: int = 0
    max_ttl: int = 86400
    max_negative_ttl: int = 3600
    servfail_ttl: int = 5
    cache_bytes: int = 64 << 20
    serve_stale: bool = False
    stale_answer_ttl: int = 30
    stale_max: int = 86400
    prefetch: bool = True
    do_ip4: bool = True
    do_ip6: bool = True
    query_private: bool = False
    edns_payload: int = 1232
    max_queries: int = 100
    max_referrals: int = 30
    max_cname: int = 12
    max_glueless: int = 10
    timeout: float = 1.0
    max_timeout: float = 4.0
    lame_ttl: int = 900
    max_inflight: int = 10000
    local_zones: bool = True
    dnssec: bool = True
    trust_anchors: tuple[str, ...] = ()
    negative_trust_anchors: tuple[str, ...] = ()
    aggressive_nsec: bool = True
    forwards: tuple[ServerSet, ...] = field(default=())
