/* unit.h - what every kidou unit test includes: cmocka (with the headers it
 * needs first, in the order its documentation asks for) and assert_rc(),
 * which prints a mismatched return code in decimal with its errno name
 * instead of cmocka's hexadecimal. */
#ifndef KIDOU_TEST_UNIT_H
#define KIDOU_TEST_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

/* expected is a plain int: 0, a length, or -errno. */
#define assert_rc(actual, expected)                                            \
	do {                                                                   \
		long long rc_a_ = (long long)(actual);                         \
		long long rc_e_ = (long long)(expected);                       \
		if (rc_a_ != rc_e_) {                                          \
			print_error("%s = %lld (%s), expected %lld (%s)\n",    \
				    #actual, rc_a_,                            \
				    rc_a_ < 0 ? strerror((int)-rc_a_) : "ok",  \
				    rc_e_,                                     \
				    rc_e_ < 0 ? strerror((int)-rc_e_) : "ok"); \
			fail();                                                \
		}                                                              \
	} while (0)

#endif
