/* test-stdin: wc_stdin.txt */
/* Reads all of stdin with read(2) in odd-sized chunks and with stdio, and
 * prints line/word/byte counts and a checksum, like `wc`. The input is larger
 * than a pipe buffer, so reads return short counts and must be looped. */
#include <ctype.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    static char buf[4099];
    long lines = 0, words = 0, bytes = 0, reads = 0;
    unsigned long sum = 0;
    int in_word = 0;
    /* The first part through read(2) directly, the rest through stdio. */
    ssize_t n;
    while (bytes < 50000 && (n = read(0, buf, sizeof buf)) > 0) {
        reads++;
        for (ssize_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)buf[i];
            sum = sum * 31 + c;
            lines += c == '\n';
            if (isspace(c)) in_word = 0;
            else if (!in_word) in_word = 1, words++;
        }
        bytes += n;
    }
    int c;
    while ((c = getchar()) != EOF) {
        sum = sum * 31 + (unsigned char)c;
        lines += c == '\n';
        if (isspace(c)) in_word = 0;
        else if (!in_word) in_word = 1, words++;
        bytes++;
    }
    printf("%ld %ld %ld\n", lines, words, bytes);
    printf("checksum %016lx read calls > 0 %d eof again %zd\n", sum, reads > 0, read(0, buf, 1));
    return 0;
}
