"""Service configuration: TOML files (tomllib) loaded into frozen dataclasses.

How it works: every service has a frozen, slotted, keyword-only dataclass that describes its
table in the TOML file. :func:`load_section` walks the dataclass fields and their type hints and
converts the parsed TOML value of each key:

=====================  ===============================================
type hint              TOML value
=====================  ===============================================
``str``                string
``int``                integer (not a boolean)
``float``              float or integer
``bool``               boolean
``tuple[X, ...]``      array, each item converted as ``X``
a dataclass            table, loaded recursively
``tuple[DC, ...]``     array of tables (``[[section.key]]``)
``X | None``           as ``X``; ``None`` only as a default (TOML has no null)
=====================  ===============================================

Unknown keys, wrongly typed values, missing required keys and values out of range raise
:class:`~dns_suite.errors.ConfigError` naming the file, the dotted key (``authoritative.zones[1].file``)
and the reason. Range checks are declared per field in ``metadata={"check": fn}``, where ``fn(value)``
returns ``None`` when the value is acceptable and a reason otherwise.

A single TOML file may hold the tables of several services (``[authoritative]``, ``[resolver]``,
``[acme]``); each service loads its own table and ignores the others.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from dns_suite.errors import ConfigError

__all__ = [
    "AcmeCertificateConfig",
    "AcmeConfig",
    "AuthoritativeConfig",
    "ForwardConfig",
    "ResolverConfig",
    "SERVICE_TABLES",
    "ZoneConfig",
    "load_acme_config",
    "load_authoritative_config",
    "load_resolver_config",
    "load_section",
    "parse_listen",
    "parse_server",
    "read_toml",
]

T = TypeVar("T")

Check = Callable[[Any], "str | None"]
"""A range check: returns ``None`` for an acceptable value, else the reason it is not."""

SERVICE_TABLES = ("authoritative", "resolver", "acme")
"""Top-level tables a config file may hold; any other top-level key is an error."""


# --------------------------------------------------------------------------- listen addresses


_LISTEN_RE = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<v4>[^:\[\]]+)):(?P<port>[0-9]{1,5})$")


def parse_listen(text: str) -> tuple[str, int]:
    """Split a listen address into an IP address and a port.

    Args:
        text (str): ``"ADDR:PORT"`` with an IPv4 address, or ``"[ADDR]:PORT"`` with an IPv6
            address, e.g. ``"127.0.0.1:5300"`` or ``"[::1]:53"``. Port 0 parses (the service
            configs refuse it: UDP and TCP would get different ports).

    Returns:
        tuple[str, int]: The address in its canonical text form (``"::1"``) and the port (0..65535).

    Raises:
        ValueError: The text is not of that form, the address is not an IP address of the
            family its brackets imply, or the port is out of range.
    """
    match = _LISTEN_RE.match(text)
    if match is None:
        raise ValueError(f"expected ADDR:PORT or [IPV6]:PORT, got {text!r}")
    v6, v4 = match["v6"], match["v4"]
    try:
        address = ipaddress.IPv6Address(v6) if v6 is not None else ipaddress.IPv4Address(v4)
    except ValueError:
        family = "IPv6" if v6 is not None else "IPv4"
        raise ValueError(f"{v6 or v4!r} is not an {family} address (in {text!r})") from None
    port = int(match["port"])
    if port > 65535:
        raise ValueError(f"port {port} is out of range 0..65535 (in {text!r})")
    return str(address), port


# --------------------------------------------------------------------------- range checks


def at_least(low: int | float) -> Check:
    """Return a check that accepts numbers ``>= low``."""

    def check(value: int | float) -> str | None:
        return None if value >= low else f"must be at least {low}, got {value}"

    return check


def between(low: int, high: int) -> Check:
    """Return a check that accepts numbers in ``low..high`` inclusive."""

    def check(value: int) -> str | None:
        return None if low <= value <= high else f"must be in {low}..{high}, got {value}"

    return check


def positive_seconds(value: float) -> str | None:
    """Accept a finite duration in seconds greater than 0."""
    if math.isfinite(value) and value > 0:
        return None
    return f"must be a finite number of seconds > 0, got {value}"


def non_empty(value: str | tuple) -> str | None:
    """Accept a non-empty string or tuple."""
    return None if value else "must not be empty"


def listen_addresses(value: tuple[str, ...]) -> str | None:
    """Accept a non-empty tuple of addresses that :func:`parse_listen` can read."""
    if not value:
        return "must hold at least one address"
    for index, text in enumerate(value):
        try:
            _, port = parse_listen(text)
        except ValueError as exc:
            return f"item {index}: {exc}"
        if port == 0:
            return f"item {index}: port 0 is not allowed (UDP and TCP would get different ports)"
    return None


def http_address(value: str) -> str | None:
    """Accept one ``ADDR:PORT`` or ``[V6]:PORT`` with a port other than 0 (``http_listen``)."""
    try:
        _, port = parse_listen(value)
    except ValueError as exc:
        return str(exc)
    return "port 0 is not allowed" if port == 0 else None


def domain_name(value: str) -> str | None:
    """Accept a domain name in presentation form (labels <= 63, name <= 255 octets)."""
    from dns_suite.wire.errors import WireError
    from dns_suite.wire.name import Name

    try:
        Name.from_text(value if value.endswith(".") else value + ".")
    except WireError as exc:
        return f"not a domain name: {exc.reason}"
    return None


def at_most_octets(limit: int) -> Check:
    """A check that a string is at most ``limit`` octets in UTF-8."""

    def check(value: str | None) -> str | None:
        if value is not None and len(value.encode()) > limit:
            return f"longer than {limit} octets"
        return None

    return check


def _origin_key(origin: str) -> str:
    return origin.lower().rstrip(".") + "."


def unique_origins(zones: tuple[ZoneConfig, ...]) -> str | None:
    """Accept zones whose origins differ (compared case-insensitively, trailing dot optional)."""
    seen: dict[str, int] = {}
    for index, zone in enumerate(zones):
        key = _origin_key(zone.origin)
        if key in seen:
            return f"origin {zone.origin!r} appears twice (items {seen[key]} and {index})"
        seen[key] = index
    return None


def _field(default: Any = dataclasses.MISSING, *, check: Check | None = None) -> Any:
    """Declare a config field with an optional default and range check."""
    metadata = {"check": check} if check is not None else {}
    return dataclasses.field(default=default, metadata=metadata)


# --------------------------------------------------------------------------- service shapes


def one_of(*choices: str) -> Check:
    """A check that the value is one of ``choices``."""

    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _acl_problem(entries: tuple[str, ...]) -> str | None:
    """The first malformed ``allow_transfer`` entry, described; None when all are fine."""
    for entry in entries:
        words = entry.split()
        if words and words[0] != "key":
            try:
                ipaddress.ip_network(words.pop(0), strict=False)
            except ValueError:
                return f"{entry!r}: not an address or network"
        if words and (words[0] != "key" or len(words) != 2):
            return f"{entry!r}: expected ADDR[/LEN], key NAME, or ADDR[/LEN] key NAME"
        if words and domain_name(words[1]):
            return f"{entry!r}: bad key name"
        if not entry.split():
            return "empty entry"
    return None


def _notify_problem(entries: tuple[str, ...]) -> str | None:
    """The first malformed ``also_notify`` entry, described; None when all are fine."""
    for entry in entries:
        words = entry.split()
        if not words or not (len(words) == 1 or (len(words) == 3 and words[1] == "key")):
            return f"{entry!r}: expected ADDR:PORT [key NAME]"
        addr = words[0]
        host, sep, port = (addr[1:].partition("]:") if addr.startswith("[") else addr.rpartition(":"))
        if not sep:
            host, port = addr, "53"
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return f"{entry!r}: not an address"
        if not port.isdigit() or not 0 < int(port) < 65536:
            return f"{entry!r}: bad port"
    return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KeyConfig:
    """A TSIG key (RFC 8945), inline or from a BIND key file (``tsig-keygen`` output).

    Attributes:
        name (str): The key name, e.g. ``"acme-key."`` (matched case-insensitively).
        algorithm (str): ``hmac-sha256`` (default), ``hmac-sha224/384/512``, ``hmac-sha1``,
            ``hmac-md5``; any case, with or without the final dot.
        secret (str | None): The secret in base64; or
        file (str | None): a BIND key file holding a key of this name (path relative to the
            config file).
        min_mac (int): Shortest MAC accepted, in octets (0: the full hash length).
    """

    name: str = _field(check=non_empty)
    algorithm: str = "hmac-sha256"
    secret: str | None = None
    file: str | None = None
    min_mac: int = _field(0, check=at_least(0))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GrantConfig:
    """One rule of a zone's update policy: what a key may change (RFC 2136 §3.3).

    Attributes:
        key (str): The key name.
        grant (str): ``zone`` (anything in the zone), ``acme`` (only TXT at names whose first
            label is ``_acme-challenge``, at the apex and below), or ``subdomain`` (anything at or
            below ``name``).
        name (str | None): The subdomain for ``grant = "subdomain"``.
    """

    key: str = _field(check=non_empty)
    grant: str = _field(check=one_of("zone", "acme", "subdomain"))
    name: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ZoneConfig:
    """One zone served from a zone file.

    Attributes:
        origin (str): The zone's apex, e.g. ``"example.test."``.
        file (str): Path of the zone file (RFC 1035 §5). Relative paths in a config file are
            resolved against that file's folder by :func:`load_authoritative_config`.
        update_policy (tuple[GrantConfig, ...]): Who may UPDATE the zone; empty: UPDATE refused.
        serial_policy (str): How UPDATE raises the SOA serial: ``increment`` or ``unixtime``.
        allow_transfer (tuple[str, ...]): Who may AXFR/IXFR the zone: ``"ADDR[/LEN]"``,
            ``"key NAME"`` or ``"ADDR[/LEN] key NAME"`` (both); empty: nobody.
        also_notify (tuple[str, ...]): Extra NOTIFY targets (RFC 1996): ``"ADDR:PORT"`` or
            ``"[V6]:PORT"``, optionally followed by ``key NAME`` to sign with.
        notify_ns (bool): Also NOTIFY the addresses of the zone's NS hosts found in the zone.
        primaries (tuple[str, ...]): Makes the zone a secondary: where to transfer it from,
            ``"ADDR:PORT"`` or ``"[V6]:PORT"``, optionally ``key NAME`` (TSIG on every message);
            ``file`` is then where the copy is kept. NOTIFY is accepted from these addresses.
    """

    origin: str = _field(check=domain_name)
    file: str = _field(check=non_empty)
    update_policy: tuple[GrantConfig, ...] = ()
    serial_policy: str = _field("increment", check=one_of("increment", "unixtime"))
    allow_transfer: tuple[str, ...] = _field((), check=lambda v: _acl_problem(v))
    also_notify: tuple[str, ...] = _field((), check=lambda v: _notify_problem(v))
    notify_ns: bool = True
    primaries: tuple[str, ...] = _field((), check=lambda v: _notify_problem(v))


def _secret_problem(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return None if len(bytes.fromhex(value)) == 16 else "must be 16 octets (32 hex digits)"
    except ValueError:
        return "must be 32 hex digits"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EncryptedAndCookies:
    """Keys shared by ``[authoritative]`` and ``[resolver]`` (both inherit them).

    Attributes:
        tls_listen (tuple[str, ...]): DNS over TLS addresses (RFC 7858; port 853 by custom).
        https_listen (tuple[str, ...]): DNS over HTTPS addresses (RFC 8484; HTTP/2 and 1.1).
        tls_certificate, tls_key (str | None): PEM certificate chain and key for both, relative
            to the config file; re-read on SIGHUP and when their files change.
        tls_check_interval (float): Seconds between checks of the files' modification times.
        https_path (str): The DoH URL path (``/dns-query``).
        cookie_secret (str | None): The RFC 9018 server secret, 32 hex digits (the same on
            every server behind one address); None: a random one per start.
        cookies_required_above (float): UDP queries per second per client address without a
            valid server cookie above which a client sending a cookie gets BADCOOKIE (0: never).
    """

    tls_listen: tuple[str, ...] = _field((), check=lambda v: listen_addresses(v) if v else None)
    https_listen: tuple[str, ...] = _field((), check=lambda v: listen_addresses(v) if v else None)
    tls_certificate: str | None = _field(None, check=non_empty)
    tls_key: str | None = _field(None, check=non_empty)
    tls_check_interval: float = _field(5.0, check=positive_seconds)
    https_path: str = _field("/dns-query", check=lambda v: None if v.startswith("/") else "must start with /")
    cookie_secret: str | None = _field(None, check=lambda v: _secret_problem(v))
    cookies_required_above: float = _field(0.0, check=at_least(0))


def _tls_problem(cfg) -> tuple[str, str] | None:
    """Encrypted listeners need a certificate and a key."""
    if (cfg.tls_listen or cfg.https_listen) and not (cfg.tls_certificate and cfg.tls_key):
        return "tls_certificate", "tls_listen/https_listen need tls_certificate and tls_key"
    return None


def _tls_paths(cfg, base_dir: str):
    """``cfg`` with its certificate and key paths resolved against the config's folder."""
    return dataclasses.replace(
        cfg, tls_certificate=cfg.tls_certificate and _resolve_path(base_dir, cfg.tls_certificate),
        tls_key=cfg.tls_key and _resolve_path(base_dir, cfg.tls_key))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuthoritativeConfig(EncryptedAndCookies):
    """The ``[authoritative]`` table: the authoritative service.

    Attributes:
        listen (tuple[str, ...]): UDP and TCP listen addresses, ``"ADDR:PORT"`` or ``"[V6]:PORT"``.
        zones (tuple[ZoneConfig, ...]): Zones served, from ``[[authoritative.zones]]``.
        workers (int): UDP worker processes sharing each port with SO_REUSEPORT (>= 1; 1 means
            everything runs in the control process).
        allow_generate (bool): Whether zone files may use ``$GENERATE``.
        udp_payload_size (int): EDNS UDP payload size we advertise and cap answers at, in octets
            (512..4096; RFC 6891 §6.2.5, 1232 per DNS Flag Day 2020).
        nsid (str | None): NSID option value returned to queries asking for it (RFC 5001), or
            ``None`` to not answer NSID.
        identity (str | None): Answer for ``id.server``/``hostname.bind`` CH TXT, or ``None`` to refuse.
        version (str | None): Answer for ``version.server``/``version.bind`` CH TXT, or ``None`` to refuse.
        prerender_max_entries (int): Bound on the pre-rendered answer table, in entries (>= 0;
            0 disables it).
        tcp_idle_timeout (float): Seconds a TCP connection may stay idle before we close it
            (RFC 7766 §6.2.3).
        tcp_max_connections (int): Concurrent TCP connections accepted (>= 1).
        keys (tuple[KeyConfig, ...]): TSIG keys, from ``[[authoritative.keys]]``.
        control_socket (str): Path of the ``dns-suite ctl`` Unix socket (mode 0600), relative to
            the config file.
        flush_interval (float): Seconds after an UPDATE before a dynamic zone's file is rewritten
            and its journal compacted (also done at shutdown).
        max_transfer_octets (int): Largest zone transfer a secondary zone accepts, in octets;
            a larger one is aborted and the old copy kept.
        transfer_stall (float): Seconds a transfer in may go without a message before it is
            aborted (the old copy kept).
        transfer_timeout (float): Seconds a whole transfer in may take (a primary trickling
            messages just inside ``transfer_stall`` is stopped here).
        min_refresh (float): Least seconds between a secondary zone's refresh checks, whatever its
            SOA REFRESH says (as BIND's min-refresh-time).
        min_retry (float): Least seconds between retries after a failed check (min-retry-time).
        tls_listen, https_listen, tls_certificate, tls_key, tls_check_interval, https_path,
        cookie_secret, cookies_required_above: DoT, DoH and cookies, see :class:`EncryptedAndCookies`.
        rrl_rate (int): Response rate limit, UDP replies per second per client prefix and kind
            of answer (0: off; NSD's rrl-ratelimit is 200).
        rrl_slip (int): Every Nth limited reply is sent truncated (TC) instead of dropped (0:
            drop all, 1: truncate all; 2 as NSD and BIND).
        rrl_ipv4_prefix, rrl_ipv6_prefix (int): Prefix lengths clients are grouped by (24, 56).
        http_listen (str | None): ``ADDR:PORT`` of the HTTP listener for ``/health``, ``/ready``
            and ``/metrics`` (README "Observability"); None: no listener.
        log_format (str): ``text`` (default) or ``json`` (one object per line).
        query_log (bool): Log one line per query (logger ``dns_suite.query``).
    """

    listen: tuple[str, ...] = _field(("127.0.0.1:5300",), check=listen_addresses)
    zones: tuple[ZoneConfig, ...] = _field((), check=unique_origins)
    workers: int = _field(1, check=between(1, 256))
    allow_generate: bool = True
    udp_payload_size: int = _field(1232, check=between(512, 4096))
    nsid: str | None = _field(None, check=at_most_octets(128))
    identity: str | None = None
    version: str | None = None
    prerender_max_entries: int = _field(100000, check=at_least(0))
    tcp_idle_timeout: float = _field(10.0, check=positive_seconds)
    tcp_max_connections: int = _field(256, check=at_least(1))
    keys: tuple[KeyConfig, ...] = ()
    max_transfer_octets: int = _field(1 << 31, check=at_least(1024))
    transfer_stall: float = _field(30.0, check=positive_seconds)
    transfer_timeout: float = _field(3600.0, check=positive_seconds)
    min_refresh: float = _field(60.0, check=positive_seconds)
    min_retry: float = _field(10.0, check=positive_seconds)
    control_socket: str = "dns-suite-authoritative.sock"
    flush_interval: float = _field(60.0, check=positive_seconds)
    rrl_rate: int = _field(0, check=at_least(0))
    rrl_slip: int = _field(2, check=between(0, 100))
    rrl_ipv4_prefix: int = _field(24, check=between(8, 32))
    rrl_ipv6_prefix: int = _field(56, check=between(16, 128))
    http_listen: str | None = _field(None, check=http_address)
    log_format: str = _field("text", check=one_of("text", "json"))
    query_log: bool = False


