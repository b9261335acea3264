/* 128-bit integer arithmetic: multiplication lowers to mul/mulhu/mulhsu
 * sequences with carries, division and shifts to libgcc helpers full of
 * sltu/branches, so this checks carry handling across 64-bit halves. */
#include <stdint.h>
#include <stdio.h>

typedef unsigned __int128 u128;
typedef __int128 s128;

static void put(const char *label, u128 v)
{
    printf("%s %016llx%016llx\n", label, (unsigned long long)(v >> 64), (unsigned long long)v);
}

static u128 lcg = ((u128)0x0123456789abcdefull << 64) | 0xfedcba9876543210ull;
static u128 next(void)
{
    /* A 128-bit LCG exercises the multiply itself while generating data. */
    lcg = lcg * (((u128)0x2360ed051fc65da4ull << 64) | 0x4385df649fccf645ull) + 1;
    return lcg;
}

/* Decimal printing of 128-bit values uses __udivti3/__umodti3. */
static void put_dec(const char *label, s128 v)
{
    char buf[64];
    int n = 0, neg = v < 0;
    u128 u = neg ? -(u128)v : (u128)v;
    do {
        buf[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    printf("%s %s", label, neg ? "-" : "");
    while (n) putchar(buf[--n]);
    putchar('\n');
}

int main(void)
{
    volatile uint64_t a = 0xffffffffffffffffull, b = 0xfffffffffffffffeull;
    volatile int64_t c = INT64_MIN, d = -3;
    put("umul", (u128)a * b);
    put("smul", (s128)c * d);
    put("smul2", (s128)c * c);
    put("mixed", (s128)(int64_t)a * (u128)b);
    u128 x = ((u128)0x8000000000000000ull << 64) | 1;
    put("shl1", x << 1);
    put("shr1", x >> 1);
    put("sar1", (u128)((s128)x >> 1));
    for (volatile int s = 0; s < 128; s += 37) {
        printf("sh %d ", s);
        put("", x >> s);
    }
    put_dec("maxdec", (s128)(~(u128)0 >> 1));
    put_dec("mindec", (s128)((u128)1 << 127));
    u128 big = ((u128)0x0000000000123456ull << 64) | 0x789abcdef0123456ull;
    put("div", big / 12345);
    put("mod", big % 12345);
    put("div128", big / (((u128)1 << 64) + 3));
    s128 sn = -(s128)big;
    put("sdiv", (u128)(sn / 7));
    put("smod", (u128)(sn % 7));

    u128 h = 0;
    for (int i = 0; i < 2000; i++) {
        u128 p = next(), q = next() >> (i % 120);
        if (q == 0) q = 1;
        h = h * 31 + p * q + (p / q) + (p % q) + (p >> (i & 127)) + (p << (i & 127));
    }
    put("sweep", h);
    return 0;
}
