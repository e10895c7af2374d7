"""A deterministic generated zone (>= 10,000 names) for the differential test against NSD.

:func:`generate_zone` writes ``gen.test.`` and its served child ``kid.gen.test.`` from a seed:
hosts with A/AAAA/TXT/MX/SRV at depths 1 to 4 (so empty non-terminals appear), CNAMEs (to hosts,
to other CNAMEs, to names that do not exist, to wildcards, to another served zone, out of the
served zones, and one loop), wildcards (with explicit children, with deeper data that makes the
wildcard's children empty non-terminals, with CNAME), delegations (in-domain glue with A and AAAA,
out-of-zone name servers, sibling glue, DS at the parent side, occluded data below the cut),
DNAMEs (to subtrees of the zone, to another served zone, out of the served zones), large TXT and NS
RRsets for truncation, and the served child zone with its DS in the parent.

Only the seed is committed; the files are written into a test's temporary directory.
"""

from __future__ import annotations

import random
from pathlib import Path

ORIGIN = "gen.test."
KID = "kid.gen.test."
SEED = 20261129
_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
          "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
          "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu"]
_TTLS = [60, 300, 600, 3600, 7200, 86400]


def _ttl(rng: random.Random) -> int:
    return rng.choice(_TTLS)


def _txt(rng: random.Random, n: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 -=.;"
    s = "".join(rng.choice(alphabet) for _ in range(n))
    return '"' + s.replace(";", "\\059") + '"'


def _v4(rng: random.Random) -> str:
    return f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randrange(1, 255)}"


def _v6(rng: random.Random) -> str:
    return f"2001:db8:{rng.randrange(0, 0xffff):x}::{rng.randrange(1, 0xffff):x}"


