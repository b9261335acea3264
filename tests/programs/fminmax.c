/* fmin/fmax and comparisons with signed zeros and NaNs (RISC-V F/D 2.2
 * semantics: -0 < +0 for min/max, a single NaN operand yields the other
 * operand, two NaNs yield the canonical NaN, signalling NaNs raise INVALID;
 * feq is quiet, flt/fle signal on any NaN). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static unsigned long take_flags(void)
{
    unsigned long f;
    __asm__ volatile("csrrw %0, fflags, zero" : "=r"(f));
    return f;
}
static double d_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}
static uint64_t u_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}
static float f_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t w_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

int main(void)
{
    static const uint64_t dv[] = {0x0000000000000000ull, 0x8000000000000000ull,
                                  0x3ff0000000000000ull, 0xbff0000000000000ull,
                                  0x7ff0000000000000ull, 0xfff0000000000000ull,
                                  0x7ff8000000000000ull, 0x7ff8dead00000000ull,
                                  0x7ff4000000000000ull, 0x0000000000000001ull};
    const unsigned n = sizeof dv / sizeof dv[0];
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < n; j++) {
            double a = d_of(dv[i]), b = d_of(dv[j]), mn, mx;
            long eq, lt, le;
            take_flags();
            __asm__ volatile("fmin.d %0, %1, %2" : "=f"(mn) : "f"(a), "f"(b));
            __asm__ volatile("fmax.d %0, %1, %2" : "=f"(mx) : "f"(a), "f"(b));
            unsigned long fm = take_flags();
            __asm__ volatile("feq.d %0, %1, %2" : "=r"(eq) : "f"(a), "f"(b));
            unsigned long fe = take_flags();
            __asm__ volatile("flt.d %0, %1, %2" : "=r"(lt) : "f"(a), "f"(b));
            __asm__ volatile("fle.d %0, %1, %2" : "=r"(le) : "f"(a), "f"(b));
            unsigned long fc = take_flags();
            printf("%u,%u min %016llx max %016llx fl=%lx eq %ld fl=%lx lt %ld le %ld fl=%lx\n", i,
                   j, (unsigned long long)u_of(mn), (unsigned long long)u_of(mx), fm, eq, fe, lt,
                   le, fc);
        }
    static const uint32_t sv[] = {0x00000000u, 0x80000000u, 0x3f800000u, 0x7fc00000u,
                                  0x7fa00000u, 0xff800000u};
    const unsigned m = sizeof sv / sizeof sv[0];
    for (unsigned i = 0; i < m; i++)
        for (unsigned j = 0; j < m; j++) {
            float a = f_of(sv[i]), b = f_of(sv[j]), mn, mx;
            long lt;
            take_flags();
            __asm__ volatile("fmin.s %0, %1, %2" : "=f"(mn) : "f"(a), "f"(b));
            __asm__ volatile("fmax.s %0, %1, %2" : "=f"(mx) : "f"(a), "f"(b));
            unsigned long fm = take_flags();
            __asm__ volatile("flt.s %0, %1, %2" : "=r"(lt) : "f"(a), "f"(b));
            unsigned long fc = take_flags();
            printf("s%u,%u min %08x max %08x fl=%lx lt %ld fl=%lx\n", i, j, w_of(mn), w_of(mx), fm,
                   lt, fc);
        }
    /* The libm functions, which compile to the same instructions. */
    volatile double pz = 0.0, nz = -0.0, nan = d_of(0x7ff8000000000000ull);
    printf("libm fmin(+0,-0) %016llx fmax(-0,+0) %016llx fmin(nan,1) %g fmax(nan,nan) %016llx\n",
           (unsigned long long)u_of(fmin(pz, nz)), (unsigned long long)u_of(fmax(nz, pz)),
           fmin(nan, 1.0), (unsigned long long)u_of(fmax(nan, nan)));
    return 0;
}
