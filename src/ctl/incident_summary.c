/*
 * incident_summary.c - an incident told for a person: summary.txt.
 *
 * Public: incident_summary, incident_value.
 *
 * Reads the tables of a CTL_OP_INCIDENT answer (summary, timeline,
 * held, queued, left, bans, clients) and writes what happened, what
 * was held, what left, what was banned, and the next steps as moat
 * commands to copy. A pure function of its inputs, so that its text can
 * be tested without a daemon.
 *
 * SECURITY: the cells hold what network peers sent (user names, event
 * details, addresses): control characters become '?' before they are
 * written, so a crafted value cannot rewrite the reader's terminal or
 * forge lines of the summary. A command shown is built only from a
 * name the daemon checked (no space, no control character).
 * LIMITS: SUM_EDGE events at each end of the timeline, SUM_MSGS
 * messages of each list, SUM_ROWS clients and bans; the rest is in the
 * archive's other files.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl_msg.h"
#include "ctl/incident_summary.h"

#define SUM_EDGE	15
#define SUM_MSGS	10
#define SUM_ROWS	50
#define SUM_CELL	200	/* characters of one cell shown */

/* incident_value - a summary value, "" when absent */
const char *
incident_value(const struct ctl_answer *inc, const char *key)
{
	const struct ctl_table *t = ctl_table_find(inc, "summary");

	if (t == NULL || t->ncols != 2)
		return "";
	for (size_t r = 0; r < t->nrows; r++)
		if (t->cells[r * 2].s && strcmp(t->cells[r * 2].s, key) == 0)
			return t->cells[r * 2 + 1].s ? t->cells[r * 2 + 1].s : "";
	return "";
}

/* s safe for a text file: controls as '?', cut at SUM_CELL */
static const char *
safe(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	if (s == NULL || s[0] == '\0')
		s = "-";
	for (; *s && n + 1 < len && n < SUM_CELL; s++, n++)
		buf[n] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
	buf[n] = '\0';
	if (*s && len > 4 && n >= 3)
		memcpy(buf + n - 3, "...", 4);
	return buf;
}

static const char *
utc(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0)
		return "never";
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
	return buf;
}

static const char *
cell_s(const struct ctl_table *t, size_t r, const char *col)
{
	int c = ctl_table_col(t, col);

	return c < 0 ? "" : t->cells[r * t->ncols + (size_t)c].s;
}

static int64_t
cell_i(const struct ctl_table *t, size_t r, const char *col)
{
	int c = ctl_table_col(t, col);

	return c < 0 ? 0 : t->cells[r * t->ncols + (size_t)c].i;
}

static size_t
rows(const struct ctl_answer *inc, const char *name)
{
	const struct ctl_table *t = ctl_table_find(inc, name);

	return t ? t->nrows : 0;
}

static void
timeline_row(FILE *fp, const struct ctl_table *t, size_t r)
{
	char a[32], b[SUM_CELL + 4], c[SUM_CELL + 4], d[SUM_CELL + 4],
	    e[SUM_CELL + 4];

	fprintf(fp, "  %s  %-22s %-18s %-12s %s\n",
	    utc(cell_i(t, r, "time"), a, sizeof(a)),
	    safe(cell_s(t, r, "type"), b, sizeof(b)),
	    safe(cell_s(t, r, "client"), c, sizeof(c)),
	    safe(cell_s(t, r, "user"), d, sizeof(d)),
	    safe(cell_s(t, r, "detail"), e, sizeof(e)));
}

static void
timeline(FILE *fp, const struct ctl_answer *inc)
{
	const struct ctl_table *t = ctl_table_find(inc, "timeline");

	fprintf(fp, "\nTIMELINE\n");
	if (t == NULL || t->nrows == 0) {
		fprintf(fp, "  no events\n");
		return;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		if (t->nrows > 2 * SUM_EDGE && r == SUM_EDGE) {
			fprintf(fp, "  ... %zu more events: events.txt has them "
			    "all\n", t->nrows - 2 * SUM_EDGE);
			r = t->nrows - SUM_EDGE;
		}
		timeline_row(fp, t, r);
	}
}

