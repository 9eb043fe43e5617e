"""Benchmark: ETSI 014 enc_keys at KME A, then dec_keys at KME B, over mTLS, direct link.

Usage::

    python benchmarks/bench_kms_direct.py [--seconds 10] [--concurrency 12] [--repeats 3]

Runs, on 127.0.0.1, two KMEs as separate processes (uvicorn + uvloop, SQLite stores with
WAL and synchronous=FULL, link A-B pre-filled with key) and a load generator process:
``--concurrency`` workers, each holding one keep-alive mTLS connection to A (as SAE
alice) and one to B (as bob), each doing ``GET /api/v1/keys/bob/enc_keys`` (one 256-bit
key) then ``GET /api/v1/keys/alice/dec_keys?key_ID=...`` and checking both keys are equal.
A key pair's latency is the time of both calls.

The load generator is a minimal HTTP/1.1 client on asyncio streams (hand-written so that
the client spends little of the machine's 2 cores). wrk (Debian package ``wrk`` 4.1) was
considered: it has no way to present a client certificate (no option, none in its Lua
API), so it cannot talk to a KME, which requires one; and the key pair is a chained pair
of calls (the ``key_ID`` of the first answer goes into the second), which needs a script
per connection anyway. The generator's own CPU per pair is reported
(``generator_cpu_ms_per_pair``); against the echo server it reaches tens of thousands of
pairs/s, so it is not what limits the KME figures.
Baseline: the same generator against a plain asyncio mTLS echo server (one process per
side, same certificates), doing two request/response round trips per "pair"; the ratio
KMS pairs/s / echo pairs/s is the figure to compare across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHUNKS = 150_000  # 32-byte chunks of the A-B link (4.8 MB): enough for the runs here


# ----------------------------------------------------------------- servers -----------
def serve_kme(pki: Path, kme: str, ports: dict[str, int], data_dir: Path) -> None:
    from euroqci.kms.app import serve
    from euroqci.kms.settings import Settings

    settings = Settings(
        kme_id=kme, port=ports[kme], data_dir=data_dir,
        tls_cert_file=pki / f"kme-{kme}.pem", tls_key_file=pki / f"kme-{kme}-key.pem",
        tls_ca_file=pki / "ca.pem", kmes={k: f"https://127.0.0.1:{p}" for k, p in ports.items()},
        links=[("A", "B")], saes={"alice": "A", "bob": "B"}, max_key_count=CHUNKS,
    )

    async def fill(ctx) -> None:
        rng = random.Random(2026)  # both ends: the same blocks (a stand-in for a QKD feed)
        for start in range(0, CHUNKS, 20_000):
            blocks = [(f"blk-{i}", rng.randbytes(32)) for i in range(start, start + 20_000)]
            await ctx.store.add_link_keys(("A", "B"), blocks)
        (data_dir / f"ready-{kme}").touch()

    serve(settings, services=[fill])


def serve_echo(pki: Path, port: int) -> None:
    """Plain mTLS echo over HTTP/1.1 framing: answers each request with a fixed body."""
    from euroqci.kms.tls import server_context

    body = json.dumps({"keys": [{"key_ID": "0" * 36, "key": "A" * 44}]}).encode()
    reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        len(body), body)

    async def handle(reader, writer):
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main():
        ctx = server_context(pki / "kme-A.pem", pki / "kme-A-key.pem", pki / "ca.pem")
        server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=ctx)
        async with server:
            await server.serve_forever()

    _uvloop_run(main())


def _uvloop_run(coro):
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


# ----------------------------------------------------------------- load generator ----
class Conn:
    """One keep-alive HTTP/1.1 connection over mTLS."""

    def __init__(self, reader, writer, host: str):
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, port: int, ctx: ssl.SSLContext) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        return cls(reader, writer, f"127.0.0.1:{port}")

    async def get(self, path: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nhost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)


async def load(pki: Path, a_port: int, b_port: int, seconds: float, concurrency: int,
               echo: bool) -> dict:
    from euroqci.kms.tls import client_context

    ca = pki / "ca.pem"
    alice = client_context(ca, pki / "sae-alice.pem", pki / "sae-alice-key.pem")
    bob = client_context(ca, pki / "sae-bob.pem", pki / "sae-bob-key.pem")
    latencies: list[float] = []
    errors = 0
    stop_at = 0.0

    async def worker():
        nonlocal errors
        ca_conn = await Conn.open(a_port, alice)
        cb_conn = await Conn.open(b_port, bob)
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            status, body = await ca_conn.get("/api/v1/keys/bob/enc_keys")
            if echo:
                status2, body2 = await cb_conn.get("/api/v1/keys/alice/dec_keys?key_ID=x")
                ok = status == status2 == 200
            else:
                key = json.loads(body)["keys"][0] if status == 200 else None
                if key is None:
                    errors += 1
                    continue
                status2, body2 = await cb_conn.get(
                    f"/api/v1/keys/alice/dec_keys?key_ID={key['key_ID']}")
                ok = status2 == 200 and json.loads(body2)["keys"][0] == key
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1
        ca_conn.writer.close()
        cb_conn.writer.close()

    warm = time.perf_counter()
    stop_at = warm + 1.0  # warm-up: connections, caches
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.clear()
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    lat = sorted(latencies)
    return {
        "pairs_per_s": len(lat) / elapsed,
        "p50_ms": 1e3 * lat[len(lat) // 2] if lat else float("nan"),
        "p99_ms": 1e3 * lat[int(len(lat) * 0.99)] if lat else float("nan"),
        "pairs": len(lat),
        "errors": errors,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--serve", nargs=4, metavar=("PKI", "KME", "PORTS", "DIR"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--echo", nargs=2, metavar=("PKI", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        pki, kme, ports, data = args.serve
        serve_kme(Path(pki), kme, json.loads(ports), Path(data))
        return
    if args.echo:
        serve_echo(Path(args.echo[0]), int(args.echo[1]))
        return

    from euroqci.kms.pki import init_pki

    tmp = Path(tempfile.mkdtemp(prefix="bench-kms-"))
    pki = tmp / "pki"
    init_pki(pki, ["A", "B"], [("alice", "A"), ("bob", "B")])
    ports = {"A": _free_port(), "B": _free_port()}
    echo_ports = (_free_port(), _free_port())
    procs = [_spawn("--serve", str(pki), k, json.dumps(ports), str(tmp)) for k in ports]
    procs += [_spawn("--echo", str(pki), str(p)) for p in echo_ports]
    try:
        deadline = time.monotonic() + 120
        while not all((tmp / f"ready-{k}").exists() for k in ports):
            if time.monotonic() > deadline:
                raise SystemExit("KMEs did not start")
            time.sleep(0.2)
        results = {"kms": [], "echo": []}
        kme_pids, echo_pids = [p.pid for p in procs[:2]], [p.pid for p in procs[2:]]
        for _ in range(args.repeats):
            cpu, own = _cpu_s(echo_pids), time.process_time()
            run = _uvloop_run(load(pki, *echo_ports, args.seconds, args.concurrency, echo=True))
            run["server_cpu_ms_per_pair"] = 1e3 * (_cpu_s(echo_pids) - cpu) / run["pairs"]
            run["generator_cpu_ms_per_pair"] = 1e3 * (time.process_time() - own) / run["pairs"]
            results["echo"].append(run)
            cpu = [_cpu_s([pid]) for pid in kme_pids]
            own = time.process_time()
            run = _uvloop_run(load(pki, ports["A"], ports["B"], args.seconds, args.concurrency,
                                   echo=False))
            split = [1e3 * (_cpu_s([pid]) - c) / run["pairs"]
                     for pid, c in zip(kme_pids, cpu, strict=True)]
            run["server_cpu_ms_per_pair"] = sum(split)
            run["cpu_ms_per_pair_A"], run["cpu_ms_per_pair_B"] = split
            run["generator_cpu_ms_per_pair"] = 1e3 * (time.process_time() - own) / run["pairs"]
            results["kms"].append(run)
        summary = {
            kind: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            for kind, runs in results.items()
        }
        summary["ratio_kms_over_echo"] = (summary["kms"]["pairs_per_s"]
                                          / summary["echo"]["pairs_per_s"])
        summary["settings"] = {"seconds": args.seconds, "concurrency": args.concurrency,
                               "repeats": args.repeats, "nproc": os.cpu_count(),
                               "loadavg_start": os.getloadavg()}
        print(json.dumps({"runs": results, "median": summary}, indent=1))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
