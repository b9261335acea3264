/* test-exit: 3 */
/* Exit status travels through exit_group; atexit handlers run in reverse
 * order of registration and stdio buffers are flushed before the exit. */
#include <stdio.h>
#include <stdlib.h>

static void first(void) { printf("atexit first-registered runs last\n"); }
static void second(void) { printf("atexit second-registered runs first\n"); }

int main(void)
{
    atexit(first);
    atexit(second);
    printf("buffered output without newline is flushed at exit");
    return 3;
}
