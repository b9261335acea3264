/* A write to a page mapped PROT_READ raises SIGSEGV with si_code SEGV_ACCERR
 * and the faulting address, delivered to an SA_SIGINFO handler.
 * test-known-gap: wasmemu user mode does not enforce page protections yet
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf jb;
static void *fault_addr;
static int fault_code;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    fault_addr = si->si_addr;
    fault_code = si->si_code;
    siglongjmp(jb, 1);
}

int main(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *ro = mmap(NULL, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    if (sigsetjmp(jb, 1) == 0) {
        ro[100] = 1;
        printf("write to read-only page did not fault\n");
    } else {
        printf("SIGSEGV addr ok %d code SEGV_ACCERR %d\n", fault_addr == ro + 100,
               fault_code == SEGV_ACCERR);
    }
    return 0;
}
