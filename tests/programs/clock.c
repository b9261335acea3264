/* Clocks and sleeping: clock_gettime (a vDSO call on real Linux, a plain
 * syscall under user-mode emulation) for several clocks, gettimeofday, time,
 * clock_getres and nanosleep. Times vary between runs, so only relations are
 * printed ("ok" or what failed). */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static long long ns(const struct timespec *t) { return (long long)t->tv_sec * 1000000000LL + t->tv_nsec; }

int main(void)
{
    struct timespec a, b, res;
    int ok = 1;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ok &= ns(&a) > 0 && a.tv_nsec >= 0 && a.tv_nsec < 1000000000L;
    long long prev = ns(&a);
    for (int i = 0; i < 200; i++) {
        clock_gettime(CLOCK_MONOTONIC, &b);
        ok &= ns(&b) >= prev;
        prev = ns(&b);
    }
    printf("monotonic non-decreasing %s\n", ok ? "ok" : "FAIL");

    /* It must actually advance: spin until it does (bounded). */
    long spins = 0;
    do {
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while (ns(&b) == ns(&a) && ++spins < 100000000L);
    printf("monotonic advances %s\n", ns(&b) > ns(&a) ? "ok" : "FAIL");

    struct timespec req = {0, 2000000}; /* 2 ms */
    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = nanosleep(&req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("nanosleep %d slept >= 2ms %s\n", r, ns(&b) - ns(&a) >= 2000000 ? "ok" : "FAIL");

    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    time_t t = time(NULL);
    /* 2020-01-01; the three realtime sources agree within a few seconds. */
    printf("realtime plausible %s\n", rt.tv_sec > 1577836800 ? "ok" : "FAIL");
    printf("realtime sources agree %s\n",
           tv.tv_sec - rt.tv_sec <= 2 && t - rt.tv_sec <= 2 && tv.tv_sec >= rt.tv_sec ? "ok" : "FAIL");
    printf("getres monotonic %s\n",
           clock_getres(CLOCK_MONOTONIC, &res) == 0 && ns(&res) > 0 && ns(&res) <= 10000000 ? "ok"
                                                                                         : "FAIL");
    struct timespec cpu1, cpu2;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
    volatile unsigned long x = 0;
    for (long i = 0; i < 200000; i++) x += (unsigned long)i;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu2);
    printf("process cputime non-decreasing %s\n", ns(&cpu2) >= ns(&cpu1) ? "ok" : "FAIL");
    printf("clock() non-negative %s\n", clock() >= 0 ? "ok" : "FAIL");
    return 0;
}