static void
msgs(FILE *fp, const struct ctl_answer *inc, const char *name)
{
	const struct ctl_table *t = ctl_table_find(inc, name);
	char a[32], b[SUM_CELL + 4], c[SUM_CELL + 4], d[SUM_CELL + 4];

	if (t == NULL)
		return;
	for (size_t r = 0; r < t->nrows && r < SUM_MSGS; r++)
		fprintf(fp, "  %s  %s  from %s  to %s\n",
		    utc(cell_i(t, r, "time"), a, sizeof(a)),
		    safe(cell_s(t, r, "qid"), b, sizeof(b)),
		    safe(cell_s(t, r, "from"), c, sizeof(c)),
		    safe(cell_s(t, r, "to"), d, sizeof(d)));
	if (t->nrows > SUM_MSGS)
		fprintf(fp, "  ... %zu more: incident.json has them all\n",
		    t->nrows - SUM_MSGS);
}

static void
bans(FILE *fp, const struct ctl_answer *inc)
{
	const struct ctl_table *t = ctl_table_find(inc, "bans");
	char a[SUM_CELL + 4], b[32], c[SUM_CELL + 4];

	fprintf(fp, "\nBANNED\n");
	if (t == NULL || t->nrows == 0) {
		fprintf(fp, "  no address of this incident is banned\n");
		return;
	}
	for (size_t r = 0; r < t->nrows && r < SUM_ROWS; r++)
		fprintf(fp, "  %-24s until %-22s %s\n",
		    safe(cell_s(t, r, "cidr"), a, sizeof(a)),
		    utc(cell_i(t, r, "until"), b, sizeof(b)),
		    safe(cell_s(t, r, "reason"), c, sizeof(c)));
	if (t->nrows > SUM_ROWS)
		fprintf(fp, "  ... %zu more in bans.json\n", t->nrows - SUM_ROWS);
}

static void
clients(FILE *fp, const struct ctl_answer *inc)
{
	const struct ctl_table *t = ctl_table_find(inc, "clients");
	char a[SUM_CELL + 4];

	fprintf(fp, "\nCLIENTS\n");
	if (t == NULL || t->nrows == 0) {
		fprintf(fp, "  none known\n");
		return;
	}
	fprintf(fp, "  %-40s %8s %7s\n", "address", "failures", "logins");
	for (size_t r = 0; r < t->nrows && r < SUM_ROWS; r++)
		fprintf(fp, "  %-40s %8" PRId64 " %7" PRId64 "\n",
		    safe(cell_s(t, r, "address"), a, sizeof(a)),
		    cell_i(t, r, "failures"), cell_i(t, r, "logins"));
	if (t->nrows > SUM_ROWS)
		fprintf(fp, "  ... %zu more in incident.json\n",
		    t->nrows - SUM_ROWS);
}

/*
 * A name as one shell word for the commands to copy: as it is when it
 * holds only harmless characters, else in single quotes. The names
 * come from the events (an attacked account may be any string a peer
 * sent, checked only for spaces and controls).
 */
