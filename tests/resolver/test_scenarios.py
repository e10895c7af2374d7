"""The resolver core against the Deckard/Unbound scenarios (tests/resolver/replay.py): the 26
iterator files at the top of ``shared/resolver-scenarios`` and the 50 validator files in its
``dnssec/`` folder (trust anchors and ``val-override-date`` from each file's config).

One test per (file, QNAME minimisation mode). A file that fixes ``query-minimization`` runs in
that mode only. Files that script upstream answers as one-shot STEP REPLY entries (iter_tcbit,
iter_lame_noaa) expect Unbound's query order, which QNAME minimisation changes, so they run with
minimisation off only, as the scenarios' README says. Every other file runs both ways. No file
is skipped. The number of steps checked per file is printed at the end of the session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from replay import parse_file, replay_file

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"  # a copy of ../shared/resolver-scenarios with its licences

CHECKED: dict[str, int] = {}
"""``"file [qmin on|off]"`` -> steps checked, for the summary."""


def _modes(path: Path) -> tuple[bool, ...]:
    """The QNAME minimisation modes a file runs in (both when its config cannot be read)."""
    try:
        scenario = parse_file(path)
    except Exception:  # reported by the test itself, which parses the file again
        return (False, True)
    if scenario.qname_minimisation is not None:
        return (scenario.qname_minimisation,)
    if scenario.uses_step_reply:  # scripted in Unbound's order: minimisation off (README)
        return (False,)
    return (False, True)


def _cases() -> list:
    if not SCENARIO_DIR.is_dir():
        return [pytest.param(None, False, id="scenario-directory-missing")]
    paths = sorted(SCENARIO_DIR.glob("*.rpl")) + sorted((SCENARIO_DIR / "dnssec").glob("*.rpl"))
    return [pytest.param(path, qmin, id=f"{path.stem}-qmin-{'on' if qmin else 'off'}")
            for path in paths for qmin in _modes(path)]


class _Summary:
    """A pytest plugin printing the steps checked per file in the terminal summary."""

    @staticmethod
    def pytest_terminal_summary(terminalreporter) -> None:
        if not CHECKED:
            return
        terminalreporter.section("resolver scenarios: steps checked per file")
        for name, checked in sorted(CHECKED.items()):
            terminalreporter.write_line(f"{name}: {checked}")
        terminalreporter.write_line(f"{len(CHECKED)} runs passed, "
                                    f"{sum(CHECKED.values())} steps checked")


@pytest.fixture(scope="session", autouse=True)
def _summary(request) -> None:
    """Registers :class:`_Summary` once per session."""
    if not request.config.pluginmanager.has_plugin("resolver-scenarios-summary"):
        request.config.pluginmanager.register(_Summary(), "resolver-scenarios-summary")


@pytest.mark.parametrize(("path", "qmin"), _cases())
def test_scenario(path: Path | None, qmin: bool) -> None:
    """Replay one file in one mode; a ReplayFailure names the step, expected vs got."""
    if path is None:
        pytest.fail(f"resolver scenarios not found at {SCENARIO_DIR} (a copy of "
                    "../shared/resolver-scenarios)")
    result = replay_file(path, qname_minimisation=qmin)
    assert result.checked > 0, f"{path.name}: no step was checked"
    CHECKED[f"{path.name} [qmin {'on' if qmin else 'off'}]"] = result.checked
