/* printf/strtod of doubles and floats. glibc's printf does exact multi-
 * precision conversion (integer heavy), and values such as 0.0/0.0 computed
 * at run time show whether the FPU produces RISC-V's canonical NaN (positive,
 * printed "nan"; x86 would give "-nan"). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}
static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

int main(void)
{
    volatile double zero = 0.0, one = 1.0, three = 3.0;
    double vals[] = {
        0.0, -0.0, 1.0, -1.5, 0.1, 1.0 / 3.0, 2.0 / 3.0, 123456789.125, 1e-5, 1e21, 1e22,
        1e300, DBL_MAX, DBL_MIN, DBL_MIN / 4, 4.9406564584124654e-324, M_PI, -M_E, 0.5, 2.5,
        9.999999999999999e22, 1.7976931348623157e308 / 3,
    };
    for (unsigned i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        double v = vals[i];
        printf("[%u] %%g=%g %%e=%e %%f=%.3f %%a=%a\n", i, v, v, v < 1e30 ? v : 0.0, v);
        printf("    %%.17g=%.17g %%.0e=%.0e %%#.3g=%#.3g %%+12.4e=%+12.4e %%-10.2g=%-10.2g|\n", v, v, v, v,
               v);
        printf("    %%.0f=%.0f %%.30f=%.30f %%.1a=%.1a bits=%016llx\n", v < 1e25 ? v : 1.0,
               v < 1e25 ? v : 1.0, v, (unsigned long long)bits(v));
    }
    double inf = one / zero, nan = zero / zero;
    printf("inf %f %e %g %a %F\n", inf, -inf, inf, -inf, inf);
    printf("nan %f %e %g %a %F bits=%016llx\n", nan, nan, nan, nan, nan,
           (unsigned long long)bits(nan));
    printf("negnan %f\n", -nan);
    float fvals[] = {0.1f, 1.0f / 3.0f, 16777217.0f, FLT_MAX, FLT_MIN, 1e-45f, -0.0f};
    for (unsigned i = 0; i < sizeof fvals / sizeof fvals[0]; i++)
        printf("f[%u] %.9g %a %e bits=%08x\n", i, (double)fvals[i], (double)fvals[i],
               (double)fvals[i], fbits(fvals[i]));
    float fnan = (float)(zero / zero);
    volatile float fz = 0.0f;
    float fnan2 = fz / fz;
    printf("fnan bits %08x %08x\n", fbits(fnan), fbits(fnan2));
    printf("div %.17g %.17g\n", one / three, (double)((float)one / (float)three));

    const char *inputs[] = {"0.1", "1e-320", "2.2250738585072011e-308", "1.7976931348623158e308",
                            "1.7976931348623159e308", "0x1.fffffffffffffp+1023", "-0",
                            "123456789012345678901234567890", "4.9e-324", "2.4703282292062327e-324",
                            "nan", "-inf", "1.00000000000000011102230246251565404236316680908203125"};
    for (unsigned i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        double d = strtod(inputs[i], NULL);
        float f = strtof(inputs[i], NULL);
        printf("strtod(%s) = %016llx  strtof = %08x\n", inputs[i], (unsigned long long)bits(d),
               fbits(f));
    }
    char buf[64];
    for (int p = 1; p <= 17; p += 4) {
        snprintf(buf, sizeof buf, "%.*g", p, M_PI * 1e10);
        printf("prec %d %s\n", p, buf);
    }
    printf("long double %.25Lg\n", (long double)1 / 3); /* soft-float binary128 */
    return 0;
}
