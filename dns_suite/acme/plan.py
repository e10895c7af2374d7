"""When to issue or renew each certificate (pure: the time and the randomness are arguments).

How it works: for each configured certificate the agent keeps a small :class:`Memory` (saved in
the certificate's status file) and knows the facts of the certificate in use (:class:`Issued`,
read from its PEM). :func:`decide` turns them, the time ``now`` (wall seconds since the epoch)
and a random source into a :class:`Decision`: act now, or wait until ``at``.

=====================================  ==============================================
situation                              base time of the next attempt
=====================================  ==============================================
``force`` (``renew --force``, issue)   now; backoff and Retry-After ignored
no certificate                         now ("issue")
names differ from the config's         now ("issue")
certificate revoked                    now ("issue")
certificate expired                    now ("renew")
ARI window known for this certificate  a uniform random point of the window
(RFC 9773 §4.2)                        (now when the window has passed)
otherwise                              ``not_before + 2/3 lifetime`` + jitter in
                                       ``[0, min(lifetime/12, 6 h))``
=====================================  ==============================================

The random point is drawn once per window (or per certificate) and kept in the memory
(``renew_at`` with the ``renew_basis`` it was drawn from), so waking up again does not draw a
new time. After a failed attempt the next one waits: ``retry_min * 2**(failures-1)`` seconds,
capped at ``retry_max``, with up to +25 % jitter, and never before the CA's ``Retry-After``
(:func:`after_failure`). The attempt is at ``max(base, retry_at)``: never a tight loop.

ARI (RFC 9773): when the CA's directory has ``renewalInfo``, :func:`ari_due` says when to fetch
the certificate's renewal information again (first at once, then after the response's
``Retry-After`` clamped to 1 minute .. 1 day, 6 hours without one; RFC 9773 §4.3), and
:func:`with_renewal_info` stores the suggested window. A renewal then names the certificate it
replaces (``Decision.replaces``, the :func:`ari_cert_id` of RFC 9773 §4.1).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import email.utils
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Decision", "Issued", "Memory", "Policy", "Window", "after_ari_failure", "after_failure",
           "after_success", "ari_cert_id", "ari_due", "decide", "memory_from_json", "memory_to_json",
           "parse_retry_after", "with_renewal_info"]

Rand = Callable[[], float]
"""A source of uniform random floats in [0, 1) (``secrets.SystemRandom().random`` in production)."""

JITTER_CAP = 6 * 3600  # seconds: the most the 2/3-of-lifetime time is pushed back
ARI_DEFAULT_POLL = 6 * 3600  # seconds between ARI fetches when the CA sends no Retry-After
ARI_MIN_POLL, ARI_MAX_POLL = 60, 86400  # seconds: Retry-After of an ARI response clamped to these
ARI_ERROR_POLL = 3600  # seconds before fetching ARI again after a failed fetch
LATEST_FRACTION = 0.9  # an ARI window is never followed past this fraction of the lifetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    """The certificate in use.

    Attributes:
        names: Its DNS names (subjectAltName), as issued.
        not_before: Start of validity, wall seconds since the epoch.
        not_after: End of validity, wall seconds since the epoch.
        ari_id: Its RFC 9773 §4.1 identifier (:func:`ari_cert_id`), or None without an
            Authority Key Identifier.
    """

    names: tuple[str, ...]
    not_before: int
    not_after: int
    ari_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """An ARI ``suggestedWindow`` (RFC 9773 §4.2), wall seconds since the epoch, start <= end."""

    start: int
    end: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory:
    """What the plan remembers about one certificate between runs (its status file).

    Attributes:
        renew_at: The renewal time drawn from ``renew_basis`` (wall seconds), or None.
        renew_basis: What ``renew_at`` was drawn from (``"ari:START:END"``,
            ``"life:NOT_BEFORE:NOT_AFTER"``); a different basis draws again.
        failures: Failed attempts since the last success.
        retry_at: Earliest wall time of the next attempt after a failure (backoff, Retry-After).
        last_error: The last failure, in words (with the CA's problem document), or None.
        last_error_at: Its wall time.
        window: The ARI window last fetched, for the certificate ``window_for``.
        window_for: The ARI identifier of the certificate ``window`` belongs to.
        ari_fetch_at: When to fetch ARI again (wall seconds); None: at once.
        revoked: The certificate in use was revoked (``dns-suite acme revoke``).
    """

    renew_at: int | None = None
    renew_basis: str = ""
    failures: int = 0
    retry_at: int | None = None
    last_error: str | None = None
    last_error_at: int | None = None
    window: Window | None = None
    window_for: str | None = None
    ari_fetch_at: int | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Retry timing after failures.

    Attributes:
        retry_min: Delay after the first failure, seconds (> 0).
        retry_max: Longest delay the backoff reaches, seconds (a CA's Retry-After may be longer).
    """

    retry_min: float = 60.0
    retry_max: float = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What to do for one certificate.

    Attributes:
        due: Act now.
        at: When to act, wall seconds (``<= now`` when due).
        action: ``"issue"`` (no usable certificate) or ``"renew"``.
        reason: Why, in words (``"no certificate"``, ``"ARI window 2025-01-02T04:00:00Z .."``).
        replaces: The ARI identifier of the certificate being replaced, to send as the new
            order's ``replaces`` (RFC 9773 §5), or None.
        memory: The memory with the drawn renewal time; save it.
    """

    due: bool
    at: int
    action: str
    reason: str
    replaces: str | None
    memory: Memory


def ari_cert_id(key_identifier: bytes, serial: int) -> str:
    """The ARI certificate identifier (RFC 9773 §4.1).

    Args:
        key_identifier: The keyIdentifier of the certificate's Authority Key Identifier.
        serial: The certificate's serial number (a positive integer).

    Returns:
        ``base64url(keyIdentifier) "." base64url(DER serial octets)``, without padding; the DER
        octets keep a leading zero when the top bit is set (a positive INTEGER).
    """
    octets = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")

    return f"{b64(key_identifier)}.{b64(octets)}"


def parse_retry_after(value: str | None, now: int) -> int | None:
    """A ``Retry-After`` header (RFC 9110 §10.2.3) as a wall time.

    Args:
        value: delta-seconds (``"120"``) or an HTTP-date; None when absent.
        now: The wall time the response arrived, seconds.

    Returns:
        Wall seconds since the epoch, or None when absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return now + int(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return int(when.timestamp())


def _rfc3339(text: Any) -> int:
    """An RFC 3339 time (``2025-01-02T04:00:00Z``, fractions allowed) as wall seconds."""
    if not isinstance(text, str):
        raise ValueError(f"expected an RFC 3339 time, got {text!r}")
    when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"RFC 3339 time without an offset: {text!r}")
    return int(when.timestamp())


def _iso(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ari_due(issued: Issued | None, memory: Memory, *, now: int, offered: bool) -> bool:
    """Whether to fetch the certificate's renewal information now (RFC 9773 §4.3).

    Args:
        issued: The certificate in use, or None.
        memory: Its memory.
        now: Wall seconds.
        offered: The CA's directory has ``renewalInfo``.

    Returns:
        True when ARI is offered, the certificate has an identifier, is neither expired nor
        revoked (§4.3: no ARI after expiry), and the memory holds no window for it or the
        Retry-After time has come.
    """
    if not offered or issued is None or issued.ari_id is None or memory.revoked:
        return False
    if now >= issued.not_after:
        return False
    if memory.window_for != issued.ari_id:
        return True
    return memory.ari_fetch_at is None or now >= memory.ari_fetch_at


def with_renewal_info(memory: Memory, issued: Issued, body: Mapping[str, Any], retry_after: str | None,
                      *, now: int) -> Memory:
    """Store a renewalInfo response (RFC 9773 §4.2) in the memory.

    Args:
        memory: The certificate's memory.
        issued: The certificate the response is about.
        body: The parsed JSON body: ``{"suggestedWindow": {"start": T, "end": T},
            "explanationURL": ...}`` with RFC 3339 times.
        retry_after: The response's ``Retry-After`` header, or None.
        now: Wall seconds when the response arrived.

    Returns:
        The memory with the window and the next fetch time (Retry-After clamped to 1 minute ..
        1 day; 6 hours when absent).

    Raises:
        ValueError: The body is not a valid renewalInfo object (no window, bad times, end
            before start; §4.2 says to treat it as absent).
    """
    window = body.get("suggestedWindow") if isinstance(body, Mapping) else None
    if not isinstance(window, Mapping):
        raise ValueError("renewalInfo without a suggestedWindow object")
    start, end = _rfc3339(window.get("start")), _rfc3339(window.get("end"))
    if end < start:
        raise ValueError(f"suggestedWindow ends ({_iso(end)}) before it starts ({_iso(start)})")
    until = parse_retry_after(retry_after, now)
    poll = ARI_DEFAULT_POLL if until is None else min(max(until - now, ARI_MIN_POLL), ARI_MAX_POLL)
    return dataclasses.replace(memory, window=Window(start=start, end=end), window_for=issued.ari_id,
                               ari_fetch_at=now + poll)


def after_ari_failure(memory: Memory, *, now: int) -> Memory:
    """After a failed renewalInfo fetch: keep any known window, fetch again in an hour."""
    return dataclasses.replace(memory, ari_fetch_at=now + ARI_ERROR_POLL)


def after_failure(memory: Memory, *, now: int, error: str, retry_after: int | None, rand: Rand,
                  policy: Policy = Policy()) -> Memory:
    """After a failed attempt: count it and set the earliest next attempt.

    Args:
        memory: The certificate's memory.
        now: Wall seconds of the failure.
        error: What went wrong, in words.
        retry_after: The CA's Retry-After as a wall time (:func:`parse_retry_after`), or None.
        rand: Random floats in [0, 1).
        policy: Backoff bounds.

    Returns:
        The memory with ``failures + 1`` and ``retry_at = max(now + backoff, retry_after)``;
        backoff ``min(retry_min * 2**(failures-1), retry_max)`` plus up to 25 % (still capped).
    """
    failures = memory.failures + 1
    delay = min(policy.retry_min * 2.0 ** min(failures - 1, 62), policy.retry_max)
    delay = min(delay * (1.0 + 0.25 * rand()), policy.retry_max)
    retry_at = now + max(1, int(delay))
    if retry_after is not None:
        retry_at = max(retry_at, retry_after)
    return dataclasses.replace(memory, failures=failures, retry_at=retry_at, last_error=error,
                               last_error_at=now)


def after_success(memory: Memory) -> Memory:
    """After a certificate was issued and stored: a fresh memory (ARI fetched again at once)."""
    del memory
    return Memory()


def _same_names(wanted: Iterable[str], issued: Iterable[str]) -> bool:
    def norm(names: Iterable[str]) -> set[str]:
        return {name.lower().rstrip(".") for name in names}

    return norm(wanted) == norm(issued)


def _scheduled(issued: Issued, memory: Memory, *, ari: bool, rand: Rand) -> tuple[int, str, str]:
    """The renewal time of a valid certificate: ``(time, basis, reason)``."""
    lifetime = max(issued.not_after - issued.not_before, 0)
    window = memory.window if ari and memory.window_for == issued.ari_id else None
    if window is not None:
        basis = f"ari:{window.start}:{window.end}"
        reason = f"ARI window {_iso(window.start)} .. {_iso(window.end)}"
    else:
        basis = f"life:{issued.not_before}:{issued.not_after}"
        reason = "2/3 of the lifetime"
    if memory.renew_basis == basis and memory.renew_at is not None:
        return memory.renew_at, basis, reason
    if window is not None:
        drawn = window.start + int((window.end - window.start) * rand())
        drawn = min(drawn, issued.not_before + int(lifetime * LATEST_FRACTION))
    else:
        jitter = int(min(lifetime / 12, JITTER_CAP) * rand())
        drawn = issued.not_before + (lifetime * 2) // 3 + jitter
    return drawn, basis, reason


def decide(wanted: Iterable[str], issued: Issued | None, memory: Memory, *, now: int, rand: Rand,
           ari: bool = False, force: bool = False) -> Decision:
    """What to do for one certificate at ``now`` (see the module docstring's table).

    Args:
        wanted: The configured names (wildcards as ``*.example.test``).
        issued: The certificate in use, or None.
        memory: Its memory (from the status file; ``Memory()`` when there is none).
        now: Wall seconds since the epoch.
        rand: Random floats in [0, 1) (drawn only when a new renewal time is needed).
        ari: The CA offers renewalInfo (then ``replaces`` names the old certificate).
        force: Act now whatever the schedule, backoff and Retry-After say.

    Returns:
        The decision, with the memory to save.
    """
    renew_at, basis = memory.renew_at, memory.renew_basis
    if issued is None:
        base, action, reason = now, "issue", "no certificate"
    elif not _same_names(wanted, issued.names):
        base, action, reason = now, "issue", "the configured names differ from the certificate's"
    elif memory.revoked:
        base, action, reason = now, "issue", "the certificate was revoked"
    elif now >= issued.not_after:
        base, action, reason = now, "renew", f"expired at {_iso(issued.not_after)}"
    else:
        renew_at, basis, reason = _scheduled(issued, memory, ari=ari, rand=rand)
        base, action = renew_at, "renew"
        if base <= now and reason.startswith("ARI"):
            reason += " (renew now)"
    memory = dataclasses.replace(memory, renew_at=renew_at, renew_basis=basis)
    replaces = issued.ari_id if ari and issued is not None else None
    if force:
        return Decision(due=True, at=now, action=action, reason="forced", replaces=replaces, memory=memory)
    at = base
    if memory.retry_at is not None and memory.failures:
        at = max(at, memory.retry_at)
        if memory.retry_at > base:
            reason += f"; retry after failure {memory.failures}"
    return Decision(due=at <= now, at=at, action=action, reason=reason, replaces=replaces, memory=memory)


# --------------------------------------------------------------------------- the status file


def memory_to_json(memory: Memory) -> dict[str, Any]:
    """The memory as a JSON-ready dict (the window as ``{"start": s, "end": s}``)."""
    return dataclasses.asdict(memory)


def memory_from_json(data: Mapping[str, Any]) -> Memory:
    """A memory read back from :func:`memory_to_json`'s dict; unknown keys are ignored.

    Raises:
        ValueError: A known key has a value of the wrong type.
    """
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Memory):
        if field.name not in data or data[field.name] is None:
            continue
        value = data[field.name]
        if field.name == "window":
            if not isinstance(value, Mapping):
                raise ValueError("window: expected an object")
            value = Window(start=int(value["start"]), end=int(value["end"]))
        elif field.name in ("renew_basis", "last_error", "window_for"):
            if not isinstance(value, str):
                raise ValueError(f"{field.name}: expected a string")
        elif field.name == "revoked":
            value = bool(value)
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{field.name}: expected a number")
            value = int(value)
        values[field.name] = value
    return Memory(**values)
