/* Self-modifying code made visible with fence.i (Zifencei). Code is written
 * into an RWX anonymous mapping and run, rewritten and run again; the loops
 * run it thousands of times between rewrites so that any tier that compiles
 * hot code must drop stale translations. The last case patches an
 * instruction later in the very block that does the store, then fence.i,
 * then falls through into it. Uses libc for mmap and printf. */

    .section .rodata
fmt:    .asciz "%s %ld\n"
s_first:    .asciz "first call returns"
s_hot1:     .asciz "5000 calls sum"
s_patched:  .asciz "after patch returns"
s_hot2:     .asciz "5000 calls after patch sum"
s_rvc:      .asciz "compressed code returns"
s_self:     .asciz "self-patching block returns"
s_selfsum:  .asciz "self-patching 1000 rounds sum"
s_back:     .asciz "restored original returns"

    .text
    .globl main
main:
    addi    sp, sp, -64
    sd      ra, 56(sp)
    sd      s0, 48(sp)
    sd      s1, 40(sp)
    sd      s2, 32(sp)
    sd      s3, 24(sp)

    /* s0 = mmap(NULL, 8192, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) */
    li      a0, 0
    li      a1, 8192
    li      a2, 7
    li      a3, 0x22
    li      a4, -1
    li      a5, 0
    call    mmap
    mv      s0, a0
    li      t0, -1
    beq     s0, t0, fail

    /* buf[0] = addi a0, zero, 42 ; buf[4] = ret */
    li      t0, 0x02a00513
    sw      t0, 0(s0)
    li      t0, 0x00008067
    sw      t0, 4(s0)
    fence.i
    jalr    s0
    mv      a2, a0
    la      a1, s_first
    la      a0, fmt
    call    printf

    li      s1, 5000
    li      s2, 0
1:  jalr    s0
    add     s2, s2, a0
    addi    s1, s1, -1
    bnez    s1, 1b
    la      a0, fmt
    la      a1, s_hot1
    mv      a2, s2
    call    printf

    /* Patch the immediate: addi a0, zero, 7 */
    li      t0, 0x00700513
    sw      t0, 0(s0)
    fence.i
    jalr    s0
    mv      a2, a0
    la      a1, s_patched
    la      a0, fmt
    call    printf

    li      s1, 5000
    li      s2, 0
1:  jalr    s0
    add     s2, s2, a0
    addi    s1, s1, -1
    bnez    s1, 1b
    la      a0, fmt
    la      a1, s_hot2
    mv      a2, s2
    call    printf

    /* Compressed instructions at buf+64: c.li a0, 5 ; c.jr ra */
    li      t0, 0x4515
    sh      t0, 64(s0)
    li      t0, 0x8082
    sh      t0, 66(s0)
    fence.i
    addi    t1, s0, 64
    jalr    t1
    mv      a2, a0
    la      a1, s_rvc
    la      a0, fmt
    call    printf

    /* Block at buf+128 that patches its own instruction at +12:
     *   +0  sw t0, 12(a1)
     *   +4  fence.i
     *   +8  nop
     *   +12 addi a0, zero, 1      (replaced by the value in t0)
     *   +16 ret
     */
    addi    s3, s0, 128
    li      t0, 0x0055a623
    sw      t0, 0(s3)
    li      t0, 0x0000100f
    sw      t0, 4(s3)
    li      t0, 0x00000013
    sw      t0, 8(s3)
    li      t0, 0x00100513
    sw      t0, 12(s3)
    li      t0, 0x00008067
    sw      t0, 16(s3)
    fence.i
    li      t0, 0x06300513          /* addi a0, zero, 99 */
    mv      a1, s3
    jalr    s3
    mv      a2, a0
    la      a1, s_self
    la      a0, fmt
    call    printf

    /* 1000 rounds, each patching in addi a0, zero, i. */
    li      s1, 0
    li      s2, 0
1:  slli    t0, s1, 20
    li      t1, 0x00000513
    or      t0, t0, t1
    mv      a1, s3
    jalr    s3
    add     s2, s2, a0
    addi    s1, s1, 1
    li      t1, 1000
    bne     s1, t1, 1b
    la      a0, fmt
    la      a1, s_selfsum
    mv      a2, s2
    call    printf

    /* Put the original instruction back from outside and run once more;
     * the stored value in t0 is the original, so the block is unchanged. */
    li      t0, 0x00100513
    sw      t0, 12(s3)
    fence.i
    li      t0, 0x00100513
    mv      a1, s3
    jalr    s3
    mv      a2, a0
    la      a1, s_back
    la      a0, fmt
    call    printf

    li      a0, 0
    j       out
fail:
    li      a0, 1
out:
    ld      ra, 56(sp)
    ld      s0, 48(sp)
    ld      s1, 40(sp)
    ld      s2, 32(sp)
    ld      s3, 24(sp)
    addi    sp, sp, 64
    ret
