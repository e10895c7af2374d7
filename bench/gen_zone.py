"""Generate a large zone for benchmarks: ``python3 bench/gen_zone.py N ORIGIN > file``.

The mix (by record): 60 % A, 15 % AAAA, 10 % TXT, 5 % MX, 5 % CNAME, and
delegations (NS + glue) for the rest; owners are distinct names one or two
labels below the origin. Deterministic (seeded). Tests import :func:`write_zone`
(``tests/integration/test_transfer_large.py``).
"""

import random
import sys
from typing import TextIO


def write_zone(out: TextIO, count: int, origin: str = "bench.test.", seed: int = 1) -> int:
    """Write the zone to ``out``: ``count`` records (one more when the last one drawn is a
    delegation: NS and glue); returns the number written."""
    rnd = random.Random(seed)
    out.write(f"$ORIGIN {origin}\n$TTL 3600\n")
    out.write("@ IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300\n")
    out.write("@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\n")
    n = 5  # records written so far
    i = 0
    while n < count:
        i += 1
        r = rnd.random()
        name = f"h{i}" if r < 0.5 else f"h{i}.s{i % 97}"
        if r < 0.60:
            out.write(f"{name} IN A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n")
        elif r < 0.75:
            out.write(f"{name} IN AAAA 2001:db8::{i & 0xffff:x}:{i >> 16:x}\n")
        elif r < 0.85:
            out.write(f'{name} 300 IN TXT "v=spf1 ip4:10.0.0.{i & 255} -all"\n')
        elif r < 0.90:
            out.write(f"{name} IN MX 10 mail{i % 1000}\n")
        elif r < 0.95:
            out.write(f"{name} IN CNAME h{max(1, i - 1)}\n")
        else:
            out.write(f"d{i} IN NS ns.d{i}\nns.d{i} IN A 198.51.{i >> 8 & 255}.{i & 255}\n")
            n += 1
        n += 1
    return n


def main() -> None:
    count = int(sys.argv[1])
    origin = sys.argv[2] if len(sys.argv) > 2 else "bench.test."
    write_zone(sys.stdout, count, origin)


if __name__ == "__main__":
    main()
