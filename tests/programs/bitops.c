/* Shifts, rotates and bit tricks. The register-shift instructions use only
 * the low 6 (or 5, for the W forms) bits of the shift amount, which C cannot
 * express without undefined behaviour, hence the inline assembly. */
#include <stdint.h>
#include <stdio.h>

#define SHIFT(name, insn)                                                  \
    static uint64_t name(uint64_t a, uint64_t s)                           \
    {                                                                      \
        uint64_t r;                                                        \
        __asm__ volatile(insn " %0, %1, %2" : "=r"(r) : "r"(a), "r"(s));   \
        return r;                                                          \
    }
SHIFT(sll_, "sll")
SHIFT(srl_, "srl")
SHIFT(sra_, "sra")
SHIFT(sllw_, "sllw")
SHIFT(srlw_, "srlw")
SHIFT(sraw_, "sraw")

static uint64_t rotl64(uint64_t x, unsigned r) { r &= 63; return (x << r) | (x >> ((64 - r) & 63)); }
static uint32_t rotr32(uint32_t x, unsigned r) { r &= 31; return (x >> r) | (x << ((32 - r) & 31)); }

static uint64_t fnv(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

int main(void)
{
    volatile uint64_t v = 0x8000000180000001ull;
    static const uint64_t amounts[] = {0, 1, 31, 32, 33, 63, 64, 65, 95, 127, 0xffffffffffffffc1ull};
    for (unsigned i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        uint64_t s = amounts[i];
        printf("s=%llx sll %016llx srl %016llx sra %016llx\n", (unsigned long long)s,
               (unsigned long long)sll_(v, s), (unsigned long long)srl_(v, s),
               (unsigned long long)sra_(v, s));
        printf("      sllw %016llx srlw %016llx sraw %016llx\n", (unsigned long long)sllw_(v, s),
               (unsigned long long)srlw_(v, s), (unsigned long long)sraw_(v, s));
    }
    /* Immediate forms, including the W variants that sign-extend bit 31. */
    uint64_t r1, r2, r3, r4, r5, r6;
    __asm__ volatile("slli %0, %6, 63\n\tsrli %1, %6, 63\n\tsrai %2, %6, 63\n\t"
                     "slliw %3, %6, 31\n\tsrliw %4, %6, 0\n\tsraiw %5, %6, 31"
                     : "=&r"(r1), "=&r"(r2), "=&r"(r3), "=&r"(r4), "=&r"(r5), "=&r"(r6)
                     : "r"(v));
    printf("imm %llx %llx %llx %llx %llx %llx\n", (unsigned long long)r1, (unsigned long long)r2,
           (unsigned long long)r3, (unsigned long long)r4, (unsigned long long)r5,
           (unsigned long long)r6);
    /* Sign and zero extension of every width through casts. */
    volatile uint64_t w = 0xfedcba9887654321ull;
    printf("ext %lld %lld %lld %llu %llu %llu\n", (long long)(int8_t)w, (long long)(int16_t)w,
           (long long)(int32_t)w, (unsigned long long)(uint8_t)w,
           (unsigned long long)(uint16_t)w, (unsigned long long)(uint32_t)w);
    printf("rot %016llx %08x\n", (unsigned long long)rotl64(w, 13), rotr32((uint32_t)w, 7));
    printf("bits clz %d ctz %d pop %d clz32 %d bswap %016llx\n", __builtin_clzll(w >> 3),
           __builtin_ctzll(w << 5), __builtin_popcountll(w), __builtin_clz((uint32_t)(w >> 40)),
           (unsigned long long)__builtin_bswap64(w));
    /* Large constants need lui/addi(w)/slli chains, some with negative parts. */
    volatile uint64_t k1 = 0x7ffff800ull, k2 = 0xffffffff80000800ull, k3 = 0x123456789abcdef0ull;
    printf("consts %llx %llx %llx\n", (unsigned long long)k1, (unsigned long long)k2,
           (unsigned long long)k3);

    uint64_t h = 0xcbf29ce484222325ull, x = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 3000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t s = x >> 58 | (uint64_t)i << 6;
        h = fnv(h, sll_(x, s) ^ srl_(x, s + 1) ^ sra_(x, s + 2));
        h = fnv(h, sllw_(x, s) ^ srlw_(x, s + 1) ^ sraw_(x, s + 2));
        h = fnv(h, rotl64(x, (unsigned)i) + rotr32((uint32_t)x, (unsigned)i));
        h = fnv(h, (uint64_t)(__builtin_popcountll(x) + __builtin_clzll(x | 1) + __builtin_ctzll(x | (1ull << 63))));
        h = fnv(h, (uint64_t)(int64_t)(int32_t)(x >> 16) + (uint64_t)(int64_t)(int8_t)x);
    }
    printf("sweep %016llx\n", (unsigned long long)h);
    return 0;
}
