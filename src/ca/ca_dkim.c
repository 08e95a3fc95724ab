/*
 * ca_dkim.c - the DKIM signing keys (dkim_sign) in the ca process.
 *
 * Public: ca_dkim_load, ca_dkim_count, ca_dkim_key_enc, ca_dkim_sign, ca_dkim_free.
 *
 * smtp knows which domains are signed and with which algorithm
 * (PROTO_DKIM_KEY, sent at start) and sends the 32-byte hash of the
 * header fields it signs; the key never leaves this process. A
 * compromised smtp can have hashes signed while it runs, no more.
 * SECURITY: a key file readable by others than its owner is refused,
 * as OpenDKIM does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "../daemon/config.h"
#include "../dkim/dkim_key.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "ca_dkim.h"

struct ca_dkim_key {
	char		 domain[256];
	char		 selector[64];
	int		 alg;		/* enum dkim_alg */
	EVP_PKEY	*key;
};

struct ca_dkim {
	struct ca_dkim_key	*keys;
	size_t			 n;
};

/* one key file: regular, 0600 or stricter, a usable key */
static EVP_PKEY *
key_read(const char *path, char *err, size_t errlen)
{
	struct stat st;
	EVP_PKEY *key;
	FILE *fp;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: mode %03o, must be 0600 (chmod 600 "
		    "%s)", path, (unsigned)(st.st_mode & 0777), path);
		close(fd);
		return NULL;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	ERR_clear_error();
	if (key == NULL) {
		snprintf(err, errlen, "%s: no PEM private key", path);
		return NULL;
	}
	if (dkim_key_alg(key) == -1) {
		snprintf(err, errlen, "%s: not an RSA key of 1024 bits or more "
		    "nor an Ed25519 key", path);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

struct ca_dkim *
ca_dkim_load(const struct conf *c, char *err, size_t errlen)
{
	struct ca_dkim *d;
	char why[1024];

	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (c->n_dkim_sign > 0 && (d->keys = calloc(c->n_dkim_sign,
	    sizeof(*d->keys))) == NULL)) {
		free(d);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (c->n_dkim_sign > PROTO_DKIM_KEYS_MAX) {
		snprintf(err, errlen, "dkim_sign: more than %d keys",
		    PROTO_DKIM_KEYS_MAX);
		ca_dkim_free(d);
		return NULL;
	}
	for (size_t i = 0; i < c->n_dkim_sign; i++) {
		struct ca_dkim_key *k = &d->keys[d->n];
		const char *item = c->dkim_sign[i];
		const char *c1 = strchr(item, ':'), *c2 = strchr(c1 + 1, ':');

		/* the syntax was checked by the configuration's parser */
		snprintf(k->domain, sizeof(k->domain), "%.*s",
		    (int)(c1 - item), item);
		snprintf(k->selector, sizeof(k->selector), "%.*s",
		    (int)(c2 - c1 - 1), c1 + 1);
		if ((k->key = key_read(c2 + 1, why, sizeof(why))) == NULL) {
			snprintf(err, errlen, "dkim_sign %s:%s: %s", k->domain,
			    k->selector, why);
			ca_dkim_free(d);
			return NULL;
		}
		k->alg = dkim_key_alg(k->key);
		d->n++;
	}
	return d;
}

size_t
ca_dkim_count(const struct ca_dkim *d)
{
	return d->n;
}

void
ca_dkim_key_enc(const struct ca_dkim *d, size_t i, struct ipc_msg *m)
{
	struct proto_dkim_key k = { .domain = d->keys[i].domain,
	    .selector = d->keys[i].selector, .alg = (uint8_t)d->keys[i].alg };

	proto_dkim_key_enc(m, i, &k);
}

int
ca_dkim_sign(const struct ca_dkim *d, uint32_t id, const uint8_t *digest,
    size_t digestlen, uint8_t *sig, size_t cap, size_t *siglen, char *err,
    size_t errlen)
{
	if (id >= d->n) {
		snprintf(err, errlen, "no DKIM key %u", id);
		return -1;
	}
	if (digestlen != DKIM_HASH_LEN) {
		snprintf(err, errlen, "a hash of %zu bytes", digestlen);
		return -1;
	}
	return dkim_key_sign(d->keys[id].key, digest, sig, cap, siglen, err,
	    errlen);
}

void
ca_dkim_free(struct ca_dkim *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		EVP_PKEY_free(d->keys[i].key);
	free(d->keys);
	free(d);
}
