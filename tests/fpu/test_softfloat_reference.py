"""Differential tests of engine.fpu.softfloat against an exact rational model.

The model below is written from the IEEE 754 definitions rather than from the
library's algorithm: operands become ``Fraction``s, the operation is done in
exact rational arithmetic, and rounding is the textbook one (pick the
quantum, take floor/ceil, apply the mode), with tininess decided by rounding
again with an unbounded exponent range, as RISC-V specifies.  Square roots
are not rational, so the library's root is instead checked against the
squares of its neighbours and of the rounding midpoints.
"""

import random
from fractions import Fraction
from math import floor

import pytest

from engine.fpu.softfloat import (
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
    convert,
    div,
    fma,
    from_int,
    mul,
    sqrt,
    sub,
    to_int,
)

ALL_RM = [RNE, RTZ, RDN, RUP, RMM]
RM_NAMES = ["rne", "rtz", "rdn", "rup", "rmm"]
CASES = 1000  # per (operation, format, rounding mode)


# ------------------------------------------------------------------ model


def is_nan(fmt, x):
    return (x & fmt.mag_mask) > fmt.inf


def is_snan(fmt, x):
    return is_nan(fmt, x) and not x & fmt.quiet_bit


def is_inf(fmt, x):
    return (x & fmt.mag_mask) == fmt.inf


def sign_of(fmt, x):
    return x >> (fmt.width - 1)


def pow2(e: int) -> Fraction:
    return Fraction(1 << e) if e >= 0 else Fraction(1, 1 << -e)


def value(fmt, x) -> Fraction:
    """Exact value of a finite bit pattern."""
    e = (x >> fmt.frac_bits) & fmt.exp_max
    f = x & fmt.frac_mask
    if e == 0:
        v = Fraction(f) * pow2(fmt.emin - fmt.frac_bits)
    else:
        v = Fraction(f + (1 << fmt.frac_bits)) * pow2(e - fmt.bias - fmt.frac_bits)
    return -v if sign_of(fmt, x) else v


def round_integer(v: Fraction, rm) -> int:
    """Round a rational to an integer in the given mode."""
    lo = floor(v)
    rest = v - lo
    if rest == 0:
        return lo
    if rm == RTZ:
        return lo if v > 0 else lo + 1
    if rm == RDN:
        return lo
    if rm == RUP:
        return lo + 1
    if rest != Fraction(1, 2):
        return lo + 1 if rest > Fraction(1, 2) else lo
    if rm == RNE:
        return lo if lo % 2 == 0 else lo + 1
    return lo if v < 0 else lo + 1  # RMM: ties away from zero


def binade(v: Fraction) -> int:
    """The e with 2**e <= v < 2**(e+1), for v > 0."""
    e = v.numerator.bit_length() - v.denominator.bit_length()
    while pow2(e) > v:
        e -= 1
    while pow2(e + 1) <= v:
        e += 1
    return e


def encode(fmt, negative: bool, mag: Fraction) -> int:
    """Bit pattern of a representable nonnegative magnitude."""
    sign = fmt.sign_mask if negative else 0
    if mag == 0:
        return sign
    if mag < pow2(fmt.emin):
        frac = mag / pow2(fmt.emin - fmt.frac_bits)
        assert frac.denominator == 1
        return sign | int(frac)
    e = binade(mag)
    sig = mag / pow2(e - fmt.frac_bits)
    assert sig.denominator == 1 and (1 << fmt.frac_bits) <= sig < (2 << fmt.frac_bits)
    return sign | ((e + fmt.bias) << fmt.frac_bits) | (int(sig) - (1 << fmt.frac_bits))


