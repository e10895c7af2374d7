"""runtime.py: the restart rules for dead workers (time passed in)."""

from __future__ import annotations

import pytest

from dns_suite.runtime import EX_SOFTWARE, RestartBudget, died


@pytest.mark.parametrize("code, dead", [
    (-9, True),  # SIGKILL
    (-11, True),  # SIGSEGV
    (EX_SOFTWARE, True),  # serve() raised
    (0, False),  # stopped (SIGTERM)
    (1, False),  # cannot start: it would fail again
])
def test_which_exits_are_deaths(code: int, dead: bool) -> None:
    assert died(code) is dead


def test_restart_budget_allows_a_burst_then_waits_out_the_window() -> None:
    budget = RestartBudget(burst=3, window=1.0)
    delays = []
    for now in (10.0, 10.1, 10.2, 10.3):  # a worker dying in a loop
        delays.append(round(budget.delay(now), 3))
        if delays[-1] == 0:
            budget.spend(now)
    assert delays == [0.0, 0.0, 0.0, 0.7]  # the fourth waits until 10.0 + 1.0
    assert budget.delay(11.0) == 0.0 and budget.delay(12.5) == 0.0

