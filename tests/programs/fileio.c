/* File system system calls through stdio and directly: openat, read, write,
 * pread/pwrite, lseek, fstat/stat (struct layout), ftruncate, rename, unlink,
 * mkdir/rmdir, getdents64 (via readdir), dup/dup3, pipe2, fcntl, and errno
 * values for failures. Works in a fresh directory under $TMPDIR (or /tmp)
 * and removes it; only sizes, contents and error numbers are printed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    umask(022);
    const char *tmp = getenv("TMPDIR");
    char dir[512], path[600], path2[600];
    snprintf(dir, sizeof dir, "%s/wasmemu-fileio-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/data.bin", dir);
    snprintf(path2, sizeof path2, "%s/renamed.bin", dir);

    FILE *f = fopen(path, "wb");
    static unsigned char buf[100000];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 131 + (i >> 8));
    size_t wrote = fwrite(buf, 1, sizeof buf, f);
    fprintf(f, "tail line %d\n", 42);
    printf("fwrite %zu ftell %ld\n", wrote, ftell(f));
    fclose(f);

    struct stat st;
    stat(path, &st);
    printf("stat size %lld regular %d mode %o nlink %lu\n", (long long)st.st_size,
           S_ISREG(st.st_mode), (unsigned)(st.st_mode & 0777 & ~0022), (unsigned long)st.st_nlink);

    int fd = open(path, O_RDWR);
    struct stat st2;
    fstat(fd, &st2);
    printf("fstat same inode %d size %lld blksize>0 %d\n", st.st_ino == st2.st_ino,
           (long long)st2.st_size, st2.st_blksize > 0);
    static unsigned char back[100016];
    ssize_t got = 0, n;
    while ((n = read(fd, back + got, 7777)) > 0) got += n;
    printf("read %zd equal %d tail '%.12s'\n", got, memcmp(back, buf, sizeof buf) == 0,
           (char *)back + sizeof buf);
    /* One call per statement: argument evaluation order is unspecified. */
    long long end = lseek(fd, 0, SEEK_END);
    long long set = lseek(fd, 1000, SEEK_SET);
    long long cur = lseek(fd, -10, SEEK_CUR);
    printf("lseek end %lld set %lld cur %lld\n", end, set, cur);
    unsigned char b4[4];
    ssize_t r4 = read(fd, b4, 4);
    printf("read at 990 %zd: %02x %02x\n", r4, b4[0], b4[3]);
    ssize_t pw = pwrite(fd, "XYZ", 3, 5);
    ssize_t pr = pread(fd, b4, 4, 4);
    printf("pwrite %zd pread %zd", pw, pr);
    printf(" -> %02x %c%c%c cur %lld\n", b4[0], b4[1], b4[2], b4[3], (long long)lseek(fd, 0, SEEK_CUR));
    printf("ftruncate %d", ftruncate(fd, 1234));
    fstat(fd, &st2);
    printf(" size %lld\n", (long long)st2.st_size);
    /* Holes read back as zeros. */
    lseek(fd, 5000, SEEK_SET);
    write(fd, "end", 3);
    pread(fd, b4, 4, 3000);
    printf("hole %02x%02x%02x%02x size %lld\n", b4[0], b4[1], b4[2], b4[3],
           (long long)lseek(fd, 0, SEEK_END));

    int fd2 = dup(fd);
    printf("dup shares offset %lld\n", (long long)lseek(fd2, 0, SEEK_CUR));
    int fd3 = dup3(fd, 50, O_CLOEXEC);
    printf("dup3 %d cloexec %d\n", fd3, (fcntl(fd3, F_GETFD) & FD_CLOEXEC) != 0);
    printf("fcntl getfl rdwr %d\n", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
    close(fd3);
    close(fd2);
    close(fd);
    r4 = read(fd3, b4, 1);
    printf("read closed fd %zd errno %d\n", r4, errno);

    printf("rename %d", rename(path, path2));
    int acc = access(path, F_OK);
    printf(" old gone %d errno %d\n", acc, errno);
    for (int i = 0; i < 5; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/file%d", dir, 4 - i);
        int t = open(p, O_CREAT | O_WRONLY | O_EXCL, 0644);
        write(t, p, (size_t)i);
        close(t);
    }
    char sub[700];
    snprintf(sub, sizeof sub, "%s/subdir", dir);
    int mk1 = mkdir(sub, 0755);
    int mk2 = mkdir(sub, 0755);
    printf("mkdir %d again %d errno %d\n", mk1, mk2, errno);
    DIR *dp = opendir(dir);
    char *names[32];
    int count = 0;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL && count < 32) names[count++] = strdup(de->d_name);
    closedir(dp);
    qsort(names, (size_t)count, sizeof names[0], cmp);
    printf("readdir %d:", count);
    for (int i = 0; i < count; i++) printf(" %s", names[i]);
    printf("\n");

    int p[2];
    char pbuf[32] = {0};
    printf("pipe2 %d", pipe2(p, O_CLOEXEC));
    write(p[1], "through the pipe", 16);
    close(p[1]);
    ssize_t pr1 = read(p[0], pbuf, sizeof pbuf);
    ssize_t pr2 = read(p[0], pbuf + 20, 1);
    printf(" read %zd '%s' eof %zd\n", pr1, pbuf, pr2);
    close(p[0]);

    int om = open("/nonexistent/x", O_RDONLY);
    printf("open missing %d errno %d (%s)\n", om, errno, strerror(errno));
    int rn = rmdir(dir);
    printf("rmdir nonempty %d errno %d\n", rn, errno);
    for (int i = 0; i < count; i++) {
        char q[800];
        if (names[i][0] == '.') continue;
        snprintf(q, sizeof q, "%s/%s", dir, names[i]);
        if (strcmp(names[i], "subdir") == 0) rmdir(q);
        else unlink(q);
        free(names[i]);
    }
    int ul = unlink(path2);
    printf("unlink again %d errno %d\n", ul, errno);
    printf("rmdir %d\n", rmdir(dir));
    printf("fflush %d\n", fflush(stdout));
    return 0;
}
