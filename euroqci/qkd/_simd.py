"""Explicit SIMD vectors of ``LANES`` float32 values for numba kernels.

numba's loop vectoriser does not reliably turn a loop over a few lanes into vector code
(a compile-time lane count is unrolled into scalar code; a runtime one pays alias checks
on every short loop), so the hot LDPC loops use these primitives instead: each is a plain
numpy function on float32 arrays of ``LANES`` elements (what runs without numba) and, under
numba, an ``@overload`` that emits one LLVM vector instruction sequence on ``<16 x float>``
(zmm registers with AVX-512, two ymm otherwise). The LLVM code has no fast-math flags, so
both paths give bit-identical results. Hand-written: numba has no portable SIMD type and no
maintained package adds one. numba's on-disk cache does not notice edits to this file in the
kernels that use it: clear their ``__pycache__`` after changing a primitive.
"""

from __future__ import annotations

import numpy as np

from euroqci.qkd._jit import JIT_ENABLED, compile_as

__all__ = ["LANES", "prefetch", "vabs", "vadd", "vconst", "vcount_neg", "vcount_neg_first",
           "vdiv", "vexponent", "vfma", "vload", "vload_split", "vmantissa", "vmax", "vmin", "vmul",
           "vpow2", "vrint", "vstore", "vstore_split", "vsub", "vsum", "vxor_sign", "vzeros"]

LANES = 16  # float32 lanes per vector: one 64-byte cache line, one AVX-512 register
_F = np.float32


def vzeros() -> np.ndarray:
    """A vector of zeros."""
    return np.zeros(LANES, dtype=_F)


def vload(a: np.ndarray, i: int) -> np.ndarray:
    """``a[i:i + LANES]`` of a contiguous 1-D float32 array (no bounds check under numba)."""
    return a[i:i + LANES].copy()


def vstore(a: np.ndarray, i: int, x: np.ndarray) -> None:
    """``a[i:i + LANES] = x``."""
    a[i:i + LANES] = x


def vload_split(a: np.ndarray, lo: int, hi: int, split: int) -> np.ndarray:
    """Lane l from ``a[lo + l]`` if l < ``split``, else from ``a[hi + l]`` (a rotated read,
    e.g. of a circulant block); ``a[lo:lo + LANES]`` and ``a[hi:hi + LANES]`` must lie in
    ``a`` (numba reads both)."""
    lane = np.arange(LANES)
    return a[np.where(lane < split, lo + lane, hi + lane)]


def vstore_split(a: np.ndarray, lo: int, hi: int, split: int, valid: int,
                 x: np.ndarray) -> None:
    """The lanes l < ``valid`` of x to ``a[lo + l]`` if l < ``split``, else ``a[hi + l]``."""
    for lane in range(min(valid, LANES)):
        a[(lo if lane < split else hi) + lane] = x[lane]


def vcount_neg_first(acc: np.ndarray, s: np.ndarray, valid: int) -> np.ndarray:
    """``acc + 1`` in the lanes l < ``valid`` where the sign bit of ``s`` is set."""
    return acc + (np.signbit(s) & (np.arange(LANES) < valid)).astype(_F)


def vsum(x: np.ndarray) -> float:
    """The sum of the lanes, in lane order."""
    total = _F(0.0)
    for v in x:
        total = _F(total + v)
    return total


def prefetch(a: np.ndarray, i: int) -> None:
    """Hint that ``a[i:i + LANES]`` will be read and written soon (no effect without numba)."""


def vadd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x + y (IEEE float32)."""
    return x + y


def vsub(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x - y (IEEE float32)."""
    return x - y


