"""Explicit SIMD vectors of ``LANES`` int16 values for numba kernels (fixed-point LLRs).

The companion of :mod:`euroqci.qkd._simd` (float32) for the fixed-point LDPC decoder: each
primitive is a plain numpy function on int16 arrays of ``LANES`` elements (what runs
without numba) and, under numba, an ``@overload`` that emits LLVM vector code on
``<32 x i16>`` (one zmm register with AVX-512BW, two ymm with AVX2). Integer arithmetic,
so both paths give identical results. :func:`vlookup` (a 64-entry table lookup per lane)
is one ``vpermi2w`` instruction on hosts with AVX-512BW and a lane-by-lane loop elsewhere
(correct, slower). Hand-written for the reasons given in :mod:`euroqci.qkd._simd`.
"""

from __future__ import annotations

import numpy as np

from euroqci.qkd._jit import JIT_ENABLED, compile_as

__all__ = ["LANES", "TABLE_SIZE", "prefetch", "vabs", "vadds", "vand", "vcount_neg",
           "vcount_neg_below", "vflip", "vload",
           "vload_split", "vlookup", "vmax", "vmin", "vshr", "vsplat", "vstore", "vstore_split",
           "vsub", "vsubs", "vsubus", "vsum", "vxor"]

LANES = 32  # int16 lanes per vector: one 64-byte cache line, one AVX-512 register
TABLE_SIZE = 64  # entries of a vlookup table
_I = np.int16
_LO, _HI = -(2**15), 2**15 - 1


def vload(a: np.ndarray, i: int) -> np.ndarray:
    """``a[i:i + LANES]`` of a contiguous 1-D int16 array (no bounds check under numba)."""
    return a[i:i + LANES].copy()


def vstore(a: np.ndarray, i: int, x: np.ndarray) -> None:
    """``a[i:i + LANES] = x``."""
    a[i:i + LANES] = x


def vload_split(a: np.ndarray, lo: int, hi: int, split: int) -> np.ndarray:
    """Lane l from ``a[lo + l]`` if l < ``split``, else from ``a[hi + l]``; both
    ``a[lo:lo + LANES]`` and ``a[hi:hi + LANES]`` must lie in ``a``."""
    lane = np.arange(LANES)
    return a[np.where(lane < split, lo + lane, hi + lane)]


def vstore_split(a: np.ndarray, lo: int, hi: int, split: int, valid: int,
                 x: np.ndarray) -> None:
    """The lanes l < ``valid`` of x to ``a[lo + l]`` if l < ``split``, else ``a[hi + l]``."""
    for lane in range(min(valid, LANES)):
        a[(lo if lane < split else hi) + lane] = x[lane]


def prefetch(a: np.ndarray, i: int) -> None:
    """Hint that ``a[i:i + LANES]`` will be read and written soon (no effect without numba)."""


def vsplat(c: int) -> np.ndarray:
    """A vector with every lane ``int16(c)``."""
    return np.full(LANES, c, dtype=_I)


