/*
 * mta_auth.c - smarthost credentials for outbound AUTH.
 *
 * Public: mta_auth_parse, mta_auth_load, mta_auth_free, mta_auth_find,
 * mta_auth_plain, mta_auth_b64.
 *
 * The credentials live in their own file ([delivery]
 * smarthost_auth_file), never in moat.conf. The mta process reads it
 * once in its prepare hook (parent.c prepare[]), still root and before
 * priv_drop, so the file may stay root-owned 0600. Credentials are only
 * ever used for the smarthost or a static route host named in the file
 * (never for an MX found in DNS), and mta_session.c sends them only
 * inside TLS.
 *
 * SECURITY: the file must be a regular file (not a symlink) without
 * group or other permission bits, or it is refused. Error messages name
 * the line, never its content. Passwords are wiped (explicit_bzero)
 * when the table is freed and from every buffer that held them here.
 * LIMITS: MTA_AUTH_FILE_MAX bytes, MTA_AUTH_MAX entries, user and
 * password MTA_AUTH_FIELD_MAX - 1 bytes each.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "mta/mta_auth.h"

/* one line (without its end) into a->v[a->n] */
static int
parse_line(const char *p, size_t len, struct mta_cred *c, const char **why)
{
	size_t i = 0, hl = 0, ul;
	const char *colon, *host = NULL;

	memset(c, 0, sizeof(*c));
	/* "host user:password" when the first word has no ':' (or is [..]) */
	while (i < len && !isspace((unsigned char)p[i]))
		i++;
	if (i < len && (memchr(p, ':', i) == NULL || p[0] == '[')) {
		host = p;
		hl = i;
		if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
			host++;
			hl -= 2;
		}
		while (i < len && isspace((unsigned char)p[i]))
			i++;
		p += i;
		len -= i;
	}
	if (host != NULL) {
		if (hl == 0 || hl >= sizeof(c->host)) {
			*why = "bad host";
			return -1;
		}
		for (size_t k = 0; k < hl; k++) {
			unsigned char ch = (unsigned char)host[k];

			if (!isalnum(ch) && ch != '.' && ch != '-' && ch != '_' &&
			    ch != ':') {
				*why = "bad host";
				return -1;
			}
			c->host[k] = (char)tolower(ch);
		}
		if (hl > 1 && c->host[hl - 1] == '.')
			c->host[hl - 1] = '\0';
	}
	if ((colon = memchr(p, ':', len)) == NULL) {
		*why = "want user:password or host user:password";
		return -1;
	}
	ul = (size_t)(colon - p);
	if (ul == 0 || ul >= sizeof(c->user) ||
	    len - ul - 1 >= sizeof(c->pass)) {
		*why = "user or password empty or too long";
		return -1;
	}
	memcpy(c->user, p, ul);
	memcpy(c->pass, colon + 1, len - ul - 1);
	for (size_t k = 0; k < ul; k++)
		if (isspace((unsigned char)c->user[k]) ||
		    iscntrl((unsigned char)c->user[k])) {
			*why = "user with a space or a control character";
			return -1;
		}
	for (size_t k = 0; k < len - ul - 1; k++)
		if (c->pass[k] == '\0' || c->pass[k] == '\r') {
			*why = "password with a NUL or CR";
			return -1;
		}
	if (c->pass[0] == '\0') {
		*why = "empty password";
		return -1;
	}
	return 0;
}

