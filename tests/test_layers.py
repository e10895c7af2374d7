"""The import rules of the design, checked on the AST of every module under dns_suite/.

Two rules:

(a) Pure modules (all but those in ``IO_MODULES``) import none of ``IO_STDLIB``: time,
    randomness and file contents arrive as arguments.
(b) Each module imports only the dns_suite packages and third-party distributions its row of
    ``RULES`` allows. Every module may also import the root package ``dns_suite`` (it holds only
    ``__version__``), ``dns_suite.errors`` and modules of its own package. The standard library
    is always allowed, subject to (a).

Imports are collected anywhere in a module (also inside functions). Relative imports are resolved
to absolute names; ``from P import m`` counts as importing ``P.m`` when ``m`` is a module.
"""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "dns_suite"
ROOT = "dns_suite"

IO_STDLIB = frozenset(
    {"asyncio", "socket", "ssl", "aiohttp", "time", "random", "os", "subprocess",
     "selectors", "threading", "multiprocessing"}
)

IO_MODULES = (
    "runtime.py", "zone/loader.py", "zone/journal.py", "*/service.py", "acme/agent.py",
    "acme/store.py", "acme/dns01.py", "acme/propagation.py", "net/*", "cli.py", "config.py",
    # the authoritative service's I/O edge, split from service.py to keep modules small
    "authoritative/workers.py", "authoritative/dynzones.py", "authoritative/ctl.py",
    "authoritative/outbound.py", "authoritative/secondaries.py", "authoritative/protect.py",
    # the resolver service's upstream queries, split from service.py the same way
    "resolver/upstream.py", "resolver/protect.py",
    # each service's observability edge (counters, /health, /ready, /metrics), split the same way
    "*/observe.py",
)
"""Path patterns (relative to dns_suite/) of the modules marked (I/O) in the design."""

SERVICE_EXTRAS = ("chain", "net", "config", "runtime")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Allowed:
    """What the modules of one row may import.

    Attributes:
        internal: dns_suite subpackages or modules (``"wire"``, ``"authoritative.engine"``),
            importable anywhere in the module; a name also allows everything below it.
        lazy: dns_suite names importable only inside functions.
        third_party: Top-level third-party distributions (``"dns"``, ``"aiohttp"``).
    """

    internal: tuple[str, ...] = ()
    lazy: tuple[str, ...] = ()
    third_party: tuple[str, ...] = ()


