/* test-cflags: -latomic */
/* GCC atomics and legacy __sync builtins. Word and doubleword operations
 * compile to AMO instructions (amoadd, amoand, amoor, amoxor, amoswap) and
 * compare-and-swap to LR/SC loops; 8- and 16-bit operations go through
 * libatomic's masked LR/SC loops on the containing word. The .W forms must
 * sign-extend the old value into the 64-bit destination register. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

static int32_t w;
static int64_t d;
static uint8_t b8[8];
static uint16_t h16[4];

int main(void)
{
    w = (int32_t)0x80000000;
    int64_t old = __atomic_fetch_add(&w, 1, __ATOMIC_SEQ_CST);
    printf("fetch_add w old %lld new %d\n", (long long)old, w);
    old = __atomic_fetch_sub(&w, 2, __ATOMIC_ACQ_REL);
    printf("fetch_sub w old %lld new %d\n", (long long)old, w);
    old = __atomic_fetch_and(&w, 0x0ff0ff00, __ATOMIC_RELAXED);
    printf("fetch_and old %lld new %x\n", (long long)old, w);
    old = __atomic_fetch_or(&w, (int32_t)0xf0000001, __ATOMIC_RELEASE);
    printf("fetch_or old %lld new %x\n", (long long)old, w);
    old = __atomic_fetch_xor(&w, -1, __ATOMIC_ACQUIRE);
    printf("fetch_xor old %lld new %x\n", (long long)old, w);
    old = __atomic_fetch_nand(&w, 0x00ff00ff, __ATOMIC_SEQ_CST);
    printf("fetch_nand old %lld new %x\n", (long long)old, w);
    old = __atomic_exchange_n(&w, -5, __ATOMIC_SEQ_CST);
    printf("exchange old %lld new %d\n", (long long)old, w);
    int32_t expect = -5;
    int ok = __atomic_compare_exchange_n(&w, &expect, 77, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    printf("cas ok %d now %d\n", ok, w);
    expect = 1;
    ok = __atomic_compare_exchange_n(&w, &expect, 99, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    printf("cas fail %d expect %d now %d\n", ok, expect, w);
    int tries = 0;
    expect = 77;
    while (!__atomic_compare_exchange_n(&w, &expect, 78, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        tries++;
    printf("weak cas ok now %d (spurious failures are allowed, not printed)\n", w);
    (void)tries;

    d = INT64_MAX;
    old = __atomic_add_fetch(&d, 1, __ATOMIC_SEQ_CST);
    printf("add_fetch d %llx\n", (unsigned long long)old);
    old = __atomic_fetch_or(&d, 0xff, __ATOMIC_SEQ_CST);
    printf("fetch_or d old %llx new %llx\n", (unsigned long long)old, (unsigned long long)d);
    int64_t e64 = (int64_t)0x80000000000000ffull;
    ok = __atomic_compare_exchange_n(&d, &e64, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    printf("cas64 ok %d d %lld\n", ok, (long long)d);
    old = __atomic_exchange_n(&d, -1, __ATOMIC_SEQ_CST);
    printf("xchg64 old %lld d %lld\n", (long long)old, (long long)d);
    printf("load %lld\n", (long long)__atomic_load_n(&d, __ATOMIC_ACQUIRE));
    __atomic_store_n(&d, 42, __ATOMIC_RELEASE);
    printf("store %lld\n", (long long)d);

    /* Sub-word atomics: neighbours in the same word must not change. */
    for (int i = 0; i < 8; i++) b8[i] = (uint8_t)(0x10 * i);
    unsigned oldb = __atomic_fetch_add(&b8[3], 0xf0, __ATOMIC_SEQ_CST);
    unsigned oldb2 = __atomic_exchange_n(&b8[5], 0xee, __ATOMIC_SEQ_CST);
    uint8_t eb = 0x60;
    int okb = __atomic_compare_exchange_n(&b8[6], &eb, 0x66, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    printf("bytes old %x %x ok %d:", oldb, oldb2, okb);
    for (int i = 0; i < 8; i++) printf(" %02x", b8[i]);
    printf("\n");
    for (int i = 0; i < 4; i++) h16[i] = (uint16_t)(0x1111 * (i + 1));
    unsigned oldh = __atomic_fetch_sub(&h16[1], 0x3000, __ATOMIC_SEQ_CST);
    __atomic_fetch_or(&h16[2], 0x8000, __ATOMIC_SEQ_CST);
    printf("halves old %x: %04x %04x %04x %04x\n", oldh, h16[0], h16[1], h16[2], h16[3]);

    /* Legacy __sync builtins (all full barriers). */
    int32_t s = 10;
    printf("sync fetch_and_add %d", __sync_fetch_and_add(&s, 5));
    printf(" add_and_fetch %d", __sync_add_and_fetch(&s, 5));
    printf(" val_cas %d", __sync_val_compare_and_swap(&s, 20, 30));
    printf(" bool_cas %d", (int)__sync_bool_compare_and_swap(&s, 20, 40));
    printf(" lock_test_and_set %d", __sync_lock_test_and_set(&s, 1));
    __sync_lock_release(&s);
    __sync_synchronize();
    printf(" released %d\n", s);
    int64_t s64 = -1;
    printf("sync64 fetch_and_and %lld", (long long)__sync_fetch_and_and(&s64, 0xff));
    printf(" xor_and_fetch %lld\n", (long long)__sync_xor_and_fetch(&s64, 0x0f));

    /* C11 atomics and a flag. */
    _Atomic long counter = 0;
    for (int i = 0; i < 1000; i++) atomic_fetch_add_explicit(&counter, i, memory_order_relaxed);
    atomic_flag f = ATOMIC_FLAG_INIT;
    int first = atomic_flag_test_and_set(&f), second = atomic_flag_test_and_set(&f);
    printf("c11 counter %ld flag %d %d lockfree %d\n", (long)atomic_load(&counter), first, second,
           (int)atomic_is_lock_free(&counter));
    atomic_thread_fence(memory_order_seq_cst);
    return 0;
}