def vadds(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x + y saturated to [-32768, 32767]."""
    return np.clip(x.astype(np.int32) + y, _LO, _HI).astype(_I)


def vsubs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x - y saturated to [-32768, 32767]."""
    return np.clip(x.astype(np.int32) - y, _LO, _HI).astype(_I)


def vsub(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x - y modulo 2^16 (for operands whose difference fits)."""
    return (x.astype(np.int32) - y).astype(_I)


def vabs(x: np.ndarray) -> np.ndarray:
    """|x| (-32768 stays -32768, as the hardware instruction)."""
    return np.abs(x)


def vmin(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Lane-wise minimum."""
    return np.minimum(x, y)


def vmax(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Lane-wise maximum."""
    return np.maximum(x, y)


def vshr(x: np.ndarray, k: int) -> np.ndarray:
    """x >> k, arithmetic, 0 <= k <= 15."""
    return x >> k


def vand(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bitwise x & y."""
    return x & y


def vxor(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bitwise x ^ y (accumulates a parity in the sign bit)."""
    return x ^ y


def vflip(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``x`` negated in the lanes where the sign bit of ``s`` is set (x > -32768)."""
    m = s >> 15
    return ((x ^ m) - m).astype(_I)


def vcount_neg(acc: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``acc + 1`` (mod 2^16) in the lanes where the sign bit of ``s`` is set."""
    return (acc - (s >> 15)).astype(_I)


def vcount_neg_below(acc: np.ndarray, s: np.ndarray, valid: int) -> np.ndarray:
    """``acc + 1`` in the lanes l < ``valid`` where the sign bit of ``s`` is set."""
    return (acc + ((s < 0) & (np.arange(LANES) < valid))).astype(_I)


def vsum(x: np.ndarray) -> int:
    """The sum of the lanes (as a 64-bit integer)."""
    return int(x.astype(np.int64).sum())


def vlookup(lo: np.ndarray, hi: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Per lane, entry ``idx mod TABLE_SIZE`` of the table whose first ``LANES`` entries
    are the vector ``lo`` and the next ``LANES`` are ``hi``."""
    return np.concatenate([lo, hi])[idx % TABLE_SIZE]


def vsubus(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """max(x - y, 0) for x, y >= 0 (unsigned saturating subtraction)."""
    return np.maximum(x.astype(np.int32) - y, 0).astype(_I)


if JIT_ENABLED:  # pragma: no branch - the numba implementations of the same primitives
    import llvmlite.binding as llvm
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic, models, overload, register_model

    class _I16Vector(types.Type):
        def __init__(self) -> None:
            super().__init__(name=f"i16x{LANES}")

    i16vec = _I16Vector()
    _E = ir.IntType(16)
    _VTY = ir.VectorType(_E, LANES)
    _I32 = ir.IntType(32)
    _MASK = ir.VectorType(ir.IntType(1), LANES)
    _IOTA = ir.Constant(ir.VectorType(_I32, LANES), list(range(LANES)))
    # vpermi2w needs AVX-512BW; numba compiles for the host CPU
    _PERMW = bool(llvm.get_host_cpu_features().get("avx512bw", False))

    @register_model(_I16Vector)
    class _I16VectorModel(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            super().__init__(dmm, fe_type, _VTY)

    def _const(value):
        return ir.Constant(_VTY, [value] * LANES)

    def _splat_value(builder, v):
        undef = ir.Constant(_VTY, ir.Undefined)
        one = builder.insert_element(undef, v, ir.Constant(_I32, 0))
        return builder.shuffle_vector(one, undef,
                                      ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))

    def _ptr(context, builder, arrty, arr, index):
        data = context.make_array(arrty)(context, builder, arr).data
        return builder.bitcast(builder.gep(data, [index], source_etype=_E), _VTY.as_pointer())

    def _call(builder, name, ret, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ret, [a.type for a in args]), name)
        return builder.call(fn, args)

    def _lanes_below(builder, bound):
        b = builder.trunc(bound, _I32)
        undef = ir.Constant(ir.VectorType(_I32, LANES), ir.Undefined)
        splat = builder.shuffle_vector(builder.insert_element(undef, b, ir.Constant(_I32, 0)),
                                       undef, ir.Constant(ir.VectorType(_I32, LANES),
                                                          [0] * LANES))
        return builder.icmp_signed("<", _IOTA, splat)

    @intrinsic
    def _load(typingctx, a, i):
        def codegen(context, builder, sig, args):
            return builder.load(_ptr(context, builder, sig.args[0], args[0], args[1]),
                                align=2, typ=_VTY)
        return i16vec(a, i), codegen

    @intrinsic
    def _store(typingctx, a, i, x):
        def codegen(context, builder, sig, args):
            builder.store(args[2], _ptr(context, builder, sig.args[0], args[0], args[1]),
                          align=2)
            return context.get_dummy_value()
        return types.none(a, i, x), codegen

    @intrinsic
    def _load_split(typingctx, a, lo, hi, split):
        def codegen(context, builder, sig, args):
            low = builder.load(_ptr(context, builder, sig.args[0], args[0], args[1]),
                               align=2, typ=_VTY)
            high = builder.load(_ptr(context, builder, sig.args[0], args[0], args[2]),
                                align=2, typ=_VTY)
            return builder.select(_lanes_below(builder, args[3]), low, high)
        return i16vec(a, lo, hi, split), codegen

    @intrinsic
    def _store_split(typingctx, a, lo, hi, split, valid, x):
        def codegen(context, builder, sig, args):
            below = _lanes_below(builder, args[3])
            keep = _lanes_below(builder, args[4])
            for index, mask in ((args[1], builder.and_(below, keep)),
                                (args[2], builder.and_(builder.not_(below), keep))):
                ptr = _ptr(context, builder, sig.args[0], args[0], index)
                _call(builder, f"llvm.masked.store.v{LANES}i16.p0", ir.VoidType(),
                      [args[5], ptr, ir.Constant(_I32, 2), mask])
            return context.get_dummy_value()
        return types.none(a, lo, hi, split, valid, x), codegen

    @intrinsic
    def _prefetch(typingctx, a, i):
        def codegen(context, builder, sig, args):
            ptr = _ptr(context, builder, sig.args[0], args[0], args[1])
            _call(builder, "llvm.prefetch.p0", ir.VoidType(),
                  [ptr, ir.Constant(_I32, 1), ir.Constant(_I32, 3), ir.Constant(_I32, 1)])
            return context.get_dummy_value()
        return types.none(a, i), codegen

    @intrinsic
    def _splat(typingctx, c):
        def codegen(context, builder, sig, args):
            return _splat_value(builder, args[0])
        return i16vec(types.int16), codegen

    def _named(name):
        @intrinsic
        def impl(typingctx, x, y):
            def codegen(context, builder, sig, args):
                return _call(builder, f"llvm.{name}.v{LANES}i16", _VTY, list(args))
            return i16vec(x, y), codegen
        return impl

    _adds, _subs = _named("sadd.sat"), _named("ssub.sat")
    _subus = _named("usub.sat")
    _min, _max = _named("smin"), _named("smax")

    @intrinsic
    def _sub(typingctx, x, y):
        return i16vec(x, y), lambda ctx, b, sig, args: b.sub(args[0], args[1])

    @intrinsic
    def _and(typingctx, x, y):
        return i16vec(x, y), lambda ctx, b, sig, args: b.and_(args[0], args[1])

    @intrinsic
    def _xor(typingctx, x, y):
        return i16vec(x, y), lambda ctx, b, sig, args: b.xor(args[0], args[1])

    @intrinsic
    def _abs(typingctx, x):
        def codegen(context, builder, sig, args):
            return _call(builder, f"llvm.abs.v{LANES}i16", _VTY,
                         [args[0], ir.Constant(ir.IntType(1), 0)])
        return i16vec(x), codegen

    @intrinsic
    def _shr(typingctx, x, k):
        def codegen(context, builder, sig, args):
            return builder.ashr(args[0], _splat_value(builder, args[1]))
        return i16vec(x, types.int16), codegen

    @intrinsic
    def _flip(typingctx, x, s):
        def codegen(context, builder, sig, args):
            neg = builder.icmp_signed("<", args[1], _const(0))
            return builder.select(neg, builder.sub(_const(0), args[0]), args[0])
        return i16vec(x, s), codegen

    @intrinsic
    def _count_neg(typingctx, acc, s):
        def codegen(context, builder, sig, args):
            return builder.sub(args[0], builder.ashr(args[1], _const(15)))
        return i16vec(acc, s), codegen

    @intrinsic
    def _count_neg_below(typingctx, acc, s, valid):
        def codegen(context, builder, sig, args):
            hit = builder.and_(builder.icmp_signed("<", args[1], _const(0)),
                               _lanes_below(builder, args[2]))
            return builder.add(args[0], builder.zext(hit, _VTY))
        return i16vec(acc, s, valid), codegen

    @intrinsic
    def _sum(typingctx, x):
        def codegen(context, builder, sig, args):
            wide = builder.sext(args[0], ir.VectorType(_I32, LANES))
            total = _call(builder, f"llvm.vector.reduce.add.v{LANES}i32", _I32, [wide])
            return builder.sext(total, ir.IntType(64))
        return types.int64(x), codegen

    @intrinsic
    def _lookup(typingctx, lo, hi, idx):
        def codegen(context, builder, sig, args):
            lo, hi, idx = args
            if _PERMW:
                return _call(builder, "llvm.x86.avx512.vpermi2var.hi.512", _VTY, [lo, idx, hi])
            # elsewhere lane by lane (an extractelement with a variable index: via memory)
            both = builder.shuffle_vector(lo, hi, ir.Constant(ir.VectorType(_I32, 2 * LANES),
                                                              list(range(2 * LANES))))
            wrap = builder.and_(idx, _const(TABLE_SIZE - 1))
            out = ir.Constant(_VTY, ir.Undefined)
            for lane in range(LANES):
                i = builder.extract_element(wrap, ir.Constant(_I32, lane))
                out = builder.insert_element(out, builder.extract_element(both, i),
                                             ir.Constant(_I32, lane))
            return out
        return i16vec(lo, hi, idx), codegen

    # each primitive compiles to its intrinsic
    for py_func, impl in (
        (vload, _load), (vstore, _store), (vload_split, _load_split),
        (vstore_split, _store_split), (prefetch, _prefetch), (vadds, _adds), (vsubs, _subs),
        (vsub, _sub), (vabs, _abs), (vmin, _min), (vmax, _max), (vand, _and), (vxor, _xor),
        (vflip, _flip), (vcount_neg, _count_neg), (vcount_neg_below, _count_neg_below),
        (vsum, _sum), (vlookup, _lookup), (vsubus, _subus),
    ):
        compile_as(py_func, impl)

    # vsplat and vshr convert their constant to int16 first
    _OPTS = {"cache": True}

    @overload(vsplat, jit_options=_OPTS)
    def _ol_splat(c):
        return lambda c: _splat(np.int16(c))

    @overload(vshr, jit_options=_OPTS)
    def _ol_shr(x, k):
        return lambda x, k: _shr(x, np.int16(k))
