"""What a SIGHUP reload does to DNSSEC state (Resolver.reconfigure) and the checks on anchors and
client queries found by fresh-eyes QA: statuses judged under old anchors are never served."""

from __future__ import annotations

import dataclasses

import dns.flags
import dns.message
import dns.rcode
import dns.rrset

from dns_suite.resolver.trust import TrustAnchors
from dns_suite.resolver.validate import unusable_anchors
from signedlab import Lab


def reload(lab: Lab, **changes) -> bool:
    settings = dataclasses.replace(lab.resolver.settings, **changes)
    return lab.resolver.reconfigure(settings, lab.resolver.iteration.hints)


def test_removing_a_negative_trust_anchor_stops_serving_the_bogus_data_at_once() -> None:
    lab = Lab(negative_trust_anchors=("expired.example.",))
    assert lab.ask("host.expired.example.", do=True).rcode() == dns.rcode.NOERROR
    assert reload(lab, negative_trust_anchors=()) is True
    assert lab.ask("host.expired.example.", do=True, now=1001.0).rcode() == dns.rcode.SERVFAIL


def test_adding_a_negative_trust_anchor_ends_a_cached_servfail() -> None:
    lab = Lab()
    assert lab.ask("host.expired.example.", do=True).rcode() == dns.rcode.SERVFAIL
    assert reload(lab, negative_trust_anchors=("expired.example.",)) is True
    assert lab.ask("host.expired.example.", do=True, now=1001.0).rcode() == dns.rcode.NOERROR


def test_a_wrong_anchor_after_reload_is_not_covered_by_cached_ad() -> None:
    lab = Lab()
    first = lab.ask("www.example.", do=True)
    assert first.rcode() == dns.rcode.NOERROR and first.flags & dns.flags.AD
    wrong = f". IN DS {lab.root_ds[:-4]}0000"  # one digest octet pair changed
    assert reload(lab, trust_anchors=(wrong,)) is True
    again = lab.ask("www.example.", do=True, now=1001.0)
    assert again.rcode() == dns.rcode.SERVFAIL and not again.flags & dns.flags.AD


def test_other_changes_keep_the_cache() -> None:
    lab = Lab()
    lab.ask("www.example.", do=True)
    asked = lab.upstream
    assert reload(lab, max_ttl=7200) is False
    assert lab.ask("www.example.", do=True, now=1001.0).flags & dns.flags.AD
    assert lab.upstream == asked, "answered from the kept cache"


def test_anchor_with_only_unsupported_digests_or_algorithms_is_reported() -> None:
    anchors = TrustAnchors((), (". IN DS 3 13 9 abcd", "example. IN DS 3 99 2 " + "ab" * 32,
                                "good. IN DS 3 13 2 " + "ab" * 32), ())
    assert sorted(unusable_anchors(anchors)) == [".", "example."]


def test_query_with_records_in_answer_or_authority_is_formerr() -> None:
    lab = Lab()
    for section in ("answer", "authority"):
        query = dns.message.make_query("www.example.", "A", id=7)
        getattr(query, section).append(dns.rrset.from_text("www.example.", 60, "IN", "A", "192.0.2.9"))
        actions = lab.resolver.submit(query.to_wire(), "client", 1000.0)
        assert len(actions) == 1 and dns.message.from_wire(actions[0].wire).rcode() == dns.rcode.FORMERR
    assert lab.upstream == 0


def test_service_warns_of_an_unusable_anchor(caplog) -> None:
    import logging

    from dns_suite.config import ResolverConfig
    from dns_suite.resolver.service import settings_from_config

    with caplog.at_level(logging.WARNING, logger="dns_suite.resolver"):
        settings_from_config(ResolverConfig(trust_anchors=(". IN DS 3 13 9 abcd",)))
    assert "trust anchor for . has no DS digest" in caplog.text


def test_a_bad_anchor_is_reported_with_its_file_or_entry(tmp_path) -> None:
    import pytest

    from dns_suite.config import ResolverConfig
    from dns_suite.resolver.service import settings_from_config
    from dns_suite.resolver.trust import TrustAnchorError

    path = tmp_path / "lab.ds"
    path.write_text("; the lab's root\n. IN DS 1 13 2 " + "ab" * 32 + "\ngarbage here\n")
    with pytest.raises(TrustAnchorError) as info:
        settings_from_config(ResolverConfig(trust_anchor_files=(str(path),)))
    assert str(info.value).startswith(f"{path}: ") and "near line 3" in str(info.value)
    with pytest.raises(TrustAnchorError) as info:
        settings_from_config(ResolverConfig(trust_anchors=(". IN DS 1 13 2 " + "ab" * 32, ". IN DS 1 2")))
    assert str(info.value).startswith("trust_anchors[1]: ")
