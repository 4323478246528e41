/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int log_level = S2SD_LOG_INFO;
static bool log_journal;

static const char *const level_names[8] = {"emerg", "alert", "crit", "err",
					   "warning", "notice", "info", "debug"};

void s2sd_log_init(int level)
{
	log_level = level;
	/* systemd sets JOURNAL_STREAM when stderr is connected to journald. */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

int s2sd_log_level_from_name(const char *name)
{
	for (int i = S2SD_LOG_ERR; i <= S2SD_LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

bool s2sd_log_enabled(int level)
{
	return level <= log_level;
}

void s2sd_log(int level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (!s2sd_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", level, msg);
		return;
	}
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s: %s\n", stamp, ts.tv_nsec / 1000000L, level_names[level], msg);
}
