"""Small hand-built models for the digital-twin tests."""

import numpy as np
import pytest

from euroqci.sim.model import SimModel


def chain_model(rates_bps=(1000.0, 500.0, 2000.0), request_bits=8000.0, interval_s=10.0,
                capacity_bits=1e6, **kw) -> SimModel:
    """A-B-C-D, one demand A->D: the hand-calculable chain of three links."""
    return SimModel(
        "chain", ("A", "B", "C", "D"), (("A", "B"), ("B", "C"), ("C", "D")), ("fiber",) * 3,
        np.array(rates_bps, dtype=float), np.full(3, capacity_bits), np.array([10.0, 20, 30]),
        np.array([2.0, 4, 6]), (("A", "D"),), np.array([request_bits]), np.array([interval_s]),
        **kw)


def tree_model(**kw) -> SimModel:
    """A star with a tail (unique paths, shared links): hub H; leaves A, B, C; C-D tail."""
    links = (("A", "H"), ("B", "H"), ("C", "D"), ("C", "H"))
    return SimModel(
        "tree", ("A", "B", "C", "D", "H"), links, ("fiber",) * 4,
        np.array([900.0, 400.0, 700.0, 1200.0]), np.array([5e4, 2e4, 1e5, 3e4]),
        np.full(4, 50.0), np.full(4, 10.0),
        (("A", "B"), ("A", "D"), ("B", "C"), ("D", "H")),
        np.array([3000.0, 2560.0, 1000.0, 4000.0]), np.array([10.0, 30.0, 5.0, 20.0]), **kw)


@pytest.fixture
def chain():
    return chain_model()