# --------------------------------------------------------------------------- the resolver


MAX_TTL = 0x7FFFFFFF
"""The largest TTL, seconds (RFC 2181 §8)."""

RESOLVER_ALLOW = (
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10",
)
"""The resolver's default ``allow``: loopback and private networks (the same as
``dns_suite.chain.acl.DEFAULT_ALLOW``, which config.py may not import)."""


def parse_server(text: str) -> tuple[str, int]:
    """Split an upstream server into an IP address and a port.

    Args:
        text (str): ``"ADDR"`` (port 53), ``"ADDR:PORT"`` or ``"[V6]:PORT"``; a bare IPv6
            address (``"2001:db8::1"``) means port 53.

    Returns:
        tuple[str, int]: The address in canonical text form and the port (1..65535).

    Raises:
        ValueError: not of that form, or port 0.
    """
    try:
        return str(ipaddress.ip_address(text)), 53
    except ValueError:
        pass
    address, port = parse_listen(text)
    if port == 0:
        raise ValueError(f"port 0 in {text!r}")
    return address, port


def _networks_problem(entries: tuple[str, ...]) -> str | None:
    """The first entry that is not an IPv4/IPv6 network (``ADDR`` or ``ADDR/LEN``), described."""
    for index, entry in enumerate(entries):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return f"item {index}: {entry!r} is not an address or network (ADDR or ADDR/LEN)"
    return None


