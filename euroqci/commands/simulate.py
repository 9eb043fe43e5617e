"""``euroqci simulate``: run the digital twin and write summary.json, figures and report.html."""

from __future__ import annotations

import argparse

HELP = "run the EuroQCI digital twin (built-in scenario, or a scenario YAML) over days"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", nargs="?", default=None, metavar="SCENARIO.yaml",
                        help="scenario file (default: the built-in EuroQCI scenario)")
    parser.add_argument("--days", type=float, default=7.0, help="simulated days (default 7)")
    parser.add_argument("--step-s", type=float, default=10.0,
                        help="time step in seconds (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out", default="euroqci-simulation", metavar="DIR",
                        help="output folder (default ./euroqci-simulation)")
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute satellite passes instead of using the pass cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bar nor table")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from euroqci.sim.engine import SimConfig
    from euroqci.sim.report import output_dir
    from euroqci.sim.runner import load, run_scenario

    config = SimConfig(days=args.days, step_s=args.step_s, seed=args.seed)
    scenario = load(args.scenario)
    out = output_dir(args.out)
    console = Console(stderr=True, quiet=args.quiet)
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.percentage:>5.1f}%"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"{scenario.name}: starting", total=1.0)
        outcome = run_scenario(
            scenario, config, out_dir=out, use_cache=not args.no_cache,
            progress=lambda f: bar.update(task, completed=f),
            on_stage=lambda name: bar.update(task, description=f"{scenario.name}: {name}"))
    if not args.quiet:
        print_summary(Console(), outcome.summary, outcome.paths)
    return 0


def print_summary(console, doc: dict, paths: dict) -> None:
    """The summary table: totals, then the worst-served demands and what limited them."""
    from rich.table import Table

    t = doc["totals"]
    table = Table(title=f"{doc['scenario']}: {doc['days']:g} days, {len(doc['sites'])} sites, "
                  f"{len(doc['links'])} links, {len(doc['trusted_nodes_added'])} trusted nodes "
                  "added")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("demands fully served", f"{t['demands_fully_served']} / {t['demands']}"),
        ("key served / requested", f"{t['served_fraction']:.3f}"),
        ("relay overhead (extra key per delivered bit)", f"{t['relay_overhead']:.2f}"),
        ("key produced (Gbit)", f"{t['key_produced_bits'] / 1e9:.2f}"),
        ("failures", str(t["failures"])),
        ("satellite passes, clear sky / all",
         f"{t['satellite_passes_clear']} / {t['satellite_passes']}"),
        ("run time (s)", f"{doc['runtime_s']:.1f}"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if doc["bottlenecks"]:
        worst = Table(title="Worst-served demands")
        for col in ("demand", "served", "limited by", "element"):
            worst.add_column(col)
        for b in doc["bottlenecks"][:10]:
            worst.add_row(b["demand"], f"{b['served_fraction']:.3f}", b["limited_by"],
                          b["element"])
        console.print(worst)
    if "report" in paths:
        console.print(f"report: {paths['report']}  summary: {paths['summary']}")
