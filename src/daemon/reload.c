/*
 * reload.c - what a reload cannot apply.
 *
 * A reload applies the new configuration everywhere it can; some of it
 * is only read at start: the ports the parent binds, the user the
 * processes run as, the directories (the queue database, the chroot,
 * the lock and the control socket are there), the syslog choice, files
 * read as root before the privileges drop (the TLS key, the smarthost
 * credentials, the outbound client key, the LDAP bind files),
 * resolvers made before the chroot, the control socket's group and the
 * metrics listener, and the client networks' prefixes (sessions are
 * counted per network of the start). The children keep their start
 * values for those; this module names each such change, so a reload
 * never says "reloaded" for a change it did not make.
 *
 * Both configurations are compared as conf_print writes them, knob by
 * knob, so a knob is compared exactly as check-config shows it.
 *
 * Public: reload_needs_restart.
 *
 * SECURITY: both configurations were parsed and checked; values are
 * the administrator's and are quoted into a log line by the caller.
 * LIMITS: values over RELOAD_VALUE_SHOWN bytes are named, not shown.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "reload.h"

#define RELOAD_VALUE_SHOWN	48

/* the knobs of the fixed sections read only at start */
static const struct {
	const char	*section;
	const char	*name;
} start_only[] = {
	{ "server", "user" },
	{ "server", "spool_dir" },
	{ "server", "mail_dir" },
	{ "server", "empty_dir" },
	{ "server", "syslog" },
	{ "policy", "dnsbl_zones" },
	{ "policy", "reverse_dns" },
	{ "policy", "client_prefix_v4" },
	{ "policy", "client_prefix_v6" },
	{ "delivery", "dns_server" },
	/* the resolvers and SPF/DMARC workers are made at start for them */
	{ "authentication", "dkim_verify" },
	{ "authentication", "spf_check" },
	{ "authentication", "dmarc_check" },
	{ "delivery", "smarthost_auth_file" },
	{ "delivery", "tls_ca_file" },
	{ "delivery", "tls_client_cert" },
	{ "delivery", "tls_client_key" },
	{ "control", "admin_group" },
	{ "control", "metrics_listen" },
	{ "console", "console_listen" },
	/* read at start: the chain by control, the key by ca */
	{ "console", "console_tls_cert" },
	{ "console", "console_tls_key" },
	{ "console", "console_client_ca" },
	/* the console's limits are taken when it starts */
	{ "console", "console_idle" },
	{ "console", "console_login_limit" },
	{ "console", "console_max_connections" },
	{ "console", "console_request_timeout" },
	{ "console", "console_hostnames" },
	{ "submit", "submit_socket" },
};
#define NSTART_ONLY	(sizeof(start_only) / sizeof(start_only[0]))

/* one knob as conf_print wrote it */
struct knob_text {
	const char	*section;	/* "server", "listener mx", ... */
	char		*name;
	char		*value;		/* continuation lines joined */
};

struct conf_text {
	char		*text;		/* conf_print's output, cut in place */
	struct knob_text *v;
	size_t		 n, cap;
};

static void
conf_text_free(struct conf_text *t)
{
	free(t->text);
	free(t->v);
}

/* conf_print of c, cut into knobs; -1 when out of memory */
static int
conf_text_make(const struct conf *c, struct conf_text *t)
{
	size_t len = 0;
	FILE *fp;
	char *line, *next, *eq, *section = "";

	memset(t, 0, sizeof(*t));
	if ((fp = open_memstream(&t->text, &len)) == NULL)
		return -1;
	conf_print(c, fp);
	if (fclose(fp) != 0)
		return -1;
	for (line = t->text; line != NULL && *line; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (line[0] == '[') {
			section = line + 1;
			section[strcspn(section, "]")] = '\0';
			continue;
		}
		if (line[0] == '\t' && t->n > 0) {
			/* a list went on: its line follows the value's end
			 * (a NUL or two); moved up against it, joined by a
			 * space */
			char *v = t->v[t->n - 1].value;

			memmove(v + strlen(v) + 1, line + 1, strlen(line));
			v[strlen(v)] = ' ';
			continue;
		}
		if ((eq = strchr(line, '=')) == NULL)
			continue;
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 128;
			struct knob_text *v = realloc(t->v, cap * sizeof(*v));

			if (v == NULL)
				return -1;
			t->v = v;
			t->cap = cap;
		}
		*eq = '\0';
		t->v[t->n].section = section;
		t->v[t->n].name = line;
		t->v[t->n].name[strcspn(line, " ")] = '\0';
		t->v[t->n].value = eq + 1 + (eq[1] == ' ');
		t->n++;
	}
	return 0;
}

