/*
 * static.c - the dashboard's files held in memory (see static.h).
 */
#include "static.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *ext, *type;
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".json", "application/json"},
	{".txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		size_t e = strlen(types[i].ext);
		if (n > e && !strcmp(name + n - e, types[i].ext))
			return types[i].type;
	}
	return NULL;
}

static bool name_ok(const char *name)
{
	if (name[0] == '.' || name[0] == '\0' || strlen(name) > 128)
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
	       strlen(name);
}

/* FNV-1a, 64 bits: enough to tell versions of a file apart for caching. */
static unsigned long long fnv1a(const char *p, size_t n)
{
	unsigned long long h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

/* Reads dir/name into f. 0, 1 (skipped: not a regular file), or -1 with err set. */
static int read_one(int dfd, const char *name, s2sd_static_file *f, char *err, size_t errlen)
{
	int fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		/* A symlink (ELOOP) or a file that vanished is skipped, not fatal. */
		if (errno == ELOOP || errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > S2SD_STATIC_MAX_BYTES) {
		close(fd);
		if (S_ISREG(st.st_mode))
			snprintf(err, errlen, "%s: larger than %u bytes", name, S2SD_STATIC_MAX_BYTES);
		return S_ISREG(st.st_mode) ? -1 : 1;
	}
	size_t len = (size_t)st.st_size, got = 0;
	char *data = malloc(len + 1);
	while (data && got < len) {
		ssize_t k = read(fd, data + got, len - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	if (!data || got != len) {
		/* The message first: a freed pointer's value may not be read. */
		snprintf(err, errlen, "%s: %s", name, data ? "short read" : "out of memory");
		free(data);
		return -1;
	}
	*f = (s2sd_static_file){strdup(name), data, len, type_of(name), ""};
	snprintf(f->etag, sizeof f->etag, "\"%016llx\"", fnv1a(data, len));
	if (!f->name) {
		free(data);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int s2sd_static_load(s2sd_static *s, const char *dir, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->dir = strdup(dir);
	s->v = calloc(S2SD_STATIC_MAX_FILES, sizeof *s->v);
	if (!s->dir || !s->v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", dir, strerror(errno)), -1);
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		if (!name_ok(de->d_name) || !type_of(de->d_name))
			continue;
		if (s->n == S2SD_STATIC_MAX_FILES) {
			snprintf(err, errlen, "%s: more than %d files", dir, S2SD_STATIC_MAX_FILES);
			rc = -1;
			break;
		}
		int k = read_one(dirfd(d), de->d_name, &s->v[s->n], err, errlen);
		if (k == 0)
			s->n++;
		rc = k < 0 ? -1 : 0;
	}
	closedir(d);
	return rc;
}

int s2sd_static_load_one(s2sd_static *s, const char *dir, const char *name, char *err,
			 size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->dir = strdup(dir);
	s->v = calloc(1, sizeof *s->v);
	if (!s->dir || !s->v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", dir, strerror(errno)), -1);
	int k = read_one(dfd, name, &s->v[0], err, errlen);
	close(dfd);
	if (k == 0)
		s->n = 1;
	return k < 0 ? -1 : 0;
}

void s2sd_static_free(s2sd_static *s)
{
	for (int i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].data);
	}
	free(s->v);
	free(s->dir);
	memset(s, 0, sizeof *s);
}

const s2sd_static_file *s2sd_static_find(const s2sd_static *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}
