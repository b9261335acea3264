"""Bit-exact IEEE 754 binary32/binary64 arithmetic with RISC-V F/D semantics.

Every operand and result is a raw bit pattern held in a Python int; every
operation returns ``(result, fflags)`` where ``fflags`` is the set of RISC-V
exception flags the instruction raises (the caller ORs them into ``fcsr``).

The approach is deliberately simple: decode each finite operand into an
integer significand and a power-of-two exponent, compute the exact result
with Python's unbounded integers (for division and square root, an exact
truncated value plus a "sticky" bit recording a nonzero remainder), and round
exactly once in ``_round``.  RISC-V specifics handled here:

* every NaN produced is the canonical NaN (no payload propagation);
* signalling NaN inputs raise NV;
* tininess is detected after rounding, and UF is raised only when the result
  is both tiny and inexact;
* fmin/fmax follow IEEE 754-2019 minimumNumber/maximumNumber;
* float-to-integer conversions saturate and return the maximum for NaN.

Only the standard library is used so the module runs unchanged in Pyodide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import isqrt

# RISC-V frm encodings (the caller resolves DYN before calling in).
RNE, RTZ, RDN, RUP, RMM = 0, 1, 2, 3, 4

# RISC-V fflags bits.
NX, UF, OF, DZ, NV = 1, 2, 4, 8, 16

__all__ = [
    "CANONICAL_NAN",
    "DZ",
    "F32",
    "F64",
    "NV",
    "NX",
    "OF",
    "RDN",
    "RMM",
    "RNE",
    "RTZ",
    "RUP",
    "UF",
    "Format",
    "add",
    "classify",
    "convert",
    "div",
    "eq",
    "fma",
    "from_int",
    "le",
    "lt",
    "max_",
    "min_",
    "mul",
    "sqrt",
    "sub",
    "to_int",
]


# eq=False keeps hashing by identity: formats are singletons and are used as
# dict keys, so the generated field-tuple hash would only cost time.
@dataclass(frozen=True, slots=True, eq=False)
class Format:
    """An IEEE 754 binary interchange format.

    Only ``exp_bits`` and ``frac_bits`` are given; everything else is derived
    once here so the hot paths read plain attributes instead of recomputing.
    """

    name: str
    exp_bits: int
    frac_bits: int
    width: int = field(init=False)
    bias: int = field(init=False)
    prec: int = field(init=False)  # significand precision including the hidden bit
    emin: int = field(init=False)  # unbiased exponent of the smallest normal
    emax: int = field(init=False)  # unbiased exponent of the largest finite
    exp_max: int = field(init=False)  # all-ones exponent field (inf/NaN)
    sign_shift: int = field(init=False)
    sign_mask: int = field(init=False)
    mag_mask: int = field(init=False)
    frac_mask: int = field(init=False)
    hidden: int = field(init=False)
    exp_offset: int = field(init=False)  # biased exponent field -> exponent of the LSB
    quiet_bit: int = field(init=False)
    mask: int = field(init=False)
    inf: int = field(init=False)  # +infinity
    max_finite: int = field(init=False)  # largest positive finite
    min_normal: int = field(init=False)  # smallest positive normal
    canonical_nan: int = field(init=False)

    def __post_init__(self) -> None:
        width = 1 + self.exp_bits + self.frac_bits
        bias = (1 << (self.exp_bits - 1)) - 1
        exp_max = (1 << self.exp_bits) - 1
        derived = {
            "width": width,
            "bias": bias,
            "prec": self.frac_bits + 1,
            "emin": 1 - bias,
            "emax": bias,
            "exp_max": exp_max,
            "sign_shift": width - 1,
            "sign_mask": 1 << (width - 1),
            "mag_mask": (1 << (width - 1)) - 1,
            "frac_mask": (1 << self.frac_bits) - 1,
            "hidden": 1 << self.frac_bits,
            "exp_offset": bias + self.frac_bits,
            "quiet_bit": 1 << (self.frac_bits - 1),
            "mask": (1 << width) - 1,
            "inf": exp_max << self.frac_bits,
            "max_finite": (exp_max << self.frac_bits) - 1,
            "min_normal": 1 << self.frac_bits,
            "canonical_nan": (exp_max << self.frac_bits) | (1 << (self.frac_bits - 1)),
        }
        for key, value in derived.items():
            object.__setattr__(self, key, value)

    def __repr__(self) -> str:
        return self.name

    # -- classification helpers (also handy for the translator and tests) --

    def is_nan(self, x: int) -> bool:
        return (x & self.mag_mask) > self.inf

    def is_signaling_nan(self, x: int) -> bool:
        return (x & self.mag_mask) > self.inf and not x & self.quiet_bit

    def is_inf(self, x: int) -> bool:
        return (x & self.mag_mask) == self.inf

    def is_zero(self, x: int) -> bool:
        return not x & self.mag_mask

    def is_subnormal(self, x: int) -> bool:
        return 0 < (x & self.mag_mask) < self.hidden

    def sign(self, x: int) -> int:
        return x >> self.sign_shift

    def neg(self, x: int) -> int:
        return x ^ self.sign_mask

    def pack(self, sign: int, biased_exp: int, frac: int) -> int:
        return (sign << self.sign_shift) | (biased_exp << self.frac_bits) | frac


F32 = Format("F32", 8, 23)
F64 = Format("F64", 11, 52)

CANONICAL_NAN = {F32: F32.canonical_nan, F64: F64.canonical_nan}


# --------------------------------------------------------------------------
# Rounding
# --------------------------------------------------------------------------


def _round_bits(mant: int, shift: int, negative: int, rm: int) -> tuple[int, bool]:
    """Drop the low ``shift`` (> 0) bits of ``mant`` according to ``rm``.

    Returns the rounded integer and whether any discarded bit was nonzero.
    """
    q = mant >> shift
    rem = mant & ((1 << shift) - 1)
    if not rem:
        return q, False
    if rm == RNE:
        half = 1 << (shift - 1)
        if rem > half or (rem == half and q & 1):
            q += 1
    elif _rounds_away(rm, negative, rem, shift):
        q += 1
    return q, True


def _overflow(fmt: Format, sign: int, rm: int) -> tuple[int, int]:
    # Directed modes never round *away* from zero past the largest finite
    # value, so overflow toward zero yields max_finite rather than infinity.
    if rm == RTZ or (rm == RDN and not sign) or (rm == RUP and sign):
        mag = fmt.max_finite
    else:
        mag = fmt.inf
    return (sign << fmt.sign_shift) | mag, OF | NX


def _round(fmt: Format, sign: int, mant: int, exp: int, rm: int) -> tuple[int, int]:
    """Round ``(-1)**sign * mant * 2**exp`` (``mant`` > 0) into ``fmt``.

    ``mant`` may carry a sticky bit in its LSB (inexact division/square
    root); callers guarantee it then has at least ``prec + 2`` bits so the
    sticky bit sits strictly below the guard bit.
    """
    n = mant.bit_length()
    top = exp + n - 1  # unbiased exponent of the leading one
    if top >= fmt.emin:
        shift = n - fmt.prec
        if shift <= 0:
            mag = ((top + fmt.bias) << fmt.frac_bits) | ((mant << -shift) & fmt.frac_mask)
            flags = 0
        else:
            sig = mant >> shift
            rem = mant & ((1 << shift) - 1)
            flags = 0
            if rem:
                flags = NX
                if rm == RNE:
                    half = 1 << (shift - 1)
                    if rem > half or (rem == half and sig & 1):
                        sig += 1
                elif _rounds_away(rm, sign, rem, shift):
                    sig += 1
            # Adding rather than OR-ing the significand lets a rounding carry
            # (sig == 2**prec) ripple into the exponent field, which is
            # exactly the renormalised result; it may also reach infinity.
            mag = ((top + fmt.bias) << fmt.frac_bits) + sig - fmt.hidden
        if mag >= fmt.inf:
            return _overflow(fmt, sign, rm)
        return (sign << fmt.sign_shift) | mag, flags

    # Below the normal range: the quantum is fixed at the subnormal LSB.
    shift = fmt.emin - fmt.frac_bits - exp
    if shift <= 0:
        # Exactly representable subnormal: tiny but exact, hence no UF.
        return (sign << fmt.sign_shift) | (mant << -shift), 0
    sig, inexact = _round_bits(mant, shift, sign, rm)
    # A carry into bit frac_bits lands in the exponent field and produces the
    # smallest normal with no extra work.
    result = (sign << fmt.sign_shift) | sig
    if not inexact:
        return result, 0
    # Tininess after rounding (the RISC-V choice) asks whether the value,
    # rounded to full precision with an unbounded exponent, is below the
    # smallest normal.  Only a value in [2**(emin-1), 2**emin) can round up
    # to 2**emin at full precision.
    if top == fmt.emin - 1 and n > fmt.prec:
        wide, _ = _round_bits(mant, n - fmt.prec, sign, rm)
        if wide >> fmt.prec:
            return result, NX
    return result, NX | UF


def _rounds_away(rm: int, negative: int, rem: int, shift: int) -> bool:
    """Whether a nonzero remainder ``rem`` of ``shift`` bits rounds the
    magnitude up, for every mode except RNE (which needs the kept LSB)."""
    if rm == RMM:
        return bool(rem >> (shift - 1))
    if rm == RDN:
        return bool(negative)
    if rm == RUP:
        return not negative
    return False


# --------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------


def _decode(fmt: Format, x: int) -> tuple[int, int, int]:
    """Split a finite ``x`` into ``(sign, mant, exp)`` with value mant * 2**exp.

    The hot arithmetic paths inline this: a subnormal is decoded as if its
    exponent field were 1, minus the hidden bit.
    """
    e = (x >> fmt.frac_bits) & fmt.exp_max
    frac = x & fmt.frac_mask
    if e:
        return x >> fmt.sign_shift, frac | fmt.hidden, e - fmt.exp_offset
    return x >> fmt.sign_shift, frac, 1 - fmt.exp_offset


def _snan_flag(fmt: Format, *xs: int) -> int:
    for x in xs:
        if (x & fmt.mag_mask) > fmt.inf and not x & fmt.quiet_bit:
            return NV
    return 0


def _nan_result(fmt: Format, *xs: int) -> tuple[int, int]:
    return fmt.canonical_nan, _snan_flag(fmt, *xs)


def _zero_sum(fmt: Format, sa: int, sb: int, rm: int) -> tuple[int, int]:
    """Sign of an exact zero sum, per IEEE 754 6.3."""
    if sa == sb:
        return sa << fmt.sign_shift, 0
    return (fmt.sign_mask if rm == RDN else 0), 0


def _sum(
    fmt: Format, sa: int, ma: int, xa: int, sb: int, mb: int, xb: int, rm: int
) -> tuple[int, int]:
    """Correctly rounded sum of two nonzero exact terms ``±m * 2**x``."""
    # When one term is far below the other, only its sign and nonzeroness
    # matter: with T the larger term, every rounding boundary of the result
    # (midpoints included) is a multiple of 2**g, and so is T, so T+t and
    # T+(a stand-in of magnitude 2**(g-1)) fall strictly inside the same gap.
    # Replacing t bounds the width of the integers below.
    ta = xa + ma.bit_length()
    tb = xb + mb.bit_length()
    if ta >= tb:
        g = ta - fmt.prec - 4
        if xa < g:
            g = xa
        if tb <= g:
            mb = 1
            xb = g - 1
    else:
        g = tb - fmt.prec - 4
        if xb < g:
            g = xb
        if ta <= g:
            ma = 1
            xa = g - 1
    if xa >= xb:
        ma <<= xa - xb
        x = xb
    else:
        mb <<= xb - xa
        x = xa
    if sa == sb:
        return _round(fmt, sa, ma + mb, x, rm)
    s = ma - mb
    if s > 0:
        return _round(fmt, sa, s, x, rm)
    if s < 0:
        return _round(fmt, sb, -s, x, rm)
    # Exact cancellation of nonzero terms: +0, or -0 when rounding down.
    return (fmt.sign_mask if rm == RDN else 0), 0


# --------------------------------------------------------------------------
# Arithmetic
# --------------------------------------------------------------------------


def add(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    """fadd: ``a + b`` correctly rounded."""
    fb = fmt.frac_bits
    em = fmt.exp_max
    ea = (a >> fb) & em
    eb = (b >> fb) & em
    if ea == em or eb == em:
        return _add_special(fmt, a, b)
    fm = fmt.frac_mask
    ma = a & fm
    if ea:
        ma |= fmt.hidden
    elif ma:
        ea = 1
    else:  # a is ±0
        if b & fmt.mag_mask:
            return b, 0
        return _zero_sum(fmt, a >> fmt.sign_shift, b >> fmt.sign_shift, rm)
    mb = b & fm
    if eb:
        mb |= fmt.hidden
    elif mb:
        eb = 1
    else:
        return a, 0
    off = fmt.exp_offset
    ss = fmt.sign_shift
    return _sum(fmt, a >> ss, ma, ea - off, b >> ss, mb, eb - off, rm)


def _add_special(fmt: Format, a: int, b: int) -> tuple[int, int]:
    inf = fmt.inf
    mag_a = a & fmt.mag_mask
    mag_b = b & fmt.mag_mask
    if mag_a > inf or mag_b > inf:
        return _nan_result(fmt, a, b)
    if mag_a == inf and mag_b == inf and a != b:
        return fmt.canonical_nan, NV  # inf - inf
    return (a if mag_a == inf else b), 0


def sub(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    """fsub: ``a - b``.  Flipping b's sign is exact and NaN-neutral here
    because NaN results are canonical and signalling-ness ignores the sign."""
    return add(fmt, a, b ^ fmt.sign_mask, rm)


def mul(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    """fmul: ``a * b`` correctly rounded."""
    fb = fmt.frac_bits
    em = fmt.exp_max
    sign = (a ^ b) >> fmt.sign_shift
    ea = (a >> fb) & em
    eb = (b >> fb) & em
    if ea == em or eb == em:
        mag_a = a & fmt.mag_mask
        mag_b = b & fmt.mag_mask
        if mag_a > fmt.inf or mag_b > fmt.inf:
            return _nan_result(fmt, a, b)
        if not mag_a or not mag_b:
            return fmt.canonical_nan, NV  # inf * 0
        return (sign << fmt.sign_shift) | fmt.inf, 0
    fm = fmt.frac_mask
    ma = a & fm
    mb = b & fm
    if ea:
        ma |= fmt.hidden
    elif ma:
        ea = 1
    else:
        return sign << fmt.sign_shift, 0
    if eb:
        mb |= fmt.hidden
    elif mb:
        eb = 1
    else:
        return sign << fmt.sign_shift, 0
    return _round(fmt, sign, ma * mb, ea + eb - 2 * fmt.exp_offset, rm)


def div(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    """fdiv: ``a / b`` correctly rounded."""
    inf = fmt.inf
    mag_a = a & fmt.mag_mask
    mag_b = b & fmt.mag_mask
    sign = (a ^ b) >> fmt.sign_shift
    if mag_a >= inf or mag_b >= inf:
        if mag_a > inf or mag_b > inf:
            return _nan_result(fmt, a, b)
        if mag_a == inf:
            if mag_b == inf:
                return fmt.canonical_nan, NV
            return (sign << fmt.sign_shift) | inf, 0
        return sign << fmt.sign_shift, 0  # finite / inf
    if not mag_b:
        if not mag_a:
            return fmt.canonical_nan, NV  # 0 / 0
        return (sign << fmt.sign_shift) | inf, DZ
    if not mag_a:
        return sign << fmt.sign_shift, 0
    fb = fmt.frac_bits
    fm = fmt.frac_mask
    ea = mag_a >> fb
    eb = mag_b >> fb
    ma = mag_a & fm
    mb = mag_b & fm
    if ea:
        ma |= fmt.hidden
    else:
        ea = 1
    if eb:
        mb |= fmt.hidden
    else:
        eb = 1
    # Scale the dividend so the quotient has at least prec + 2 bits, which
    # leaves room for a guard bit above the sticky bit.
    k = fmt.prec + 2 + mb.bit_length() - ma.bit_length()
    q, r = divmod(ma << k, mb)
    if r:
        q |= 1
    return _round(fmt, sign, q, ea - eb - k, rm)


def sqrt(fmt: Format, a: int, rm: int) -> tuple[int, int]:
    """fsqrt: correctly rounded square root."""
    inf = fmt.inf
    mag = a & fmt.mag_mask
    if not mag:
        return a, 0  # sqrt(±0) = ±0
    if mag > inf:
        return _nan_result(fmt, a)
    if a >> fmt.sign_shift:
        return fmt.canonical_nan, NV
    if mag == inf:
        return a, 0
    _, m, x = _decode(fmt, a)
    # At least 2*prec + 3 bits in the radicand gives a root of at least
    # prec + 2 bits; the exponent must be even to halve it exactly.
    k = max(0, 2 * fmt.prec + 3 - m.bit_length())
    if (x - k) & 1:
        k += 1
    m <<= k
    s = isqrt(m)
    if s * s != m:
        s |= 1
    return _round(fmt, 0, s, (x - k) >> 1, rm)


def fma(
    fmt: Format,
    a: int,
    b: int,
    c: int,
    rm: int,
    negate_product: bool = False,
    negate_addend: bool = False,
) -> tuple[int, int]:
    """Fused ``(±a*b) ± c`` with a single rounding.

    fmadd: neither negation; fmsub: ``negate_addend``; fnmsub:
    ``negate_product``; fnmadd: both.
    """
    sm = fmt.sign_mask
    if negate_product:
        a ^= sm
    if negate_addend:
        c ^= sm
    inf = fmt.inf
    mag_a = a & fmt.mag_mask
    mag_b = b & fmt.mag_mask
    mag_c = c & fmt.mag_mask
    sp = (a ^ b) >> fmt.sign_shift
    if mag_a >= inf or mag_b >= inf or mag_c >= inf:
        # RISC-V requires NV for inf * 0 even when the addend is a quiet NaN.
        if (mag_a == inf and not mag_b) or (mag_b == inf and not mag_a):
            return fmt.canonical_nan, NV
        if mag_a > inf or mag_b > inf or mag_c > inf:
            return _nan_result(fmt, a, b, c)
        if mag_a == inf or mag_b == inf:
            if mag_c == inf and (c >> fmt.sign_shift) != sp:
                return fmt.canonical_nan, NV  # inf - inf
            return (sp << fmt.sign_shift) | inf, 0
        return c, 0  # finite product + inf
    sc = c >> fmt.sign_shift
    if not mag_a or not mag_b:
        if not mag_c:
            return _zero_sum(fmt, sp, sc, rm)
        return c, 0  # exact: a zero product leaves the addend as it is
    fb = fmt.frac_bits
    fm = fmt.frac_mask
    hidden = fmt.hidden
    ea = mag_a >> fb
    eb = mag_b >> fb
    ma = mag_a & fm
    mb = mag_b & fm
    if ea:
        ma |= hidden
    else:
        ea = 1
    if eb:
        mb |= hidden
    else:
        eb = 1
    xp = ea + eb - 2 * fmt.exp_offset
    if not mag_c:
        return _round(fmt, sp, ma * mb, xp, rm)
    ec = mag_c >> fb
    mc = mag_c & fm
    if ec:
        mc |= hidden
    else:
        ec = 1
    return _sum(fmt, sp, ma * mb, xp, sc, mc, ec - fmt.exp_offset, rm)


# --------------------------------------------------------------------------
# Min/max, comparisons, classification
# --------------------------------------------------------------------------


def _order_key(fmt: Format, x: int) -> int:
    # Total order on non-NaN values that puts -0 below +0.
    if x >> fmt.sign_shift:
        return -(x & fmt.mag_mask) - 1
    return x


def _compare_key(fmt: Format, x: int) -> int:
    # Numeric order on non-NaN values: both zeros map to 0.
    if x >> fmt.sign_shift:
        return -(x & fmt.mag_mask)
    return x


def _min_max(fmt: Format, a: int, b: int, want_max: bool) -> tuple[int, int]:
    inf = fmt.inf
    a_nan = (a & fmt.mag_mask) > inf
    b_nan = (b & fmt.mag_mask) > inf
    if a_nan or b_nan:
        flags = _snan_flag(fmt, a, b)
        if a_nan and b_nan:
            return fmt.canonical_nan, flags
        return (b if a_nan else a), flags
    if (_order_key(fmt, a) < _order_key(fmt, b)) == want_max:
        return b, 0
    return a, 0


def min_(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """fmin (IEEE 754-2019 minimumNumber, -0 < +0)."""
    return _min_max(fmt, a, b, False)


def max_(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """fmax (IEEE 754-2019 maximumNumber, -0 < +0)."""
    return _min_max(fmt, a, b, True)


def eq(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """feq: quiet comparison; NV only for signalling NaN inputs."""
    mm = fmt.mag_mask
    if (a & mm) > fmt.inf or (b & mm) > fmt.inf:
        return 0, _snan_flag(fmt, a, b)
    return int(a == b or not ((a | b) & mm)), 0


def lt(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """flt: signalling comparison; any NaN input raises NV and yields 0."""
    mm = fmt.mag_mask
    if (a & mm) > fmt.inf or (b & mm) > fmt.inf:
        return 0, NV
    return int(_compare_key(fmt, a) < _compare_key(fmt, b)), 0


def le(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """fle: signalling comparison; any NaN input raises NV and yields 0."""
    mm = fmt.mag_mask
    if (a & mm) > fmt.inf or (b & mm) > fmt.inf:
        return 0, NV
    return int(_compare_key(fmt, a) <= _compare_key(fmt, b)), 0


def classify(fmt: Format, a: int) -> int:
    """fclass: one-hot mask.

    bit 0 -inf, 1 -normal, 2 -subnormal, 3 -0, 4 +0, 5 +subnormal,
    6 +normal, 7 +inf, 8 signalling NaN, 9 quiet NaN.
    """
    mag = a & fmt.mag_mask
    inf = fmt.inf
    if mag > inf:
        return 1 << 9 if a & fmt.quiet_bit else 1 << 8
    if mag == inf:
        bit = 7
    elif mag >= fmt.hidden:
        bit = 6
    elif mag:
        bit = 5
    else:
        bit = 4
    # The negative classes mirror the positive ones around bit 3.5.
    return 1 << (7 - bit) if a >> fmt.sign_shift else 1 << bit


# --------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------


def convert(src_fmt: Format, dst_fmt: Format, a: int, rm: int) -> tuple[int, int]:
    """fcvt between floating-point formats (fcvt.s.d, fcvt.d.s)."""
    mag = a & src_fmt.mag_mask
    sign = a >> src_fmt.sign_shift
    if mag >= src_fmt.inf:
        if mag > src_fmt.inf:
            return dst_fmt.canonical_nan, _snan_flag(src_fmt, a)
        return (sign << dst_fmt.sign_shift) | dst_fmt.inf, 0
    if not mag:
        return sign << dst_fmt.sign_shift, 0
    _, m, x = _decode(src_fmt, a)
    return _round(dst_fmt, sign, m, x, rm)


_MASK64 = (1 << 64) - 1


def to_int(fmt: Format, a: int, rm: int, bits: int, signed: bool) -> tuple[int, int]:
    """fcvt.{w,wu,l,lu}.{s,d}.

    Returns the destination register value as an unsigned 64-bit pattern:
    32-bit results (signed or not) are sign-extended from bit 31, as RV64
    writes them.  A rounded value that does not fit saturates to the nearest
    bound and raises NV only; NaN converts to the largest value.
    """
    if signed:
        lo = -(1 << (bits - 1))
        hi = (1 << (bits - 1)) - 1
    else:
        lo = 0
        hi = (1 << bits) - 1
    mag = a & fmt.mag_mask
    negative = a >> fmt.sign_shift
    flags = 0
    if mag > fmt.inf:
        r = hi
        flags = NV
    elif mag == fmt.inf:
        r = lo if negative else hi
        flags = NV
    else:
        _, m, x = _decode(fmt, a)
        if x >= 0:
            # Anything of 2**(bits+1) or more saturates; capping the shift
            # avoids building enormous integers for large exponents.
            r = m << min(x, bits + 1)
        else:
            r, inexact = _round_bits(m, -x, negative, rm)
            if inexact:
                flags = NX
        if negative:
            r = -r
        if r < lo:
            r, flags = lo, NV
        elif r > hi:
            r, flags = hi, NV
    if bits == 32 and r & 0x80000000:
        r |= ~0xFFFFFFFF
    return r & _MASK64, flags


def from_int(fmt: Format, value: int, bits: int, signed: bool, rm: int) -> tuple[int, int]:
    """fcvt.{s,d}.{w,wu,l,lu}: convert the low ``bits`` bits of a register."""
    v = value & ((1 << bits) - 1)
    if signed and v >> (bits - 1):
        v -= 1 << bits
    if not v:
        return 0, 0
    if v < 0:
        return _round(fmt, 1, -v, 0, rm)
    return _round(fmt, 0, v, 0, rm)
