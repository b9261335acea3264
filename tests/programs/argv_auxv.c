/* test-args: first "two words" "" --flag=x ünïcödé */
/* The initial process stack as the kernel (or emulator) lays it out: argc,
 * argv, envp and the auxiliary vector, read both through main's arguments and
 * by walking the stack, plus getauxval. Only values that do not depend on
 * addresses or the environment of the run are printed; environment variables
 * are shown only if their name starts with WASMEMU_T_. */
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;
extern const ElfW(Ehdr) __ehdr_start;
extern void _start(void);

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int main(int argc, char **argv, char **envp)
{
    printf("argc %d argv0 %s\n", argc, base(argv[0]));
    for (int i = 1; i < argc; i++) printf("argv[%d] = [%s] len %zu\n", i, argv[i], strlen(argv[i]));
    printf("argv[argc] null %d\n", argv[argc] == NULL);
    printf("envp follows argv %d environ==envp %d\n", envp == argv + argc + 1, environ == envp);
    /* Printed sorted: qemu-user 7.2 hands the environment to the guest in
     * reverse order, Linux in the original order; neither is tested here. */
    int nenv = 0, nmine = 0;
    const char *mine[16];
    char **e = envp;
    for (; *e; e++) {
        nenv++;
        if (strncmp(*e, "WASMEMU_T_", 10) == 0 && nmine < 16) mine[nmine++] = *e;
    }
    for (int i = 1; i < nmine; i++)
        for (int j = i; j > 0 && strcmp(mine[j - 1], mine[j]) > 0; j--) {
            const char *t = mine[j];
            mine[j] = mine[j - 1];
            mine[j - 1] = t;
        }
    for (int i = 0; i < nmine; i++) printf("env %s\n", mine[i]);
    printf("env count > 0 %d\n", nenv > 0);

    /* The auxiliary vector starts right after envp's terminating NULL. */
    ElfW(auxv_t) *av = (ElfW(auxv_t) *)(e + 1);
    int seen_pagesz = 0, seen_null = 0, entries = 0;
    for (; entries < 64; av++, entries++) {
        if (av->a_type == AT_NULL) {
            seen_null = 1;
            break;
        }
        if (av->a_type == AT_PAGESZ) seen_pagesz = av->a_un.a_val == getauxval(AT_PAGESZ);
    }
    printf("auxv walk: terminated %d pagesz matches %d\n", seen_null, seen_pagesz);

    printf("AT_PAGESZ %lu sysconf %ld\n", getauxval(AT_PAGESZ), sysconf(_SC_PAGESIZE));
    printf("AT_PHENT %lu AT_PHNUM %lu e_phnum %u\n", getauxval(AT_PHENT), getauxval(AT_PHNUM),
           __ehdr_start.e_phnum);
    printf("AT_PHDR ok %d\n",
           getauxval(AT_PHDR) == (unsigned long)&__ehdr_start + __ehdr_start.e_phoff);
    printf("AT_ENTRY ok %d\n", getauxval(AT_ENTRY) == (unsigned long)&_start);
    printf("AT_BASE %lu AT_FLAGS %lu AT_SECURE %lu\n", getauxval(AT_BASE), getauxval(AT_FLAGS),
           getauxval(AT_SECURE));
    printf("AT_CLKTCK %lu sysconf %ld\n", getauxval(AT_CLKTCK), sysconf(_SC_CLK_TCK));
    printf("AT_HWCAP %lx\n", getauxval(AT_HWCAP));
    printf("ids ok %d\n", getauxval(AT_UID) == getuid() && getauxval(AT_EUID) == geteuid() &&
                              getauxval(AT_GID) == getgid() && getauxval(AT_EGID) == getegid());
    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    int nonzero = 0;
    for (int i = 0; rnd && i < 16; i++) nonzero |= rnd[i];
    printf("AT_RANDOM present %d\n", rnd != NULL && nonzero != 0);
    const char *fn = (const char *)getauxval(AT_EXECFN);
    printf("AT_EXECFN %s\n", fn ? base(fn) : "(none)");
    /* The stack pointer is 16-byte aligned at entry, so locals here are too. */
    long long aligned __attribute__((aligned(16))) = 0;
    printf("stack aligned %d\n", ((uintptr_t)&aligned & 15) == 0);
    return 0;
}
