/* qsort and bsearch through function pointers (indirect calls and returns),
 * on integers, doubles and strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 5000

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}
static int cmp_dbl_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static unsigned seed = 42;
static unsigned rnd(void)
{
    seed = seed * 1664525u + 1013904223u;
    return seed;
}

int main(void)
{
    static int v[N];
    static double d[N];
    static char words[N][12];
    static char *w[N];
    for (int i = 0; i < N; i++) {
        v[i] = (int)(rnd() % 100000) - 50000;
        d[i] = (double)(int)rnd() / 7.0;
        int len = 1 + (int)(rnd() % 10);
        for (int j = 0; j < len; j++) words[i][j] = (char)('a' + rnd() % 26);
        words[i][len] = 0;
        w[i] = words[i];
    }
    qsort(v, N, sizeof v[0], cmp_int);
    qsort(d, N, sizeof d[0], cmp_dbl_desc);
    qsort(w, N, sizeof w[0], cmp_str);
    int sorted = 1;
    for (int i = 1; i < N; i++) {
        sorted &= v[i - 1] <= v[i];
        sorted &= d[i - 1] >= d[i];
        sorted &= strcmp(w[i - 1], w[i]) <= 0;
    }
    printf("sorted %d\n", sorted);
    printf("ints %d %d %d %d\n", v[0], v[1], v[N / 2], v[N - 1]);
    printf("dbls %.6f %.6f %.6f\n", d[0], d[N / 2], d[N - 1]);
    printf("strs %s %s %s\n", w[0], w[N / 2], w[N - 1]);
    unsigned long sum = 0;
    for (int i = 0; i < N; i++) sum = sum * 31 + (unsigned long)(long)v[i];
    printf("sum %lu\n", sum);
    int found = 0;
    for (int k = -50000; k < 50000; k += 97) found += bsearch(&k, v, N, sizeof v[0], cmp_int) != NULL;
    printf("bsearch found %d\n", found);
    return 0;
}
