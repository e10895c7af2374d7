"""``dns-suite acme``: issue, renew, run (the daemon), revoke, status (I/O).

How it works: every command reads the ``[acme]`` config, the store and each certificate's status
file. :func:`renew_due` is one pass of the schedule: for each certificate it reads the facts of
the certificate in use, refreshes its ARI window when due (RFC 9773), asks
:func:`dns_suite.acme.plan.decide` what to do, and issues what is due; each attempt is recorded
(success: a fresh memory and the post-renewal command; failure: the error and the backoff) and
the pass returns the earliest time something is due next. :func:`run_daemon` repeats passes,
sleeping until that time (at most :data:`MAX_SLEEP`, at least :data:`MIN_SLEEP`), and stops on
SIGTERM/SIGINT: an issuance in progress is cancelled and its TXT records removed. A failing CA
or DNS never stops the daemon: the failure is recorded and retried after the backoff.

The post-renewal command runs through ``/bin/sh -c`` in the certificate's folder, with these
variables: ``DNS_SUITE_CERT_NAME``, ``DNS_SUITE_CERT_NAMES`` (space-separated),
``DNS_SUITE_CERT_DIR``, ``DNS_SUITE_KEY_PATH``, ``DNS_SUITE_CERT_PATH``, ``DNS_SUITE_CHAIN_PATH``,
``DNS_SUITE_FULLCHAIN_PATH`` (the stable symlinks), ``DNS_SUITE_CERT_VERSION``,
``DNS_SUITE_CERT_NOT_AFTER`` (seconds since the epoch). It may take :data:`COMMAND_TIMEOUT`
seconds; a failure is logged and noted in the status, the certificate stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from dns_suite.config import AcmeCertificateConfig, AcmeConfig, parse_server
from dns_suite.errors import DnsSuiteError
from dns_suite.wire.errors import WireError
from dns_suite.wire.tsig import TsigKey
from dns_suite.wire.tsigkeys import KeyFileError, parse_key_file

from . import dns01, plan
from .agent import REVOCATION_REASONS, AcmeError, Agent
from .names import acme_certificates
from .store import Bundle, Store, StoreError, cert_facts

__all__ = ["COMMAND_TIMEOUT", "Service", "main", "update_target"]

log = logging.getLogger("dns_suite.acme")

MAX_SLEEP = 3600.0  # seconds: the daemon wakes at least this often (config, ARI)
MIN_SLEEP = 1.0  # seconds: the daemon never wakes more often
COMMAND_TIMEOUT = 300.0  # seconds for the post-renewal command
_random = secrets.SystemRandom().random


def _tsig_key(cert: AcmeCertificateConfig) -> TsigKey | None:
    """The certificate's TSIG key, inline or from its BIND key file; None when unsigned."""
    where = f"certificate {cert.name}"
    try:
        if cert.key_secret is not None:
            return TsigKey.from_text(cert.key_name or "", cert.key_algorithm, cert.key_secret)
        if cert.key_file is None:
            return None
        with open(cert.key_file, encoding="utf-8") as handle:
            keys = parse_key_file(handle.read(), cert.key_file)
    except OSError as exc:
        raise AcmeError(f"{where}: cannot read key file {cert.key_file}: {exc.strerror or exc}") from None
    except (WireError, KeyFileError) as exc:
        raise AcmeError(f"{where}: {exc}") from None
    if cert.key_name is None and len(keys) == 1:
        return keys[0]
    wanted = (cert.key_name or "").lower().rstrip(".") + "."
    for key in keys:
        if str(key.name).lower() == wanted:
            return key
    raise AcmeError(f"{where}: key file {cert.key_file} has no key {cert.key_name or '(give key_name)'}")


def update_target(cfg: AcmeConfig, cert: AcmeCertificateConfig) -> dns01.UpdateTarget:
    """Where and how the certificate's TXT records are published.

    Raises:
        AcmeError: The TSIG key cannot be built (unreadable key file, key not in it, bad secret).
    """
    return dns01.UpdateTarget(
        server=cert.update_server, port=cert.update_port, key=_tsig_key(cert),
        check_servers=tuple(parse_server(text) for text in cert.check_servers),
        resolver=parse_server(cfg.resolver) if cfg.resolver else None)


