/* malloc/free/realloc under churn. Small blocks come from brk-grown heap,
 * blocks above the mmap threshold from mmap, and growing such a block with
 * realloc uses mremap, so brk, mmap, munmap and mremap must all behave. Every
 * block carries a pattern that is verified before it is freed or resized. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 512

static uint32_t seed = 7;
static uint32_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return seed;
}

static unsigned char *blk[SLOTS];
static size_t len[SLOTS];
static unsigned char tag[SLOTS];

/* Beyond the first bytes only every 251st byte is painted and checked: enough
 * to catch lost or moved data while keeping the instruction count small. */
static size_t step_after(size_t k) { return k < 64 ? k + 1 : k + 251; }
static size_t first_from(size_t from)
{
    if (from < 64) return from;
    return 64 + (from - 64 + 250) / 251 * 251;
}
static int check(int i)
{
    for (size_t k = 0; k < len[i]; k = step_after(k))
        if (blk[i][k] != (unsigned char)(tag[i] + k)) return 1;
    return 0;
}
static void paint(int i, size_t from)
{
    for (size_t k = first_from(from); k < len[i]; k = step_after(k))
        blk[i][k] = (unsigned char)(tag[i] + k);
}

static size_t pick_size(void)
{
    uint32_t r = rnd() % 100;
    if (r < 70) return rnd() % 256;
    if (r < 98) return 256 + rnd() % 4096;
    return 140000 + rnd() % 300000; /* above the default mmap threshold */
}

int main(void)
{
    int errors = 0, mallocs = 0, frees = 0, reallocs = 0, misaligned = 0;
    for (int step = 0; step < 3000; step++) {
        int i = (int)(rnd() % SLOTS);
        uint32_t op = rnd() % 3;
        if (!blk[i]) {
            len[i] = pick_size();
            blk[i] = malloc(len[i] ? len[i] : 1);
            tag[i] = (unsigned char)rnd();
            misaligned += ((uintptr_t)blk[i] & 15) != 0;
            paint(i, 0);
            mallocs++;
        } else if (op == 0) {
            errors += check(i);
            free(blk[i]);
            blk[i] = NULL;
            frees++;
        } else {
            errors += check(i);
            size_t n = (op == 1 && len[i] < (1u << 16)) ? len[i] * 2 + rnd() % 1000 : len[i] / 2;
            unsigned char *p = realloc(blk[i], n ? n : 1);
            if (!p) {
                errors++;
                continue;
            }
            blk[i] = p;
            size_t old = len[i];
            len[i] = n;
            if (n > old) paint(i, old);
            errors += check(i);
            misaligned += ((uintptr_t)p & 15) != 0;
            reallocs++;
        }
    }
    for (int i = 0; i < SLOTS; i++)
        if (blk[i]) {
            errors += check(i);
            free(blk[i]);
        }
    printf("mallocs %d frees %d reallocs %d\n", mallocs, frees, reallocs);
    printf("errors %d misaligned %d\n", errors, misaligned);

    /* calloc must return zeroed memory even when it reuses freed blocks. */
    int nonzero = 0;
    for (int r = 0; r < 24; r++) {
        size_t n = 500 + (size_t)r * 997;
        unsigned char *p = malloc(n);
        memset(p, 0xa5, n);
        free(p);
        unsigned char *q = calloc(n, 1);
        for (size_t k = 0; k < n; k++) nonzero += q[k] != 0;
        free(q);
    }
    printf("calloc nonzero %d\n", nonzero);

    /* One large block grown step by step (mremap moves or extends it). */
    size_t n = 1 << 20;
    unsigned char *big = malloc(n);
    for (size_t k = 0; k < n; k += 512) big[k] = (unsigned char)(k / 512 * 7);
    int bad = 0;
    for (int r = 0; r < 5; r++) {
        big = realloc(big, n * 2);
        for (size_t k = 0; k < n; k += 512) bad += big[k] != (unsigned char)(k / 512 * 7);
        for (size_t k = n; k < 2 * n; k += 512) big[k] = (unsigned char)(k / 512 * 7);
        n *= 2;
    }
    free(big);
    printf("big grown to %zu bad %d\n", n, bad);
    return errors != 0;
}
