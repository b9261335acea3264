/* Integer arithmetic as RV64IM defines it, including the cases C leaves
 * undefined but the ISA does not: division by zero and INT_MIN / -1 return
 * fixed values instead of trapping. Operands go through volatile variables
 * so the compiler cannot fold them and the real div/rem/mulh instructions run.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

static uint64_t lcg_state = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return lcg_state ^ (lcg_state >> 29);
}

/* FNV-1a over the results of one operation, printed per operation so a
 * mismatch points at the instruction. */
static uint64_t fnv(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

static int64_t sdiv64(int64_t a, int64_t b)
{
    int64_t q;
    __asm__ volatile("div %0, %1, %2" : "=r"(q) : "r"(a), "r"(b));
    return q;
}
static int64_t srem64(int64_t a, int64_t b)
{
    int64_t r;
    __asm__ volatile("rem %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static uint64_t udiv64(uint64_t a, uint64_t b)
{
    uint64_t q;
    __asm__ volatile("divu %0, %1, %2" : "=r"(q) : "r"(a), "r"(b));
    return q;
}
static uint64_t urem64(uint64_t a, uint64_t b)
{
    uint64_t r;
    __asm__ volatile("remu %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static int64_t sdiv32(int64_t a, int64_t b)
{
    int64_t q;
    __asm__ volatile("divw %0, %1, %2" : "=r"(q) : "r"(a), "r"(b));
    return q;
}
static int64_t srem32(int64_t a, int64_t b)
{
    int64_t r;
    __asm__ volatile("remw %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static int64_t udiv32(int64_t a, int64_t b)
{
    int64_t q;
    __asm__ volatile("divuw %0, %1, %2" : "=r"(q) : "r"(a), "r"(b));
    return q;
}
static int64_t urem32(int64_t a, int64_t b)
{
    int64_t r;
    __asm__ volatile("remuw %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static int64_t mulw(int64_t a, int64_t b)
{
    int64_t r;
    __asm__ volatile("mulw %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static uint64_t mulh(int64_t a, int64_t b)
{
    uint64_t r;
    __asm__ volatile("mulh %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static uint64_t mulhu(uint64_t a, uint64_t b)
{
    uint64_t r;
    __asm__ volatile("mulhu %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static uint64_t mulhsu(int64_t a, uint64_t b)
{
    uint64_t r;
    __asm__ volatile("mulhsu %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

int main(void)
{
    volatile int64_t zero = 0, m1 = -1, seven = 7, mseven = -7, two = 2;
    volatile int64_t min64 = INT64_MIN, max64 = INT64_MAX;
    volatile int32_t min32 = INT32_MIN, z32 = 0, m32 = -1;

    /* C-level division: gcc emits div/rem; the values are the ISA's. */
    printf("div %lld %lld %lld %lld\n", (long long)(seven / two), (long long)(mseven / two),
           (long long)(seven % two), (long long)(mseven % two));
    printf("div0 %lld rem0 %lld\n", (long long)sdiv64(seven, zero), (long long)srem64(seven, zero));
    printf("divu0 %llx remu0 %llx\n", (unsigned long long)udiv64(seven, zero),
           (unsigned long long)urem64(seven, zero));
    printf("minneg div %llx rem %lld\n", (unsigned long long)sdiv64(min64, m1),
           (long long)srem64(min64, m1));
    printf("divw0 %llx remw0 %llx\n", (unsigned long long)sdiv32(seven, z32),
           (unsigned long long)srem32(mseven, z32));
    printf("divuw0 %llx remuw0 %llx\n", (unsigned long long)udiv32(mseven, z32),
           (unsigned long long)urem32(mseven, z32));
    printf("minnegw div %llx rem %llx\n", (unsigned long long)sdiv32(min32, m32),
           (unsigned long long)srem32(min32, m32));
    /* The upper halves of the operands must be ignored by the W forms. */
    printf("divw hi %llx\n",
           (unsigned long long)sdiv32((int64_t)0x123456780000000aull, (int64_t)0xffffffff00000003ull));
    printf("divuw hi %llx\n",
           (unsigned long long)udiv32((int64_t)0x00000001fffffffeull, (int64_t)0x0000000100000002ull));
    printf("mulw %llx\n", (unsigned long long)mulw(0x7fffffff, 2));
    printf("mulh %llx %llx %llx\n", (unsigned long long)mulh(min64, min64),
           (unsigned long long)mulhu((uint64_t)m1, (uint64_t)m1),
           (unsigned long long)mulhsu(m1, (uint64_t)m1));
    printf("mul wrap %llx\n", (unsigned long long)((uint64_t)max64 * 3u));
    printf("add wrap %llx sub wrap %llx\n", (unsigned long long)((uint64_t)max64 + 1u),
           (unsigned long long)((uint64_t)min64 - 1u));
    /* addw/subw sign-extend bit 31 into the upper half. */
    volatile int32_t big = 0x7fffffff;
    int32_t wrapped = (int32_t)((uint32_t)big + 1u);
    printf("addw %lld\n", (long long)wrapped);
    printf("slt %d %d sltu %d\n", (int)(min64 < zero), (int)(max64 < zero),
           (int)((uint64_t)m1 < (uint64_t)zero));

    uint64_t h_div = 0xcbf29ce484222325ull, h_rem = h_div, h_divu = h_div, h_remu = h_div;
    uint64_t h_w = h_div, h_mulh = h_div, h_mul = h_div;
    for (int i = 0; i < 4000; i++) {
        uint64_t a = next(), b = next();
        /* Small divisors and special values appear often on purpose. */
        switch (i % 8) {
        case 0: b = 0; break;
        case 1: b = (uint64_t)-1; break;
        case 2: b &= 0xff; break;
        case 3: a = (uint64_t)INT64_MIN; break;
        case 4: a >>= 40; break;
        default: break;
        }
        h_div = fnv(h_div, (uint64_t)sdiv64((int64_t)a, (int64_t)b));
        h_rem = fnv(h_rem, (uint64_t)srem64((int64_t)a, (int64_t)b));
        h_divu = fnv(h_divu, udiv64(a, b));
        h_remu = fnv(h_remu, urem64(a, b));
        h_w = fnv(h_w, (uint64_t)sdiv32((int64_t)a, (int64_t)b));
        h_w = fnv(h_w, (uint64_t)srem32((int64_t)a, (int64_t)b));
        h_w = fnv(h_w, (uint64_t)udiv32((int64_t)a, (int64_t)b));
        h_w = fnv(h_w, (uint64_t)urem32((int64_t)a, (int64_t)b));
        h_w = fnv(h_w, (uint64_t)mulw((int64_t)a, (int64_t)b));
        h_mulh = fnv(h_mulh, mulh((int64_t)a, (int64_t)b));
        h_mulh = fnv(h_mulh, mulhu(a, b));
        h_mulh = fnv(h_mulh, mulhsu((int64_t)a, b));
        h_mul = fnv(h_mul, a * b);
    }
    printf("sweep div %016llx rem %016llx\n", (unsigned long long)h_div, (unsigned long long)h_rem);
    printf("sweep divu %016llx remu %016llx\n", (unsigned long long)h_divu,
           (unsigned long long)h_remu);
    printf("sweep w %016llx mulh %016llx mul %016llx\n", (unsigned long long)h_w,
           (unsigned long long)h_mulh, (unsigned long long)h_mul);
    return 0;
}
