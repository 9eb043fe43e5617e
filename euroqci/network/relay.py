"""Trusted-node relay accounting: what relaying a key costs each hop, and a ledger of key
bits per link that keeps the books balanced.

Relay scheme (hop-by-hop one-time pad, as in SECOQC and the Beijing-Shanghai backbone;
Peev et al., New J. Phys. 11, 075001, 2009): the end-to-end key is the first hop's link key
k1; each trusted node i publishes k_i XOR k_(i+1). So every hop spends exactly the relayed
key length: the first hop's bits count as *delivered*, the others as *consumed by relay*.

Conservation, per link, at any time::

    produced = delivered + consumed_by_relay + stored + discarded
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike

from euroqci.errors import InvalidParameter, KeyUnavailable
from euroqci.network.topology import LinkId, link_id


def hop_charges(path: list[str], key_bits: float) -> dict[LinkId, float]:
    """Bits each link of ``path`` spends to relay ``key_bits`` end to end (one-time pad:
    exactly ``key_bits`` per hop). A one-node path costs nothing."""
    if key_bits < 0:
        raise InvalidParameter("key_bits", key_bits, "must be >= 0")
    charges: dict[LinkId, float] = {}
    for u, v in zip(path, path[1:], strict=False):
        lid = link_id(u, v)
        charges[lid] = charges.get(lid, 0.0) + key_bits
    return charges


def relative_imbalance(produced: ArrayLike, delivered: ArrayLike, consumed_by_relay: ArrayLike,
                       stored: ArrayLike, discarded: ArrayLike) -> np.ndarray:
    """Conservation error of a link's books (bits in, arrays broadcast):
    |produced - (delivered + consumed_by_relay + stored + discarded)| / max(produced, 1 bit);
    0 when they balance. The ledger and the twin (:mod:`euroqci.sim.metrics`) both use it."""
    out = (np.asarray(delivered, float) + np.asarray(consumed_by_relay, float)
           + np.asarray(stored, float) + np.asarray(discarded, float))
    produced = np.asarray(produced, float)
    return np.abs(produced - out) / np.maximum(produced, 1.0)


@dataclass(frozen=True)
class LinkAccount:
    """A snapshot of one link's books (bits)."""

    produced: float
    delivered: float
    consumed_by_relay: float
    stored: float
    discarded: float
    capacity: float

    @property
    def imbalance(self) -> float:
        """produced - (delivered + consumed_by_relay + stored + discarded); 0 when balanced."""
        return self.produced - (self.delivered + self.consumed_by_relay + self.stored
                                + self.discarded)


