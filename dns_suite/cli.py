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
    """Run ``check-zone``: load a zone file, report errors, optionally print the zone.

    Args:
        args (argparse.Namespace): ``origin``, ``file``, ``print_zone``, ``allow_generate``.

    Returns:
        int: The exit code from the zone loader (0 when the zone is valid).
    """
    from dns_suite.zone import loader

    return loader.check_zone_main(
        args.origin,
        args.file,
        print_zone=args.print_zone,
        allow_generate=args.allow_generate,
        out=sys.stdout,
        err=sys.stderr,
    )


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
    check.set_defaults(handler=_check_zone)
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