def _servers_problem(entries: tuple[str, ...]) -> str | None:
    """The first server :func:`parse_server` cannot read, described; also refuses an empty list."""
    if not entries:
        return "must hold at least one server"
    for index, entry in enumerate(entries):
        try:
            parse_server(entry)
        except ValueError as exc:
            return f"item {index}: {exc}"
    return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ForwardConfig:
    """A zone the resolver does not iterate to: ``[[resolver.forward]]`` or ``[[resolver.stub]]``.

    Attributes:
        zone (str): The zone's apex; queries at or below it go to ``servers``.
        servers (tuple[str, ...]): ``"ADDR"``, ``"ADDR:PORT"`` or ``"[V6]:PORT"`` (port 53 by
            default): recursive resolvers for a forward zone (asked with RD=1), authoritative
            servers for a stub zone (RD=0).
    """

    zone: str = _field(check=domain_name)
    servers: tuple[str, ...] = _field(check=_servers_problem)


def _anchor_texts(entries: tuple[str, ...]) -> str | None:
    """The first entry that is not a DS or DNSKEY record in zone-file syntax, described."""
    for index, entry in enumerate(entries):
        words = entry.upper().split()
        if "DS" not in words and "DNSKEY" not in words:
            return f"item {index}: {entry[:40]!r} is not a DS or DNSKEY record"
    return None


