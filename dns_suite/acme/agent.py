"""The ACME client (I/O): account, order, DNS-01 challenges, finalization, revocation, ARI.

How it works: :class:`Agent` drives the ``acme`` library's :class:`~acme.client.ClientNetwork`
(JWS signing, nonces, HTTPS) with its own order flow (RFC 8555 §7.4), because the library's
polling sleeps a fixed second. :meth:`Agent.issue` does, for one certificate:

1. the directory, then the account: the key made once by the store (ECDSA P-256, JWS ``ES256``),
   the account URL remembered; a new account with the terms agreed and EAB when configured
   (an existing one is found by its key: 200 + Location);
2. one order for all names (with the ACME ``profile`` and, on a renewal, the ARI ``replaces``);
3. the ``dns-01`` challenge of every pending authorization (``valid`` ones are skipped: the CA
   reused them): all TXT values are published first with ``dns01.publish``, which proves them
   on every authoritative server (a wildcard and its apex share one name and get both values);
4. the challenges answered, the authorizations polled every 0.05 s growing to 1 s (or the
   CA's Retry-After) until ``order_timeout``; an invalid one ends the order with the CA's
   problem document; then ``dns01.unpublish`` starts while the order is finalized;
5. finalization with a CSR for a new key of ``key_type``, polled the same way; the chain
   downloaded, checked against the key, and installed by the store.

``dns01.unpublish`` runs whenever something was published, also on failure. ``badNonce`` is
retried up to :data:`BAD_NONCE_TRIES` times per request (the library retries once). A CA error
becomes :class:`AcmeError` carrying the problem document and the response's Retry-After.

Timeouts: every HTTP request to the CA has :data:`CONNECT_TIMEOUT` seconds to connect (TCP and
the TLS handshake; config ``ca_connect_timeout``) and :data:`REQUEST_TIMEOUT` seconds for each
read (``ca_request_timeout``) (``requests``' timeout, set
through ``ClientNetwork(timeout=(connect, read))``), and each call to the CA (one request with its
nonce fetch and badNonce retries) is abandoned after :data:`REQUEST_TIMEOUT` seconds in all. So a
CA that accepts the connection and never answers fails the step within that time, as
:class:`AcmeError` with ``unreachable`` set, instead of holding the agent (the library's default
is 45 s per read, and nothing bounds a whole call).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import josepy as jose
from acme import client as acme_client
from acme import crypto_util
from acme import errors as acme_errors
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dns_suite.config import AcmeCertificateConfig, AcmeConfig
from dns_suite.errors import DnsSuiteError

from . import plan
from .names import acme_names
from .store import Bundle, Store, cert_facts, key_matches, new_key_pem, split_chain

__all__ = ["AcmeError", "Agent", "BAD_NONCE_TRIES", "CONNECT_TIMEOUT", "REQUEST_TIMEOUT", "REVOCATION_REASONS"]

log = logging.getLogger("dns_suite.acme")

BAD_NONCE_TRIES = 10  # attempts of one POST while the CA answers badNonce
CONNECT_TIMEOUT = 10.0  # seconds to connect to the CA (TCP and TLS handshake)
REQUEST_TIMEOUT = 30.0  # seconds for each read, and for a whole call to the CA
POLL_FIRST, POLL_GROWTH, POLL_MAX = 0.05, 1.5, 1.0  # seconds: authorization and order polling
REVOCATION_REASONS = {"unspecified": 0, "keyCompromise": 1, "affiliationChanged": 3, "superseded": 4,
                      "cessationOfOperation": 5}
"""RFC 5280 §5.3.1 reason codes accepted by ``revoke``."""


class AcmeError(DnsSuiteError):
    """An ACME step failed.

    Attributes:
        problem: The CA's problem document (RFC 7807 / RFC 8555 §6.7) as a dict, or None.
        retry_after: The CA's Retry-After as a wall time (seconds since the epoch), or None.
        unreachable: The CA could not be reached or did not answer in time (network error,
            timeout), as opposed to an answer refusing the request.
    """

    def __init__(self, message: str, *, problem: dict[str, Any] | None = None,
                 retry_after: int | None = None, unreachable: bool = False) -> None:
        super().__init__(message)
        self.problem = problem
        self.retry_after = retry_after
        self.unreachable = unreachable


class _NewOrder(messages.NewOrder):
    """A newOrder request with ARI's ``replaces`` (RFC 9773 §5)."""

    replaces: str | None = jose.field("replaces", omitempty=True)


