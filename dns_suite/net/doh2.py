"""DNS over HTTPS on HTTP/2 (RFC 8484 §5.2 recommends HTTP/2) with the sans-IO h2 library (I/O).

How it works: one :class:`Http2Connection` per connection whose ALPN chose ``h2``. Frames go
into ``h2``; a request's headers and body are gathered per stream until the stream ends, then
:meth:`DohServer.exchange` answers it in a task of its own (streams are answered as they
complete, not in order). Replies are sent within the peer's flow-control window; what does
not fit waits for a WINDOW_UPDATE. A body over 65535 octets resets the stream; a protocol
error, or ``idle_timeout`` seconds without a frame and with nothing in flight, closes the
connection.
"""

from __future__ import annotations

import asyncio
import logging

import h2.config
import h2.connection
import h2.events
import h2.exceptions

log = logging.getLogger("dns_suite.net.doh2")
MAX_BODY = 65535


class Http2Connection(asyncio.Protocol):
    """One HTTP/2 connection of a :class:`~dns_suite.net.http.DohServer`."""

    def __init__(self, server) -> None:
        self.server = server
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.transport: asyncio.Transport | None = None
        self.requests: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.pending: dict[int, bytes] = {}  # stream -> reply octets waiting for window
        self.tasks: set[asyncio.Task] = set()
        self.client = ""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client = peer[0] if peer else ""
        self.conn.initiate_connection()
        self._flush()
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.server.idle_timeout, self._idle)

    def _idle(self) -> None:
        if self.tasks or self.pending:
            self._arm()
            return
        self.conn.close_connection()
        self._flush()
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        for task in self.tasks:
            task.cancel()

    def data_received(self, data: bytes) -> None:
        self._arm()
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            log.debug("HTTP/2 protocol error from %s: %s", self.client, exc)
            self._flush()
            self.transport.close()
            return
        for event in events:
            self._event(event)
        self._flush()

    def _event(self, event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self.requests[event.stream_id] = (dict(event.headers), bytearray())
            if event.stream_ended is not None:
                self._complete(event.stream_id)
        elif isinstance(event, h2.events.DataReceived):
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            request = self.requests.get(event.stream_id)
            if request is not None:
                request[1].extend(event.data)
                if len(request[1]) > MAX_BODY:
                    del self.requests[event.stream_id]
                    self._respond(event.stream_id, 413, b"message too long\n", {})
            if event.stream_ended is not None:
                self._complete(event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self._complete(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self.requests.pop(event.stream_id, None)
            self.pending.pop(event.stream_id, None)
        elif isinstance(event, h2.events.WindowUpdated):
            for stream_id in list(self.pending):
                self._send_body(stream_id)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.transport.close()

    def _complete(self, stream_id: int) -> None:
        request = self.requests.pop(stream_id, None)
        if request is None:
            return
        headers, body = request
        task = asyncio.get_running_loop().create_task(self._exchange(stream_id, headers, bytes(body)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _exchange(self, stream_id: int, headers: dict[str, str], body: bytes) -> None:
        try:
            status, data, extra = await self.server.exchange(
                headers.get(":method", ""), headers.get(":path", ""), headers.get("content-type"), body,
                self.client)
        except Exception as exc:  # noqa: BLE001 - our bug: 500, the connection goes on
            log.error("bug answering a DoH request: %r", exc, exc_info=exc)
            status, data, extra = 500, b"internal error\n", {}
        if self.transport is None or self.transport.is_closing():
            return
        self._respond(stream_id, status, data, extra)
        self._flush()

    def _respond(self, stream_id: int, status: int, data: bytes, extra: dict[str, str]) -> None:
        headers = [(":status", str(status)), ("content-length", str(len(data)))]
        headers += [(k.lower(), v) for k, v in extra.items()]
        try:
            self.conn.send_headers(stream_id, headers, end_stream=not data)
        except h2.exceptions.ProtocolError:
            return  # the stream is gone (reset by the client)
        if data:
            self.pending[stream_id] = data
            self._send_body(stream_id)

    def _send_body(self, stream_id: int) -> None:
        data = self.pending.get(stream_id)
        if data is None:
            return
        try:
            while data:
                room = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
                if room <= 0:
                    self.pending[stream_id] = data
                    return
                chunk, data = data[:room], data[room:]
                self.conn.send_data(stream_id, chunk, end_stream=not data)
        except (h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError):
            pass
        self.pending.pop(stream_id, None)

    def _flush(self) -> None:
        out = self.conn.data_to_send()
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)