def _domain_names(entries: tuple[str, ...]) -> str | None:
    """The first entry that is not a domain name, described."""
    for index, entry in enumerate(entries):
        problem = domain_name(entry)
        if problem is not None:
            return f"item {index}: {problem}"
    return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ResolverConfig(EncryptedAndCookies):
    """The ``[resolver]`` table: the caching recursive resolver.

    The keys from ``qname_minimisation`` to ``local_zones`` are those of
    :class:`dns_suite.resolver.settings.Settings`, with the same defaults and meanings.

    Attributes:
        listen (tuple[str, ...]): UDP and TCP listen addresses, ``"ADDR:PORT"`` or ``"[V6]:PORT"``.
        allow (tuple[str, ...]): Client networks served (``"ADDR"`` or ``"ADDR/LEN"``); every
            other client gets REFUSED (RFC 5358: not an open resolver). Empty: nobody is served.
        root_hints (str | None): Root hints file (IANA ``named.root`` format), relative to the
            config file; ``None``: the file shipped with the package.
        root_hints_port (int): The port the hinted root servers listen on (53; labs and tests).
        forward (tuple[ForwardConfig, ...]): Forward zones, from ``[[resolver.forward]]``.
        stub (tuple[ForwardConfig, ...]): Stub zones, from ``[[resolver.stub]]``.
        workers (int): Processes serving the same addresses with SO_REUSEPORT (1..256), each
            with its own cache (DESIGN "Process model"); 1 serves in one process.
        log_level (str): ``debug``, ``info``, ``warning`` or ``error`` (``--log-level`` wins).
        tcp_idle_timeout (float): Seconds a client TCP connection may stay idle (RFC 7766 §6.2.3).
        tcp_max_connections (int): Concurrent client TCP connections accepted (>= 1).
        http_listen (str | None): ``ADDR:PORT`` of the HTTP listener for ``/health``, ``/ready``
            and ``/metrics`` (README "Observability"); None: no listener.
        log_format (str): ``text`` (default) or ``json`` (one object per line).
        query_log (bool): Log one line per query (logger ``dns_suite.query``).
        qname_minimisation (bool): RFC 9156.
        use_0x20 (bool): Randomise the qname's case upstream and require it back.
        min_ttl, max_ttl (int): Cache TTL floor and ceiling, seconds (min_ttl <= max_ttl).
        max_negative_ttl (int): Ceiling for NXDOMAIN/NODATA entries, seconds (RFC 2308 §5).
        servfail_ttl (int): How long a SERVFAIL is cached, seconds (0..300, RFC 9520 §3.2).
        cache_bytes (int): The cache's bound, octets (>= 65536).
        serve_stale (bool): RFC 8767: answer expired data when every server fails.
        stale_answer_ttl (int): TTL of a stale answer, seconds.
        stale_max (int): How long past expiry data may be served stale, seconds.
        prefetch (bool): Refresh a popular entry when a hit finds < 10 % of its TTL left.
        do_ip4, do_ip6 (bool): Query upstream servers over IPv4 / IPv6 (not both off).
        query_private (bool): Allow loopback and private upstream addresses (labs and tests).
        edns_payload (int): EDNS UDP payload size offered upstream, octets (512..4096).
        max_queries (int): Upstream queries per client query (NXNS limit, >= 1).
        max_referrals (int): Referrals followed per name (>= 1).
        max_cname (int): CNAME/DNAME links per client query.
        max_glueless (int): Glueless NS name look-ups per client query.
        timeout (float): First upstream timeout, seconds (<= max_timeout).
        max_timeout (float): The longest upstream timeout, seconds.
        lame_ttl (int): How long a lame or broken server is avoided, seconds.
        max_inflight (int): Client questions resolved at once (1..1,000,000); more get SERVFAIL.
        local_zones (bool): Answer localhost., invalid. and the private reverse zones locally
            (RFC 6761, RFC 6303).
        tls_listen, https_listen, tls_certificate, tls_key, tls_check_interval, https_path,
        cookie_secret, cookies_required_above: DoT, DoH and cookies, see :class:`EncryptedAndCookies`.
        client_rate (float): UDP queries per second one client address may send (0: no limit);
            over it a query is dropped, or answered REFUSED with ``client_rate_refuse``.
        client_rate_refuse (bool): Answer REFUSED over ``client_rate`` instead of dropping.
        dnssec (bool): Validate (RFC 4035) from the root's shipped trust anchors (KSK-2017 and
            KSK-2024) and ``trust_anchors``: AD on secure answers, SERVFAIL with an extended
            error on bogus ones.
        trust_anchors (tuple[str, ...]): More trust anchors: DS or DNSKEY records in zone-file
            syntax (``"example. IN DS 12345 13 2 ..."``); they replace the shipped ones for the
            names they anchor (a lab's own root).
        trust_anchor_files (tuple[str, ...]): Files of such records, relative to the config file.
        negative_trust_anchors (tuple[str, ...]): Names not validated, with everything below
            them (RFC 7646).
        aggressive_nsec (bool): Answer NXDOMAIN and NODATA from validated NSEC records already
            cached, without asking upstream (RFC 8198; as Unbound's ``aggressive-nsec: yes``).
    """

    listen: tuple[str, ...] = _field(("127.0.0.1:53", "[::1]:53"), check=listen_addresses)
    allow: tuple[str, ...] = _field(RESOLVER_ALLOW, check=_networks_problem)
    root_hints: str | None = _field(None, check=non_empty)
    root_hints_port: int = _field(53, check=between(1, 65535))
    forward: tuple[ForwardConfig, ...] = ()
    stub: tuple[ForwardConfig, ...] = ()
    workers: int = _field(1, check=between(1, 256))
    log_level: str = _field("info", check=one_of("debug", "info", "warning", "error"))
    tcp_idle_timeout: float = _field(10.0, check=positive_seconds)
    tcp_max_connections: int = _field(256, check=at_least(1))
    http_listen: str | None = _field(None, check=http_address)
    log_format: str = _field("text", check=one_of("text", "json"))
    query_log: bool = False
    qname_minimisation: bool = True
    use_0x20: bool = False
    min_ttl: int = _field(0, check=between(0, MAX_TTL))
    max_ttl: int = _field(86400, check=between(0, MAX_TTL))
    max_negative_ttl: int = _field(3600, check=between(0, MAX_TTL))
    servfail_ttl: int = _field(5, check=between(0, 300))
    cache_bytes: int = _field(64 << 20, check=at_least(1 << 16))
    serve_stale: bool = False
    stale_answer_ttl: int = _field(30, check=between(0, MAX_TTL))
    stale_max: int = _field(86400, check=between(0, MAX_TTL))
    prefetch: bool = True
    do_ip4: bool = True
    do_ip6: bool = True
    query_private: bool = False
    edns_payload: int = _field(1232, check=between(512, 4096))
    max_queries: int = _field(100, check=at_least(1))
    max_referrals: int = _field(30, check=at_least(1))
    max_cname: int = _field(12, check=at_least(0))
    max_glueless: int = _field(10, check=at_least(0))
    timeout: float = _field(1.0, check=positive_seconds)
    max_timeout: float = _field(4.0, check=positive_seconds)
    lame_ttl: int = _field(900, check=between(0, MAX_TTL))
    max_inflight: int = _field(10000, check=between(1, 1_000_000))
    local_zones: bool = True
    client_rate: float = _field(0.0, check=at_least(0))
    client_rate_refuse: bool = False
    dnssec: bool = True
    trust_anchors: tuple[str, ...] = _field((), check=_anchor_texts)
    trust_anchor_files: tuple[str, ...] = ()
    negative_trust_anchors: tuple[str, ...] = _field((), check=_domain_names)
    aggressive_nsec: bool = True


