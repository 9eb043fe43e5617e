"""Latency that trusted-node relay adds: a key over 4 hops vs over one direct link.

Starts ``euroqci up examples/line-five.yaml`` (A - T1 - T2 - T3 - B, alice at A, carol at
T1, bob at B) as a subprocess, then one client process measures, sequentially and
interleaved, ``enc_keys`` at A followed by ``dec_keys`` at the slave's KME, over mutual
TLS with keep-alive (httpx, one connection per SAE): alice -> carol (direct link) and
alice -> bob (relayed through 3 trusted nodes, 4 one-time-padded hops + acknowledgement).

    python benchmarks/bench_kms_relay.py [--pairs 300] [--warmup 30]

Prints the median and p99 of each and the added median latency (target < 20 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from euroqci.kms.tls import client_context  # noqa: E402


def _clients(state: dict) -> dict[str, httpx.Client]:
    urls = {k["id"]: k["url"] for k in state["kmes"]}
    out = {}
    for sae in state["saes"]:
        ctx = client_context(Path(state["ca"]), Path(sae["cert"]), Path(sae["key"]))
        out[sae["id"]] = httpx.Client(base_url=urls[sae["kme"]], verify=ctx, timeout=30.0)
    return out


def _pair(master: httpx.Client, slave: httpx.Client, slave_id: str) -> float:
    start = time.perf_counter()
    answer = master.post(f"/api/v1/keys/{slave_id}/enc_keys", json={"number": 1, "size": 256})
    answer.raise_for_status()
    key = answer.json()["keys"][0]
    back = slave.post("/api/v1/keys/alice/dec_keys", json={"key_IDs": [{"key_ID": key["key_ID"]}]})
    back.raise_for_status()
    if back.json()["keys"][0]["key"] != key["key"]:
        raise AssertionError("the two ends disagree")
    return (time.perf_counter() - start) * 1e3


def _stats(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"median_ms": statistics.median(ordered),
            "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "n": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    log = (run_dir / "up.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "euroqci", "up", str(ROOT / "examples" / "line-five.yaml"),
         "--run-dir", str(run_dir), "--max-rate-bps", "0", "--initial-key-bits", str(1 << 22)],
        cwd=ROOT, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        state_file = run_dir / "network-state.json"
        while not state_file.exists():
            if proc.poll() is not None:
                raise SystemExit(f"euroqci up failed: {(run_dir / 'up.log').read_text()[-2000:]}")
            time.sleep(0.1)
        clients = _clients(json.loads(state_file.read_text()))
        alice, carol, bob = clients["alice"], clients["carol"], clients["bob"]
        for _ in range(args.warmup):
            _pair(alice, carol, "carol")
            _pair(alice, bob, "bob")
        direct, relayed = [], []
        for _ in range(args.pairs):
            direct.append(_pair(alice, carol, "carol"))
            relayed.append(_pair(alice, bob, "bob"))
        result = {
            "direct": _stats(direct), "relayed_4_hops": _stats(relayed),
            "added_median_ms": statistics.median(relayed) - statistics.median(direct),
            "machine": {"nproc": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                        "python": platform.python_version()},
            "load_generator": "one httpx client per SAE, keep-alive, sequential, interleaved",
        }
        print(json.dumps(result, indent=2))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
