"""LDPC reconciliation benchmark: efficiency, frame error rate, throughput per core.

    python benchmarks/bench_ldpc.py [--qber 0.02 0.03 ... 0.08] [--frames 200]
                                    [--chunk 20] [--n N] [--efficiency E]
                                    [--blind-steps 3] [--span S] [--seed 7]
                                    [--decoder fixed|float] [--json]

Frames of ldpc_frame_length(n) key bits (mother codes of ``--n`` symbols, by default
those the protocol uses at each QBER: ``code_length(q)``, 10^6 below 3 % and 10^5 from
there; 10 % punctured + shortened), Bernoulli errors at the given QBER (also used as the estimate),
reconciled ``--chunk`` frames per call of ldpc_reconcile_in_memory (fresh frames each
chunk, so long runs need little memory); --efficiency, --blind-steps and --span are the
blind protocol's start efficiency, number of retries and reserve; --decoder the BP
kernel (ldpc_decode's: "fixed", int16 box-plus, or "float", float32 tanh domain).
f = sum(leaked) / sum(n_key h(e_frame)) over all frames, blind retries included.
"lost" counts frames not converged after the retries, "undetected" converged frames that
still differ (left to verification); FER = (lost + undetected) / frames. With 0 failures
in N frames, FER < 3/N at 95 % confidence. Throughput per wall second and per CPU second
(process time: single-threaded, so per core, and robust to a loaded machine), over all
chunks. Each QBER's row is printed as soon as it is done.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from euroqci.qkd.ldpc import (
    BLIND_SPAN,
    DECODERS,
    adapt_code,
    code_length,
    ldpc_frame_length,
    ldpc_reconcile_in_memory,
    start_efficiency,
)
from euroqci.qkd.reconciliation import binary_entropy

try:  # same machine description as the Cascade benchmark
    from bench_cascade import _machine
except ImportError:  # pragma: no cover - run from another directory
    from benchmarks.bench_cascade import _machine


def run_point(q: float, args: argparse.Namespace, opts: dict) -> dict:
    """Reconcile ``args.frames`` frames at QBER ``q`` in chunks; the row of the table."""
    n = args.n or code_length(q)
    n_key = ldpc_frame_length(n)
    rng = np.random.default_rng([args.seed, int(round(q * 1e6))])
    leaked = entropy = 0.0
    lost = undetected = frames = trips = 0
    wall = cpu = 0.0
    while frames < args.frames:
        k = min(args.chunk, args.frames - frames)
        alice = rng.integers(0, 2, (k, n_key), dtype=np.uint8)
        bob = alice ^ (rng.random(alice.shape) < q).astype(np.uint8)
        t0, c0 = time.perf_counter(), time.process_time()
        res = ldpc_reconcile_in_memory(alice, bob, q, rng, n=n, **opts)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        wrong = np.any(res.corrected != alice, axis=1)
        lost += int(np.sum(~res.converged))
        undetected += int(np.sum(wrong & res.converged))
        leaked += res.leaked_bits
        entropy += float(np.sum(n_key * binary_entropy(res.errors_corrected_per_frame / n_key)))
        trips = max(trips, res.round_trips)
        frames += k
    bits = frames * n_key
    return {"qber": q, "n": n, "start_efficiency": opts["efficiency"] or start_efficiency(n),
            "span": opts["span"],
            "efficiency": leaked / entropy, "frames": frames, "lost": lost,
            "undetected": undetected, "fer": (lost + undetected) / frames,
            "max_messages": trips, "throughput_bps": bits / wall,
            "throughput_bps_per_cpu": bits / cpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qber", type=float, nargs="+",
                    default=[0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--chunk", type=int, default=20)
    ap.add_argument("--n", type=int, default=0,
                    help="mother code length (default: the protocol's, code_length(QBER))")
    ap.add_argument("--efficiency", type=float, default=None,
                    help="start f of the blind protocol (default: the protocol's, "
                         "start_efficiency(n))")
    ap.add_argument("--blind-steps", type=int, default=3)
    ap.add_argument("--span", type=float, default=BLIND_SPAN)
    ap.add_argument("--decoder", choices=DECODERS, default="fixed")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    opts = {"efficiency": args.efficiency, "blind_steps": args.blind_steps, "span": args.span,
            "decoder": args.decoder}
    warm_rng = np.random.default_rng(0)
    for q in {args.n or code_length(q): q for q in args.qber}.values():
        # JIT warm-up (loading the compiled kernels), untimed, on each code length used: a
        # frame with twice the errors, so that the retries and the rescue run too
        n = args.n or code_length(q)
        w = np.zeros((1, ldpc_frame_length(n)), dtype=np.uint8)
        ldpc_reconcile_in_memory(w, w ^ (warm_rng.random(w.shape) < 2 * q), q, warm_rng,
                                 n=n, **opts)
    rows = []
    for q in args.qber:
        adapt_code(q, 0, args.n or None, args.efficiency, args.span)  # build it untimed
        row = run_point(q, args, opts)
        rows.append(row)
        if not args.json:
            print(f"Q={q:.3f} {args.decoder} n={row['n']} start={row['start_efficiency']:.3f} "
                  f"span={row['span']:.2f} "
                  f"f={row['efficiency']:.4f} lost={row['lost']} "
                  f"undetected={row['undetected']} of {row['frames']} frames "
                  f"messages<={row['max_messages']} "
                  f"{row['throughput_bps'] / 1e6:.3f} Mbit/s wall "
                  f"{row['throughput_bps_per_cpu'] / 1e6:.3f} Mbit/s per CPU-second",
                  flush=True)
    report = {"machine": _machine(), "options": opts, "results": rows}
    print(json.dumps(report if args.json else report["machine"], indent=1 if args.json else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
