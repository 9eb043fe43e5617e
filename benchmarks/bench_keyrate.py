"""Benchmark: optimised decoy-BB84 key rates for many links, and the TNO peer side by side.

Run: ``python benchmarks/bench_keyrate.py [--links 10000] [--repeats 5] [--peer-cases 40]``.
Pin to one core with ``taskset -c 0`` (numpy element-wise work is single-threaded anyway).
Prints medians of the repeats; results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np

from euroqci.physics.bb84 import secret_key_rate
from euroqci.physics.detectors import Detector
from euroqci.physics.link import LinkParameters


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_many_links(n_links: int, repeats: int) -> None:
    rng = np.random.default_rng(1)
    loss = rng.uniform(0.0, 50.0, n_links)  # 0-250 km of 0.2 dB/km fiber
    link = LinkParameters(loss_db=loss)
    cases = [
        ("asymptotic, decoys=infinite", {"decoys": "infinite"}),
        ("asymptotic, decoys=vacuum+weak", {"decoys": "vacuum+weak"}),
        ("asymptotic, decoys=2", {"decoys": "2"}),
        ("asymptotic, decoys=1", {"decoys": "1"}),
        ("finite key n_X=1e8, decoys=2 (Lim 2014)", {"decoys": "2", "block_size": 1e8}),
        ("finite key n_X=1e8, decoys=1 (Rusca 2018)", {"decoys": "1", "block_size": 1e8}),
    ]
    print(f"## {n_links} link configurations (loss 0-50 dB), median of {repeats} runs")
    for name, kwargs in cases:
        t = median_time(lambda kw=kwargs: secret_key_rate(link, **kw), repeats)
        print(f"- {name}: {t:.3f} s ({1e6 * t / n_links:.1f} us per link)")


def bench_peer(n_cases: int, repeats: int) -> None:
    from tno.quantum.communication.qkd_key_rate.quantum import standard_detector
    from tno.quantum.communication.qkd_key_rate.quantum.bb84 import (
        BB84FullyAsymptoticKeyRateEstimate,
    )

    # Conventions matched (see tests/physics/test_bb84_peers_and_properties.py): infinite
    # decoys, f = 1, q = 1, vacuum counted, e_d = sin^2(polarization_drift), Y0 two detectors.
    theta = np.arcsin(np.sqrt(0.01))
    peer = BB84FullyAsymptoticKeyRateEstimate(
        detector=standard_detector.customise(
            dark_count_rate=1e-7, polarization_drift=theta, efficiency_party=0.1
        )
    )
    loss = np.linspace(0.0, 40.0, n_cases)
    link = LinkParameters(
        loss_db=loss,
        detector=Detector(efficiency=0.1, dark_count_prob=1e-7, misalignment=0.01),
        ec_efficiency=1.0,
    )

    def ours():
        return secret_key_rate(link, decoys="infinite", count_vacuum=True)

    def theirs():
        out = []
        for a in loss:
            try:
                out.append(peer.optimize_rate(attenuation=float(a)))
            except ValueError:  # the peer raises when its optimum is negative
                out.append(({"mu": np.array([np.nan])}, 0.0))
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_ours = median_time(ours, repeats)
        t_theirs = median_time(theirs, max(1, repeats // 2))
        mine, peer_res = ours(), theirs()
        peer_rate = np.array([r[1] for r in peer_res])
        same_mu = np.array(
            [
                peer.compute_rate(mu=m, attenuation=float(a))
                for m, a in zip(mine.parameters["mu1"], loss, strict=True)
            ]
        )
    pos = peer_rate > 0
    rel_opt = np.abs(mine.rate_per_pulse[pos] / peer_rate[pos] - 1)
    rel_same = np.abs(mine.rate_per_pulse / same_mu - 1)
    worst = int(np.argmax(rel_opt))
    print(f"## TNO qkd-key-rate peer, asymptotic infinite-decoy BB84, {n_cases} cases 0-40 dB")
    print(
        f"- euroqci (vectorised): {t_ours * 1e3:.1f} ms; TNO (scipy per case): "
        f"{t_theirs * 1e3:.0f} ms; speed ratio {t_theirs / t_ours:.0f}x"
    )
    print(
        f"- largest relative difference of the optimised rates: {rel_opt.max():.2e} "
        f"(at {loss[pos][worst]:.1f} dB; euroqci higher: "
        f"{bool(mine.rate_per_pulse[pos][worst] >= peer_rate[pos][worst])})"
    )
    print(f"- largest relative difference at equal mu (model only): {rel_same.max():.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peer-cases", type=int, default=40)
    args = parser.parse_args()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    print(
        f"machine: {cpu}, nproc={os.cpu_count()}, affinity={len(os.sched_getaffinity(0))} "
        f"core(s), numpy {np.__version__}"
    )
    bench_many_links(args.links, args.repeats)
    bench_peer(args.peer_cases, args.repeats)


if __name__ == "__main__":
    main()
