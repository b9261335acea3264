/* Memory management system calls: a 64 MiB anonymous mapping touched on
 * every page, munmap of part of it, mprotect, a file-less MAP_FIXED remap,
 * mremap growth, madvise(DONTNEED) zeroing, and brk growth and shrink
 * through sbrk. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
    const size_t size = 64u << 20, page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    printf("mmap 64MiB ok, page aligned %d\n", ((uintptr_t)p & (page - 1)) == 0);
    int zero = 1;
    for (size_t off = 0; off < size; off += page) zero &= p[off] == 0 && p[off + page - 1] == 0;
    printf("fresh pages zero %d\n", zero);
    for (size_t off = 0; off < size; off += page) {
        p[off] = (unsigned char)(off / page);
        p[off + page - 1] = (unsigned char)~(off / page);
    }
    unsigned long sum = 0;
    for (size_t off = 0; off < size; off += page) sum += p[off] + p[off + page - 1];
    printf("pages %zu sum %lu\n", size / page, sum);

    /* Unmap the middle; the rest stays. */
    printf("munmap middle %d\n", munmap(p + size / 4, size / 2));
    printf("remaining %d %d\n", p[page * 3], p[size - page]);

    /* mprotect read-only, then back; contents survive. */
    int ro = mprotect(p, page * 4, PROT_READ);
    int seen = p[page * 2];
    int rw = mprotect(p, page * 4, PROT_READ | PROT_WRITE);
    p[page * 2] = 9;
    printf("mprotect ro %d value %d rw %d written %d\n", ro, seen, rw, p[page * 2]);

    /* MAP_FIXED into the hole we made: fresh zero pages at that address. */
    unsigned char *q = mmap(p + size / 4, page * 16, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("map fixed same address %d zero %d\n", q == p + size / 4, q[page * 5] == 0);

    /* madvise(DONTNEED) on private anonymous memory discards the contents. */
    p[0] = 0x5a;
    int ma = madvise(p, page, MADV_DONTNEED);
    printf("madvise %d after %d\n", ma, p[0]);

    /* mremap growth keeps the data (may move). */
    unsigned char *m = mmap(NULL, page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(m, 0x77, page * 2);
    unsigned char *m2 = mremap(m, page * 2, page * 64, MREMAP_MAYMOVE);
    printf("mremap ok %d keeps %d new zero %d\n", m2 != MAP_FAILED, m2[page * 2 - 1] == 0x77,
           m2[page * 63] == 0);
    munmap(m2, page * 64);
    munmap(p, size / 4);
    munmap(p + size / 4 * 3, size / 4);
    munmap(q, page * 16);

    /* brk: grow by 1 MiB, touch, shrink back. */
    char *b0 = sbrk(0);
    char *b1 = sbrk(1 << 20);
    int grew = b1 == b0;
    memset(b1, 0xab, 1 << 20);
    char *b2 = sbrk(0);
    printf("sbrk grew %d by %ld\n", grew, (long)(b2 - b0));
    sbrk(-(1 << 20));
    printf("sbrk shrink back %d\n", sbrk(0) == b0);
    /* Growing again must give zeroed memory: the kernel discards shrunk pages. */
    char *b3 = sbrk(page * 4);
    printf("regrown zero %d\n", b3[0] == 0 && b3[page * 4 - 1] == 0);

    /* Mapping failures report errno through the raw return value. */
    void *bad = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap len 0 fails %d\n", bad == MAP_FAILED);
    return 0;
}
