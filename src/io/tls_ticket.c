/*
 * tls_ticket.c - TLS session tickets under keys that rotate.
 *
 * Public: tls_ticket_setup.
 *
 * A ticket is the session's state encrypted under a key only this
 * process knows (AES-256-CBC and HMAC-SHA256, RFC 5077's layout, both
 * TLS 1.2 and 1.3). The keys are made with RAND_priv_bytes and never
 * leave memory: a restart forgets them, and every client does one full
 * handshake. Every `tls_ticket_lifetime` seconds a fresh key takes over
 * new tickets and the one before it only decrypts, renewing the ticket
 * it opens; the key before that is wiped, so a ticket (and with it the
 * session's secrets, which a stolen key would expose) lives at most two
 * periods. Rotation happens when a ticket is made or opened, not on a
 * timer: a server that makes none keeps none. Reloads make new
 * contexts, which all share these keys: a reload does not cost every
 * client a full handshake.
 * SECURITY: a ticket under a key we do not hold, or that does not
 * authenticate, means a full handshake, never an error.
 * LIMITS: two keys.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../lib/log.h"
#include "tls_ticket.h"

struct ticket_key {
	unsigned char	 name[16];
	unsigned char	 aes[32];
	unsigned char	 hmac[32];
	time_t		 made;		/* monotonic seconds; 0: none */
};

/* [0] encrypts and decrypts, [1] (the one before) decrypts */
static struct ticket_key keys[2];
static int lifetime;

static time_t
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int
key_make(struct ticket_key *k, time_t now)
{
	if (RAND_bytes(k->name, sizeof(k->name)) != 1 ||
	    RAND_priv_bytes(k->aes, sizeof(k->aes)) != 1 ||
	    RAND_priv_bytes(k->hmac, sizeof(k->hmac)) != 1)
		return -1;
	k->made = now;
	return 0;
}

/* keys as they are now; -1: no key (randomness failed) */
static int
rotate(void)
{
	time_t now = now_sec();
	long age = keys[0].made ? (long)(now - keys[0].made) : -1;

	if (age >= 0 && age < lifetime)
		return 0;
	/* the current one decrypts for one more period, then goes */
	if (age >= 0 && age < 2L * lifetime)
		keys[1] = keys[0];
	else
		OPENSSL_cleanse(&keys[1], sizeof(keys[1]));
	if (key_make(&keys[0], now) == -1) {
		OPENSSL_cleanse(&keys[0], sizeof(keys[0]));
		log_err(LOG_CAT_TLS, "event=tls_ticket_key_failed");
		return -1;
	}
	log_info(LOG_CAT_TLS, "event=tls_ticket_key_rotated previous=%s",
	    keys[1].made ? "kept" : "none");
	return 0;
}

static int
key_init(const struct ticket_key *k, unsigned char *iv, EVP_CIPHER_CTX *c,
    EVP_MAC_CTX *h, int enc)
{
	OSSL_PARAM params[2];

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(h, k->hmac, sizeof(k->hmac), params) != 1)
		return -1;
	if (enc)
		return EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, k->aes,
		    iv) == 1 ? 0 : -1;
	return EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1 ?
	    0 : -1;
}

/*
 * OpenSSL's ticket key callback. enc: name the key, make an IV, set up
 * both contexts; 1, or -1 (no ticket). Decrypt: 1 (the current key),
 * 2 (the previous one: renew the ticket), 0 (unknown: full handshake).
 */
static int
ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *c, EVP_MAC_CTX *h, int enc)
{
	if (rotate() == -1)
		return enc ? -1 : 0;
	if (enc) {
		memcpy(name, keys[0].name, sizeof(keys[0].name));
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc()))
		    != 1 || key_init(&keys[0], iv, c, h, 1) == -1)
			return -1;
		return 1;
	}
	for (int i = 0; i < 2; i++)
		if (keys[i].made != 0 &&
		    memcmp(name, keys[i].name, sizeof(keys[i].name)) == 0)
			return key_init(&keys[i], iv, c, h, 0) == -1 ? 0 :
			    i == 0 ? 1 : 2;
	log_debug(LOG_CAT_TLS, "event=tls_ticket_unknown_key");
	return 0;
}

/* tls_ticket_setup - ctx's tickets under this process's keys */
void
tls_ticket_setup(SSL_CTX *ctx, int life)
{
	lifetime = life;
	if (life <= 0) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
		return;
	}
	/* a ticket outlives its key's period by at most one more */
	SSL_CTX_set_timeout(ctx, 2L * life);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}
