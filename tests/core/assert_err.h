/*
 * assert_err.h - the loader tests' check of a failed call: the return code,
 * the code stored in the s2s_error, and a substring of its message, so a
 * test fails when the right error comes with the wrong words.
 * Needs <criterion/criterion.h>, <string.h> and s2s_error.h before it.
 */
#ifndef S2S_TEST_ASSERT_ERR_H
#define S2S_TEST_ASSERT_ERR_H

#define assert_err(rc, e, want, sub)                                                               \
	do {                                                                                       \
		cr_assert_eq((rc), (want), "rc %d (%s), want %s; message: %s", (rc),               \
		             s2s_strerror_name(rc), s2s_strerror_name(want), (e).message);         \
		cr_assert_eq((e).code, (want));                                                    \
		cr_assert(strstr((e).message, (sub)), "message '%s' lacks '%s'", (e).message,      \
		          (sub));                                                                  \
	} while (0)

#endif
