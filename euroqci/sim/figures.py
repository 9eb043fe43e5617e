"""The report's figures (matplotlib, Agg backend, PNG): the network map with insets for the
overseas territories, satellite ground tracks, key-store and demand-service time series.

Maps use an equirectangular projection with the aspect of the panel's central latitude
(adequate at continental scale; no projection library needed) over the Natural Earth
outlines of :mod:`euroqci.sim.mapdata`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from euroqci.network.topology import Site
from euroqci.sim import metrics
from euroqci.sim.engine import SimResult
from euroqci.sim.mapdata import rings_in
from euroqci.sim.model import SATELLITE

KIND_STYLE = {  # marker, size
    "capital": ("*", 70), "government": ("s", 18), "data_centre": ("D", 16),
    "hospital": ("P", 20), "energy_grid": ("^", 20), "trusted_node": (".", 10),
    "ground_station": ("o", 36),
}
LAND, SEA, BORDER = "#ecebe4", "#dbe8f2", "#9a9a9a"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw_land(ax, box, level="detail"):
    from matplotlib.collections import PolyCollection

    rings = rings_in(*box, level=level)
    ax.add_collection(PolyCollection(rings, facecolors=LAND, edgecolors=BORDER, linewidths=0.3,
                                     zorder=0))
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_facecolor(SEA)
    ax.set_aspect(1.0 / np.cos(np.radians(0.5 * (box[2] + box[3]))))


def _network_layer(ax, result: SimResult, sites: dict[str, Site], norm, cmap, box):
    from matplotlib.collections import LineCollection

    rate = metrics.mean_key_rate_bps(result)
    segs, colors = [], []
    for i, (a, b) in enumerate(result.model.link_ids):
        if result.model.link_kind[i] == SATELLITE or a not in sites or b not in sites:
            continue
        if sites[a].overseas != sites[b].overseas:  # e.g. a submarine cable: off the panels
            continue
        segs.append([(sites[a].lon, sites[a].lat), (sites[b].lon, sites[b].lat)])
        colors.append(cmap(norm(max(rate[i], norm.vmin))))
    ax.add_collection(LineCollection(segs, colors=colors, linewidths=1.2, zorder=2))
    x0, x1, y0, y1 = box
    for kind, (marker, size) in KIND_STYLE.items():
        pts = [(s.lon, s.lat) for s in sites.values()
               if s.kind == kind and x0 <= s.lon <= x1 and y0 <= s.lat <= y1]
        if pts:
            xy = np.array(pts)
            ax.scatter(xy[:, 0], xy[:, 1], marker=marker, s=size, c="#1f2f4f" if kind !=
                       "ground_station" else "#d0431f", edgecolors="white", linewidths=0.4,
                       zorder=3, label=kind.replace("_", " "))


def overseas_groups(sites: Sequence[Site], radius_deg: float = 6.0) -> list[list[Site]]:
    """Overseas sites grouped by proximity (one inset map per group)."""
    groups: list[list[Site]] = []
    for s in sorted((s for s in sites if s.overseas), key=lambda s: (s.lon, s.lat)):
        for g in groups:
            if any(abs(s.lat - t.lat) < radius_deg and abs(s.lon - t.lon) < radius_deg for t in g):
                g.append(s)
                break
        else:
            groups.append([s])
    return groups


def _plot_track(ax, lat, lon, label: str, **style) -> None:
    """A ground track as lines, broken where it wraps around the antimeridian."""
    lat, lon = np.asarray(lat), np.asarray(lon)
    jump = np.flatnonzero(np.abs(np.diff(lon)) > 180) + 1
    for k, (la, lo) in enumerate(zip(np.split(lat, jump), np.split(lon, jump), strict=True)):
        ax.plot(lo, la, label=label if k == 0 else None, **style)


def _box_around(points: np.ndarray, margin_deg: float) -> tuple[float, float, float, float]:
    (x0, y0), (x1, y1) = points.min(axis=0) - margin_deg, points.max(axis=0) + margin_deg
    return float(x0), float(x1), float(y0), float(y1)


def network_map(result: SimResult, sites: Sequence[Site], path: Path,
                ground_tracks: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> Path:
    """Mainland map with links coloured by mean secret key rate, insets for overseas groups."""
    from matplotlib.colors import LogNorm

    plt = _pyplot()
    by_id = {s.id: s for s in sites}
    mainland = np.array([(s.lon, s.lat) for s in sites if not s.overseas] or [(10.0, 50.0)])
    box = _box_around(mainland, 2.5)
    rate = metrics.mean_key_rate_bps(result)
    fiber = np.array([k != SATELLITE for k in result.model.link_kind], dtype=bool)
    positive = rate[fiber & (rate > 0)]
    norm = LogNorm(vmin=max(positive.min() if positive.size else 1.0, 1.0),
                   vmax=max(positive.max() if positive.size else 10.0, 10.0))
    cmap = plt.get_cmap("viridis")
    groups = overseas_groups(sites)
    fig = plt.figure(figsize=(11, 9.5 if groups else 8))
    main = fig.add_axes([0.04, 0.27 if groups else 0.06, 0.82, 0.68 if groups else 0.88])
    _draw_land(main, box)
    for name, (lat, lon) in (ground_tracks or {}).items():
        _plot_track(main, lat, lon, f"ground track {name}", color="#d0431f", lw=0.6,
                    alpha=0.5, ls="--", zorder=1)
    _network_layer(main, result, by_id, norm, cmap, box)
    main.set_title(f"{result.model.name}: mean secret key rate per fiber link "
                   f"({result.config.days:g} days)")
    if main.get_legend_handles_labels()[0]:  # an empty network has nothing to label
        main.legend(loc="upper left", fontsize=7, framealpha=0.85)
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, cax=fig.add_axes([0.88, 0.3 if groups else 0.1, 0.02, 0.6]),
                 label="mean secret key rate (bit/s)")
    width = 0.92 / max(len(groups), 1)
    for k, group in enumerate(groups):
        ax = fig.add_axes([0.04 + k * width, 0.03, width * 0.92, 0.2])
        inset = _box_around(np.array([(s.lon, s.lat) for s in group]), 0.8)
        _draw_land(ax, inset)
        _network_layer(ax, result, by_id, norm, cmap, inset)
        towns = sorted({s.name.split(",")[-1].strip() for s in group
                        if s.kind != "ground_station"}) or [group[0].name]
        ax.set_title(", ".join(towns)[:45], fontsize=7)
        ax.tick_params(labelsize=5)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def ground_track_map(sites: Sequence[Site], ground_tracks: dict, path: Path) -> Path:
    """World map of the satellites' ground tracks and the optical ground stations."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 5.5))
    _draw_land(ax, (-180, 180, -75, 80), level="world")
    ax.set_aspect(1.0)
    for k, (name, (lat, lon)) in enumerate(ground_tracks.items()):
        _plot_track(ax, lat, lon, name, color=f"C{k % 10}", lw=0.8, zorder=1)
    ogs = np.array([(s.lon, s.lat) for s in sites if s.kind == "ground_station"] or [(0, 0)])
    ax.scatter(ogs[:, 0], ogs[:, 1], marker="o", s=25, c="#d0431f", edgecolors="white",
               zorder=3, label="optical ground station")
    ax.set_title("Satellite ground tracks (first orbits of the run) and ground stations")
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def time_series(result: SimResult, path: Path, n_links: int = 8) -> Path:
    """Store levels of the links that limited demands most, and demand service over time."""
    plt = _pyplot()
    t_h = result.sample_time_s / 3600.0
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    limiting = np.asarray(result.blocked_store_steps.sum(axis=0)
                          + result.blocked_down_steps.sum(axis=0)).ravel()
    order = np.argsort(-limiting, kind="stable")
    chosen = [i for i in order[:n_links] if limiting[i] > 0] or list(
        np.argsort(result.store_bits, kind="stable")[:n_links])
    for i in chosen:
        top.plot(t_h, result.sample_store_bits[:, i], lw=0.9,
                 label="-".join(result.model.link_ids[i]))
    top.set_ylabel("key in store (bits)")
    top.set_title("Key stores of the links that limited demands most")
    if chosen:
        top.legend(fontsize=7, ncol=2)
    req = result.sample_requested_bits.sum(axis=1)
    served = result.sample_served_bits.sum(axis=1)
    bottom.plot(t_h, np.where(req > 0, served / np.where(req > 0, req, 1), 1.0), color="k",
                label="all demands")
    frac = result.sample_served_bits / np.where(result.sample_requested_bits > 0,
                                                result.sample_requested_bits, 1.0)
    if frac.size:
        bottom.fill_between(t_h, frac.min(axis=1), 1.0, color="#9ecae1", alpha=0.6,
                            label="range over demands")
    bottom.set_ylim(0, 1.05)
    bottom.set_xlabel("time (h)")
    bottom.set_ylabel("served fraction (cumulative)")
    bottom.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