class Service:
    """The commands over one config: an agent, a store and the wall clock.

    Raises:
        DnsSuiteError: A certificate's names are unusable (:func:`.names.acme_certificates`).
    """

    def __init__(self, cfg: AcmeConfig, *, agent: Agent | None = None, clock: Callable[[], float] = time.time,
                 rand: plan.Rand = _random) -> None:
        cfg = dataclasses.replace(cfg, certificate=acme_certificates(cfg.certificate))
        self.cfg, self.clock, self.rand = cfg, clock, rand
        self.store = Store(cfg.state_dir, keep=cfg.keep_versions)
        self.agent = agent or Agent(cfg, self.store, clock=clock,
                                    timeouts=(cfg.ca_connect_timeout, cfg.ca_request_timeout))
        self.policy = plan.Policy(retry_min=cfg.retry_min, retry_max=cfg.retry_max)
        self.ari = False  # the CA offers renewalInfo (learnt from its directory)
        self.target = update_target  # (cfg, cert) -> where the TXT records go
        self._unsaved: dict[str, plan.Memory] = {}  # failures the status file could not take
        self._pass_failures = 0  # renewal passes in a row that raised

    def certificate(self, name: str) -> AcmeCertificateConfig:
        for cert in self.cfg.certificate:
            if cert.name == name:
                return cert
        known = ", ".join(c.name for c in self.cfg.certificate) or "none"
        raise DnsSuiteError(f"no certificate {name!r} in the config (known: {known})")

    # ------------------------------------------------------------------ state

    def _load(self, cert: AcmeCertificateConfig) -> tuple[plan.Issued | None, plan.Memory, dict[str, Any]]:
        """The certificate in use, the plan's memory and the status file's dict.

        The memory is marked revoked when the status file says the stored version was revoked
        (``revoked_version``, written by :meth:`revoke`), even if the memory itself was lost.
        """
        status = self.store.load_status(cert.name)
        try:
            memory = plan.memory_from_json(status.get("memory") or {})
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: status file unreadable (%s); starting afresh", cert.name, exc)
            memory = plan.Memory()
        memory = self._unsaved.get(cert.name, memory)  # a failure newer than the file (disk full)
        bundle = self.store.current(cert.name)
        if bundle is not None and status.get("revoked_version") == bundle.version and not memory.revoked:
            memory = dataclasses.replace(memory, revoked=True)
        return (cert_facts(bundle.cert_pem) if bundle else None), memory, status

    def _save(self, cert: AcmeCertificateConfig, memory: plan.Memory, decision: plan.Decision | None,
              **extra: Any) -> None:
        status = self.store.load_status(cert.name)
        status.update(extra)
        status["memory"] = plan.memory_to_json(memory)
        if decision is not None:
            status.update(next_attempt=decision.at, next_reason=decision.reason)
        status["updated"] = int(self.clock())
        try:
            self.store.save_status(cert.name, status)
        except OSError as exc:  # disk full, read-only: keep the schedule in memory, say so
            log.error("%s: cannot write the status file: %s", cert.name, exc)
            self._unsaved[cert.name] = memory
            return
        self._unsaved.pop(cert.name, None)

    # ------------------------------------------------------------------ one certificate

    async def attempt(self, cert: AcmeCertificateConfig, memory: plan.Memory, replaces: str | None, *,
                      down: AcmeError | None = None) -> bool:
        """Issue ``cert`` now and record the outcome; True on success. Never raises DnsSuiteError.

        Args:
            cert, memory, replaces: The certificate, its memory and the ARI ``replaces``.
            down: The CA did not answer earlier in this pass (``AcmeError.unreachable``): record
                this error as the attempt's failure (with the usual backoff) without asking again.
        """
        try:
            if down is not None:
                raise down
            with self.store.lock(cert.name):
                bundle = await self.agent.issue(cert, self.target(self.cfg, cert), replaces=replaces)
        except (DnsSuiteError, OSError) as exc:  # OSError: the state folder (disk full, read-only)
            error = f"{type(exc).__name__}: {exc}"
            log.error("%s: issuance failed: %s", cert.name, error)
            memory = plan.after_failure(memory, now=int(self.clock()), error=error,
                                        retry_after=getattr(exc, "retry_after", None), rand=self.rand,
                                        policy=self.policy)
            decision = plan.decide(cert.names, self._load(cert)[0], memory, now=int(self.clock()),
                                   rand=self.rand, ari=self.ari)
            self._save(cert, decision.memory, decision)  # in memory too if the disk refuses
            log.info("%s: next attempt in %.1f s", cert.name, max(decision.at - self.clock(), 0))
            return False
        issued = cert_facts(bundle.cert_pem)
        memory = plan.after_success(memory)
        decision = plan.decide(cert.names, issued, memory, now=int(self.clock()), rand=self.rand, ari=self.ari)
        hook = await self._post_renewal(cert, bundle, issued) if cert.post_renewal_command else None
        self._save(cert, decision.memory, decision, last_success=int(self.clock()), version=bundle.version,
                   post_renewal=hook)
        return True

    async def _post_renewal(self, cert: AcmeCertificateConfig, bundle: Bundle, issued: plan.Issued) -> str:
        """Run the post-renewal command; returns its outcome in words."""
        paths = self.store.paths(cert.name)
        env = dict(os.environ, DNS_SUITE_CERT_NAME=cert.name, DNS_SUITE_CERT_NAMES=" ".join(cert.names),
                   DNS_SUITE_CERT_DIR=bundle.folder, DNS_SUITE_KEY_PATH=paths["privkey.pem"],
                   DNS_SUITE_CERT_PATH=paths["cert.pem"], DNS_SUITE_CHAIN_PATH=paths["chain.pem"],
                   DNS_SUITE_FULLCHAIN_PATH=paths["fullchain.pem"], DNS_SUITE_CERT_VERSION=str(bundle.version),
                   DNS_SUITE_CERT_NOT_AFTER=str(issued.not_after))
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", cert.post_renewal_command, cwd=bundle.folder, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            proc.kill()
            await proc.wait()
            log.error("%s: post_renewal_command killed after %g s", cert.name, COMMAND_TIMEOUT)
            return f"killed after {COMMAND_TIMEOUT:g} s"
        text = output.decode(errors="replace").strip()
        if proc.returncode:
            log.error("%s: post_renewal_command exited %d: %s", cert.name, proc.returncode, text[-2000:])
            return f"exit {proc.returncode}"
        log.info("%s: post_renewal_command done%s", cert.name, f": {text[-500:]}" if text else "")
        return "ok"

    async def _refresh_ari(self, cert: AcmeCertificateConfig, issued: plan.Issued | None,
                           memory: plan.Memory, offered: bool) -> plan.Memory:
        """Fetch the ARI window when it is due (RFC 9773 §4.3); a failure keeps the old one."""
        now = int(self.clock())
        if not plan.ari_due(issued, memory, now=now, offered=offered):
            return memory
        try:
            body, retry_after = await self.agent.renewal_info(issued)
            return plan.with_renewal_info(memory, issued, body, retry_after, now=now)
        except (AcmeError, ValueError) as exc:
            log.warning("%s: renewalInfo: %s", cert.name, exc)
            return plan.after_ari_failure(memory, now=now)

    # ------------------------------------------------------------------ passes

    async def renew_due(self, *, force: bool = False, only: tuple[str, ...] = ()) -> tuple[float, int]:
        """One pass of the schedule over the configured certificates.

        Args:
            force: Issue every certificate now (``renew --force``).
            only: Names of the certificates to consider (empty: all).

        Returns:
            ``(wall time of the next due attempt, number of failed attempts in this pass)``.
        """
        down = None  # the CA did not answer: every due certificate fails (and backs off) without asking again
        try:
            self.ari = offered = await self.agent.offers_ari()
        except AcmeError as exc:
            log.warning("directory: %s", exc)
            offered, down = False, (exc if exc.unreachable else None)
        wake, failed = self.clock() + MAX_SLEEP, 0
        for cert in self.cfg.certificate:
            if only and cert.name not in only:
                continue
            try:
                issued, memory, _ = self._load(cert)
            except StoreError as exc:
                log.error("%s: %s", cert.name, exc)
                failed += 1
                continue
            memory = await self._refresh_ari(cert, issued, memory, offered)
            decision = plan.decide(cert.names, issued, memory, now=int(self.clock()), rand=self.rand,
                                   ari=offered, force=force)
            if decision.due:
                log.info("%s: %s (%s)", cert.name, decision.action, decision.reason)
                if not await self.attempt(cert, decision.memory, decision.replaces, down=down):
                    failed += 1
                issued, memory, status = self._load(cert)
                wake = min(wake, float(status.get("next_attempt", wake)))
            else:
                self._save(cert, decision.memory, decision)
                wake = min(wake, float(decision.at))
            if offered and memory.ari_fetch_at:
                wake = min(wake, float(memory.ari_fetch_at))
        return wake, failed

    async def run_daemon(self, stop: asyncio.Event) -> None:
        """Renew what is due, sleep until the next due time, until ``stop`` is set."""
        log.info("acme agent running: %d certificate(s), CA %s", len(self.cfg.certificate), self.agent.url)
        while not stop.is_set():
            task = asyncio.create_task(self.renew_due())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                break
            try:
                wake, _ = task.result()
                self._pass_failures = 0
            except Exception:  # our bug, or the state folder: log it, back off, keep the daemon up
                log.exception("renewal pass failed")
                self._pass_failures += 1
                wake = self.clock() + min(self.cfg.retry_min * 2 ** min(self._pass_failures - 1, 16),
                                          self.cfg.retry_max)
            delay = min(max(wake - self.clock(), MIN_SLEEP), MAX_SLEEP)
            log.debug("sleeping %.1f s", delay)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        log.info("acme agent stopped")

    # ------------------------------------------------------------------ commands

    async def issue(self, name: str) -> bool:
        cert = self.certificate(name)
        issued, memory, _ = self._load(cert)
        down = None
        try:
            self.ari = await self.agent.offers_ari()
        except AcmeError as exc:
            down = exc if exc.unreachable else None
        decision = plan.decide(cert.names, issued, memory, now=int(self.clock()), rand=self.rand,
                               ari=self.ari, force=True)
        return await self.attempt(cert, decision.memory, decision.replaces, down=down)

    async def revoke(self, name: str, reason: str) -> None:
        """Revoke the stored certificate (RFC 8555 §7.6) and schedule a new one at once.

        The status file records ``revoked_at`` (wall seconds), ``revoked_version`` and
        ``revoked_reason``; the plan's memory is marked revoked, so ``renew``/``run`` issue a new
        certificate at once (subject to the backoff after failures) and ``status`` shows it.

        Args:
            name: The certificate's name (its folder).
            reason: A key of :data:`~dns_suite.acme.agent.REVOCATION_REASONS`.

        Raises:
            DnsSuiteError: No such certificate in the config, or none stored.
            AcmeError: The CA refused or could not be reached.
        """
        cert = self.certificate(name)
        bundle = self.store.current(name)
        if bundle is None:
            raise DnsSuiteError(f"certificate {name} has no stored certificate to revoke")
        await self.agent.revoke(bundle.cert_pem, REVOCATION_REASONS[reason])
        issued, memory, _ = self._load(cert)
        memory = dataclasses.replace(memory, revoked=True)
        decision = plan.decide(cert.names, issued, memory, now=int(self.clock()), rand=self.rand, ari=self.ari)
        self._save(cert, decision.memory, decision, revoked_at=int(self.clock()), revoked_version=bundle.version,
                   revoked_reason=reason)
        log.info("%s: revoked version %d (%s)", name, bundle.version, reason)

    def status(self, out: TextIO) -> None:
        """Write each certificate's names, folder, not-after, revocation, next renewal and last
        error (times in UTC, RFC 3339) to ``out``."""
        now = int(self.clock())
        for cert in self.cfg.certificate:
            issued, memory, status = self._load(cert)
            decision = plan.decide(cert.names, issued, memory, now=now, rand=lambda: 0.0)
            nxt, why = status.get("next_attempt", decision.at), status.get("next_reason", decision.reason)
            if decision.action == "issue":  # at once (no, revoked, other names): the file may be older
                nxt, why = decision.at, decision.reason
            lines = [f"{cert.name}: {' '.join(cert.names)}",
                     f"  folder:       {self.store.folder(cert.name)}",
                     f"  not after:    {_iso(issued.not_after) if issued else '-'}"
                     + (" (revoked)" if memory.revoked else "")]
            if memory.revoked:
                lines.append(f"  revoked:      {_revoked(status)}")
            lines += [f"  next renewal: {_iso(int(nxt))}{' (due now)' if nxt <= now else ''} - {why}",
                      f"  last error:   {memory.last_error or '-'}"
                      + (f" at {_iso(memory.last_error_at)}" if memory.last_error_at else "")]
            if memory.failures:
                lines.append(f"  failures:     {memory.failures}")
            out.write("\n".join(lines) + "\n")


