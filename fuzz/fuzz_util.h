/*
 * fuzz_util.h - small helpers shared by the libFuzzer harnesses in fuzz/.
 * Header-only (static functions) so each harness stays one file.
 */
#ifndef S2S_FUZZ_UTIL_H
#define S2S_FUZZ_UTIL_H

#define _GNU_SOURCE
#include <sanitizer/common_interface_defs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A harness found a contract violation: say which, then abort so libFuzzer
 * records the input as a crash reproducer. */
#define FUZZ_CHECK(cond, ...)                                                 \
	do {                                                                  \
		if (!(cond))                                                  \
			fuzz_fail(#cond, __VA_ARGS__);                        \
	} while (0)

/*
 * Reports through the sanitizer runtime's report channel, which libFuzzer
 * keeps open with -close_fd_mask (stderr itself is then /dev/null), then
 * aborts: libFuzzer saves the input as a crash reproducer.
 */
__attribute__((format(printf, 2, 3), noreturn)) static void fuzz_fail(const char *cond,
									 const char *fmt, ...)
{
	char msg[2048];
	int k = snprintf(msg, sizeof msg, "fuzz check failed: %s: ", cond);
	va_list ap;
	va_start(ap, fmt);
	if (k > 0 && (size_t)k < sizeof msg)
		vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
	va_end(ap);
	__sanitizer_report_error_summary(msg);
	abort();
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static inline bool fuzz_utf8_valid(const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		unsigned cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (len - i < n)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

/* A NUL-terminated malloc'd copy of len bytes (NULL on ENOMEM). */
static inline char *fuzz_strndup(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);
	if (s) {
		memcpy(s, data, len);
		s[len] = '\0';
	}
	return s;
}

/*
 * Writes `len` bytes to a fresh anonymous memory file and puts a path that
 * opens it ("/proc/self/fd/N") in `path`. Returns the descriptor (the caller
 * closes it), or -1. Used where the code under test takes a path.
 */
static inline int fuzz_memfd(const void *data, size_t len, char *path, size_t cap)
{
	int fd = memfd_create("s2s-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		p += w;
		left -= (size_t)w;
	}
	snprintf(path, cap, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
