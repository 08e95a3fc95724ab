/*
 * test_smtp_rdns.c - table-driven tests of smtp_rdns_name, the parser of
 * PTR answers (untrusted: whoever runs the client's reverse zone).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/smtp_rdns.h"

static const struct {
	const char	*wire;		/* length-prefixed labels */
	size_t		 len;
	const char	*want;		/* NULL: refused */
} cases[] = {
	{ "\x04mail\x07" "example\x03org\x00", 18, "mail.example.org" },
	{ "\x01" "a\x00", 3, "a" },
	{ "\x05host-\x01_\x00", 10, "host-._" },
	{ "\x04mail\x07" "example", 13, "mail.example" },	/* no root label */
	{ "\x00", 1, NULL },				/* the root alone */
	{ "", 0, NULL },
	{ "\x05ma\"il\x00", 7, NULL },			/* a quote */
	{ "\x04ma l\x00", 6, NULL },			/* a space */
	{ "\x04ma\nl\x00", 6, NULL },			/* a line end */
	{ "\x04mail\x09" "ex", 8, NULL },		/* label past the end */
	{ "\x40" "a", 2, NULL },			/* label over 63 */
};

static void
test_names(void **state)
{
	char buf[SMTP_RDNS_NAME_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = smtp_rdns_name((const uint8_t *)cases[i].wire,
		    cases[i].len, buf, sizeof(buf));

		if (cases[i].want == NULL) {
			if (rc != -1)
				fail_msg("case %zu: got %d (%s), want -1", i, rc, buf);
			continue;
		}
		if (rc != 0 || strcmp(buf, cases[i].want) != 0)
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, rc, buf,
			    cases[i].want);
	}
}

/* a name longer than a host name may be is refused, not cut */
static void
test_too_long(void **state)
{
	uint8_t wire[320];
	char buf[SMTP_RDNS_NAME_MAX];
	size_t o = 0;

	for (int l = 0; l < 5; l++) {
		wire[o++] = 60;
		memset(wire + o, 'a', 60);
		o += 60;
	}
	wire[o++] = 0;
	assert_int_equal(smtp_rdns_name(wire, o, buf, sizeof(buf)), -1);
	/* and a small buffer is never overrun */
	assert_int_equal(smtp_rdns_name((const uint8_t *)"\x04mail\x00", 6, buf,
	    4), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
