"""Optional numba JIT: ``njit`` compiles with numba when it is importable and enabled.

Set the environment variable ``EUROQCI_DISABLE_JIT=1`` (read once, at import) to run the
same kernels as plain Python, e.g. to debug them or to test both paths. The fallback is a
no-op decorator, as in pvlib's ``spa.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["JIT_ENABLED", "compile_as", "njit"]


def _jit_enabled() -> bool:
    if os.environ.get("EUROQCI_DISABLE_JIT", "").strip() not in ("", "0"):
        return False
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a declared dependency
        return False
    return True


JIT_ENABLED = _jit_enabled()


def njit(*args: Any, refcount: bool = True, **kwargs: Any) -> Callable:
    """``numba.njit(cache=True, ...)`` when JIT is enabled, else the function unchanged.

    Usable bare (``@njit``) or with options (``@njit(parallel=False)``).

    ``refcount=False`` compiles without numba's runtime (its ``_nrt`` option): the function
    may then not allocate arrays, but handling array arguments costs no reference counts.
    numba counts every alias of an array argument that an ``inline="always"`` helper
    creates with an atomic increment and decrement; in the Cascade kernel, which calls
    such helpers millions of times per block, these took half its CPU time (measured).
    """
    if JIT_ENABLED:
        import numba

        kwargs.setdefault("cache", True)
        if not refcount:
            kwargs["_nrt"] = False
        return numba.njit(*args, **kwargs)
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda func: func


def compile_as(py_func: Callable, impl: Callable) -> None:
    """Under numba, compile every call of ``py_func`` as a call of ``impl`` (a numba
    ``@intrinsic`` taking the same arguments); ``py_func`` stays what runs without numba.
    Only called when JIT is enabled (the SIMD primitives of ``_simd`` and ``_simd16``)."""
    from numba.extending import overload

    def typer(*args):  # numba wants the same parameters, annotations too, as the lambda
        return lambda *args: impl(*args)

    overload(py_func, jit_options={"cache": True})(typer)
