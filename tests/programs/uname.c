#define _GNU_SOURCE
/* uname(2) and process identity calls. The kernel release and host name
 * come from the host, so only the machine and system names are printed. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(void)
{
    struct utsname u;
    int r = uname(&u);
    printf("uname %d sysname %s machine %s\n", r, u.sysname, u.machine);
    printf("release nonempty %d\n", u.release[0] != 0);
    printf("pid>0 %d ppid>0 %d\n", getpid() > 0, getppid() > 0);
    printf("uid==euid %d gid==egid %d\n", getuid() == geteuid(), getgid() == getegid());
    printf("tid==pid %d\n", gettid() == getpid());
    char cwd[4096];
    printf("getcwd %s\n", getcwd(cwd, sizeof cwd) ? "ok" : "FAIL");
    return 0;
}
