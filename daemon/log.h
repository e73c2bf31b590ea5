/*
 * log.h - one-line log records on stderr with journald priority prefixes.
 *
 * Each record is "<N>message\n" where N is the syslog priority, which
 * journald turns into the record's PRIORITY. The level is tested before any
 * formatting happens, so disabled debug lines cost one comparison.
 */
#ifndef PODIUM_LOG_H
#define PODIUM_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

extern int log_level_current;

/* Parses "error", "warning", "info" or "debug"; returns false on anything else. */
bool log_level_parse(const char *s, int *out);
/* Sets the level below which records are dropped. */
void log_set_level(int level);
/* Routes libevent's own warnings into this log. */
void log_route_libevent(void);
/* Writes one record; use the macros below instead. */
void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) <= log_level_current)                                                            \
            log_write((lvl), __VA_ARGS__);                                                         \
    } while (0)
#define log_err(...)   log_at(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
