"""Benchmark: load a generated zone with ``dns-suite check-zone`` and ``nsd-checkzone``.

Run by hand (not a test): ``python3 bench/zone_load.py [RECORDS]`` (default 1,000,000).
Both tools read the same file in the same run; wall time and peak RSS come
from ``/usr/bin/time -v``. Prints records per second, bytes of RSS per record,
and dns-suite's ratio to NSD's speed.
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(cmd: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in octets) of ``cmd``; exits on failure."""
    run = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{run.stdout}{run.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", run.stderr)
    hours, minutes, seconds = wall.groups()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1))
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), rss * 1024


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.test.zone")
        with open(path, "w") as f:
            subprocess.run([sys.executable, os.path.join(HERE, "gen_zone.py"), str(count)],
                           stdout=f, check=True)
        records = sum(1 for line in open(path) if line[0] not in "$")
        rows = {
            "dns-suite": measure(["dns-suite", "check-zone", "bench.test.", path]),
            "nsd-checkzone": measure(["nsd-checkzone", "bench.test.", path]),
        }
    print(f"{records} records")
    print(f"{'tool':<15}{'wall s':>8}{'records/s':>12}{'RSS MB':>9}{'B/record':>10}")
    for tool, (wall, rss) in rows.items():
        print(f"{tool:<15}{wall:>8.2f}{records / wall:>12.0f}{rss / 2**20:>9.0f}{rss / records:>10.0f}")
    ours, nsd = rows["dns-suite"][0], rows["nsd-checkzone"][0]
    print(f"speed ratio dns-suite/NSD: {nsd / ours:.2f} (goal >= 0.20)")


if __name__ == "__main__":
    main()