/* mta_auth_parse - the text of a smarthost_auth_file into a */
int
mta_auth_parse(const char *text, size_t len, struct mta_auth *a, char *err,
    size_t errlen)
{
	size_t off = 0;
	int lineno = 0;
	const char *why;

	memset(a, 0, sizeof(*a));
	while (off < len) {
		const char *p = text + off, *nl = memchr(p, '\n', len - off);
		size_t ll = nl != NULL ? (size_t)(nl - p) : len - off;

		off += ll + (nl != NULL);
		lineno++;
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		while (ll > 0 && (p[ll - 1] == ' ' || p[ll - 1] == '\t'))
			ll--;
		while (ll > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			ll--;
		}
		if (ll == 0 || *p == '#')
			continue;
		if (a->n == MTA_AUTH_MAX) {
			snprintf(err, errlen, "line %d: more than %d entries",
			    lineno, MTA_AUTH_MAX);
			goto fail;
		}
		if (parse_line(p, ll, &a->v[a->n], &why) == -1) {
			snprintf(err, errlen, "line %d: %s", lineno, why);
			goto fail;
		}
		for (size_t k = 0; k < a->n; k++)
			if (strcmp(a->v[k].host, a->v[a->n].host) == 0) {
				snprintf(err, errlen, "line %d: a second entry "
				    "for %s", lineno, a->v[k].host[0] ?
				    a->v[k].host : "the smarthost");
				goto fail;
			}
		a->n++;
	}
	return 0;
fail:
	explicit_bzero(a, sizeof(*a));
	return -1;
}

/* mta_auth_load - read and check the credentials file */
struct mta_auth *
mta_auth_load(const char *path, char *err, size_t errlen)
{
	struct mta_auth *a = NULL;
	struct stat st;
	char *buf = NULL, why[160];
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "smarthost_auth_file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "smarthost_auth_file %s: not a regular "
		    "file", path);
		goto done;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "smarthost_auth_file %s: mode %03o: must "
		    "not be readable by group or others (chmod 600); refused",
		    path, (unsigned)(st.st_mode & 0777));
		goto done;
	}
	if (st.st_size > MTA_AUTH_FILE_MAX) {
		snprintf(err, errlen, "smarthost_auth_file %s: larger than %d "
		    "bytes", path, MTA_AUTH_FILE_MAX);
		goto done;
	}
	if ((buf = malloc(MTA_AUTH_FILE_MAX + 1)) == NULL ||
	    (a = malloc(sizeof(*a))) == NULL) {
		snprintf(err, errlen, "smarthost_auth_file: out of memory");
		goto done;
	}
	while (len < MTA_AUTH_FILE_MAX && (n = read(fd, buf + len,
	    MTA_AUTH_FILE_MAX - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "smarthost_auth_file %s: %s",
			    path, strerror(errno));
			goto fail;
		}
		len += (size_t)n;
	}
	if (mta_auth_parse(buf, len, a, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "smarthost_auth_file %s: %s", path, why);
		goto fail;
	}
	goto done;
fail:
	free(a);
	a = NULL;
done:
	if (buf != NULL) {
		explicit_bzero(buf, MTA_AUTH_FILE_MAX + 1);
		free(buf);
	}
	close(fd);
	return a;
}

/* mta_auth_free - wipe and free */
void
mta_auth_free(struct mta_auth *a)
{
	if (a == NULL)
		return;
	explicit_bzero(a, sizeof(*a));
	free(a);
}

/* mta_auth_find - the entry for host, else the smarthost's default */
const struct mta_cred *
mta_auth_find(const struct mta_auth *a, const char *host, int smarthost)
{
	const struct mta_cred *def = NULL;

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < a->n; i++) {
		if (a->v[i].host[0] == '\0')
			def = &a->v[i];
		else if (strcasecmp(a->v[i].host, host) == 0)
			return &a->v[i];
	}
	return smarthost ? def : NULL;
}

/* base64 of n bytes into out */
static int
b64(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	if (n > 3 * 1024 || outlen < 4 * ((n + 2) / 3) + 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return 0;
}

/* mta_auth_b64 - base64 of a string */
int
mta_auth_b64(const char *s, char *out, size_t outlen)
{
	return b64((const unsigned char *)s, strlen(s), out, outlen);
}

/* mta_auth_plain - the RFC 4616 initial response */
int
mta_auth_plain(const struct mta_cred *c, char *out, size_t outlen)
{
	unsigned char buf[2 * MTA_AUTH_FIELD_MAX + 2];
	size_t ul = strlen(c->user), pl = strlen(c->pass);
	int rc;

	buf[0] = '\0';
	memcpy(buf + 1, c->user, ul);
	buf[1 + ul] = '\0';
	memcpy(buf + 2 + ul, c->pass, pl);
	rc = b64(buf, 2 + ul + pl, out, outlen);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}