def _revoked(status: dict[str, Any]) -> str:
    """``2025-01-01T02:00:00Z (version 1, keyCompromise)`` from the status file's revocation keys."""
    when = status.get("revoked_at")
    facts = [f"version {status['revoked_version']}"] if "revoked_version" in status else []
    facts += [str(status["revoked_reason"])] if status.get("revoked_reason") else []
    text = _iso(int(when)) if isinstance(when, (int, float)) else "yes (time not recorded)"
    return text + (f" ({', '.join(facts)})" if facts else "")


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


async def _run(service: Service) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: log.info("SIGHUP: the acme agent reads its config "
                                                            "at start; restart it to apply changes"))
    from .observe import observing

    async with observing(service):  # /health, /ready, /metrics on http_listen (acme/observe.py)
        await service.run_daemon(stop)


async def _interruptible(coro: Any) -> Any:
    """Run a one-shot command so SIGTERM/SIGINT cancel it: the agent's clean-up (removing the
    TXT values it published) still runs. Returns None when interrupted."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        log.warning("interrupted: stopped after cleaning up")
        return None


def main(cfg: AcmeConfig, command: str, *, name: str | None = None, force: bool = False,
         reason: str = "unspecified", out: TextIO = sys.stdout) -> int:
    """Run one ``dns-suite acme`` command.

    Args:
        cfg: The ``[acme]`` config.
        command: ``issue``, ``renew``, ``run``, ``revoke`` or ``status``.
        name: The certificate, for ``issue`` and ``revoke`` (optional filter for ``renew``).
        force: ``renew --force``: issue every certificate now.
        reason: ``revoke --reason``: a key of :data:`~dns_suite.acme.agent.REVOCATION_REASONS`.
        out: Where ``status`` writes.

    Returns:
        The exit code: 0 on success, 1 when an issuance, renewal or revocation failed.
    """
    service = Service(cfg)
    if command == "status":
        service.status(out)
        return 0
    if command == "run":
        asyncio.run(_run(service))
        return 0
    if command == "issue":
        done = asyncio.run(_interruptible(service.issue(name or "")))
        return 0 if done else 1
    if command == "revoke":
        asyncio.run(service.revoke(name or "", reason))
        return 0
    if command == "renew":
        if name:
            service.certificate(name)
        result = asyncio.run(_interruptible(service.renew_due(force=force, only=(name,) if name else ())))
        return 1 if result is None or result[1] else 0
    raise ValueError(f"unknown acme command {command!r}")
