"""Who is where: the network as one KME sees it, and the seams other KMS parts plug into.

- :class:`Network`: KMEs, QKD links and SAEs (from :class:`~euroqci.kms.settings.Settings`).
- :class:`Relay`: what the app calls for a slave SAE at a NON-adjacent KME (trusted-node
  relay, ``euroqci/kms/relay.py``); ``app.state.relay`` (None when no relay is installed).
- :class:`SaeKey`: one key handed to a slave SAE by the store.
- :class:`KmeContext`: everything a relay, a feed or a route needs (``app.state.ctx``).

Link IDs are sorted pairs of KME IDs, as ``euroqci.network.topology.link_id``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from euroqci.kms.settings import Settings

if TYPE_CHECKING:
    import networkx as nx

    from euroqci.kms.metrics import Metrics
    from euroqci.kms.store import KeyStore

LinkId = tuple[str, str]


def link_id(a: str, b: str) -> LinkId:
    """The link key used everywhere: the sorted pair of KME IDs."""
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class Network:
    """KMEs (ID -> base URL), QKD links and SAEs (ID -> KME ID) of the whole network."""

    kmes: dict[str, str]
    links: frozenset[LinkId]
    saes: dict[str, str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Network:
        kmes = dict(settings.kmes)
        kmes.setdefault(settings.kme_id, f"https://{settings.host}:{settings.port}")
        links = frozenset(link_id(a, b) for a, b in settings.links)
        return cls(kmes=kmes, links=links, saes=dict(settings.saes))

    def adjacent(self, a: str, b: str) -> bool:
        """True if KMEs ``a`` and ``b`` share a QKD link."""
        return link_id(a, b) in self.links

    def neighbours(self, kme: str) -> list[str]:
        return sorted(b if a == kme else a for a, b in self.links if kme in (a, b))

    def kme_of(self, sae: str) -> str | None:
        return self.saes.get(sae)

    def graph(self) -> nx.Graph:
        """The KME graph (networkx), edge attribute ``link_id``."""
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(self.kmes)
        for a, b in self.links:
            g.add_edge(a, b, link_id=(a, b))
        return g


@dataclass(frozen=True)
class SaeKey:
    """One ETSI 014 key: a UUID string and its bytes (never shown in a repr)."""

    key_id: str
    material: bytes = field(repr=False)


class Relay(Protocol):
    """Trusted-node relay between non-adjacent KMEs (implemented in ``kms/relay.py``)."""

    async def deliver(
        self,
        keys: Sequence[tuple[str, bytes]],
        master_sae: str,
        slave_saes: Sequence[str],
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Return once the KMEs of ``slave_saes`` stored ``keys`` ``[(key_ID, bytes)]``.

        ``options`` are the extension values the master SAE sent (e.g. ``euroqci_multipath``).
        Raises :class:`~euroqci.errors.KeyUnavailable` (HTTP 503) when no route has enough key.
        """


@dataclass
class KmeContext:
    """What one running KME is made of; stored as ``app.state.ctx``."""

    settings: Settings
    network: Network
    store: KeyStore
    metrics: Metrics
    peers: Any  # euroqci.kms.routes.peer.PeerClients: mTLS httpx clients to other KMEs
    relay: Relay | None = None


#: builds the relay of one KME once its context exists (``create_app(relay_factory=...)``)
RelayFactory = Callable[[KmeContext], Relay]
#: a long-running task of one KME (e.g. a device feed), started and cancelled with the app
Service = Callable[[KmeContext], Awaitable[None]]
