"""One keep-alive HTTP/1.1 connection to a peer KME over mutual TLS (the direct-link
announcements of ``routes/peer.py``, a share of every direct key pair).

Hand-written on asyncio streams rather than httpx (which the relay and the border keep):
on the 2-core benchmark machine httpx's layers (anyio's TLS in Python, cancel scopes,
the connection pool) were a third of the master KME's CPU per key pair (py-spy, see the
"Key Management Entity" section of docs/benchmarks.md). Here the TLS is the event loop's
own, the response is parsed by httptools (llhttp, as in uvicorn) and a request leaves in
one write. The server is checked as httpx does (CA and host name, by the client
context) and, once per connection, its certificate's CN must be the expected KME ID.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

import httptools

from euroqci.kms.tls import common_name


class PeerIdentityError(Exception):
    """The server's certificate names another KME."""


class _Response:
    """httptools callbacks collecting one response."""

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.done = self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True  # llhttp forgets keep-alive once the message is over: ask now
        self.keep_alive = self.parser.should_keep_alive()


class PeerConnection:
    """Lazily opened, reopened after any failure; one request at a time."""

    def __init__(self, url: str, kme: str, context: ssl.SSLContext, timeout_s: float):
        parts = urlsplit(url)
        self.scheme, self.host = parts.scheme, parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.kme, self.context, self.timeout_s = kme, context, timeout_s
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    @property
    def is_open(self) -> bool:
        return self._streams is not None

    async def post_json(self, path: str, payload: bytes) -> tuple[int, bytes]:
        """POST ``payload`` (JSON) to ``path``; (status, body). Raises OSError (TimeoutError
        included), asyncio.IncompleteReadError, httptools.HttpParserError or
        :class:`PeerIdentityError`; the connection is closed then."""
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._streams is None:
                    self._streams = await self._connect()
                reader, writer = self._streams
                head = (
                    f"POST {self.prefix}{path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                    f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
                )
                writer.write(head.encode() + payload)
                response = _Response()
                while not response.done:
                    data = await reader.read(65536)
                    if not data:
                        raise asyncio.IncompleteReadError(b"", None)
                    response.parser.feed_data(data)
                if not response.keep_alive:
                    self.close()
                return response.parser.get_status_code(), b"".join(response.body)
        except BaseException:
            self.close()
            raise

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        tls = self.scheme == "https"
        reader, writer = await asyncio.open_connection(
            self.host,
            self.port,
            ssl=self.context if tls else None,
            server_hostname=self.host if tls else None,
        )
        ssl_object = writer.get_extra_info("ssl_object")
        if common_name(ssl_object.getpeercert() if ssl_object else None) != self.kme:
            writer.transport.abort()
            raise PeerIdentityError(f"the server at {self.host}:{self.port} is not {self.kme}")
        return reader, writer

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].transport.abort()  # no TLS close handshake to wait for
            self._streams = None


class PeerPool:
    """Kept-alive :class:`PeerConnection` s per (URL, KME) for concurrent callers (the
    relay's hops): a call borrows an idle one or opens one, and gives it back if healthy."""

    def __init__(self, context: ssl.SSLContext, timeout_s: float, *, max_idle: int = 8):
        self.context, self.timeout_s, self.max_idle = context, timeout_s, max_idle
        self._idle: dict[tuple[str, str], list[PeerConnection]] = {}
        self._closed = False

    async def post_json(self, url: str, kme: str, path: str, payload: bytes) -> tuple[int, bytes]:
        """:meth:`PeerConnection.post_json` to KME ``kme`` at base ``url``."""
        idle = self._idle.setdefault((url, kme), [])
        conn = idle.pop() if idle else PeerConnection(url, kme, self.context, self.timeout_s)
        answer = await conn.post_json(path, payload)  # on failure closed, not given back
        if conn.is_open and not self._closed and len(idle) < self.max_idle:
            idle.append(conn)
        else:
            conn.close()
        return answer

    def close(self) -> None:
        """Close the idle connections; those in use close when their call ends."""
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
