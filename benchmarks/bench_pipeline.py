"""Benchmark: the whole link engine (sampling, sifting, estimation, Cascade, verification,
privacy amplification, authentication; both ends in one process, two threads) on a 25 km
link at 1 GHz with the optimised decoy source, 4e6-bit blocks. Reports sustained sifted-key
throughput, per-stage throughput and simulated link-seconds per wall-second (compare with
``peer_sequence_link.py``, SeQUeNCe's BB84 + Cascade on the same link). On a shared
machine the wall-clock figures depend on the other load; the sifted bits per CPU-second
(process time of all threads) do much less. Run:

    python benchmarks/bench_pipeline.py [--duration-s 2] [--repeats 3] [--km 25] [--lanes 1]
                                        [--presampled]

``--presampled`` draws every block's detection record before the clock starts and hands
them to the engine (``LinkEngine(detections=...)``), as devices would: it times the
post-processing alone, without the simulated quantum channel.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time

import numpy as np

from euroqci.physics.link import LinkParameters
from euroqci.qkd.events import sample_detections
from euroqci.qkd.pipeline import LinkEngine, block_plan, optimised_config, sample_block
from euroqci.qkd.roles import ProtocolConfig


def _children_cpu_s() -> float:
    """CPU seconds of the finished lane processes (``--lanes`` > 1)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--km", type=float, default=25.0)
    ap.add_argument("--duration-s", type=float, default=2.0)
    ap.add_argument("--block-bits", type=float, default=4e6)
    ap.add_argument("--frame-bits", type=int, default=16384)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lanes", type=int, default=1, help="block lanes (forked processes)")
    ap.add_argument("--presampled", action="store_true",
                    help="draw the detection records before timing (post-processing only)")
    a = ap.parse_args()
    config, rate = optimised_config(LinkParameters.from_fiber(a.km), block_bits=a.block_bits,
                                    protocol=ProtocolConfig(frame_bits=a.frame_bits))
    LinkEngine(config, seed=99).run(0.01)  # JIT warm-up
    sampler_s = []
    for r in range(5):  # the statistical sampler alone: 1e9 pulses
        t0 = time.perf_counter()
        sample_detections(config.model, 10**9, np.random.default_rng(r))
        sampler_s.append(time.perf_counter() - t0)
    runs = []
    load_before = os.getloadavg()
    for r in range(a.repeats):
        detections = None
        if a.presampled:
            drawn = {b: sample_block(config, r, b, n) for b, n in block_plan(config, a.duration_s)}
            detections = lambda block_id, _n, drawn=drawn: drawn.pop(block_id)  # noqa: E731
        cpu0 = time.process_time() + _children_cpu_s()
        d = LinkEngine(config, seed=r, lanes=a.lanes, detections=detections).run(
            a.duration_s).to_dict()
        d["cpu_s"] = time.process_time() + _children_cpu_s() - cpu0
        d["sifted_bits_per_cpu_s"] = d["sifted_bits"] / d["cpu_s"]
        runs.append(d)
        assert d["keys_identical"], "keys differ"
    med = lambda key: statistics.median(d[key] for d in runs)  # noqa: E731
    stages = {s: statistics.median(d["throughput_bps"][s] or 0.0 for d in runs)
              for s in runs[0]["throughput_bps"]}
    print(json.dumps({
        "km": a.km, "duration_s": a.duration_s, "repeats": a.repeats, "lanes": a.lanes,
        "presampled": a.presampled,
        "block_pulses": config.block_pulses,
        "median_sampler_s_per_1e9_pulses": statistics.median(sampler_s),
        "median_sifted_bits": med("sifted_bits"), "median_secret_bits": med("secret_bits"),
        "median_wall_s": med("wall_s"), "median_cpu_s": med("cpu_s"),
        "median_sifted_bits_per_cpu_s": med("sifted_bits_per_cpu_s"),
        "median_throughput_bps": stages,
        "median_link_seconds_per_wall_second": med("link_seconds_per_wall_second"),
        "reconciliation_efficiency": [d["reconciliation"]["efficiency"] for d in runs],
        "predicted_secret_rate_bps": float(rate.rate_bps),
        "machine": {"nproc": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
    }, indent=1))


if __name__ == "__main__":
    main()
