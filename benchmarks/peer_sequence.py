"""Peer side of the digital-twin comparison: SeQUeNCe (Wu et al., Quantum Sci. Technol. 6,
045027, 2021; PyPI ``sequence``, benchmark only, not a euroqci dependency) on the same
trusted-node chain as ``bench_simulate.py chain``: 4 nodes, 3 BB84 links of 50 km at
0.2 dB/km. SeQUeNCe simulates every photon (discrete events), so we run each link's BB84
(sifting only, stack_size=1, the lightest configuration) for a short simulated time and
report simulated seconds per wall second. Run it in a separate environment:

    python -m venv /tmp/peer && /tmp/peer/bin/pip install sequence   # 0.8.5 on Python 3.11
    /tmp/peer/bin/python benchmarks/peer_sequence.py --sim-ms 20 --repeats 3
"""

import argparse
import json
import statistics
import time

from sequence.components.optical_channel import ClassicalChannel, QuantumChannel
from sequence.kernel.timeline import Timeline
from sequence.qkd.BB84 import pair_bb84_protocols
from sequence.topology.node import QKDNode

KM = 50.0
NODES = ("A", "B", "C", "D")


def run_chain(sim_s: float, seed: int = 0) -> tuple[float, int]:
    """Wall time to simulate ``sim_s`` of BB84 on the 3 links; sifted bits produced."""
    tl = Timeline(stop_time=int(sim_s * 1e12))
    protos = []
    for k, (a, b) in enumerate(zip(NODES[:-1], NODES[1:], strict=True)):
        alice = QKDNode(f"{a}{k}a", tl, stack_size=1)
        bob = QKDNode(f"{b}{k}b", tl, stack_size=1)
        alice.set_seed(seed + 2 * k)
        bob.set_seed(seed + 2 * k + 1)
        pair_bb84_protocols(alice.protocol_stack[0], bob.protocol_stack[0])
        for src, dst in ((alice, bob), (bob, alice)):
            cc = ClassicalChannel(f"cc_{src.name}_{dst.name}", tl, distance=KM * 1e3)
            cc.set_ends(src, dst.name)
            qc = QuantumChannel(f"qc_{src.name}_{dst.name}", tl, attenuation=0.0002,
                                distance=KM * 1e3, polarization_fidelity=0.99)
            qc.set_ends(src, dst.name)
        protos.append(alice.protocol_stack[0])
    tl.init()
    for p in protos:
        p.push(256, 10**9)  # keep generating 256-bit keys until the stop time
    t0 = time.perf_counter()
    tl.run()
    wall = time.perf_counter() - t0
    return wall, sum(len(p.throughputs) * 256 for p in protos)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim-ms", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    runs = [run_chain(a.sim_ms / 1e3, seed=r) for r in range(a.repeats)]
    wall = statistics.median(w for w, _ in runs)
    print(json.dumps({"peer": "SeQUeNCe 0.8.5", "simulated_s": a.sim_ms / 1e3,
                      "median_wall_s": wall, "keys_bits": [k for _, k in runs],
                      "simulated_s_per_wall_s": a.sim_ms / 1e3 / wall}, indent=1))


if __name__ == "__main__":
    main()
