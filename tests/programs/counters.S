/* The unprivileged counters rdcycle, rdtime and rdinstret (Zicntr CSRs
 * cycle, time, instret). Their values depend on the host and the run, so
 * only relations are printed: each counter reads the same or larger on a
 * second read, and all three strictly advance across a short sleep and a
 * loop of 100000 iterations. Also reads them through csrrs with rs1 = x0
 * and csrr, the forms the pseudo-instructions expand to. */

    .section .rodata
fmt:        .asciz "%s %s\n"
ok:         .asciz "ok"
bad:        .asciz "FAIL"
s_cyc:      .asciz "rdcycle non-decreasing"
s_tim:      .asciz "rdtime non-decreasing"
s_ins:      .asciz "rdinstret non-decreasing"
s_cyc2:     .asciz "rdcycle advances over loop"
s_tim2:     .asciz "rdtime advances over loop"
s_ins2:     .asciz "rdinstret advances over loop"
s_csrrs:    .asciz "csrrs x0 forms agree in order"

    .text
/* report(a1 = label, a0 = condition) */
report:
    addi    sp, sp, -16
    sd      ra, 8(sp)
    mv      t0, a0
    la      a2, ok
    bnez    t0, 1f
    la      a2, bad
1:  la      a0, fmt
    call    printf
    ld      ra, 8(sp)
    addi    sp, sp, 16
    ret

    .globl main
main:
    addi    sp, sp, -80
    sd      ra, 72(sp)
    sd      s0, 64(sp)
    sd      s1, 56(sp)
    sd      s2, 48(sp)
    sd      s3, 40(sp)
    sd      s4, 32(sp)
    sd      s5, 24(sp)
    sd      s6, 16(sp)

    rdcycle s0
    rdcycle s1
    sltu    a0, s1, s0
    xori    a0, a0, 1
    la      a1, s_cyc
    call    report

    rdtime  s0
    rdtime  s1
    sltu    a0, s1, s0
    xori    a0, a0, 1
    la      a1, s_tim
    call    report

    rdinstret s0
    rdinstret s1
    sltu    a0, s1, s0
    xori    a0, a0, 1
    la      a1, s_ins
    call    report

    /* Across a busy loop every counter must strictly advance. The loop
     * sleeps briefly first so that even a coarse time source ticks. */
    rdcycle s0
    rdtime  s1
    rdinstret s2
    li      a0, 2000                /* usleep(2000 us) */
    call    usleep
    li      t0, 100000
1:  addi    t0, t0, -1
    bnez    t0, 1b
    rdcycle s3
    rdtime  s4
    rdinstret s5
    sltu    a0, s0, s3
    la      a1, s_cyc2
    call    report
    sltu    a0, s1, s4
    la      a1, s_tim2
    call    report
    sltu    a0, s2, s5
    la      a1, s_ins2
    call    report

    csrrs   s0, cycle, x0
    csrrs   s1, time, x0
    csrrs   s2, instret, x0
    csrr    s3, cycle
    csrr    s4, time
    csrr    s5, instret
    sltu    t0, s3, s0
    sltu    t1, s4, s1
    sltu    t2, s5, s2
    or      t0, t0, t1
    or      t0, t0, t2
    xori    a0, t0, 1
    la      a1, s_csrrs
    call    report

    li      a0, 0
    ld      ra, 72(sp)
    ld      s0, 64(sp)
    ld      s1, 56(sp)
    ld      s2, 48(sp)
    ld      s3, 40(sp)
    ld      s4, 32(sp)
    ld      s5, 24(sp)
    ld      s6, 16(sp)
    addi    sp, sp, 80
    ret