def _resolver_problem(cfg: ResolverConfig) -> tuple[str, str] | None:
    """The first rule between keys that ``cfg`` breaks, as ``(key, reason)``; None when none."""
    if cfg.min_ttl > cfg.max_ttl:
        return "min_ttl", f"must not exceed max_ttl ({cfg.max_ttl}), got {cfg.min_ttl}"
    if cfg.timeout > cfg.max_timeout:
        return "timeout", f"must not exceed max_timeout ({cfg.max_timeout}), got {cfg.timeout}"
    if not (cfg.do_ip4 or cfg.do_ip6):
        return "do_ip6", "do_ip4 and do_ip6 are both false: no upstream server could be asked"
    seen: dict[str, str] = {}
    for kind in ("forward", "stub"):
        for index, zone in enumerate(getattr(cfg, kind)):
            key = f"{kind}[{index}].zone"
            if _origin_key(zone.zone) in seen:
                return key, f"zone {zone.zone!r} appears twice (also at {seen[_origin_key(zone.zone)]})"
            seen[_origin_key(zone.zone)] = key
    return None


# --------------------------------------------------------------------------- the generic loader


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _describe(value: Any) -> str:
    """Name a parsed TOML value's type for an error message, with a short excerpt."""
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}
    kind = names.get(type(value), type(value).__name__)
    if isinstance(value, (list, dict)):
        return kind
    text = repr(value)
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


