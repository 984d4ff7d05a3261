"""render: kernels that differ only in the sign of a zero constant are different code. The
renderer shares one function between equal kernels and emits each subexpression of a
statement once; both compare by K.exact_key, since the kernel dataclasses' own equality
has 0.0 == -0.0, and 1 / (x * 0.0) is +inf where 1 / (x * -0.0) is -inf."""

import ctypes

import numpy as np

from graphc.codegen_llvm.intrinsics import INTRINSICS
from graphc.codegen_llvm.jit import JITModule, compile_jit_object
from graphc.codegen_llvm.render import render_module
from graphc.ir import kernel as K
from graphc.options import Options

INDEX = K.Var("i")
X = K.Load("x", INDEX, "f32")
ONE = K.Const(1.0, "f32")


def _inverse_of_x_times(zero: float) -> K.Expr:
    return K.Binary("div", ONE, K.Binary("mul", X, K.Const(zero, "f32"), "f32"), "f32")


def _kernel(value: K.Expr) -> K.Kernel:
    buffers = (K.Buffer("out", "f32", K.Const(4)), K.Buffer("x", "f32", K.Const(4)))
    loop = K.Loop("i", K.Const(0), K.Const(4), (K.Store("out", INDEX, value),))
    return K.Kernel("k", buffers, (), (loop,))


def _run(kernels, arrays) -> None:
    """Run `kernels` in order, kernel j over (arrays[2j], arrays[2j + 1])."""
    position = {id(k): j for j, k in enumerate(kernels)}  # (equal kernels are not one)
    module = render_module(kernels, lambda k: [2 * position[id(k)], 2 * position[id(k)] + 1],
                           INTRINSICS)
    jit = JITModule.from_object(compile_jit_object(str(module), Options(opt_level=3)))
    run = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)(jit.address("graphc_run"))
    table = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
    assert run(table) == 0


def test_the_dataclasses_alone_take_the_two_zeros_for_one():
    assert K.Const(0.0, "f32") == K.Const(-0.0, "f32")
    assert K.exact_key(K.Const(0.0, "f32")) != K.exact_key(K.Const(-0.0, "f32"))
    assert K.exact_key(_kernel(_inverse_of_x_times(0.0))) == \
        K.exact_key(_kernel(_inverse_of_x_times(0.0)))


def test_kernels_differing_in_a_zeros_sign_get_functions_of_their_own():
    positive, negative = _kernel(_inverse_of_x_times(0.0)), _kernel(_inverse_of_x_times(-0.0))
    assert positive == negative  # by the dataclasses' equality
    x = np.ones(4, np.float32)
    out_p, out_n = np.zeros(4, np.float32), np.zeros(4, np.float32)
    _run([positive, negative], [out_p, x, out_n, x])
    assert np.all(out_p == np.inf) and np.all(out_n == -np.inf)


def test_one_statement_keeps_both_zeros():
    value = K.Binary("sub", _inverse_of_x_times(0.0), _inverse_of_x_times(-0.0), "f32")
    x, out = np.ones(4, np.float32), np.zeros(4, np.float32)
    _run([_kernel(value)], [out, x])
    assert np.all(out == np.inf)  # inf - (-inf); one zero for both would give nan


def test_a_value_read_twice_in_a_statement_is_emitted_once():
    sin = K.Unary("sin", X, "f32")
    value = K.Binary("mul", K.Unary("sin", X, "f32"), K.Binary("add", sin, ONE, "f32"), "f32")
    text = str(render_module([_kernel(value)], lambda k: [0, 1], INTRINSICS))
    assert text.count('call float @"graphc.sin.f32') == 1  # (.scalef with AVX-512)
