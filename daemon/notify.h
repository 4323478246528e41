/*
 * notify.h - the systemd service protocol: sd_notify datagrams (READY=1,
 * RELOADING=1, STOPPING=1, STATUS=..., WATCHDOG=1) and socket activation.
 * Uses libsystemd when configure found it, else speaks the (tiny, stable)
 * protocol itself. Without NOTIFY_SOCKET / LISTEN_FDS every call is a no-op.
 * Loop-thread only.
 */
#ifndef S2SD_NOTIFY_H
#define S2SD_NOTIFY_H

#include <stdint.h>

/* Sends `state` ("READY=1\nSTATUS=serving") to $NOTIFY_SOCKET. */
void s2sd_notify(const char *state);
void s2sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Watchdog interval in microseconds from $WATCHDOG_USEC (for this pid), or 0. */
uint64_t s2sd_watchdog_usec(void);
/* The first socket passed by socket activation, or -1 when there is none. */
int s2sd_listen_fd(void);

#endif
