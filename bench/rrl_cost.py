"""Benchmark: what response rate limiting adds to the authoritative UDP loop's hit path.

Run by hand (not a test): ``python3 bench/rrl_cost.py [QUERIES]`` (default 200,000).
The real loop (``dns_suite.net.udp.serve_udp``) runs over a stand-in socket whose
``recvfrom`` hands out queries that hit the pre-rendered table and whose ``sendto`` keeps
nothing, so what is timed is the loop's own Python work per reply, without the two system
calls (which cost several microseconds more on a real socket, see bench/auth_dnsperf.py).
Three loops, interleaved, best of 7 rounds each (a shared machine's noise only slows rounds
down): RRL off (``rrl_rate = 0``), RRL on at a rate never reached (every reply checked), and
RRL on with the client over its rate (every reply limited: dropped or truncated).
"""

from __future__ import annotations

import sys
import time

import dns.message

from dns_suite.chain.ratelimit import ResponseRateLimiter
from dns_suite.net.udp import HandlerRef, serve_udp


class FakeSocket:
    """``recvfrom`` returns ``count`` queries from 8 client addresses of one /24, then fails."""

    def __init__(self, queries: list[bytes], count: int) -> None:
        self.queries, self.count, self.sent = queries, count, 0
        self.addrs = [(f"192.0.2.{i}", 40000 + i) for i in range(8)]

    def recvfrom(self, size: int):
        n = self.count
        if n == 0:
            raise OSError("done")
        self.count = n - 1
        return self.queries[n % len(self.queries)], self.addrs[n & 7]

    def sendto(self, data: bytes, addr) -> int:
        self.sent += 1
        return len(data)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    queries, table = [], {}
    for i in range(100):
        q = dns.message.make_query(f"host{i}.example.test", "A").to_wire()
        r = dns.message.make_response(dns.message.from_wire(q))
        r.answer.append(dns.rrset.from_text(f"host{i}.example.test.", 300, "IN", "A", f"192.0.2.{i}"))
        queries.append(q)
        table[q[2:]] = r.to_wire()[2:]
    loops = {"rrl off": lambda: None,
             "rrl on, under rate": lambda: ResponseRateLimiter(10**9, clock=time.monotonic),
             "rrl on, all limited": lambda: ResponseRateLimiter(1, clock=time.monotonic)}
    best = {name: float("inf") for name in loops}
    for _ in range(7):
        for name, make in loops.items():
            sock = FakeSocket(queries, count)
            ref = HandlerRef(lambda d, c: None, table, rrl=make())
            start = time.perf_counter()
            serve_udp(sock, ref, lambda d, e: None)
            best[name] = min(best[name], (time.perf_counter() - start) / count)
    base = best["rrl off"]
    for name, seconds in best.items():
        print(f"{name:<22}{seconds * 1e9:>8.0f} ns/query{(seconds - base) * 1e9:>+8.0f} ns")


if __name__ == "__main__":
    main()