def ref_round(fmt, v: Fraction, rm) -> tuple[int, int]:
    """IEEE 754 rounding of a nonzero rational, with RISC-V flag rules."""
    assert v != 0
    e = binade(abs(v))

    def round_with_quantum(q_exp):
        q = pow2(q_exp)
        return round_integer(v / q, rm) * q

    # Unbounded exponent range, full precision: decides overflow and tininess.
    unbounded = round_with_quantum(e - fmt.frac_bits)
    if abs(unbounded) >= pow2(fmt.emax + 1):
        to_inf = rm in (RNE, RMM) or (rm == RUP and v > 0) or (rm == RDN and v < 0)
        mag = fmt.inf if to_inf else fmt.max_finite
        return mag | (fmt.sign_mask if v < 0 else 0), OF | NX
    tiny = abs(unbounded) < pow2(fmt.emin)
    delivered = round_with_quantum(max(e, fmt.emin) - fmt.frac_bits)
    flags = 0
    if delivered != v:
        flags = NX | (UF if tiny else 0)
    return encode(fmt, v < 0, abs(delivered)), flags


def ref_sum_like(fmt, exact: Fraction, zero_sign_same, rm) -> tuple[int, int]:
    """Round an exact sum; ``zero_sign_same`` is the common sign of two zero
    terms (None when the zero comes from cancellation or mixed signs)."""
    if exact != 0:
        return ref_round(fmt, exact, rm)
    if zero_sign_same is not None:
        return (fmt.sign_mask if zero_sign_same else 0), 0
    return (fmt.sign_mask if rm == RDN else 0), 0


def ref_add(fmt, a, b, rm):
    if is_nan(fmt, a) or is_nan(fmt, b):
        return fmt.canonical_nan, NV if is_snan(fmt, a) or is_snan(fmt, b) else 0
    if is_inf(fmt, a) or is_inf(fmt, b):
        if is_inf(fmt, a) and is_inf(fmt, b) and sign_of(fmt, a) != sign_of(fmt, b):
            return fmt.canonical_nan, NV
        return (a if is_inf(fmt, a) else b), 0
    va, vb = value(fmt, a), value(fmt, b)
    both_zero_same = None
    if va == 0 and vb == 0 and sign_of(fmt, a) == sign_of(fmt, b):
        both_zero_same = sign_of(fmt, a)
    return ref_sum_like(fmt, va + vb, both_zero_same, rm)


def ref_mul(fmt, a, b, rm):
    if is_nan(fmt, a) or is_nan(fmt, b):
        return fmt.canonical_nan, NV if is_snan(fmt, a) or is_snan(fmt, b) else 0
    sign = fmt.sign_mask if sign_of(fmt, a) != sign_of(fmt, b) else 0
    if is_inf(fmt, a) or is_inf(fmt, b):
        if (a & fmt.mag_mask) == 0 or (b & fmt.mag_mask) == 0:
            return fmt.canonical_nan, NV
        return sign | fmt.inf, 0
    p = value(fmt, a) * value(fmt, b)
    return ref_round(fmt, p, rm) if p else (sign, 0)


def ref_div(fmt, a, b, rm):
    if is_nan(fmt, a) or is_nan(fmt, b):
        return fmt.canonical_nan, NV if is_snan(fmt, a) or is_snan(fmt, b) else 0
    sign = fmt.sign_mask if sign_of(fmt, a) != sign_of(fmt, b) else 0
    if is_inf(fmt, a):
        return (fmt.canonical_nan, NV) if is_inf(fmt, b) else (sign | fmt.inf, 0)
    if is_inf(fmt, b):
        return sign, 0
    va, vb = value(fmt, a), value(fmt, b)
    if vb == 0:
        return (fmt.canonical_nan, NV) if va == 0 else (sign | fmt.inf, DZ)
    q = va / vb
    return ref_round(fmt, q, rm) if q else (sign, 0)


def ref_fma(fmt, a, b, c, rm):
    nan_in = any(is_nan(fmt, x) for x in (a, b, c))
    inf_times_zero = (is_inf(fmt, a) and (b & fmt.mag_mask) == 0) or (
        is_inf(fmt, b) and (a & fmt.mag_mask) == 0
    )
    if inf_times_zero:
        return fmt.canonical_nan, NV
    if nan_in:
        return fmt.canonical_nan, NV if any(is_snan(fmt, x) for x in (a, b, c)) else 0
    product_sign = sign_of(fmt, a) ^ sign_of(fmt, b)
    if is_inf(fmt, a) or is_inf(fmt, b):
        if is_inf(fmt, c) and sign_of(fmt, c) != product_sign:
            return fmt.canonical_nan, NV
        return (fmt.sign_mask if product_sign else 0) | fmt.inf, 0
    if is_inf(fmt, c):
        return c, 0
    p = value(fmt, a) * value(fmt, b)
    vc = value(fmt, c)
    both_zero_same = None
    if p == 0 and vc == 0 and product_sign == sign_of(fmt, c):
        both_zero_same = product_sign
    return ref_sum_like(fmt, p + vc, both_zero_same, rm)


