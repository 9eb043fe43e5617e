"""The description of a network of KMEs (the YAML read by ``euroqci up``), documented in
``docs/kms-network.md``.

::

    name: three-nodes
    key_size_bits: 256            # default ETSI 014 key size of every KME
    kmes:
      - {id: A}                   # optional: port (0 = any free port), domain
      - {id: T}
      - {id: B}
    links:                        # QKD links; rate_bps, or length_km (rate from the physics)
      - {a: A, b: T, length_km: 25}
      - {a: T, b: B, rate_bps: 100000}
    saes:
      - {id: alice, kme: A}
      - {id: bob, kme: B}
    borders: []                   # pairs of KMEs of two domains that talk ETSI GS QKD 020

A link joins two KMEs of the same domain; a border joins two KMEs of different domains
(two KMSs in one secure site, keys handed over with ETSI 020 ``ext_keys``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from euroqci.errors import ScenarioError
from euroqci.network.topology import LinkId, link_id


@dataclass(frozen=True)
class KmeSpec:
    """One KME: its ID (also its certificate's common name), port and domain."""

    id: str
    port: int = 0
    domain: str = "default"


@dataclass(frozen=True)
class LinkSpec:
    """A QKD link between two KMEs; ``rate_bps`` (secret bits per second) or ``length_km``."""

    a: str
    b: str
    rate_bps: float | None = None
    length_km: float | None = None

    @property
    def id(self) -> LinkId:
        return link_id(self.a, self.b)

    def seed(self, network_name: str) -> int:
        """The shared seed of the simulated feed of this link (both ends derive it)."""
        text = f"{network_name}/{self.id[0]}~{self.id[1]}".encode()
        return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


@dataclass(frozen=True)
class SaeSpec:
    """A Secure Application Entity and the KME it is registered at."""

    id: str
    kme: str


@dataclass(frozen=True)
class NetworkDescription:
    """A whole KMS network: KMEs, QKD links, SAEs and domain borders."""

    name: str
    kmes: tuple[KmeSpec, ...]
    links: tuple[LinkSpec, ...]
    saes: tuple[SaeSpec, ...]
    borders: tuple[LinkId, ...] = ()
    key_size_bits: int = 256

    def kme(self, kme_id: str) -> KmeSpec:
        for kme in self.kmes:
            if kme.id == kme_id:
                return kme
        raise ScenarioError(f"unknown KME {kme_id!r}: known {[k.id for k in self.kmes]}")

    def domain_graph(self, domain: str) -> nx.Graph:
        """The QKD links of one domain as a graph (edge attribute ``link_id``)."""
        g = nx.Graph()
        g.add_nodes_from(k.id for k in self.kmes if k.domain == domain)
        for link in self.links:
            if self.kme(link.a).domain == domain:
                g.add_edge(link.a, link.b, link_id=link.id)
        return g

    def sae_kme(self) -> dict[str, str]:
        return {sae.id: sae.kme for sae in self.saes}

    def kme_domain(self) -> dict[str, str]:
        return {kme.id: kme.domain for kme in self.kmes}


def _require(entry: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(entry, Mapping) or key not in entry:
        raise ScenarioError(f"{where}: every entry needs {key!r}, got {entry!r}")
    return entry[key]


def parse_network(data: Mapping[str, Any], default_name: str = "network") -> NetworkDescription:
    """Build and check a :class:`NetworkDescription` from parsed YAML/JSON."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"a network description is a mapping, got {type(data).__name__}")
    kmes = tuple(
        KmeSpec(str(_require(k, "id", "kmes")), int(k.get("port", 0)),
                str(k.get("domain", "default")))
        for k in data.get("kmes") or ()
    )
    ids = [k.id for k in kmes]
    if not kmes or len(set(ids)) != len(ids):
        raise ScenarioError(f"kmes: need at least one KME and unique ids, got {ids}")
    links = []
    for entry in data.get("links") or ():
        a, b = str(_require(entry, "a", "links")), str(_require(entry, "b", "links"))
        rate, length = entry.get("rate_bps"), entry.get("length_km")
        if (rate is None) == (length is None):
            raise ScenarioError(f"link {a}-{b}: give exactly one of rate_bps or length_km")
        links.append(LinkSpec(a, b, None if rate is None else float(rate),
                              None if length is None else float(length)))
    saes = tuple(SaeSpec(str(_require(s, "id", "saes")), str(_require(s, "kme", "saes")))
                 for s in data.get("saes") or ())
    borders = tuple(link_id(str(a), str(b)) for a, b in data.get("borders") or ())
    desc = NetworkDescription(
        name=str(data.get("name", default_name)), kmes=kmes, links=tuple(links), saes=saes,
        borders=borders, key_size_bits=int(data.get("key_size_bits", 256)),
    )
    domain = desc.kme_domain()
    for link in desc.links:
        for end in (link.a, link.b):
            desc.kme(end)
        if domain[link.a] != domain[link.b]:
            raise ScenarioError(f"link {link.a}-{link.b} crosses domains: use 'borders'")
    for a, b in desc.borders:
        if domain[desc.kme(a).id] == domain[desc.kme(b).id]:
            raise ScenarioError(f"border {a}-{b} joins KMEs of one domain")
    sae_ids = [s.id for s in saes]
    if len(set(sae_ids)) != len(sae_ids):
        raise ScenarioError(f"saes: ids must be unique, got {sae_ids}")
    for sae in saes:
        desc.kme(sae.kme)
    return desc


def load_network(path: str | Path) -> NetworkDescription:
    """Read a network description from a YAML file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"cannot read network description {path}: {exc}") from exc
    return parse_network(data, default_name=path.stem)
