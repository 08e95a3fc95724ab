/*
 * fuzz_cmd.c - libFuzzer target: SMTP command lines and MAIL/RCPT parameters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/dsn.h"
#include "smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_cmd c;
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;
	const char *why;
	char *copy;

	if (size > SMTP_LINE_MAX)
		return 0;
	/* an exact-size copy so that ASan sees any over-read */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (smtp_parse_cmd(copy, size, &c) == 0) {
		if (c.args < copy || c.args + c.argslen > copy + size)
			abort();
		/* an accepted DSN parameter never holds a control byte */
		if (smtp_parse_mail(c.args, c.argslen, &mp, &why) == SMTP_PARAM_OK &&
		    (strlen(mp.addr.domain) > ADDR_DOMAIN_MAX ||
		    dsn_has_control(mp.envid, strlen(mp.envid))))
			abort();
		if (smtp_parse_rcpt(c.args, c.argslen, 1, &rp, &why) == SMTP_PARAM_OK &&
		    (strlen(rp.orcpt) >= sizeof(rp.orcpt) ||
		    dsn_has_control(rp.orcpt, strlen(rp.orcpt))))
			abort();
	}
	free(copy);
	return 0;
}
