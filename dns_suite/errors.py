"""Root of the dns_suite exception tree.

Each package keeps its own ``errors.py`` with subclasses of :class:`DnsSuiteError`.
"""


class DnsSuiteError(Exception):
    """Root of every exception raised on purpose by dns_suite."""


class FileLineError(DnsSuiteError):
    """An operator's file is wrong at a line (a zone file, a key file): the operator's fault.

    Printed as ``FILE:LINE: REASON``, or ``FILE: REASON`` when not tied to a line.

    Attributes:
        file (str): The file as named.
        line (int): 1-based line of the fault (0 when not tied to a line).
        reason (str): What is wrong.
    """

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}" if line else f"{file}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason


class ConfigError(DnsSuiteError):
    """A configuration file is wrong: the operator's fault.

    Attributes:
        file (str): Path of the configuration file, as given.
        key (str): Dotted key path of the offending value, e.g. ``authoritative.zones[1].file``;
            ``line N`` for a TOML syntax error; empty when the error concerns the whole file
            (it cannot be read).
        reason (str): What is wrong, in words.
    """

    def __init__(self, file: str, key: str, reason: str) -> None:
        """Build the error.

        Args:
            file (str): Path of the configuration file.
            key (str): Dotted key path, or a location such as ``line 3``.
            reason (str): What is wrong.
        """
        super().__init__(file, key, reason)
        self.file = file
        self.key = key
        self.reason = reason

    def __str__(self) -> str:
        """Return ``"FILE: KEY: REASON"``, or ``"FILE: REASON"`` when there is no key."""
        if not self.key:
            return f"{self.file}: {self.reason}"
        return f"{self.file}: {self.key}: {self.reason}"