def ref_convert(src, dst, a, rm):
    if is_nan(src, a):
        return dst.canonical_nan, NV if is_snan(src, a) else 0
    negative = sign_of(src, a)
    if is_inf(src, a):
        return (dst.sign_mask if negative else 0) | dst.inf, 0
    v = value(src, a)
    return ref_round(dst, v, rm) if v else ((dst.sign_mask if negative else 0), 0)


def ref_to_int(fmt, a, rm, nbits, signed):
    lo, hi = (-(2 ** (nbits - 1)), 2 ** (nbits - 1) - 1) if signed else (0, 2**nbits - 1)
    if is_nan(fmt, a):
        r, flags = hi, NV
    elif is_inf(fmt, a):
        r, flags = (lo if sign_of(fmt, a) else hi), NV
    else:
        v = value(fmt, a)
        r = round_integer(v, rm)
        flags = NX if r != v else 0
        if not lo <= r <= hi:
            r, flags = min(max(r, lo), hi), NV
    # RV64 writes 32-bit results sign-extended, for the unsigned forms too.
    if nbits == 32:
        r = (r & 0xFFFFFFFF) - ((r & 0x80000000) << 1)
    return r % 2**64, flags


def ref_from_int(fmt, reg, nbits, signed, rm):
    v = reg % 2**nbits
    if signed and v >= 2 ** (nbits - 1):
        v -= 2**nbits
    return ref_round(fmt, Fraction(v), rm) if v else (0, 0)


def check_sqrt(fmt, a, rm, got):
    """Assert ``got`` is the correctly rounded sqrt of ``a`` (with flags)."""
    if is_nan(fmt, a):
        assert got == (fmt.canonical_nan, NV if is_snan(fmt, a) else 0)
        return
    if (a & fmt.mag_mask) == 0:
        assert got == (a, 0)
        return
    if sign_of(fmt, a):
        assert got == (fmt.canonical_nan, NV)
        return
    if is_inf(fmt, a):
        assert got == (a, 0)
        return
    r_bits, flags = got
    assert 0 < r_bits < fmt.inf
    x = value(fmt, a)
    r = value(fmt, r_bits)
    below = value(fmt, r_bits - 1)
    above = value(fmt, r_bits + 1)  # never past max_finite for a root
    assert flags == (0 if r * r == x else NX)
    if r * r == x:
        return
    if rm in (RTZ, RDN):
        assert r * r < x < above * above
    elif rm == RUP:
        assert below * below < x < r * r
    else:
        # A root is never exactly a midpoint, so RNE and RMM coincide.
        assert ((below + r) / 2) ** 2 < x < ((r + above) / 2) ** 2


# ------------------------------------------------------- input generation


def special_values(fmt):
    one = fmt.bias << fmt.frac_bits
    pos = [
        0,
        1,
        2,
        fmt.hidden - 1,
        fmt.hidden,
        fmt.hidden + 1,
        one,
        one + 1,
        one - 1,
        fmt.max_finite,
        fmt.max_finite - 1,
        fmt.inf,
        fmt.canonical_nan,
        fmt.canonical_nan | 123,
        fmt.inf | 1,
        fmt.inf | (fmt.quiet_bit - 1),
    ]
    return pos + [x | fmt.sign_mask for x in pos]


