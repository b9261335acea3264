/* libc string and memory functions on buffers at every alignment. glibc's
 * word-at-a-time implementations read and write across alignment boundaries
 * and past terminators within a word, so misaligned loads/stores and byte
 * lanes must be exact. Results are checked against byte-by-byte references
 * and summarised per function. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 128

static unsigned char src[N], dst[N], ref[N], pristine[N];
static unsigned seed = 12345;
static unsigned char rnd(void)
{
    seed = seed * 1103515245u + 12345u;
    return (unsigned char)(seed >> 16);
}

static void fill(unsigned char *p, int n)
{
    for (int i = 0; i < n; i++) p[i] = rnd();
}

/* Byte-wise copy for setting up buffers, so setup does not depend on the
 * functions under test. */
static void copy_bytes(unsigned char *d, const unsigned char *s, int n)
{
    for (int i = 0; i < n; i++) d[i] = s[i];
}

/* Alignments: all of 0..7 plus a few odd ones beyond a word; lengths: every
 * length up to two words, then a few longer ones. */
static const int offsets[] = {0, 1, 2, 3, 4, 5, 6, 7, 9, 15};
static const unsigned char lengths[] = {0, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                              13, 14, 15, 16, 17, 23, 31, 40, 63, 79};
#define COUNT(a) (int)(sizeof a / sizeof a[0])

static int sign(int x) { return (x > 0) - (x < 0); }

static int ref_memcmp(const unsigned char *a, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

int main(void)
{
    int bad_memcpy = 0, bad_memmove = 0, bad_memset = 0, bad_memcmp = 0;
    int bad_strlen = 0, bad_strcmp = 0, bad_strchr = 0, bad_strcpy = 0, bad_memchr = 0;
    unsigned long sum = 0;

    fill(src, N);
    fill(pristine, N);
    for (int si = 0; si < COUNT(offsets); si++)
        for (int di = 0; di < COUNT(offsets); di++)
            for (int li = 0; li < COUNT(lengths); li++) {
                int so = offsets[si], d_o = offsets[(di + 3) % COUNT(offsets)], len = lengths[li];
                copy_bytes(dst, pristine, N);
                copy_bytes(ref, pristine, N);
                for (int i = 0; i < len; i++) ref[d_o + i] = src[so + i];
                memcpy(dst + d_o, src + so, (size_t)len);
                bad_memcpy += memcmp(dst, ref, N) != 0;

                /* Overlapping moves in both directions. */
                unsigned char tmp[N];
                for (int i = 0; i < len; i++) tmp[i] = dst[so + i];
                for (int i = 0; i < len; i++) ref[d_o + i] = tmp[i];
                memmove(dst + d_o, dst + so, (size_t)len);
                bad_memmove += memcmp(dst, ref, N) != 0;

                int c = rnd();
                for (int i = 0; i < len; i++) ref[d_o + i] = (unsigned char)c;
                memset(dst + d_o, c, (size_t)len);
                bad_memset += memcmp(dst, ref, N) != 0;

                /* memcmp with a single differing byte at a random place. */
                copy_bytes(dst + d_o, src + so, len);
                if (len) dst[d_o + rnd() % len] ^= (unsigned char)(1 + rnd() % 255);
                int got = sign(memcmp(dst + d_o, src + so, (size_t)len));
                bad_memcmp += got != ref_memcmp(dst + d_o, src + so, (size_t)len);
                sum = sum * 3 + (unsigned)(got + 1);

                if (len) {
                    unsigned char needle = src[so + rnd() % len];
                    void *m = memchr(src + so, needle, (size_t)len);
                    unsigned char *e = src + so;
                    while (*e != needle) e++;
                    bad_memchr += m != e;
                }
            }

    /* NUL-terminated strings: terminators at every position of a word. */
    char a[N], b[N];
    for (int off = 0; off < 16; off++)
        for (int len = 0; len < 40; len++) {
            for (int i = 0; i < off + len + 1; i++) a[i] = (char)(1 + rnd() % 200);
            a[off + len] = 0;
            bad_strlen += strlen(a + off) != (size_t)len;
            strcpy(b + (off ^ 5), a + off);
            bad_strcpy += strcmp(b + (off ^ 5), a + off) != 0;
            bad_strcpy += memcmp(b + (off ^ 5), a + off, (size_t)len + 1) != 0;
            if (len) {
                int k = rnd() % len;
                b[(off ^ 5) + k] = (char)(b[(off ^ 5) + k] + 1 + rnd() % 50);
                int expect = (unsigned char)b[(off ^ 5) + k] > (unsigned char)a[off + k] ? 1 : -1;
                bad_strcmp += sign(strcmp(b + (off ^ 5), a + off)) != expect;
                bad_strcmp += sign(strncmp(b + (off ^ 5), a + off, (size_t)k)) != 0;
                char ch = a[off + k];
                char *p = strchr(a + off, ch);
                int first = 0;
                while (a[off + first] != ch) first++;
                bad_strchr += p != a + off + first;
                bad_strchr += strchr(a + off, 0) != a + off + len;
                bad_strchr += strrchr(a + off, ch) == NULL;
            }
        }

    printf("memcpy %d memmove %d memset %d memcmp %d memchr %d\n", bad_memcpy, bad_memmove,
           bad_memset, bad_memcmp, bad_memchr);
    printf("strlen %d strcpy %d strcmp %d strchr %d\n", bad_strlen, bad_strcpy, bad_strcmp,
           bad_strchr);
    printf("memcmp signs %lx\n", sum);

    char buf[64];
    snprintf(buf, sizeof buf, "%s|%.3s|%-6s|%6s", "abc", "defgh", "ij", "kl");
    printf("fmt [%s] %zu\n", buf, strlen(buf));
    const char *hay = "haystack with needle";
    printf("strstr %td strspn %zu strcspn %zu\n", strstr(hay, "needle") - hay,
           strspn("aaabbbccc", "ab"), strcspn("hello, world", ", "));
    char tok[] = "one,two,,three";
    char *save, *t = strtok_r(tok, ",", &save);
    while (t) {
        printf("tok %s\n", t);
        t = strtok_r(NULL, ",", &save);
    }
    printf("strtol %ld %lu %lld\n", strtol("-0x7fffffff", NULL, 16), strtoul("777", NULL, 8),
           strtoll("-9223372036854775808", NULL, 10));
    return 0;
}
