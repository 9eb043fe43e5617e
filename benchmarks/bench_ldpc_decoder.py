"""LDPC decoder benchmark: the BP kernels side by side on the same frames.

    python benchmarks/bench_ldpc_decoder.py [--qber 0.02 0.03 ... 0.08] [--frames 200]
                                            [--n 10000] [--repeats 3] [--skip-reference]
                                            [--json]

For each QBER, the same frames (Bernoulli errors, one seed) go through
``ldpc_reconcile_in_memory`` with each kernel: ``fixed`` (``_ldpc_fixed.decode_fixed``,
the default: int16 box-plus, 32 frames per SIMD vector), ``float``
(``_ldpc_kernels.decode_layered_bp``: float32 tanh-domain arithmetic, 16 frames per
vector) and ``reference`` (``reference_decode_layered_bp`` below: the one-frame,
table-lookup decoder the SIMD kernels replaced). Reported per kernel: efficiency f, frame
error rate (not converged + converged but wrong), Mbit/s of key per CPU-second
(``time.process_time``: single-threaded, so per core, robust to a loaded machine), and
ns per edge-iteration-frame of the kernel alone on the first decoding attempt of the
same frames. Also counts the AVX-512 (zmm) / AVX (ymm) instructions in the compiled
float32 check-node sweep.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time

import numba
import numpy as np

from euroqci.qkd import _ldpc_fixed as fixed
from euroqci.qkd import _ldpc_kernels as kern
from euroqci.qkd.ldpc import (
    DEFAULT_CODE_LENGTH,
    adapt_code,
    ldpc_frame_length,
    ldpc_reconcile_in_memory,
)

try:  # same machine description as the Cascade benchmark
    from bench_cascade import _machine
except ImportError:  # pragma: no cover - run from another directory
    from benchmarks.bench_cascade import _machine

FLOAT_KERNEL = kern.decode_layered_bp
FIXED_KERNEL = fixed.decode_fixed


# not cached: this module is imported both as a script and as benchmarks.bench_ldpc_decoder
# (by the tests), and numba's cache of one cannot be loaded by the other (it re-imports the
# module by the name it was compiled under: "No module named 'benchmarks'")
@numba.njit
def reference_decode_layered_bp(llr, syndrome, check_ptr, check_vars, max_iter, table, patience):
    """The decoder before the SIMD lanes (commit 5fc412f), verbatim: one frame at a time,
    layered sum-product with phi(x) = -ln tanh(x/2) read from ``table`` (bins of 1/64)."""
    n_frames, n = llr.shape
    m = check_ptr.shape[0] - 1
    n_edges = check_vars.shape[0]
    top = table.shape[0] - 1
    step = np.float32(64.0)
    max_deg = 0
    for c in range(m):
        max_deg = max(max_deg, check_ptr[c + 1] - check_ptr[c])
    bits = np.zeros((n_frames, n), dtype=np.uint8)
    ok = np.zeros(n_frames, dtype=np.bool_)
    iters = np.zeros(n_frames, dtype=np.int64)
    msg = np.zeros(n_edges, dtype=np.float32)
    post = np.zeros(n, dtype=np.float32)
    tmp = np.zeros(max_deg, dtype=np.float32)
    ph = np.zeros(max_deg, dtype=np.float32)
    for f in range(n_frames):
        msg[:] = 0.0
        for v in range(n):
            post[v] = llr[f, v]
        best = m + 1
        since = 0
        for it in range(max_iter):
            unsat = 0
            for c in range(m):
                e0 = check_ptr[c]
                e1 = check_ptr[c + 1]
                total = np.float32(0.0)
                neg = syndrome[f, c]
                hard = syndrome[f, c]
                for e in range(e0, e1):
                    v = check_vars[e]
                    if post[v] < 0:
                        hard ^= 1
                    q = post[v] - msg[e]
                    tmp[e - e0] = q
                    if q < 0:
                        neg ^= 1
                    i = min(int(abs(q) * step), top)
                    ph[e - e0] = table[i]
                    total += table[i]
                unsat += hard
                for e in range(e0, e1):
                    q = tmp[e - e0]
                    x = total - ph[e - e0]
                    i = min(int(max(x, np.float32(0.0)) * step), top)
                    mag = table[i]
                    s = neg ^ (1 if q < 0 else 0)
                    r = -mag if s else mag
                    msg[e] = r
                    post[check_vars[e]] = q + r
            iters[f] = it + 1
            if unsat == 0 and it > 0:
                break
            if unsat < best:
                best = unsat
                since = 0
            else:
                since += 1
                if since >= patience:
                    break
        for v in range(n):
            bits[f, v] = 1 if post[v] < 0 else 0
        good = True
        for c in range(m):
            s = syndrome[f, c]
            for e in range(check_ptr[c], check_ptr[c + 1]):
                s ^= bits[f, check_vars[e]]
            if s:
                good = False
                break
        ok[f] = good
    return bits, ok, iters


def sweep_vector_instructions() -> dict[str, int]:
    """zmm / ymm / scalar-float instruction counts in the compiled check-node sweep."""
    fresh = numba.njit(cache=False)(kern._sweep.py_func)
    f32, i64 = numba.float32[::1], numba.int64[::1]
    fresh.compile((f32, f32, f32, f32, i64, i64, numba.float64, numba.float32, f32, f32))
    asm = "\n".join(fresh.inspect_asm().values())
    lines = [ln for ln in asm.splitlines() if ln.startswith("\tv")]
    return {"zmm": sum("%zmm" in ln for ln in lines), "ymm": sum("%ymm" in ln for ln in lines),
            "scalar_ss": sum(bool(re.match(r"\tv\w+ss\s", ln)) for ln in lines)}


def _run(kernel, alice, bob, qber, n, repeats):
    """(result, median CPU-s, first-attempt kernel (frames, CPU-s, edge-iterations)) with
    ``kernel`` = (ldpc_decode's decoder, module, function name, function)."""
    decoder, module, name, function = kernel
    calls = []

    def timed(llr, syndrome, check_ptr, check_vars, *rest):
        c0 = time.process_time()
        out = function(llr, syndrome, check_ptr, check_vars, *rest)
        calls.append((llr.shape[0], time.process_time() - c0,
                      int(out[2].sum()) * check_vars.shape[0]))
        return out

    cpus = []
    original = getattr(module, name)
    setattr(module, name, timed)
    try:
        for r in range(repeats):
            calls.clear()
            c0 = time.process_time()
            res = ldpc_reconcile_in_memory(alice, bob, qber, np.random.default_rng(r), n=n,
                                           decoder=decoder)
            cpus.append(time.process_time() - c0)
    finally:
        setattr(module, name, original)
    return res, statistics.median(cpus), calls[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qber", type=float, nargs="+",
                    default=[0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--n", type=int, default=DEFAULT_CODE_LENGTH, help="mother code length")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-reference", action="store_true", help="time the new kernel only")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kernels = {"fixed": ("fixed", fixed, "decode_fixed", FIXED_KERNEL),
               "float": ("float", kern, "decode_layered_bp", FLOAT_KERNEL)}
    if not args.skip_reference:
        kernels["reference"] = ("float", kern, "decode_layered_bp", reference_decode_layered_bp)
    rng = np.random.default_rng(7)
    n_key = ldpc_frame_length(args.n)
    w = rng.integers(0, 2, (1, n_key), dtype=np.uint8)
    for decoder in kernels.values():  # JIT warm-up
        _run(decoder, w, w, 0.05, args.n, 1)
    rows = []
    for q in args.qber:
        alice = rng.integers(0, 2, (args.frames, n_key), dtype=np.uint8)
        bob = alice ^ (rng.random(alice.shape) < q).astype(np.uint8)
        adapt_code(q, 0, args.n)  # build (and cache) the mother code outside the timing
        for name, decoder in kernels.items():
            res, cpu, (frames, kcpu, edge_iters) = _run(decoder, alice, bob, q, args.n,
                                                         args.repeats)
            wrong = np.any(res.corrected != alice, axis=1)
            row = {"qber": q, "kernel": name, "frames": args.frames,
                   "efficiency": res.efficiency, "fer": float(np.mean(~res.converged | wrong)),
                   "not_converged": int(np.sum(~res.converged)),
                   "undetected": int(np.sum(wrong & res.converged)),
                   "throughput_bps_per_cpu": alice.size / cpu,
                   "kernel_ns_per_edge_iter_frame": kcpu / edge_iters * 1e9,
                   "kernel_first_attempt_frames": frames}
            rows.append(row)
            print(f"Q={q:.3f} {name:9s} f={row['efficiency']:.4f} FER={row['fer']:.4f} "
                  f"({row['not_converged']} lost, {row['undetected']} wrong of "
                  f"{args.frames}) {row['throughput_bps_per_cpu'] / 1e6:.2f} Mbit/s per "
                  f"CPU-s, kernel {row['kernel_ns_per_edge_iter_frame']:.3f} ns/edge-iter-"
                  f"frame", file=sys.stderr if args.json else sys.stdout, flush=True)
    report = {"machine": _machine(), "n": args.n, "sweep_instructions":
              sweep_vector_instructions(), "results": rows}
    print(json.dumps(report if args.json else {k: report[k] for k in
                                                ("machine", "sweep_instructions")},
                     indent=1 if args.json else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
