"""``dns-suite ctl``: the control socket of a running authoritative service (I/O).

A Unix stream socket (mode 0600) carrying one JSON object per line each
way. Requests: ``{"command": NAME, "zone": ZONE|null}``; replies:
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``.

Commands: ``retransfer ZONE`` (a secondary zone: AXFR now), ``reload [ZONE]``, ``zone-status [ZONE]`` (serial, dynamic,
journal size, last update, frozen), ``freeze ZONE`` (flush the journal to
the file, refuse updates: hand edits are then safe), ``thaw ZONE`` (take
the file if its serial is higher, accept updates again), ``stats``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

COMMANDS = ("reload", "zone-status", "freeze", "thaw", "stats", "retransfer")
MAX_LINE = 65536


class ControlServer:
    """Serves the control socket for ``service`` (an AuthoritativeService)."""

    def __init__(self, service) -> None:
        self.service = service
        self.server: asyncio.AbstractServer | None = None
        self.path = ""

    async def start(self, path: str) -> None:
        """Listen on ``path`` (an old socket file there is replaced), mode 0600."""
        if os.path.exists(path) and not os.path.isdir(path):
            os.unlink(path)
        old = os.umask(0o177)
        try:
            self.server = await asyncio.start_unix_server(self._client, path, limit=MAX_LINE)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.path = path

    def fds(self) -> list[int]:
        """The listening socket's descriptors (forked workers close them)."""
        return [s.fileno() for s in self.server.sockets] if self.server else []

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            try:
                os.unlink(self.path)
            except OSError:
                pass

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 30)
            try:
                request = json.loads(line)
                result = await self.execute(request.get("command"), request.get("zone"))
                reply = {"ok": True, "result": result}
            except (ValueError, KeyError, AttributeError) as exc:
                reply = {"ok": False, "error": str(exc)}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def execute(self, command: str, zone: str | None):
        """Run one command; raises ValueError/KeyError with a message for the client."""
        svc = self.service
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; one of {', '.join(COMMANDS)}")
        if command == "reload":
            await svc.reload(zone)
            return {"version": svc.zones.version}
        if command == "stats":
            return {"zones": len(svc.zones.zones), "version": svc.zones.version,
                    "table_entries": len(svc.table.table), "table_misses": svc.table.misses,
                    "updates": sum(d.updates for d in svc.dynamic.values()), "workers": svc.cfg.workers}
        if command == "zone-status":
            keys = [self._zone_key(zone)] if zone else list(svc.zones.zones)
            return [self._status(k) for k in keys]
        if command == "retransfer":
            key = self._secondary_key(zone)
            svc.secondaries[key].retransfer()
            return {"zone": zone, "retransfer": "started"}
        key = self._zone_key(zone, dynamic=True)
        dz = svc.dynamic[key]
        if command == "freeze":
            dz.frozen = True  # first: no UPDATE is taken while the file is written
            await svc.flush(key)
        else:
            dz.frozen = False
            await svc.reload(zone)
        return self._status(key)

    def _secondary_key(self, zone: str | None) -> bytes:
        from dns_suite.wire.name import Name

        if not zone:
            raise ValueError("this command needs a zone")
        key = Name.from_text(zone if zone.endswith(".") else zone + ".").key
        if key not in self.service.secondaries:
            raise ValueError(f"zone {zone} is not a secondary zone here")
        return key

    def _zone_key(self, zone: str | None, dynamic: bool = False) -> bytes:
        from dns_suite.wire.name import Name

        if not zone:
            raise ValueError("this command needs a zone")
        key = Name.from_text(zone if zone.endswith(".") else zone + ".").key
        if key not in self.service.zones.zones:
            raise ValueError(f"zone {zone} is not served")
        if dynamic and key not in self.service.dynamic:
            raise ValueError(f"zone {zone} is not dynamic (it has no update_policy)")
        return key

    def _status(self, key: bytes) -> dict:
        svc = self.service
        zone = svc.zones.zones[key]
        if key in svc.dynamic:
            status = svc.dynamic[key].status(zone)
        else:
            status = {"zone": zone.origin.to_text(), "serial": zone.serial, "dynamic": False}
        status["secondaries"] = svc.notify_status(key)
        if key in svc.secondaries:
            status["secondary"] = svc.secondaries[key].status()
            status["expired"] = key in svc.zones.expired
        return status


def ctl_main(socket_path: str, command: str, zone: str | None, out=sys.stdout, err=sys.stderr) -> int:
    """``dns-suite ctl``: send one command, print the JSON result; 0 on success."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(60)
            s.connect(socket_path)
            s.sendall(json.dumps({"command": command, "zone": zone}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        print(f"dns-suite ctl: cannot reach {socket_path}: {exc.strerror or exc}", file=err)
        return 1
    try:
        reply = json.loads(data)
    except ValueError:
        print("dns-suite ctl: bad reply from the service", file=err)
        return 1
    if not reply.get("ok"):
        print(f"dns-suite ctl: {reply.get('error')}", file=err)
        return 1
    print(json.dumps(reply["result"], indent=2), file=out)
    return 0
