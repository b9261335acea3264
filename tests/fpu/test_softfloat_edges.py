"""Table tests for engine.fpu.softfloat: the RISC-V F/D edge cases, spelled out.

Each table row reads as a statement of the semantics: operands, rounding
mode, expected bit pattern and expected fflags.
"""

import struct

import pytest

from engine.fpu.softfloat import (
    CANONICAL_NAN,
    DZ,
    F32,
    F64,
    NV,
    NX,
    OF,
    RDN,
    RMM,
    RNE,
    RTZ,
    RUP,
    UF,
    add,
    classify,
    convert,
    div,
    eq,
    fma,
    from_int,
    le,
    lt,
    max_,
    min_,
    mul,
    sqrt,
    sub,
    to_int,
)

ALL_RM = [RNE, RTZ, RDN, RUP, RMM]
FORMATS = [F32, F64]


def d(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def s(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def bits(fmt, x: float) -> int:
    return s(x) if fmt is F32 else d(x)


class Consts:
    """Named bit patterns of one format."""

    def __init__(self, fmt):
        self.fmt = fmt
        self.pz = 0
        self.nz = fmt.sign_mask
        self.one = fmt.bias << fmt.frac_bits
        self.two = (fmt.bias + 1) << fmt.frac_bits
        self.half = (fmt.bias - 1) << fmt.frac_bits
        self.inf = fmt.inf
        self.ninf = fmt.inf | fmt.sign_mask
        self.max = fmt.max_finite
        self.min_sub = 1
        self.max_sub = fmt.hidden - 1
        self.min_norm = fmt.min_normal
        self.qnan = fmt.canonical_nan
        self.qnan_payload = fmt.canonical_nan | 0x55  # quiet, with a payload
        self.snan = fmt.inf | 1
        self.neg_snan = fmt.inf | fmt.sign_mask | 0x2A

    def neg(self, x: int) -> int:
        return x ^ self.fmt.sign_mask


@pytest.fixture(params=FORMATS, ids=repr)
def c(request):
    return Consts(request.param)


# ---------------------------------------------------------------- constants


def test_format_constants():
    assert (F32.width, F32.bias, F32.prec, F32.emin, F32.emax) == (32, 127, 24, -126, 127)
    assert (F64.width, F64.bias, F64.prec, F64.emin, F64.emax) == (64, 1023, 53, -1022, 1023)
    assert CANONICAL_NAN[F32] == F32.canonical_nan == 0x7FC00000
    assert CANONICAL_NAN[F64] == F64.canonical_nan == 0x7FF8000000000000
    assert F32.max_finite == s(3.4028234663852886e38)
    assert F64.max_finite == d(1.7976931348623157e308)
    assert F32.is_signaling_nan(0x7F800001) and not F32.is_signaling_nan(0x7FC00000)
    assert F64.is_nan(0xFFF0000000000001) and not F64.is_nan(F64.inf)


# ------------------------------------------------------------- signed zeros


@pytest.mark.parametrize("rm", ALL_RM)
def test_signed_zero_sums(c, rm):
    exact_zero = c.nz if rm == RDN else c.pz
    # Opposite-signed zeros and exact cancellation give +0, or -0 in RDN.
    assert add(c.fmt, c.pz, c.nz, rm) == (exact_zero, 0)
    assert add(c.fmt, c.nz, c.pz, rm) == (exact_zero, 0)
    assert sub(c.fmt, c.pz, c.pz, rm) == (exact_zero, 0)
    assert sub(c.fmt, c.one, c.one, rm) == (exact_zero, 0)
    assert add(c.fmt, c.max_sub, c.neg(c.max_sub), rm) == (exact_zero, 0)
    # Same-signed zeros keep their sign in every mode.
    assert add(c.fmt, c.nz, c.nz, rm) == (c.nz, 0)
    assert add(c.fmt, c.pz, c.pz, rm) == (c.pz, 0)
    assert sub(c.fmt, c.nz, c.pz, rm) == (c.nz, 0)
    # x + 0 is x exactly, whatever the zero's sign.
    assert add(c.fmt, c.min_sub, c.nz, rm) == (c.min_sub, 0)
    assert add(c.fmt, c.nz, c.neg(c.max), rm) == (c.neg(c.max), 0)


@pytest.mark.parametrize("rm", ALL_RM)
def test_signed_zero_products_and_fma(c, rm):
    exact_zero = c.nz if rm == RDN else c.pz
    assert mul(c.fmt, c.nz, c.one, rm) == (c.nz, 0)
    assert mul(c.fmt, c.nz, c.neg(c.max), rm) == (c.pz, 0)
    assert div(c.fmt, c.nz, c.two, rm) == (c.nz, 0)
    # fma: exact zero from cancellation follows the add rule ...
    assert fma(c.fmt, c.one, c.one, c.neg(c.one), rm) == (exact_zero, 0)
    # ... as does a zero product plus a zero addend ...
    assert fma(c.fmt, c.nz, c.one, c.pz, rm) == (exact_zero, 0)
    assert fma(c.fmt, c.nz, c.one, c.nz, rm) == (c.nz, 0)
    assert fma(c.fmt, c.pz, c.one, c.pz, rm, negate_product=True, negate_addend=True) == (
        c.nz,
        0,
    )
    # ... while a zero product leaves a nonzero addend untouched.
    assert fma(c.fmt, c.pz, c.max, c.min_sub, rm) == (c.min_sub, 0)


def test_tiny_product_rounding_to_zero_keeps_sign(c):
    # min_sub * 0.5 is an exact tie between 0 and min_sub.
    neg_half = c.neg(c.half)
    assert mul(c.fmt, c.min_sub, neg_half, RNE) == (c.nz, UF | NX)
    assert mul(c.fmt, c.min_sub, neg_half, RTZ) == (c.nz, UF | NX)
    assert mul(c.fmt, c.min_sub, neg_half, RUP) == (c.nz, UF | NX)
    assert mul(c.fmt, c.min_sub, neg_half, RDN) == (c.neg(c.min_sub), UF | NX)
    assert mul(c.fmt, c.min_sub, neg_half, RMM) == (c.neg(c.min_sub), UF | NX)
    # A nonzero product plus a zero addend is just the rounded product.
    assert fma(c.fmt, c.min_sub, neg_half, c.pz, RNE) == (c.nz, UF | NX)


# --------------------------------------------------------------- subnormals


def test_subnormal_exact_results_raise_nothing(c):
    # Tiny but exact: no UF (RISC-V raises UF only when tiny AND inexact).
    assert add(c.fmt, c.min_sub, c.min_sub, RNE) == (2, 0)
    assert sub(c.fmt, c.min_norm, c.min_sub, RNE) == (c.max_sub, 0)
    assert mul(c.fmt, c.min_norm, c.half, RNE) == (c.min_norm >> 1, 0)
    assert div(c.fmt, c.max_sub - 1, c.two, RTZ) == ((c.max_sub - 1) >> 1, 0)
    # Subnormal in, normal out.
    assert mul(c.fmt, c.max_sub + 1, c.one, RNE) == (c.min_norm, 0)
    assert add(c.fmt, c.max_sub, c.min_sub, RNE) == (c.min_norm, 0)
    assert sqrt(c.fmt, c.min_sub, RNE)[0] > c.min_norm


def test_tininess_is_detected_after_rounding(c):
    fmt = c.fmt
    # a*b = (1 - 2**(2-2p)) * 2**emin: just below the smallest normal, but it
    # rounds to 2**emin even at full precision with an unbounded exponent,
    # so it is NOT tiny after rounding: NX without UF.
    a = c.one - 2  # 1 - 2**(1-p)
    b = c.min_norm + 1  # (1 + 2**(1-p)) * 2**emin
    assert mul(fmt, a, b, RNE) == (c.min_norm, NX)
    assert mul(fmt, a, b, RMM) == (c.min_norm, NX)
    assert mul(fmt, a, b, RUP) == (c.min_norm, NX)
    # Rounding down it stays below 2**emin: tiny and inexact.
    assert mul(fmt, a, b, RTZ) == (c.max_sub, UF | NX)
    assert mul(fmt, a, b, RDN) == (c.max_sub, UF | NX)
    # (1 - 2**-p) * 2**emin is representable with p bits and an unbounded
    # exponent, so it is tiny even though the delivered (subnormal-rounded)
    # result is the smallest normal: UF must be raised here.
    a = c.one - 1  # 1 - 2**-p
    assert mul(fmt, a, c.min_norm, RNE) == (c.min_norm, UF | NX)
    assert mul(fmt, a, c.min_norm, RUP) == (c.min_norm, UF | NX)
    assert mul(fmt, c.neg(a), c.min_norm, RDN) == (c.neg(c.min_norm), UF | NX)


def test_fma_tininess_is_detected_after_rounding(c):
    # fma(-min_sub, k, min_norm) = 2**emin - k * 2**(emin-p+1), computed exactly.
    fmt = c.fmt
    neg_min_sub = c.neg(c.min_sub)
    quarter, three_eighths = bits(fmt, 0.25), bits(fmt, 0.375)
    # k = 1/4: a tie at full precision, which RNE and RMM both resolve to
    # 2**emin, so the result is not tiny.
    assert fma(fmt, neg_min_sub, quarter, c.min_norm, RNE) == (c.min_norm, NX)
    assert fma(fmt, neg_min_sub, quarter, c.min_norm, RMM) == (c.min_norm, NX)
    # k = 3/8 and k = 1/2: the full-precision rounding stays below 2**emin
    # (tiny) although the delivered result is the smallest normal.
    assert fma(fmt, neg_min_sub, three_eighths, c.min_norm, RNE) == (c.min_norm, UF | NX)
    assert fma(fmt, neg_min_sub, c.half, c.min_norm, RNE) == (c.min_norm, UF | NX)
    # k = 1/2 is exact at full precision, so RMM finds it tiny as well.
    assert fma(fmt, neg_min_sub, c.half, c.min_norm, RMM) == (c.min_norm, UF | NX)
    assert fma(fmt, neg_min_sub, c.half, c.min_norm, RTZ) == (c.max_sub, UF | NX)


# ----------------------------------------------------------------- overflow


@pytest.mark.parametrize(
    ("rm", "pos", "neg"),
    [
        (RNE, "inf", "ninf"),
        (RMM, "inf", "ninf"),
        (RTZ, "max", "nmax"),
        (RDN, "max", "ninf"),
        (RUP, "inf", "nmax"),
    ],
)
def test_overflow_per_mode(c, rm, pos, neg):
    named = {"inf": c.inf, "ninf": c.ninf, "max": c.max, "nmax": c.neg(c.max)}
    assert mul(c.fmt, c.max, c.two, rm) == (named[pos], OF | NX)
    assert mul(c.fmt, c.neg(c.max), c.two, rm) == (named[neg], OF | NX)
    assert add(c.fmt, c.max, c.max, rm) == (named[pos], OF | NX)
    assert div(c.fmt, c.max, c.half, rm) == (named[pos], OF | NX)
    assert fma(c.fmt, c.max, c.two, c.neg(c.max), rm) == (c.max, 0)  # no intermediate OF


def test_overflow_boundary_half_ulp(c):
    fmt = c.fmt
    # ulp(max) = 2**(emax - frac_bits); adding half of it is a tie that RNE
    # breaks towards the even neighbour, which is 2**(emax+1): overflow.
    half_ulp = (fmt.bias + fmt.emax - fmt.frac_bits - 1) << fmt.frac_bits
    quarter_ulp = half_ulp - fmt.hidden
    assert add(fmt, c.max, half_ulp, RNE) == (c.inf, OF | NX)
    assert add(fmt, c.max, half_ulp, RMM) == (c.inf, OF | NX)
    assert add(fmt, c.max, half_ulp, RTZ) == (c.max, NX)
    assert add(fmt, c.max, half_ulp, RDN) == (c.max, NX)
    assert add(fmt, c.max, half_ulp, RUP) == (c.inf, OF | NX)
    # Below the tie, round-to-nearest stays finite and only RUP overflows.
    assert add(fmt, c.max, quarter_ulp, RNE) == (c.max, NX)
    assert add(fmt, c.max, quarter_ulp, RMM) == (c.max, NX)
    assert add(fmt, c.max, quarter_ulp, RUP) == (c.inf, OF | NX)
    assert add(fmt, c.neg(c.max), c.neg(quarter_ulp), RDN) == (c.ninf, OF | NX)
    assert add(fmt, c.neg(c.max), c.neg(quarter_ulp), RUP) == (c.neg(c.max), NX)


# ---------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("rm", "up_tie_even", "up_tie_odd"),
    # 1 + 2**-p is a tie between 1 and 1+ulp; 1 + 3*2**-p between odd and even.
    [(RNE, 0, 1), (RMM, 1, 1), (RTZ, 0, 0), (RDN, 0, 0), (RUP, 1, 1)],
)
def test_ties(c, rm, up_tie_even, up_tie_odd):
    fmt = c.fmt
    half_ulp = (fmt.bias - fmt.prec) << fmt.frac_bits  # 2**-p
    three_half_ulp = (half_ulp + fmt.hidden) | (1 << (fmt.frac_bits - 1))  # 3 * 2**-p
    assert add(fmt, c.one, half_ulp, rm) == (c.one + up_tie_even, NX)
    assert add(fmt, c.one, three_half_ulp, rm) == (c.one + 1 + up_tie_odd, NX)
    # Mirror image for negative values: directed modes swap.
    mirrored = {RDN: RUP, RUP: RDN}.get(rm, rm)
    up = add(fmt, c.one, half_ulp, mirrored)[0] - c.one
    assert add(fmt, c.neg(c.one), c.neg(half_ulp), rm) == (c.neg(c.one) + up, NX)


# ---------------------------------------------------------------------- NaN


def test_nan_results_are_canonical(c):
    fmt = c.fmt
    for rm in ALL_RM:
        assert add(fmt, c.qnan_payload, c.one, rm) == (c.qnan, 0)
        assert add(fmt, c.neg(c.qnan_payload), c.one, rm) == (c.qnan, 0)
        assert sub(fmt, c.one, c.snan, rm) == (c.qnan, NV)
        assert mul(fmt, c.neg_snan, c.qnan_payload, rm) == (c.qnan, NV)
        assert div(fmt, c.qnan_payload, c.pz, rm) == (c.qnan, 0)  # no DZ for NaN
        assert sqrt(fmt, c.neg(c.qnan), rm) == (c.qnan, 0)
        assert sqrt(fmt, c.snan, rm) == (c.qnan, NV)
        assert fma(fmt, c.one, c.one, c.qnan_payload, rm) == (c.qnan, 0)
        assert fma(fmt, c.one, c.snan, c.qnan, rm) == (c.qnan, NV)


def test_invalid_operations(c):
    fmt = c.fmt
    assert add(fmt, c.inf, c.ninf, RNE) == (c.qnan, NV)
    assert sub(fmt, c.inf, c.inf, RNE) == (c.qnan, NV)
    assert add(fmt, c.inf, c.inf, RNE) == (c.inf, 0)
    assert sub(fmt, c.ninf, c.max, RNE) == (c.ninf, 0)
    assert mul(fmt, c.pz, c.ninf, RNE) == (c.qnan, NV)
    assert mul(fmt, c.ninf, c.nz, RNE) == (c.qnan, NV)
    assert mul(fmt, c.ninf, c.min_sub, RNE) == (c.ninf, 0)
    assert div(fmt, c.pz, c.nz, RNE) == (c.qnan, NV)
    assert div(fmt, c.inf, c.ninf, RNE) == (c.qnan, NV)
    assert sqrt(fmt, c.neg(c.min_sub), RNE) == (c.qnan, NV)
    assert sqrt(fmt, c.ninf, RNE) == (c.qnan, NV)
    # fma: inf * 0 is invalid even when the addend is a quiet NaN.
    assert fma(fmt, c.inf, c.pz, c.qnan, RNE) == (c.qnan, NV)
    assert fma(fmt, c.nz, c.ninf, c.one, RNE) == (c.qnan, NV)
    # inf*x - inf is invalid; inf*x + inf is not.
    assert fma(fmt, c.inf, c.two, c.ninf, RNE) == (c.qnan, NV)
    assert fma(fmt, c.inf, c.two, c.inf, RNE, negate_addend=True) == (c.qnan, NV)
    assert fma(fmt, c.inf, c.two, c.inf, RNE) == (c.inf, 0)
    assert fma(fmt, c.inf, c.two, c.inf, RNE, negate_product=True, negate_addend=True) == (
        c.ninf,
        0,
    )
    assert fma(fmt, c.max, c.max, c.ninf, RNE) == (c.ninf, 0)  # addend inf wins, no OF


def test_division_by_zero(c):
    fmt = c.fmt
    assert div(fmt, c.one, c.pz, RNE) == (c.inf, DZ)
    assert div(fmt, c.one, c.nz, RTZ) == (c.ninf, DZ)
    assert div(fmt, c.neg(c.min_sub), c.nz, RNE) == (c.inf, DZ)
    assert div(fmt, c.inf, c.pz, RNE) == (c.inf, 0)  # infinity is exact: no DZ
    assert div(fmt, c.one, c.ninf, RNE) == (c.nz, 0)


def test_sqrt_specials(c):
    fmt = c.fmt
    assert sqrt(fmt, c.nz, RNE) == (c.nz, 0)
    assert sqrt(fmt, c.pz, RDN) == (c.pz, 0)
    assert sqrt(fmt, c.inf, RNE) == (c.inf, 0)
    assert sqrt(fmt, c.one, RNE) == (c.one, 0)
    assert sqrt(fmt, bits(fmt, 4.0), RNE) == (c.two, 0)
    assert sqrt(fmt, bits(fmt, 2.0), RNE) == (bits(fmt, 2.0**0.5), NX)


# ------------------------------------------------------------- fmin / fmax


def test_min_max(c):
    fmt = c.fmt
    rows = [
        # a, b, min, max, flags
        (c.pz, c.nz, c.nz, c.pz, 0),
        (c.nz, c.pz, c.nz, c.pz, 0),
        (c.one, c.two, c.one, c.two, 0),
        (c.neg(c.one), c.neg(c.two), c.neg(c.two), c.neg(c.one), 0),
        (c.ninf, c.max, c.ninf, c.max, 0),
        (c.min_sub, c.neg(c.min_sub), c.neg(c.min_sub), c.min_sub, 0),
        # One NaN: the other operand, whatever its value.
        (c.qnan_payload, c.one, c.one, c.one, 0),
        (c.nz, c.qnan, c.nz, c.nz, 0),
        # A signalling NaN still yields the number, but raises NV.
        (c.snan, c.one, c.one, c.one, NV),
        (c.ninf, c.neg_snan, c.ninf, c.ninf, NV),
        # Two NaNs: the canonical NaN.
        (c.qnan_payload, c.neg(c.qnan), c.qnan, c.qnan, 0),
        (c.snan, c.qnan_payload, c.qnan, c.qnan, NV),
    ]
    for a, b, lo, hi, flags in rows:
        assert min_(fmt, a, b) == (lo, flags), (hex(a), hex(b))
        assert max_(fmt, a, b) == (hi, flags), (hex(a), hex(b))


# -------------------------------------------------------------- comparisons


def test_comparisons(c):
    fmt = c.fmt
    rows = [
        # a, b, feq, flt, fle
        (c.pz, c.nz, 1, 0, 1),
        (c.one, c.one, 1, 0, 1),
        (c.one, c.two, 0, 1, 1),
        (c.two, c.one, 0, 0, 0),
        (c.neg(c.two), c.neg(c.one), 0, 1, 1),
        (c.ninf, c.neg(c.max), 0, 1, 1),
        (c.neg(c.min_sub), c.pz, 0, 1, 1),
        (c.inf, c.inf, 1, 0, 1),
    ]
    for a, b, e, l_, le_ in rows:
        assert eq(fmt, a, b) == (e, 0)
        assert lt(fmt, a, b) == (l_, 0)
        assert le(fmt, a, b) == (le_, 0)
    # feq is quiet: only signalling NaNs raise NV; flt/fle signal on any NaN.
    for nan, eq_flags in [(c.qnan, 0), (c.qnan_payload, 0), (c.snan, NV), (c.neg_snan, NV)]:
        for a, b in [(nan, c.one), (c.one, nan), (nan, nan)]:
            assert eq(fmt, a, b) == (0, eq_flags)
            assert lt(fmt, a, b) == (0, NV)
            assert le(fmt, a, b) == (0, NV)


# ------------------------------------------------------------------- fclass


def test_classify_every_class(c):
    fmt = c.fmt
    rows = [
        (c.ninf, 0),
        (c.neg(c.one), 1),
        (c.neg(c.min_norm), 1),
        (c.neg(c.max_sub), 2),
        (c.neg(c.min_sub), 2),
        (c.nz, 3),
        (c.pz, 4),
        (c.min_sub, 5),
        (c.max_sub, 5),
        (c.min_norm, 6),
        (c.max, 6),
        (c.inf, 7),
        (c.snan, 8),
        (c.neg_snan, 8),
        (c.qnan, 9),
        (c.neg(c.qnan_payload), 9),
    ]
    for x, bit in rows:
        assert classify(fmt, x) == 1 << bit, hex(x)


# -------------------------------------------------- float/float conversions


def test_convert_widening_is_exact():
    assert convert(F32, F64, s(1.5), RNE) == (d(1.5), 0)
    assert convert(F32, F64, 1, RNE) == (d(2.0**-149), 0)  # subnormal becomes normal
    assert convert(F32, F64, 0x80000000, RDN) == (d(-0.0), 0)
    assert convert(F32, F64, 0xFF800000, RNE) == (d(float("-inf")), 0)
    assert convert(F32, F64, F32.max_finite, RTZ) == (d(3.4028234663852886e38), 0)
    assert convert(F32, F64, 0xFFC12345, RNE) == (F64.canonical_nan, 0)
    assert convert(F32, F64, 0x7F800001, RNE) == (F64.canonical_nan, NV)


@pytest.mark.parametrize(
    ("rm", "big"),
    [(RNE, 0x7F800000), (RMM, 0x7F800000), (RTZ, 0x7F7FFFFF), (RDN, 0x7F7FFFFF), (RUP, 0x7F800000)],
)
def test_convert_narrowing_overflow(rm, big):
    assert convert(F64, F32, d(1e39), rm) == (big, OF | NX)
    assert convert(F64, F32, d(float("inf")), rm) == (0x7F800000, 0)
    assert convert(F64, F32, d(3.4028234663852886e38), rm) == (0x7F7FFFFF, 0)


def test_convert_narrowing_rounding_and_underflow():
    assert convert(F64, F32, d(0.1), RNE) == (s(0.1), NX)
    assert convert(F64, F32, d(0.1), RTZ) == (s(0.1) - 1, NX)
    assert convert(F64, F32, d(2.0**-149), RNE) == (1, 0)
    assert convert(F64, F32, d(2.0**-150), RNE) == (0, UF | NX)  # tie to even (zero)
    assert convert(F64, F32, d(2.0**-150), RMM) == (1, UF | NX)
    assert convert(F64, F32, d(-(2.0**-200)), RDN) == (0x80000001, UF | NX)
    assert convert(F64, F32, d(-(2.0**-200)), RNE) == (0x80000000, UF | NX)
    assert convert(F64, F32, d(1e-310), RTZ) == (0, UF | NX)  # f64 subnormal input
    assert convert(F64, F32, 0xFFF0000000000001, RNE) == (F32.canonical_nan, NV)
    assert convert(F64, F32, 0x7FF8000000000001, RNE) == (F32.canonical_nan, 0)


# -------------------------------------------------- float -> integer (fcvt)

W, WU, L, LU = (32, True), (32, False), (64, True), (64, False)
SAT = {
    # (bits, signed): (register value for +overflow/NaN, for -overflow)
    W: (0x000000007FFFFFFF, 0xFFFFFFFF80000000),
    WU: (0xFFFFFFFFFFFFFFFF, 0),  # 2**32-1 sign-extended from bit 31
    L: (0x7FFFFFFFFFFFFFFF, 0x8000000000000000),
    LU: (0xFFFFFFFFFFFFFFFF, 0),
}


@pytest.mark.parametrize("kind", [W, WU, L, LU], ids=["w", "wu", "l", "lu"])
@pytest.mark.parametrize("rm", ALL_RM)
def test_to_int_saturation_and_nan(c, kind, rm):
    nbits, signed = kind
    hi, lo = SAT[kind]
    fmt = c.fmt
    for nan in (c.qnan, c.neg(c.qnan), c.snan, c.neg_snan):
        assert to_int(fmt, nan, rm, nbits, signed) == (hi, NV)
    assert to_int(fmt, c.inf, rm, nbits, signed) == (hi, NV)
    assert to_int(fmt, c.ninf, rm, nbits, signed) == (lo, NV)
    assert to_int(fmt, c.max, rm, nbits, signed) == (hi, NV)
    assert to_int(fmt, c.neg(c.max), rm, nbits, signed) == (lo, NV)
    assert to_int(fmt, c.nz, rm, nbits, signed) == (0, 0)
    assert to_int(fmt, c.neg(c.one), rm, nbits, signed) == (
        ((1 << 64) - 1, 0) if signed else (0, NV)
    )


@pytest.mark.parametrize(
    ("x", "rm", "kind", "expected"),
    [
        # Rounding of small magnitudes.
        (0.5, RNE, W, (0, NX)),
        (1.5, RNE, W, (2, NX)),
        (2.5, RNE, W, (2, NX)),
        (2.5, RMM, W, (3, NX)),
        (-2.5, RMM, W, (2**64 - 3, NX)),
        (-2.5, RTZ, L, (2**64 - 2, NX)),
        (-2.5, RDN, L, (2**64 - 3, NX)),
        (2.1, RUP, LU, (3, NX)),
        (1e-300, RUP, W, (1, NX)),
        (-1e-300, RDN, W, (2**64 - 1, NX)),
        (-1e-300, RNE, W, (0, NX)),
        # Unsigned: NV iff the *rounded* value is negative.
        (-0.4, RNE, WU, (0, NX)),
        (-0.5, RNE, WU, (0, NX)),  # ties to even: -0
        (-0.5, RMM, WU, (0, NV)),  # ties away: -1
        (-0.6, RNE, LU, (0, NV)),
        (-0.4, RTZ, LU, (0, NX)),
        (-0.4, RUP, LU, (0, NX)),
        (-0.4, RDN, LU, (0, NV)),
        (-1e-300, RDN, LU, (0, NV)),
        # 32-bit boundaries; wu results are sign-extended from bit 31.
        (2147483647.0, RNE, W, (0x7FFFFFFF, 0)),
        (2147483647.4, RNE, W, (0x7FFFFFFF, NX)),
        (2147483647.5, RNE, W, (0x7FFFFFFF, NV)),  # rounds to 2**31
        (2147483647.5, RTZ, W, (0x7FFFFFFF, NX)),
        (-2147483648.0, RNE, W, (0xFFFFFFFF80000000, 0)),
        (-2147483648.5, RNE, W, (0xFFFFFFFF80000000, NX)),  # tie to even
        (-2147483648.5, RMM, W, (0xFFFFFFFF80000000, NV)),
        (-2147483648.5, RUP, W, (0xFFFFFFFF80000000, NX)),
        (2147483648.0, RNE, WU, (0xFFFFFFFF80000000, 0)),
        (4294967295.0, RNE, WU, (0xFFFFFFFFFFFFFFFF, 0)),
        (4294967295.5, RDN, WU, (0xFFFFFFFFFFFFFFFF, NX)),
        (4294967295.5, RNE, WU, (0xFFFFFFFFFFFFFFFF, NV)),
        (4294967296.0, RTZ, WU, (0xFFFFFFFFFFFFFFFF, NV)),
        (2147483648.0, RNE, L, (2147483648, 0)),
        # 64-bit boundaries (doubles here are exact integers).
        (2.0**63, RNE, L, (0x7FFFFFFFFFFFFFFF, NV)),
        (2.0**63 - 1024, RNE, L, (0x7FFFFFFFFFFFFC00, 0)),
        (-(2.0**63), RNE, L, (0x8000000000000000, 0)),
        (-(2.0**63) - 2048, RUP, L, (0x8000000000000000, NV)),
        (2.0**63, RNE, LU, (0x8000000000000000, 0)),
        (2.0**64 - 2048, RNE, LU, (0xFFFFFFFFFFFFF800, 0)),
        (2.0**64, RTZ, LU, (0xFFFFFFFFFFFFFFFF, NV)),
        (1e300, RNE, L, (0x7FFFFFFFFFFFFFFF, NV)),
    ],
)
def test_to_int_table_f64(x, rm, kind, expected):
    nbits, signed = kind
    assert to_int(F64, d(x), rm, nbits, signed) == expected


def test_to_int_f32_boundaries():
    # Largest float32 below 2**31 is 2**31 - 128.
    assert to_int(F32, s(2147483520.0), RNE, 32, True) == (0x7FFFFF80, 0)
    assert to_int(F32, s(2147483648.0), RNE, 32, True) == (0x7FFFFFFF, NV)
    assert to_int(F32, s(-2147483648.0), RNE, 32, True) == (0xFFFFFFFF80000000, 0)
    assert to_int(F32, s(4294967040.0), RNE, 32, False) == (0xFFFFFFFFFFFFFF00, 0)
    assert to_int(F32, s(2.0**63), RNE, 64, True) == (0x7FFFFFFFFFFFFFFF, NV)
    assert to_int(F32, s(2.0**63), RNE, 64, False) == (0x8000000000000000, 0)
    assert to_int(F32, s(1.0e-45), RUP, 64, False) == (1, NX)  # a subnormal


# -------------------------------------------------- integer -> float (fcvt)


@pytest.mark.parametrize(
    ("fmt", "value", "nbits", "signed", "rm", "expected"),
    [
        # The register is 64 bits; only the low `bits` bits are converted.
        (F64, 0xFFFFFFFF80000000, 32, True, RNE, (d(-(2.0**31)), 0)),
        (F64, 0xFFFFFFFF80000000, 32, False, RNE, (d(2.0**31), 0)),
        (F64, 0x12345678FFFFFFFF, 32, True, RNE, (d(-1.0), 0)),
        (F64, 0x12345678FFFFFFFF, 32, False, RNE, (d(4294967295.0), 0)),
        (F64, 0xFFFFFFFFFFFFFFFF, 64, True, RNE, (d(-1.0), 0)),
        (F64, 0, 64, True, RDN, (0, 0)),  # +0 even in RDN
        # 2**63 - 1 into binary64: not a tie, just below 2**63.
        (F64, 2**63 - 1, 64, True, RNE, (d(2.0**63), NX)),
        (F64, 2**63 - 1, 64, True, RTZ, (d(2.0**63 - 1024), NX)),
        (F64, 2**63 - 1, 64, True, RUP, (d(2.0**63), NX)),
        (F64, 2**64 - 1, 64, False, RNE, (d(2.0**64), NX)),
        (F64, 2**64 - 1, 64, False, RDN, (d(2.0**64 - 2048), NX)),
        (F64, 2**63, 64, True, RNE, (d(-(2.0**63)), 0)),
        (F64, 2**64 - 2**63 - 1, 64, True, RNE, (d(2.0**63), NX)),
        # Ties: 2**53 + 1 is halfway between 2**53 and 2**53 + 2.
        (F64, 2**53 + 1, 64, True, RNE, (d(2.0**53), NX)),
        (F64, 2**53 + 1, 64, True, RMM, (d(2.0**53 + 2), NX)),
        (F64, 2**53 + 3, 64, True, RNE, (d(2.0**53 + 4), NX)),
        (F64, (-(2**53 + 1)) % 2**64, 64, True, RMM, (d(-(2.0**53) - 2), NX)),
        (F64, (-(2**53 + 1)) % 2**64, 64, True, RDN, (d(-(2.0**53) - 2), NX)),
        (F64, (-(2**53 + 1)) % 2**64, 64, True, RUP, (d(-(2.0**53)), NX)),
        # binary32.
        (F32, 16777217, 32, True, RNE, (s(16777216.0), NX)),
        (F32, 16777217, 32, True, RUP, (s(16777218.0), NX)),
        (F32, 16777217, 32, True, RMM, (s(16777218.0), NX)),
        (F32, 0xFFFFFFFF, 32, False, RNE, (s(2.0**32), NX)),
        (F32, 0xFFFFFFFF, 32, False, RTZ, (s(2.0**32 - 256), NX)),
        (F32, 2**64 - 1, 64, False, RNE, (s(2.0**64), NX)),
        (F32, 2**64 - 1, 64, False, RTZ, (s(2.0**64 - 2**40), NX)),
        (F32, 2**63 - 1, 64, True, RNE, (s(2.0**63), NX)),
        (F32, 2**63 - 1, 64, True, RDN, (s(2.0**63 - 2**39), NX)),
        (F32, 2**63, 64, True, RNE, (s(-(2.0**63)), 0)),
        (F32, 2**63 + 2**39, 64, True, RNE, (s(-(2.0**63) + 2**39), 0)),
        (F32, 2**63 + 2**38, 64, True, RNE, (s(-(2.0**63)), NX)),  # tie to even
        (F32, 2**63 + 2**38, 64, True, RMM, (s(-(2.0**63)), NX)),  # tie away (larger mag)
        (F32, 2**63 + 2**38, 64, True, RUP, (s(-(2.0**63) + 2**39), NX)),
        (F32, 0x80000000, 32, True, RNE, (s(-(2.0**31)), 0)),
    ],
)
def test_from_int(fmt, value, nbits, signed, rm, expected):
    assert from_int(fmt, value, nbits, signed, rm) == expected