def generate_zone(directory: Path, seed: int = SEED) -> dict[str, Path]:
    """Write the generated zones into ``directory``.

    Returns:
        {origin: path} for ``gen.test.`` and ``kid.gen.test.``.
    """
    rng = random.Random(seed)
    out: list[str] = []
    add = out.append
    add(f"$ORIGIN {ORIGIN}")
    add("$TTL 3600")
    add("@ 3600 IN SOA ns1 hostmaster 2026112901 7200 1800 1209600 900")
    add("@ 3600 IN NS ns1")
    add("@ 3600 IN NS ns2")
    add("@ 3600 IN MX 10 mx1")
    add('@ 3600 IN TXT "generated zone, seed ' + str(seed) + '"')
    for n in ("ns1", "ns2", "mx1"):
        add(f"{n} 3600 IN A {_v4(rng)}")
        add(f"{n} 3600 IN AAAA {_v6(rng)}")

    hosts: list[str] = []  # relative names of hosts owning A (targets for CNAME, MX, SRV)
    # Hosts at depth 1..4: grp/sub levels hold no data of their own (empty non-terminals).
    for i in range(7000):
        depth = rng.choice([1, 1, 1, 2, 2, 3, 4])
        labels = [f"h{i}"]
        if depth >= 2:
            labels.append(f"g{rng.randrange(60)}")
        if depth >= 3:
            labels.insert(1, f"s{rng.randrange(8)}")
        if depth >= 4:
            labels.insert(1, rng.choice(_WORDS))
        name = ".".join(labels)
        ttl = _ttl(rng)
        roll = rng.random()
        if roll < 0.85:
            add(f"{name} {ttl} IN A {_v4(rng)}")
            if rng.random() < 0.15:
                add(f"{name} {ttl} IN A {_v4(rng)}")
            hosts.append(name)
        if roll > 0.5:
            add(f"{name} {_ttl(rng)} IN AAAA {_v6(rng)}")
        if rng.random() < 0.2:
            add(f"{name} {_ttl(rng)} IN TXT {_txt(rng, rng.randrange(1, 80))}")
        if rng.random() < 0.08 and hosts:
            t = _ttl(rng)
            for pref in range(rng.randrange(1, 4)):
                target = rng.choice(hosts + ["mx.example.net.", "mail.example.test."])
                add(f"{name} {t} IN MX {10 * (pref + 1)} {target}")
        if rng.random() < 0.04 and hosts:
            t = _ttl(rng)
            for k in range(rng.randrange(1, 3)):
                add(f"_sip._tcp.{name} {t} IN SRV {k} 5 5060 {rng.choice(hosts)}")
        if rng.random() < 0.02:
            add(f"{name} {_ttl(rng)} IN HINFO \"PC\" \"Linux\"")

    # Large RRsets: TC at 512 octets, some also at 1232.
    for i in range(20):
        t = _ttl(rng)
        for k in range(rng.randrange(4, 30)):
            add(f"big{i} {t} IN TXT {_txt(rng, rng.randrange(60, 200))}")

    # Wildcards.
    wild: list[str] = []
    for i in range(120):
        base = f"w{i}"
        wild.append(base)
        kind = i % 6
        t = _ttl(rng)
        if kind == 5:
            add(f"*.{base} {t} IN CNAME {rng.choice(hosts)}")
        else:
            add(f"*.{base} {t} IN A {_v4(rng)}")
            if kind in (1, 3):
                add(f"*.{base} {_ttl(rng)} IN AAAA {_v6(rng)}")
            if kind in (2, 3):
                add(f"*.{base} {_ttl(rng)} IN TXT {_txt(rng, 20)}")
            if kind == 4:
                add(f"*.{base} {_ttl(rng)} IN MX 10 {rng.choice(hosts)}")
        if i % 3 == 0:
            add(f"{base} {_ttl(rng)} IN A {_v4(rng)}")  # the wildcard's parent owns data
        if i % 4 == 0:
            add(f"real.{base} {_ttl(rng)} IN A {_v4(rng)}")  # an explicit child
        if i % 5 == 0:
            add(f"x.ent.{base} {_ttl(rng)} IN TXT \"blocks synthesis at ent.{base}\"")
        if i % 7 == 0:
            add(f"a.*.{base} {_ttl(rng)} IN A {_v4(rng)}")  # data below the wildcard

    # DNAME targets: small subtrees.
    for i in range(40):
        for child in ("a", "b", "c.deep"):
            add(f"{child}.tgt{i} {_ttl(rng)} IN A {_v4(rng)}")
        if i % 2:
            add(f"tgt{i} {_ttl(rng)} IN TXT \"target {i}\"")
        if i % 5 == 0:
            add(f"cn.tgt{i} {_ttl(rng)} IN CNAME {rng.choice(hosts)}")

    # DNAMEs.
    for i in range(80):
        t = _ttl(rng)
        kind = i % 5
        target = {0: f"tgt{rng.randrange(40)}.{ORIGIN}", 1: f"tgt{rng.randrange(40)}.{ORIGIN}",
                  2: "example.test.", 3: "example.net.", 4: f"{rng.choice(hosts)}.{ORIGIN}"}[kind]
        owner = f"dn{i}" if i % 3 else f"dn{i}.g{rng.randrange(60)}"
        add(f"{owner} {t} IN DNAME {target}")
        if i % 4 == 0:
            add(f"{owner} {_ttl(rng)} IN A {_v4(rng)}")  # data beside the DNAME

    # CNAMEs.
    cnames: list[str] = []
    for i in range(1500):
        kind = rng.random()
        if kind < 0.5 or not cnames:
            target = rng.choice(hosts)
        elif kind < 0.62:
            target = rng.choice(cnames)
        elif kind < 0.72:
            target = f"nx{i}"
        elif kind < 0.8:
            target = f"any{i}.{rng.choice(wild)}"
        elif kind < 0.85:
            target = rng.choice(["www.example.test.", "nothere.example.test.", "ftp.example.test."])
        elif kind < 0.92:
            target = rng.choice(["www.example.net.", "host.example.com."])
        else:
            target = f"x{i}.dn{rng.choice([j for j in range(80) if j % 3])}"
        name = f"c{i}" if i % 4 else f"c{i}.g{rng.randrange(60)}"
        add(f"{name} {_ttl(rng)} IN CNAME {target}")
        cnames.append(name)
    add("loopa IN CNAME loopb")
    add("loopb IN CNAME loopa")

    # Delegations.
    glued: list[str] = []
    for i in range(600):
        cut = f"d{i}"
        t = _ttl(rng)
        kind = i % 6
        if kind in (0, 1, 2):
            for ns in ("ns1", "ns2")[: 1 + (i % 2)]:
                add(f"{cut} {t} IN NS {ns}.{cut}")
                add(f"{ns}.{cut} {_ttl(rng)} IN A {_v4(rng)}")
                if kind != 2:
                    add(f"{ns}.{cut} {_ttl(rng)} IN AAAA {_v6(rng)}")
                glued.append(f"{ns}.{cut}")
        elif kind == 3:
            add(f"{cut} {t} IN NS ns1.example.net.")
            add(f"{cut} {t} IN NS ns2.example.net.")
        elif kind == 4 and glued:
            add(f"{cut} {t} IN NS {rng.choice(glued)}")  # sibling glue
            add(f"{cut} {t} IN NS ns1")
        else:
            add(f"{cut} {t} IN NS ns1")
            add(f"{cut} {t} IN NS ns.example.net.")
        if i % 3 == 0:
            add(f"{cut} {_ttl(rng)} IN DS {rng.randrange(65536)} 13 2 "
                f"{rng.getrandbits(256):064X}")
        if i % 50 == 7:
            add(f"occluded.{cut} {_ttl(rng)} IN TXT \"below the cut: not served\"")
    # A delegation with many NS and glue: TC at 512 octets without EDNS.
    for k in range(14):
        add(f"wide IN NS ns{k}.wide")
        add(f"ns{k}.wide IN A {_v4(rng)}")
        add(f"ns{k}.wide IN AAAA {_v6(rng)}")

    # The served child zone.
    add(f"kid 3600 IN NS ns1.kid")
    add(f"kid 3600 IN DS 4242 13 2 {rng.getrandbits(256):064X}")
    kid_ns = _v4(rng)
    add(f"ns1.kid 3600 IN A {kid_ns}")

    gen = directory / "gen.test.zone"
    gen.write_text("\n".join(out) + "\n")

    kid: list[str] = [f"$ORIGIN {KID}", "$TTL 1800",
                      "@ IN SOA ns1 hostmaster 1 7200 1800 1209600 120",
                      "@ IN NS ns1", f"ns1 IN A {kid_ns}", "@ IN A 192.0.2.200",
                      "www IN A 192.0.2.201", "*.wild IN TXT \"kid wildcard\"",
                      "deeper IN NS ns.deeper", "ns.deeper IN A 192.0.2.202"]
    for i in range(50):
        kid.append(f"k{i} IN A {_v4(rng)}")
    kid_path = directory / "kid.gen.test.zone"
    kid_path.write_text("\n".join(kid) + "\n")
    return {ORIGIN: gen, KID: kid_path}