def vmul(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x * y (IEEE float32)."""
    return x * y


def vdiv(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x / y (IEEE float32)."""
    return x / y


def vfma(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """x * y + z rounded once (IEEE fused multiply-add, as the hardware instruction).

    numpy has no fma: x y is exact in float64, the float64 sum is rounded to odd (its
    rounding error from TwoSum decides the last bit), and rounding that to float32 is then
    the correctly rounded result (round-to-odd with >= 2 extra bits: Boldo & Melquiond,
    IEEE Trans. Comput. 57, 462 (2008))."""
    prod = x.astype(np.float64) * y.astype(np.float64)
    z64 = z.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = prod + z64
        virt = s - prod
        err = (prod - (s - virt)) + (z64 - virt)
        odd = (s.view(np.int64) & 1) == 1
        s = np.where((err != 0) & ~odd & np.isfinite(s),
                     np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    return s.astype(_F)


def vmin(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x if x < y else y`` per lane."""
    return np.where(x < y, x, y)


def vmax(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x if x > y else y`` per lane."""
    return np.where(x > y, x, y)


def vconst(c: float) -> np.ndarray:
    """A vector with every lane ``float32(c)``."""
    return np.full(LANES, c, dtype=_F)


def vrint(x: np.ndarray) -> np.ndarray:
    """x rounded to the nearest integer, ties to even."""
    return np.rint(x)


def vpow2(k: np.ndarray) -> np.ndarray:
    """2**k for integer-valued k in [-126, 127] (built in the exponent bits)."""
    return ((k.astype(np.int32) + 127) << 23).view(_F)


def vexponent(x: np.ndarray) -> np.ndarray:
    """The unbiased binary exponent of positive normal x, as float32 (floor(log2 x))."""
    return ((x.view(np.int32) >> 23) - 127).astype(_F)


def vmantissa(x: np.ndarray) -> np.ndarray:
    """The significand of positive normal x, in [1, 2)."""
    return ((x.view(np.int32) & 0x007FFFFF) | 0x3F800000).view(_F)


def vabs(x: np.ndarray) -> np.ndarray:
    """|x|."""
    return np.abs(x)


def vxor_sign(s: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``s`` negated in the lanes where the sign bit of ``x`` is set (XOR of sign bits:
    accumulates a parity in the sign bit)."""
    return (s.view(np.int32) ^ (x.view(np.int32) & np.int32(-(2**31)))).view(_F)


def vcount_neg(acc: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``acc + 1`` in the lanes where the sign bit of ``s`` is set (exact below 2^24)."""
    return acc + np.signbit(s).astype(_F)


if JIT_ENABLED:  # pragma: no branch - the numba implementations of the same primitives
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic, models, overload, register_model

    class _F32Vector(types.Type):
        def __init__(self) -> None:
            super().__init__(name=f"f32x{LANES}")

    f32vec = _F32Vector()
    _VTY = ir.VectorType(ir.FloatType(), LANES)
    _ITY = ir.VectorType(ir.IntType(32), LANES)

    @register_model(_F32Vector)
    class _F32VectorModel(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            super().__init__(dmm, fe_type, _VTY)

    def _splat(builder, value, vty):
        undef = ir.Constant(vty, ir.Undefined)
        one = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(one, undef, ir.Constant(_ITY, [0] * LANES))

    def _const(vty, value):
        return ir.Constant(vty, [value] * LANES)

    def _data_ptr(context, builder, arrty, arr, index):
        data = context.make_array(arrty)(context, builder, arr).data
        ptr = builder.gep(data, [index], source_etype=ir.FloatType())
        return builder.bitcast(ptr, _VTY.as_pointer())

    def _signbit(builder, x):
        return builder.icmp_signed("<", builder.bitcast(x, _ITY), _const(_ITY, 0))

    @intrinsic
    def _zeros(typingctx):
        return f32vec(), lambda ctx, b, sig, args: _const(_VTY, 0.0)

    @intrinsic
    def _load(typingctx, a, i):
        def codegen(context, builder, sig, args):
            ptr = _data_ptr(context, builder, sig.args[0], args[0], args[1])
            return builder.load(ptr, align=4, typ=_VTY)
        return f32vec(a, i), codegen

    @intrinsic
    def _store(typingctx, a, i, x):
        def codegen(context, builder, sig, args):
            ptr = _data_ptr(context, builder, sig.args[0], args[0], args[1])
            builder.store(args[2], ptr, align=4)
            return context.get_dummy_value()
        return types.none(a, i, x), codegen

    @intrinsic
    def _prefetch(typingctx, a, i):
        def codegen(context, builder, sig, args):
            ptr = _data_ptr(context, builder, sig.args[0], args[0], args[1])
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
                "llvm.prefetch.p0")
            builder.call(fn, [ptr, ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()
        return types.none(a, i), codegen

    _IOTA = ir.Constant(_ITY, list(range(LANES)))
    _MASK = ir.VectorType(ir.IntType(1), LANES)

    def _lanes_below(builder, bound):
        return builder.icmp_signed("<", _IOTA, _splat(builder, builder.trunc(bound, ir.IntType(32)),
                                                      _ITY))

    @intrinsic
    def _load_split(typingctx, a, lo, hi, split):
        def codegen(context, builder, sig, args):
            low = builder.load(_data_ptr(context, builder, sig.args[0], args[0], args[1]),
                               align=4, typ=_VTY)
            high = builder.load(_data_ptr(context, builder, sig.args[0], args[0], args[2]),
                                align=4, typ=_VTY)
            return builder.select(_lanes_below(builder, args[3]), low, high)
        return f32vec(a, lo, hi, split), codegen

    @intrinsic
    def _store_split(typingctx, a, lo, hi, split, valid, x):
        def codegen(context, builder, sig, args):
            below = _lanes_below(builder, args[3])
            keep = _lanes_below(builder, args[4])
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [_VTY, _VTY.as_pointer(),
                                                                ir.IntType(32), _MASK]),
                f"llvm.masked.store.v{LANES}f32.p0")
            align = ir.Constant(ir.IntType(32), 4)
            for index, mask in ((args[1], builder.and_(below, keep)),
                                (args[2], builder.and_(builder.not_(below), keep))):
                ptr = _data_ptr(context, builder, sig.args[0], args[0], index)
                builder.call(fn, [args[5], ptr, align, mask])
            return context.get_dummy_value()
        return types.none(a, lo, hi, split, valid, x), codegen

    @intrinsic
    def _count_neg_first(typingctx, acc, s, valid):
        def codegen(context, builder, sig, args):
            hit = builder.and_(_signbit(builder, args[1]), _lanes_below(builder, args[2]))
            one = builder.select(hit, _const(_VTY, 1.0), _const(_VTY, 0.0))
            return builder.fadd(args[0], one)
        return f32vec(acc, s, valid), codegen

    @intrinsic
    def _sum(typingctx, x):
        def codegen(context, builder, sig, args):
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.FloatType(), [ir.FloatType(), _VTY]),
                f"llvm.vector.reduce.fadd.v{LANES}f32")
            return builder.call(fn, [ir.Constant(ir.FloatType(), 0.0), args[0]])
        return types.float32(x), codegen

    def _binary(op):
        @intrinsic
        def impl(typingctx, x, y):
            return f32vec(x, y), lambda ctx, b, sig, args: getattr(b, op)(args[0], args[1])
        return impl

    _add, _sub = _binary("fadd"), _binary("fsub")
    _mul, _div = _binary("fmul"), _binary("fdiv")

    @intrinsic
    def _fma(typingctx, x, y, z):
        def codegen(context, builder, sig, args):
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(_VTY, [_VTY, _VTY, _VTY]),
                f"llvm.fma.v{LANES}f32")
            return builder.call(fn, args)
        return f32vec(x, y, z), codegen

    def _choose(op):
        @intrinsic
        def impl(typingctx, x, y):
            def codegen(context, builder, sig, args):
                return builder.select(builder.fcmp_ordered(op, args[0], args[1]), args[0], args[1])
            return f32vec(x, y), codegen
        return impl

    _min, _max = _choose("<"), _choose(">")

    @intrinsic
    def _splat_const(typingctx, c):
        def codegen(context, builder, sig, args):
            return _splat(builder, args[0], _VTY)
        return f32vec(types.float32), codegen

    @intrinsic
    def _rint(typingctx, x):
        def codegen(context, builder, sig, args):
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VTY, [_VTY]),
                                                f"llvm.rint.v{LANES}f32")
            return builder.call(fn, [args[0]])
        return f32vec(x), codegen

    @intrinsic
    def _pow2(typingctx, k):
        def codegen(context, builder, sig, args):
            bits = builder.add(builder.fptosi(args[0], _ITY), _const(_ITY, 127))
            return builder.bitcast(builder.shl(bits, _const(_ITY, 23)), _VTY)
        return f32vec(k), codegen

    @intrinsic
    def _exponent(typingctx, x):
        def codegen(context, builder, sig, args):
            bits = builder.ashr(builder.bitcast(args[0], _ITY), _const(_ITY, 23))
            return builder.sitofp(builder.sub(bits, _const(_ITY, 127)), _VTY)
        return f32vec(x), codegen

    @intrinsic
    def _mantissa(typingctx, x):
        def codegen(context, builder, sig, args):
            bits = builder.and_(builder.bitcast(args[0], _ITY), _const(_ITY, 0x007FFFFF))
            return builder.bitcast(builder.or_(bits, _const(_ITY, 0x3F800000)), _VTY)
        return f32vec(x), codegen

    @intrinsic
    def _abs(typingctx, x):
        def codegen(context, builder, sig, args):
            bits = builder.and_(builder.bitcast(args[0], _ITY), _const(_ITY, 0x7FFFFFFF))
            return builder.bitcast(bits, _VTY)
        return f32vec(x), codegen

    @intrinsic
    def _xor_sign(typingctx, s, x):
        def codegen(context, builder, sig, args):
            sign = builder.and_(builder.bitcast(args[1], _ITY), _const(_ITY, -(2**31)))
            return builder.bitcast(builder.xor(builder.bitcast(args[0], _ITY), sign), _VTY)
        return f32vec(s, x), codegen

    @intrinsic
    def _count_neg(typingctx, acc, s):
        def codegen(context, builder, sig, args):
            one = builder.select(_signbit(builder, args[1]), _const(_VTY, 1.0),
                                 _const(_VTY, 0.0))
            return builder.fadd(args[0], one)
        return f32vec(acc, s), codegen

    # each primitive compiles to its intrinsic
    for py_func, impl in (
        (vzeros, _zeros), (vload, _load), (vstore, _store), (vload_split, _load_split),
        (vstore_split, _store_split), (vcount_neg_first, _count_neg_first), (vsum, _sum),
        (prefetch, _prefetch), (vadd, _add), (vsub, _sub), (vmul, _mul), (vdiv, _div),
        (vfma, _fma), (vmin, _min), (vmax, _max), (vrint, _rint), (vpow2, _pow2),
        (vexponent, _exponent), (vmantissa, _mantissa), (vabs, _abs),
        (vxor_sign, _xor_sign), (vcount_neg, _count_neg),
    ):
        compile_as(py_func, impl)

    # vconst converts its constant to float32 first
    _OPTS = {"cache": True}

    @overload(vconst, jit_options=_OPTS)
    def _ol_const(c):
        return lambda c: _splat_const(np.float32(c))
