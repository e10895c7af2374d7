"""Load zone files from disk into :class:`~dns_suite.zone.model.Zone` (I/O).

:func:`load_zone` reads a file (and its ``$INCLUDE`` files) through the
reader and the builder, and returns the zone with its problems, each tied to
a file and line. :func:`check_zone_main` is ``dns-suite check-zone``.
"""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass
from typing import IO, Iterable

from dns_suite.wire.errors import WireError
from dns_suite.wire.name import Name
from dns_suite.wire.types import RRClass, RRType
from dns_suite.zone.errors import ZoneError
from dns_suite.zone.model import Problem, Zone, ZoneBuilder
from dns_suite.zone.rdatatext import rdata_to_text
from dns_suite.zone.reader import ZoneReader


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadResult:
    """What loading gave: the zone (None when refused) and the verdicts."""

    zone: Zone | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        """The problems that refuse the zone."""
        return [p for p in self.problems if p.severity == "error"]


def _open_include(path: str, including: str) -> tuple[str, Iterable[str]]:
    full = path if os.path.isabs(path) else os.path.join(os.path.dirname(including), path)
    handle = open(full, encoding="utf-8-sig", errors="surrogateescape")  # OSError here: at the directive
    return full, _read_closing(handle)


def _read_closing(handle) -> Iterable[str]:
    with handle:
        yield from handle


def _lines(path: str) -> Iterable[str]:
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as f:
        yield from f


def load_zone(origin: str | Name, path: str, *, allow_generate: bool = True,
              rrclass: int = 1) -> LoadResult:
    """Read ``path`` as the master file of ``origin``.

    Args:
        origin: the zone's apex (text or Name).
        path: the zone file; ``$INCLUDE`` paths are relative to the including file.
        allow_generate: accept ``$GENERATE``.
        rrclass: the zone's class.

    Returns:
        :class:`LoadResult`. A syntax error, an unreadable file or any
        error-level problem gives ``zone=None``; nothing is raised for them.
    """
    try:
        apex = origin if isinstance(origin, Name) else Name.from_text(origin, Name(b"\0"))
    except WireError as exc:
        return _failed(path, 0, f"bad origin {origin!r}: {exc.reason}")
    gc_was_on = gc.isenabled()
    gc.disable()  # millions of acyclic objects: collections would only cost time
    try:
        return _load(apex, path, allow_generate, rrclass)
    finally:
        if gc_was_on:
            gc.enable()


def _load(apex: Name, path: str, allow_generate: bool, rrclass: int) -> LoadResult:
    builder = ZoneBuilder(apex, rrclass)
    reader = ZoneReader(apex, file=path, rrclass=rrclass, allow_generate=allow_generate,
                        open_include=_open_include, keep_going=True)
    add = builder.add
    try:
        for owner, ttl, rrtype, rdata, file, line in reader.records(_lines(path)):
            add(owner, ttl, rrtype, rdata, file, line)
        if reader.errors:
            raise reader.errors.pop()
    except ZoneError as exc:
        errors = [_problem(e.file, e.line, e.reason) for e in (*reader.errors, exc)]
        return LoadResult(zone=None, problems=tuple(sorted((*builder.problems, *errors),
                                                           key=lambda p: (p.file, p.line))))
    except OSError as exc:
        return _failed(path, 0, f"cannot read: {exc.strerror or exc}")
    except UnicodeError as exc:
        return _failed(path, 0, f"cannot decode: {exc}")
    zone, problems = builder.build()
    return LoadResult(zone=zone, problems=tuple(_locate(problems, apex, path, allow_generate,
                                                        rrclass)))


def _problem(file: str, line: int, reason: str) -> Problem:
    return Problem(severity="error", file=file, line=line, reason=reason)


def _failed(path: str, line: int, reason: str) -> LoadResult:
    return LoadResult(zone=None, problems=(_problem(path, line, reason),))


def _locate(problems: list[Problem], apex: Name, path: str, allow_generate: bool,
            rrclass: int) -> list[Problem]:
    """Fill in file and line of post-pass problems by reading the file again.

    Only done when such problems exist, so a clean zone is read once.
    """
    missing = {p.owner.key for p in problems if p.line == 0 and p.owner is not None}
    if not missing:
        return sorted(problems, key=lambda p: (p.file, p.line))
    found: dict[bytes, tuple[str, int]] = {}
    reader = ZoneReader(apex, file=path, rrclass=rrclass, allow_generate=allow_generate,
                        open_include=_open_include)
    for owner, _ttl, _t, _rd, file, line in reader.records(_lines(path)):
        if owner.key in missing and owner.key not in found:
            found[owner.key] = (file, line)
    out = []
    for p in problems:
        if p.line == 0 and p.owner is not None and p.owner.key in found:
            file, line = found[p.owner.key]
            p = Problem(severity=p.severity, file=file, line=line, reason=p.reason, owner=p.owner)
        elif not p.file:
            p = Problem(severity=p.severity, file=path, line=p.line, reason=p.reason, owner=p.owner)
        out.append(p)
    return sorted(out, key=lambda p: (p.file, p.line))


def zone_to_text(zone: Zone) -> Iterable[str]:
    """The zone in canonical master-file form: one RR a line, absolute names,
    RRsets in canonical order (RFC 4034 §6.1), SOA first."""
    cls = RRClass(zone.rrclass).to_text()
    for rrset in zone.rrsets():
        owner = rrset.owner.to_text()
        typ = RRType(rrset.rrtype).to_text()
        for rd in rrset.rdatas:
            yield f"{owner}\t{rrset.ttl}\t{cls}\t{typ}\t{rdata_to_text(zone.rrclass, rrset.rrtype, rd)}\n"


def check_zone_main(origin: str, path: str, *, print_zone: bool = False, allow_generate: bool = True,
                    out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """``dns-suite check-zone ORIGIN FILE``: print verdicts; 0 when loadable, 1 on errors."""
    result = load_zone(origin, path, allow_generate=allow_generate)
    for p in result.problems:
        print(p, file=err)
    if result.zone is None:
        print(f"zone {origin}: not loaded due to errors", file=err)
        return 1
    if print_zone:
        out.writelines(zone_to_text(result.zone))
    else:
        print(f"zone {result.zone.origin}: loaded serial {result.zone.serial}, "
              f"{result.zone.record_count()} records", file=out)
    return 0
