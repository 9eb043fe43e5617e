"""Benchmark: privacy-amplification throughput (input bits per second, one core) on 10^7-bit
blocks, euroqci's exact modified-Toeplitz FFT hash vs a naive numpy FFT Toeplitz.

The naive peer is the textbook method of the reference measurements: a standard m x n
Toeplitz matrix (seed n + m - 1 bits), complex ``numpy.fft`` of the next power of two
>= n + m - 1, seed transform recomputed every block. Both run interleaved in one process
and the medians are compared. Run (pinned to one core):

    taskset -c 0 python benchmarks/bench_amplification.py [--bits 1e7] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from euroqci.qkd.amplification import random_seed, toeplitz_hash


def naive_numpy_toeplitz(bits: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """y = T x mod 2 with T[i, j] = s[i - j + n - 1], by complex numpy FFT (power of two)."""
    n = bits.size
    size = 1 << int(np.ceil(np.log2(n + m - 1)))
    conv = np.fft.ifft(np.fft.fft(bits.astype(float), size) * np.fft.fft(seed.astype(float), size))
    return (np.rint(conv.real[n - 1 : n - 1 + m]).astype(np.int64) & 1).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bits", type=float, default=1e7)
    ap.add_argument("--compression", type=float, default=0.5, help="output/input (0.5)")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    n = int(a.bits)
    m = int(a.compression * n)
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, n, dtype=np.uint8)
    ours_seed = random_seed(n, rng)
    naive_seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    times: dict[str, list[float]] = {"euroqci": [], "naive_numpy_fft": []}
    toeplitz_hash(bits[:1000], ours_seed[:999], 500)  # warm-up
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        toeplitz_hash(bits, ours_seed, m)
        times["euroqci"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        naive_numpy_toeplitz(bits, naive_seed, m)
        times["naive_numpy_fft"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({
        "bits": n, "output_bits": m, "repeats": a.repeats,
        "median_s": med,
        "throughput_mbps": {k: n / v / 1e6 for k, v in med.items()},
        "ratio_vs_naive": med["naive_numpy_fft"] / med["euroqci"],
        "machine": {"nproc": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "affinity": sorted(os.sched_getaffinity(0))},
    }, indent=1))


if __name__ == "__main__":
    main()
