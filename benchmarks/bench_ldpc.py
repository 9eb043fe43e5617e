"""LDPC reconciliation benchmark: efficiency, frame error rate, throughput per core.

    python benchmarks/bench_ldpc.py [--qber 0.02 0.03 ... 0.08] [--frames 100]
                                    [--repeats 3] [--n 10000] [--efficiency 1.12]
                                    [--blind-steps 3] [--span 0.3] [--json]

Frames of ldpc_frame_length(n) key bits (default n = 10^4 mother codes: 9000 key bits, 10 %
punctured + shortened), Bernoulli errors; --efficiency, --blind-steps and --span are the
blind protocol's start efficiency, number of retries and reserve (ldpc_reconcile_in_memory);
f = leaked / sum(n_key h(e_frame)) including blind retries.
FER counts frames not converged after the retries; "undetected" counts converged frames
that still differ (left to verification). Throughput per wall second and per CPU second
(process time: single-threaded, so per core, and robust to a loaded machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from euroqci.qkd.ldpc import (
    BLIND_SPAN,
    DEFAULT_CODE_LENGTH,
    START_EFFICIENCY,
    adapt_code,
    ldpc_frame_length,
    ldpc_reconcile_in_memory,
)

try:  # same machine description as the Cascade benchmark
    from bench_cascade import _machine
except ImportError:  # pragma: no cover - run from another directory
    from benchmarks.bench_cascade import _machine


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qber", type=float, nargs="+",
                    default=[0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=DEFAULT_CODE_LENGTH, help="mother code length")
    ap.add_argument("--efficiency", type=float, default=START_EFFICIENCY)
    ap.add_argument("--blind-steps", type=int, default=3)
    ap.add_argument("--span", type=float, default=BLIND_SPAN)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    opts = {"n": args.n, "efficiency": args.efficiency, "blind_steps": args.blind_steps,
            "span": args.span}
    rng = np.random.default_rng(7)
    n_key = ldpc_frame_length(args.n)
    w = rng.integers(0, 2, (1, n_key), dtype=np.uint8)
    ldpc_reconcile_in_memory(w, w, 0.05, rng, **opts)  # JIT warm-up and code construction
    rows = []
    for q in args.qber:
        alice = rng.integers(0, 2, (args.frames, n_key), dtype=np.uint8)
        bob = alice ^ (rng.random(alice.shape) < q).astype(np.uint8)
        # build (and cache) the mother code outside the timing
        adapt_code(q, 0, args.n, args.efficiency, args.span)
        times, cpus = [], []
        for r in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            res = ldpc_reconcile_in_memory(alice, bob, q, np.random.default_rng(r), **opts)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        wrong = np.any(res.corrected != alice, axis=1)
        row = {"qber": q, "efficiency": res.efficiency,
               "fer": float(np.mean(~res.converged)),
               "undetected": int(np.sum(wrong & res.converged)), "frames": args.frames,
               "round_trips": res.round_trips,
               "throughput_bps": alice.size / statistics.median(times),
               "throughput_bps_per_cpu": alice.size / statistics.median(cpus)}
        rows.append(row)
        if not args.json:
            print(f"Q={q:.3f} f={row['efficiency']:.3f} FER={row['fer']:.3f} "
                  f"undetected={row['undetected']} round_trips={row['round_trips']} "
                  f"{row['throughput_bps'] / 1e6:.3f} Mbit/s wall "
                  f"{row['throughput_bps_per_cpu'] / 1e6:.3f} Mbit/s per CPU-second")
    report = {"machine": _machine(), "options": opts, "results": rows}
    print(json.dumps(report if args.json else report["machine"], indent=1 if args.json else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
