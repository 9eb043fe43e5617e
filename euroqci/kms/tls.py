"""Mutual TLS for the KME: server and client contexts, and the caller's identity.

Identity rule (ETSI GS QKD 014 clause 4: the KME confirms the SAE ID from the certificate):
the caller's ID is the **subject common name (CN)** of its client certificate, which must
chain to the configured CA. A CN that names a KME of the network is a peer KME (KME-to-KME
calls use the KMEs' own certificates); a CN that names an SAE registered at this KME is
that SAE. IDs are unique across KMEs and SAEs (checked in the settings).

uvicorn does not put the client certificate into the ASGI scope, so
:class:`MTLSHttpToolsProtocol` adds the ASGI TLS extension
(``scope["extensions"]["tls"]``, with ``client_cert_name`` and our ``client_cn``).
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def server_context(cert_file: Path, key_file: Path, ca_file: Path) -> ssl.SSLContext:
    """TLS 1.2/1.3 server context that requires a client certificate signed by ``ca_file``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(cert_file), str(key_file))
    ctx.load_verify_locations(cafile=str(ca_file))
    return ctx


def client_context(ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None):
    """TLS 1.2/1.3 client context verifying the server against ``ca_file`` (and hostname),
    presenting ``cert_file`` when given (KME-to-KME and SAE clients)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        ctx.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    return ctx


def common_name(peercert: dict[str, Any] | None) -> str | None:
    """The subject CN of a certificate as returned by ``SSLSocket.getpeercert()``."""
    for rdn in (peercert or {}).get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return value
    return None


def server_common_name(response) -> str | None:
    """The CN of the server certificate behind an ``httpx.Response`` (the peer KME's ID):
    the CA check alone would accept any KME of the network at any URL (ETSI GS QKD 014
    clause 5.1: confirm the KME ID from the certificate)."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    return common_name(ssl_object.getpeercert()) if ssl_object is not None else None


def _rfc4514(peercert: dict[str, Any]) -> str:
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU"}
    parts = [f"{short.get(n, n)}={v}" for rdn in peercert.get("subject", ()) for n, v in rdn]
    return ",".join(reversed(parts))


def tls_extension(transport: asyncio.Transport) -> dict[str, Any]:
    """The ASGI TLS extension of one connection (client certificate already verified)."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return {"client_cn": None, "client_cert_name": None}
    peercert = ssl_object.getpeercert() or {}
    return {
        "client_cn": common_name(peercert),
        "client_cert_name": _rfc4514(peercert) if peercert else None,
        "client_cert_error": None,
        "tls_version": ssl_object.version(),
    }


class _CoalescedWrites:
    """A transport whose writes of one event-loop iteration leave as one write.

    uvicorn writes a response's head and body separately; over TLS that is two records,
    two ``send`` system calls and two wake-ups of the client per answer. Here they are
    joined (one ``call_soon`` later, within the same loop iteration's callbacks); ``close``
    sends what is pending first. Everything else is the wrapped transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class MTLSHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus the client certificate in every request's scope
    (and a response's head and body sent in one TLS write, see :class:`_CoalescedWrites`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls = tls_extension(transport)
        self.transport = _CoalescedWrites(transport, self.loop)  # type: ignore[assignment]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {"tls": self._tls}

    def shutdown(self) -> None:
        """At server shutdown, drop idle keep-alive connections at once: a TLS close waits
        up to 30 s for the client's close_notify, which idle pooled clients never send."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()