static const struct knob_text *
knob_find(const struct conf_text *t, const char *section, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].section, section) == 0 &&
		    strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	return NULL;
}

static int
section_present(const struct conf_text *t, const char *section)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].section, section) == 0)
			return 1;
	return 0;
}

/* one more item into buf */
static void say(char *buf, size_t len, int *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void
say(char *buf, size_t len, int *n, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	/* counted even when buf is full: the count is the truth */
	if ((*n)++ > 0 && used + 2 < len) {
		snprintf(buf + used, len - used, "; ");
		used += 2;
	}
	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static const char *
shown(const char *v)
{
	return v[0] == '\0' ? "(empty)" : v;
}

/* a changed knob: with its values when they are short */
static void
say_knob(char *buf, size_t len, int *n, const char *where,
    const char *old, const char *new)
{
	if (strlen(old) <= RELOAD_VALUE_SHOWN &&
	    strlen(new) <= RELOAD_VALUE_SHOWN)
		say(buf, len, n, "%s (%s -> %s)", where, shown(old), shown(new));
	else
		say(buf, len, n, "%s", where);
}

/* reload_needs_restart - the changes only a restart applies */
int
reload_needs_restart(const struct conf *running, const struct conf *next,
    char *buf, size_t len)
{
	struct conf_text a = { 0 }, b = { 0 };
	char where[160];
	int n = 0;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	if (conf_text_make(running, &a) == -1 ||
	    conf_text_make(next, &b) == -1) {
		conf_text_free(&a);
		conf_text_free(&b);
		return -1;
	}
	for (size_t i = 0; i < NSTART_ONLY; i++) {
		const struct knob_text *x = knob_find(&a, start_only[i].section,
		    start_only[i].name);
		const struct knob_text *y = knob_find(&b, start_only[i].section,
		    start_only[i].name);

		if (x == NULL || y == NULL || strcmp(x->value, y->value) == 0)
			continue;
		say_knob(buf, len, &n, start_only[i].name, x->value, y->value);
	}
	/* certificates reload; turning TLS on or off does not */
	if ((running->tls_cert[0] == '\0') != (next->tls_cert[0] == '\0'))
		say(buf, len, &n, "tls_cert (TLS turned %s)",
		    next->tls_cert[0] ? "on" : "off");
	/* listeners: bound by the parent, each knob fixed at start */
	for (size_t i = 0; i < a.n; i++) {
		const struct knob_text *x = &a.v[i], *y;

		if (strncmp(x->section, "listener ", 9) != 0 &&
		    strncmp(x->section, "ldap ", 5) != 0)
			continue;
		if (!section_present(&b, x->section)) {
			if (i == 0 || strcmp(a.v[i - 1].section, x->section) != 0)
				say(buf, len, &n, "[%s] removed", x->section);
			continue;
		}
		if ((y = knob_find(&b, x->section, x->name)) == NULL ||
		    strcmp(x->value, y->value) == 0)
			continue;
		snprintf(where, sizeof(where), "[%s] %s", x->section, x->name);
		say_knob(buf, len, &n, where, x->value, y ? y->value : "");
	}
	for (size_t i = 0; i < b.n; i++) {
		const char *s = b.v[i].section;

		if ((strncmp(s, "listener ", 9) == 0 ||
		    strncmp(s, "ldap ", 5) == 0) && !section_present(&a, s) &&
		    (i == 0 || strcmp(b.v[i - 1].section, s) != 0))
			say(buf, len, &n, "[%s] added", s);
	}
	conf_text_free(&a);
	conf_text_free(&b);
	return n;
}
