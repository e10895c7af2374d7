"""Benchmark: ``dns-suite resolver`` against Unbound, both validating, on the signed local Internet.

Run by hand as root (not a test; servers listen on port 53 of 127.54.N.x):
``python3 bench/resolver_dnssec_bench.py [--cold 1000] [--seconds 10] [--rounds 3]`` (about 3 minutes
with the defaults; needs nsd, unbound, dnsperf, ldnsutils and bind9-utils).

The network is tests/integration/signednet.py's (root, TLDs and ten zones signed at start with
NSEC, NSEC3 and NSEC3 opt-out; ECDSA P-256, Ed25519 and RSA/SHA-256 keys), the resolvers its
``start_validating_unbound`` (module-config "validator iterator", one thread) and
``start_our_validating_resolver`` (``dnssec = true``), both with the local root's DS as their only
trust anchor. Figures of one run (shared 2-CPU machine, load about 2.6, dnsperf's CPU the limit:
the resolvers used 0.33-0.56 of theirs, so qps per CPU second is the fairer ratio): cold median
4.09 ms vs 0.47 ms (8.6x), p95 10.25 vs 5.69 ms (1.8x), 768 questions, the same rcode and AD
on all; hits with DO 0.72 of Unbound's qps (0.69 per CPU second), without DO 0.92 (0.73).
As in bench/resolver_bench.py (whose helpers this uses), the resolvers are pinned to
CPU 1 and everything else (authoritative servers, dnsperf, this script) to CPU 0.

1. Cold validated resolution latency: fresh processes (primed by one ``. SOA`` query), then
   all (768), or ``--cold``, distinct questions from the zones (A/AAAA/TXT of every name of the secure and
   insecure zones, and an NXDOMAIN name below each), with DO, one at a time over UDP, in chunks
   of 100 alternating between the resolvers; median and p95 per resolver and the ratios. The
   answers (rcode, AD, answer RRsets) are compared. Unbound answers many of them without asking
   anyone: NXDOMAIN and NODATA synthesised from NSEC records it has cached (RFC 8198,
   aggressive-nsec, on by default); ours does too since resolver/aggressive.py (NSEC and NSEC3;
   ``aggressive_nsec``): cold median 4.52 -> 1.70 ms, p95 12.30 -> 5.04 ms in one run each before
   and after (Unbound 0.67/5.02 and 0.37/1.20 in the same runs), rcode and AD still equal on all.
2. Validated cache-hit qps: both caches warmed with the positive answers of the secure zones
   (one dnsperf pass), then ``dnsperf -l SECONDS -c 4 -q 100`` with DO set (``-D``, answers
   with RRSIGs and AD) and without (no EDNS), alternating for ``--rounds`` rounds: qps, the
   resolver's CPU share, qps per CPU second, and the ratios dns-suite/Unbound.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
from auth_dnsperf import cpu_seconds  # noqa: E402 - the bench folder's helpers
from resolver_bench import CPU_LOAD, CPU_RESOLVER, PORT, ask, dnsperf, load, percentile  # noqa: E402
from signednet import (BOGUS_ZONES, INSECURE_ZONES, OURS, UNBOUND_A, ZONES, SignedNet,  # noqa: E402
                       start_our_validating_resolver, start_signednet, start_validating_unbound)

CHUNK = 100


def _owned_names(net: SignedNet) -> dict[str, list[dns.name.Name]]:
    """Per zone (secure and insecure ones), the names with data that are not below one of its cuts."""
    out = {}
    for origin, zone in net.zones().items():
        if origin in BOGUS_ZONES:
            continue
        cuts = [n for n, node in zone.nodes.items() if n != zone.origin and node.get_rdataset(1, 2)]
        out[origin] = sorted(n for n in zone.nodes if not any(n.is_subdomain(c) for c in cuts)
                             and n.labels[0] != b"*")
    return out


def cold_questions(net: SignedNet, count: int) -> list[tuple[str, str]]:
    """``count`` distinct (name, qtype) questions, seeded: data, NODATA and NXDOMAIN."""
    questions = []
    for names in _owned_names(net).values():
        for i, n in enumerate(names):
            questions += [(n.to_text(), t) for t in ("A", "AAAA", "TXT")]
            questions.append((dns.name.from_text(f"nx{i}", n).to_text(), "A"))
    random.Random(5).shuffle(questions)
    return questions[:count]


def hit_questions(net: SignedNet) -> list[tuple[str, str]]:
    """The positive answers of the secure zones: (name, type) of each A, AAAA, TXT and MX RRset."""
    out = []
    for origin, names in _owned_names(net).items():
        if origin in INSECURE_ZONES:
            continue
        zone = net.zones()[origin]
        for n in names:
            node = zone.nodes[n]
            if node.get_rdataset(1, dns.rdatatype.CNAME) or node.get_rdataset(1, dns.rdatatype.DNAME):
                continue
            out += [(n.to_text(), t) for t in ("A", "AAAA", "TXT", "MX")
                    if node.get_rdataset(1, dns.rdatatype.from_text(t)) is not None]
    return out


def _summary(msg: dns.message.Message | None) -> str:
    if msg is None:
        return "TIMEOUT"
    rrsets = sorted(f"{r.name} RRSIG {dns.rdatatype.to_text(r.covers)}" if r.rdtype == dns.rdatatype.RRSIG
                    else f"{r.name} {dns.rdatatype.to_text(r.rdtype)} {sorted(x.to_text() for x in r)}"
                    for r in msg.answer)
    return f"{dns.rcode.to_text(msg.rcode())} AD={int(bool(msg.flags & 0x20))} {rrsets}"


def cold_phase(addrs: dict[str, str], questions: list[tuple[str, str]]) -> dict:
    """Each question once to each resolver, chunks alternating; latencies and reply summaries."""
    import socket
    socks = {}
    for label, addr in addrs.items():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5.0)
        s.connect((addr, PORT))
        socks[label] = s
    result = {label: {"lat": [], "timeouts": 0, "answers": {}} for label in addrs}
    for chunk in range(0, len(questions), CHUNK):
        order = list(addrs) if chunk // CHUNK % 2 == 0 else list(reversed(addrs))
        for label in order:
            for name, qtype in questions[chunk:chunk + CHUNK]:
                wire = dns.message.make_query(name, qtype, use_edns=0, payload=1232, want_dnssec=True).to_wire()
                seconds, reply = ask(socks[label], wire)
                if seconds is None:
                    result[label]["timeouts"] += 1
                else:
                    result[label]["lat"].append(seconds)
                result[label]["answers"][(name, qtype)] = _summary(reply)
    for s in socks.values():
        s.close()
    return result


def print_cold(result: dict, count: int) -> list[str]:
    print(f"\n== 1. cold validated resolution: {count} distinct questions with DO, one at a time (ms) ==")
    print(f"{'resolver':<11}{'median':>9}{'p95':>9}{'max':>9}{'timeouts':>10}")
    for label, r in result.items():
        lat = r["lat"] or [float("nan")]
        print(f"{label:<11}{1000 * statistics.median(lat):>9.2f}{1000 * percentile(lat, 95):>9.2f}"
              f"{1000 * max(lat):>9.2f}{r['timeouts']:>10}")
    ours, ub = result["dns-suite"], result["unbound"]
    print(f"ratio dns-suite/unbound (latency, lower is better): median "
          f"{statistics.median(ours['lat']) / statistics.median(ub['lat']):.2f}, p95 "
          f"{percentile(ours['lat'], 95) / percentile(ub['lat'], 95):.2f}")
    differing = [k for k, v in ours["answers"].items() if v != ub["answers"].get(k)]
    # rcode and AD; the rest (a CNAME loop's chain kept in our SERVFAIL) is the differential test's
    wrong = [f"{k[0]} {k[1]}: dns-suite {ours['answers'][k][:200]} / unbound {ub['answers'].get(k, '')[:200]}"
             for k in differing if ours["answers"][k].split(" ")[:2] != ub["answers"].get(k, "").split(" ")[:2]]
    ad = {label: sum(" AD=1 " in v for v in r["answers"].values()) for label, r in result.items()}
    print(f"answers with AD: {ad}; answers differing: {len(differing)}, in rcode or AD: {len(wrong)}")
    for k in differing[:3]:
        print(f"  {k[0]} {k[1]}: dns-suite {ours['answers'][k][:150]} / unbound {ub['answers'].get(k)}")
    return wrong


DO = ("-D",)  # dnsperf: queries with the DO bit set


def hit_phase(addrs: dict[str, str], pids: dict[str, int], path: str, count: int, seconds: int,
              rounds: int) -> list[str]:
    problems = []
    for label, addr in addrs.items():
        warm = dnsperf(addr, path, outstanding=20, clients=1, extra=DO)
        if warm["rcodes"].get("NOERROR", 0) != count:
            problems.append(f"warm-up of {label}: {warm['rcodes']} lost {warm['lost']}")
    print(f"\n== 2. validated cache-hit qps: {count} warmed answers, dnsperf -l {seconds} -c 4 -q 100, "
          f"resolver on CPU {CPU_RESOLVER}, dnsperf on CPU {CPU_LOAD} ==")
    print(f"{'round':<7}{'query':<7}{'server':<11}{'qps':>10}{'lat ms':>8}{'cpu':>6}{'qps/cpu':>10}{'lost':>7}"
          f"{'vs unbound':>11}  rcodes")
    ratios: dict[str, list[float]] = {"DO": [], "no DO": []}
    per_cpu: dict[str, list[float]] = {"DO": [], "no DO": []}
    for rnd in range(1, rounds + 1):
        for variant in ("DO", "no DO"):
            got = {}
            order = list(addrs) if rnd % 2 else list(reversed(addrs))
            for label in order:
                cpu0, wall0 = cpu_seconds(pids[label]), time.monotonic()
                run = dnsperf(addrs[label], path, seconds=seconds, extra=DO if variant == "DO" else ())
                run["cpu"] = (cpu_seconds(pids[label]) - cpu0) / (time.monotonic() - wall0)
                got[label] = run
                if set(run["rcodes"]) != {"NOERROR"}:
                    problems.append(f"hit round {rnd} {variant} on {label}: {run['rcodes']}")
            for label, run in got.items():
                rc = ",".join(f"{k}:{v}" for k, v in run["rcodes"].items())
                print(f"{rnd:<7}{variant:<7}{label:<11}{run['qps']:>10.0f}{run['latency_ms']:>8.2f}"
                      f"{run['cpu']:>6.2f}"
                      f"{run['qps'] / run['cpu'] if run['cpu'] else 0:>10.0f}{run['lost']:>7}"
                      f"{run['qps'] / got['unbound']['qps']:>11.2f}  {rc}")
            ours, ub = got["dns-suite"], got["unbound"]
            ratios[variant].append(ours["qps"] / ub["qps"])
            per_cpu[variant].append((ours["qps"] / ours["cpu"]) / (ub["qps"] / ub["cpu"]))
    for variant in ratios:
        print(f"ratio dns-suite/unbound, {variant}: qps per round "
              + ", ".join(f"{r:.2f}" for r in ratios[variant])
              + f"; median {statistics.median(ratios[variant]):.2f}; per CPU second: median "
              f"{statistics.median(per_cpu[variant]):.2f}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cold", type=int, default=1000, help="distinct cold questions at most (768 exist)")
    parser.add_argument("--seconds", type=int, default=10, help="dnsperf seconds per hit run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating hit rounds")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: the local Internet listens on port 53")
    os.sched_setaffinity(0, {int(CPU_LOAD)})  # the servers started below inherit it
    started = time.monotonic()
    print(f"load before: {load()}; "
          f"{subprocess.run(['unbound', '-V'], capture_output=True, text=True).stdout.splitlines()[0]}")
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        net = start_signednet(Path(tmp) / "net")
        resolvers = {}
        try:
            print(f"signed local Internet on {net.block}.0/24, {len(ZONES)} zones, "
                  f"{time.monotonic() - started:.1f} s to sign and start")
            resolvers["dns-suite"] = start_our_validating_resolver(net, Path(tmp) / "ours", OURS)
            resolvers["unbound"] = start_validating_unbound(net, Path(tmp) / "unbound", UNBOUND_A)
            for server in resolvers.values():  # every thread of the resolver to CPU 1
                subprocess.run(["taskset", "-a", "-p", "-c", CPU_RESOLVER, str(server.proc.pid)],
                               check=True, capture_output=True)
            addrs = {label: s.host for label, s in resolvers.items()}
            questions = cold_questions(net, args.cold)
            problems += print_cold(cold_phase(addrs, questions), len(questions))
            hits = hit_questions(net)
            path = os.path.join(tmp, "hits.txt")
            with open(path, "w") as f:
                f.writelines(f"{name} {qtype}\n" for name, qtype in hits)
            pids = {label: s.proc.pid for label, s in resolvers.items()}
            problems += hit_phase(addrs, pids, path, len(hits), args.seconds, args.rounds)
        finally:
            for server in resolvers.values():
                server.stop()
            net.stop()
    print(f"\nload after: {load()}; {time.monotonic() - started:.0f} s")
    print("problems: " + ("none" if not problems else f"{len(problems)}"))
    for p in problems[:20]:
        print("  " + p)


if __name__ == "__main__":
    main()
