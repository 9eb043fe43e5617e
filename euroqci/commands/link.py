"""``euroqci link``: run the QKD link engine -- both ends in one process, or one end each in
two processes over TCP/TLS.

    euroqci link run --distance-km 25 [--duration-s 1] [physics flags] [--json]
    euroqci link alice --listen 127.0.0.1:7000 --cert a.pem --key a.key --ca ca.pem ...
    euroqci link bob --connect 127.0.0.1:7000 --cert b.pem --key b.key --ca ca.pem ...

Both ends of a two-process run must get the same physics flags and ``--seed`` (the simulated
quantum channel is drawn from it). See docs/link-engine.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from euroqci.errors import InvalidParameter, check_range

HELP = "run the QKD link engine (simulated detections, real post-processing) end to end"


def _physics_flags(p: argparse.ArgumentParser) -> None:
    add = p.add_argument
    add("--distance-km", type=float, default=25.0, help="fiber length, km (default 25)")
    add("--loss-db", type=float, default=None, help="total channel loss in dB instead")
    add("--attenuation-db-per-km", type=float, default=0.2, help="fiber attenuation (0.2)")
    add("--extra-loss-db", type=float, default=0.0, help="connectors/splices, dB (0)")
    add("--detector-efficiency", type=float, default=0.1, help="detector efficiency (0.1)")
    add("--dark-count-prob", type=float, default=1e-6, help="per detector, per gate (1e-6)")
    add("--afterpulse-prob", type=float, default=0.0, help="afterpulse probability (0)")
    add("--dead-time-s", type=float, default=0.0, help="detector dead time, s (0)")
    add("--misalignment", type=float, default=0.01, help="optical error probability (0.01)")
    add("--ec-efficiency", type=float, default=1.16,
        help="f assumed when optimising the source and in the pre-check (1.16)")
    add("--rep-rate-hz", type=float, default=1e9, help="pulse rate, Hz (1e9)")
    add("--sifting", choices=("efficient", "symmetric"), default="efficient",
        help="basis choice (default efficient)")
    add("--decoys", choices=("2", "1"), default="2",
        help="2: signal + two decoys (Lim 2014), 1: one decoy (Rusca 2018)")
    add("--block-size", type=float, default=4e6,
        help="target key-basis sifted bits per post-processing block (4e6)")
    add("--eps-sec", type=float, default=1e-9, help="secrecy epsilon (1e-9)")
    add("--eps-cor", type=float, default=1e-15, help="correctness epsilon (1e-15)")


def _engine_flags(p: argparse.ArgumentParser) -> None:
    add = p.add_argument
    add("--duration-s", type=float, default=1.0, help="link time to simulate, s (default 1)")
    add("--reconciliation", choices=("auto", "cascade", "ldpc"), default="auto",
        help="auto: by QBER, Cascade at low QBER, LDPC above the threshold of "
        "euroqci.qkd.reconciliation.choose_method (default)")
    add("--frame-bits", type=int, default=16384, help="reconciliation frame length (16384)")
    add("--eavesdropper", default=None,
        help="intercept-resend[:FRACTION] or pns (default none)")
    add("--seed", type=int, default=0, help="random seed (both ends of a two-process run)")
    add("--stream-id", default="link", help="key stream id of the delivered blocks")
    add("--json", action="store_true", help="machine-readable output")


def _tls_flags(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--listen", metavar="HOST:PORT", help="accept the peer here (port 0: any)")
    where.add_argument("--connect", metavar="HOST:PORT", help="connect to the peer here")
    p.add_argument("--cert", required=True, help="this end's TLS certificate (PEM)")
    p.add_argument("--key", required=True, help="its private key (PEM)")
    p.add_argument("--ca", required=True, help="CA certificate that signed the peer's (PEM)")
    p.add_argument("--server-name", default=None,
                   help="name to verify in the listener's certificate (default: HOST)")
    p.add_argument("--psk-file", default=None,
                   help="pre-shared authentication key file, same at both ends "
                   "(default: derived from --seed, for simulation only)")
    p.add_argument("--timeout-s", type=float, default=60.0, help="channel timeout, s (60)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``run``, ``alice`` and ``bob``."""
    sub = parser.add_subparsers(dest="mode", metavar="MODE", required=True,
                                parser_class=type(parser))
    run = sub.add_parser("run", help="both ends in this process")
    _physics_flags(run)
    _engine_flags(run)
    run.add_argument("--lanes", type=int, default=1,
                     help="blocks post-processed in parallel, each lane a forked process "
                     "with its own slice of the pre-shared key (1; 2 uses both cores of a "
                     "2-core machine: docs/benchmarks.md)")
    for role in ("alice", "bob"):
        one = sub.add_parser(role, help=f"{role}'s end only, over TCP/TLS to the other")
        _physics_flags(one)
        _engine_flags(one)
        _tls_flags(one)


