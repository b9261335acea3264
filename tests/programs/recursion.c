/* Deep and mutual recursion: many nested calls and returns, stack frames
 * with saved registers, and a return-address stack far deeper than any
 * predictor. Ackermann(2, n) and (3, n) recurse thousands of levels. */
#include <stdio.h>

static unsigned long calls;

static unsigned long ack(unsigned long m, unsigned long n)
{
    calls++;
    if (m == 0) return n + 1;
    if (n == 0) return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

static int is_odd(unsigned n);
static int is_even(unsigned n) { return n == 0 ? 1 : is_odd(n - 1); }
static int is_odd(unsigned n) { return n == 0 ? 0 : is_even(n - 1); }

static unsigned long fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

/* Large frames exercise stack addressing with big offsets. */
static long deep(int n, volatile long *acc)
{
    volatile long frame[64];
    for (int i = 0; i < 64; i++) frame[i] = n * i;
    if (n == 0) return *acc;
    *acc += frame[n % 64];
    return deep(n - 1, acc) + frame[(n * 7) % 64];
}

int main(void)
{
    for (unsigned long m = 0; m <= 3; m++)
        for (unsigned long n = 0; n <= 4; n++) {
            calls = 0;
            unsigned long r = ack(m, n);
            printf("ack(%lu,%lu) = %lu calls %lu\n", m, n, r, calls);
        }
    calls = 0;
    printf("ack(2,500) = %lu calls %lu\n", ack(2, 500), calls);
    printf("even(10001) %d odd(7777) %d\n", is_even(10001), is_odd(7777));
    printf("fib(24) = %lu\n", fib(24));
    volatile long acc = 0;
    printf("deep %ld\n", deep(5000, &acc));
    return 0;
}
