"""Forked UDP workers (I/O): N processes sharing each port with SO_REUSEPORT.

Each worker answers from the state it was forked with; a new state is
published by forking a fresh set and stopping the old one. A message the
fast path defers (UPDATE, TSIG) is sent to the control process over a
SOCK_SEQPACKET socket pair (``client address NUL message``) and the worker
waits for the reply octets (empty: no reply), so every change happens in
the control process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
import time
from typing import Callable

from dns_suite.net.udp import HandlerRef, bind_udp, serve_udp
from dns_suite.runtime import RestartBudget, die_with_parent

log = logging.getLogger("dns_suite.authoritative.workers")
DEFER_TIMEOUT = 10.0  # seconds a worker waits for the control process


class WorkerSet:
    """Forks ``count`` workers over ``handler``/``replies``.

    Args:
        handler: the UDP handler (the pre-rendered table's ``udp``).
        replies: the exact-match reply table.
        listen: ``(host, port)`` pairs.
        count: number of workers.
        close_in_child: file descriptors the children must close (TCP listeners).
        control: answers deferred messages in the control process: ``(data, client) -> reply``.
        on_error: the SERVFAIL builder for handler bugs.
        observer: the service's :class:`~dns_suite.authoritative.observe.Observer`: each worker
            counts its queries and reports them to it (None: nothing counted).
    """

    def __init__(self, handler, replies: dict[bytes, bytes], listen: list[tuple[str, int]], count: int,
                 close_in_child: list[int], control: Callable[[bytes, str], "bytes | None"],
                 on_error, observer=None, rrl=None) -> None:
        self.observer = observer
        self.rrl = rrl  # response rate limiter for the table's hits (chain/ratelimit.py), or None
        self.pids: dict[int, tuple[int, socket.socket]] = {}
        self.handler, self.replies, self.listen = handler, replies, listen
        self.close_in_child, self.control, self.on_error = close_in_child, control, on_error
        self.loop = asyncio.get_running_loop()
        self.requester: int | None = None  # the worker whose deferred message is being answered
        self.retired = False
        self.budget = RestartBudget()  # restarts of dead workers, limited
        self.dead: list[int] = []  # indexes of dead workers waiting for their restart
        for index in range(count):
            self.spawn(index)

    def spawn(self, index: int) -> None:
        """Fork worker ``index``."""
        sockets = [bind_udp(host, port) for host, port in self.listen]
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        feed = self.observer.worker_feed() if self.observer is not None else None
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            parent_end.close()
            self._child(sockets, child_end, parent, feed)
        child_end.close()
        if feed is not None:
            self.observer.worker_started(pid, feed)
        for s in sockets:
            s.close()
        parent_end.setblocking(False)
        self.loop.add_reader(parent_end.fileno(), self._on_request, parent_end)
        self.pids[pid] = (index, parent_end)

    def _on_request(self, sock: socket.socket) -> None:
        try:
            msg = sock.recv(70000)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            msg = b""
        if not msg:
            self.loop.remove_reader(sock.fileno())
            return
        client, _, data = msg.partition(b"\0")
        self.requester = next((pid for pid, (_, pipe) in self.pids.items() if pipe is sock), None)
        try:
            reply = self.control(data, client.decode())
        except Exception as exc:  # noqa: BLE001 - our bug: SERVFAIL, keep serving
            reply = self.on_error(data, exc)
        finally:
            requester, self.requester = self.requester, None
        try:  # first octet 1: this set was replaced meanwhile, send the reply and exit
            sock.send((b"\1" if self.retired else b"\0") + (reply or b""))
        except OSError as exc:
            log.warning("reply to worker failed: %s", exc)
        if self.retired and requester is not None:
            self._forget(requester, sock)
            self.loop.call_later(2.0, _reap_or_kill, requester)

    def _child(self, sockets: list[socket.socket], pipe: socket.socket, parent: int, feed=None) -> None:
        counters: list = [None] * len(sockets)
        try:
            die_with_parent(parent)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            for fd in self.close_in_child:
                os.close(fd)
            for _, other in self.pids.values():
                other.close()  # the other workers' pipe ends, inherited
            if feed is not None:  # counters reported to the control process, also at SIGTERM
                counters = self.observer.in_worker(feed, len(sockets))
            pipe.settimeout(DEFER_TIMEOUT)
            lock = threading.Lock()

            def defer(data: bytes, client: str) -> bytes | None:
                with lock:
                    pipe.send(client.encode() + b"\0" + data)
                    answer = pipe.recv(70000)
                if answer[:1] == b"\1":
                    ref.stop = True  # replaced by a new worker set: exit after this reply
                return answer[1:] or None

            ref = HandlerRef(self.handler, self.replies, defer, rrl=self.rrl)
            for s, c in zip(sockets[1:], counters[1:]):
                threading.Thread(target=serve_udp, args=(s, ref, self.on_error, c), daemon=True).start()
            serve_udp(sockets[0], ref, self.on_error, counters[0])
        finally:
            if feed is not None:
                self.observer.worker_sender.stop()  # the last report
            os._exit(0)

    def stop(self) -> None:
        """SIGTERM every worker, reap them, close their pipes. A worker waiting for the reply
        to its deferred message (the UPDATE that caused this) is spared: it sends the reply
        and exits by itself, so no stale set answers after the reply."""
        self.retired = True
        for pid, (_, pipe) in list(self.pids.items()):
            if pid == self.requester:
                continue
            self._forget(pid, pipe)
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            if self.observer is not None:
                self.observer.worker_stopped(pid)
        self.pids = {pid: v for pid, v in self.pids.items() if pid == self.requester}

    def _forget(self, pid: int, pipe: socket.socket) -> None:
        try:
            self.loop.remove_reader(pipe.fileno())
        except (ValueError, OSError):
            pass
        pipe.close()

    def reap(self) -> None:
        """Replace workers that died (call about once a second): at most
        :data:`~dns_suite.runtime.RESTART_BURST` per :data:`~dns_suite.runtime.RESTART_WINDOW`
        seconds, so a worker dying in a loop waits for a later call."""
        for pid, (index, pipe) in list(self.pids.items()):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                log.error("udp worker pid=%d died status=%d: replacing it", pid, status)
                del self.pids[pid]
                if self.observer is not None:
                    self.observer.worker_stopped(pid)
                self._forget(pid, pipe)
                self.dead.append(index)
        while self.dead and not self.retired:
            if self.budget.delay(time.monotonic()) > 0:
                log.warning("udp workers die in a loop: %d restart(s) postponed", len(self.dead))
                return
            self.budget.spend(time.monotonic())
            self.spawn(self.dead.pop(0))


def _reap_or_kill(pid: int) -> None:
    """Reap a retired worker that should have exited; kill it if it did not."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if not done:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
