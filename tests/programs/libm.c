/* test-cflags: -ffp-contract=off */
/* libm in double and single precision. glibc's implementations are
 * correctly rounded or deterministic given IEEE-exact fadd/fmul/fmadd/fsqrt,
 * so bit-exact results check the FPU including fused multiply-add (single
 * rounding), sqrt and conversions. Inputs are volatile so gcc cannot
 * evaluate the calls at compile time. */
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

static volatile double in[] = {0.0, -0.0, 0.5, 1.0, 2.0, -2.5, 3.141592653589793, 10.0, 1e-300,
                               1e300, 123.456, -0.75, 0.1, 700.0, -745.2, 1e-8};
#define NIN (sizeof in / sizeof in[0])

typedef double (*f1)(double);
typedef float (*f1f)(float);

int main(void)
{
    static const struct {
        const char *name;
        f1 f;
    } d1[] = {{"sqrt", sqrt},   {"sin", sin},     {"cos", cos},     {"tan", tan},   {"exp", exp},
              {"log", log},     {"log2", log2},   {"log10", log10}, {"cbrt", cbrt}, {"expm1", expm1},
              {"log1p", log1p}, {"sinh", sinh},   {"tanh", tanh},   {"atan", atan}, {"asin", asin},
              {"floor", floor}, {"ceil", ceil},   {"round", round}, {"trunc", trunc},
              {"rint", rint},   {"erf", erf},     {"exp2", exp2},   {"fabs", fabs}};
    for (unsigned k = 0; k < sizeof d1 / sizeof d1[0]; k++) {
        unsigned long long h = 0;
        printf("%-6s", d1[k].name);
        for (unsigned i = 0; i < NIN; i++) {
            double r = d1[k].f(in[i]);
            h = h * 1000003ull ^ b64(r);
            if (i % 5 == 2) printf(" %a", r);
        }
        printf(" | %016llx\n", h);
    }
    static const struct {
        const char *name;
        f1f f;
    } s1[] = {{"sqrtf", sqrtf}, {"sinf", sinf},   {"cosf", cosf},   {"expf", expf},
              {"logf", logf},   {"cbrtf", cbrtf}, {"atanf", atanf}, {"floorf", floorf}};
    for (unsigned k = 0; k < sizeof s1 / sizeof s1[0]; k++) {
        unsigned long long h = 0;
        printf("%-6s", s1[k].name);
        for (unsigned i = 0; i < NIN; i++) {
            float r = s1[k].f((float)in[i]);
            h = h * 1000003ull ^ b32(r);
            if (i % 5 == 2) printf(" %a", (double)r);
        }
        printf(" | %016llx\n", h);
    }
    for (unsigned i = 0; i + 1 < NIN; i += 3) {
        double x = in[i], y = in[i + 1];
        printf("pow(%g,%g)=%a atan2=%a hypot=%a fmod=%a remainder=%a\n", x, y, pow(x, y),
               atan2(x, y), hypot(x, y), fmod(x, y), remainder(x, y));
    }
    volatile double a = 1.0 + 0x1p-52, b = 1.0 - 0x1p-53, c = -1.0;
    /* fma rounds once: a*b+c is exactly 2^-53 - 2^-105 here, which the
     * separately rounded product would lose entirely. */
    printf("fma %a vs mul-add %a\n", fma(a, b, c), a * b + c);
    volatile float fa = 1.0f + 0x1p-23f, fb = 1.0f - 0x1p-24f, fc = -1.0f;
    printf("fmaf %a vs mul-add %a\n", (double)fmaf(fa, fb, fc), (double)(fa * fb + fc));
    printf("fma signs %a %a\n", fma(-0.0, 1.0, 0.0), fma(0.0, -1.0, -0.0));
    int e;
    double m = frexp(in[10], &e);
    double ip;
    double fp = modf(in[5], &ip);
    printf("frexp %a %d ldexp %a %a modf %a %a\n", m, e, ldexp(in[10], -1030), ldexp(in[4], 1023),
           fp, ip);
    printf("lgamma %a tgamma %a\n", lgamma(in[10]), tgamma(in[11]));
    printf("powf %a sqrt(-1) %f\n", (double)powf((float)in[10], 0.5f), sqrt(in[11]));
    return 0;
}
