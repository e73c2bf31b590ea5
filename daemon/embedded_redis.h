/*
 * embedded_redis.h - a private redis-server for first runs and tests.
 *
 * With `redis` unset, podiumd runs its own redis-server on a unix socket
 * under data_dir (AOF on, no TCP port), restarts it when it dies and stops
 * it on exit. The child gets PR_SET_PDEATHSIG so it never outlives podiumd.
 */
#ifndef PODIUM_EMBEDDED_REDIS_H
#define PODIUM_EMBEDDED_REDIS_H

#include <stddef.h>

struct event_base;
typedef struct embedded_redis embedded_redis;

/* Starts redis-server (binary `server`) with its files in `dir`; writes the
 * URI to connect to ("unix:/dir/redis.sock") into uri. NULL with a message on
 * failure. */
embedded_redis *embedded_redis_start(struct event_base *base, const char *server, const char *dir,
                                     char *uri, size_t urilen, char *err, size_t errlen);
/* Reaps the child after SIGCHLD and schedules a restart if it died. */
void embedded_redis_reap(embedded_redis *er);
/* Stops the child (SIGTERM, then SIGKILL after 5 s) and frees. NULL is allowed. */
void embedded_redis_stop(embedded_redis *er);

#endif
