"""``$GENERATE`` expansion with BIND semantics.

``$GENERATE start-stop[/step] lhs [ttl] [class] type rhs``: for each value in
the range, ``$`` in lhs and rhs becomes the value, ``${offset[,width[,base]]}``
adds an offset and formats it (base ``d``, ``o``, ``x``, ``X``, or ``n``/``N``
for nibbles in reverse order separated by dots), ``$$`` is a literal ``$``, and
an escape such as ``\\$`` is copied whole for the name or rdata parser.
"""

from __future__ import annotations

import re
from typing import Iterator

from dns_suite.zone.errors import RdataError, shown

MAX_RECORDS = 1_000_000
MAX_WIDTH = 127  # BIND formats into a 128-octet buffer
_RANGE = re.compile(r"([0-9]+)-([0-9]+)(?:/([0-9]+))?")
_MODIFIER = re.compile(r"\{([+-]?[0-9]+)(?:,([0-9]+)(?:,([doxXnN]))?)?\}")


def _format(value: int, width: int, base: str) -> str:
    if base in "nN":
        if value < 0:
            raise RdataError("negative $GENERATE value in nibble mode")
        return _nibbles(value, width, "0123456789abcdef" if base == "n" else "0123456789ABCDEF")
    return format(value, base).zfill(width)


def _nibbles(value: int, width: int, digits: str) -> str:
    """BIND's nibble form: every nibble, least significant first, dot-separated,
    padded with zero nibbles until at least ``width`` characters, dots included."""
    out = []
    while True:
        out.append(digits[value & 0xF])
        value >>= 4
        width = max(width - 1, 0)
        if width or value:
            out.append(".")
            width = max(width - 1, 0)
        if not value and not width:
            return "".join(out)


def substitute(template: str, value: int) -> str:
    """``template`` with every ``$`` form replaced for ``value``.

    Raises:
        RdataError: a malformed ``${...}`` modifier.
    """
    out = []
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c == "\\":  # an escape is copied whole (BIND): "\\$" stays for the name parser
            out.append(template[i:i + 2])
            i += 2
        elif c == "$":
            if i + 1 < n and template[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            m = _MODIFIER.match(template, i + 1)
            if i + 1 < n and template[i + 1] == "{" and m is None:
                raise RdataError(f"bad $GENERATE modifier in {shown(template)}")
            if m:
                offset, width, base = int(m.group(1)), int(m.group(2) or 0), m.group(3) or "d"
                if width > MAX_WIDTH:
                    raise RdataError(f"$GENERATE width over {MAX_WIDTH} in {shown(template)}")
                out.append(_format(value + offset, width, base))
                i = m.end()
            else:
                out.append(str(value))
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand(args: list[str]) -> Iterator[list[str]]:
    """Token lists of the records a ``$GENERATE`` line stands for.

    Args:
        args: the tokens after ``$GENERATE``.

    Raises:
        RdataError: bad range, too few fields, or more than 1,000,000 records.
    """
    if len(args) < 4:
        raise RdataError("$GENERATE needs a range, lhs, type and rhs")
    m = _RANGE.fullmatch(args[0])
    if m is None:
        raise RdataError(f"bad $GENERATE range {shown(args[0])}")
    start, stop, step = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
    if stop < start or step < 1:
        raise RdataError(f"bad $GENERATE range {shown(args[0])}")
    if (stop - start) // step + 1 > MAX_RECORDS:
        raise RdataError(f"$GENERATE range makes more than {MAX_RECORDS} records")
    lhs, middle, rhs = args[1], args[2:-1], args[-1]
    keep = type(rhs)  # a Glued rhs (SVCB key="...") stays Glued
    for value in range(start, stop + 1, step):
        yield [substitute(lhs, value)] + middle + [keep(substitute(rhs, value))]
