"""Benchmark: privacy-amplification throughput (input bits per second, one core) on 10^7-bit
blocks: euroqci's exact modified-Toeplitz hash (four-step complex FFTs of n/2 points), alone
and with the seed transform shared by the two ends of a link, against a one-real-transform
scipy version (euroqci's previous method) and a naive numpy FFT Toeplitz.

The naive peer is the textbook method of the reference measurements: a standard m x n
Toeplitz matrix (seed n + m - 1 bits), complex ``numpy.fft`` of the next power of two
>= n + m - 1, seed transform recomputed every block. All run interleaved in one process
and the medians are compared (every output is checked equal to ours). Run (pinned to one
core):

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
import scipy.fft

from euroqci.qkd.amplification import SeedSpectra, random_seed, toeplitz_hash


def naive_numpy_toeplitz(bits: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """y = T x mod 2 with T[i, j] = s[i - j + n - 1], by complex numpy FFT (power of two)."""
    n = bits.size
    size = 1 << int(np.ceil(np.log2(n + m - 1)))
    conv = np.fft.ifft(np.fft.fft(bits.astype(float), size) * np.fft.fft(seed.astype(float), size))
    return (np.rint(conv.real[n - 1 : n - 1 + m]).astype(np.int64) & 1).astype(np.uint8)


def scipy_rfft_toeplitz(bits: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """The same modified Toeplitz hash by three real pocketfft transforms of length n - 1."""
    cols = bits.size - m
    length = scipy.fft.next_fast_len(cols + m - 1, real=True)
    spectrum = scipy.fft.rfft(seed[: cols + m - 1].astype(np.float64), length)
    spectrum *= scipy.fft.rfft(bits[:cols].astype(np.float64), length)
    conv = scipy.fft.irfft(spectrum, length, overwrite_x=True)[cols - 1 : cols - 1 + m]
    return (np.rint(conv).astype(np.int64) & 1).astype(np.uint8) ^ bits[cols:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bits", type=float, default=1e7)
    ap.add_argument("--compression", type=float, default=0.5, help="output/input (0.5)")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    n = int(a.bits)
    m = int(a.compression * n)
    rng = np.random.default_rng(1)
    alice = rng.integers(0, 2, n, dtype=np.uint8)
    bob = alice.copy()  # the two ends' (identical) reconciled keys, in separate arrays
    ours_seed = random_seed(n, rng)
    naive_seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
    names = ("euroqci", "euroqci_two_ends_shared_seed_transform", "scipy_rfft_previous",
             "naive_numpy_fft")
    times: dict[str, list[float]] = {k: [] for k in names}
    toeplitz_hash(alice[:1000], ours_seed[:999], 500)  # JIT warm-up
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        ours = toeplitz_hash(alice, ours_seed, m)
        times["euroqci"].append(time.perf_counter() - t0)
        spectra = SeedSpectra(users=2)
        t0 = time.perf_counter()
        pair = (toeplitz_hash(alice, ours_seed, m, spectra=spectra),
                toeplitz_hash(bob, ours_seed, m, spectra=spectra))
        times["euroqci_two_ends_shared_seed_transform"].append((time.perf_counter() - t0) / 2)
        t0 = time.perf_counter()
        previous = scipy_rfft_toeplitz(alice, ours_seed, m)
        times["scipy_rfft_previous"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        naive_numpy_toeplitz(alice, naive_seed, m)
        times["naive_numpy_fft"].append(time.perf_counter() - t0)
        assert all(np.array_equal(ours, other) for other in (*pair, previous))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({
        "bits": n, "output_bits": m, "repeats": a.repeats,
        "median_s_per_hash": med,
        "throughput_mbps": {k: n / v / 1e6 for k, v in med.items()},
        "ratio_vs_naive": {k: med["naive_numpy_fft"] / v for k, v in med.items()},
        "machine": {"nproc": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "affinity": sorted(os.sched_getaffinity(0)), "loadavg": os.getloadavg()},
    }, indent=1))


if __name__ == "__main__":
    main()
