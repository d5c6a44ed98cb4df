/* What the two serving commands (ibex node serve, ibex serve) share: their log and how they
 * wait for a stop signal. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_server_log(const char *path, int quiet, FILE **log, FILE **opened)
{
    *opened = NULL;
    if (quiet) {
        *log = NULL;
    } else if (path) {
        if (!(*opened = fopen(path, "a"))) {
            cli_error("%s: cannot open the log: %s", path, strerror(errno));
            return EXIT_REFUSED;
        }
        *log = *opened;
    }
    return EXIT_OK;
}

void cli_block_stop_signals(sigset_t *set)
{
    /* Before the server's threads start, so that only cli_server_wait sees them. */
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void cli_server_wait(sigset_t *set, long exit_after)
{
    if (exit_after > 0) alarm((unsigned)exit_after);
    int sig = 0;
    sigwait(set, &sig);
}
