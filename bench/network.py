"""An artificial network between wdh and PostgreSQL: a TCP proxy that delays every packet.

``python -m bench --rtt-ms 2`` puts this proxy between the benchmark (Django, the floors' psycopg2
session and the child run_job) and the server, so a local run shows what a warehouse on a remote
server would cost. Each chunk of bytes is delivered ``rtt/2`` after it arrived, in each
direction, in order: a round trip costs ``rtt``, a stream (COPY) costs it about once. The proxy
also counts the statements clients send (the PostgreSQL protocol's Query and Parse messages),
i.e. the round trips that pay the delay. It runs in a process of its own, so that the Python
work it measures never holds up its forwarding (the GIL).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import struct
import time
from collections.abc import Iterator
from typing import Any

_CONTEXT = multiprocessing.get_context("spawn")  # no fork of a process that holds connections


class Traffic:
    """Query ('Q') and Parse ('P') messages clients sent through the proxy (shared memory)."""

    def __init__(self) -> None:
        self.counter: Any = _CONTEXT.RawValue("q", 0)

    @property
    def statements(self) -> int:
        return int(self.counter.value)


class _Messages:
    """Counts client messages in a byte stream cut anywhere (the first one has no type byte)."""

    def __init__(self, traffic: Traffic) -> None:
        self.traffic, self.buffer, self.started = traffic, b"", False

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            offset = 1 if self.started else 0
            if len(self.buffer) < offset + 4:
                return
            (length,) = struct.unpack("!I", self.buffer[offset : offset + 4])
            if len(self.buffer) < offset + length:
                return
            if self.started and self.buffer[:1] in (b"Q", b"P"):
                self.traffic.counter.value += 1  # only the proxy's process writes it
            self.buffer = self.buffer[offset + length :]
            self.started = True


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, count: _Messages | None
) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                writer.close()
                return
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    sender = asyncio.ensure_future(deliver())
    while data := await reader.read(1 << 16):
        if count:
            count.feed(data)
        queue.put_nowait((time.monotonic() + delay, data))
    queue.put_nowait((0.0, b""))
    await sender


async def _client(
    host: str, port: int, delay: float, traffic: Traffic, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    if host.startswith("/"):
        upstream = await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
    else:
        upstream = await asyncio.open_connection(host, port)
    server_reader, server_writer = upstream
    try:
        await asyncio.gather(
            _pipe(reader, server_writer, delay, _Messages(traffic)),
            _pipe(server_reader, writer, delay, None),
        )
    except ConnectionError:
        pass  # a side hung up: the session ends either way
    finally:
        writer.close()
        server_writer.close()


def _serve(host: str, port: int, delay: float, traffic: Traffic, ready: Any) -> None:
    """The proxy process: listen on a free local port, tell it through ``ready``, serve forever."""

    async def main() -> None:
        server = await asyncio.start_server(functools.partial(_client, host, port, delay, traffic), "127.0.0.1", 0)
        ready.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


class LatencyProxy:
    """``127.0.0.1:port`` → the server (Unix socket directory or host:port), ``rtt`` seconds per round trip."""

    def __init__(self, *, host: str, port: int, rtt: float) -> None:
        self.host, self.port, self.delay = host, port, rtt / 2
        self.traffic = Traffic()
        self.listen_port = 0

    @contextlib.contextmanager
    def running(self) -> Iterator[LatencyProxy]:
        """Serve from a child process while the block runs; then end that process."""
        ours, theirs = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=_serve, args=(self.host, self.port, self.delay, self.traffic, theirs), name="latency-proxy"
        )
        process.start()
        try:
            self.listen_port = int(ours.recv())
            yield self
        finally:
            process.terminate()
            process.join(timeout=10)
