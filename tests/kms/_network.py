"""Helpers of the relay tests: a network from examples/ run in-process by
``euroqci.kms.launcher.running_network``, and an mTLS ETSI 014 client per SAE."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from euroqci.kms.launcher import FeedOptions
from euroqci.kms.tls import client_context

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: no key production during a test: link levels move only when key is spent
STATIC_FEEDS = FeedOptions(max_rate_bps=0.0, initial_key_bits=1 << 16)


def sae_client(state: dict, sae_id: str) -> httpx.Client:
    """An httpx client for SAE ``sae_id`` with its certificate, based at its KME."""
    sae = next(s for s in state["saes"] if s["id"] == sae_id)
    url = next(k["url"] for k in state["kmes"] if k["id"] == sae["kme"])
    ctx = client_context(Path(state["ca"]), Path(sae["cert"]), Path(sae["key"]))
    return httpx.Client(base_url=url, verify=ctx, timeout=20.0)


def on_loop(loop: asyncio.AbstractEventLoop, coro, timeout_s: float = 30.0):
    """Run ``coro`` on the network's loop (another thread) and return its result."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout_s)


def relayed_key(master: httpx.Client, slave: httpx.Client, master_id: str, slave_id: str,
                **extensions) -> tuple[str, str]:
    """enc_keys at the master's KME, dec_keys at the slave's: (key_ID, key) checked equal."""
    body: dict = {"number": 1, "size": 256}
    if extensions:
        body["extension_mandatory"] = [extensions]
    answer = master.post(f"/api/v1/keys/{slave_id}/enc_keys", json=body)
    assert answer.status_code == 200, answer.text
    key = answer.json()["keys"][0]
    back = slave.post(f"/api/v1/keys/{master_id}/dec_keys",
                      json={"key_IDs": [{"key_ID": key["key_ID"]}]})
    assert back.status_code == 200, back.text
    assert back.json()["keys"][0]["key"] == key["key"]
    return key["key_ID"], key["key"]
