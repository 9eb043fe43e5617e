"""Sweeps: dotted-path variants, replications, local pool and an in-process Dask cluster."""

import pytest

from euroqci.errors import InvalidParameter
from euroqci.sim.sweep import parse_vary, run_sweep, tasks, variant

from .scenarios import small_scenario


def test_parse_vary_reads_yaml_scalars():
    assert parse_vary(["failures.fiber_mttr_h=6,24", "failures.enabled=false"]) == {
        "failures.fiber_mttr_h": [6, 24], "failures.enabled": [False]}
    with pytest.raises(InvalidParameter, match="KEY=V1,V2"):
        parse_vary(["failures.fiber_mttr_h"])


def test_variant_sets_nested_fields_and_every_tuple_element():
    base = small_scenario()
    v = variant(base, {"network.fiber_links.device.detector_efficiency": 0.25,
                       "demands.rate_bps": 500.0, "planning.max_span_loss_db": 15.0})
    assert {f.device.detector_efficiency for f in v.network.fiber_links} == {0.25}
    assert [d.rate_bps for d in v.demands] == [500.0, None, None]
    assert v.planning.max_span_loss_db == 15.0 and base.planning.max_span_loss_db == 20.0
    with pytest.raises(InvalidParameter, match="no field 'nonsense'"):
        variant(base, {"failures.nonsense": 1})
    with pytest.raises(InvalidParameter):  # validation reruns: a probability above 1
        variant(base, {"network.fiber_links.device.detector_efficiency": 2.0})


def test_tasks_grid_times_replications():
    todo = tasks(small_scenario(), {"failures.fiber_mttr_h": [6, 24], "days": [0.25]}, 3,
                 days=7, step_s=10, seed=5)
    assert len(todo) == 6
    assert [t.seed for t in todo[:3]] == [5, 6, 7]
    assert {t.days for t in todo} == {0.25}
    assert {t.scenario.failures.fiber_mttr_h for t in todo} == {6, 24}


def test_sweep_in_process_and_on_a_dask_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("EUROQCI_CACHE_DIR", str(tmp_path))
    todo = tasks(small_scenario(), {"failures.enabled": [False, True]}, 1, days=0.25,
                 step_s=30)
    local = run_sweep(todo, workers=1)
    assert [r["failures.enabled"] for r in local] == [False, True]
    assert local[0]["failures"] == 0
    distributed = pytest.importorskip("distributed", reason="Dask is the optional 'cluster' extra")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = run_sweep(todo, scheduler=cluster.scheduler_address)
    assert [r["served_bits"] for r in remote] == [r["served_bits"] for r in local]


@pytest.mark.parametrize("values, message", [
    ({"failures.fiber_mttr_h": "abc"}, "must be a number"),
    ({"failures.enabled": "maybe"}, "must be true or false"),
    ({"failures.fiber_mttr_h": None}, "cannot be null"),
])
def test_variant_rejects_values_of_the_wrong_type(values, message):
    # the dataclasses check ranges, not types: a string would reach them (or slip through)
    with pytest.raises(InvalidParameter, match=message):
        variant(small_scenario(), values)


def test_variant_accepts_null_where_the_field_is_optional():
    v = variant(small_scenario(), {"planning.max_span_loss_db": None})
    assert v.planning.max_span_loss_db is None


def test_tasks_check_run_values_before_any_worker_starts():
    with pytest.raises(InvalidParameter, match="must be a number"):
        tasks(small_scenario(), {"days": ["abc"]}, 1, days=1, step_s=10)
    with pytest.raises(InvalidParameter, match="seed"):
        tasks(small_scenario(), {}, 1, days=1, step_s=10, seed=-1)


def test_invalid_parameter_survives_pickling():
    # what a process-pool or Dask worker sends back; it broke the pool before
    # (InvalidParameter's args hold only the message, its __init__ wants three)
    import pickle

    err = pickle.loads(pickle.dumps(InvalidParameter("tle", "1 garbage", "SGP4 cannot")))
    assert isinstance(err, InvalidParameter)
    assert (err.name, err.value, err.allowed) == ("tle", "1 garbage", "SGP4 cannot")
    assert str(err) == "invalid tle='1 garbage': SGP4 cannot"
