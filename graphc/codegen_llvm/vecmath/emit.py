"""vecmath's IR builder: float arithmetic, intrinsics and bit tricks on one type, the
vocabulary the function bodies in vecmath/exp_log.py and vecmath/trig.py are written in."""

from __future__ import annotations

from llvmlite import ir

F32, F64 = ir.FloatType(), ir.DoubleType()


class _Emitter:
    """Arithmetic on one float type (and the same-width integer type) over an IRBuilder.
    Python numbers passed as operands become constants of the float type."""

    def __init__(self, builder: ir.IRBuilder, ty: ir.Type, scalef: bool = False):
        self.b, self.ty = builder, ty
        self.scalef = scalef  # ldexp is one instruction (AVX-512's vscalef), see ldexp
        self.key = ty.intrinsic_name
        wide = self.key == "f64"
        self.ity = ir.IntType(64 if wide else 32)
        self.mant, self.bias = (52, 1023) if wide else (23, 127)

    def wide(self) -> _Emitter:
        return _Emitter(self.b, F64, self.scalef)

    def v(self, x):
        return x if isinstance(x, ir.Value) else ir.Constant(self.ty, x)

    def i(self, x):
        return x if isinstance(x, ir.Value) else ir.Constant(self.ity, x)

    def add(self, a, b):
        return self.b.fadd(self.v(a), self.v(b))

    def sub(self, a, b):
        return self.b.fsub(self.v(a), self.v(b))

    def mul(self, a, b):
        return self.b.fmul(self.v(a), self.v(b))

    def div(self, a, b):
        return self.b.fdiv(self.v(a), self.v(b))

    def neg(self, a):
        return self.b.fneg(self.v(a))

    def fma(self, a, b, c):
        return self._intrinsic("llvm.fma", a, b, c)

    def abs(self, a):
        return self._intrinsic("llvm.fabs", a)

    def floor(self, a):
        return self._intrinsic("llvm.floor", a)

    def rint(self, a):
        return self._intrinsic("llvm.rint", a)

    def copysign(self, mag, sign):
        return self._intrinsic("llvm.copysign", mag, sign)

    def _intrinsic(self, name, *args):
        module, fname = self.b.module, f"{name}.{self.key}"
        fn = module.globals.get(fname)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(self.ty, [self.ty] * len(args)), fname)
        return self.b.call(fn, [self.v(a) for a in args])

    def cmp(self, op, a, b):
        """Ordered comparison: false when either side is nan."""
        return self.b.fcmp_ordered(op, self.v(a), self.v(b))

    def isnan(self, a):
        return self.b.fcmp_unordered("uno", a, a)

    def sel(self, cond, a, b):
        return self.b.select(cond, self.v(a), self.v(b))

    def clamp(self, x, lo, hi):
        """min(max(x, lo), hi) with nan mapped to lo, so later integer conversions are defined."""
        return self.sel(self.cmp(">=", x, lo), self.sel(self.cmp(">", x, hi), hi, x), lo)

    def poly(self, x, coeffs):
        """Horner's rule with fma: coeffs[0] + coeffs[1]*x + ..."""
        acc = self.v(coeffs[-1])
        for c in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, c)
        return acc

    def bits(self, x):
        return self.b.bitcast(x, self.ity)

    def from_bits(self, n):
        return self.b.bitcast(n, self.ty)

    def to_int(self, x):
        return self.b.fptosi(x, self.ity)

    def to_float(self, n):
        return self.b.sitofp(n, self.ty)

    def pow2(self, n):
        """2**n for an integer n in the normal exponent range: the exponent field alone."""
        return self.from_bits(self.b.shl(self.b.add(n, self.i(self.bias)), self.i(self.mant)))

    def ldexp(self, x, n):
        """x * 2**n rounded once (llvm.ldexp): only where it is one instruction (self.scalef);
        elsewhere LLVM makes it a call to libm's ldexp per lane."""
        module, fname = self.b.module, f"llvm.ldexp.{self.key}.i{self.ity.width}"
        fn = module.globals.get(fname)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(self.ty, [self.ty, self.ity]), fname)
        return self.b.call(fn, [self.v(x), self.i(n)])

    def clamp_keep_nan(self, x, lo, hi):
        """min(max(x, lo), hi), nan staying nan (for code with no float-to-int conversion,
        which nan makes poison). Each select tests the value it passes on, so each is one
        x86 min or max (whose second operand, here the value, is what a nan gives), not a
        comparison and a blend: softmax's exp 4% faster on AVX2."""
        y = self.sel(self.cmp(">", x, hi), hi, x)
        return self.sel(self.cmp("<", y, lo), lo, y)

    def two_sum(self, a, b):
        """(s, err) with s = fl(a + b) and a + b = s + err exactly (Knuth)."""
        s = self.add(a, b)
        bb = self.sub(s, a)
        return s, self.add(self.sub(a, self.sub(s, bb)), self.sub(b, bb))


def _nan(e):
    return e.v(float("nan"))
