import numpy as np
import pytest

from euroqci.physics.bounds import binary_entropy, plob_bound


def test_binary_entropy_values():
    np.testing.assert_allclose(binary_entropy([0.0, 0.5, 1.0]), [0.0, 1.0, 0.0])
    assert binary_entropy(0.11) == pytest.approx(0.4999, abs=1e-3)


def test_plob_bound():
    # PLOB (Pirandola et al. Nat. Commun. 8, 15043, 2017): -log2(1 - eta); ~1.44 eta at low eta
    assert plob_bound(0.5) == pytest.approx(1.0)
    assert plob_bound(1e-6) == pytest.approx(1e-6 / np.log(2), rel=1e-5)
    assert plob_bound(0.0) == 0.0
