"""The classical channel between Alice and Bob: a message codec, an in-memory pair and TCP/TLS.

A channel moves byte strings, in order, both ways (:class:`Channel`). Messages are a kind
plus named fields (ints, floats, strings, bytes, numpy arrays), encoded deterministically by
:func:`encode_message` so that both ends hash exactly the same transcript bytes (see
:mod:`euroqci.qkd.authentication`). Any failure -- a closed or dropped peer, a timeout, a
malformed frame, an unexpected message -- raises :class:`~euroqci.errors.ChannelError`;
the pipeline then delivers no key for the block in flight.

TLS follows the ``ssl`` module's defaults (TLS >= 1.2, certificate and host-name checks);
pass contexts from :func:`server_context` / :func:`client_context` for mutual
authentication with certificates (tests use a throwaway CA from ``trustme``).
"""

from __future__ import annotations

import json
import queue
import socket
import ssl
import struct
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from euroqci.errors import ChannelError

DEFAULT_TIMEOUT_S = 60.0
_FRAME = struct.Struct(">Q")
_MAX_FRAME_BYTES = 1 << 31
_CLOSED = object()
_HEADER_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))  # built once


class Channel(Protocol):
    """An ordered, reliable, bidirectional byte-message pipe."""

    def send_bytes(self, data: bytes) -> None: ...

    def recv_bytes(self) -> bytes: ...

    def close(self) -> None: ...


def encode_message(kind: str, fields: dict[str, Any]) -> bytes:
    """Deterministic encoding: ``len(header) | JSON header | raw array/bytes buffers``."""
    meta: dict[str, Any] = {}
    buffers: list[bytes] = []
    for name in sorted(fields):
        value = fields[name]
        if isinstance(value, np.ndarray):
            arr = np.ascontiguousarray(value)
            meta[name] = {"a": arr.dtype.str, "s": list(arr.shape), "n": arr.nbytes}
            buffers.append(arr.tobytes())
        elif isinstance(value, bytes | bytearray):
            meta[name] = {"b": len(value)}
            buffers.append(bytes(value))
        elif isinstance(value, bool | int | float | str) or value is None:
            meta[name] = {"v": value}
        elif isinstance(value, list | tuple):
            meta[name] = {"v": [v.item() if isinstance(v, np.generic) else v for v in value]}
        elif isinstance(value, np.generic):
            meta[name] = {"v": value.item()}
        else:
            raise TypeError(f"cannot encode field {name!r} of type {type(value).__name__}")
    header = _HEADER_ENCODER.encode({"k": kind, "f": meta}).encode()
    return b"".join([_FRAME.pack(len(header)), header, *buffers])


def decode_message(data: bytes) -> tuple[str, dict[str, Any]]:
    """Inverse of :func:`encode_message`; raises :class:`ChannelError` on a malformed message."""
    try:
        (size,) = _FRAME.unpack_from(data, 0)
        header = json.loads(data[_FRAME.size : _FRAME.size + size])
        offset = _FRAME.size + size
        fields: dict[str, Any] = {}
        for name in sorted(header["f"]):
            spec = header["f"][name]
            if "a" in spec:
                end = offset + spec["n"]
                arr = np.frombuffer(data[offset:end], dtype=np.dtype(spec["a"]))
                fields[name] = arr.reshape(spec["s"])
                offset = end
            elif "b" in spec:
                fields[name] = data[offset : offset + spec["b"]]
                offset += spec["b"]
            else:
                fields[name] = spec["v"]
        if offset != len(data):
            raise ValueError("trailing bytes")
        return header["k"], fields
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise ChannelError(f"malformed message on the classical channel: {exc}") from exc


