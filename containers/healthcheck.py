#!/usr/bin/env python3
"""The containers' HEALTHCHECK: GET /health on the service's http_listen, read from the config
folder (/etc/dns-suite/*.toml, the first table with one), or from $DNS_SUITE_HEALTH (a URL).
Exit 0 when it answers 200, 1 otherwise; 0 without an http_listen (the container runs: alive)."""
import glob
import os
import sys
import tomllib
import urllib.request


def url() -> str | None:
    if os.environ.get("DNS_SUITE_HEALTH"):
        return os.environ["DNS_SUITE_HEALTH"]
    for path in sorted(glob.glob("/etc/dns-suite/*.toml")):
        try:
            with open(path, "rb") as handle:
                tables = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError):
            continue
        for table in tables.values():
            listen = table.get("http_listen") if isinstance(table, dict) else None
            if listen:
                return f"http://{listen}/health"
    return None


target = url()
if target is None:
    print("no http_listen in /etc/dns-suite/*.toml: nothing to ask, the service runs")
    sys.exit(0)
try:
    with urllib.request.urlopen(target, timeout=4) as reply:
        sys.exit(0 if reply.status == 200 else 1)
except OSError as exc:
    print(f"{target}: {exc}", file=sys.stderr)
    sys.exit(1)
