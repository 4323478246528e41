/*
 * static.h - the dashboard's files (DATA_DIR/dashboard), read into memory
 * once at startup and served from there.
 *
 * Reading them up front keeps file I/O off the loop thread and makes path
 * handling trivial: a request can only ever name one of the files loaded
 * here, so there is no path to traverse. The set is small (a page, a script,
 * a stylesheet) and fixed for the life of the process.
 */
#ifndef S2SD_STATIC_H
#define S2SD_STATIC_H

#include <stddef.h>

typedef struct {
	char *name;       /* owned; a plain file name, no '/' */
	char *data;       /* owned; (len) bytes */
	size_t len;
	const char *type; /* static string: the Content-Type */
	char etag[20];    /* "\"%016llx\"" of a hash of the bytes */
} s2sd_static_file;

typedef struct {
	char *dir; /* owned */
	s2sd_static_file *v; /* (n), owned */
	int n;
} s2sd_static;

/*
 * Loads every regular file of `dir` whose name is [A-Za-z0-9._-], not
 * starting with '.', with a known extension (html js css svg png ico json
 * txt), at most S2SD_STATIC_MAX_FILES of at most S2SD_STATIC_MAX_BYTES each.
 * A missing directory leaves the set empty and returns 0 (the daemon serves
 * the API without a dashboard); a read error or ENOMEM returns -1 with a
 * message in `err`. *s is owned by the caller (s2sd_static_free) either way.
 */
#define S2SD_STATIC_MAX_FILES 64
#define S2SD_STATIC_MAX_BYTES (4u << 20)
int s2sd_static_load(s2sd_static *s, const char *dir, char *err, size_t errlen);
/*
 * A set of the one file dir/name (an empty set when either is missing), read
 * as s2sd_static_load reads each file; 0 or -1 with `err` set. *s is owned
 * by the caller (s2sd_static_free) either way.
 */
int s2sd_static_load_one(s2sd_static *s, const char *dir, const char *name, char *err,
			 size_t errlen);
void s2sd_static_free(s2sd_static *s);

/* The file called `name` (exact match), or NULL. Borrowed; lives until free. */
const s2sd_static_file *s2sd_static_find(const s2sd_static *s, const char *name);

#endif