def _address(flag: str, text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise InvalidParameter(flag, text, "HOST:PORT with a port in 0-65535")
    return host, int(port)


def build_config(args: argparse.Namespace):
    """LinkConfig (optimised source) and the physics prediction from the flags."""
    from euroqci.physics.detectors import Detector
    from euroqci.physics.link import LinkParameters
    from euroqci.qkd.events import parse_eavesdropper
    from euroqci.qkd.pipeline import optimised_config
    from euroqci.qkd.roles import ProtocolConfig

    check_range("--duration-s", args.duration_s, low=0.0, high=1e6, low_inclusive=False)
    check_range("--block-size", args.block_size, low=1e3, high=1e9)
    check_range("--distance-km", args.distance_km, low=0.0, high=1e4)
    detector = Detector(efficiency=args.detector_efficiency, dark_count_prob=args.dark_count_prob,
                        afterpulse_prob=args.afterpulse_prob, dead_time_s=args.dead_time_s,
                        misalignment=args.misalignment)
    common = {"detector": detector, "ec_efficiency": args.ec_efficiency,
              "rep_rate_hz": args.rep_rate_hz, "sifting": args.sifting}
    if args.loss_db is not None:
        link = LinkParameters(loss_db=args.loss_db, **common)
    else:
        link = LinkParameters.from_fiber(args.distance_km, args.attenuation_db_per_km,
                                         args.extra_loss_db, **common)
    protocol = ProtocolConfig(frame_bits=args.frame_bits, reconciliation=args.reconciliation)
    return optimised_config(link, block_bits=args.block_size, decoys=args.decoys,
                            eps_sec=args.eps_sec, eps_cor=args.eps_cor, protocol=protocol,
                            stream_id=args.stream_id,
                            eavesdropper=parse_eavesdropper(args.eavesdropper))


def _progress(enabled: bool):
    """A rich progress bar on stderr (None when disabled)."""
    if not enabled:
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("link"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("pulses", total=1)
    return bar, lambda done, total: bar.update(task, completed=done, total=total)


def _output(args, config, rate, report) -> None:
    from euroqci.physics.fiber import loss_db_from_transmittance

    out = report.to_dict()
    model = config.model
    out["link"] = {
        "loss_db": float(loss_db_from_transmittance(model.channel_transmittance)),
        "intensities": list(model.source.intensities),
        "probabilities": list(model.source.probabilities),
        "p_x": model.p_x,
        "block_pulses": config.block_pulses,
        "predicted_secret_rate_bps": float(rate.rate_bps),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"euroqci link {args.mode}", show_header=False)
    rec = out["reconciliation"]
    rows = [
        ("pulses", f"{out['pulses']:.3e}"), ("sifted key bits", f"{out['sifted_bits']:,}"),
        ("QBER (test basis)", "-" if out["qber"] is None else f"{100 * out['qber']:.2f} %"),
        ("reconciliation", f"{rec['method']}, leaked {rec['leaked_bits']:,} bits, f = "
         + ("-" if rec["efficiency"] is None else f"{rec['efficiency']:.3f}")),
        ("verification failures", str(out["verification_failures"])),
        ("authentication key used", f"{out['auth_key_consumed_bits']:,} bits"),
        ("secret key bits", f"{out['secret_bits']:,}"),
        ("keys identical", str(out["keys_identical"])),
        ("aborted", f"{out['aborted']}" + (f" ({out['abort_reason']})" if out["aborted"] else "")),
        ("end-to-end throughput", f"{out['throughput_bps']['end_to_end'] / 1e6:.2f} Mbit/s "
         "of sifted key"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


def run(args: argparse.Namespace) -> int:
    """Build the link from the flags, run it, print the report."""
    config, rate = build_config(args)
    show = not args.json and sys.stderr.isatty()
    bar, progress = _progress(show)
    if args.mode == "run":
        from euroqci.qkd.pipeline import LinkEngine

        check_range("--lanes", args.lanes, low=1, high=64)
        engine = LinkEngine(config, seed=args.seed, lanes=args.lanes)
        if bar is None:
            report = engine.run(args.duration_s)
        else:
            with bar:
                report = engine.run(args.duration_s, progress)
    else:
        report = _run_role(args, config, bar, progress)
    _output(args, config, rate, report)
    return 0


def _run_role(args, config, bar, progress):
    from pathlib import Path

    from euroqci.qkd import channel
    from euroqci.qkd.pipeline import run_role

    check_range("--timeout-s", args.timeout_s, low=0.0, low_inclusive=False)
    psk = None
    if args.psk_file is not None:
        try:
            psk = Path(args.psk_file).read_bytes()
        except OSError as exc:
            raise InvalidParameter("--psk-file", args.psk_file, f"a readable file ({exc})") \
                from None
    try:
        if args.listen:
            host, port = _address("--listen", args.listen)
            ctx = channel.server_context(args.cert, args.key, args.ca)
            ch = channel.listen(host, port, ctx, timeout_s=args.timeout_s, ready=lambda p: print(
                f"listening on {host}:{p}", file=sys.stderr, flush=True))
        else:
            host, port = _address("--connect", args.connect)
            ctx = channel.client_context(args.cert, args.key, args.ca)
            ch = channel.connect(host, port, ctx, server_hostname=args.server_name,
                                 timeout_s=args.timeout_s)
    except OSError as exc:  # unreadable certificate files
        raise InvalidParameter("--cert/--key/--ca", args.cert, f"readable PEM files ({exc})") \
            from None
    if bar is None:
        return run_role(args.mode, config, ch, args.seed, args.duration_s, psk=psk)
    with bar:
        return run_role(args.mode, config, ch, args.seed, args.duration_s, psk=psk,
                        progress=progress)
