"""``euroqci passes``: satellite passes over a ground station, optionally with the key of each.

Link flags (any of them, or ``--key``) add the finite-key secret bits of every pass, the pass
being one block (:func:`euroqci.physics.passes.pass_key`).
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import UTC, datetime
from pathlib import Path

from euroqci.errors import InvalidParameter, check_range

HELP = "satellite passes over a ground station (offline SGP4), optionally with the key per pass"

#: link flags: field name (of DownlinkParameters, Detector or pass_key) -> (type, help)
_DOWNLINK_FLAGS = {
    "wavelength_nm": (float, "wavelength, nm (default 850)"),
    "tx_aperture_m": (float, "transmitter aperture diameter, m (default 0.3)"),
    "rx_aperture_m": (float, "receiver aperture diameter, m (default 1.0)"),
    "pointing_jitter_urad": (float, "rms pointing jitter per axis, urad (default 2)"),
    "extra_loss_db": (float, "receiver optics/coupling loss, dB, detectors excluded (default 6)"),
    "zenith_transmittance": (float, "clear-sky zenith transmittance (default: MODTRAN value)"),
    "background_counts_per_s_night": (float, "background counts/s, night (default 500)"),
    "background_counts_per_s_day": (float, "background counts/s, day (default 1e7)"),
}
_DETECTOR_FLAGS = {
    "detector_efficiency": (float, "detector efficiency (default 0.5)"),
    "dark_count_prob": (float, "dark-count probability per detector per gate (default 1e-8)"),
    "misalignment": (float, "optical error probability (default 0.005)"),
}
_KEY_FLAGS = {
    "rep_rate_hz": (float, "source repetition rate, Hz (default 1e9)"),
    "eps_sec": (float, "secrecy parameter (default 1e-9)"),
    "eps_cor": (float, "correctness parameter (default 1e-15)"),
    "ec_efficiency": (float, "error-correction efficiency f (default 1.16)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", required=True, metavar="LAT,LON",
                        help="ground station latitude,longitude in degrees, e.g. 40.649,16.705")
    parser.add_argument("--station-altitude-m", type=float, default=0.0,
                        help="ground station height above the WGS-84 ellipsoid, m (default 0)")
    parser.add_argument("--altitude-km", type=float, default=500.0,
                        help="circular orbit altitude, km (default 500; ignored with --tle)")
    parser.add_argument("--inclination-deg", type=float, default=None,
                        help="orbit inclination, deg (default: sun-synchronous)")
    parser.add_argument("--ltan-h", type=float, default=22.5,
                        help="local time of the ascending node, h (default 22.5)")
    parser.add_argument("--raan-deg", type=float, default=None,
                        help="right ascension of the ascending node, deg (overrides --ltan-h)")
    parser.add_argument("--tle", type=Path, default=None, metavar="FILE",
                        help="two-line elements file (optional name line first)")
    parser.add_argument("--start", default=None, metavar="ISO8601",
                        help="start of the search, UTC unless an offset is given (default: now)")
    parser.add_argument("--days", type=float, default=1.0, help="search span, days (default 1)")
    parser.add_argument("--min-elevation-deg", type=float, default=10.0,
                        help="elevation mask, deg (default 10)")
    parser.add_argument("--night-only", action="store_true",
                        help="only passes with the Sun below --sun-limit-deg at culmination")
    parser.add_argument("--sun-limit-deg", type=float, default=-12.0,
                        help="Sun altitude below which a pass is 'night', deg (default -12)")
    parser.add_argument("--json", action="store_true", help="print JSON (a list of passes)")
    link = parser.add_argument_group(
        "link (any of these, or --key, adds secret_key_bits per pass: decoy BB84, Lim 2014)")
    link.add_argument("--key", action="store_true", help="compute the key with default link")
    for name, (kind, text) in {**_DOWNLINK_FLAGS, **_DETECTOR_FLAGS, **_KEY_FLAGS}.items():
        link.add_argument("--" + name.replace("_", "-"), type=kind, default=None, help=text)


def _site(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError:
        raise InvalidParameter("site", text, "must be LAT,LON in degrees, e.g. 40.649,16.705"
                               ) from None
    check_range("site latitude", lat, low=-90.0, high=90.0)
    check_range("site longitude", lon, low=-180.0, high=360.0)
    return lat, lon


def _start(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter("start", text, "must be ISO 8601, e.g. 2025-06-21T00:00Z") from None
    if not 1900 <= moment.year <= 2052:
        raise InvalidParameter("start", text, "must lie in 1900-2052 (the bundled DE421 range)")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _satellite(args: argparse.Namespace, start: datetime):
    from euroqci.physics.orbits import (
        raan_for_ltan_deg,
        satellite_from_elements,
        satellite_from_tle,
    )

    if args.tle is not None:
        try:
            lines = [x for x in args.tle.read_text().splitlines() if x.strip()]
        except OSError as exc:
            raise InvalidParameter("tle", str(args.tle), f"cannot be read ({exc.strerror})"
                                   ) from None
        tle = [x for x in lines if x[:2] in ("1 ", "2 ")]
        if len(tle) < 2:
            raise InvalidParameter("tle", str(args.tle), "must hold a two-line element set")
        name = lines[0].strip() if lines[0][:2] not in ("1 ", "2 ") else None
        return satellite_from_tle(tle[0], tle[1], name=name)
    raan = args.raan_deg if args.raan_deg is not None else raan_for_ltan_deg(args.ltan_h, start)
    return satellite_from_elements(args.altitude_km, args.inclination_deg, raan, start)


def _key_setup(args: argparse.Namespace):
    """(DownlinkParameters, Detector, key kwargs) when any link flag is given, else None."""
    from euroqci.physics.detectors import Detector
    from euroqci.physics.freespace import DownlinkParameters

    chosen = {k: getattr(args, k) for k in {**_DOWNLINK_FLAGS, **_DETECTOR_FLAGS, **_KEY_FLAGS}
              if getattr(args, k) is not None}
    if not chosen and not args.key:
        return None
    downlink = DownlinkParameters(**{k: v for k, v in chosen.items() if k in _DOWNLINK_FLAGS})
    detector = Detector(efficiency=chosen.get("detector_efficiency", 0.5),
                        dark_count_prob=chosen.get("dark_count_prob", 1e-8),
                        misalignment=chosen.get("misalignment", 0.005))
    return downlink, detector, {k: v for k, v in chosen.items() if k in _KEY_FLAGS}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run(args: argparse.Namespace) -> int:
    from euroqci.physics.orbits import find_passes
    from euroqci.physics.passes import pass_key

    lat, lon = _site(args.site)
    start = _start(args.start)
    check_range("days", args.days, low=0.0, low_inclusive=False, high=366.0)
    check_range("min_elevation_deg", args.min_elevation_deg, low=0.0, high=89.0)
    check_range("altitude_km", args.altitude_km, low=150.0, high=40_000.0)
    check_range("sun_limit_deg", args.sun_limit_deg, low=-90.0, high=90.0)
    key_setup = _key_setup(args)
    satellite = _satellite(args, start)
    passes = find_passes(satellite, lat, lon, start, days=args.days,
                         min_elevation_deg=args.min_elevation_deg, night_only=args.night_only,
                         station_altitude_m=args.station_altitude_m,
                         sun_altitude_limit_deg=args.sun_limit_deg)
    rows = []
    for p in passes:
        row = {"start": _iso(p.start), "end": _iso(p.end), "duration_s": round(p.duration_s, 1),
               "max_elevation_deg": round(p.max_elevation_deg, 2), "night": p.night,
               "sun_altitude_deg": round(p.sun_altitude_deg, 1),
               "min_range_km": round(float(p.range_km.min()), 1)}
        if key_setup is not None:
            downlink, detector, kwargs = key_setup
            result = pass_key(p, downlink, detector, **kwargs)
            row["secret_key_bits"] = int(result.secret_key_bits)
            row["qber"] = round(result.qber, 5)
            row["mean_loss_db"] = round(result.mean_loss_db, 2) if math.isfinite(
                result.mean_loss_db) else None
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows, satellite.name, lat, lon, key_setup is not None)
    return 0


def _print_table(rows: list[dict], name: str | None, lat: float, lon: float, keys: bool) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Passes of {name or 'satellite'} over ({lat:.3f}, {lon:.3f})",
                  box=box.SIMPLE_HEAD)
    columns = ["start (UTC)", "end", "dur. s", "max el.", "range km", "night"]
    columns += ["key bits", "QBER %"] if keys else []
    for c in columns:
        table.add_column(c, justify="left" if c in ("start (UTC)", "end") else "right",
                         no_wrap=True)
    for r in rows:
        cells = [r["start"][:19].replace("T", " "), r["end"][11:19], f"{r['duration_s']:.0f}",
                 f"{r['max_elevation_deg']:.1f}", f"{r['min_range_km']:.0f}",
                 "yes" if r["night"] else "no"]
        if keys:
            cells += [f"{r['secret_key_bits']:,}", f"{100 * r['qber']:.2f}"]
        table.add_row(*cells)
    console = Console()
    if not console.is_terminal:
        console = Console(width=100)  # pipes and files get the whole table
    console.print(table)
    if not rows:
        console.print("no pass in the window")