class _Network(acme_client.ClientNetwork):
    """The library's network with ``badNonce`` retried up to :data:`BAD_NONCE_TRIES` times and the
    last response kept (for its Retry-After)."""

    last_response: Any = None

    def post(self, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(BAD_NONCE_TRIES):
            try:
                return self._post_once(*args, **dict(kwargs))
            except messages.Error as error:
                if error.code != "badNonce" or attempt == BAD_NONCE_TRIES - 1:
                    raise
                log.debug("badNonce from the CA, retrying (%d)", attempt + 1)
        raise AssertionError("unreachable")

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.last_response = None
        response = super()._send_request(method, url, *args, **kwargs)
        self.last_response = response
        return response


def _register(client: acme_client.ClientV2, reg: messages.NewRegistration) -> str:
    """Create the account, or find the one the key already has (HTTP 200 + Location): its URL."""
    try:
        return client.new_account(reg).uri
    except acme_errors.ConflictError as exc:
        return exc.location


def _dns01() -> Any:
    """The DNS side of DNS-01 (imported when first needed)."""
    from . import dns01

    return dns01


class Agent:
    """An ACME client for one CA (``AcmeConfig.directory``) and one store.

    Args:
        cfg: The ``[acme]`` config.
        store: Where keys and certificates live.
        publish, unpublish: ``dns01.publish``/``dns01.unpublish`` (replaceable in tests).
        clock: Wall time in seconds.
        timeouts: ``(connect, request)`` seconds for the CA's HTTPS (module docstring); both > 0.
    """

    def __init__(self, cfg: AcmeConfig, store: Store, *,
                 publish: Callable[..., Awaitable[Any]] | None = None,
                 unpublish: Callable[[Any], Awaitable[None]] | None = None,
                 withdraw: Callable[..., Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.time,
                 timeouts: tuple[float, float] = (CONNECT_TIMEOUT, REQUEST_TIMEOUT)) -> None:
        self.cfg, self.store, self.clock = cfg, store, clock
        self.timeouts = timeouts
        self.publish = publish or _dns01().publish
        self.unpublish = unpublish or _dns01().unpublish
        self.withdraw = withdraw or _dns01().withdraw
        self.url = cfg.directory_url
        self._net: _Network | None = None
        self._directory: messages.Directory | None = None
        self._account = False

    # ------------------------------------------------------------------ calls to the CA

    async def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking library call in a thread, for at most the request timeout in all; CA
        and network errors and the timeout become AcmeError (``unreachable`` for the last two)."""
        whole = self.timeouts[1]
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), whole)
        except asyncio.TimeoutError:  # the thread ends at its own read timeout; a new network next time
            self._net = None
            raise AcmeError(f"{what}: the CA at {self.url} did not answer within {whole:g} s",
                            unreachable=True) from None
        except messages.Error as exc:
            problem = json.loads(exc.json_dumps())
            raise AcmeError(f"{what}: the CA says: {exc}", problem=problem,
                            retry_after=self._retry_after()) from None
        except acme_errors.Error as exc:
            status = getattr(self._net.last_response, "status_code", None) if self._net else None
            raise AcmeError(f"{what}: {exc or type(exc).__name__}" + (f" (HTTP {status})" if status else ""),
                            retry_after=self._retry_after()) from None
        except OSError as exc:  # requests' errors are OSErrors: refused, TLS, timeout
            self._net = None
            raise AcmeError(f"{what}: cannot reach the CA at {self.url}: {exc}", unreachable=True) from None

    def _retry_after(self) -> int | None:
        response = self._net.last_response if self._net else None
        header = response.headers.get("Retry-After") if response is not None else None
        return plan.parse_retry_after(header, int(self.clock()))

    def _post(self, url: str, obj: Any) -> Any:
        assert self._net is not None and self._directory is not None
        return self._net.post(url, obj, new_nonce_url=self._directory["newNonce"])

    async def connect(self) -> messages.Directory:
        """Fetch the directory (once per agent, again after a network error)."""
        if self._net is None or self._directory is None:
            key_pem, created = await asyncio.to_thread(self.store.account_key, self.url)
            if created:
                log.info("created account key for %s", self.url)
            key = serialization.load_pem_private_key(key_pem, password=None)
            net = _Network(key=jose.JWKEC(key=key), alg=jose.ES256, verify_ssl=self.cfg.ca_bundle or True,
                           user_agent="dns-suite-acme", timeout=self.timeouts)  # requests: (connect, read)
            self._net = net
            self._directory = await self._call("directory", acme_client.ClientV2.get_directory, self.url, net)
            self._account = False
        return self._directory

    async def offers_ari(self) -> bool:
        """Whether the CA's directory has ``renewalInfo`` (RFC 9773 §3)."""
        directory = await self.connect()
        return "renewalInfo" in directory.to_partial_json()

    async def _ensure_account(self, *, fresh: bool = False) -> None:
        """Use the remembered account, or find-or-create it (key reused)."""
        directory = await self.connect()
        assert self._net is not None
        uri = None if fresh else await asyncio.to_thread(self.store.account_uri, self.url)
        if uri is not None:
            self._net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
            self._account = True
            return
        meta = directory.meta
        terms = getattr(meta, "terms_of_service", None)
        if terms and not self.cfg.agree_terms:
            raise AcmeError(f"the CA has terms of service ({terms}): read them and set agree_terms = true")
        eab = None
        if self.cfg.eab_kid is not None:
            eab = messages.ExternalAccountBinding.from_data(
                account_public_key=self._net.key.public_key(), kid=self.cfg.eab_kid,
                hmac_key=self.cfg.eab_hmac_key, directory=directory)
        elif getattr(meta, "external_account_required", False):
            raise AcmeError("the CA requires external account binding: set eab_kid and eab_hmac_key")
        reg = messages.NewRegistration.from_data(email=self.cfg.email, terms_of_service_agreed=bool(terms),
                                                 external_account_binding=eab)
        self._net.account = None
        client = acme_client.ClientV2(directory, self._net)
        uri = await self._call("new account", _register, client, reg)
        log.info("using account %s", uri)
        await asyncio.to_thread(self.store.save_account_uri, self.url, uri)
        self._net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
        self._account = True

    # ------------------------------------------------------------------ issuance

    async def issue(self, cert: AcmeCertificateConfig, target: Any, *, replaces: str | None = None) -> Bundle:
        """Obtain a certificate for ``cert.names`` and install it (see the module docstring).

        Args:
            cert: The certificate's config; its names are ordered as :func:`.names.acme_names`
                makes them (lowercase, IDNA A-labels).
            target: Where the TXT records go (``dns01.UpdateTarget``), passed to ``publish``.
            replaces: ARI identifier of the certificate being renewed (RFC 9773 §5), or None.

        Returns:
            The installed version.

        Raises:
            names.NameConversionError: A name cannot be made an identifier (nothing sent).
            AcmeError: The CA refused or failed (with its problem document), could not be
                reached, or the order timed out.
            dns01.PublishError, dns01.PropagationError: the TXT records could not be published
                or proven (nothing left behind).
        """
        started = time.monotonic()
        cert = dataclasses.replace(cert, names=acme_names(cert.names))
        key_task = asyncio.create_task(asyncio.to_thread(new_key_pem, cert.key_type))
        try:
            order, authzs = await self._new_order(cert, replaces)
            key_pem = await key_task
        finally:
            key_task.cancel()
        deadline = time.monotonic() + self.cfg.order_timeout
        pending = self._pending_challenges(authzs)
        challenges = [(authz.body.identifier.value, challb.chall.validation(self._net.key))
                      for authz, challb in pending]
        published = None
        cleanup: asyncio.Task | None = None
        await self._withdraw_leftovers(cert.name, target)
        if pending:
            log.info("%s: publishing %d TXT value(s) for %s", cert.name, len(challenges),
                     ", ".join(sorted({name for name, _ in challenges})))
            self.store.save_ledger(cert.name, challenges)  # before the UPDATE: a kill leaves a record
            published = await self.publish(challenges, target, deadline=self.cfg.propagation_timeout)
        try:
            for _, challb in pending:
                await self._call(f"answer challenge {challb.uri}", self._post, challb.uri,
                                 challb.chall.response(self._net.key))
            for authz, _ in pending:
                await self._await_authz(authz, deadline)
            if published is not None:
                cleanup = asyncio.create_task(self.unpublish(published))
            chain = await self._finalize(order, cert, key_pem, deadline)
        finally:
            if published is not None:
                cleanup = cleanup or asyncio.create_task(self.unpublish(published))
                if await self._finish_cleanup(cleanup, cert.name):
                    self.store.clear_ledger(cert.name)
            elif pending:
                self.store.clear_ledger(cert.name)  # publish failed and removed what it added
        leaf, rest = split_chain(chain)
        if not key_matches(key_pem, leaf):
            raise AcmeError(f"{cert.name}: the CA's certificate does not carry our public key")
        bundle = await asyncio.to_thread(self.store.install, cert.name, key_pem=key_pem, cert_pem=leaf,
                                         chain_pem=rest)
        facts = cert_facts(leaf)
        log.info("%s: issued version %d for %s, valid until %s, in %.2f s", cert.name, bundle.version,
                 ", ".join(facts.names), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(facts.not_after)),
                 time.monotonic() - started)
        return bundle

    @staticmethod
    async def _finish_cleanup(task: asyncio.Task, name: str) -> bool:
        """Wait for the removal of the TXT values; True when it worked."""
        try:
            await asyncio.shield(task)
        except DnsSuiteError as exc:
            log.warning("%s: removing the challenge TXT records failed: %s", name, exc)
            return False
        return True

    async def _withdraw_leftovers(self, name: str, target: Any) -> None:
        """Remove TXT values a killed earlier run left behind (its ledger), best effort."""
        leftovers = self.store.load_ledger(name)
        if not leftovers:
            return
        log.warning("%s: removing %d TXT value(s) left by an interrupted run", name, len(leftovers))
        try:
            await self.withdraw(leftovers, target)
        except DnsSuiteError as exc:
            log.warning("%s: could not remove the leftover TXT values: %s", name, exc)
            return
        self.store.clear_ledger(name)

    async def _new_order(self, cert: AcmeCertificateConfig, replaces: str | None) -> tuple[Any, list[Any]]:
        """Create the order (retrying without ``replaces`` if the CA refuses it, and with a new
        account if the remembered one is gone) and fetch its authorizations."""
        if not self._account:
            await self._ensure_account()
        identifiers = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name) for name in cert.names]
        for attempt in range(3):
            body = _NewOrder(identifiers=identifiers, profile=cert.profile, replaces=replaces)
            try:
                response = await self._call("new order", self._post, self._directory["newOrder"], body)
                break
            except AcmeError as exc:
                code = str((exc.problem or {}).get("type", "")).rsplit(":", 1)[-1]
                if attempt < 2 and code == "accountDoesNotExist":
                    await self._ensure_account(fresh=True)
                elif attempt < 2 and replaces is not None and code in ("alreadyReplaced", "malformed", "conflict"):
                    log.info("%s: the CA refused replaces=%s (%s); ordering without it", cert.name, replaces, code)
                    replaces = None
                else:
                    raise
        order = messages.OrderResource(body=messages.Order.from_json(response.json()),
                                       uri=response.headers.get("Location"), authorizations=[])
        authzs = []
        for url in order.body.authorizations:
            reply = await self._call(f"authorization {url}", self._post, url, None)
            authzs.append(messages.AuthorizationResource(body=messages.Authorization.from_json(reply.json()),
                                                         uri=url))
        return order, authzs

    @staticmethod
    def _pending_challenges(authzs: list[Any]) -> list[tuple[Any, Any]]:
        """The dns-01 challenge of each pending authorization; valid ones are skipped."""
        pending = []
        for authz in authzs:
            ident = authz.body.identifier.value
            status = authz.body.status
            if status == messages.STATUS_VALID:
                log.debug("authorization for %s is already valid", ident)
                continue
            if status != messages.STATUS_PENDING:
                raise AcmeError(f"authorization for {ident} is {status.name} at {authz.uri}")
            found = [c for c in authz.body.challenges if c.chall.typ == "dns-01"]
            if not found:
                raise AcmeError(f"the CA offers no dns-01 challenge for {ident}")
            pending.append((authz, found[0]))
        return pending

    async def _poll(self, what: str, url: str, deadline: float, done: Callable[[dict], bool]) -> dict:
        """POST-as-GET ``url`` until ``done(json)``; 0.05 s growing to 1 s, or the Retry-After."""
        delay = POLL_FIRST
        while True:
            response = await self._call(what, self._post, url, None)
            data = response.json()
            if done(data):
                return data
            now = time.monotonic()
            if now >= deadline:
                raise AcmeError(f"{what}: still {data.get('status')} after order_timeout "
                                f"({self.cfg.order_timeout:g} s)")
            wait = delay
            hint = plan.parse_retry_after(response.headers.get("Retry-After"), int(self.clock()))
            if hint is not None:
                wait = max(wait, hint - self.clock())
            await asyncio.sleep(min(wait, deadline - now))
            delay = min(delay * POLL_GROWTH, POLL_MAX)

    async def _await_authz(self, authz: Any, deadline: float) -> None:
        ident = authz.body.identifier.value
        data = await self._poll(f"authorization for {ident}", authz.uri, deadline,
                                lambda d: d.get("status") not in ("pending", "processing"))
        if data.get("status") == "valid":
            return
        problems = [c["error"] for c in data.get("challenges", []) if c.get("error")]
        detail = "; ".join(f"{p.get('type')}: {p.get('detail')}" for p in problems) or "no detail"
        raise AcmeError(f"authorization for {ident} is {data.get('status')}: {detail}",
                        problem=problems[0] if problems else None)

    async def _finalize(self, order: Any, cert: AcmeCertificateConfig, key_pem: bytes, deadline: float) -> bytes:
        """Finalize with a CSR for ``key_pem``; wait for ``valid``; download the chain."""
        csr = x509.load_pem_x509_csr(crypto_util.make_csr(key_pem, list(cert.names)))
        request = messages.CertificateRequest(csr=csr)
        data = None
        for _ in range(2):
            try:
                reply = await self._call("finalize", self._post, order.body.finalize, request)
                data = reply.json()
                break
            except AcmeError as exc:  # orderNotReady: the CA has not caught up; wait for "ready"
                if not str((exc.problem or {}).get("type", "")).endswith(":orderNotReady"):
                    raise
                await self._poll("order", order.uri, deadline, lambda d: d.get("status") != "pending")
        if data is None or data.get("status") != "valid":
            data = await self._poll("order", order.uri, deadline,
                                    lambda d: d.get("status") not in ("pending", "ready", "processing"))
        if data.get("status") != "valid" or not data.get("certificate"):
            raise AcmeError(f"order {order.uri} is {data.get('status')}: {data.get('error')}",
                            problem=data.get("error"))
        reply = await self._call("certificate download", self._post, data["certificate"], None)
        return reply.content

    # ------------------------------------------------------------------ other calls

    async def revoke(self, cert_pem: bytes, reason: int = 0) -> None:
        """Revoke a certificate issued to our account (RFC 8555 §7.6)."""
        await self._ensure_account()
        client = acme_client.ClientV2(self._directory, self._net)
        cert = x509.load_pem_x509_certificate(cert_pem)
        await self._call("revoke", client.revoke, cert, reason)

    async def renewal_info(self, issued: plan.Issued) -> tuple[dict[str, Any], str | None]:
        """Fetch a certificate's renewalInfo (RFC 9773 §4.1): ``(JSON body, Retry-After)``.

        Raises:
            AcmeError: The CA has no renewalInfo, or the fetch failed.
        """
        directory = await self.connect()
        base = directory.to_partial_json().get("renewalInfo")
        if not base or issued.ari_id is None:
            raise AcmeError("no renewalInfo for this certificate")
        response = await self._call("renewalInfo", self._net.get, f"{base.rstrip('/')}/{issued.ari_id}")
        return response.json(), response.headers.get("Retry-After")
