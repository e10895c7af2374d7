"""runtime.py: the restart rules for dead workers (time passed in), and the check that no other
process holds a listen address (loopback sockets)."""

from __future__ import annotations

import errno
import socket

import pytest

from dns_suite.runtime import EX_SOFTWARE, RestartBudget, check_free, died


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


def _taken(kind: int) -> socket.socket:
    """A socket on a free loopback port, bound with SO_REUSEPORT as the services bind."""
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        s.listen()
    return s


@pytest.mark.parametrize("kind, proto", [(socket.SOCK_DGRAM, "UDP"), (socket.SOCK_STREAM, "TCP")])
def test_check_free_refuses_an_address_held_with_so_reuseport(kind: int, proto: str) -> None:
    with _taken(kind) as held:
        port = held.getsockname()[1]
        with pytest.raises(OSError) as caught:
            check_free([("127.0.0.1", port)], grace=0.0)
    assert caught.value.errno == errno.EADDRINUSE
    assert f"{proto} 127.0.0.1:{port}: address already in use" in str(caught.value)
    check_free([("127.0.0.1", port)], grace=0.0)  # released: free again
