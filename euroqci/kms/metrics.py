"""Operations metrics of one KME in the Prometheus text exposition format (version 0.0.4).

Hand-written rather than with ``prometheus_client``: a handful of counters and gauges, no
new dependency, and the gauges are read from the store at scrape time.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from euroqci.kms.store import KeyStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "euroqci_kms_keys_issued_total": "Keys handed to master SAEs (enc_keys), by route.",
    "euroqci_kms_keys_delivered_total": "Keys handed to slave SAEs (dec_keys).",
    "euroqci_kms_keys_relayed_total": "Keys sent to non-adjacent KMEs through the relay.",
    "euroqci_kms_peer_keys_total": "Keys announced by adjacent KMEs, by outcome.",
    "euroqci_kms_errors_total": "Error answers, by HTTP status.",
    "euroqci_kms_internal_errors_total": "Unexpected exceptions (answered 503).",
}


class Metrics:
    """Counters of one KME; :meth:`render` adds the store's gauges."""

    def __init__(self, kme_id: str):
        self.kme_id = kme_id
        self.counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def inc(self, name: str, n: int = 1, **labels: str) -> None:
        self.counters[(name, tuple(sorted(labels.items())))] += n

    def value(self, name: str, **labels: str) -> int:
        return self.counters[(name, tuple(sorted(labels.items())))]

    def render(self, store: KeyStore) -> str:
        lines: list[str] = []
        for name, text in _HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
            series = [(lb, v) for (n, lb), v in sorted(self.counters.items()) if n == name]
            for labels, value in series or [((), 0)]:
                lines.append(f"{name}{_labels(labels)} {value}")
        bits = store.link_key_bits()
        lines += [
            "# HELP euroqci_kms_link_key_bits Unused key stored per QKD link (bits).",
            "# TYPE euroqci_kms_link_key_bits gauge",
        ]
        lines += [
            f"{'euroqci_kms_link_key_bits'}{_labels(_link(lk))} {b}" for lk, b in bits.items()
        ]
        lines += [
            "# HELP euroqci_kms_link_key_chunks Unused key chunks stored per QKD link.",
            "# TYPE euroqci_kms_link_key_chunks gauge",
        ]
        lines += [
            f"euroqci_kms_link_key_chunks{_labels(_link(lk))} {store.available_chunks(lk)}"
            for lk in bits
        ]
        lines += [
            "# HELP euroqci_kms_pending_keys Keys waiting for their slave SAE.",
            "# TYPE euroqci_kms_pending_keys gauge",
            f"euroqci_kms_pending_keys {store.pending_key_count()}",
        ]
        return "\n".join(lines) + "\n"


def _link(lk: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("link", f"{lk[0]}-{lk[1]}"),)


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    esc = [(k, v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")) for k, v in labels]
    return "{" + ",".join(f'{k}="{v}"' for k, v in esc) + "}"
