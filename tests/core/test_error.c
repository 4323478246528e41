/* test_error.c - the status tables and first-error-wins semantics. */
#include <criterion/criterion.h>
#include <string.h>

#include "s2s_error.h"

Test(error, names_and_messages_come_from_one_table)
{
	cr_assert_str_eq(s2s_strerror_name(S2S_ESHAPE), "S2S_ESHAPE");
	cr_assert_str_eq(s2s_strerror(S2S_ENOMEM), "out of memory");
	cr_assert_str_eq(s2s_strerror_name(-9999), "S2S_E?");
}

Test(error, first_error_wins)
{
	s2s_error e;
	s2s_error_clear(&e);
	cr_assert_eq(s2s__error_set(&e, S2S_EDTYPE, "tensor %s is I8", "x"), S2S_EDTYPE);
	cr_assert_eq(s2s__error_set(&e, S2S_EIO, "later"), S2S_EIO);
	cr_assert_eq(e.code, S2S_EDTYPE);
	cr_assert_str_eq(e.message, "tensor x is I8");
	cr_assert_eq(s2s__error_set(NULL, S2S_EIO, "no struct"), S2S_EIO);
}
