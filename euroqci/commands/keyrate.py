"""``euroqci keyrate``: secret key rate versus distance (or loss) of a fiber link.

Protocols: decoy-state BB84 (asymptotic or finite-key with ``--block-size``), BBM92 with an
entangled-pair source between the ends, and GG02 CV-QKD. The optimal free parameters are
reported with every rate. Conventions: docs/physics.md.
"""

from __future__ import annotations

import argparse
import json
import math

from euroqci.errors import InvalidParameter, check_range

HELP = "secret key rate vs distance or loss (decoy BB84, BBM92, CV-QKD GG02)"

PROTOCOLS = ("bb84-decoy", "bbm92", "cv-gg02")
#: short table headers of the optimal parameters (JSON keeps the full names)
SHORT = {
    "pulses_per_block": "N/block",
    "sifting_factor": "q",
    "modulation_variance": "V_A",
    "mean_pair_number": "pairs",
}
FIXED = ("mu3", "sifting_factor")
DERIVED = ("p3", "pulses_per_block")
RANGE_HELP = "a number, a list a,b,c or a range start:stop:step (stop included)"
MAX_VALUES = 100_000  # distances or losses per call


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the flags of ``euroqci keyrate``."""
    add = parser.add_argument
    add("--protocol", choices=PROTOCOLS, default="bb84-decoy", help="default bb84-decoy")
    add("--distance-km", default=None, help=f"fiber length, km: {RANGE_HELP} (default 0:200:25)")
    add(
        "--loss-db",
        default=None,
        help=f"total channel loss in dB instead of a distance: {RANGE_HELP}",
    )
    add("--attenuation-db-per-km", type=float, default=0.2, help="fiber attenuation (default 0.2)")
    add("--extra-loss-db", type=float, default=0.0, help="connectors/splices, dB (default 0)")
    add(
        "--detector-efficiency",
        type=float,
        default=None,
        help="detector efficiency (default 0.1; 0.6 for cv-gg02 homodyne)",
    )
    add("--dark-count-prob", type=float, default=1e-6, help="per detector, per gate (default 1e-6)")
    add("--afterpulse-prob", type=float, default=0.0, help="afterpulse probability (default 0)")
    add("--dead-time-s", type=float, default=0.0, help="detector dead time, s (default 0)")
    add("--misalignment", type=float, default=0.01, help="optical error probability (default 0.01)")
    add("--ec-efficiency", type=float, default=1.16, help="error-correction efficiency f (1.16)")
    add(
        "--rep-rate-hz",
        type=float,
        default=None,
        help="pulse (symbol) rate, Hz (default 1e9; 1e8 for cv-gg02)",
    )
    bb = parser.add_argument_group("bb84-decoy")
    bb.add_argument(
        "--sifting",
        choices=("symmetric", "efficient"),
        default="efficient",
        help="basis choice (default efficient)",
    )
    bb.add_argument(
        "--decoys",
        choices=("infinite", "vacuum+weak", "2", "1"),
        default="2",
        help="decoy method (default 2: signal + two decoys)",
    )
    bb.add_argument(
        "--block-size",
        type=float,
        default=None,
        help="n_X sifted key bits per block: finite key (Lim 2014 / Rusca 2018)",
    )
    bb.add_argument("--eps-sec", type=float, default=1e-9, help="secrecy epsilon (1e-9)")
    bb.add_argument("--eps-cor", type=float, default=1e-15, help="correctness epsilon (1e-15)")
    ent = parser.add_argument_group("bbm92")
    ent.add_argument(
        "--source-position",
        type=float,
        default=0.5,
        help="source position as a fraction of the link from Alice (default 0.5)",
    )
    ent.add_argument(
        "--mean-pair-number",
        type=float,
        default=None,
        help="pairs per pump pulse (default: optimised)",
    )
    cv = parser.add_argument_group("cv-gg02")
    cv.add_argument("--excess-noise", type=float, default=0.01, help="xi, SNU at input (0.01)")
    cv.add_argument("--electronic-noise", type=float, default=0.05, help="v_el, SNU (0.05)")
    cv.add_argument("--reconciliation-efficiency", type=float, default=0.95, help="beta (0.95)")
    cv.add_argument("--detection", choices=("homodyne", "heterodyne"), default="homodyne")
    cv.add_argument(
        "--modulation-variance", type=float, default=None, help="V_A, SNU (default: optimised)"
    )
    add("--json", action="store_true", help="machine-readable output")
    add("--plot", default=None, metavar="FILE.png", help="write rate vs distance (log scale)")


def parse_values(flag: str, text: str) -> list[float]:
    """Parse ``50``, ``10,50,100`` or ``0:200:10`` (stop included) into numbers."""
    try:
        parts = [float(x) for x in text.split(":" if ":" in text else ",")]
    except ValueError:
        raise InvalidParameter(flag, text, RANGE_HELP) from None
    if any(not math.isfinite(v) or v < 0 for v in parts):
        raise InvalidParameter(flag, text, RANGE_HELP + ", all values finite and >= 0")
    if ":" not in text:
        values = parts
    else:
        if len(parts) != 3 or not parts[2] > 0 or parts[1] < parts[0]:
            raise InvalidParameter(flag, text, RANGE_HELP)
        start, stop, step = parts
        n = int(math.floor((stop - start) / step + 1e-9)) + 1
        if n > MAX_VALUES:  # checked before the list is built (0:1e9:1)
            raise InvalidParameter(flag, text, f"at most {MAX_VALUES} values")
        values = [start + i * step for i in range(n)]
    if len(values) > MAX_VALUES:
        raise InvalidParameter(flag, text, f"at most {MAX_VALUES} values")
    return values


def _check(args: argparse.Namespace) -> None:
    """Range checks with the flag names in the message."""
    limits = {
        "--detector-efficiency": (args.detector_efficiency, 0.0, 1.0, False),
        "--dark-count-prob": (args.dark_count_prob, 0.0, 0.5, True),
        "--afterpulse-prob": (args.afterpulse_prob, 0.0, 0.999, True),
        "--dead-time-s": (args.dead_time_s, 0.0, 1.0, True),
        "--misalignment": (args.misalignment, 0.0, 0.5, True),
        "--ec-efficiency": (args.ec_efficiency, 1.0, 2.0, True),
        "--rep-rate-hz": (args.rep_rate_hz, 0.0, 1e13, False),
        "--attenuation-db-per-km": (args.attenuation_db_per_km, 0.0, 100.0, True),
        "--extra-loss-db": (args.extra_loss_db, 0.0, 1000.0, True),
        "--block-size": (args.block_size, 1.0, 1e18, True),
        "--eps-sec": (args.eps_sec, 0.0, 1.0, False),
        "--eps-cor": (args.eps_cor, 0.0, 1.0, False),
        "--source-position": (args.source_position, 0.0, 1.0, True),
        "--mean-pair-number": (args.mean_pair_number, 0.0, 10.0, False),
        "--excess-noise": (args.excess_noise, 0.0, 1.0, True),
        "--electronic-noise": (args.electronic_noise, 0.0, 10.0, True),
        "--reconciliation-efficiency": (args.reconciliation_efficiency, 0.0, 1.0, False),
        "--modulation-variance": (args.modulation_variance, 0.0, 1e4, False),
    }
    for flag, (value, low, high, low_inclusive) in limits.items():
        if value is not None:
            check_range(flag, value, low=low, high=high, low_inclusive=low_inclusive)
    if args.block_size is not None and args.protocol != "bb84-decoy":
        raise InvalidParameter("--block-size", args.block_size, "only with --protocol bb84-decoy")
    if args.block_size is not None and args.decoys not in ("1", "2"):
        raise InvalidParameter("--decoys", args.decoys, "1 or 2 with --block-size (finite key)")


def compute(args: argparse.Namespace) -> list[dict]:
    """Rows (one per distance or loss) with rates and optimal parameters."""
    import numpy as np

    from euroqci.physics.bb84 import secret_key_rate
    from euroqci.physics.bbm92 import bbm92_key_rate
    from euroqci.physics.cvqkd import gg02_key_rate
    from euroqci.physics.detectors import Detector
    from euroqci.physics.link import LinkParameters

    if args.distance_km is not None and args.loss_db is not None:
        raise InvalidParameter("--loss-db", args.loss_db, "either --distance-km or --loss-db")
    if args.loss_db is not None:
        loss = np.array(parse_values("--loss-db", args.loss_db))
        distance = [None] * loss.size
    else:
        distance = parse_values("--distance-km", args.distance_km or "0:200:25")
        loss = np.array(distance) * args.attenuation_db_per_km + args.extra_loss_db
    cv = args.protocol == "cv-gg02"
    efficiency = args.detector_efficiency or (0.6 if cv else 0.1)
    rep = args.rep_rate_hz or (1e8 if cv else 1e9)
    if cv:
        res = gg02_key_rate(
            loss,
            excess_noise=args.excess_noise,
            detector_efficiency=efficiency,
            electronic_noise=args.electronic_noise,
            reconciliation_efficiency=args.reconciliation_efficiency,
            detection=args.detection,
            symbol_rate_hz=rep,
            modulation_variance=args.modulation_variance,
        )
    else:
        det = Detector(
            efficiency=efficiency,
            dark_count_prob=args.dark_count_prob,
            afterpulse_prob=args.afterpulse_prob,
            dead_time_s=args.dead_time_s,
            misalignment=args.misalignment,
        )
        if args.protocol == "bbm92":
            res = bbm92_key_rate(
                loss * args.source_position,
                loss * (1 - args.source_position),
                detector_a=det,
                ec_efficiency=args.ec_efficiency,
                sifting=args.sifting,
                rep_rate_hz=rep,
                mean_pair_number=args.mean_pair_number,
            )
        else:
            link = LinkParameters(
                loss_db=loss,
                detector=det,
                ec_efficiency=args.ec_efficiency,
                rep_rate_hz=rep,
                sifting=args.sifting,
            )
            res = secret_key_rate(
                link,
                decoys=args.decoys,
                block_size=args.block_size,
                eps_sec=args.eps_sec,
                eps_cor=args.eps_cor,
            )
    rows = []
    for i, d in enumerate(distance):
        qber = float(res.qber[i])
        rows.append(
            {
                "protocol": args.protocol,
                "distance_km": d,
                "loss_db": float(loss[i]),
                "secret_key_rate_per_pulse": float(res.rate_per_pulse[i]),
                "secret_key_rate_bps": float(res.rate_bps[i]),
                "qber": qber if math.isfinite(qber) else None,
                "parameters": {k: float(v[i]) for k, v in res.parameters.items()},
            }
        )
    return rows


def _print_table(rows: list[dict], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    mode = "asymptotic" if args.block_size is None else f"finite key, n_X = {args.block_size:g}"
    title = (
        f"{args.protocol} (decoys={args.decoys}, {args.sifting} sifting, {mode})"
        if args.protocol == "bb84-decoy"
        else args.protocol
    )
    params = rows[0]["parameters"]
    # constants and derived values go to the caption / JSON, the rest get a column each
    fixed = [k for k in params if k in FIXED and len({r["parameters"][k] for r in rows}) == 1]
    names = [k for k in params if k not in fixed and k not in DERIVED]
    caption = ", ".join(f"{k} = {params[k]:g}" for k in fixed)
    table = Table(title=title, caption=(caption + "; " if caption else "") + "see docs/physics.md")
    for name in ("km", "dB", "R/pulse", "R bit/s", "QBER%", *(SHORT.get(n, n) for n in names)):
        table.add_column(name, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(
            "-" if r["distance_km"] is None else f"{r['distance_km']:g}",
            f"{r['loss_db']:.1f}",
            f"{r['secret_key_rate_per_pulse']:.2e}",
            f"{r['secret_key_rate_bps']:.2e}",
            "-" if r["qber"] is None else f"{100 * r['qber']:.2f}",
            *(f"{r['parameters'][k]:.3g}" for k in names),
        )
    console = Console()
    if console.width < 100:  # pipes and narrow terminals: keep one row per line
        console = Console(width=100)
    console.print(table)


def _plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_distance = rows[0]["distance_km"] is not None
    x = [r["distance_km"] if by_distance else r["loss_db"] for r in rows]
    y = [r["secret_key_rate_bps"] if r["secret_key_rate_bps"] > 0 else float("nan") for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(x, y, marker="o")
    ax.set_xlabel("distance (km)" if by_distance else "loss (dB)")
    ax.set_ylabel("secret key rate (bit/s)")
    ax.set_title(rows[0]["protocol"])
    ax.grid(True, which="both", alpha=0.3)
    try:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    except (OSError, ValueError) as exc:
        raise InvalidParameter("--plot", path, f"a writable .png path ({exc})") from None
    finally:
        plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Compute, then print JSON or a table, and optionally plot."""
    _check(args)
    rows = compute(args)
    if args.plot:
        _plot(rows, args.plot)
    if args.json:
        text = args.loss_db if args.loss_db is not None else (args.distance_km or ":")
        single = "," not in text and ":" not in text
        print(json.dumps(rows[0] if single else rows, indent=2))
    else:
        _print_table(rows, args)
    return 0
