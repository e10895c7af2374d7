"""The container images and the compose setup, end to end (slow: builds a base image and three
images; about 3 to 5 minutes on 2 cores).

Per ../shared/containers-podman.md: a local base image made with debootstrap
(containers/build-base.sh) stands in for python:3.12-slim; podman's settings come from files of
this test's own (``CONTAINERS_CONF``, ``CONTAINERS_STORAGE_CONF``: images, containers and volumes
in the test's temporary folder), never from the machine's. The compose setup
(containers/compose.yaml) runs on loopback with host networking, on free ports written into a
copy of containers/configs. Checked: the secondary's /ready is false while its primary is
down and true once the zone is transferred; dig gets the same serial from the primary and the
secondary; the resolver resolves through them; /metrics answers; the ACME agent gets a
certificate from a Pebble started here (when the agent and tests/integration/pebble.py are
there); the HEALTHCHECK passes; the root filesystem is read-only; every container exits by
itself on ``podman stop`` (status 0, not 137). Everything made is removed at the end.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from peers import free_port  # noqa: E402
from test_observe import http, wait_for  # noqa: E402 - the same HTTP probe and polling

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
CONTAINERS = REPO / "containers"
PROJECT = "dnssuitetest"
ENGINE_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
# default ports in containers/configs -> free ones here
DEFAULT_PORTS = {"primary": 5300, "secondary": 5301, "resolver": 5353, "primary_http": 9153,
                 "secondary_http": 9163, "resolver_http": 9154, "acme_http": 9155}
COMPOSE = (sys.executable, "-m", "podman_compose")  # pip's (>= 1.1): Debian's 1.0.3 fails on host networking
BUILD_TIMEOUT = 900  # seconds for the base image, and for each service image

def _need_tools() -> None:
    """A missing tool fails the test (scripts/test installs them all; the test runs as root)."""
    assert os.geteuid() == 0, "the container test needs root"
    missing = [t for t in ("podman", "debootstrap", "dig") if not shutil.which(t)]
    if importlib.util.find_spec("podman_compose") is None:
        missing.append("podman-compose (pip, test extras)")
    assert not missing, f"missing: {', '.join(missing)} (scripts/test installs them)"


def dig(port: int, *args: str) -> str:
    return subprocess.run(["dig", "+short", "+time=1", "+tries=1", "-p", str(port), "@127.0.0.1", *args],
                          capture_output=True, text=True, timeout=10).stdout.strip()


def acme_available() -> bool:
    """The ACME agent and the Pebble helper of the ACME tests are in this checkout."""
    try:
        import dns_suite.acme.service  # noqa: F401
    except ImportError:
        return False
    return (Path(__file__).parent / "pebble.py").exists() and shutil.which("pebble") is not None


class Engine:
    """podman and podman-compose with this test's settings and storage (all under ``tmp``)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        (tmp / "containers.conf").write_text(ENGINE_CONF)
        (tmp / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{tmp}/storage"\nrunroot = "{tmp}/run"\n'
            '[storage.options.overlay]\nskip_mount_home = "true"\n')  # no bind mount of its own to undo
        self.env = {**os.environ, "CONTAINERS_CONF": str(tmp / "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": str(tmp / "storage.conf"),
                    "BUILDAH_FORMAT": "docker",  # keeps HEALTHCHECK (OCI images have none)
                    "DNS_SUITE_CONFIGS": str(tmp / "configs"), "BASE": "localhost/dns-suite-test-base:latest"}
        self.timings: dict[str, float] = {}

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout,
                              cwd=REPO)
        if check and proc.returncode:
            raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                                 f"{proc.stderr[-3000:]}")
        return proc

    def timed(self, name: str, *args: str, timeout: float = BUILD_TIMEOUT) -> None:
        start = time.monotonic()
        self.run(*args, timeout=timeout)
        self.timings[name] = time.monotonic() - start

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return self.run(*COMPOSE, "-p", PROJECT, "-f", str(CONTAINERS / "compose.yaml"), *args,
                        timeout=timeout)

    def container(self, service: str) -> str:
        return f"{PROJECT}_{service}_1"

    def inspect(self, name: str, fmt: str) -> str:
        return self.run("podman", "inspect", "-f", fmt, name).stdout.strip()

    def cleanup(self) -> None:
        """Remove every container, volume and image made here, then the storage itself."""
        if (self.tmp / "storage").exists():  # (not `system reset`: it would touch the machine's networks)
            self.run(*COMPOSE, "-p", PROJECT, "-f", str(CONTAINERS / "compose.yaml"), "down", "-v",
                     "-t", "5", check=False, timeout=120)
            for command in (("rm", "--all", "--force", "--time", "5"), ("volume", "rm", "--all", "--force"),
                            ("rmi", "--all", "--force")):
                self.run("podman", *command, check=False, timeout=300)
            for _ in range(5):  # anything of ours still mounted (an interrupted run), deepest first
                points = sorted({line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
                                 if line.split()[1].startswith(str(self.tmp))}, reverse=True)
                if not points:
                    break
                for point in points:
                    subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
        shutil.rmtree(self.tmp / "storage", ignore_errors=True)
        shutil.rmtree(self.tmp / "run", ignore_errors=True)