class InMemoryChannel:
    """One end of an in-process channel (two queues); make both ends with :meth:`pair`."""

    def __init__(self, inbox: queue.SimpleQueue, outbox: queue.SimpleQueue, timeout_s: float):
        self._inbox, self._outbox, self._timeout_s = inbox, outbox, timeout_s
        self._closed = False
        self.bytes_sent = 0

    @classmethod
    def pair(cls, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[InMemoryChannel, InMemoryChannel]:
        a_to_b: queue.SimpleQueue = queue.SimpleQueue()
        b_to_a: queue.SimpleQueue = queue.SimpleQueue()
        return cls(b_to_a, a_to_b, timeout_s), cls(a_to_b, b_to_a, timeout_s)

    def send_bytes(self, data: bytes) -> None:
        if self._closed:
            raise ChannelError("classical channel is closed")
        self.bytes_sent += len(data)
        self._outbox.put(data)

    def recv_bytes(self) -> bytes:
        if self._closed:
            raise ChannelError("classical channel is closed")
        try:
            data = self._inbox.get(timeout=self._timeout_s)
        except queue.Empty:
            raise ChannelError(f"no message from the peer within {self._timeout_s:g} s") from None
        if data is _CLOSED:
            self._closed = True
            raise ChannelError("the peer closed the classical channel")
        return data

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._outbox.put(_CLOSED)


class CoroutineChannel:
    """One end of an in-process channel whose two ends run as greenlets of ONE thread
    (:func:`run_pair`): a receive on an empty inbox switches to the peer instead of
    blocking. A switch costs ~1 us where a hand-off between two threads costs ~20 us and a
    wake-up of the other thread, which Cascade's hundreds of round trips per block pay.
    Make both ends with :meth:`pair`."""

    def __init__(self) -> None:
        self._inbox: deque[bytes] = deque()
        self._peer: CoroutineChannel | None = None
        self._task: Any = None  # this end's greenlet, set by run_pair
        self._waiting = self._closed = False
        self.bytes_sent = 0

    @classmethod
    def pair(cls) -> tuple[CoroutineChannel, CoroutineChannel]:
        a, b = cls(), cls()
        a._peer, b._peer = b, a
        return a, b

    def send_bytes(self, data: bytes) -> None:
        if self._closed or self._peer._closed:
            raise ChannelError("classical channel is closed")
        self.bytes_sent += len(data)
        self._peer._inbox.append(data)

    def recv_bytes(self) -> bytes:
        peer = self._peer
        while not self._inbox:
            if self._closed:
                raise ChannelError("classical channel is closed")
            if peer._closed or peer._task is None or peer._task.dead:
                raise ChannelError("the peer closed the classical channel")
            if peer._waiting and not peer._inbox:
                raise ChannelError("both ends wait for a message from each other")
            self._waiting = True
            try:
                peer._task.switch()
            finally:
                self._waiting = False
        return self._inbox.popleft()

    def close(self) -> None:
        self._closed = True


def run_pair(ends: tuple[CoroutineChannel, CoroutineChannel],
             tasks: tuple[Callable[[], Any], Callable[[], Any]]) -> tuple[Any, Any]:
    """Run ``tasks[i]`` (which talks over ``ends[i]``) as two greenlets in this thread until
    both return; returns their results. An exception in either propagates here; a task
    still waiting for its peer's message once the peer has returned gets a
    :class:`ChannelError`. The ends stay open for the next call."""
    from greenlet import greenlet  # switches inside plain blocking code: no async rewrite

    results: list[Any] = [None, None]

    def runner(i: int) -> Callable[[], None]:
        def run() -> None:
            results[i] = tasks[i]()
        return run

    for i in (0, 1):
        ends[i]._task = greenlet(runner(i))
    order = (ends[1]._task, ends[0]._task)
    while not all(task.dead for task in order):
        for task in order:
            if not task.dead:
                task.switch()
    return results[0], results[1]


class SocketChannel:
    """A channel over a connected (TLS) socket: each message is an 8-byte length and bytes."""

    def __init__(self, sock: socket.socket, timeout_s: float = DEFAULT_TIMEOUT_S):
        sock.settimeout(timeout_s)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # every message is written at once; Nagle's algorithm would hold a small one
            # back until the peer acknowledges the previous (Cascade: ~700 per block)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self.bytes_sent = 0

    def send_bytes(self, data: bytes) -> None:
        try:
            self._sock.sendall(_FRAME.pack(len(data)) + data)
        except OSError as exc:
            raise ChannelError(f"classical channel send failed: {exc}") from exc
        self.bytes_sent += len(data)

    def _read_exact(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            try:
                chunk = self._sock.recv(min(left, 1 << 22))
            except OSError as exc:  # includes timeouts and TLS errors
                raise ChannelError(f"classical channel receive failed: {exc}") from exc
            if not chunk:
                raise ChannelError("the peer closed the classical channel")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def recv_bytes(self) -> bytes:
        (size,) = _FRAME.unpack(self._read_exact(_FRAME.size))
        if size > _MAX_FRAME_BYTES:
            raise ChannelError(f"frame of {size} bytes exceeds {_MAX_FRAME_BYTES}")
        return self._read_exact(size)

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


def server_context(cert_file: str, key_file: str, ca_file: str) -> ssl.SSLContext:
    """TLS server context that requires a client certificate signed by ``ca_file``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca_file)
    ctx.load_cert_chain(cert_file, key_file)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(cert_file: str, key_file: str, ca_file: str) -> ssl.SSLContext:
    """TLS client context presenting ``cert_file`` and trusting servers signed by ``ca_file``."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def listen(host: str, port: int, context: ssl.SSLContext, *,
           timeout_s: float = DEFAULT_TIMEOUT_S, ready=None) -> SocketChannel:
    """Accept ONE TLS connection on host:port (port 0: any; ``ready(port)`` is called once
    listening) and return its channel."""
    try:
        with socket.create_server((host, port)) as server:
            server.settimeout(timeout_s)
            if ready is not None:
                ready(server.getsockname()[1])
            raw, _ = server.accept()
    except OSError as exc:
        raise ChannelError(f"cannot listen on {host}:{port}: {exc}") from exc
    try:
        return SocketChannel(context.wrap_socket(raw, server_side=True), timeout_s)
    except OSError as exc:
        raw.close()
        raise ChannelError(f"cannot accept a TLS connection on {host}:{port}: {exc}") from exc


def connect(host: str, port: int, context: ssl.SSLContext, *, server_hostname: str | None = None,
            timeout_s: float = DEFAULT_TIMEOUT_S) -> SocketChannel:
    """Open a TLS connection to host:port and return its channel."""
    try:
        raw = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise ChannelError(f"cannot connect to {host}:{port}: {exc}") from exc
    try:
        return SocketChannel(context.wrap_socket(raw, server_hostname=server_hostname or host),
                             timeout_s)
    except OSError as exc:
        raw.close()
        raise ChannelError(f"cannot connect over TLS to {host}:{port}: {exc}") from exc
