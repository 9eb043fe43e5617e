import numpy as np
import pytest

from euroqci.physics.fiber import fiber_loss_db, loss_db_from_transmittance, transmittance


def test_fiber_loss_and_transmittance_broadcast():
    loss = fiber_loss_db(np.array([0.0, 50.0, 100.0]), 0.2, extra_loss_db=1.0)
    np.testing.assert_allclose(loss, [1.0, 11.0, 21.0])
    # 10 dB is a factor 10, 3.0103 dB a factor 2
    np.testing.assert_allclose(transmittance([10.0, 10 * np.log10(2)]), [0.1, 0.5])
    np.testing.assert_allclose(loss_db_from_transmittance(transmittance(loss)), loss)


def test_transmittance_of_zero_loss_is_one():
    assert transmittance(0.0) == pytest.approx(1.0)
