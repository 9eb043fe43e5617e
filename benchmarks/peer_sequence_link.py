"""Peer side of the link-engine comparison: SeQUeNCe's BB84 + Cascade (Wu et al., Quantum
Sci. Technol. 6, 045027, 2021; PyPI ``sequence``, benchmark only, not a euroqci dependency)
on the link of ``bench_pipeline.py``: 25 km of 0.2 dB/km fiber, 1 GHz source, mean photon
number 0.5 (SeQUeNCe's BB84 has no decoys), detector efficiency 0.1, 1e-6 dark counts per
gate (1e3 /s at 1 GHz), 1 % misalignment (polarization fidelity 0.99). SeQUeNCe simulates
every pulse as discrete events; we report simulated link-seconds per wall-second and the
Cascade-corrected key bits. Run it in a separate environment:

    python -m venv /tmp/peer && /tmp/peer/bin/pip install sequence   # 0.8.5 on Python 3.11
    /tmp/peer/bin/python benchmarks/peer_sequence_link.py --sim-ms 1 --repeats 3
"""

import argparse
import json
import statistics
import time

from sequence.components.optical_channel import ClassicalChannel, QuantumChannel
from sequence.kernel.timeline import Timeline
from sequence.qkd.BB84 import pair_bb84_protocols
from sequence.qkd.cascade import pair_cascade_protocols
from sequence.topology.node import QKDNode

KM = 25.0
REP_RATE_HZ = 1e9


def run_link(sim_s: float, seed: int) -> dict:
    """Simulate ``sim_s`` seconds of BB84 + Cascade; wall time and key bits."""
    tl = Timeline(stop_time=int(sim_s * 1e12))
    alice = QKDNode("alice", tl, stack_size=2)
    bob = QKDNode("bob", tl, stack_size=2)
    alice.set_seed(seed)
    bob.set_seed(seed + 1)
    pair_bb84_protocols(alice.protocol_stack[0], bob.protocol_stack[0])
    pair_cascade_protocols(alice.protocol_stack[1], bob.protocol_stack[1])
    for node in (alice, bob):
        node.update_lightsource_params("frequency", REP_RATE_HZ)
        node.update_lightsource_params("mean_photon_num", 0.5)
        for detector in (0, 1):
            node.update_detector_params(detector, "efficiency", 0.1)
            node.update_detector_params(detector, "dark_count", 1e-6 * REP_RATE_HZ)
    for src, dst in ((alice, bob), (bob, alice)):
        cc = ClassicalChannel(f"cc_{src.name}_{dst.name}", tl, distance=KM * 1e3)
        cc.set_ends(src, dst.name)
        qc = QuantumChannel(f"qc_{src.name}_{dst.name}", tl, attenuation=0.0002,
                            distance=KM * 1e3, polarization_fidelity=0.99)
        qc.set_ends(src, dst.name)
    tl.init()
    alice.protocol_stack[1].push(256, 10**9)  # keep making 256-bit frames until stop time
    t0 = time.perf_counter()
    tl.run()
    wall = time.perf_counter() - t0
    bb84 = alice.protocol_stack[0]
    cascade = alice.protocol_stack[1]
    return {"wall_s": wall, "sifted_bits": 256 * len(bb84.throughputs),
            "cascade_key_bits": 256 * len(cascade.valid_keys)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim-ms", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    runs = [run_link(a.sim_ms / 1e3, seed=2 * r) for r in range(a.repeats)]
    wall = statistics.median(r["wall_s"] for r in runs)
    print(json.dumps({"peer": "SeQUeNCe 0.8.5 BB84 + Cascade", "km": KM,
                      "rep_rate_hz": REP_RATE_HZ, "simulated_s": a.sim_ms / 1e3,
                      "median_wall_s": wall, "runs": runs,
                      "link_seconds_per_wall_second": a.sim_ms / 1e3 / wall}, indent=1))


if __name__ == "__main__":
    main()
