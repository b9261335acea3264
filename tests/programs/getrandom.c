/* getrandom(2) with and without flags, and rand_r for determinism. Random
 * bytes differ between runs, so only properties are printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int main(void)
{
    unsigned char a[64], b[64];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    ssize_t na = getrandom(a, sizeof a, 0);
    ssize_t nb = getrandom(b, sizeof b, GRND_NONBLOCK);
    printf("getrandom %zd %zd\n", na, nb);
    printf("two draws differ %s\n", memcmp(a, b, sizeof a) != 0 ? "ok" : "FAIL");
    int zeros = 0;
    for (unsigned i = 0; i < sizeof a; i++) zeros += a[i] == 0;
    printf("not all zero %s\n", zeros < 16 ? "ok" : "FAIL");
    unsigned char big[10000];
    ssize_t nbig = getrandom(big, sizeof big, 0);
    printf("large request %zd\n", nbig);
    printf("zero-length %zd\n", getrandom(a, 0, 0));
    unsigned seed = 99;
    printf("rand_r %d %d\n", rand_r(&seed), rand_r(&seed));
    srand(7);
    printf("rand %d %d\n", rand(), rand());
    return 0;
}