def write_configs(tmp: Path, ports: dict[str, int], pebble=None) -> None:
    """containers/configs with our ports (and the Pebble's directory), readable by the
    containers' user."""
    target = tmp / "configs"
    shutil.copytree(CONTAINERS / "configs", target)
    for path in target.rglob("*.toml"):
        text = path.read_text()
        for name, default in DEFAULT_PORTS.items():
            text = re.sub(rf"\b{default}\b", str(ports[name]), text)
        if pebble is not None and path.name == "acme.toml":
            text = text.replace('directory = "letsencrypt-staging"', f'directory = "{pebble.directory}"')
            text = text.replace('# ca_bundle = "/etc/dns-suite/ca.pem"', 'ca_bundle = "/etc/dns-suite/ca.pem"')
            text = text.replace('state_dir = "/var/lib/dns-suite/acme"\n', 'state_dir = "/var/lib/dns-suite/acme"\n'
                                'propagation_timeout = 60.0\norder_timeout = 60.0\nretry_min = 5.0\n')
            shutil.copy(pebble.ca_bundle, target / "acme" / "ca.pem")
        path.write_text(text)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_images_and_compose_setup(tmp_path_factory) -> None:
    _need_tools()
    tmp = tmp_path_factory.mktemp("containers")
    engine = Engine(tmp)
    ports = {name: free_port() for name in DEFAULT_PORTS}
    pebble = None
    started = time.monotonic()
    try:
        engine.timed("base image", str(CONTAINERS / "build-base.sh"), engine.env["BASE"], str(tmp / "base"))
        for service in ("authoritative", "resolver", "acme"):
            engine.timed(f"{service} image", "podman", "build", "-q", "--build-arg", f"BASE={engine.env['BASE']}",
                         "-t", f"localhost/dns-suite-{service}:latest", "-f",
                         str(CONTAINERS / service / "Containerfile"), str(REPO))
        sizes = {service: int(engine.inspect(f"localhost/dns-suite-{service}:latest", "{{.Size}}"))
                 for service in ("authoritative", "resolver", "acme")}
        base_size = int(engine.inspect(engine.env["BASE"], "{{.Size}}"))

        if acme_available():
            sys.path.insert(0, str(Path(__file__).parent))
            from pebble import Pebble

            pebble = Pebble(tmp / "pebble", ("127.0.0.1", ports["primary"])).start()
        write_configs(tmp, ports, pebble)

        # the secondary first: alive, but not ready without its zone
        engine.compose("up", "-d", "secondary")
        wait_for(lambda: http(ports["secondary_http"], "/health")[0] == 200, "the secondary's /health",
                 timeout=60)
        status, body = http(ports["secondary_http"], "/ready")
        assert status == 503 and "example.test" in body, (status, body)

        t0 = time.monotonic()
        engine.compose("up", "-d", "primary", "resolver")
        wait_for(lambda: dig(ports["primary"], "www.example.test"), "the primary's first answer", timeout=60)
        cold_start = time.monotonic() - t0
        wait_for(lambda: http(ports["secondary_http"], "/ready")[0] == 200, "the secondary's /ready", timeout=60)
        serial = dig(ports["primary"], "SOA", "example.test").split()[2]
        assert dig(ports["secondary"], "SOA", "example.test").split()[2] == serial
        wait_for(lambda: http(ports["resolver_http"], "/ready")[0] == 200, "the resolver's /ready", timeout=60)
        assert dig(ports["resolver"], "www.example.test") == "192.0.2.10"
        assert dig(ports["resolver"], "ns2.example.test") == "127.0.0.1"

        metrics = http(ports["primary_http"], "/metrics")
        assert metrics[0] == 200 and 'dns_zone_serial{zone="example.test."}' in metrics[1]
        assert "dns_queries_total" in metrics[1]
        assert "dns_cache_hits_total" in http(ports["resolver_http"], "/metrics")[1]

        if pebble is not None:
            engine.compose("up", "-d", "acme")
            wait_for(lambda: http(ports["acme_http"], "/health")[0] == 200, "the ACME agent's /health", timeout=60)
            status, body = http(ports["acme_http"], "/ready")  # (an issuance faster than the probe: 200)
            assert status == 200 or (status == 503 and "no certificate yet" in body), (status, body)
            cert = wait_for(lambda: engine.run("podman", "exec", engine.container("acme"), "cat",
                                               "/var/lib/dns-suite/acme/certs/example/cert.pem",
                                               check=False).stdout, "the ACME agent's certificate", timeout=180)
            assert "BEGIN CERTIFICATE" in cert
            # the UPDATEs raised the primary's serial; the secondary follows by NOTIFY + IXFR
            new = wait_for(lambda: (s := dig(ports["primary"], "SOA", "example.test").split()[2]) != serial and s,
                           "the primary's new serial")
            wait_for(lambda: dig(ports["secondary"], "SOA", "example.test").split()[2] == new,
                     "the secondary at the new serial")
            wait_for(lambda: http(ports["acme_http"], "/ready")[0] == 200, "the ACME agent's /ready")
            assert "acme_certificate_not_after_seconds" in http(ports["acme_http"], "/metrics")[1]

        services = ["acme"] if pebble is not None else []
        for service in ["primary", "secondary", "resolver"] + services:
            name = engine.container(service)
            assert engine.run("podman", "healthcheck", "run", name, check=False).returncode == 0, service
            assert engine.inspect(name, "{{.HostConfig.ReadonlyRootfs}}") == "true"
            assert engine.inspect(name, "{{.Config.User}}") == "dns-suite"
        assert engine.run("podman", "exec", engine.container("primary"), "touch", "/x",
                          check=False).returncode != 0  # read-only root

        for service in services + ["resolver", "secondary", "primary"]:
            name = engine.container(service)
            engine.run("podman", "stop", "-t", "30", name, timeout=60)
            code = engine.inspect(name, "{{.State.ExitCode}}")
            assert code == "0", f"{service} exited {code} on SIGTERM"
        total = time.monotonic() - started
        print("\ncontainer test:", ", ".join(f"{k} {v:.1f} s" for k, v in engine.timings.items()),
              f"cold start (compose up to first answer) {cold_start:.2f} s, total {total:.0f} s;",
              "image sizes:", ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in sizes.items()),
              f"(base {base_size / 1e6:.0f} MB)")
    finally:
        if pebble is not None:
            pebble.stop()
        engine.cleanup()
