"""Classical channel: codec round trip, in-memory pair, TLS with mutual authentication."""

import ssl
import threading

import numpy as np
import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from euroqci.errors import ChannelError
from euroqci.qkd import channel as chan


@given(st.dictionaries(st.text(min_size=1, max_size=8),
                       st.one_of(st.integers(-2**60, 2**60), st.text(max_size=20),
                                 st.binary(max_size=50), st.booleans(), st.none()),
                       max_size=5))
def test_codec_round_trip(fields):
    kind, back = chan.decode_message(chan.encode_message("k", fields))
    assert kind == "k" and back == fields


def test_codec_arrays_and_determinism():
    arr = np.arange(12, dtype=np.int32).reshape(3, 4)
    data = chan.encode_message("m", {"b": arr, "a": 1.5})
    assert data == chan.encode_message("m", {"a": 1.5, "b": arr})
    _, fields = chan.decode_message(data)
    np.testing.assert_array_equal(fields["b"], arr)
    with pytest.raises(ChannelError, match="malformed"):
        chan.decode_message(data[:-3])


def test_in_memory_close_and_timeout():
    a, b = chan.InMemoryChannel.pair(timeout_s=0.05)
    a.send_bytes(b"x")
    assert b.recv_bytes() == b"x"
    with pytest.raises(ChannelError, match="no message"):
        b.recv_bytes()
    a.close()
    with pytest.raises(ChannelError, match="closed"):
        b.recv_bytes()


def test_coroutine_pair_exchanges_in_one_thread():
    ends = chan.CoroutineChannel.pair()

    def ping():
        for i in range(3):
            ends[0].send_bytes(b"%d" % i)
            assert ends[0].recv_bytes() == b"ack%d" % i
        return "alice done", threading.get_ident()

    def pong():
        got = [ends[1].recv_bytes() for _ in range(1)]
        for i in range(3):
            ends[1].send_bytes(b"ack" + got[-1])
            if i < 2:
                got.append(ends[1].recv_bytes())
        return got, threading.get_ident()

    (a, a_thread), (b, b_thread) = chan.run_pair(ends, (ping, pong))
    assert a == "alice done" and b == [b"0", b"1", b"2"]
    assert a_thread == b_thread == threading.get_ident()
    # the ends stay usable for the next run
    assert chan.run_pair(ends, (lambda: ends[0].send_bytes(b"x"), ends[1].recv_bytes)) == \
        (None, b"x")


def test_coroutine_pair_deadlock_early_return_and_errors():
    ends = chan.CoroutineChannel.pair()
    with pytest.raises(ChannelError, match="both ends wait"):
        chan.run_pair(ends, (ends[0].recv_bytes, ends[1].recv_bytes))
    ends = chan.CoroutineChannel.pair()
    with pytest.raises(ChannelError, match="peer closed"):
        chan.run_pair(ends, (lambda: None, ends[1].recv_bytes))

    def fails():
        raise ValueError("boom")

    ends = chan.CoroutineChannel.pair()
    with pytest.raises(ValueError, match="boom"):
        chan.run_pair(ends, (fails, ends[1].recv_bytes))
    ends[0].close()
    with pytest.raises(ChannelError, match="closed"):
        ends[1].send_bytes(b"x")


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    ca = trustme.CA()
    out = tmp_path_factory.mktemp("tls")
    files = {"ca": out / "ca.pem"}
    ca.cert_pem.write_to_path(files["ca"])
    for name in ("alice", "bob"):
        cert = ca.issue_cert("127.0.0.1", "localhost")
        files[name] = (out / f"{name}.pem", out / f"{name}.key")
        cert.cert_chain_pems[0].write_to_path(files[name][0])
        cert.private_key_pem.write_to_path(files[name][1])
    return files


def test_tls_mutual_auth_and_drop(tls_files):
    ca = str(tls_files["ca"])
    server_ctx = chan.server_context(*map(str, tls_files["alice"]), ca)
    client_ctx = chan.client_context(*map(str, tls_files["bob"]), ca)
    port, got = [], {}
    ready = threading.Event()

    def serve():
        ch = chan.listen("127.0.0.1", 0, server_ctx, timeout_s=10,
                         ready=lambda p: (port.append(p), ready.set()))
        got["msg"] = ch.recv_bytes()
        ch.send_bytes(b"pong" * 1000)
        ch.close()

    thread = threading.Thread(target=serve)
    thread.start()
    assert ready.wait(10)
    ch = chan.connect("127.0.0.1", port[0], client_ctx, timeout_s=10)
    ch.send_bytes(b"ping")
    assert ch.recv_bytes() == b"pong" * 1000
    thread.join(10)
    assert got["msg"] == b"ping"
    with pytest.raises(ChannelError):  # the server hung up: a dropped connection
        ch.recv_bytes()
    ch.close()


def test_tls_rejects_a_client_without_certificate(tls_files):
    ca = str(tls_files["ca"])
    server_ctx = chan.server_context(*map(str, tls_files["alice"]), ca)
    bare = ssl.create_default_context(cafile=ca)
    port, errors = [], []
    ready = threading.Event()

    def serve():
        try:
            ch = chan.listen("127.0.0.1", 0, server_ctx, timeout_s=10,
                             ready=lambda p: (port.append(p), ready.set()))
            ch.recv_bytes()
        except ChannelError as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    assert ready.wait(10)
    ch = None
    with pytest.raises(ChannelError):
        ch = chan.connect("127.0.0.1", port[0], bare, timeout_s=10)
        ch.send_bytes(b"hello")
        ch.recv_bytes()
    if ch is not None:
        ch.close()
    thread.join(10)
    assert errors
