"""``euroqci up NETWORK.yaml [--run-dir DIR]``: run every KME of a network on 127.0.0.1."""

from __future__ import annotations

import argparse

HELP = "start every KME of a network description (ETSI 014 over mTLS, relay, simulated feeds)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", help="network description (YAML, see docs/kms-network.md)")
    parser.add_argument("--run-dir", default="euroqci-run",
                        help="directory for the PKI, key stores and network-state.json "
                             "(default: %(default)s)")
    parser.add_argument("--max-rate-bps", type=float, default=200_000.0,
                        help="cap on each simulated link's key rate (default: %(default)g)")
    parser.add_argument("--initial-key-bits", type=int, default=1 << 20,
                        help="key each link holds at start (default: %(default)d)")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    import sys

    from euroqci.kms.launcher import STATE_FILE, FeedOptions, NetworkRunner
    from euroqci.kms.netdesc import load_network

    desc = load_network(args.network)
    feeds = FeedOptions(max_rate_bps=args.max_rate_bps, initial_key_bits=args.initial_key_bits)
    runner = NetworkRunner(desc, args.run_dir, feeds, log_level=args.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            state = await runner.start()
            for kme in state["kmes"]:
                print(f"KME {kme['id']}: {kme['url']}", flush=True)
            print(f"ready: {runner.run_dir / STATE_FILE}", flush=True)
            await stop.wait()
        finally:
            await runner.stop()
        print("stopped", file=sys.stderr, flush=True)

    asyncio.run(main())
    return 0
