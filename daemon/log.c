/*
 * log.c - stderr logging with journald priority prefixes.
 *
 * One write(2) per record so that lines from a crashing process are never
 * interleaved. Records longer than the buffer are cut, never split.
 */
#include "log.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int log_level_current = LOG_LVL_INFO;

bool log_level_parse(const char *s, int *out)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"error", LOG_LVL_ERR},
                 {"warning", LOG_LVL_WARN},
                 {"info", LOG_LVL_INFO},
                 {"debug", LOG_LVL_DEBUG}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return true;
        }
    }
    return false;
}

void log_set_level(int level)
{
    log_level_current = level;
}

void log_write(int level, const char *fmt, ...)
{
    char buf[2048];
    int n = snprintf(buf, sizeof(buf), "<%d>", level);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(buf) - 2)
        len = sizeof(buf) - 2;
    buf[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, len);
    (void)w;
}

/* libevent's severities mapped onto ours. */
static void log_libevent_cb(int severity, const char *msg)
{
    int level = severity >= EVENT_LOG_ERR    ? LOG_LVL_ERR
                : severity >= EVENT_LOG_WARN ? LOG_LVL_WARN
                : severity >= EVENT_LOG_MSG  ? LOG_LVL_INFO
                                             : LOG_LVL_DEBUG;
    log_at(level, "libevent: %s", msg);
}

void log_route_libevent(void)
{
    event_set_log_callback(log_libevent_cb);
}
