"""Offline country outlines for the report's maps.

``euroqci/data/map/countries.json`` is derived from Natural Earth 1:10m Admin 0 - Countries
(public domain, naturalearthdata.com, version 5.1.1) by ``scripts/make-map-data``: outlines
near Europe and the EU outermost regions simplified to ~0.04 deg (0.01 deg for the small
islands), plus a coarse world outline for ground tracks. Nothing is fetched at run time.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np


@lru_cache(maxsize=1)
def outlines() -> dict[str, list[np.ndarray]]:
    """``{"detail": [...], "world": [...]}``: closed rings of (lon_deg, lat_deg) rows."""
    text = resources.files("euroqci").joinpath("data", "map", "countries.json").read_text()
    raw = json.loads(text)
    return {key: [np.asarray(r, dtype=float) for r in raw[key]] for key in ("detail", "world")}


def rings_in(lon_min: float, lon_max: float, lat_min: float, lat_max: float,
             level: str = "detail") -> list[np.ndarray]:
    """The rings of ``level`` whose bounding box meets the given box (degrees)."""
    out = []
    for ring in outlines()[level]:
        lo, hi = ring.min(axis=0), ring.max(axis=0)
        if hi[0] >= lon_min and lo[0] <= lon_max and hi[1] >= lat_min and lo[1] <= lat_max:
            out.append(ring)
    return out
