"""Wegman-Carter authentication of the classical channel, one tag per stage and direction.

Each post-processing stage (sifting, estimation, reconciliation, verification,
amplification) keeps a transcript of the messages it sent and received, per direction. At
the end of the stage both ends hash the transcript with the recycled hash key ``k``
(:mod:`euroqci.qkd.polyhash`, GF(2^128)) and exchange one-time-padded tags
``t = h_k(T) xor r`` (Wegman & Carter, JCSS 22, 265, 1981): Alice's pad first, then Bob's,
both drawn in the same order from the shared :class:`KeyPool`. The hash key may be reused
because the tags are encrypted (Portmann, IEEE Trans. Inf. Theory 60, 4383, 2014); each
stage costs ``2 x 128`` bits of pad. A mismatch raises :class:`ChannelError` and no key of
the block is delivered. Authenticating stages rather than single Cascade messages keeps the
consumption per block constant (Fung, Ma, Chau, PRA 81, 012318, 2010).

The pool starts with the pre-shared key; the pipeline refills it from each new block's
final key with exactly the bits consumed, and reports that amount as subtracted output.
The forgery probability per tag is at most L / 2^128 for a transcript of L blocks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from euroqci.errors import ChannelError, InvalidParameter, ProtocolAbort
from euroqci.qkd.channel import Channel, decode_message, encode_message
from euroqci.qkd.polyhash import FIELD_BITS, PolyHashState, gf_mul, gf_pow

TAG_BITS = FIELD_BITS
TAG_BYTES = TAG_BITS // 8
ROLES = ("alice", "bob")


class KeyPool:
    """Secret bits shared by both ends, consumed front to back (identically at both ends).

    Refills may be *promised* before their bytes exist (a privacy amplification still
    running); they count as available at once and are settled, in order, when a take
    reaches them, so both ends see the same byte sequence whatever the thread timing.
    """

    __slots__ = ("_buffer", "_promised", "consumed_bits")

    def __init__(self, initial: bytes):
        self._buffer = bytearray(initial)
        self._promised: deque[tuple[int, Callable[[], bytes]]] = deque()
        self.consumed_bits = 0

    def __repr__(self) -> str:  # never show key material
        return f"KeyPool(available_bits={self.available_bits})"

    @property
    def available_bits(self) -> int:
        return 8 * (len(self._buffer) + sum(n for n, _ in self._promised))

    def take(self, n_bytes: int) -> bytes:
        """Remove and return the next ``n_bytes``; :class:`ProtocolAbort` if not enough."""
        if 8 * n_bytes > self.available_bits:
            raise ProtocolAbort(
                f"authentication key pool exhausted: need {8 * n_bytes} bits, "
                f"{self.available_bits} left (pre-share a longer key)"
            )
        while n_bytes > len(self._buffer):
            size, source = self._promised.popleft()
            data = source()
            if len(data) != size:
                raise ProtocolAbort(f"authentication refill of {len(data)} bytes, {size} promised")
            self._buffer.extend(data)
        out = bytes(self._buffer[:n_bytes])
        del self._buffer[:n_bytes]
        self.consumed_bits += 8 * n_bytes
        return out

    def add(self, key: bytes) -> None:
        self._buffer.extend(key)

    def promise(self, n_bytes: int, source: Callable[[], bytes]) -> None:
        """Append ``n_bytes`` that ``source()`` will return when first needed."""
        self._promised.append((n_bytes, source))


class _Transcript:
    """Horner states of one stage, one per direction (sent by Alice, sent by Bob)."""

    def __init__(self, key: int):
        self.states = {role: PolyHashState(key) for role in ROLES}

    def record(self, sender: str, message: bytes) -> None:
        # length block first: the encoding is prefix-free
        self.states[sender].absorb_prefixed(message)

    def reset(self) -> None:
        for state in self.states.values():
            state.reset()

    def digest(self, key: int) -> int:
        """Horner hash of [Alice's blocks, Bob's blocks, (L_a, L_b)]: one message hashed."""
        alice, bob = self.states["alice"], self.states["bob"]
        acc = gf_mul(alice.acc, gf_pow(key, bob.blocks)) ^ bob.acc
        return gf_mul(acc ^ ((alice.blocks << 64) | bob.blocks), key)


class AuthenticatedChannel:
    """A role's end of the classical channel with per-stage Wegman-Carter tags.

    ``send``/``recv`` move :func:`encode_message` messages and record them in the current
    stage's transcript; ``end_stage(name)`` exchanges and checks the two tags.
    """

    def __init__(self, channel: Channel, pool: KeyPool, role: str):
        if role not in ROLES:
            raise InvalidParameter("role", role, "alice or bob")
        self.channel, self.pool, self.role = channel, pool, role
        self.peer = "bob" if role == "alice" else "alice"
        self._hash_key = int.from_bytes(pool.take(TAG_BYTES), "big")
        self._transcript = _Transcript(self._hash_key)
        self.initial_pool_bits = pool.available_bits

    def __repr__(self) -> str:
        return f"AuthenticatedChannel(role={self.role!r}, pool={self.pool!r})"

    def send(self, kind: str, **fields: Any) -> None:
        message = encode_message(kind, fields)
        self._transcript.record(self.role, message)
        self.channel.send_bytes(message)

    def recv_any(self) -> tuple[str, dict[str, Any]]:
        message = self.channel.recv_bytes()
        self._transcript.record(self.peer, message)
        return decode_message(message)

    def recv(self, kind: str) -> dict[str, Any]:
        got, fields = self.recv_any()
        if got != kind:
            raise ChannelError(f"protocol error: expected message {kind!r}, got {got!r}")
        return fields

    def end_stage(self, stage: str) -> None:
        """Exchange OTP-encrypted tags of the stage transcript; ChannelError on mismatch."""
        digest = self._transcript.digest(self._hash_key)
        self._transcript.reset()
        pads = {role: int.from_bytes(self.pool.take(TAG_BYTES), "big") for role in ROLES}
        mine = (digest ^ pads[self.role]).to_bytes(TAG_BYTES, "big")
        self.channel.send_bytes(encode_message("tag", {"stage": stage, "tag": mine}))
        kind, fields = decode_message(self.channel.recv_bytes())
        expected = (digest ^ pads[self.peer]).to_bytes(TAG_BYTES, "big")
        if kind != "tag" or fields.get("stage") != stage or fields.get("tag") != expected:
            raise ChannelError(f"authentication failed at the end of stage {stage!r}")


def stage_cost_bits() -> int:
    """Pad bits consumed by one stage (one tag each way)."""
    return 2 * TAG_BITS

