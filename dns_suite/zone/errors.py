"""Errors of zone files and zone data."""

from dns_suite.errors import DnsSuiteError


class ZoneError(DnsSuiteError):
    """A zone file is wrong: the operator's fault.

    Attributes:
        file: the file as named (an $INCLUDE'd file by its own path).
        line: 1-based line number (0 when not tied to a line).
        reason: what is wrong.
    """

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason


class RdataError(ValueError):
    """Rdata text could not be read; the reader adds file and line."""
