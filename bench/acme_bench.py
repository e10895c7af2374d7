"""Benchmark: ``dns-suite acme issue`` to a certificate on disk, vs certbot + certbot-dns-rfc2136.

Run by hand (not a test; needs root for the lab's port 53, ``pebble``, ``named`` and network
access to PyPI for certbot)::

    python3 bench/acme_bench.py [--runs 10] [--no-certbot] [--certbot-venv DIR]

The setup is the DNS-01 lab of tests/integration/acmelab.py (root, a dns-suite primary
that takes the UPDATEs on 127.86.N.2:53, a dns-suite secondary fed by NOTIFY/IXFR on .3, a
dns-suite resolver on .4) and Pebble with ``PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0
PEBBLE_AUTHZREUSE=0`` (every order validates every name) whose VA asks the secondary.

dns-suite: one warm-up ``issue`` creates the account; then each run is one process ``dns-suite
acme issue example --config FILE`` (a new key, a new order, UPDATEs, the propagation proof on
both NS, validation, finalization, files switched), timed from spawn to exit and checked to have
installed a new version. Two name sets: ``example.test *.example.test www.example.test`` (the
www challenge is CNAMEd into acme.example.net) and ``example.test *.example.test``.

certbot: installed with pip into a temporary virtual environment (not the shared one), run as
``certbot certonly --authenticator dns-rfc2136 ... --force-renewal`` on ``example.test
*.example.test`` (certbot's rfc2136 plugin follows no CNAME, so www cannot be validated in this
lab), with the update server given as the primary's address. Its lowest working
``--dns-rfc2136-propagation-seconds`` is found first (0, 1, 2, 5, 10: the first setting where 3
runs in a row succeed), then timed the same way.

Prints, per client and name set: median, min and max seconds over ``--runs`` runs, and failures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

from pebble import DETERMINISTIC, Pebble  # noqa: E402
from acmelab import ACME_SECRET, start_lab  # noqa: E402

DNS_SUITE = "dns-suite"
ALL_NAMES = ("example.test", "*.example.test", "www.example.test")
TWO_NAMES = ("example.test", "*.example.test")
PROPAGATION_TRIES = (0, 1, 2, 5, 10)  # seconds, certbot's --dns-rfc2136-propagation-seconds


def our_config(lab, pebble: Pebble, state: Path, names: tuple[str, ...]) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    return (f'[acme]\ndirectory = "{pebble.directory}"\nca_bundle = "{pebble.ca_bundle}"\nagree_terms = true\n'
            f'resolver = "{lab.addr(4)}:53"\nstate_dir = "{state}"\n\n[[acme.certificate]]\nname = "example"\n'
            f'names = [{quoted}]\nkey_name = "acme-key."\nkey_secret = "{ACME_SECRET}"\n')


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    return time.perf_counter() - start, done


def current_version(state: Path) -> int:
    try:
        return int(os.readlink(state / "certs" / "example" / "current").rsplit("/", 1)[1])
    except OSError:
        return 0


def bench_ours(lab, pebble: Pebble, work: Path, names: tuple[str, ...], runs: int) -> tuple[list[float], int]:
    state = work / f"state-{len(names)}"
    conf = work / f"acme-{len(names)}.toml"
    conf.write_text(our_config(lab, pebble, state, names))
    argv = [DNS_SUITE, "acme", "issue", "example", "--config", str(conf), "--log-level", "warning"]
    _, warm = timed(argv)
    if warm.returncode:
        raise SystemExit(f"dns-suite warm-up failed:\n{warm.stderr}")
    times, failures = [], 0
    for _ in range(runs):
        before = current_version(state)
        seconds, done = timed(argv)
        if done.returncode or current_version(state) != before + 1:
            failures += 1
            print(f"  dns-suite run failed: {done.stderr.strip()[-400:]}", file=sys.stderr)
        else:
            times.append(seconds)
    return times, failures


def certbot_venv(work: Path) -> Path:
    env_dir = work / "certbot-venv"
    venv.create(env_dir, with_pip=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "certbot", "certbot-dns-rfc2136"], check=True, timeout=900)
    return env_dir / "bin" / "certbot"


def certbot_argv(certbot: Path, lab, pebble: Pebble, work: Path, seconds: int) -> list[str]:
    creds = work / "rfc2136.ini"
    creds.write_text(f"dns_rfc2136_server = {lab.addr(2)}\ndns_rfc2136_port = 53\ndns_rfc2136_name = acme-key.\n"
                     f"dns_rfc2136_secret = {ACME_SECRET}\ndns_rfc2136_algorithm = HMAC-SHA256\n")
    creds.chmod(0o600)
    argv = [str(certbot), "certonly", "-n", "--agree-tos", "--register-unsafely-without-email",
            "--server", pebble.directory, "--config-dir", str(work / "le" / "config"),
            "--work-dir", str(work / "le" / "work"), "--logs-dir", str(work / "le" / "logs"),
            "--authenticator", "dns-rfc2136", "--dns-rfc2136-credentials", str(creds),
            "--dns-rfc2136-propagation-seconds", str(seconds), "--cert-name", "bench", "--force-renewal",
            "--key-type", "ecdsa", "--quiet"]
    for name in TWO_NAMES:
        argv += ["-d", name]
    return argv


def bench_certbot(certbot: Path, lab, pebble: Pebble, work: Path, runs: int) -> tuple[int, list[float], int]:
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(pebble.ca_bundle)}
    for seconds in PROPAGATION_TRIES:
        argv = certbot_argv(certbot, lab, pebble, work, seconds)
        results = [timed(argv, env) for _ in range(3)]
        bad = [done for _, done in results if done.returncode]
        print(f"  certbot --dns-rfc2136-propagation-seconds {seconds}: {3 - len(bad)}/3 succeeded", file=sys.stderr)
        for done in bad[:1]:
            print("   " + (done.stderr or done.stdout).strip().replace("\n", "\n   ")[-600:], file=sys.stderr)
        if not bad:
            break
    else:
        raise SystemExit("certbot never worked")
    times, failures = [], 0
    for _ in range(runs):
        elapsed, done = timed(argv, env)
        if done.returncode:
            failures += 1
        else:
            times.append(elapsed)
    return seconds, times, failures


def row(label: str, times: list[float], failures: int) -> str:
    if not times:
        return f"{label:58} no successful run ({failures} failed)"
    return (f"{label:58} median {statistics.median(times):6.3f} s  min {min(times):6.3f}  max {max(times):6.3f}"
            f"  ({len(times)} runs, {failures} failed)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-certbot", action="store_true", help="time dns-suite only")
    parser.add_argument("--certbot-venv", metavar="DIR", help="an existing venv with certbot-dns-rfc2136 "
                        "(default: a new one in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="acme-bench-") as tmp:
        work = Path(tmp)
        if args.no_certbot:
            certbot = None
        else:
            certbot = Path(args.certbot_venv) / "bin" / "certbot" if args.certbot_venv else certbot_venv(work)
        lab = start_lab(work / "lab")
        pebble = Pebble(work / "pebble", dns=(lab.addr(3), 53), env=DETERMINISTIC).start()
        try:
            rows = []
            for names in (ALL_NAMES, TWO_NAMES):
                times, failures = bench_ours(lab, pebble, work, names, args.runs)
                rows.append(row(f"dns-suite acme issue ({' '.join(names)})", times, failures))
            if certbot is not None:
                version = subprocess.run([str(certbot), "--version"], capture_output=True, text=True).stdout.strip()
                seconds, times, failures = bench_certbot(certbot, lab, pebble, work, args.runs)
                rows.append(row(f"{version} rfc2136, propagation {seconds} s ({' '.join(TWO_NAMES)})",
                                times, failures))
        finally:
            pebble.stop()
            lab.stop()
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
