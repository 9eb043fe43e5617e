"""Benchmark: the two-process link engine (``run_role``) across a classical channel with a
round-trip time (RTT): Cascade's hundreds of round trips per block against LDPC's one-way
syndromes. Alice and Bob run in separate processes, connected through a third process that
delays every byte by half the RTT each way (a delay line, like ``tc netem delay``; loopback
sockets without TLS, so only the latency differs from ``euroqci link alice|bob``). The
default link has 3.5 % misalignment so that both methods apply. Run:

    python benchmarks/bench_link_latency.py [--rtt-ms 0 1 4] [--methods cascade ldpc auto]
                                            [--duration-s 1.1] [--km 25] [--misalignment 0.035]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import selectors
import socket
import time
from dataclasses import replace

from euroqci.physics.detectors import Detector
from euroqci.physics.link import LinkParameters
from euroqci.qkd.channel import SocketChannel
from euroqci.qkd.pipeline import optimised_config, run_role
from euroqci.qkd.roles import ProtocolConfig


def _delay_line(a: socket.socket, b: socket.socket, delay_s: float) -> None:
    """Forward bytes a <-> b, each chunk released ``delay_s`` after it arrived."""
    sel = selectors.DefaultSelector()
    peer = {a: b, b: a}
    queued: dict[socket.socket, collections.deque] = {a: collections.deque(),
                                                       b: collections.deque()}
    for s in (a, b):
        sel.register(s, selectors.EVENT_READ)
    open_ends = 2
    while open_ends or any(queued.values()):
        now = time.perf_counter()
        for dst, q in queued.items():
            while q and q[0][0] <= now:
                dst.sendall(q.popleft()[1])
        due = [q[0][0] for q in queued.values() if q]
        timeout = max(0.0, min(due) - now) if due else None
        if not open_ends:
            time.sleep(timeout or 0)
            continue
        for key, _ in sel.select(timeout):
            data = key.fileobj.recv(1 << 20)
            if not data:
                sel.unregister(key.fileobj)
                open_ends -= 1
                continue
            queued[peer[key.fileobj]].append((time.perf_counter() + delay_s, data))
    for s in (a, b):
        s.shutdown(socket.SHUT_WR)


def run_once(config, rtt_s: float, duration_s: float, seed: int) -> dict:
    alice_sock, alice_relay = socket.socketpair()
    bob_sock, bob_relay = socket.socketpair()
    children = []
    for role in ("alice", "relay"):
        pid = os.fork()
        if pid == 0:
            try:
                if role == "alice":
                    for s in (bob_sock, bob_relay, alice_relay):
                        s.close()
                    run_role("alice", config, SocketChannel(alice_sock), seed, duration_s)
                else:
                    alice_sock.close()
                    bob_sock.close()
                    _delay_line(alice_relay, bob_relay, rtt_s / 2)
            finally:
                os._exit(0)
        children.append(pid)
    for s in (alice_sock, alice_relay, bob_relay):
        s.close()
    t0 = time.perf_counter()
    report = run_role("bob", config, SocketChannel(bob_sock), seed, duration_s).to_dict()
    wall = time.perf_counter() - t0
    for pid in children:
        os.waitpid(pid, 0)
    assert report["keys_identical"], "keys differ"
    return {"wall_s": wall, "sifted_bits": report["sifted_bits"], "qber": report["qber"],
            "sifted_bps_wall": report["sifted_bits"] / wall,
            "secret_bits": report["secret_bits"],
            "round_trips": report["reconciliation"]["round_trips"],
            "efficiency": report["reconciliation"]["efficiency"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rtt-ms", type=float, nargs="+", default=[0.0, 1.0, 4.0])
    ap.add_argument("--methods", nargs="+", default=["cascade", "ldpc", "auto"])
    ap.add_argument("--duration-s", type=float, default=1.1)
    ap.add_argument("--km", type=float, default=25.0)
    ap.add_argument("--misalignment", type=float, default=0.035)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    link = LinkParameters.from_fiber(a.km, detector=Detector(misalignment=a.misalignment))
    base, _ = optimised_config(link, block_bits=4e6, protocol=ProtocolConfig())
    rows = []
    for method in a.methods:
        cfg = replace(base, protocol=replace(base.protocol, reconciliation=method))
        # warm-up of one block: JIT and the LDPC mother code (built or read from its cache)
        # in this process, which the children fork from
        run_once(cfg, 0.0, cfg.block_pulses / cfg.model.rep_rate_hz, 99)
        for rtt in a.rtt_ms:
            row = {"method": method, "rtt_ms": rtt} | run_once(cfg, rtt / 1e3, a.duration_s,
                                                                 a.seed)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({"machine": {"nproc": os.cpu_count(), "loadavg": os.getloadavg()}}))


if __name__ == "__main__":
    main()
