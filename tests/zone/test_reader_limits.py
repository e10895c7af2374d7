"""Bad input that once cost unbounded memory or output (QA report, items 1-4).

A token, a line or a parenthesised record too long to be valid, a device or FIFO as a zone
file or ``$INCLUDE`` target, binary data: each is refused at its file and line, early, in
bounded memory. Runs that could grow without bound go through a subprocess under
``RLIMIT_AS`` and a timeout, so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from dns_suite.cli import main
from dns_suite.zone.errors import shown
from dns_suite.zone.loader import check_zone_main
from dns_suite.wire.name import Name
from dns_suite.zone.reader import MAX_ERRORS, MAX_LINE, MAX_TOKEN, ZoneReader

HEAD = "$ORIGIN good.qa.\n$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
LIMIT = 400 << 20  # octets of address space for the subprocess: far above its ~100 MB need


def check_zone_limited(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``dns-suite check-zone ARGV`` in a subprocess with at most :data:`LIMIT` of address
    space and ``timeout`` seconds."""
    code = ("import resource, sys\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, {LIMIT}))\n"
            "from dns_suite.cli import main\n"
            f"sys.exit(main(['check-zone', *{list(argv)!r}]))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          errors="replace", timeout=timeout)


def read(text_or_lines, keep_going: bool = True) -> tuple[list, ZoneReader]:
    lines = text_or_lines.splitlines(keepends=True) if isinstance(text_or_lines, str) \
        else text_or_lines
    reader = ZoneReader(Name.from_text("good.qa."), file="z", keep_going=keep_going)
    try:
        records = list(reader.records(lines))
    except Exception as exc:  # noqa: BLE001 - the test looks at it
        reader.errors.append(exc)
        records = []
    return records, reader


def pieces(line: str) -> list[str]:
    """``line`` as the loader hands it over: ``readline(MAX_LINE + 1)`` pieces."""
    return [line[i:i + MAX_LINE + 1] for i in range(0, len(line), MAX_LINE + 1)]


# --- item 1: long tokens ------------------------------------------------------------------

def test_long_quoted_token_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "long.zone"
    path.write_text(HEAD + 'x 300 IN TXT "' + "a" * 20_000_000 + '"\nz TXT ok\n')
    done = check_zone_limited("good.qa.", str(path))
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    assert f"{path}:6: error: token too long (" in done.stderr, done.stderr[:2000]
    assert len(done.stderr) < 1000


def test_long_tokens_quoted_or_bare_are_errors_at_their_line():
    n = MAX_TOKEN + 10
    text = HEAD + f"x TXT \"{'a' * n}\"\ny TXT {'b' * n}\nz TXT ok\n"
    records, reader = read(text)
    got = [(e.line, e.reason) for e in reader.errors]
    assert got == [(6, f"token too long ({n + 2} characters, max {MAX_TOKEN})"),
                   (7, f"token too long ({n} characters, max {MAX_TOKEN})")], got
    assert records[-1][0] == Name.from_text("z.good.qa.")  # and reading went on


def test_line_longer_than_max_line_comes_in_pieces_and_is_skipped():
    words = ("w " * (MAX_LINE // 2 + 5))  # short tokens, but a line over MAX_LINE
    lines = [*HEAD.splitlines(keepends=True), *pieces("x TXT " + words + "\n"), "z TXT ok\n"]
    records, reader = read(lines)
    assert [(e.line, e.reason.split(" (")[0]) for e in reader.errors] == [(6, "line too long")]
    assert records[-1][4:] == ("z", 7)  # the next line keeps its number


def test_a_token_cut_by_the_line_limit_is_too_long_with_a_plus():
    lines = [*HEAD.splitlines(keepends=True), *pieces('x TXT "' + "a" * (3 * MAX_LINE) + '"\n')]
    _, reader = read(lines)
    assert [e.line for e in reader.errors] == [6]
    assert reader.errors[0].reason.startswith(f"token too long ({MAX_LINE + 1 - 6}+ characters")


def test_parenthesised_record_over_the_cap_is_refused_and_skipped():
    body = "".join(f"  {'ab' * 30_000}\n" for _ in range(MAX_LINE // 60_000 + 2))
    text = HEAD + "x TXT (\n" + body + ")\nz TXT ok\n"
    records, reader = read(text)
    assert len(reader.errors) == 1 and reader.errors[0].reason.startswith("record too long")
    assert records[-1][0] == Name.from_text("z.good.qa.")


# --- item 2: not a regular file --------------------------------------------------------------

def test_device_as_zone_file_is_refused():
    done = check_zone_limited("good.qa.", "/dev/zero", timeout=30)
    assert done.returncode == 1 and "/dev/zero: error: cannot read: not a regular file" in \
        done.stderr, done.stderr[-2000:]


def test_device_fifo_and_directory_as_include_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    path = tmp_path / "inc.zone"
    path.write_text(HEAD + f"$INCLUDE /dev/zero\n$INCLUDE {fifo}\n$INCLUDE {tmp_path}\n")
    done = check_zone_limited("good.qa.", str(path), timeout=30)
    assert done.returncode == 1, done.stderr[-2000:]
    for line, target in ((6, "/dev/zero"), (7, fifo), (8, tmp_path)):
        assert f"{path}:{line}: error: $INCLUDE {target}: not a regular file" in done.stderr, \
            done.stderr[-2000:]


def test_file_of_nul_octets_stops_at_the_first_line(tmp_path):
    path = tmp_path / "nul.zone"
    path.write_bytes(b"\0" * (20 * MAX_LINE))
    out, err = io.StringIO(), io.StringIO()
    assert check_zone_main("good.qa.", str(path), out=out, err=err) == 1
    first = err.getvalue().splitlines()[0]
    assert first.startswith(f"{path}:1: error: token too long") and "NUL octets" in first
    assert len(err.getvalue()) < 500


# --- item 3: bounded error messages ---------------------------------------------------------

def test_error_messages_quote_a_bounded_readable_part_of_the_token(tmp_path):
    path = tmp_path / "bin.zone"
    path.write_bytes(HEAD.encode() + b"\0" * 10_000 + b" A 192.0.2.1\n"
                     + b"x \xc5\xc6 192.0.2.1\n" + b"y A " + b"9" * 100_000 + b"\n")
    out, err = io.StringIO(), io.StringIO()
    assert check_zone_main("good.qa.", str(path), out=out, err=err) == 1
    lines = err.getvalue().splitlines()
    assert all(len(ln) < 300 for ln in lines), [len(ln) for ln in lines]
    text = err.getvalue()
    assert f"{path}:6: error: bad name '\\x00\\x00" in text and "(10000 characters)" in text
    assert f"{path}:7: error: unknown type '\\xc5\\xc6'" in text, text
    assert f"{path}:8: error: bad IPv4 address '9999" in text and "(100000 characters)" in text


def test_shown():
    assert shown("abc") == "'abc'"
    assert shown("a" * 61) == f"'{'a' * 60}…' (61 characters)"
    assert shown("\udcc5") == "'\\xc5'"


def test_errors_per_load_are_capped(tmp_path):
    path = tmp_path / "many.zone"
    path.write_text(HEAD + "bad A 300.0.0.1\n" * 1000)
    out, err = io.StringIO(), io.StringIO()
    assert check_zone_main("good.qa.", str(path), out=out, err=err) == 1
    lines = err.getvalue().splitlines()
    assert len(lines) == MAX_ERRORS + 2, len(lines)  # 100, "too many", "not loaded"
    assert f"too many errors ({MAX_ERRORS} shown), stopping" in lines[-2]


# --- item 4: --dnssec and --no-dnssec --------------------------------------------------------

def test_dnssec_and_no_dnssec_are_exclusive(tmp_path, capsys):
    path = tmp_path / "z.zone"
    path.write_text(HEAD)
    for flags in (["--no-dnssec", "--dnssec"], ["--dnssec", "--no-dnssec"]):
        assert main(["check-zone", *flags, "good.qa.", str(path)]) == 2
        assert "not allowed with argument" in capsys.readouterr().err
    assert main(["check-zone", "--no-dnssec", "good.qa.", str(path)]) == 0
    assert main(["check-zone", "--dnssec", "good.qa.", str(path)]) == 1  # unsigned


# --- item 5: a missing SOA is the file's problem, not line 0's --------------------------------

def test_missing_soa_has_no_line_zero(tmp_path):
    path = tmp_path / "nosoa.zone"
    path.write_text("$TTL 60\nwww.good.qa. A 192.0.2.1\n")
    out, err = io.StringIO(), io.StringIO()
    assert check_zone_main("good.qa.", str(path), out=out, err=err) == 1
    assert f"{path}: error: no SOA record at the apex good.qa." in err.getvalue()
    assert ":0:" not in err.getvalue()
