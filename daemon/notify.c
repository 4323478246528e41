/* notify.c - see notify.h. */
#include "notify.h"

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

void s2sd_notify(const char *state)
{
	sd_notify(0, state);
}

uint64_t s2sd_watchdog_usec(void)
{
	uint64_t usec = 0;
	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

int s2sd_listen_fd(void)
{
	return sd_listen_fds(1) >= 1 ? SD_LISTEN_FDS_START : -1;
}

#else /* the protocol by hand: one datagram to an AF_UNIX socket */

void s2sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len;
	if (!path || (path[0] != '/' && path[0] != '@') || (len = strlen(path)) >= sizeof sa.sun_path)
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}

static long env_long(const char *name)
{
	const char *v = getenv(name);
	return v ? strtol(v, NULL, 10) : -1;
}

uint64_t s2sd_watchdog_usec(void)
{
	long pid = env_long("WATCHDOG_PID");
	long usec = env_long("WATCHDOG_USEC");
	if (usec <= 0 || (pid > 0 && pid != (long)getpid()))
		return 0;
	return (uint64_t)usec;
}

int s2sd_listen_fd(void)
{
	long pid = env_long("LISTEN_PID");
	return pid == (long)getpid() && env_long("LISTEN_FDS") >= 1 ? 3 : -1;
}
#endif

void s2sd_notifyf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	s2sd_notify(buf);
}
