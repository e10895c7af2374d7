"""Command line: ``dns-suite SUBCOMMAND ...``.

Each subcommand's handler imports what it needs when it runs, so that ``dns-suite check-zone``
does not load the services, and a container carrying one service loads only that one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dns_suite import __version__
from dns_suite.errors import DnsSuiteError


def _check_zone(args: argparse.Namespace) -> int:
    """Run ``check-zone``: load a zone file, report errors, verify its DNSSEC data when signed,
    optionally print the zone.

    Args:
        args (argparse.Namespace): ``origin``, ``file``, ``print_zone``, ``allow_generate``,
            ``dnssec`` (None, True or False), ``time`` (text or None).

    Returns:
        int: The exit code from the zone loader (0 when the zone is valid), 2 for a bad
        ``--time``, 1 when memory ran out (reported as an error, not a traceback).
    """
    from dns_suite.zone import loader, verify

    try:
        now = None if args.time is None else verify.parse_time(args.time)
    except verify.TimeError as exc:
        print(f"dns-suite check-zone: {exc}", file=sys.stderr)
        return 2
    try:
        return loader.check_zone_main(
            args.origin,
            args.file,
            print_zone=args.print_zone,
            allow_generate=args.allow_generate,
            dnssec=args.dnssec,
            now=now,
            out=sys.stdout,
            err=sys.stderr,
        )
    except MemoryError:  # a last resort: the reader's limits should keep memory bounded
        print(f"dns-suite check-zone: {args.file}: out of memory", file=sys.stderr)
        return 1


def _authoritative(args: argparse.Namespace) -> int:
    """Run ``authoritative``: from ``--config``, or from ``--zone``/``--listen``/``--workers``.

    Args:
        args (argparse.Namespace): ``config``, ``zone`` (list of ``ORIGIN=FILE``), ``listen``,
            ``workers``, ``log_level``.

    Returns:
        int: 0 after a clean stop, 1 when the service cannot start, 2 on a usage error.

    Raises:
        ConfigError: the config file or a command-line value is wrong.
    """
    from dns_suite import config as cfgmod
    from dns_suite.runtime import setup_logging

    setup_logging(args.log_level)
    if args.config is not None and args.zone:
        print("dns-suite authoritative: give --config FILE or --zone ORIGIN=FILE, not both", file=sys.stderr)
        return 2
    if args.config is not None:
        cfg = cfgmod.load_authoritative_config(args.config)
        overrides = {}
        if args.listen:
            overrides["listen"] = args.listen
        if args.workers is not None:
            overrides["workers"] = args.workers
        data = {"authoritative": {**_as_table(cfg), **overrides}}
    elif args.zone:
        import os
        import tempfile

        listen = args.listen or ["127.0.0.1:5300"]
        where = listen[0].replace("[", "").replace("]", "").replace(":", "-")  # address and port
        data = {"authoritative": {"listen": listen, "workers": 1 if args.workers is None else args.workers,
                                  "zones": [_zone_arg(z) for z in args.zone],
                                  "control_socket": os.path.join(tempfile.gettempdir(),
                                                                 f"dns-suite-authoritative-{where}.sock")}}
    else:
        print("dns-suite authoritative: give --config FILE or --zone ORIGIN=FILE", file=sys.stderr)
        return 2
    cfg = cfgmod.load_section(data["authoritative"], cfgmod.AuthoritativeConfig,
                              file=args.config or "<command line>", prefix="authoritative")
    if cfg.log_format != "text":
        setup_logging(args.log_level, cfg.log_format)
    if not _listen_free(cfg.listen, "authoritative"):
        return 1
    from dns_suite.authoritative import service

    return service.run(cfg, args.config)


def _resolver(args: argparse.Namespace) -> int:
    """Run ``resolver``: from ``--config`` (its ``[resolver]`` table), or from the defaults.

    Args:
        args (argparse.Namespace): ``config``, ``listen``, ``root_hints``, ``log_level``
            (each given option overrides the config, also across SIGHUP reloads).

    Returns:
        int: 0 after a clean stop, 1 when the service cannot start.

    Raises:
        ConfigError: the config file or a command-line value is wrong.
    """
    import dataclasses
    import os

    from dns_suite import config as cfgmod
    from dns_suite.runtime import setup_logging

    cfg = cfgmod.load_resolver_config(args.config) if args.config else cfgmod.ResolverConfig()
    overrides = {}
    if args.listen:
        overrides["listen"] = tuple(args.listen)
    if args.root_hints:
        overrides["root_hints"] = os.path.abspath(args.root_hints)
    if args.log_level:
        overrides["log_level"] = args.log_level
    cfg = cfgmod.load_section(_as_table(dataclasses.replace(cfg, **overrides)), cfgmod.ResolverConfig,
                              file="<command line>", prefix="resolver")  # checks the overrides
    setup_logging(cfg.log_level, cfg.log_format)
    if not _listen_free(cfg.listen, "resolver"):
        return 1
    from dns_suite.resolver import service

    return service.run(cfg, args.config, overrides)


def _listen_free(listen: Sequence[str], service: str) -> bool:
    """Whether no other process holds one of the ``listen`` addresses (else it is logged as
    the service's "cannot start"): the workers' SO_REUSEPORT would otherwise silently join
    another instance's sockets (:func:`dns_suite.runtime.check_free`)."""
    import logging

    from dns_suite.config import parse_listen
    from dns_suite.runtime import check_free

    try:
        check_free([parse_listen(text) for text in listen])
    except OSError as exc:
        logging.getLogger(f"dns_suite.{service}").error("cannot start: %s", exc)
        return False
    return True


def _as_table(value):
    """A config dataclass back as the TOML-shaped value it was loaded from."""
    import dataclasses

    if dataclasses.is_dataclass(value):
        return {f.name: _as_table(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, tuple):
        return [_as_table(v) for v in value]
    return value


def _zone_arg(text: str) -> dict:
    from dns_suite.errors import ConfigError

    origin, sep, path = text.partition("=")
    if not sep or not origin or not path:
        raise ConfigError("<command line>", "--zone", f"expected ORIGIN=FILE, got {text!r}")
    # quick use, scripts and tests: no NOTIFY to the zone's NS addresses (they may be anywhere)
    return {"origin": origin, "file": path, "notify_ns": False}


def _tsig_keygen(args: argparse.Namespace) -> int:
    """Run ``tsig-keygen``: print a new TSIG key in BIND's key-file format (as ``tsig-keygen`` does).

    Args:
        args (argparse.Namespace): ``name`` (the key name) and ``algorithm``.

    Returns:
        int: 0; a bad name or algorithm raises, and :func:`main` reports it with exit code 1.
    """
    import secrets

    from dns_suite.wire.tsig import algorithm_name
    from dns_suite.wire.tsigkeys import format_key

    canon = algorithm_name(args.algorithm).to_text().lower()
    size = 64 if canon in ("hmac-sha384.", "hmac-sha512.") else 32  # octets of randomness
    sys.stdout.write(format_key(args.name, args.algorithm, secrets.token_bytes(size)))
    return 0


def _ctl(args: argparse.Namespace) -> int:
    """Run ``ctl``: one command to a running authoritative service over its control socket.

    Args:
        args (argparse.Namespace): ``socket`` or ``config``, ``ctl_command``, ``zone``.

    Returns:
        int: 0 on success, 1 when the service is unreachable or refuses.
    """
    from dns_suite.authoritative.ctl import ctl_main
    from dns_suite.config import AuthoritativeConfig, load_authoritative_config

    if args.socket:
        path = args.socket
    elif args.config:
        path = load_authoritative_config(args.config).control_socket
    else:
        path = AuthoritativeConfig().control_socket
    return ctl_main(path, args.ctl_command, args.zone)


def _acme(args: argparse.Namespace) -> int:
    """Run ``acme issue NAME | renew | run | revoke NAME | status`` from ``--config``'s ``[acme]``.

    Args:
        args (argparse.Namespace): ``acme_command``, ``config``, ``name``, ``force``, ``reason``,
            ``log_level``.

    Returns:
        int: 0 on success, 1 when an issuance, renewal or revocation failed, 2 on a usage error.
    """
    from dns_suite import config as cfgmod
    from dns_suite.runtime import setup_logging

    if args.acme_command is None:
        print("dns-suite acme: give a command: issue NAME | renew | run | revoke NAME | status",
              file=sys.stderr)
        return 2
    setup_logging(args.log_level)
    cfg = cfgmod.load_acme_config(args.config)
    if cfg.log_format != "text":
        setup_logging(args.log_level, cfg.log_format)
    from dns_suite.acme import service

    return service.main(cfg, args.acme_command, name=getattr(args, "name", None),
                        force=getattr(args, "force", False), reason=getattr(args, "reason", "unspecified"))


def _add_acme_parser(commands: argparse._SubParsersAction) -> None:
    """The ``acme`` subcommand and its own commands."""
    acme = commands.add_parser(
        "acme",
        help="obtain and renew certificates from an ACME CA with DNS-01 (RFC 2136 UPDATE)",
        description="Obtain and renew TLS certificates from an ACME CA (Let's Encrypt by default) "
        "with the DNS-01 challenge, publishing the TXT records by TSIG-signed UPDATE.",
    )
    acme.set_defaults(handler=_acme, acme_command=None)
    sub = acme.add_subparsers(dest="acme_command", metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--config", metavar="FILE", required=True, help="TOML config with an [acme] table")
        parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
        return parser

    command("issue", "issue one certificate now").add_argument("name", metavar="NAME")
    renew = command("renew", "renew the certificates that are due (all with --force)")
    renew.add_argument("name", metavar="NAME", nargs="?", help="only this certificate")
    renew.add_argument("--force", action="store_true", help="renew now, whatever the schedule")
    command("run", "daemon: renew what is due, sleep until the next due time; SIGTERM stops")
    revoke = command("revoke", "revoke the current certificate of NAME")
    revoke.add_argument("name", metavar="NAME")
    revoke.add_argument("--reason", default="unspecified",
                        choices=["unspecified", "keyCompromise", "affiliationChanged", "superseded",
                                 "cessationOfOperation"])
    command("status", "per certificate: names, not-after, next renewal, last error")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand.

    Returns:
        argparse.ArgumentParser: The parser; each subcommand sets ``handler`` to a function
        ``(argparse.Namespace) -> int``.
    """
    parser = argparse.ArgumentParser(
        prog="dns-suite",
        description="DNS service suite: authoritative server, resolver, ACME agent.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser(
        "check-zone",
        help="check a zone file and report its errors",
        description="Load ORIGIN's zone from FILE, report errors as FILE:LINE: REASON.",
    )
    check.add_argument("origin", metavar="ORIGIN", help="the zone's apex, e.g. example.test.")
    check.add_argument("file", metavar="FILE", help="the zone file (RFC 1035 section 5)")
    check.add_argument(
        "--print", dest="print_zone", action="store_true", help="print the loaded zone"
    )
    check.add_argument(
        "--no-generate",
        dest="allow_generate",
        action="store_false",
        help="reject $GENERATE directives",
    )
    dnssec = check.add_mutually_exclusive_group()  # both at once is a usage error (exit 2)
    dnssec.add_argument(
        "--dnssec",
        dest="dnssec",
        action="store_const",
        const=True,
        default=None,
        help="verify signatures, keys and the NSEC/NSEC3 chain, and make an unsigned zone an "
        "error (default: verify when the apex has a DNSKEY)",
    )
    dnssec.add_argument(
        "--no-dnssec", dest="dnssec", action="store_const", const=False,
        help="do not verify DNSSEC data",
    )
    check.add_argument(
        "--time",
        metavar="TIME",
        help="when signatures must be valid: YYYYMMDDHHMMSS (UTC) or seconds since the epoch "
        "(default: now)",
    )
    check.set_defaults(handler=_check_zone)

    auth = commands.add_parser(
        "authoritative",
        help="serve zones over UDP and TCP",
        description="Serve zones from zone files. Use --config FILE, or --zone ORIGIN=FILE "
        "(repeatable) with --listen ADDR:PORT. SIGHUP reloads, SIGTERM stops.",
    )
    auth.add_argument("--config", metavar="FILE", help="TOML config with an [authoritative] table")
    auth.add_argument("--zone", action="append", default=[], metavar="ORIGIN=FILE",
                      help="serve ORIGIN from FILE (repeatable)")
    auth.add_argument("--listen", action="append", default=[], metavar="ADDR:PORT",
                      help="listen address, [v6]:port for IPv6 (repeatable; default 127.0.0.1:5300)")
    auth.add_argument("--workers", type=int, metavar="N", help="UDP worker processes")
    auth.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    auth.set_defaults(handler=_authoritative)

    resolver = commands.add_parser(
        "resolver",
        help="serve as a caching recursive resolver over UDP and TCP",
        description="Resolve by iteration from the root hints, cache, and answer the clients the "
        "config's allow list admits (loopback and private networks by default; others get "
        "REFUSED). SIGHUP reloads, SIGTERM stops.",
    )
    resolver.add_argument("--config", metavar="FILE", help="TOML config with a [resolver] table")
    resolver.add_argument("--listen", action="append", default=[], metavar="ADDR:PORT",
                          help="listen address, [v6]:port for IPv6 (repeatable; replaces the config's; "
                          "default 127.0.0.1:53 and [::1]:53)")
    resolver.add_argument("--root-hints", metavar="FILE",
                          help="root hints file (named.root format; default: the shipped IANA file)")
    resolver.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                          help="default: the config's log_level (info)")
    resolver.set_defaults(handler=_resolver)

    ctl = commands.add_parser(
        "ctl",
        help="control a running authoritative service",
        description="Send a command to a running authoritative service over its control socket.",
    )
    ctl.add_argument("ctl_command", metavar="COMMAND",
                     choices=["reload", "zone-status", "freeze", "thaw", "stats", "retransfer"],
                     help="reload [ZONE] | zone-status [ZONE] | freeze ZONE | thaw ZONE | stats | "
                          "retransfer ZONE")
    ctl.add_argument("zone", nargs="?", metavar="ZONE", help="the zone, where the command takes one")
    where = ctl.add_mutually_exclusive_group()
    where.add_argument("--socket", metavar="PATH", help="the control socket")
    where.add_argument("--config", metavar="FILE", help="take the socket path from this config")
    ctl.set_defaults(handler=_ctl)

    keygen = commands.add_parser(
        "tsig-keygen",
        help="print a new TSIG key as a BIND key statement",
        description="Print a new random TSIG key (RFC 8945) for NAME in the format BIND's "
        "tsig-keygen writes; usable with nsupdate -k and as a key file in the config.",
    )
    keygen.add_argument("name", metavar="NAME", help="the key name, e.g. acme-key.")
    keygen.add_argument("--algorithm", "-a", default="hmac-sha256", metavar="A",
                        help="hmac-sha256 (default), hmac-sha224, hmac-sha384, hmac-sha512, "
                        "hmac-sha1 or hmac-md5")
    keygen.set_defaults(handler=_tsig_keygen)
    _add_acme_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv (Sequence[str] | None): Arguments without the program name; ``None`` reads
            ``sys.argv[1:]``.

    Returns:
        int: The process exit code: 0 on success, 1 on an error the command reports, 2 on a
        usage error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse has printed already
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 2
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except DnsSuiteError as exc:
        print(f"dns-suite {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
