/*
 * log.h - levelled, journald-friendly logging for seq2seqd.
 *
 * Lines go to stderr. When stderr is the journal (JOURNAL_STREAM set, as
 * under systemd) each line starts with a "<N>" syslog priority, which
 * journald turns into the entry's priority; otherwise it starts with a UTC
 * timestamp and the level name. Any thread may log: one line is one fprintf,
 * and stdio locks the stream per call.
 */
#ifndef S2SD_LOG_H
#define S2SD_LOG_H

#include <stdbool.h>

/* syslog priorities (sd-daemon.h numbers). */
enum { S2SD_LOG_ERR = 3, S2SD_LOG_WARNING = 4, S2SD_LOG_NOTICE = 5, S2SD_LOG_INFO = 6,
       S2SD_LOG_DEBUG = 7 };

/* Sets the lowest level logged and detects the journal from the environment. */
void s2sd_log_init(int level);
/* Level number of a name ("err", "warning", "notice", "info", "debug"), or -1. */
int s2sd_log_level_from_name(const char *name);
bool s2sd_log_enabled(int level);

void s2sd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
