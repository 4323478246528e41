/*
 * s2s_error.h - error codes and the optional error struct of libs2s.
 *
 * Every fallible libs2s function returns 0 (or a non-negative count) on
 * success and a negative S2S_E* code on failure. Callers that want a human
 * sentence pass an s2s_error (NULL is allowed everywhere); the first error
 * written wins, so the innermost, most specific cause survives.
 *
 * Thread safety: all functions here are pure or write only to the struct the
 * caller passes; any thread may call them.
 */
#ifndef S2S_ERROR_H
#define S2S_ERROR_H

#include <stddef.h>

/* X(name, value, short description). Values are stable: append only. */
#define S2S_ERRNO_MAP(X)                                                       \
	X(OK, 0, "success")                                                    \
	X(ENOMEM, -1, "out of memory")                                         \
	X(EIO, -2, "input/output error")                                       \
	X(EFORMAT, -3, "malformed checkpoint")                                 \
	X(ECONFIG, -4, "invalid model configuration")                          \
	X(ESHAPE, -5, "tensor shape mismatch")                                 \
	X(EDTYPE, -6, "unsupported tensor dtype")                              \
	X(EMISSING, -7, "missing tensor or key")                               \
	X(EVOCAB, -8, "invalid vocabulary")                                    \
	X(EINVAL, -9, "invalid argument")                                      \
	X(EUTF8, -10, "invalid UTF-8 input")                                   \
	X(ETOOLONG, -11, "input too long")                                     \
	X(EEMPTY, -12, "empty input")                                          \
	X(EFULL, -13, "no room in batch")                                      \
	X(ENOTFOUND, -14, "not found")                                         \
	X(ETOKENIZER, -15, "invalid tokenizer definition")                     \
	X(EBOUNDS, -16, "offset out of bounds")

typedef enum {
#define S2S__ERR_ENUM(name, value, desc) S2S_##name = (value),
	S2S_ERRNO_MAP(S2S__ERR_ENUM)
#undef S2S__ERR_ENUM
} s2s_status;

/* Filled by failing calls when non-NULL. `code` is 0 until an error is set. */
typedef struct {
	int code;
	char message[512];
} s2s_error;

/* "S2S_EFORMAT" style name of a code; "S2S_E?" for unknown codes. Static string. */
const char *s2s_strerror_name(int code);
/* Short English description of a code; static string. */
const char *s2s_strerror(int code);

/* Clears an error struct (NULL allowed). */
void s2s_error_clear(s2s_error *err);

/*
 * Records `code` and a printf-formatted sentence in `err` unless it already
 * holds an error (first error wins). Returns `code` so callers can write
 * `return s2s__error_set(err, S2S_ESHAPE, "...", ...);`. err may be NULL.
 */
int s2s__error_set(s2s_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