def random_operand(rng, fmt, specials):
    r = rng.random()
    sign = rng.getrandbits(1) << (fmt.width - 1)
    frac = rng.getrandbits(fmt.frac_bits)
    if r < 0.08:
        return rng.choice(specials)
    if r < 0.30:
        return rng.getrandbits(fmt.width)
    if r < 0.35:
        # Significands with long runs of ones/zeros make ties and carries.
        frac = rng.choice([0, fmt.frac_mask, fmt.frac_mask ^ 1, 1, fmt.quiet_bit])
    if r < 0.65:
        e = fmt.bias + rng.randint(-fmt.prec - 4, fmt.prec + 4)
    elif r < 0.82:
        e = rng.randint(0, fmt.prec + 3)  # subnormal and lowest normal binades
    else:
        e = fmt.exp_max - 1 - rng.randint(0, fmt.prec + 3)  # near overflow
    return sign | (e << fmt.frac_bits) | frac


def with_exponent(fmt, x, e):
    e = min(max(e, 0), fmt.exp_max - 1)
    return (x & ~(fmt.exp_max << fmt.frac_bits)) | (e << fmt.frac_bits)


def exponent(fmt, x):
    return (x >> fmt.frac_bits) & fmt.exp_max


def operand_pairs(fmt, op, seed, n):
    rng = random.Random(seed)
    specials = special_values(fmt)
    for _ in range(n):
        a = random_operand(rng, fmt, specials)
        b = random_operand(rng, fmt, specials)
        mode = rng.random()
        if op in ("add", "sub") and mode < 0.3:
            # Nearby magnitudes: massive cancellation and exact results.
            b = (a + rng.randint(-3, 3)) & fmt.mask
            if (op == "add") == (mode < 0.2):
                b ^= fmt.sign_mask
        elif op in ("add", "sub") and mode < 0.45:
            # Exponent gaps around the precision: sticky-bit territory.
            gap = rng.randint(fmt.prec - 3, fmt.prec + 6)
            b = with_exponent(fmt, b, exponent(fmt, a) - gap)
        elif op in ("mul", "div") and mode < 0.15:
            # Results within a few ulps of the smallest normal: the
            # tininess-after-rounding corner.
            one = fmt.bias << fmt.frac_bits
            a = fmt.hidden + rng.randint(-3, 3)
            b = one + rng.randint(-3, 3)
            a |= rng.getrandbits(1) << (fmt.width - 1)
            if op == "mul" and rng.random() < 0.5:
                a, b = b, a
        elif op == "mul" and mode < 0.3:
            # Products landing near the underflow or overflow thresholds.
            target = rng.choice([1, fmt.exp_max - 1]) + rng.randint(-3, 3)
            b = with_exponent(fmt, b, target + fmt.bias - exponent(fmt, a))
        elif op == "div" and mode < 0.3:
            target = rng.choice([1, fmt.exp_max - 1]) + rng.randint(-3, 3)
            b = with_exponent(fmt, b, exponent(fmt, a) - target + fmt.bias)
        yield a, b


# ------------------------------------------------------------------ tests

FORMATS = [F32, F64]


@pytest.mark.parametrize("rm", ALL_RM, ids=RM_NAMES)
@pytest.mark.parametrize("fmt", FORMATS, ids=repr)
@pytest.mark.parametrize(
    ("name", "op", "ref"),
    [
        ("add", add, ref_add),
        ("sub", sub, lambda f, a, b, rm: ref_add(f, a, b ^ f.sign_mask, rm)),
        ("mul", mul, ref_mul),
        ("div", div, ref_div),
    ],
    ids=["add", "sub", "mul", "div"],
)
def test_binary_ops_match_model(name, op, ref, fmt, rm):
    for a, b in operand_pairs(fmt, name, f"{name}-{fmt.width}-{rm}", CASES):
        assert op(fmt, a, b, rm) == ref(fmt, a, b, rm), (hex(a), hex(b))


@pytest.mark.parametrize("rm", ALL_RM, ids=RM_NAMES)
@pytest.mark.parametrize("fmt", FORMATS, ids=repr)
def test_sqrt_matches_model(fmt, rm):
    rng = random.Random(1000 + rm + fmt.width)
    specials = special_values(fmt)
    for _ in range(CASES):
        a = random_operand(rng, fmt, specials)
        if rng.random() < 0.7:
            a &= fmt.mag_mask  # mostly nonnegative inputs
        check_sqrt(fmt, a, rm, sqrt(fmt, a, rm))


