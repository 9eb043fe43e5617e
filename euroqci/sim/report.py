"""A run's outputs: ``summary.json``, ``timeseries.npz``, the PNG figures and ``report.html``.

``report.html`` is one self-contained file: figures inlined as base64 PNG, styles inline, no
script, font or tile fetched from anywhere, so it opens offline and can be mailed around.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from euroqci.errors import InvalidParameter
from euroqci.network.topology import Site
from euroqci.sim import figures, metrics
from euroqci.sim.engine import SimResult
from euroqci.sim.model import FIBER


@dataclass(frozen=True)
class ReportContext:
    """What the report needs beyond the run: the sites (coordinates, kinds), the trusted
    nodes planning added, the satellites' ground tracks (lat_deg, lon_deg) and pass counts."""

    sites: tuple[Site, ...] = ()
    trusted_nodes_added: tuple[str, ...] = ()
    ground_tracks: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    nominal_rate_bps: np.ndarray | None = None  # per link, clear-sky/no-failure rate
    runtime_s: float | None = None


def _num(x: float) -> float | None:
    """JSON-safe float (NaN/inf -> null)."""
    x = float(x)
    return x if math.isfinite(x) else None


def summary(result: SimResult, ctx: ReportContext) -> dict:
    """The ``summary.json`` document (see docs/digital-twin.md for every field)."""
    m = result.model
    rate = metrics.mean_key_rate_bps(result)
    frac = metrics.served_fraction(result)
    wait = metrics.mean_wait_s(result)
    avail = metrics.site_availability(result)
    node_avail = dict(zip(m.node_ids, avail, strict=True))
    mean_store = result.sample_store_bits.mean(axis=0) if len(result.sample_time_s) else \
        result.store_bits
    links = []
    for i, (a, b) in enumerate(m.link_ids):
        row = {"a": a, "b": b, "kind": m.link_kind[i]}
        if m.link_kind[i] == FIBER:
            row["length_km"] = _num(m.link_length_km[i])
            row["loss_db"] = _num(m.link_loss_db[i])
        row.update({
            "mean_secret_key_rate_bps": _num(rate[i]),
            "nominal_secret_key_rate_bps": None if ctx.nominal_rate_bps is None
            else _num(ctx.nominal_rate_bps[i]),
            "store_capacity_bits": _num(m.link_capacity_bits[i]),
            "mean_store_bits": _num(mean_store[i]),
            "produced_bits": _num(result.produced_bits[i]),
            "delivered_bits": _num(result.delivered_bits[i]),
            "consumed_by_relay_bits": _num(result.relayed_bits[i]),
            "stored_bits": _num(result.store_bits[i]),
            "discarded_bits": _num(result.discarded_bits[i]),
        })
        links.append(row)
    demands = [{
        "a": a, "b": b, "requested_bps": _num(m.requested_bps[d]),
        "served_fraction": _num(frac[d]), "served_bps": _num(result.served_bits[d]
                                                             / result.duration_s),
        "mean_wait_s": _num(wait[d]), "route": result.routes[d],
    } for d, (a, b) in enumerate(m.demand_ends)]
    sites = [{
        "id": s.id, "name": s.name, "country": s.country, "lat": s.lat, "lon": s.lon,
        "kind": s.kind, "overseas": s.overseas,
        "availability": _num(node_avail.get(s.id, float("nan"))),
    } for s in ctx.sites]
    return {
        "scenario": m.name,
        "days": result.config.days,
        "step_s": result.config.step_s,
        "seed": result.config.seed,
        "start": m.start_iso,
        "sites": sites,
        "links": links,
        "demands": demands,
        "trusted_nodes_added": list(ctx.trusted_nodes_added),
        "satellite_links": _satellite_links(result),
        "bottlenecks": metrics.bottlenecks(result),
        "totals": metrics.totals(result),
        "runtime_s": ctx.runtime_s,
    }


def _satellite_links(result: SimResult) -> list[dict]:
    """Per satellite link: passes in the run, passes with clear sky, key produced (bits)."""
    m, p = result.model, result.model.passes
    in_run = p.end_s < result.duration_s
    rows = []
    for i, (a, b) in enumerate(m.link_ids):
        if m.link_kind[i] != FIBER:
            mine = in_run & (p.link == i)
            rows.append({"a": a, "b": b, "passes": int(mine.sum()),
                         "passes_clear": int((mine & result.passes_used).sum()),
                         "key_produced_bits": _num(result.produced_bits[i])})
    return rows


