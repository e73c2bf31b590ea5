/*
 * sdnotify.c - send sd_notify(3) messages over $NOTIFY_SOCKET.
 *
 * Supports path sockets and abstract ones ("@name"), as systemd does.
 */
#include "sdnotify.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

void sdnotify(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || (path[0] != '/' && path[0] != '@') || strlen(path) >= 108)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path));
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    (void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    close(fd);
}

uint64_t sdnotify_watchdog_usec(void)
{
    const char *s = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    int64_t v, p;
    if (s == NULL || !util_parse_i64(s, 1, INT64_MAX, &v))
        return 0;
    if (pid && util_parse_i64(pid, 1, INT64_MAX, &p) && p != (int64_t)getpid())
        return 0;
    return (uint64_t)v;
}
