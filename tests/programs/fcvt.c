/* Float <-> integer conversions at and beyond the limits. RISC-V saturates
 * out-of-range values (NaN converts to the maximum) and raises INVALID, and
 * raises only INEXACT for in-range values that lose a fraction. Also checks
 * NaN boxing of single-precision values in the 64-bit FP registers: an
 * improperly boxed input must read as the canonical NaN. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static unsigned long fflags_take(void)
{
    unsigned long f;
    __asm__ volatile("csrrw %0, fflags, zero" : "=r"(f));
    return f;
}

#define CVT(insn, outty, fmt, inreg, val)                                        \
    do {                                                                          \
        outty r;                                                                  \
        fflags_take();                                                            \
        __asm__ volatile(insn " %0, %1, rtz" : "=r"(r) : "f"(val));               \
        printf("  %-9s " fmt " fl=%02lx\n", insn, r, fflags_take());              \
    } while (0)

static double dbits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

int main(void)
{
    static const uint64_t dv[] = {
        0x0000000000000000ull, 0x8000000000000000ull, 0x3fe8000000000000ull /* 0.75 */,
        0xbfeccccccccccccdull /* -0.9 */, 0xbff0000000000000ull /* -1 */,
        0x41dfffffffc00000ull /* 2^31-1 */, 0x41dfffffffe00000ull /* 2^31-0.5 */,
        0x41e0000000000000ull /* 2^31 */, 0xc1e0000000000000ull /* -2^31 */,
        0xc1e0000000200000ull /* -2^31-1 */, 0x41efffffffe00000ull /* 2^32-1 */,
        0x41f0000000000000ull /* 2^32 */, 0x43dfffffffffffffull /* < 2^63 */,
        0x43e0000000000000ull /* 2^63 */, 0xc3e0000000000000ull /* -2^63 */,
        0x43f0000000000000ull /* 2^64 */, 0x7ff0000000000000ull /* inf */,
        0xfff0000000000000ull /* -inf */, 0x7ff8000000000000ull /* qnan */,
        0xfff8000000000001ull /* -qnan */, 0x7ff0000000000001ull /* snan */,
        0x0000000000000001ull /* denormal */, 0x4415af1d78b58c40ull /* 1e20 */};
    for (unsigned i = 0; i < sizeof dv / sizeof dv[0]; i++) {
        double d = dbits(dv[i]);
        float f;
        printf("d=%016llx (%g)\n", (unsigned long long)dv[i], d);
        CVT("fcvt.w.d", long, "%ld", "f", d);
        CVT("fcvt.wu.d", long, "%lx", "f", d);
        CVT("fcvt.l.d", long, "%ld", "f", d);
        CVT("fcvt.lu.d", unsigned long, "%lx", "f", d);
        fflags_take();
        __asm__ volatile("fcvt.s.d %0, %1" : "=f"(f) : "f"(d));
        unsigned long fl = fflags_take();
        uint32_t fb;
        memcpy(&fb, &f, 4);
        printf("  fcvt.s.d  %08x fl=%02lx\n", fb, fl);
        CVT("fcvt.w.s", long, "%ld", "f", f);
        CVT("fcvt.wu.s", long, "%lx", "f", f);
        CVT("fcvt.l.s", long, "%ld", "f", f);
        CVT("fcvt.lu.s", unsigned long, "%lx", "f", f);
        unsigned long cls;
        __asm__ volatile("fclass.d %0, %1" : "=r"(cls) : "f"(d));
        printf("  fclass.d %03lx", cls);
        __asm__ volatile("fclass.s %0, %1" : "=r"(cls) : "f"(f));
        printf(" fclass.s %03lx\n", cls);
    }

    /* Integer to float: rounding of wide integers and the W/WU forms that
     * read only the low 32 bits of the source register. */
    static const uint64_t iv[] = {0, 1, 0xffffffffffffffffull, 0x7fffffffffffffffull,
                                  0x8000000000000000ull, 0x00000000ffffffffull,
                                  0xffffffff80000000ull, 0x1234567880000001ull,
                                  0x0020000000000001ull, 0x0000000001000001ull};
    for (unsigned i = 0; i < sizeof iv / sizeof iv[0]; i++) {
        double d1, d2, d3, d4;
        float f1, f2, f3, f4;
        uint64_t x = iv[i];
        fflags_take();
        __asm__ volatile("fcvt.d.l %0, %1" : "=f"(d1) : "r"(x));
        __asm__ volatile("fcvt.d.lu %0, %1" : "=f"(d2) : "r"(x));
        __asm__ volatile("fcvt.d.w %0, %1" : "=f"(d3) : "r"(x));
        __asm__ volatile("fcvt.d.wu %0, %1" : "=f"(d4) : "r"(x));
        unsigned long fld = fflags_take();
        __asm__ volatile("fcvt.s.l %0, %1" : "=f"(f1) : "r"(x));
        __asm__ volatile("fcvt.s.lu %0, %1" : "=f"(f2) : "r"(x));
        __asm__ volatile("fcvt.s.w %0, %1" : "=f"(f3) : "r"(x));
        __asm__ volatile("fcvt.s.wu %0, %1" : "=f"(f4) : "r"(x));
        unsigned long fls = fflags_take();
        printf("i=%016llx d %a %a %a %a fl=%02lx s %a %a %a %a fl=%02lx\n", (unsigned long long)x,
               d1, d2, d3, d4, fld, (double)f1, (double)f2, (double)f3, (double)f4, fls);
    }

    /* NaN boxing: single values live in the low half with all-ones above. */
    uint64_t raw;
    float one = 1.0f, res;
    __asm__ volatile("fmv.x.d %0, %1" : "=r"(raw) : "f"(one));
    printf("boxed 1.0f as d: %016llx\n", (unsigned long long)raw);
    uint64_t unboxed = 0x000000003f800000ull; /* 1.0f without the box */
    uint64_t out;
    __asm__ volatile("fmv.d.x ft0, %1\n\tfadd.s ft1, ft0, ft0\n\tfmv.x.d %0, ft1"
                     : "=r"(out) : "r"(unboxed) : "ft0", "ft1");
    printf("fadd.s of unboxed: %016llx\n", (unsigned long long)out);
    __asm__ volatile("fmv.d.x ft0, %1\n\tfsgnj.s ft1, ft0, ft0\n\tfmv.x.d %0, ft1"
                     : "=r"(out) : "r"(unboxed) : "ft0", "ft1");
    printf("fsgnj.s of unboxed: %016llx\n", (unsigned long long)out);
    __asm__ volatile("fmv.d.x ft0, %1\n\tfmv.x.w %0, ft0" : "=r"(out) : "r"(0x12345678cafef00dull)
                     : "ft0");
    printf("fmv.x.w of unboxed: %016llx\n", (unsigned long long)out);
    __asm__ volatile("fmv.d.x ft0, %1\n\tfcvt.d.s ft1, ft0\n\tfmv.x.d %0, ft1"
                     : "=r"(out) : "r"(unboxed) : "ft0", "ft1");
    printf("fcvt.d.s of unboxed: %016llx\n", (unsigned long long)out);
    __asm__ volatile("fmv.w.x ft0, %1\n\tfmv.x.d %0, ft0" : "=r"(out) : "r"(0xdeadbeef80000000ull)
                     : "ft0");
    printf("fmv.w.x boxes: %016llx\n", (unsigned long long)out);
    volatile float mem = 2.0f;
    __asm__ volatile("flw ft0, %1\n\tfmv.x.d %0, ft0" : "=r"(out) : "m"(mem) : "ft0");
    printf("flw boxes: %016llx\n", (unsigned long long)out);
    __asm__ volatile("fmv.d.x ft0, %1\n\tfclass.s %0, ft0" : "=r"(out) : "r"(unboxed) : "ft0");
    printf("fclass.s of unboxed: %03llx\n", (unsigned long long)out);
    res = one;
    (void)res;
    /* Sign injection on doubles, including NaN payloads (no canonicalisation). */
    double nanp = dbits(0x7ff4000000000123ull), neg = -1.0;
    double s1, s2, s3;
    __asm__ volatile("fsgnj.d %0, %3, %4\n\tfsgnjn.d %1, %3, %4\n\tfsgnjx.d %2, %3, %4"
                     : "=&f"(s1), "=&f"(s2), "=&f"(s3) : "f"(nanp), "f"(neg));
    uint64_t u1, u2, u3;
    memcpy(&u1, &s1, 8);
    memcpy(&u2, &s2, 8);
    memcpy(&u3, &s3, 8);
    printf("fsgnj %016llx %016llx %016llx\n", (unsigned long long)u1, (unsigned long long)u2,
           (unsigned long long)u3);
    return 0;
}
