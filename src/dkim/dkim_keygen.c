/*
 * dkim_keygen.c - `moat dkim keygen DOMAIN SELECTOR [--type rsa|ed25519]
 * [--bits N] [--dir D]`: writes D/DOMAIN.SELECTOR.key (PEM, PKCS#8,
 * mode 0600, never over an existing file) and prints the TXT record to
 * publish, split into strings of 255 bytes (RFC 6376 3.6.2.2).
 *
 * Public: dkim_main, dkim_txt_format.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "dkim_key.h"
#include "dkim_keygen.h"

static void
dkim_usage(FILE *fp)
{
	fprintf(fp, "usage: moat dkim keygen DOMAIN SELECTOR "
	    "[--type rsa|ed25519] [--bits N] [--dir DIR]\n");
}

/* a DNS label sequence: letters, digits, '-', '.', '_' */
static int
name_ok(const char *s)
{
	if (*s == '\0' || *s == '.' || strlen(s) > 253 || strstr(s, "..") != NULL)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.' &&
		    *s != '_')
			return 0;
	return 1;
}

long
dkim_txt_format(const char *domain, const char *selector, const char *record,
    char *out, size_t cap)
{
	size_t len = 0, rl = strlen(record);
	int n;

	n = snprintf(out, cap, "%s._domainkey.%s. IN TXT (", selector, domain);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	len = (size_t)n;
	for (size_t i = 0; i < rl; i += 255) {
		size_t take = rl - i < 255 ? rl - i : 255;

		n = snprintf(out + len, cap - len, " \"%.*s\"", (int)take,
		    record + i);
		if (n < 0 || (size_t)n >= cap - len)
			return -1;
		len += (size_t)n;
	}
	n = snprintf(out + len, cap - len, " )");
	if (n < 0 || (size_t)n >= cap - len)
		return -1;
	return (long)(len + (size_t)n);
}

static int
keygen(int argc, char **argv)
{
	const char *domain = NULL, *selector = NULL, *type = "rsa", *dir = ".";
	char path[4096], rec[2048], line[4096];
	EVP_PKEY *key;
	FILE *fp;
	int bits = 2048, fd;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--type") == 0 && i + 1 < argc)
			type = argv[++i];
		else if (strcmp(argv[i], "--bits") == 0 && i + 1 < argc)
			bits = atoi(argv[++i]);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (argv[i][0] == '-') {
			dkim_usage(stderr);
			return 2;
		} else if (domain == NULL)
			domain = argv[i];
		else if (selector == NULL)
			selector = argv[i];
		else {
			dkim_usage(stderr);
			return 2;
		}
	}
	if (domain == NULL || selector == NULL) {
		dkim_usage(stderr);
		return 2;
	}
	if (!name_ok(domain) || !name_ok(selector)) {
		fprintf(stderr, "moat: bad domain or selector\n");
		return 2;
	}
	if (strcmp(type, "rsa") != 0 && strcmp(type, "ed25519") != 0) {
		fprintf(stderr, "moat: --type is rsa or ed25519\n");
		return 2;
	}
	if (strcmp(type, "rsa") == 0 && (bits < 1024 || bits > 8192)) {
		fprintf(stderr, "moat: --bits from 1024 to 8192\n");
		return 2;
	}
	if ((key = dkim_key_generate(type, bits)) == NULL) {
		fprintf(stderr, "moat: key generation failed\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s.%s.key", dir, domain, selector);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1 || (fp = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "moat: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		EVP_PKEY_free(key);
		return 1;
	}
	if (PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fclose(fp) != 0) {
		fprintf(stderr, "moat: %s: write failed\n", path);
		unlink(path);
		EVP_PKEY_free(key);
		return 1;
	}
	if (dkim_key_record(key, rec, sizeof(rec)) < 0 ||
	    dkim_txt_format(domain, selector, rec, line, sizeof(line)) < 0) {
		fprintf(stderr, "moat: cannot format the DNS record\n");
		EVP_PKEY_free(key);
		return 1;
	}
	EVP_PKEY_free(key);
	printf("%s\n", line);
	fprintf(stderr, "moat: key written to %s; sign with "
	    "dkim_sign = %s:%s:%s\n", path, domain, selector, path);
	return 0;
}

int
dkim_main(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "keygen") == 0)
		return keygen(argc - 1, argv + 1);
	dkim_usage(argc >= 1 && strcmp(argv[0], "--help") == 0 ? stdout :
	    stderr);
	return argc >= 1 && strcmp(argv[0], "--help") == 0 ? 0 : 2;
}
