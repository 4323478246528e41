/* error.c - status names, messages and the first-error-wins setter. */
#include "s2s_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *s2s_strerror_name(int code)
{
	switch (code) {
#define S2S__ERR_NAME(name, value, desc)                                       \
	case (value):                                                          \
		return "S2S_" #name;
		S2S_ERRNO_MAP(S2S__ERR_NAME)
#undef S2S__ERR_NAME
	}
	return "S2S_E?";
}

const char *s2s_strerror(int code)
{
	switch (code) {
#define S2S__ERR_DESC(name, value, desc)                                       \
	case (value):                                                          \
		return desc;
		S2S_ERRNO_MAP(S2S__ERR_DESC)
#undef S2S__ERR_DESC
	}
	return "unknown error";
}

void s2s_error_clear(s2s_error *err)
{
	if (err) {
		err->code = 0;
		err->message[0] = '\0';
	}
}

int s2s__error_set(s2s_error *err, int code, const char *fmt, ...)
{
	if (!err || err->code != 0)
		return code;
	err->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return code;
}
