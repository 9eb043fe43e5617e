"""``euroqci sweep``: many scenario variants or replications in parallel (process pool or Dask)."""

from __future__ import annotations

import argparse

HELP = "run scenario variants and replications in parallel (local processes or a Dask cluster)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO.yaml",
                        help="scenario file, or 'builtin' for the built-in EuroQCI scenario")
    parser.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="a scenario field (dotted path, e.g. failures.fiber_mttr_h) or "
                        "days / step_s, and its values; repeat for a grid")
    parser.add_argument("--replications", type=int, default=1,
                        help="seeds per variant: seed, seed+1, ... (default 1)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 "
                        "(default: a local process pool)")
    parser.add_argument("--workers", type=int, default=None,
                        help="local worker processes (default: one per CPU)")
    parser.add_argument("--days", type=float, default=7.0, help="simulated days (default 7)")
    parser.add_argument("--step-s", type=float, default=10.0, help="time step (s, default 10)")
    parser.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--out", default="euroqci-sweep", metavar="DIR",
                        help="output folder for sweep.json and sweep.csv")


def run(args: argparse.Namespace) -> int:
    import csv
    import json

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from euroqci.sim.report import output_dir
    from euroqci.sim.runner import load
    from euroqci.sim.sweep import parse_vary, run_sweep, tasks

    vary = parse_vary(args.vary)
    scenario = load(None if args.scenario == "builtin" else args.scenario)
    todo = tasks(scenario, vary, args.replications, days=args.days, step_s=args.step_s,
                 seed=args.seed)
    out = output_dir(args.out)
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"{len(todo)} runs", total=len(todo))
        rows = run_sweep(todo, scheduler=args.scheduler, workers=args.workers,
                         on_done=lambda n: bar.update(task, completed=n))
    (out / "sweep.json").write_text(json.dumps(rows, indent=1, default=str))
    with open(out / "sweep.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    shown = sorted(vary) + ["seed", "served_fraction", "demands_fully_served", "relay_overhead"]
    table = Table(title=f"sweep of {scenario.name}: {len(rows)} runs")
    for col in shown:
        table.add_column(col)
    for row in rows:
        table.add_row(*(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c])
                        for c in shown))
    Console().print(table)
    Console().print(f"results: {out / 'sweep.json'}, {out / 'sweep.csv'}")
    return 0
