"""Differential tests of engine.fpu.softfloat against the host's IEEE doubles.

Python floats are binary64 with round-to-nearest-even, so for RNE the
binary64 results of add/sub/mul/div/sqrt must match bit for bit.  For
binary32, the double result rounded once more to binary32 is the correctly
rounded binary32 result: 53 >= 2*24 + 2, which makes this double rounding
innocuous for these five operations (and binary64's range holds every
binary32 product and quotient exactly enough to avoid its own under/overflow).
The host exposes no flags, so only results are compared here.
"""

import math
import operator
import random
import struct

import pytest

from engine.fpu.softfloat import F32, F64, RNE, add, div, mul, sqrt, sub

CASES = 4000


def as_f64(x: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", x))[0]


def f64_bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def as_f32(x: int) -> float:
    return struct.unpack("<f", struct.pack("<I", x))[0]


def f32_bits(x: float) -> int:
    """Round a double to binary32 (RNE), mapping overflow to infinity."""
    try:
        return struct.unpack("<I", struct.pack("<f", x))[0]
    except OverflowError:
        # struct refuses values that round to infinity; that is the answer.
        return 0x7F800000 if x > 0 else 0xFF800000


def host_div(x: float, y: float) -> float:
    if y == 0.0:
        if x == 0.0 or math.isnan(x):
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


def host_sqrt(x: float) -> float:
    if x < 0.0:
        return math.nan
    return math.sqrt(x)


def random_bits(rng: random.Random, fmt) -> int:
    r = rng.random()
    if r < 0.5:
        return rng.getrandbits(fmt.width)
    # Moderate exponents make cancellation, subnormal and overflow cases
    # less rare than uniformly random patterns do.
    e = rng.choice(
        [
            rng.randint(fmt.bias - 30, fmt.bias + 30),
            rng.randint(0, 40),
            rng.randint(fmt.exp_max - 40, fmt.exp_max - 1),
        ]
    )
    return (
        (rng.getrandbits(1) << (fmt.width - 1))
        | (e << fmt.frac_bits)
        | rng.getrandbits(fmt.frac_bits)
    )


def expect_bits(fmt, result: float) -> int:
    if math.isnan(result):
        return fmt.canonical_nan
    return f32_bits(result) if fmt is F32 else f64_bits(result)


OPS = [
    ("add", add, operator.add),
    ("sub", sub, operator.sub),
    ("mul", mul, operator.mul),
    ("div", div, host_div),
]


@pytest.mark.parametrize("fmt", [F32, F64], ids=repr)
@pytest.mark.parametrize(("name", "op", "host"), OPS, ids=[o[0] for o in OPS])
def test_binary_ops_match_host(fmt, name, op, host):
    rng = random.Random(f"host-{name}-{fmt.width}")
    to_float = as_f32 if fmt is F32 else as_f64
    for _ in range(CASES):
        a = random_bits(rng, fmt)
        b = random_bits(rng, fmt)
        if rng.random() < 0.2:
            b = (a ^ fmt.sign_mask) + rng.randint(-2, 2)  # cancellation
        expected = expect_bits(fmt, host(to_float(a), to_float(b)))
        assert op(fmt, a, b, RNE)[0] == expected, (hex(a), hex(b))


@pytest.mark.parametrize("fmt", [F32, F64], ids=repr)
def test_sqrt_matches_host(fmt):
    rng = random.Random(f"host-sqrt-{fmt.width}")
    to_float = as_f32 if fmt is F32 else as_f64
    for _ in range(CASES):
        a = random_bits(rng, fmt)
        if rng.random() < 0.8:
            a &= fmt.mag_mask
        expected = expect_bits(fmt, host_sqrt(to_float(a)))
        assert sqrt(fmt, a, RNE)[0] == expected, hex(a)
