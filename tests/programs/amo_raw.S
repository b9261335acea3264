/* test-cflags: -nostdlib -nostartfiles */
/* test-exit: 5 */
/* Freestanding: no libc, only raw ecalls (write = 64, exit = 93). Exercises
 * every AMO in its .W and .D form with the old value sign-extended for .W,
 * operands whose upper 32 bits must be ignored by .W, and the LR/SC cases
 * whose outcome the ISA fixes: SC without a reservation fails and does not
 * write, LR/SC on the same address succeeds once, a second SC fails, SC to
 * a different address than the LR fails, and SC.W stores only 32 bits. */

    .option norelax         /* no gp set up, so no gp-relative relaxation */

    .section .data
    .balign 16
w0:     .word 0
w1:     .word 0x11111111
w2:     .word 0x22222222
    .balign 8
d0:     .dword 0
d1:     .dword 0
hexbuf: .space 24

    .section .rodata
digits: .ascii "0123456789abcdef"

    .text

/* print: a0 = address of a NUL-terminated label, a1 = value; writes
 * "label 0123456789abcdef\n". Clobbers a0-a7, t0-t3. */
print:
    mv      t3, a1
    mv      t0, a0
1:  lbu     t1, 0(t0)
    beqz    t1, 2f
    addi    t0, t0, 1
    j       1b
2:  sub     a2, t0, a0
    mv      a1, a0
    li      a0, 1
    li      a7, 64
    ecall
    la      t0, hexbuf
    li      t1, ' '
    sb      t1, 0(t0)
    la      t2, digits
    li      t1, 16
3:  srli    a1, t3, 60
    add     a1, a1, t2
    lbu     a1, 0(a1)
    sb      a1, 1(t0)
    addi    t0, t0, 1
    slli    t3, t3, 4
    addi    t1, t1, -1
    bnez    t1, 3b
    li      t1, '\n'
    sb      t1, 1(t0)
    li      a0, 1
    la      a1, hexbuf
    li      a2, 18
    li      a7, 64
    ecall
    ret

/* PRINT "label", reg: print a register's value (saved first in s11). */
    .macro PRINT label, reg
    mv      s11, \reg
    .section .rodata
9:  .asciz  "\label"
    .text
    la      a0, 9b
    mv      a1, s11
    call    print
    .endm

/* AMO_W op: memory word = 0x80000001, operand 0xdeadbeef00000005. */
    .macro AMO_W op
    la      s0, w0
    li      t0, 0x80000001
    sw      t0, 0(s0)
    li      s1, 0xdeadbeef00000005
    \op     s2, s1, (s0)
    PRINT   "\op old", s2
    lwu     s3, 0(s0)
    PRINT   "\op mem", s3
    .endm

/* AMO_D op: memory dword = 0x8000000000000001, operand 5. */
    .macro AMO_D op
    la      s0, d0
    li      t0, 0x8000000000000001
    sd      t0, 0(s0)
    li      s1, 5
    \op     s2, s1, (s0)
    PRINT   "\op old", s2
    ld      s3, 0(s0)
    PRINT   "\op mem", s3
    .endm

    .globl _start
_start:
    AMO_W   amoswap.w
    AMO_W   amoadd.w
    AMO_W   amoxor.w
    AMO_W   amoand.w
    AMO_W   amoor.w
    AMO_W   amomin.w
    AMO_W   amomax.w
    AMO_W   amominu.w
    AMO_W   amomaxu.w
    AMO_D   amoswap.d
    AMO_D   amoadd.d
    AMO_D   amoxor.d
    AMO_D   amoand.d
    AMO_D   amoor.d
    AMO_D   amomin.d
    AMO_D   amomax.d
    AMO_D   amominu.d
    AMO_D   amomaxu.d
    AMO_W   amoadd.w.aqrl
    AMO_D   amoswap.d.aq

    /* rd = x0 still performs the operation. */
    la      s0, d0
    li      t0, 40
    sd      t0, 0(s0)
    li      t1, 2
    amoadd.d zero, t1, (s0)
    ld      s3, 0(s0)
    PRINT   "amoadd rd=x0 mem", s3

    /* SC with no reservation: fails (nonzero) and memory is unchanged. */
    la      s0, w1
    li      t0, 0x12345678
    sc.w    s2, t0, (s0)
    PRINT   "sc.w no reservation rd", s2
    lwu     s3, 0(s0)
    PRINT   "sc.w no reservation mem", s3

    /* LR.W sign-extends; LR/SC pair succeeds; SC.W writes 32 bits only. */
    la      s0, w0
    li      t0, 0x80000000
    sw      t0, 0(s0)
    lr.w    s2, (s0)
    PRINT   "lr.w value", s2
    lr.w    s2, (s0)
    li      t0, 0xfeedface0000abcd
    sc.w    s3, t0, (s0)
    PRINT   "sc.w after lr rd", s3
    ld      s4, 0(s0)               /* w0 and w1 together */
    PRINT   "sc.w after lr w0w1", s4
    li      t0, 0x99
    sc.w    s3, t0, (s0)
    PRINT   "second sc.w rd", s3
    lwu     s4, 0(s0)
    PRINT   "second sc.w mem", s4

    /* LR.D on one address, SC.D to another fails and writes nothing. */
    la      s0, d0
    la      s1, d1
    li      t0, 0x1111
    sd      t0, 0(s0)
    li      t0, 0x2222
    sd      t0, 0(s1)
    lr.d    s2, (s0)
    li      t0, 0x3333
    sc.d    s3, t0, (s1)
    PRINT   "sc.d other address rd", s3
    ld      s4, 0(s1)
    PRINT   "sc.d other address mem", s4

    /* A CAS loop built from LR/SC, run many times (exercises the loop in
     * whatever tier the emulator promotes it to). */
    la      s0, d0
    sd      zero, 0(s0)
    li      s5, 3000
4:  lr.d.aq s2, (s0)
    addi    s3, s2, 3
    sc.d.rl s4, s3, (s0)
    bnez    s4, 4b
    addi    s5, s5, -1
    bnez    s5, 4b
    ld      s4, 0(s0)
    PRINT   "lr/sc loop sum", s4

    li      a0, 5
    li      a7, 93                  /* exit (not exit_group) */
    ecall
    ebreak                          /* not reached */
