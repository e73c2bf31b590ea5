/*
 * sdnotify.h - systemd's readiness and watchdog protocol, without libsystemd.
 *
 * Messages go as datagrams to $NOTIFY_SOCKET; when it is unset (not under
 * systemd) every call does nothing.
 */
#ifndef PODIUM_SDNOTIFY_H
#define PODIUM_SDNOTIFY_H

#include <stdint.h>

/* Sends one notification ("READY=1", "STOPPING=1", "WATCHDOG=1", ...). */
void sdnotify(const char *msg);
/* The watchdog interval asked for by systemd in microseconds, 0 if none. */
uint64_t sdnotify_watchdog_usec(void);

#endif
