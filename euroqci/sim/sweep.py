"""Parameter sweeps: many scenario variants and replications, run in parallel.

A variation names a field of the scenario by a dotted path (``failures.fiber_mttr_h``,
``network.satellite_segment.store_capacity_bits``, ``planning.max_span_loss_db``); a path
through a tuple of objects changes the field in every element that has it
(``network.fiber_links.device.detector_efficiency``, ``demands.rate_bps``). ``days`` and
``step_s`` set the run itself. Tasks run on a local process pool, or on a Dask cluster
(``distributed.Client(address)``) when a scheduler address is given.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import yaml

from euroqci.errors import InvalidParameter, check_range
from euroqci.network.topology import Scenario
from euroqci.sim.engine import SimConfig

RUN_KEYS = ("days", "step_s")


@dataclass(frozen=True)
class Task:
    """One run of a sweep: the variant's values and the replication's seed."""

    scenario: Scenario
    values: tuple[tuple[str, object], ...]
    seed: int
    days: float
    step_s: float


def parse_vary(items: Sequence[str]) -> dict[str, list[object]]:
    """``["a.b=1,2", "c=x"]`` -> ``{"a.b": [1, 2], "c": ["x"]}`` (values read as YAML scalars)."""
    out: dict[str, list[object]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise InvalidParameter("--vary", item, "KEY=V1,V2,... e.g. failures.fiber_mttr_h=6,24")
        out[key.strip()] = [yaml.safe_load(v) for v in values.split(",")]
    return out


def _set(obj: object, path: list[str], value: object, full: str) -> object:
    if isinstance(obj, tuple):
        uses = [_has(x, path[0]) and getattr(x, path[0]) is not None for x in obj]
        if not any(uses):
            raise InvalidParameter("--vary", full, f"no element uses a field {path[0]!r}")
        return tuple(_set(x, path, value, full) if u else x for x, u in zip(obj, uses,
                                                                            strict=True))
    if not dataclasses.is_dataclass(obj) or not _has(obj, path[0]):
        raise InvalidParameter("--vary", full, f"{type(obj).__name__} has no field {path[0]!r}")
    if len(path) == 1:
        _check_type(obj, path[0], value, full)
    inner = value if len(path) == 1 else _set(getattr(obj, path[0]), path[1:], value, full)
    return dataclasses.replace(obj, **{path[0]: inner})


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _check_type(obj: object, name: str, value: object, full: str) -> None:
    """The value's YAML type against the field's annotation (``float | None``, ``bool``...):
    the dataclasses check ranges, not types, so ``abc`` or ``maybe`` would slip through."""
    kind = str(next(f.type for f in dataclasses.fields(obj) if f.name == name))
    item = f"{full}={value}"
    if value is None:
        if "None" not in kind:
            raise InvalidParameter("--vary", item, "cannot be null for this field")
    elif kind.startswith("bool"):
        if not isinstance(value, bool):
            raise InvalidParameter("--vary", item, "must be true or false")
    elif kind.split(" | ")[0] in ("float", "int") and not _is_number(value):
        raise InvalidParameter("--vary", item, "must be a number")


def _has(obj: object, name: str) -> bool:
    return dataclasses.is_dataclass(obj) and name in {f.name for f in dataclasses.fields(obj)}


def variant(scenario: Scenario, values: dict[str, object]) -> Scenario:
    """The scenario with each dotted-path field set (validation reruns on every object)."""
    for key, value in values.items():
        if key not in RUN_KEYS:
            scenario = _set(scenario, key.split("."), value, key)
    return scenario


def tasks(scenario: Scenario, vary: dict[str, list[object]], replications: int, *,
          days: float, step_s: float, seed: int = 1) -> list[Task]:
    """Every combination of the varied values x ``replications`` seeds (seed, seed+1, ...)."""
    if replications < 1:
        raise InvalidParameter("--replications", replications, "must be >= 1")
    for key in RUN_KEYS:
        for value in vary.get(key, []):
            if not _is_number(value):
                raise InvalidParameter("--vary", f"{key}={value}", "must be a number")
    keys = sorted(vary)
    out = []
    for combo in itertools.product(*(vary[k] for k in keys)):
        values = dict(zip(keys, combo, strict=True))
        scen = variant(scenario, values)  # fail early, before any worker starts
        for r in range(replications):
            task = Task(scen, tuple(values.items()), seed + r,
                        float(values.get("days", days)), float(values.get("step_s", step_s)))
            SimConfig(days=task.days, step_s=task.step_s, seed=task.seed)  # checks, early
            out.append(task)
    return out


def run_task(task: Task) -> dict:
    """Run one task; returns a row: the varied values, seed and the run's totals."""
    from euroqci.sim.runner import run_scenario

    out = run_scenario(task.scenario, SimConfig(days=task.days, step_s=task.step_s,
                                                seed=task.seed))
    return {**dict(task.values), "seed": task.seed, **out.summary["totals"],
            "runtime_s": out.summary["runtime_s"]}


def run_sweep(all_tasks: list[Task], *, scheduler: str | None = None, workers: int | None = None,
              on_done: Callable[[int], None] | None = None) -> list[dict]:
    """Run the tasks (a process pool, or the Dask scheduler at ``scheduler``); rows in task
    order."""
    done = on_done or (lambda n: None)
    if workers is not None:
        check_range("--workers", workers, low=1)
    if scheduler is not None:
        try:
            from distributed import Client, as_completed
        except ImportError as exc:
            raise InvalidParameter("--scheduler", scheduler,
                                   "needs Dask: pip install 'euroqci[cluster]'") from exc
        try:
            client = Client(scheduler)
        except (OSError, ValueError) as exc:  # unreachable or malformed address
            raise InvalidParameter("--scheduler", scheduler, f"cannot connect: {exc}") from None
        with client:
            futures = client.map(run_task, all_tasks, pure=False)
            for n, _ in enumerate(as_completed(futures), 1):
                done(n)
            return client.gather(futures)
    if workers == 1 or len(all_tasks) == 1:
        rows = []
        for task in all_tasks:
            rows.append(run_task(task))
            done(len(rows))
        return rows
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_task, t) for t in all_tasks]
        rows = []
        for n, fut in enumerate(futures, 1):
            rows.append(fut.result())
            done(n)
        return rows
