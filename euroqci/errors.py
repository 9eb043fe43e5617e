"""The one exception hierarchy of euroqci.

::

    EuroQCIError
     +-- InvalidParameter (ValueError)      a parameter out of its allowed range or form
     +-- ProtocolAbort (RuntimeError)       a QKD block aborted (no key), with the reason
     +-- ChannelError (ConnectionError)     the classical channel failed or was tampered with
     +-- KeyManagementError                 a KMS failure, mapped to an ETSI 014 error body
     |    +-- KeyNotFound (LookupError)
     |    +-- KeyUnavailable                not enough key in the store (ETSI 014: 503)
     |    +-- Unauthorized (PermissionError)
     |    +-- RequestRejected (ValueError)  a request the protocol rejects (ETSI 014: 400)
     +-- ScenarioError (ValueError)         a malformed scenario or topology file

Messages name the parameter, the value given and what is allowed, so that the CLI can
print them as one line and the KMS can return them as the protocol's error body.
"""

from __future__ import annotations


class EuroQCIError(Exception):
    """Base class of every error raised by euroqci on purpose."""


class InvalidParameter(EuroQCIError, ValueError):
    """A parameter is outside its allowed range or form.

    Build it with :func:`invalid` so that every message has the same shape.
    """

    def __init__(self, name: str, value: object, allowed: str):
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {name}={value!r}: {allowed}")

    def __reduce__(self):
        # pickle with the three arguments (self.args holds only the message), so the error
        # survives a process pool or Dask worker (euroqci sweep)
        return (type(self), (self.name, self.value, self.allowed))


class ProtocolAbort(EuroQCIError, RuntimeError):
    """A QKD post-processing block was aborted; ``reason`` says why. No key leaves."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class ChannelError(EuroQCIError, ConnectionError):
    """The classical channel dropped, timed out or failed authentication."""


class KeyManagementError(EuroQCIError):
    """A Key Management Entity could not serve a request."""


class KeyNotFound(KeyManagementError, LookupError):
    """A key ID is unknown, or was already delivered."""


class KeyUnavailable(KeyManagementError):
    """Not enough key material is stored to serve the request."""


class Unauthorized(KeyManagementError, PermissionError):
    """The caller is not allowed to do this."""


class RequestRejected(KeyManagementError, ValueError):
    """A request the key-delivery protocol rejects (ETSI 014: HTTP 400).

    ``message`` is the protocol's own text (e.g. ETSI GS QKD 014's "size shall be a multiple
    of 8"); ``details`` are name/value pairs returned with it.
    """

    def __init__(self, message: str, details: list[dict] | None = None):
        self.message = message
        self.details = list(details or [])
        super().__init__(message)


class ScenarioError(EuroQCIError, ValueError):
    """A scenario, network description or topology file is malformed."""


def check_range(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` if it lies in the interval, else raise :class:`InvalidParameter`.

    NaN is always rejected. Works on scalars; check arrays with ``numpy`` and raise
    :class:`InvalidParameter` yourself.
    """
    bad = value != value  # NaN
    if low is not None:
        bad = bad or (value < low if low_inclusive else value <= low)
    if high is not None:
        bad = bad or (value > high if high_inclusive else value >= high)
    if bad:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        left = "[" if low_inclusive and low is not None else "("
        right = "]" if high_inclusive and high is not None else ")"
        raise InvalidParameter(name, value, f"must be in {left}{lo}, {hi}{right}")
    return value
