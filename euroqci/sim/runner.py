"""One pipeline on top of the twin: scenario -> planned network -> model -> run -> outputs.

:func:`run_scenario` is what ``euroqci simulate`` and every ``euroqci sweep`` task call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from euroqci.network.topology import Scenario
from euroqci.sim.build import BuiltScenario, build_model
from euroqci.sim.engine import Progress, SimConfig, SimResult, simulate
from euroqci.sim.report import ReportContext, summary, write_outputs


@dataclass(frozen=True)
class Outcome:
    """A finished run: the result, the built model, the summary document and written files."""

    result: SimResult
    built: BuiltScenario
    summary: dict
    paths: dict[str, Path]
    timings_s: dict[str, float]


def load(path: str | None) -> Scenario:
    """The scenario in ``path`` (YAML), or the built-in EuroQCI scenario when None."""
    from euroqci.network.scenario import builtin_scenario, load_scenario

    return builtin_scenario("euroqci") if path is None else load_scenario(path)


def plan(scenario: Scenario) -> tuple[Scenario, tuple[str, ...]]:
    """Insert trusted nodes so no fiber span exceeds the scenario's planning limits; returns
    the planned scenario and the ids of the nodes added."""
    from dataclasses import replace

    from euroqci.network.planning import plan_trusted_nodes

    planned = plan_trusted_nodes(scenario.network, scenario.planning)
    return replace(scenario, network=planned.network), tuple(a.site.id for a in planned.added)


def run_scenario(scenario: Scenario, config: SimConfig, *, out_dir: Path | None = None,
                 progress: Progress | None = None, on_stage=None,
                 use_cache: bool = True) -> Outcome:
    """Plan, build, simulate and (with ``out_dir``) write summary.json, figures and report.

    ``on_stage(name)`` is told when each stage starts (for a status line).
    """
    stage = on_stage or (lambda name: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    stage("planning trusted nodes")
    planned, added = plan(scenario)
    stage("computing key rates and satellite passes")
    built = build_model(planned, days=config.days, step_s=config.step_s, use_cache=use_cache,
                        trusted_nodes_added=added)
    timings["build_s"] = time.perf_counter() - t0
    stage("simulating")
    t1 = time.perf_counter()
    result = simulate(built.model, config, progress=progress)
    timings["simulate_s"] = time.perf_counter() - t1
    ctx = ReportContext(sites=built.context.sites, trusted_nodes_added=added,
                        ground_tracks=built.context.ground_tracks,
                        nominal_rate_bps=built.context.nominal_rate_bps,
                        runtime_s=time.perf_counter() - t0)
    doc = summary(result, ctx)
    paths: dict[str, Path] = {}
    if out_dir is not None:
        stage("writing report")
        t2 = time.perf_counter()
        paths = write_outputs(result, ctx, Path(out_dir), doc=doc)
        timings["report_s"] = time.perf_counter() - t2
    return Outcome(result, built, doc, paths, timings)