@pytest.mark.parametrize("rm", ALL_RM, ids=RM_NAMES)
@pytest.mark.parametrize("fmt", FORMATS, ids=repr)
def test_fma_matches_model(fmt, rm):
    rng = random.Random(2000 + rm + fmt.width)
    specials = special_values(fmt)
    variants = [(False, False), (False, True), (True, False), (True, True)]
    for _ in range(CASES):
        a = random_operand(rng, fmt, specials)
        b = random_operand(rng, fmt, specials)
        c = random_operand(rng, fmt, specials)
        mode = rng.random()
        if mode < 0.3:
            # Addend close to -a*b: cancellation down to (or below) the
            # product's low-order bits.
            prod, _ = mul(fmt, a, b, rng.choice(ALL_RM))
            c = (prod ^ fmt.sign_mask) + rng.randint(-2, 2)
            c &= fmt.mask
        elif mode < 0.5:
            gap = rng.randint(-2 * fmt.prec - 6, 2 * fmt.prec + 6)
            c = with_exponent(fmt, c, exponent(fmt, a) + exponent(fmt, b) - fmt.bias + gap)
        neg_p, neg_c = rng.choice(variants)
        pa = a ^ fmt.sign_mask if neg_p else a
        pc = c ^ fmt.sign_mask if neg_c else c
        expected = ref_fma(fmt, pa, b, pc, rm)
        got = fma(fmt, a, b, c, rm, negate_product=neg_p, negate_addend=neg_c)
        assert got == expected, (hex(a), hex(b), hex(c), neg_p, neg_c)


@pytest.mark.parametrize("rm", ALL_RM, ids=RM_NAMES)
def test_convert_matches_model(rm):
    rng = random.Random(3000 + rm)
    s_specials = special_values(F32)
    d_specials = special_values(F64)
    for _ in range(CASES):
        a = random_operand(rng, F32, s_specials)
        assert convert(F32, F64, a, rm) == ref_convert(F32, F64, a, rm), hex(a)
        a = random_operand(rng, F64, d_specials)
        if rng.random() < 0.5:
            # Put most inputs inside or near binary32's exponent range.
            a = with_exponent(F64, a, F64.bias + rng.randint(-155, 130))
        assert convert(F64, F32, a, rm) == ref_convert(F64, F32, a, rm), hex(a)


@pytest.mark.parametrize("rm", ALL_RM, ids=RM_NAMES)
@pytest.mark.parametrize("fmt", FORMATS, ids=repr)
def test_to_int_matches_model(fmt, rm):
    rng = random.Random(4000 + rm + fmt.width)
    specials = special_values(fmt)
    for _ in range(CASES):
        a = random_operand(rng, fmt, specials)
        if rng.random() < 0.7:
            # Magnitudes from below 1 to just past 2**64.
            a = with_exponent(fmt, a, fmt.bias + rng.randint(-3, 66))
        for nbits, signed in ((32, True), (32, False), (64, True), (64, False)):
            expected = ref_to_int(fmt, a, rm, nbits, signed)
            assert to_int(fmt, a, rm, nbits, signed) == expected, (hex(a), nbits, signed)


@pytest.mark.parametrize("rm", ALL_RM, ids=RM_NAMES)
@pytest.mark.parametrize("fmt", FORMATS, ids=repr)
def test_from_int_matches_model(fmt, rm):
    rng = random.Random(5000 + rm + fmt.width)
    for _ in range(CASES):
        width = rng.randint(1, 64)
        reg = rng.getrandbits(width)
        if rng.random() < 0.5:
            reg |= rng.getrandbits(64) << width  # junk above (or sign bits)
            reg &= 2**64 - 1
        for nbits, signed in ((32, True), (32, False), (64, True), (64, False)):
            expected = ref_from_int(fmt, reg, nbits, signed, rm)
            assert from_int(fmt, reg, nbits, signed, rm) == expected, (hex(reg), nbits, signed)
