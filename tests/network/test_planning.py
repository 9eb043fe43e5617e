"""Trusted-node planning: span limits, positions along the great circle."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.errors import InvalidParameter
from euroqci.network.planning import plan_trusted_nodes, spans_needed
from euroqci.network.topology import FiberLink, Network, PlanningOptions, Site, great_circle_km

A = Site("A", "A", "DE", 50.0, 8.0, "capital")
B = Site("B", "B", "PL", 52.0, 16.0, "capital")


def test_spans_needed_loss_and_reach():
    link = FiberLink("A", "B", 300.0, attenuation_db_per_km=0.2, extra_loss_db=2.0)
    # 60 dB of fiber, 18 dB of room per span -> ceil(3.33) = 4 spans of 75 km (17 dB + 2 dB)
    assert spans_needed(link, PlanningOptions(max_span_loss_db=20)) == 4
    assert spans_needed(link, PlanningOptions(max_span_loss_db=None, max_span_km=100)) == 3
    assert spans_needed(link, PlanningOptions(max_span_loss_db=20, max_span_km=50)) == 6
    assert spans_needed(link, PlanningOptions(max_span_loss_db=2)) is None


def test_plan_splits_evenly_on_great_circle():
    d_km = float(great_circle_km(A.lat, A.lon, B.lat, B.lon))
    net = Network((A, B), (FiberLink.between(A, B, route_factor=1.3, extra_loss_db=2.0),))
    res = plan_trusted_nodes(net, PlanningOptions(max_span_loss_db=20))
    n_spans = len(res.network.fiber_links)
    assert len(res.added) == n_spans - 1 >= 1
    for link in res.network.fiber_links:
        assert link.loss_db <= 20 + 1e-9
        assert link.length_km == pytest.approx(d_km * 1.3 / n_spans)
    # consecutive nodes equally spaced on the great circle
    chain = [A] + [a.site for a in res.added] + [B]
    gaps = [float(great_circle_km(u.lat, u.lon, v.lat, v.lon))
            for u, v in zip(chain, chain[1:], strict=False)]
    assert gaps == pytest.approx([d_km / n_spans] * n_spans, rel=1e-3)
    assert [a.fraction for a in res.added] == pytest.approx(
        [i / n_spans for i in range(1, n_spans)])
    assert res.added[0].site.country == "DE" and res.added[-1].site.country == "PL"
    assert res.network.graph().number_of_edges() == n_spans


def test_submarine_link_is_reported_not_split():
    link = FiberLink("A", "B", 200.0, submarine=True)
    res = plan_trusted_nodes(Network((A, B), (link,)), PlanningOptions(max_span_loss_db=20))
    assert res.added == () and res.over_budget == (("A", "B"),)


@settings(max_examples=80, deadline=None)
@given(length=st.floats(1, 3000), att=st.floats(0.15, 0.4), extra=st.floats(0, 10),
       budget=st.floats(5, 40), reach=st.one_of(st.none(), st.floats(20, 200)))
def test_spans_needed_is_the_fewest_that_fit(length, att, extra, budget, reach):
    link = FiberLink("A", "B", length, attenuation_db_per_km=att, extra_loss_db=extra)
    opts = PlanningOptions(max_span_loss_db=budget, max_span_km=reach)
    n = spans_needed(link, opts)
    if extra >= budget:
        assert n is None
        return

    def fits(k):
        return (att * length / k + extra <= budget + 1e-9
                and (reach is None or length / k <= reach + 1e-9))

    assert fits(n) and (n == 1 or not fits(n - 1))


@pytest.mark.parametrize("limits", [{"max_span_loss_db": -5.0}, {"max_span_km": 0.0}])
def test_planning_limits_must_be_positive(limits):
    # a negative budget was accepted and left every link over budget without a word
    with pytest.raises(InvalidParameter):
        PlanningOptions(**limits)
