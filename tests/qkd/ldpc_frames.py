"""Test helpers shared by the BP kernel tests (``test_ldpc_kernels``, ``test_ldpc_fixed``):
frames through a binary symmetric channel, circulant lifts of a code, and a decoder run
with numba disabled."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np

from euroqci.qkd import _ldpc_kernels as kern
from euroqci.qkd._ldpc_construction import lift


def bsc_frames(code, n_frames, qber, seed, punctured=0, unit=None):
    """(LLRs, syndrome, true words) for random words seen through a BSC(qber), the first
    ``punctured`` symbols unknown to the decoder (LLR 0). LLRs in nats as float32, or with
    ``unit`` as int16 in units of 1/``unit`` (the fixed-point decoder's)."""
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2, (n_frames, code.n), dtype=np.uint8)
    noisy = words ^ (rng.random(words.shape) < qber).astype(np.uint8)
    sign = 1 - 2 * noisy.astype(np.int16)
    if unit is None:
        llr = (sign * math.log((1 - qber) / qber)).astype(np.float32)
    else:
        llr = (sign * round(unit * math.log((1 - qber) / qber))).astype(np.int16)
    llr[:, :punctured] = 0
    return llr, kern.syndromes(words, code.check_ptr, code.check_vars), words


def lift_code(code, z, seed):
    """A ``z``-fold circulant lift of ``code`` with seeded random shifts."""
    shifts = np.random.default_rng(seed).integers(0, z, code.check_vars.shape[0])
    ptr, cv = lift(code.check_ptr, code.check_vars, shifts, z)
    return SimpleNamespace(n=code.n * z, check_ptr=ptr, check_vars=cv)


def decode_without_jit(tmp_path, module, function, extra_args, cases):
    """``module.function(llr, syn, check_ptr, check_vars, *extra_args)`` for each (code,
    llr, syn) of ``cases`` in a subprocess with ``EUROQCI_DISABLE_JIT=1`` (plain Python on
    numpy vectors); ``extra_args`` is Python source with ``k`` for the module. Returns
    each call's outputs."""
    for i, (code, llr, syn) in enumerate(cases):
        np.savez(tmp_path / f"in{i}.npz", llr=llr, syn=syn, ptr=code.check_ptr,
                 vars=code.check_vars)
    script = (
        "import sys, numpy as np\n"
        f"from euroqci.qkd import {module} as k\n"
        f"assert not hasattr(k.{function}, 'py_func')\n"
        f"for i in range({len(cases)}):\n"
        "    d = np.load(f'{sys.argv[1]}/in{i}.npz')\n"
        f"    out = k.{function}(d['llr'], d['syn'], d['ptr'], d['vars'], {extra_args})\n"
        "    np.savez(f'{sys.argv[1]}/out{i}.npz', *out)\n")
    env = dict(os.environ, EUROQCI_DISABLE_JIT="1")
    subprocess.run([sys.executable, "-c", script, tmp_path], env=env, check=True, timeout=300)
    outs = []
    for i in range(len(cases)):
        plain = np.load(tmp_path / f"out{i}.npz")
        outs.append([plain[f"arr_{j}"] for j in range(len(plain.files))])
    return outs