def _convert_scalar(value: Any, hint: type, *, file: str, key: str) -> Any:
    """Convert a str, int, float or bool value; bools are never numbers here."""
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is hint:
        return value
    article = "an" if hint is int else "a"
    wanted = {str: "string", int: "integer", float: "float", bool: "boolean"}[hint]
    raise ConfigError(file, key, f"expected {article} {wanted}, got {_describe(value)}")


def _convert_tuple(value: Any, hint: Any, *, file: str, key: str) -> tuple:
    """Convert a TOML array to ``tuple[X, ...]``, item by item."""
    args = typing.get_args(hint)
    if len(args) != 2 or args[1] is not Ellipsis:
        raise TypeError(f"config field {key}: only tuple[X, ...] is supported, not {hint!r}")
    if not isinstance(value, list):
        raise ConfigError(file, key, f"expected an array, got {_describe(value)}")
    return tuple(
        _convert(item, args[0], file=file, key=f"{key}[{index}]") for index, item in enumerate(value)
    )


def _convert(value: Any, hint: Any, *, file: str, key: str) -> Any:
    """Convert one parsed TOML value to the field type ``hint``.

    Raises:
        ConfigError: The value does not fit the type.
        TypeError: ``hint`` is a type this loader does not support (a bug in the dataclass).
    """
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"config field {key}: only 'X | None' unions are supported, not {hint!r}")
        return _convert(value, inner[0], file=file, key=key)
    if origin is tuple:
        return _convert_tuple(value, hint, file=file, key=key)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(file, key, f"expected a table, got {_describe(value)}")
        return load_section(value, hint, file=file, prefix=key)
    if hint in (str, int, float, bool):
        return _convert_scalar(value, hint, file=file, key=key)
    raise TypeError(f"config field {key}: unsupported type {hint!r}")


