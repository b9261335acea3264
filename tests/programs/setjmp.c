/* setjmp/longjmp save and restore sp, ra, s0-s11 and fs0-fs11; a longjmp
 * out of deep recursion and out of a signal-free nested call chain must land
 * with callee-saved integer and FP registers intact. */
#include <setjmp.h>
#include <stdio.h>

static jmp_buf env;
static int depth_reached;
static volatile int depth_limit = 10000; /* never reached; keeps gcc from calling dive() endless */

static void dive(int n)
{
    volatile char pad[200];
    if (n > depth_limit) return;
    pad[n % 200] = (char)n;
    if (n == 300) {
        depth_reached = n + pad[n % 200] - (char)n;
        longjmp(env, n);
    }
    dive(n + 1);
}

static void thrower(int v) { longjmp(env, v); }

/* Keep values live in callee-saved registers across setjmp by using them
 * after the second return; gcc assigns them to s- and fs- registers. */
static double fp_kept(double a, double b)
{
    jmp_buf local;
    register double x = a * b, y = a + b, z = a - b;
    if (setjmp(local) == 0) {
        volatile double sink = x + y + z;
        (void)sink;
        longjmp(local, 1);
    }
    return x * 1000 + y * 10 + z;
}

int main(void)
{
    volatile int count = 0;
    int r = setjmp(env);
    printf("setjmp returned %d\n", r);
    if (count++ == 0) dive(0);
    printf("after dive depth %d count %d\n", depth_reached, count);

    r = setjmp(env);
    if (r == 0) thrower(0); /* longjmp(env, 0) makes setjmp return 1 */
    printf("longjmp 0 gives %d\n", r);

    volatile long total = 0;
    for (volatile int i = 0; i < 1000; i++) {
        if ((r = setjmp(env)) == 0) thrower(i + 1);
        total += r;
    }
    printf("total %ld\n", (long)total);
    printf("fp kept %.3f\n", fp_kept(1.5, 2.25));
    return 0;
}