def output_dir(path: str | Path, flag: str = "--out") -> Path:
    """The folder ``path``, created if needed; :class:`InvalidParameter` naming ``flag`` when it
    cannot be (checked before a run, not after it)."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidParameter(flag, str(out), f"a folder that can be created ({exc.strerror})"
                               ) from None
    return out


def write_outputs(result: SimResult, ctx: ReportContext, out_dir: Path,
                  doc: dict | None = None) -> dict[str, Path]:
    """Write summary.json, timeseries.npz (store levels and cumulative service per sample),
    the PNG figures and report.html into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = doc if doc is not None else summary(result, ctx)
    paths = {"summary": out_dir / "summary.json", "timeseries": out_dir / "timeseries.npz"}
    paths["summary"].write_text(json.dumps(doc, indent=1))
    m = result.model
    np.savez_compressed(
        paths["timeseries"], time_s=result.sample_time_s,
        link_a=np.array([a for a, _ in m.link_ids]), link_b=np.array([b for _, b in m.link_ids]),
        store_bits=result.sample_store_bits,
        demand_a=np.array([a for a, _ in m.demand_ends], dtype=str),
        demand_b=np.array([b for _, b in m.demand_ends], dtype=str),
        served_bits=result.sample_served_bits, requested_bits=result.sample_requested_bits)
    paths["map"] = figures.network_map(result, ctx.sites, out_dir / "map.png",
                                       ctx.ground_tracks)
    if ctx.ground_tracks:
        paths["ground_tracks"] = figures.ground_track_map(ctx.sites, ctx.ground_tracks,
                                                          out_dir / "ground_tracks.png")
    paths["time_series"] = figures.time_series(result, out_dir / "time_series.png")
    paths["report"] = out_dir / "report.html"
    figs = [paths[k] for k in ("map", "ground_tracks", "time_series") if k in paths]
    paths["report"].write_text(render_html(doc, figs))
    return paths


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(x, digits=3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def render_html(doc: dict, images: Sequence[Path]) -> str:
    """The self-contained report page."""
    t = doc["totals"]
    totals = _table(["quantity", "value"], [
        ("demands fully served", f"{t['demands_fully_served']} / {t['demands']}"),
        ("key served / requested", f"{t['served_fraction']:.3f}"),
        ("relay overhead (extra key per delivered bit)", f"{t['relay_overhead']:.2f}"),
        ("key produced (Gbit)", f"{t['key_produced_bits'] / 1e9:.3f}"),
        ("key discarded, stores full (Gbit)", f"{t['key_discarded_bits'] / 1e9:.3f}"),
        ("failures", t["failures"]),
        ("satellite passes (clear sky / all)",
         f"{t['satellite_passes_clear']} / {t['satellite_passes']}"),
        ("trusted nodes added by planning", len(doc["trusted_nodes_added"])),
        ("conservation error (max relative, per link)", f"{t['max_conservation_error']:.1e}"),
    ])
    bottleneck = _table(
        ["demand", "served fraction", "limited by", "element", "share of waiting"],
        [(b["demand"], f"{b['served_fraction']:.3f}", b["limited_by"], b["element"],
          f"{b['causes'][0]['share']:.0%}" if b["causes"] else "-")
         for b in doc["bottlenecks"]]) if doc["bottlenecks"] else "<p>Every demand was served.</p>"
    demands = _table(["a", "b", "requested bit/s", "served fraction", "mean wait (s)", "hops"], [
        (d["a"], d["b"], _fmt(d["requested_bps"]), _fmt(d["served_fraction"]),
         _fmt(d["mean_wait_s"]), len(d["route"]) - 1 if d["route"] else "-")
        for d in doc["demands"]])
    figs = "\n".join(f"<figure>{_img(p)}</figure>" for p in images)
    style = ("body{font-family:sans-serif;max-width:1150px;margin:auto;color:#222}"
             "table{border-collapse:collapse;font-size:13px;margin:8px 0}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
             "th{background:#eee}img{max-width:100%}figure{margin:12px 0}")
    title = html.escape(f"euroqci digital twin: {doc['scenario']}")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}"
            f"</title><style>{style}</style></head><body><h1>{title}</h1>"
            f"<p>{doc['days']:g} simulated days from {html.escape(str(doc['start']))} in "
            f"{doc['step_s']:g} s steps, seed {doc['seed']}.</p>"
            f"<h2>Totals</h2>{totals}<h2>Maps and time series</h2>{figs}"
            f"<h2>Bottlenecks (unmet demands)</h2>{bottleneck}<h2>Demands</h2>{demands}"
            "<p>Map data: Natural Earth (public domain).</p></body></html>")
