/*
 * test_doctor.c - the pure rules of moat doctor: how wide a relay
 * network is, what a secret's mode and owner allow, the exit statuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "ctl/doctor.h"
#include "lib/cidr.h"

static const struct {
	const char	*net;
	enum doctor_sev	 sev;
} nets[] = {
	{ "0.0.0.0/0", DOCTOR_CRITICAL },
	{ "::/0", DOCTOR_CRITICAL },
	{ "0.0.0.0/1", DOCTOR_CRITICAL },
	{ "64.0.0.0/7", DOCTOR_CRITICAL },
	{ "2000::/3", DOCTOR_CRITICAL },
	{ "198.51.0.0/16", DOCTOR_ERROR },
	{ "198.51.100.0/23", DOCTOR_ERROR },
	{ "2001:db8::/32", DOCTOR_ERROR },
	{ "198.51.100.0/24", DOCTOR_WARNING },
	{ "198.51.100.0/28", DOCTOR_WARNING },
	{ "2001:db8:1::/48", DOCTOR_WARNING },
	{ "198.51.100.8/29", DOCTOR_INFO },
	{ "198.51.100.7", DOCTOR_INFO },
	{ "2001:db8::/64", DOCTOR_INFO },
	{ "127.0.0.0/8", DOCTOR_OK },
	{ "127.0.0.2/32", DOCTOR_OK },
	{ "::1", DOCTOR_OK },
	{ "10.1.2.0/24", DOCTOR_OK },
	{ "192.168.1.0/24", DOCTOR_OK },
	{ "172.16.5.5", DOCTOR_OK },
	{ "fd00:1:2::/48", DOCTOR_OK },
	{ "10.0.0.0/8", DOCTOR_WARNING },
	{ "192.168.0.0/16", DOCTOR_WARNING },
	{ "100.64.0.0/10", DOCTOR_WARNING },
	{ "fc00::/7", DOCTOR_WARNING },
	/* wider than a private range: public */
	{ "8.0.0.0/6", DOCTOR_CRITICAL },
	{ "172.0.0.0/8", DOCTOR_ERROR },
	{ "::ffff:10.0.0.0/120", DOCTOR_OK },
};

static void
test_relay_net(void **state)
{
	struct cidr n;
	const char *e;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
		assert_int_equal(cidr_parse(nets[i].net, &n, &e), 0);
		why[0] = '\0';
		if (doctor_relay_net(&n, why, sizeof(why)) != nets[i].sev)
			fail_msg("%s: got %s (%s), want %s", nets[i].net,
			    doctor_sev_name(doctor_relay_net(&n, why,
			    sizeof(why))), why, doctor_sev_name(nets[i].sev));
		assert_true(why[0] != '\0');
	}
}

#define DAEMON	998

static const struct {
	mode_t		 mode;
	uid_t		 uid;
	gid_t		 gid;
	enum doctor_sev	 sev;
	const char	*fix;
} modes[] = {
	{ 0600, 0, 0, DOCTOR_OK, "" },
	{ 0400, 0, 0, DOCTOR_OK, "" },
	{ 0640, 0, 0, DOCTOR_OK, "" },		/* root's group */
	{ 0600, 0, 50, DOCTOR_OK, "" },		/* group without access */
	{ 0640, 0, 50, DOCTOR_WARNING, "chown root:root /s && chmod 600 /s" },
	{ 0644, 0, 0, DOCTOR_ERROR, "chmod 600 /s" },
	{ 0604, 0, 0, DOCTOR_ERROR, "chmod 600 /s" },
	{ 0660, 0, 0, DOCTOR_ERROR, "chmod 600 /s" },
	{ 0666, 0, 0, DOCTOR_CRITICAL, "chmod 600 /s" },
	{ 0602, 0, 0, DOCTOR_CRITICAL, "chmod 600 /s" },
	{ 0600, DAEMON, 0, DOCTOR_WARNING, "chown root:root /s" },
	{ 0600, 1000, 1000, DOCTOR_WARNING, "chown root:root /s" },
	{ 0644, DAEMON, DAEMON, DOCTOR_ERROR,
	    "chown root:root /s && chmod 600 /s" },
	{ 0700, 0, 0, DOCTOR_OK, "" },
	{ 0610, 0, 0, DOCTOR_WARNING, "chmod 600 /s" },
};

static void
test_secret_mode(void **state)
{
	char why[256], fix[DOCTOR_TEXT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		enum doctor_sev s = doctor_secret_mode("/s", S_IFREG |
		    modes[i].mode, modes[i].uid, modes[i].gid, DAEMON, why,
		    sizeof(why), fix, sizeof(fix));

		if (s != modes[i].sev || strcmp(fix, modes[i].fix) != 0)
			fail_msg("%04o %d:%d: got %s '%s' (%s), want %s '%s'",
			    (unsigned)modes[i].mode, (int)modes[i].uid,
			    (int)modes[i].gid, doctor_sev_name(s), fix, why,
			    doctor_sev_name(modes[i].sev), modes[i].fix);
		assert_int_equal(why[0] == '\0', s == DOCTOR_OK);
	}
	/* the daemon's own user is named as such */
	doctor_secret_mode("/s", 0600, DAEMON, 0, DAEMON, why, sizeof(why),
	    fix, sizeof(fix));
	assert_non_null(strstr(why, "daemon's own user"));
}

static void
test_exit_status(void **state)
{
	struct doctor_report r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(doctor_worst(&r), DOCTOR_OK);
	assert_int_equal(doctor_exit_status(DOCTOR_OK), 0);
	assert_int_equal(doctor_exit_status(DOCTOR_INFO), 0);
	assert_int_equal(doctor_exit_status(DOCTOR_WARNING), 3);
	assert_int_equal(doctor_exit_status(DOCTOR_ERROR), 4);
	assert_int_equal(doctor_exit_status(DOCTOR_CRITICAL), 5);
	doctor_add(&r, "a", DOCTOR_INFO, "x %d", 1);
	doctor_add(&r, "b", DOCTOR_ERROR, "y");
	doctor_fix(&r, "do %s", "this");
	doctor_add(&r, "a", DOCTOR_WARNING, "z");
	assert_int_equal(r.n, 3);
	assert_string_equal(r.f[0].what, "x 1");
	assert_string_equal(r.f[0].fix, "");
	assert_string_equal(r.f[1].fix, "do this");
	assert_int_equal(doctor_worst(&r), DOCTOR_ERROR);
	assert_string_equal(doctor_sev_name(DOCTOR_CRITICAL), "critical");
	free(r.f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_net),
		cmocka_unit_test(test_secret_mode),
		cmocka_unit_test(test_exit_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
