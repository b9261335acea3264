/* test-cflags: -frounding-math -fsignaling-nans -ffp-contract=off */
/* Dynamic rounding modes (frm), static rounding modes encoded in the
 * instruction, and the accrued exception flags (fflags). Wasm has only
 * round-to-nearest-even and no flags, so an emulator must compute these
 * itself. Each operation is checked for its result bits and for exactly the
 * flags it raises. */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static unsigned long long b64(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return (unsigned long long)u;
}
static unsigned b32(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void flags(const char *what)
{
    int f = fetestexcept(FE_ALL_EXCEPT);
    printf("%-22s%s%s%s%s%s%s\n", what, f & FE_INEXACT ? " INEXACT" : "",
           f & FE_UNDERFLOW ? " UNDERFLOW" : "", f & FE_OVERFLOW ? " OVERFLOW" : "",
           f & FE_DIVBYZERO ? " DIVBYZERO" : "", f & FE_INVALID ? " INVALID" : "",
           f ? "" : " none");
    feclearexcept(FE_ALL_EXCEPT);
}

static const struct {
    int mode;
    const char *name;
} modes[] = {{FE_TONEAREST, "RNE"}, {FE_DOWNWARD, "RDN"}, {FE_UPWARD, "RUP"}, {FE_TOWARDZERO, "RTZ"}};

static volatile double one = 1.0, three = 3.0, two = 2.0, zero = 0.0, big = DBL_MAX, tiny = DBL_MIN;
static volatile float fone = 1.0f, fthree = 3.0f;

int main(void)
{
    static const double rvals[] = {2.5, -2.5, 1.5, -1.5, 0.5, -0.5, 2.4999999999999996, 1e16 + 1};
    for (unsigned m = 0; m < 4; m++) {
        if (fesetround(modes[m].mode) != 0) printf("fesetround failed\n");
        printf("mode %s get=%d\n", modes[m].name, fegetround() == modes[m].mode);
        printf("  rint");
        for (unsigned i = 0; i < sizeof rvals / sizeof rvals[0]; i++) {
            volatile double v = rvals[i];
            printf(" %g", rint(v));
        }
        printf("\n  nearbyint %g %g lrint %ld llrint %lld\n", nearbyint(-3.5), nearbyint(3.5),
               lrint(-7.5), llrint(7.5));
        printf("  1/3 %016llx -1/3 %016llx f %08x\n", b64(one / three), b64(-one / three),
               b32(fone / fthree));
        printf("  sqrt2 %016llx add %016llx mul %016llx\n", b64(sqrt(two)),
               b64(one + 0x1p-60), b64(three * (1.0 + 0x1p-52)));
        printf("  d->f %08x %08x sub0 %016llx\n", b32((float)(one / three)),
               b32((float)-(one / three)), b64(one - one));
        volatile double x = 1.0 + 0x1p-30 + 0x1p-52;
        printf("  fma %016llx ovf %016llx\n", b64(fma(x, x, -one)), b64(big * two));
        volatile int64_t big_i = 0x7ffffffffffffdffLL;
        printf("  i->d %016llx u->f %08x\n", b64((double)big_i), b32((float)(uint64_t)-1));
    }
    fesetround(FE_TONEAREST);
    feclearexcept(FE_ALL_EXCEPT);
    flags("initial");
    volatile double r;
    r = one + two;
    flags("1+2");
    r = one / three;
    flags("1/3");
    r = one / zero;
    flags("1/0");
    r = zero / zero;
    flags("0/0");
    r = sqrt(-one);
    flags("sqrt(-1)");
    r = big * two;
    flags("max*2");
    r = tiny / three;
    flags("min/3");
    r = tiny / 4.0;
    flags("min/4 (exact)");
    r = 0x1p-1070 * 0.5;
    flags("denorm/2 (exact?)");
    volatile double nan = zero / zero;
    feclearexcept(FE_ALL_EXCEPT);
    r = nan + one;
    flags("qnan+1");
    r = (double)(nan == nan);
    flags("qnan==qnan");
    r = (double)(nan < one);
    flags("qnan<1");
    r = (double)isless(nan, one);
    flags("isless(qnan,1)");
    volatile double snan = __builtin_nans("");
    r = snan + one;
    printf("snan+1 bits %016llx\n", b64(r));
    flags("snan+1");
    r = (double)(snan == snan);
    flags("snan==snan");
    volatile float fsnan = __builtin_nansf("");
    r = (double)fsnan;
    printf("(double)fsnan bits %016llx\n", b64(r));
    flags("fcvt.d.s snan");
    volatile double dbig = 1e20;
    volatile int ir = (int)2.5;
    (void)ir;
    r = (double)(int)(dbig / 1e10);
    flags("(int)1e10");
    r = (double)(long)(one * 2.5);
    flags("(long)2.5");
    r = (double)(unsigned)(-one / 2);
    flags("(unsigned)-0.5");
    r = (double)(float)(one / three);
    flags("(float)(1/3)");
    r = (double)(float)big;
    flags("(float)DBL_MAX");
    r = fmin(snan, one);
    flags("fmin(snan,1)");
    r = fmax(nan, one);
    flags("fmax(qnan,1)");
    (void)r;

    /* fflags and frm read and written directly through the CSRs. */
    unsigned long fcsr, frm, fl;
    __asm__ volatile("csrw fcsr, %0" ::"r"(0xffUL));
    __asm__ volatile("csrr %0, fcsr\n\tcsrr %1, frm\n\tcsrr %2, fflags"
                     : "=r"(fcsr), "=r"(frm), "=r"(fl));
    printf("fcsr %lx frm %lx fflags %lx\n", fcsr, frm, fl);
    __asm__ volatile("csrwi frm, 3\n\tcsrci fflags, 5\n\tcsrr %0, fcsr" : "=r"(fcsr));
    printf("fcsr after %lx\n", fcsr);
    __asm__ volatile("fsrm %1, %2\n\tfsflags %0, zero" : "=r"(fl), "=r"(frm) : "r"(1UL));
    printf("swapped frm %lx fflags %lx\n", frm, fl);
    __asm__ volatile("csrw fcsr, zero");

    /* Static rounding modes override frm (set to RUP to make that visible). */
    fesetround(FE_UPWARD);
    double a = one, b = three, q;
#define STATIC_RM(rm)                                                                      \
    __asm__ volatile("fdiv.d %0, %1, %2, " rm : "=f"(q) : "f"(a), "f"(b));                 \
    printf("fdiv.d " rm " %016llx", b64(q));                                               \
    __asm__ volatile("fdiv.d %0, %1, %2, " rm : "=f"(q) : "f"(-a), "f"(b));                \
    printf(" %016llx\n", b64(q));
    STATIC_RM("rne")
    STATIC_RM("rtz")
    STATIC_RM("rdn")
    STATIC_RM("rup")
    STATIC_RM("rmm")
    STATIC_RM("dyn")
    long cv;
    double h = 2.5;
    __asm__ volatile("fcvt.l.d %0, %1, rmm" : "=r"(cv) : "f"(h));
    printf("fcvt.l.d 2.5 rmm %ld", cv);
    __asm__ volatile("fcvt.l.d %0, %1, rne" : "=r"(cv) : "f"(h));
    printf(" rne %ld", cv);
    __asm__ volatile("fcvt.l.d %0, %1, dyn" : "=r"(cv) : "f"(-h));
    printf(" dyn(rup) -2.5 %ld\n", cv);
    fesetround(FE_TONEAREST);
    feclearexcept(FE_ALL_EXCEPT);
    return 0;
}