def load_section(data: Mapping[str, Any], cls: type[T], *, file: str, prefix: str) -> T:
    """Build the dataclass ``cls`` from one parsed TOML table.

    Args:
        data (Mapping[str, Any]): The table, as parsed by :mod:`tomllib`.
        cls (type[T]): A dataclass whose fields name the table's keys; see the module docstring
            for the supported field types. A field's ``metadata["check"]``, if any, is applied to
            the converted value.
        file (str): Path of the config file, for error messages.
        prefix (str): Dotted key path of this table in the file (``"authoritative"``,
            ``"authoritative.zones[1]"``), or ``""`` for the top level.

    Returns:
        T: The loaded instance; fields absent from ``data`` take their defaults.

    Raises:
        ConfigError: A key is unknown, a value has the wrong type or fails its check, or a
            field without a default is missing.
        TypeError: ``cls`` is not a dataclass or uses an unsupported field type (our bug).
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    for name in data:
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(file, _join(prefix, name), f"unknown key (known keys: {known})")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, field in fields.items():
        key = _join(prefix, name)
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(file, key, "missing required key")
            continue
        value = _convert(data[name], hints[name], file=file, key=key)
        check = field.metadata.get("check")
        reason = check(value) if check is not None else None
        if reason is not None:
            raise ConfigError(file, key, reason)
        values[name] = value
    return cls(**values)


# --------------------------------------------------------------------------- files


_TOML_LINE_RE = re.compile(r"^(?P<reason>.*?)\s*\(at line (?P<line>\d+), column (?P<column>\d+)\)$")


def read_toml(path: str) -> dict[str, Any]:
    """Read and parse a TOML file, checking its top-level keys are service tables.

    Args:
        path (str): Path of the file.

    Returns:
        dict[str, Any]: The parsed document.

    Raises:
        ConfigError: The file cannot be read, is not valid TOML (the key is ``line N`` and the
            reason names the column), or has a top-level key outside :data:`SERVICE_TABLES`.
    """
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", f"cannot decode: not UTF-8 at octet {exc.start}") from None
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE_RE.match(str(exc))
        if match is None:
            raise ConfigError(path, "", f"invalid TOML: {exc}") from None
        reason = f"invalid TOML: {match['reason']} (column {match['column']})"
        raise ConfigError(path, f"line {match['line']}", reason) from None
    for name in document:
        if name not in SERVICE_TABLES:
            raise ConfigError(path, name, f"unknown table (known: {', '.join(SERVICE_TABLES)})")
    return document


def _resolve_path(base_dir: str, path: str) -> str:
    """Resolve ``path`` against ``base_dir`` unless it is absolute."""
    if os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


def _service_table(path: str, name: str) -> dict[str, Any]:
    """The ``[name]`` table of the TOML file at ``path`` (ConfigError when absent or not a table)."""
    table = read_toml(path).get(name)
    if table is None:
        raise ConfigError(path, name, f"missing table [{name}]")
    if not isinstance(table, dict):
        raise ConfigError(path, name, f"expected a table, got {_describe(table)}")
    return table


def load_authoritative_config(path: str) -> AuthoritativeConfig:
    """Load the ``[authoritative]`` table of a TOML config file.

    Zone file paths that are relative are resolved against the folder of the config file, so a
    config works whatever the current directory is.

    Args:
        path (str): Path of the TOML file.

    Returns:
        AuthoritativeConfig: The validated configuration.

    Raises:
        ConfigError: The file cannot be read or parsed, has no ``[authoritative]`` table, or the
            table is invalid (see :func:`load_section`).
    """
    config = load_section(_service_table(path, "authoritative"), AuthoritativeConfig, file=path,
                          prefix="authoritative")
    base_dir = os.path.dirname(os.path.abspath(path))
    zones = tuple(
        dataclasses.replace(zone, file=_resolve_path(base_dir, zone.file)) for zone in config.zones
    )
    keys = tuple(
        dataclasses.replace(key, file=_resolve_path(base_dir, key.file)) if key.file else key
        for key in config.keys
    )
    problem = _tls_problem(config)
    if problem is not None:
        raise ConfigError(path, f"authoritative.{problem[0]}", problem[1])
    config = _tls_paths(config, base_dir)
    return dataclasses.replace(config, zones=zones, keys=keys,
                               control_socket=_resolve_path(base_dir, config.control_socket))


def load_resolver_config(path: str) -> ResolverConfig:
    """Load the ``[resolver]`` table of a TOML config file.

    Relative ``root_hints`` and ``trust_anchor_files`` paths are resolved against the folder of
    the config file.

    Args:
        path (str): Path of the TOML file.

    Returns:
        ResolverConfig: The validated configuration.

    Raises:
        ConfigError: The file cannot be read or parsed, has no ``[resolver]`` table, or the
            table is invalid (see :func:`load_section`; also ``min_ttl <= max_ttl``,
            ``timeout <= max_timeout``, one of ``do_ip4``/``do_ip6``, each forward or stub zone
            once).
    """
    config = load_section(_service_table(path, "resolver"), ResolverConfig, file=path, prefix="resolver")
    problem = _resolver_problem(config) or _tls_problem(config)
    if problem is not None:
        raise ConfigError(path, f"resolver.{problem[0]}", problem[1])
    config = _tls_paths(config, os.path.dirname(os.path.abspath(path)))
    base_dir = os.path.dirname(os.path.abspath(path))
    if config.root_hints is not None:
        config = dataclasses.replace(config, root_hints=_resolve_path(base_dir, config.root_hints))
    if config.trust_anchor_files:
        files = tuple(_resolve_path(base_dir, file) for file in config.trust_anchor_files)
        config = dataclasses.replace(config, trust_anchor_files=files)
    return config


# --------------------------------------------------------------------------- the ACME agent


ACME_DIRECTORIES = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
"""CA directories known by name (``[acme] directory``); any other value must be an https URL."""

ACME_KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096")
"""Certificate key types (``dns_suite.acme.store.KEY_TYPES``, which config.py may not import)."""

_FOLDER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _directory_problem(value: str) -> str | None:
    if value in ACME_DIRECTORIES or value.startswith("https://"):
        return None
    return f"must be {', '.join(ACME_DIRECTORIES)} or an https:// URL, got {value!r}"


def _certificate_names_problem(names: tuple[str, ...]) -> str | None:
    """Names for one certificate: at least one, each a domain name or ``*.`` + one, no repeats."""
    if not names:
        return "must hold at least one name"
    seen: set[str] = set()
    for index, name in enumerate(names):
        base = name[2:] if name.startswith("*.") else name
        if "*" in base or not base.strip("."):
            return f"item {index}: {name!r}: a wildcard must be '*.' followed by a name"
        reason = domain_name(base)
        if reason:
            return f"item {index}: {name!r}: {reason}"
        key = name.lower().rstrip(".")
        if key in seen:
            return f"item {index}: {name!r} appears twice"
        seen.add(key)
    return None


def _servers_or_empty(entries: tuple[str, ...]) -> str | None:
    return _servers_problem(entries) if entries else None


def _resolver_address(value: str | None) -> str | None:
    try:
        parse_server(value or "")
    except ValueError as exc:
        return str(exc)
    return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AcmeCertificateConfig:
    """One certificate: ``[[acme.certificate]]``.

    Attributes:
        name (str): Its folder under ``state_dir/certs/`` (letters, digits, ``.``, ``_``, ``-``).
        names (tuple[str, ...]): The DNS names, wildcards as ``*.example.test``; one order for all.
        key_type (str): ``ecdsa-p256`` (default), ``ecdsa-p384``, ``rsa-2048``, ``rsa-3072``,
            ``rsa-4096``; a new key for every certificate.
        update_server (str | None): Where the RFC 2136 UPDATE goes (host name or address);
            None: the zone's primary, from its SOA MNAME.
        update_port (int): Its port.
        key_name, key_algorithm, key_secret (str): The TSIG key inline (secret in base64); or
        key_file (str | None): a BIND key file (``tsig-keygen``) holding ``key_name``, or its only
            key when ``key_name`` is not given; relative to the config file. No key: unsigned.
        check_servers (tuple[str, ...]): ``ADDR`` or ``ADDR:PORT`` of the servers to prove the TXT
            on before answering the challenges; empty: every address of the zone's NS set.
        post_renewal_command (str | None): A shell command run after each new certificate, with
            ``DNS_SUITE_CERT_PATH`` etc. in its environment (README, "ACME agent").
        profile (str | None): ACME profile name for the new order (e.g. ``shortlived``).
    """

    name: str = _field(check=lambda v: None if _FOLDER_RE.match(v) else
                       "must be a folder name: letters, digits, '.', '_', '-', not starting with '.'")
    names: tuple[str, ...] = _field(check=_certificate_names_problem)
    key_type: str = _field("ecdsa-p256", check=one_of(*ACME_KEY_TYPES))
    update_server: str | None = _field(None, check=non_empty)
    update_port: int = _field(53, check=between(1, 65535))
    key_name: str | None = _field(None, check=domain_name)
    key_algorithm: str = "hmac-sha256"
    key_secret: str | None = None
    key_file: str | None = _field(None, check=non_empty)
    check_servers: tuple[str, ...] = _field((), check=_servers_or_empty)
    post_renewal_command: str | None = _field(None, check=non_empty)
    profile: str | None = _field(None, check=non_empty)


def _unique_certificates(certs: tuple[AcmeCertificateConfig, ...]) -> str | None:
    seen: dict[str, int] = {}
    for index, cert in enumerate(certs):
        if cert.name in seen:
            return f"name {cert.name!r} appears twice (items {seen[cert.name]} and {index})"
        seen[cert.name] = index
    return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AcmeConfig:
    """The ``[acme]`` table: the ACME DNS-01 agent.

    Attributes:
        directory (str): ``letsencrypt`` (default), ``letsencrypt-staging``, or the CA's directory
            URL (https).
        ca_bundle (str | None): A PEM file of CAs trusted for the CA's HTTPS (a test CA); None:
            the system's. Relative to the config file.
        email (str | None): Account contact (``mailto:``).
        agree_terms (bool): Agree to the CA's terms of service (required when it has some).
        eab_kid, eab_hmac_key (str | None): External account binding (RFC 8555 §7.3.4), the
            HMAC key in base64url, when the CA requires it.
        resolver (str | None): ``ADDR[:PORT]`` of the recursive resolver used to find the zones;
            None: the system's.
        state_dir (str): Keys, certificates and status (relative to the config file).
        propagation_timeout (float): Seconds to wait for every authoritative server to show the
            TXT records before giving up.
        order_timeout (float): Seconds for the CA to validate and finalize an order.
        ca_connect_timeout (float): Seconds to connect to the CA (TCP and TLS handshake).
        ca_request_timeout (float): Seconds for each read from the CA, and for a whole call to it
            (a CA that accepts and never answers fails then).
        retry_min, retry_max (float): Backoff after failures: the first delay and the cap,
            seconds (a CA's Retry-After is honoured beyond it).
        keep_versions (int): Certificate versions kept per certificate (>= 1).
        certificate (tuple[AcmeCertificateConfig, ...]): ``[[acme.certificate]]``.
        http_listen (str | None): ``ADDR:PORT`` of the daemon's HTTP listener for ``/health``,
            ``/ready`` and ``/metrics`` (README "Observability"); None: no listener.
        log_format (str): ``text`` (default) or ``json`` (one object per line).
    """

    directory: str = _field("letsencrypt", check=_directory_problem)
    ca_bundle: str | None = _field(None, check=non_empty)
    email: str | None = _field(None, check=non_empty)
    agree_terms: bool = False
    eab_kid: str | None = _field(None, check=non_empty)
    eab_hmac_key: str | None = _field(None, check=non_empty)
    resolver: str | None = _field(None, check=_resolver_address)
    state_dir: str = _field("/var/lib/dns-suite/acme", check=non_empty)
    propagation_timeout: float = _field(120.0, check=positive_seconds)
    order_timeout: float = _field(90.0, check=positive_seconds)
    ca_connect_timeout: float = _field(10.0, check=positive_seconds)
    ca_request_timeout: float = _field(30.0, check=positive_seconds)
    retry_min: float = _field(60.0, check=positive_seconds)
    retry_max: float = _field(86400.0, check=positive_seconds)
    keep_versions: int = _field(5, check=between(1, 1000))
    certificate: tuple[AcmeCertificateConfig, ...] = _field((), check=_unique_certificates)
    http_listen: str | None = _field(None, check=http_address)
    log_format: str = _field("text", check=one_of("text", "json"))

    @property
    def directory_url(self) -> str:
        """The directory URL (names resolved)."""
        return ACME_DIRECTORIES.get(self.directory, self.directory)


def _acme_problem(cfg: AcmeConfig) -> tuple[str, str] | None:
    """The first rule between keys that ``cfg`` breaks, as ``(key, reason)``; None when none."""
    if (cfg.eab_kid is None) != (cfg.eab_hmac_key is None):
        return "eab_kid", "give both eab_kid and eab_hmac_key, or neither"
    if cfg.retry_min > cfg.retry_max:
        return "retry_min", f"must not exceed retry_max ({cfg.retry_max}), got {cfg.retry_min}"
    for index, cert in enumerate(cfg.certificate):
        key = f"certificate[{index}]"
        if cert.key_secret is not None and cert.key_file is not None:
            return f"{key}.key_secret", "give key_secret or key_file, not both"
        if cert.key_secret is not None and cert.key_name is None:
            return f"{key}.key_name", "key_secret needs key_name"
        if cert.key_name is not None and cert.key_secret is None and cert.key_file is None:
            return f"{key}.key_name", "key_name needs key_secret or key_file"
    return None


def load_acme_config(path: str) -> AcmeConfig:
    """Load the ``[acme]`` table of a TOML config file.

    ``state_dir``, ``ca_bundle`` and each ``key_file`` are resolved against the folder of the
    config file when relative.

    Raises:
        ConfigError: The file cannot be read or parsed, has no ``[acme]`` table, or the table is
            invalid (see :func:`load_section`; also both EAB keys or neither, one key source per
            certificate, ``retry_min <= retry_max``).
    """
    config = load_section(_service_table(path, "acme"), AcmeConfig, file=path, prefix="acme")
    problem = _acme_problem(config)
    if problem is not None:
        raise ConfigError(path, f"acme.{problem[0]}", problem[1])
    base_dir = os.path.dirname(os.path.abspath(path))
    certs = tuple(
        dataclasses.replace(cert, key_file=_resolve_path(base_dir, cert.key_file)) if cert.key_file else cert
        for cert in config.certificate
    )
    return dataclasses.replace(
        config, certificate=certs, state_dir=_resolve_path(base_dir, config.state_dir),
        ca_bundle=_resolve_path(base_dir, config.ca_bundle) if config.ca_bundle else None)
