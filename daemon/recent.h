/*
 * recent.h - the bounded buffer of recent translations behind
 * GET /v1/recent and the dashboard's live view.
 *
 * It holds user text, so it is off unless the `recent_translations` option
 * gives it a capacity. When full, the oldest entry is dropped. Loop-thread
 * only: entries are added where responses are built and read by a handler,
 * both on the loop thread, so there is no lock.
 */
#ifndef S2SD_RECENT_H
#define S2SD_RECENT_H

#include <jansson.h>

typedef struct {
	long long time_ms; /* Unix time of the answer, milliseconds */
	char *model;       /* owned */
	char *source;      /* owned */
	char *translation; /* owned; best hypothesis */
	double latency_ms; /* arrival to answer of its request */
	int beam_size;
} s2sd_recent_entry;

typedef struct {
	s2sd_recent_entry *v; /* (capacity) ring, owned */
	int capacity;         /* 0 = disabled */
	int head;             /* next slot to write */
	int count;
	unsigned long long total; /* entries ever added */
} s2sd_recent;

/* capacity 0 disables the buffer. 0, or -1 on ENOMEM. */
int s2sd_recent_init(s2sd_recent *r, int capacity);
void s2sd_recent_deinit(s2sd_recent *r);

/*
 * Copies the strings into a new entry (dropping the oldest when full).
 * A no-op when disabled; an allocation failure drops the entry silently,
 * because losing a line of a diagnostic view must not fail a translation.
 */
void s2sd_recent_add(s2sd_recent *r, const char *model, const char *source,
		     const char *translation, double latency_ms, int beam_size);

/* {"enabled", "capacity", "total", "items": [newest first]}; new reference or NULL. */
json_t *s2sd_recent_json(const s2sd_recent *r);

#endif