class KeyLedger:
    """Key bits stored per link, with capacities, and the books of where every bit went.

    ``capacities`` maps each link id to its store size (bits); links not named get
    ``default_capacity_bits``. Only links named in ``capacities`` exist unless
    ``allow_new_links`` (then a link is opened on first use).
    """

    def __init__(self, capacities: Mapping[LinkId, float], *,
                 default_capacity_bits: float = math.inf, allow_new_links: bool = False):
        self._default = float(default_capacity_bits)
        self._allow_new = allow_new_links
        self._capacity: dict[LinkId, float] = {}
        self._stored: dict[LinkId, float] = {}
        self._produced: dict[LinkId, float] = {}
        self._delivered: dict[LinkId, float] = {}
        self._relay: dict[LinkId, float] = {}
        self._discarded: dict[LinkId, float] = {}
        for lid, cap in capacities.items():
            self._open(link_id(*lid), float(cap))

    def _open(self, lid: LinkId, capacity: float) -> None:
        if capacity < 0 or capacity != capacity:
            raise InvalidParameter(f"capacity of {lid}", capacity, "must be >= 0")
        self._capacity[lid] = capacity
        for book in (self._stored, self._produced, self._delivered, self._relay,
                     self._discarded):
            book[lid] = 0.0

    def _key(self, lid: tuple[str, str]) -> LinkId:
        key = link_id(*lid)
        if key not in self._capacity:
            if not self._allow_new:
                raise InvalidParameter("link", lid, "a link known to this ledger")
            self._open(key, self._default)
        return key

    @property
    def links(self) -> tuple[LinkId, ...]:
        return tuple(sorted(self._capacity))

    @property
    def stored_bits(self) -> Mapping[LinkId, float]:
        """Live read-only view of the bits in each store (pass it to ``route``)."""
        return MappingProxyType(self._stored)

    def add(self, lid: tuple[str, str], bits: float) -> float:
        """Add freshly produced key to a link's store; what does not fit is discarded.
        Returns the bits actually stored."""
        if bits < 0:
            raise InvalidParameter("bits", bits, "must be >= 0")
        key = self._key(lid)
        self._produced[key] += bits
        room = max(self._capacity[key] - self._stored[key], 0.0)
        kept = min(bits, room)
        self._stored[key] += kept
        self._discarded[key] += bits - kept
        return kept

    def discard(self, lid: tuple[str, str], bits: float | None = None) -> float:
        """Throw stored key away (e.g. a store lost with its node); all of it by default.
        Returns the bits discarded."""
        key = self._key(lid)
        amount = self._stored[key] if bits is None else min(bits, self._stored[key])
        if amount < 0:
            raise InvalidParameter("bits", bits, "must be >= 0")
        self._stored[key] -= amount
        self._discarded[key] += amount
        return amount

    def can_serve(self, charges: Mapping[tuple[str, str], float]) -> bool:
        """True if every link holds at least its charge."""
        return all(self._stored.get(link_id(*lid), 0.0) >= bits for lid, bits in charges.items())

    def consume(self, charges: Mapping[tuple[str, str], float], *,
                delivered: Iterable[tuple[str, str]] = ()) -> None:
        """Take ``charges`` (link id -> bits) out of the stores, all or nothing. Charges on
        links in ``delivered`` are booked as delivered, the rest as consumed by relay.
        Raises :class:`KeyUnavailable` (and changes nothing) if a store is short."""
        keys = {self._key(lid): bits for lid, bits in charges.items()}
        for key, bits in keys.items():
            if bits < 0:
                raise InvalidParameter(f"charge on {key}", bits, "must be >= 0")
            if self._stored[key] < bits:
                raise KeyUnavailable(f"link {key[0]}-{key[1]} holds {self._stored[key]:.0f} "
                                     f"bits, {bits:.0f} needed")
        to_deliver = {link_id(*lid) for lid in delivered}
        for key, bits in keys.items():
            self._stored[key] -= bits
            book = self._delivered if key in to_deliver else self._relay
            book[key] += bits

    def relay(self, path: list[str], key_bits: float) -> dict[LinkId, float]:
        """Relay ``key_bits`` along ``path``: the first hop delivers, the others relay.
        Returns the charges. Raises :class:`KeyUnavailable` if a hop is short."""
        charges = hop_charges(path, key_bits)
        first = [link_id(path[0], path[1])] if len(path) > 1 else []
        self.consume(charges, delivered=first)
        return charges

    def account(self, lid: tuple[str, str]) -> LinkAccount:
        key = self._key(lid)
        return LinkAccount(self._produced[key], self._delivered[key], self._relay[key],
                           self._stored[key], self._discarded[key], self._capacity[key])

    def max_imbalance(self) -> float:
        """Largest relative conservation error over all links (0 when the books balance)."""
        worst = 0.0
        for key in self._capacity:
            acc = self.account(key)
            worst = max(worst, float(relative_imbalance(acc.produced, acc.delivered,
                                                        acc.consumed_by_relay, acc.stored,
                                                        acc.discarded)))
        return worst

    def __repr__(self) -> str:
        return f"KeyLedger({len(self._capacity)} links, {sum(self._stored.values()):.0f} bits)"
