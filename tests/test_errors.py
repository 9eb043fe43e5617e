"""The error hierarchy: messages name the parameter, the value and what is allowed."""

import math

import pytest

from euroqci.errors import EuroQCIError, InvalidParameter, check_range


def test_invalid_parameter_is_value_error_and_names_everything():
    with pytest.raises(ValueError) as info:
        check_range("detector_efficiency", 1.5, low=0, high=1)
    err = info.value
    assert isinstance(err, InvalidParameter) and isinstance(err, EuroQCIError)
    assert "detector_efficiency" in str(err) and "1.5" in str(err) and "[0, 1]" in str(err)


def test_nan_rejected_and_valid_value_returned():
    with pytest.raises(InvalidParameter):
        check_range("x", math.nan)
    assert check_range("x", 0.0, low=0, low_inclusive=True) == 0.0
    with pytest.raises(InvalidParameter):
        check_range("x", 0.0, low=0, low_inclusive=False)
