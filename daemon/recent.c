/*
 * recent.c - the ring of recent translations (see recent.h).
 */
#include "recent.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int s2sd_recent_init(s2sd_recent *r, int capacity)
{
	memset(r, 0, sizeof *r);
	if (capacity <= 0)
		return 0;
	r->v = calloc((size_t)capacity, sizeof *r->v);
	if (!r->v)
		return -1;
	r->capacity = capacity;
	return 0;
}

static void entry_clear(s2sd_recent_entry *e)
{
	free(e->model);
	free(e->source);
	free(e->translation);
	memset(e, 0, sizeof *e);
}

void s2sd_recent_deinit(s2sd_recent *r)
{
	for (int i = 0; i < r->capacity; i++)
		entry_clear(&r->v[i]);
	free(r->v);
	memset(r, 0, sizeof *r);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void s2sd_recent_add(s2sd_recent *r, const char *model, const char *source,
		     const char *translation, double latency_ms, int beam_size)
{
	if (r->capacity == 0)
		return;
	s2sd_recent_entry e = {now_ms(), strdup(model ? model : ""), strdup(source ? source : ""),
			       strdup(translation ? translation : ""), latency_ms, beam_size};
	if (!e.model || !e.source || !e.translation) {
		entry_clear(&e);
		return;
	}
	entry_clear(&r->v[r->head]);
	r->v[r->head] = e;
	r->head = (r->head + 1) % r->capacity;
	if (r->count < r->capacity)
		r->count++;
	r->total++;
}

json_t *s2sd_recent_json(const s2sd_recent *r)
{
	json_t *items = json_array();
	for (int k = 0; items && k < r->count; k++) {
		const s2sd_recent_entry *e = &r->v[(r->head - 1 - k + r->capacity) % r->capacity];
		json_array_append_new(items, json_pack("{s:I,s:s,s:s,s:s,s:f,s:i}", "time_ms",
						       (json_int_t)e->time_ms, "model", e->model,
						       "source", e->source, "translation",
						       e->translation, "latency_ms", e->latency_ms,
						       "beam_size", e->beam_size));
	}
	return json_pack("{s:b,s:i,s:I,s:o*}", "enabled", r->capacity > 0, "capacity", r->capacity,
			 "total", (json_int_t)r->total, "items", items);
}
