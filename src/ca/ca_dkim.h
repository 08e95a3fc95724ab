/*
 * ca_dkim.h - the DKIM signing keys, held by the ca process.
 */
#ifndef MOAT_CA_DKIM_H
#define MOAT_CA_DKIM_H

#include <stddef.h>
#include <stdint.h>

struct conf;
struct ipc_msg;
struct ca_dkim;

/*
 * ca_dkim_load - every key of dkim_sign, read now (as root, before the
 * chroot). A key file must be a regular file of mode 0600 (or
 * stricter) holding an RSA key of 1024 bits or more or an Ed25519 key.
 * NULL with err set ("dkim_sign ITEM: what is wrong"); with no keys, an
 * empty set.
 */
struct ca_dkim *ca_dkim_load(const struct conf *c, char *err, size_t errlen);

/* ca_dkim_count - the number of keys; ids are 0 to this - 1 */
size_t ca_dkim_count(const struct ca_dkim *d);

/* ca_dkim_key_enc - PROTO_DKIM_KEY of key i, for smtp */
void ca_dkim_key_enc(const struct ca_dkim *d, size_t i, struct ipc_msg *m);

/*
 * ca_dkim_sign - sign a header hash with key id; 0, or -1 with err
 * (no such key, a digest that is not 32 bytes, OpenSSL failed).
 */
int ca_dkim_sign(const struct ca_dkim *d, uint32_t id, const uint8_t *digest,
    size_t digestlen, uint8_t *sig, size_t cap, size_t *siglen, char *err,
    size_t errlen);

void ca_dkim_free(struct ca_dkim *d);

#endif
