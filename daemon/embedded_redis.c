/*
 * embedded_redis.c - spawn, supervise and stop a private redis-server.
 *
 * The child's stdout goes to podiumd's stderr (with --loglevel warning, so
 * only trouble shows). A death is noticed through SIGCHLD (main.c routes it
 * here) and answered by a restart one second later; the store reconnects by
 * itself meanwhile.
 */
#include "embedded_redis.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct embedded_redis {
    struct event_base *base;
    char server[512];
    char dir[512];
    char sock[600];
    pid_t pid; /* 0 when not running */
    bool stopping;
    struct event *restart;
};

/* Forks and execs redis-server; returns 0 or -1 with errno. */
static int spawn(embedded_redis *er)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(STDERR_FILENO, STDOUT_FILENO);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execlp(er->server, er->server, "--port", "0", "--unixsocket", er->sock, "--unixsocketperm",
               "700", "--dir", er->dir, "--appendonly", "yes", "--appendfsync", "everysec",
               "--save", "", "--daemonize", "no", "--loglevel", "warning", "--logfile", "",
               (char *)NULL);
        fprintf(stderr, "<3>embedded redis: cannot run %s: %s\n", er->server, strerror(errno));
        _exit(127);
    }
    er->pid = pid;
    log_info("embedded redis: started %s (pid %d) on %s", er->server, (int)pid, er->sock);
    return 0;
}

/* True if `prog` names an executable file, directly or through $PATH. */
static bool runnable(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");
        char full[1024];
        snprintf(full, sizeof(full), "%.*s/%s", (int)n, p, prog);
        if (n > 0 && access(full, X_OK) == 0)
            return true;
        p += n + (p[n] == ':');
    }
    return false;
}

/* Restart timer callback. */
static void on_restart(evutil_socket_t fd, short what, void *arg)
{
    embedded_redis *er = arg;
    if (!er->stopping && er->pid == 0 && spawn(er) < 0)
        log_err("embedded redis: cannot restart: %s", strerror(errno));
}

embedded_redis *embedded_redis_start(struct event_base *base, const char *server, const char *dir,
                                     char *uri, size_t urilen, char *err, size_t errlen)
{
    embedded_redis *er = calloc(1, sizeof(*er));
    if (er == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    er->base = base;
    snprintf(er->server, sizeof(er->server), "%s", server);
    snprintf(er->dir, sizeof(er->dir), "%s", dir);
    snprintf(er->sock, sizeof(er->sock), "%s/redis.sock", dir);
    if (strlen(er->sock) > 100) {
        snprintf(err, errlen, "data_dir '%s' is too long for a unix socket path", dir);
        free(er);
        return NULL;
    }
    if (!runnable(server)) {
        snprintf(err, errlen,
                 "cannot run '%s': no such executable (install redis-server, "
                 "or set redis_server or redis)",
                 server);
        free(er);
        return NULL;
    }
    er->restart = evtimer_new(base, on_restart, er);
    if (spawn(er) < 0) {
        snprintf(err, errlen, "cannot start %s: %s", server, strerror(errno));
        event_free(er->restart);
        free(er);
        return NULL;
    }
    snprintf(uri, urilen, "unix:%s", er->sock);
    return er;
}

void embedded_redis_reap(embedded_redis *er)
{
    if (er == NULL || er->pid == 0)
        return;
    int status;
    pid_t got = waitpid(er->pid, &status, WNOHANG);
    if (got != er->pid)
        return;
    er->pid = 0;
    if (er->stopping)
        return;
    if (WIFEXITED(status))
        log_err("embedded redis: exited with status %d; restarting in 1 s", WEXITSTATUS(status));
    else
        log_err("embedded redis: killed by signal %d; restarting in 1 s", WTERMSIG(status));
    struct timeval tv = {1, 0};
    evtimer_add(er->restart, &tv);
}

void embedded_redis_stop(embedded_redis *er)
{
    if (er == NULL)
        return;
    er->stopping = true;
    if (er->pid > 0) {
        kill(er->pid, SIGTERM);
        for (int i = 0; i < 500; i++) {
            if (waitpid(er->pid, NULL, WNOHANG) == er->pid) {
                er->pid = 0;
                break;
            }
            nanosleep(&(struct timespec){0, 10000000}, NULL);
        }
        if (er->pid > 0) {
            log_warn("embedded redis: did not stop in 5 s; killing it");
            kill(er->pid, SIGKILL);
            waitpid(er->pid, NULL, 0);
        }
    }
    event_free(er->restart);
    free(er);
}
