"""The hot paths (kms/hot.py): only the plain forms are taken off FastAPI, and every other
form still gets FastAPI's answer (with a peer's body replayed to it)."""

from __future__ import annotations

import httpx
import pytest

from euroqci.kms import hot
from euroqci.kms.tls import client_context
from tests.kms.conftest import wait_for_keys


def _scope(method: str, path: str, query: bytes = b"") -> dict:
    return {"type": "http", "method": method, "path": path, "query_string": query}


@pytest.mark.parametrize(
    ("method", "path", "query", "hot_path"),
    [
        ("GET", "/api/v1/keys/bob/enc_keys", b"", True),
        ("GET", "/api/v1/keys/bob/enc_keys", b"number=2&size=512", True),
        ("GET", "/api/v1/keys/bob/enc_keys", b"number=0", False),
        ("GET", "/api/v1/keys/bob/enc_keys", b"number=x", False),
        ("GET", "/api/v1/keys/bob/enc_keys", b"number=1&number=2", False),
        ("GET", "/api/v1/keys/bob/enc_keys", b"count=1", False),
        ("POST", "/api/v1/keys/bob/enc_keys", b"", False),
        ("GET", "/api/v1/keys/alice/dec_keys", b"key_ID=abc", True),
        ("GET", "/api/v1/keys/alice/dec_keys", b"key_ID=", False),
        ("GET", "/api/v1/keys/alice/dec_keys", b"key_ID=a&key_ID=b", False),
        ("GET", "/api/v1/keys/alice/dec_keys", b"", False),
        ("GET", "/api/v1/keys/bob/status", b"", False),
        ("GET", "/api/v1/keys//enc_keys", b"", False),
        ("GET", "/api/v1/keys/a/b/enc_keys", b"", False),
    ],
)
def test_only_plain_forms_take_the_hot_path(method, path, query, hot_path):
    assert (hot.match(_scope(method, path, query)) is not None) is hot_path


def test_other_forms_get_fastapis_answers(pki, run_kmes, clients):
    kmes = run_kmes()
    alice, bob = clients("alice", kmes["A"]), clients("bob", kmes["B"])
    wait_for_keys(alice, "bob")
    r = alice.get("/api/v1/keys/bob/enc_keys", params={"number": "x"})
    assert r.status_code == 400 and r.json()["message"] == "bad request format"
    r = bob.get("/api/v1/keys/alice/dec_keys")  # key_ID missing
    assert r.status_code == 400 and r.json()["message"] == "bad request format"
    kid = alice.get("/api/v1/keys/bob/enc_keys", params={"number": 1}).json()["keys"][0]
    r = bob.get("/api/v1/keys/alice/dec_keys", params={"key_ID": kid["key_ID"]})
    assert r.status_code == 200 and r.json()["keys"] == [kid]
    ctx = client_context(pki / "ca.pem", pki / "kme-A.pem", pki / "kme-A-key.pem")
    with httpx.Client(base_url=kmes["B"].url, verify=ctx, timeout=5) as kme_a:
        r = kme_a.post("/peer/v1/keys", json={"keys": [], "extra": 1})  # replayed to FastAPI
        assert r.status_code == 400 and r.json()["message"] == "bad request format"
        r = kme_a.post("/peer/v1/keys", content=b"{not json")
        assert r.status_code == 400 and r.json()["message"] == "bad request format"


def test_peer_connection_is_kept_alive_and_checks_the_server_kme(pki):
    import asyncio

    from euroqci.kms.peerconn import PeerConnection, PeerIdentityError, PeerPool
    from euroqci.kms.tls import server_context

    reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    connections = []

    async def handle(reader, writer):
        connections.append(writer)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(2)  # the request body below
                writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main():
        tls = server_context(pki / "kme-B.pem", pki / "kme-B-key.pem", pki / "ca.pem")
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
        url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        ctx = client_context(pki / "ca.pem", pki / "kme-A.pem", pki / "kme-A-key.pem")
        conn = PeerConnection(url, "B", ctx, 5.0)
        for _ in range(3):
            assert await conn.post_json("/peer/v1/keys", b"{}") == (200, b"{}")
        assert len(connections) == 1 and conn.is_open
        conn.close()
        pool = PeerPool(ctx, 5.0)  # the relay's: an idle connection is borrowed again
        for _ in range(3):
            assert await pool.post_json(url, "B", "/peer/v1/keys", b"{}") == (200, b"{}")
        assert len(connections) == 2
        pool.close()
        with pytest.raises(PeerIdentityError):
            await PeerConnection(url, "C", ctx, 5.0).post_json("/peer/v1/keys", b"{}")
        server.close()

    asyncio.run(main())
