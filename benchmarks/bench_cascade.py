"""Cascade benchmark: euroqci vs brunorijsman/cascade-python on the same frames.

    python benchmarks/bench_cascade.py [--qber 0.01 0.02 0.05] [--frames 200]
                                       [--peer-frames 3] [--repeats 3] [--json]

The peer is not a dependency: fetch it into benchmarks/_peers/cascade-python (git-ignored),
e.g. ``git --git-dir=<mirror> archive --prefix=cascade-python/ HEAD | tar -x -C
benchmarks/_peers``; without it only euroqci is measured. Frames: n = 10^4 bits,
Bernoulli errors at the given QBER, the same arrays for both. Efficiency f = leaked parity
bits / sum over frames of n h(e_frame), e_frame the frame's actual error fraction. Both
run single-threaded; throughput is given per wall second and per CPU second (process
time, robust to a loaded machine); the ratios use CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from euroqci.qkd.cascade import cascade_in_memory
from euroqci.qkd.reconciliation import binary_entropy

PEER = Path(__file__).parent / "_peers" / "cascade-python"


def _machine() -> dict:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "nproc": os.cpu_count(), "loadavg_1min": os.getloadavg()[0],
            "python": platform.python_version()}


def _ours(alice, bob, qber, variant, repeats):
    times, cpus, res = [], [], None
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = cascade_in_memory(alice, bob, qber, np.random.default_rng(r), variant=variant)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall, cpu = statistics.median(times), statistics.median(cpus)
    fer = float(np.mean(np.any(res.corrected != alice, axis=1)))
    return {"efficiency": res.efficiency, "round_trips": res.round_trips, "fer": fer,
            "frames": alice.shape[0], "wall_s": wall, "cpu_s": cpu,
            "throughput_bps": alice.size / wall, "throughput_bps_per_cpu": alice.size / cpu}


def _peer(alice, bob, variant):
    sys.path.insert(0, str(PEER))
    from cascade.key import Key  # noqa: PLC0415 - optional peer, imported on demand
    from cascade.mock_classical_channel import MockClassicalChannel  # noqa: PLC0415
    from cascade.reconciliation import Reconciliation  # noqa: PLC0415

    def key(bits):
        k = Key()
        k._size = bits.size
        k._bits = dict(enumerate(bits.tolist()))
        return k

    leaked, denom, wrong, msgs, wall, cpu = 0, 0.0, 0, [], 0.0, 0.0
    for a, b in zip(alice, bob, strict=True):
        e = float(np.mean(a != b))
        rec = Reconciliation(variant, MockClassicalChannel(key(a)), key(b), e)
        t0, c0 = time.perf_counter(), time.process_time()
        out = rec.reconcile()
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        leaked += rec.stats.ask_parity_blocks
        denom += a.size * binary_entropy(e)
        msgs.append(rec.stats.ask_parity_messages)
        got = np.fromiter((out.get_bit(i) for i in range(a.size)), dtype=np.uint8)
        wrong += int(np.any(got != a))
    return {"efficiency": leaked / denom, "round_trips_per_frame": statistics.median(msgs),
            "fer": wrong / alice.shape[0], "frames": alice.shape[0], "wall_s": wall,
            "cpu_s": cpu, "throughput_bps": alice.size / wall,
            "throughput_bps_per_cpu": alice.size / cpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qber", type=float, nargs="+", default=[0.01, 0.02, 0.05])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--peer-frames", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(2024)
    # warm the JIT so compile time is not measured
    w = rng.integers(0, 2, (2, 500), dtype=np.uint8)
    cascade_in_memory(w, w ^ (rng.random(w.shape) < 0.05), 0.05, rng)
    rows = []
    for q in args.qber:
        alice = rng.integers(0, 2, (args.frames, args.n), dtype=np.uint8)
        bob = alice ^ (rng.random(alice.shape) < q).astype(np.uint8)
        row = {"qber": q, "n": args.n,
               "euroqci_optimized": _ours(alice, bob, q, "optimized", args.repeats),
               "euroqci_pow2": _ours(alice, bob, q, "pow2", args.repeats),
               "euroqci_original": _ours(alice, bob, q, "original", args.repeats)}
        if PEER.exists() and args.peer_frames > 0:
            k = args.peer_frames
            for variant in ("original", "option4"):
                row[f"cascade_python_{variant}"] = _peer(alice[:k], bob[:k], variant)
            # ratios of CPU-time throughput: both single-threaded, so this is per core
            row["throughput_ratio_optimized_vs_peer_option4"] = (
                row["euroqci_optimized"]["throughput_bps_per_cpu"]
                / row["cascade_python_option4"]["throughput_bps_per_cpu"])
            row["throughput_ratio_original_vs_peer_original"] = (
                row["euroqci_original"]["throughput_bps_per_cpu"]
                / row["cascade_python_original"]["throughput_bps_per_cpu"])
        rows.append(row)
        if not args.json:
            for name, r in row.items():
                if isinstance(r, dict):
                    rt = r.get("round_trips", r.get("round_trips_per_frame"))
                    print(f"Q={q:.3f} {name:26s} f={r['efficiency']:.4f} FER={r['fer']:.4f} "
                          f"frames={r['frames']:4d} round_trips={rt} "
                          f"{r['throughput_bps'] / 1e6:8.3f} Mbit/s wall "
                          f"{r['throughput_bps_per_cpu'] / 1e6:8.3f} Mbit/s per CPU-second")
                elif name.startswith("throughput_ratio"):
                    print(f"Q={q:.3f} {name}: {r:.0f}x")
    report = {"machine": _machine(), "results": rows}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(json.dumps(report["machine"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
