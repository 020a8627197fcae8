/* Preloaded into `orch serve` under valgrind by bench/era-instructions.sh (never built into orch).
 * Valgrind 3.19 writes into the signal mask a program hands rt_sigsuspend, and libdispatch's main
 * thread hands it one in read-only memory, so valgrind stops with a SIGSEGV of its own as the
 * gateway starts. This sigsuspend passes a copy on the stack instead. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, sizeof(long));
}