static const char *
shell_word(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	if (s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._+-:/") == strlen(s)) {
		snprintf(buf, len, "%s", s);
		return buf;
	}
	buf[n++] = '\'';
	for (; *s && n + 6 < len; s++) {
		if (*s == '\'') {
			memcpy(buf + n, "'\\''", 4);
			n += 4;
		} else
			buf[n++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ?
			    '?' : *s;
	}
	buf[n++] = '\'';
	buf[n] = '\0';
	return buf;
}

/* The next steps, as commands to copy. */
static void
next_steps(FILE *fp, const struct ctl_answer *inc, int is_user,
    const char *name)
{
	const char *state = incident_value(inc, "state");
	const char *left = incident_value(inc, "left");
	int64_t held = strtoll(incident_value(inc, "held"), NULL, 10);
	int64_t queued = strtoll(incident_value(inc, "queued"), NULL, 10);
	const char *sel = is_user ? "--user" : "--client-ip";
	int n = 0;

	fprintf(fp, "\nWHAT TO DO NEXT\n");
	if (is_user && strcmp(state, "active") == 0 &&
	    strcmp(incident_value(inc, "logins"), "0") == 0 && held == 0 &&
	    strtoll(left, NULL, 10) == 0 && strcmp(left, "unknown") != 0) {
		/* guessed at, never logged into: the password held */
		fprintf(fp, "  %d. No login of %s is known since the daemon "
		    "started and nothing of it was sent: the password was most "
		    "likely not found. Ban the addresses that guessed (CLIENTS "
		    "above) if they go on:\n       moat ban add ADDRESS --for 7d "
		    "--reason guessing-at-%s\n", ++n, name, name);
	} else if (is_user) {
		fprintf(fp, "  %d. Change the password of %s (the attacker has "
		    "it), and tell its owner:\n       moat user passwd %s\n",
		    ++n, name, name);
		if (strcmp(state, "active") == 0)
			fprintf(fp, "  %d. Until then, hold its mail:\n"
			    "       moat user hold %s --reason compromised\n",
			    ++n, name);
	} else {
		const char *users = incident_value(inc, "users");

		if (strcmp(state, "banned") != 0)
			fprintf(fp, "  %d. Ban the address:\n       moat ban add "
			    "%s --for 30d --reason incident\n", ++n, name);
		if (users[0] && strcmp(users, "-") != 0)
			fprintf(fp, "  %d. It used the account(s) %s: change "
			    "their passwords (moat user passwd NAME) and look "
			    "at their incidents (moat incident show user:NAME)\n",
			    ++n, users);
	}
	if (held > 0) {
		fprintf(fp, "  %d. %" PRId64 " held message(s). Look at them:\n"
		    "       moat queue list %s %s --state held\n", ++n, held,
		    sel, name);
		fprintf(fp, "     delete the attacker's:\n"
		    "       moat queue delete %s %s --state held --dry-run\n"
		    "       moat queue delete %s %s --state held\n"
		    "     or release one that is genuine:\n"
		    "       moat queue release QID\n", sel, name, sel, name);
	}
	if (queued > 0)
		fprintf(fp, "  %d. %" PRId64 " message(s) still queued, not "
		    "held: hold them first\n       moat queue hold %s %s\n",
		    ++n, queued, sel, name);
	if (is_user && strcmp(state, "active") != 0)
		fprintf(fp, "  %d. Once the password is changed, let the "
		    "account send again:\n       moat user release %s\n",
		    ++n, name);
	if (strcmp(left, "unknown") == 0)
		fprintf(fp, "  %d. What left is not recorded here: look at the "
		    "log lines (log.txt) for delivered mail.\n", ++n);
	else if (strtoll(left, NULL, 10) > 0)
		fprintf(fp, "  %d. Mail left for the outside (LEFT above): "
		    "expect complaints and watch moat's own addresses on "
		    "blacklists (moat status); tell the recipients' postmasters "
		    "if needed.\n", ++n);
	if (rows(inc, "bans") > 0)
		fprintf(fp, "  %d. The bans end on their own (BANNED above); "
		    "lift one sooner with:\n       moat ban del CIDR\n", ++n);
}

/* incident_summary - summary.txt */
int
incident_summary(FILE *fp, const struct ctl_answer *inc,
    const struct incident_extra *x)
{
	const char *id = incident_value(inc, "id"), *name;
	char a[32], c[SUM_CELL + 4], d[SUM_CELL + 4], word[2 * CTL_STR_MAX];
	int is_user;

	if (ctl_table_find(inc, "summary") == NULL || id[0] == '\0')
		return -1;
	is_user = strncmp(id, "user:", 5) == 0;
	name = shell_word(strchr(id, ':') + 1, word, sizeof(word));
	fprintf(fp, "INCIDENT %s\n", safe(id, c, sizeof(c)));
	fprintf(fp, "generated %s by moat incident export; events since %s\n",
	    utc(x->generated, a, sizeof(a)),
	    safe(incident_value(inc, "since"), d, sizeof(d)));
	fprintf(fp, "\n  kind             %s\n", safe(incident_value(inc, "kind"),
	    c, sizeof(c)));
	fprintf(fp, "  state            %s\n", safe(incident_value(inc,
	    "state"), c, sizeof(c)));
	fprintf(fp, "  first seen       %s\n", safe(incident_value(inc,
	    "first"), c, sizeof(c)));
	fprintf(fp, "  last seen        %s\n", safe(incident_value(inc, "last"),
	    c, sizeof(c)));
	fprintf(fp, "  events           %s (AUTH failures %s; clients %s; "
	    "logins %s)\n",
	    safe(incident_value(inc, "events"), c, sizeof(c)),
	    safe(incident_value(inc, "auth_failures"), d, sizeof(d)),
	    incident_value(inc, "clients"), incident_value(inc, "logins"));
	if (!is_user)
		fprintf(fp, "  accounts used    %s\n", safe(incident_value(inc,
		    "users"), c, sizeof(c)));
	fprintf(fp, "  held             %s message(s)\n",
	    incident_value(inc, "held"));
	fprintf(fp, "  queued, not held %s message(s)\n",
	    incident_value(inc, "queued"));
	if (strcmp(incident_value(inc, "left"), "unknown") == 0)
		fprintf(fp, "  left             unknown (%s)\n", safe(
		    incident_value(inc, "left_source"), c, sizeof(c)));
	else
		fprintf(fp, "  left             %s message(s) to %s remote "
		    "recipient(s)\n", incident_value(inc, "left"),
		    incident_value(inc, "left_recipients"));
	fprintf(fp, "  banned           %s network(s)\n",
	    incident_value(inc, "bans"));
	if (x->sessions >= 0)
		fprintf(fp, "  live sessions    %" PRId64 "\n", x->sessions);
	timeline(fp, inc);
	if (incident_value(inc, "timeline_cut")[0])
		fprintf(fp, "  (the %s oldest events are not in the timeline: "
		    "see events.json)\n", incident_value(inc, "timeline_cut"));
	fprintf(fp, "\nHELD (%s message(s), none of them left)\n",
	    incident_value(inc, "held"));
	msgs(fp, inc, "held");
	if (rows(inc, "queued") > 0) {
		fprintf(fp, "\nQUEUED, NOT HELD\n");
		msgs(fp, inc, "queued");
	}
	fprintf(fp, "\nLEFT (delivered to remote hosts)\n");
	if (strcmp(incident_value(inc, "left"), "unknown") == 0)
		fprintf(fp, "  not recorded: %s\n", safe(incident_value(inc,
		    "left_source"), c, sizeof(c)));
	else if (rows(inc, "left") == 0)
		fprintf(fp, "  nothing left\n");
	else
		msgs(fp, inc, "left");
	bans(fp, inc);
	clients(fp, inc);
	next_steps(fp, inc, is_user, name);
	fprintf(fp, "\nLOG LINES\n");
	if (x->log_source != NULL)
		fprintf(fp, "  %" PRId64 " line(s) from %s: log.txt\n",
		    x->log_lines, safe(x->log_source, c, sizeof(c)));
	else
		fprintf(fp, "  none available: %s\n", safe(x->log_why, c,
		    sizeof(c)));
	fprintf(fp, "\nFILES\n  summary.txt incident.json events.json "
	    "events.txt sessions.json queue.json bans.json log.txt\n");
	return 0;
}
