import numpy as np
import pytest

from euroqci.errors import InvalidParameter
from euroqci.physics.detectors import Detector
from euroqci.physics.link import LinkParameters


def test_link_from_fiber_vectorised():
    link = LinkParameters.from_fiber(
        [10.0, 100.0], 0.2, extra_loss_db=1.0, detector=Detector(efficiency=0.2)
    )
    np.testing.assert_allclose(link.loss_db, [3.0, 21.0])
    np.testing.assert_allclose(link.total_transmittance, 0.2 * 10 ** (-np.array([0.3, 2.1])))


@pytest.mark.parametrize(
    "kwargs", [{"loss_db": -1.0}, {"sifting": "lazy"}, {"ec_efficiency": 0.9}, {"rep_rate_hz": 0.0}]
)
def test_link_rejects_bad_values(kwargs):
    with pytest.raises(InvalidParameter):
        LinkParameters(**kwargs)


def test_negative_length_rejected():
    with pytest.raises(InvalidParameter, match="length_km"):
        LinkParameters.from_fiber(-5.0)
