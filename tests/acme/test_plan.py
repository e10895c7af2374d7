"""The renewal plan (dns_suite.acme.plan): tables of situations, ARI from a recorded response."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dns_suite.acme.plan import (Issued, Memory, Policy, Window, after_ari_failure, after_failure, after_success,
                                 ari_cert_id, ari_due, decide, memory_from_json, memory_to_json,
                                 parse_retry_after, with_renewal_info)

DAY = 86400
T0 = 1_735_689_600  # 2025-01-01T00:00:00Z
NAMES = ("example.test", "*.example.test", "www.example.test")
# a 90-day certificate issued at T0 (2/3 of its life: day 60)
CERT = Issued(names=NAMES, not_before=T0, not_after=T0 + 90 * DAY, ari_id="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")


def fixed(value: float):
    """A random source that always returns ``value``, counting its calls."""

    def rand() -> float:
        rand.calls += 1
        return value

    rand.calls = 0
    return rand


# A renewalInfo response as a CA serves it (RFC 9773 §4.2's example: status line, headers, body),
# for the certificate of RFC 9773 §4.1 (AKI keyIdentifier 69:88:5B:...:C8:D4, serial 00:87:65:43:21).
RECORDED_ARI = {
    "url": "https://acme.example.com/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
    "status": 200,
    "headers": {"Content-Type": "application/json", "Retry-After": "21600"},
    "body": """{
  "suggestedWindow": {
    "start": "2025-01-02T04:00:00Z",
    "end": "2025-01-03T04:00:00Z"
  },
  "explanationURL": "https://acme.example.com/docs/ari"
}""",
}
WIN_START, WIN_END = 1_735_790_400, 1_735_876_800  # 2025-01-02T04:00:00Z, 2025-01-03T04:00:00Z


def test_ari_cert_id_is_rfc9773_example() -> None:
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    assert ari_cert_id(aki, 0x87654321) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"  # leading 00: positive INTEGER
    assert ari_cert_id(b"\x01", 0x7F) == "AQ.fw"
    assert ari_cert_id(b"\x01", 0x80) == "AQ.AIA"


@pytest.mark.parametrize(("value", "expected"), [
    (None, None),
    ("120", T0 + 120),
    (" 0 ", T0),
    ("Wed, 01 Jan 2025 00:10:00 GMT", T0 + 600),
    ("soon", None),
    ("-5", None),
])
def test_parse_retry_after(value, expected) -> None:
    assert parse_retry_after(value, T0) == expected


def test_recorded_ari_response_sets_window_and_next_fetch() -> None:
    body = json.loads(RECORDED_ARI["body"])
    memory = with_renewal_info(Memory(), CERT, body, RECORDED_ARI["headers"]["Retry-After"], now=T0)
    assert memory.window == Window(start=WIN_START, end=WIN_END)
    assert memory.window_for == CERT.ari_id
    assert memory.ari_fetch_at == T0 + 21600
    rand = fixed(0.25)
    decision = decide(NAMES, CERT, memory, now=T0, rand=rand, ari=True)
    assert decision.at == WIN_START + DAY // 4 and not decision.due
    assert decision.reason.startswith("ARI window 2025-01-02T04:00:00Z .. 2025-01-03T04:00:00Z")
    assert decision.replaces == CERT.ari_id
    # the point is drawn once: the saved memory gives the same time without drawing again
    again = decide(NAMES, CERT, decision.memory, now=T0 + 3600, rand=rand, ari=True)
    assert again.at == decision.at and rand.calls == 1
    assert decide(NAMES, CERT, decision.memory, now=decision.at, rand=rand, ari=True).due


@pytest.mark.parametrize(("retry_after", "poll"), [
    (None, 21600),             # no header: 6 hours
    ("5", 60),                 # clamped up to a minute
    ("604800", 86400),         # clamped down to a day
    ("Wed, 01 Jan 2025 01:00:00 GMT", 3600),
])
def test_ari_retry_after_clamped(retry_after, poll) -> None:
    body = json.loads(RECORDED_ARI["body"])
    assert with_renewal_info(Memory(), CERT, body, retry_after, now=T0).ari_fetch_at == T0 + poll


@pytest.mark.parametrize("body", [
    {},
    {"suggestedWindow": "tomorrow"},
    {"suggestedWindow": {"start": "2025-01-03T04:00:00Z", "end": "2025-01-02T04:00:00Z"}},
    {"suggestedWindow": {"start": "2025-01-02T04:00:00", "end": "2025-01-03T04:00:00Z"}},  # no offset
    {"suggestedWindow": {"start": 1735790400, "end": 1735876800}},
])
def test_bad_renewal_info_refused(body) -> None:
    with pytest.raises(ValueError):
        with_renewal_info(Memory(), CERT, body, None, now=T0)


def test_fractional_seconds_accepted() -> None:
    body = {"suggestedWindow": {"start": "2025-01-02T04:00:00.123456789Z", "end": "2025-01-03T04:00:00.5Z"}}
    assert with_renewal_info(Memory(), CERT, body, None, now=T0).window == Window(start=WIN_START, end=WIN_END)


WINDOW_MEMORY = Memory(window=Window(start=WIN_START, end=WIN_END), window_for=CERT.ari_id, ari_fetch_at=T0 + 21600)

# (case, wanted names, issued, memory, now, ari, force, rand) -> (due, at, action, reason fragment, replaces)
DECIDE_CASES = [
    ("no certificate", NAMES, None, Memory(), T0, False, False, 0.5,
     (True, T0, "issue", "no certificate", None)),
    ("no certificate, ARI offered: nothing to replace", NAMES, None, Memory(), T0, True, False, 0.5,
     (True, T0, "issue", "no certificate", None)),
    ("names changed", ("example.test",), CERT, Memory(), T0 + DAY, False, False, 0.5,
     (True, T0 + DAY, "issue", "names differ", None)),
    ("names equal up to case, order and final dot", ("WWW.example.test.", "*.example.test", "example.test"),
     CERT, Memory(), T0 + DAY, False, False, 0.0,
     (False, T0 + 60 * DAY, "renew", "2/3 of the lifetime", None)),
    ("revoked", NAMES, CERT, Memory(revoked=True), T0 + DAY, False, False, 0.5,
     (True, T0 + DAY, "issue", "revoked", None)),
    ("expired", NAMES, CERT, Memory(), T0 + 91 * DAY, False, False, 0.5,
     (True, T0 + 91 * DAY, "renew", "expired at 2025-04-01T00:00:00Z", None)),
    ("2/3 of the lifetime, no jitter", NAMES, CERT, Memory(), T0, False, False, 0.0,
     (False, T0 + 60 * DAY, "renew", "2/3 of the lifetime", None)),
    ("2/3 of the lifetime, most jitter (6 h cap)", NAMES, CERT, Memory(), T0, False, False, 0.999999,
     (False, T0 + 60 * DAY + 21599, "renew", "2/3 of the lifetime", None)),
    ("short-lived (2 days): jitter below lifetime/12", NAMES,
     dataclasses.replace(CERT, not_after=T0 + 2 * DAY), Memory(), T0, False, False, 0.5,
     (False, T0 + 32 * 3600 + 2 * 3600, "renew", "2/3", None)),
    ("at 2/3: due", NAMES, CERT, Memory(), T0 + 60 * DAY, False, False, 0.0,
     (True, T0 + 60 * DAY, "renew", "2/3", None)),
    ("ARI window ahead", NAMES, CERT, WINDOW_MEMORY, T0, True, False, 0.5,
     (False, WIN_START + DAY // 2, "renew", "ARI window", CERT.ari_id)),
    ("ARI window passed: now", NAMES, CERT, WINDOW_MEMORY, WIN_END + 10, True, False, 0.5,
     (True, WIN_START + DAY // 2, "renew", "(renew now)", CERT.ari_id)),
    ("ARI window of another certificate: lifetime", NAMES, CERT,
     dataclasses.replace(WINDOW_MEMORY, window_for="other.id"), T0, True, False, 0.0,
     (False, T0 + 60 * DAY, "renew", "2/3", CERT.ari_id)),
    ("ARI offered, no window yet: lifetime, still replaces", NAMES, CERT, Memory(), T0, True, False, 0.0,
     (False, T0 + 60 * DAY, "renew", "2/3", CERT.ari_id)),
    ("ARI window known but the CA no longer offers ARI", NAMES, CERT, WINDOW_MEMORY, T0, False, False, 0.0,
     (False, T0 + 60 * DAY, "renew", "2/3", None)),
    ("ARI window after expiry: capped at 90 % of the lifetime", NAMES, CERT,
     dataclasses.replace(WINDOW_MEMORY, window=Window(start=T0 + 100 * DAY, end=T0 + 101 * DAY)),
     T0, True, False, 0.0,
     (False, T0 + 81 * DAY, "renew", "ARI", CERT.ari_id)),
    ("failure backoff past the base time", NAMES, None, Memory(failures=2, retry_at=T0 + 120), T0 + 60,
     False, False, 0.5, (False, T0 + 120, "issue", "retry after failure 2", None)),
    ("backoff over", NAMES, None, Memory(failures=2, retry_at=T0 + 120), T0 + 120, False, False, 0.5,
     (True, T0 + 120, "issue", "no certificate", None)),
    ("backoff before the renewal time changes nothing", NAMES, CERT, Memory(failures=1, retry_at=T0 + 60),
     T0, False, False, 0.0, (False, T0 + 60 * DAY, "renew", "2/3", None)),
    ("force ignores schedule and backoff", NAMES, CERT, Memory(failures=3, retry_at=T0 + DAY), T0, True, True,
     0.0, (True, T0, "renew", "forced", CERT.ari_id)),
]


@pytest.mark.parametrize("case", DECIDE_CASES, ids=[c[0] for c in DECIDE_CASES])
def test_decide(case) -> None:
    _, wanted, issued, memory, now, ari, force, value, (due, at, action, reason, replaces) = case
    decision = decide(wanted, issued, memory, now=now, rand=fixed(value), ari=ari, force=force)
    assert (decision.due, decision.at, decision.action, decision.replaces) == (due, at, action, replaces)
    assert reason in decision.reason


# (case, failures before, Retry-After (wall), rand) -> delay from now
BACKOFF_CASES = [
    ("first failure", 0, None, 0.0, 60),
    ("second", 1, None, 0.0, 120),
    ("fifth", 4, None, 0.0, 960),
    ("jitter adds up to 25 %", 1, None, 0.999, 149),
    ("capped at retry_max", 30, None, 0.0, 3600),
    ("cap holds with jitter", 30, None, 0.999, 3600),
    ("Retry-After longer than the backoff wins", 0, T0 + 7200, 0.0, 7200),
    ("Retry-After beyond retry_max is honoured", 0, T0 + 5 * DAY, 0.0, 5 * DAY),
    ("Retry-After shorter than the backoff loses", 2, T0 + 10, 0.0, 240),
]


@pytest.mark.parametrize("case", BACKOFF_CASES, ids=[c[0] for c in BACKOFF_CASES])
def test_after_failure(case) -> None:
    _, failures, retry_after, value, delay = case
    policy = Policy(retry_min=60, retry_max=3600)
    memory = after_failure(Memory(failures=failures), now=T0, error="boom", retry_after=retry_after,
                           rand=fixed(value), policy=policy)
    assert memory.failures == failures + 1
    assert memory.retry_at == T0 + delay
    assert (memory.last_error, memory.last_error_at) == ("boom", T0)


def test_failing_ca_is_never_a_tight_loop() -> None:
    """A CA that always fails: attempts spread out, doubling up to the cap, whatever the clock does."""
    policy = Policy(retry_min=1.0, retry_max=300.0)
    memory, now, attempts = Memory(), T0, []
    for _ in range(40):
        decision = decide(NAMES, None, memory, now=now, rand=fixed(0.5))
        if not decision.due:
            now = decision.at  # a daemon sleeps until then
            continue
        attempts.append(now)
        memory = after_failure(decision.memory, now=now, error="CA down", retry_after=None, rand=fixed(0.5),
                               policy=policy)
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert all(gap >= 1 for gap in gaps)
    assert gaps == sorted(gaps) and gaps[-1] == 300
    assert len(attempts) <= 21  # 40 wake-ups, about half of them attempts


def test_success_resets_and_ari_due() -> None:
    memory = after_success(Memory(failures=5, retry_at=T0 + 99, last_error="x", revoked=True))
    assert memory == Memory()
    # ARI is fetched for a valid certificate without a window, then after Retry-After
    assert ari_due(CERT, Memory(), now=T0, offered=True)
    assert not ari_due(CERT, Memory(), now=T0, offered=False)
    assert not ari_due(None, Memory(), now=T0, offered=True)
    assert not ari_due(dataclasses.replace(CERT, ari_id=None), Memory(), now=T0, offered=True)
    assert not ari_due(CERT, Memory(), now=CERT.not_after, offered=True)  # §4.3: never after expiry
    assert not ari_due(CERT, Memory(revoked=True), now=T0, offered=True)
    assert not ari_due(CERT, WINDOW_MEMORY, now=T0 + 21599, offered=True)
    assert ari_due(CERT, WINDOW_MEMORY, now=T0 + 21600, offered=True)
    failed = after_ari_failure(WINDOW_MEMORY, now=T0 + 21600)
    assert failed.window == WINDOW_MEMORY.window and failed.ari_fetch_at == T0 + 21600 + 3600


def test_memory_json_round_trip() -> None:
    memory = Memory(renew_at=T0, renew_basis="ari:1:2", failures=2, retry_at=T0 + 5, last_error="e",
                    last_error_at=T0, window=Window(start=1, end=2), window_for="a.b", ari_fetch_at=T0 + 9,
                    revoked=True)
    text = json.dumps(memory_to_json(memory))
    assert memory_from_json(json.loads(text)) == memory
    assert memory_from_json({}) == Memory()
    assert memory_from_json({"unknown": 1, "failures": 3}) == Memory(failures=3)
    for bad in ({"failures": "3"}, {"window": [1, 2]}, {"last_error": 5}, {"retry_at": True}):
        with pytest.raises((ValueError, KeyError, TypeError)):
            memory_from_json(bad)