RULES: dict[str, Allowed] = {
    # pattern (relative to dns_suite/, first match wins) -> what it may import
    "__init__.py": Allowed(),
    "errors.py": Allowed(),
    "config.py": Allowed(internal=("wire",)),  # names in the config are checked with the codec
    "runtime.py": Allowed(internal=("config",)),
    "cli.py": Allowed(
        internal=("config", "runtime"),
        lazy=("authoritative", "resolver", "acme", "zone", "wire"),
    ),
    "wire/tsig.py": Allowed(third_party=("dns",)),
    "wire/*": Allowed(),
    "zone/reader.py": Allowed(internal=("wire",), third_party=("dns",)),
    "zone/rdatatext.py": Allowed(internal=("wire",), third_party=("dns",)),
    # check-zone's DNSSEC verification: dns.dnssec does the signature mathematics
    "zone/verify.py": Allowed(internal=("wire",), third_party=("dns",)),
    "zone/*": Allowed(internal=("wire",)),
    "chain/*": Allowed(internal=("wire",)),
    "authoritative/service.py": Allowed(internal=("wire", "zone", *SERVICE_EXTRAS)),
    "authoritative/workers.py": Allowed(internal=("wire", "zone", *SERVICE_EXTRAS)),
    "authoritative/dynzones.py": Allowed(internal=("wire", "zone", *SERVICE_EXTRAS)),
    "authoritative/ctl.py": Allowed(internal=("wire", "zone", *SERVICE_EXTRAS)),
    "authoritative/outbound.py": Allowed(internal=("wire", "zone", *SERVICE_EXTRAS)),
    "authoritative/secondaries.py": Allowed(internal=("wire", "zone", *SERVICE_EXTRAS)),
    "authoritative/protect.py": Allowed(internal=("wire", "zone", *SERVICE_EXTRAS)),
    "authoritative/observe.py": Allowed(internal=("wire", "zone", *SERVICE_EXTRAS)),
    "authoritative/*": Allowed(internal=("wire", "zone")),
    "resolver/service.py": Allowed(
        internal=("wire", "zone", "authoritative.engine", *SERVICE_EXTRAS)
    ),
    "resolver/upstream.py": Allowed(),
    "resolver/protect.py": Allowed(internal=("wire", *SERVICE_EXTRAS)),
    # DNSSEC: dnspython's dns.dnssec does the signature mathematics, and reads anchor texts
    "resolver/validate.py": Allowed(internal=("wire",), third_party=("dns",)),
    "resolver/trust.py": Allowed(internal=("wire",), third_party=("dns",)),
    "resolver/observe.py": Allowed(internal=("wire", *SERVICE_EXTRAS)),
    "resolver/*": Allowed(internal=("wire", "zone", "authoritative.engine", "authoritative.zoneset")),
    "acme/agent.py": Allowed(
        internal=("wire", *SERVICE_EXTRAS), third_party=("acme", "josepy", "cryptography")
    ),
    "acme/store.py": Allowed(internal=("wire",), third_party=("acme", "josepy", "cryptography")),
    "acme/service.py": Allowed(internal=("wire", *SERVICE_EXTRAS)),
    "acme/observe.py": Allowed(internal=("wire", *SERVICE_EXTRAS), third_party=("cryptography",)),
    "acme/dns01.py": Allowed(internal=("wire", *SERVICE_EXTRAS)),
    "acme/propagation.py": Allowed(internal=("wire", *SERVICE_EXTRAS)),
    "acme/*": Allowed(internal=("wire",)),
    "net/*": Allowed(internal=("wire", "chain"), third_party=("aiohttp", "prometheus_client", "h2")),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Import:
    """One imported module: absolute name, line, and whether it sits inside a function."""

    name: str
    line: int
    lazy: bool


def module_name(rel: str) -> str:
    """``"zone/reader.py"`` -> ``"dns_suite.zone.reader"``; ``"wire/__init__.py"`` -> ``"dns_suite.wire"``."""
    parts = [ROOT, *Path(rel).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules() -> list[str]:
    """Paths, relative to dns_suite/ and with "/" separators, of every module in the package."""
    return sorted(p.relative_to(PACKAGE_DIR).as_posix() for p in PACKAGE_DIR.rglob("*.py"))


def _resolve_from(rel: str, node: ast.ImportFrom) -> str:
    """The absolute module name of a ``from ... import`` statement's source."""
    if node.level == 0:
        return node.module or ""
    package = module_name(rel).split(".")
    if not rel.endswith("__init__.py"):
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Collector(ast.NodeVisitor):
    def __init__(self, rel: str, known: frozenset[str]) -> None:
        self.rel, self.known, self.depth = rel, known, 0
        self.imports: list[Import] = []

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports.append(Import(alias.name, node.lineno, self.depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _resolve_from(self.rel, node)
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            name = sub if sub in self.known else source
            self.imports.append(Import(name, node.lineno, self.depth > 0))


def collect_imports(rel: str, source: str, known: frozenset[str]) -> list[Import]:
    """Every module ``source`` (the text of dns_suite/``rel``) imports, with absolute names."""
    collector = _Collector(rel, known)
    collector.visit(ast.parse(source, filename=rel))
    return collector.imports


def rule_for(rel: str) -> Allowed:
    """The first row of ``RULES`` whose pattern matches ``rel``."""
    for pattern, allowed in RULES.items():
        if fnmatch.fnmatch(rel, pattern):
            return allowed
    raise AssertionError(f"dns_suite/{rel}: no row of RULES matches; add one")


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _internal_problem(rel: str, imp: Import, allowed: Allowed) -> str | None:
    """Why importing dns_suite module ``imp`` breaks ``allowed``, or None."""
    own = Path(rel).parts[0] if "/" in rel else Path(rel).stem
    inside = imp.name[len(ROOT) + 1 :]
    if imp.name == ROOT or _within(inside, ("errors", own, *allowed.internal)):
        return None
    if imp.lazy and _within(inside, allowed.lazy):
        return None
    if _within(inside, allowed.lazy):
        return f"imports {imp.name} at module level (only inside a function)"
    return f"imports {imp.name} (not in its row of RULES)"


def violations(rel: str, source: str, known: frozenset[str]) -> list[str]:
    """Every import rule ``source`` (the text of dns_suite/``rel``) breaks, as messages."""
    allowed = rule_for(rel)
    pure = not any(fnmatch.fnmatch(rel, pattern) for pattern in IO_MODULES)
    problems = []
    for imp in collect_imports(rel, source, known):
        top = imp.name.split(".")[0]
        if top == ROOT:
            problem = _internal_problem(rel, imp, allowed)
        elif top in sys.stdlib_module_names:
            problem = f"pure module imports I/O module {imp.name}" if pure and top in IO_STDLIB else None
        else:
            problem = None if top in allowed.third_party else f"imports third-party {imp.name}"
        if problem:
            problems.append(f"dns_suite/{rel}:{imp.line}: {problem}")
    return problems


MODULES = find_modules()
KNOWN = frozenset(module_name(rel) for rel in MODULES)


@pytest.mark.parametrize("rel", MODULES)
def test_module_follows_import_rules(rel: str) -> None:
    source = (PACKAGE_DIR / rel).read_text(encoding="utf-8")
    assert violations(rel, source, KNOWN) == []


SYNTHETIC_KNOWN = KNOWN | {
    "dns_suite.net", "dns_suite.net.udp", "dns_suite.authoritative", "dns_suite.authoritative.engine",
    "dns_suite.authoritative.prerender", "dns_suite.authoritative.service", "dns_suite.wire",
    "dns_suite.wire.message", "dns_suite.zone", "dns_suite.zone.loader",
}

CASES = [
    # (module path, source, fragment of the expected violation, or None when clean)
    ("chain/acl.py", "import socket\n", "I/O module socket"),
    ("chain/acl.py", "from time import monotonic\n", "I/O module time"),
    ("zone/model.py", "import os.path\n", "I/O module os.path"),
    ("net/udp.py", "import socket\nimport asyncio\n", None),
    ("wire/message.py", "import dns.message\n", "third-party dns.message"),
    ("wire/tsig.py", "import dns.tsig\n", None),
    ("zone/reader.py", "import dns.rdata\nfrom ..wire import message\n", None),
    ("zone/model.py", "import dns.rdata\n", "third-party dns.rdata"),
    ("chain/acl.py", "from ..net import udp\n", "imports dns_suite.net.udp"),
    ("resolver/cache.py", "from dns_suite.authoritative import engine\n", None),
    ("resolver/cache.py", "from ..authoritative import prerender\n", "dns_suite.authoritative.prerender"),
    ("resolver/service.py", "from dns_suite.net import udp\nfrom .. import config\n", None),
    ("resolver/upstream.py", "import socket\nimport asyncio\n", None),
    ("resolver/upstream.py", "from dns_suite.net import udp\n", "dns_suite.net.udp"),
    ("resolver/hints.py", "import asyncio\n", "I/O module asyncio"),
    ("chain/acl.py", "from dns_suite.wire import message\n", None),
    ("authoritative/engine.py", "from . import prerender\nfrom .. import errors\n", None),
    ("cli.py", "from dns_suite.authoritative import service\n", "at module level"),
    ("cli.py", "def f():\n    from dns_suite.zone import loader\n", None),
    ("cli.py", "def f():\n    from dns_suite.net import udp\n", "dns_suite.net.udp"),
]


@pytest.mark.parametrize(
    ("rel", "source", "expected"), CASES, ids=[f"{i}-{case[0]}" for i, case in enumerate(CASES)]
)
def test_rules_catch_violations(rel: str, source: str, expected: str | None) -> None:
    found = violations(rel, source, SYNTHETIC_KNOWN)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found
