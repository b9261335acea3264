/* Signal delivery in user mode: handlers installed with sigaction run on
 * raise/kill, blocked signals stay pending until unblocked, SA_SIGINFO
 * handlers get si_signo/si_code/si_addr, a SIGSEGV from a write to page 0
 * and a SIGILL from an illegal instruction are delivered
 * synchronously, a handler can resume after the faulting instruction by
 * editing the saved PC in the ucontext (checks the rt_sigreturn frame), and
 * an alternate signal stack is used when requested. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

static volatile sig_atomic_t usr1_count, alarm_seen, on_altstack;
static sigjmp_buf jb;
static void *fault_addr;
static int fault_code;

static void on_usr1(int sig) { usr1_count += sig == SIGUSR1; }

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    fault_addr = si->si_addr;
    fault_code = si->si_code;
    siglongjmp(jb, 1);
}

static void on_ill(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    (void)sig;
    fault_code = si->si_code;
    fault_addr = si->si_addr;
    uc->uc_mcontext.__gregs[REG_PC] += 4; /* skip the 32-bit illegal instruction */
    uc->uc_mcontext.__gregs[REG_A0] = 1234; /* and change a register on return */
}

static void on_usr2(int sig)
{
    (void)sig;
    char here;
    stack_t ss;
    sigaltstack(NULL, &ss);
    on_altstack = (ss.ss_flags & SS_ONSTACK) != 0 && &here >= (char *)ss.ss_sp &&
                  &here < (char *)ss.ss_sp + ss.ss_size;
}

static void on_alarm(int sig) { alarm_seen = sig == SIGALRM; }

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    kill(getpid(), SIGUSR1);
    printf("usr1 delivered %d\n", (int)usr1_count);

    sigset_t set, old, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGUSR1);
    sigpending(&pending);
    printf("blocked: count %d pending %d\n", (int)usr1_count, sigismember(&pending, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: count %d\n", (int)usr1_count);

    sa.sa_handler = SIG_IGN;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("ignored: count %d\n", (int)usr1_count);

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    if (sigsetjmp(jb, 1) == 0) {
        volatile int *volatile low = (volatile int *)16;
        *low = 1;
        printf("write to page 0 did not fault\n");
    } else {
        printf("SIGSEGV null addr %lu code SEGV_MAPERR %d\n", (unsigned long)fault_addr,
               fault_code == SEGV_MAPERR);
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_ill;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGILL, &sa, NULL);
    long a0;
    uintptr_t at;
    __asm__ volatile("li a0, 1\n\t"
                     "lla %1, 1f\n"
                     "1:\t.4byte 0xffffffff\n\t" /* reserved (illegal) 32-bit encoding */
                     "mv %0, a0"
                     : "=r"(a0), "=&r"(at)
                     :
                     : "a0");
    printf("SIGILL resumed a0 %ld addr ok %d code ILL_ILLOPC %d\n", a0, (uintptr_t)fault_addr == at,
           fault_code == ILL_ILLOPC);

    static char alt[65536];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    printf("handler ran on alternate stack %d\n", (int)on_altstack);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    for (long i = 0; !alarm_seen && i < 2000000000L; i++)
        pause();
    printf("SIGALRM from setitimer %d\n", (int)alarm_seen);

    /* Default action of SIGTERM while blocked is deferred; unblocking with the
     * default disposition would kill us, so only check sigsuspend-free masking. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigprocmask(SIG_BLOCK, NULL, &old);
    printf("mask has SIGTERM %d\n", sigismember(&old, SIGTERM));
    return 0;
}
