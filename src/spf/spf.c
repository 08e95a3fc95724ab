/*
 * spf.c - check_host() of RFC 7208 through libspf2: the request made
 * from our query, the record fetched and evaluated by the library with
 * our DNS layer (spf_dns.c), its answer mapped to our result and a
 * short reason.
 *
 * Public: spf_check, spf_result_name, spf_record_check.
 *
 * Each check has its own SPF_server_t and layer: nothing is shared
 * between the worker threads (smtp_authwork.c) but libspf2's log
 * handlers, set once to ours. The loopback "free ride" of
 * SPF_request_query_mailfrom is not taken: the record is fetched and
 * interpreted as for any client (SPF_server_get_record,
 * SPF_record_interpret), so that a local client is judged like another.
 * SECURITY: records and answers come from outside: parsed by libspf2
 * (compiled records, bounded expansions), answers by spf_dns.c.
 * LIMITS: RFC 7208 4.6.4's, kept by spf_dns.c over the whole check.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "spf_dns.h"

const char *
spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_NONE:		return "none";
	case SPF_NEUTRAL:	return "neutral";
	case SPF_PASS:		return "pass";
	case SPF_FAIL:		return "fail";
	case SPF_SOFTFAIL:	return "softfail";
	case SPF_TEMPERROR:	return "temperror";
	case SPF_PERMERROR:	return "permerror";
	}
	return "permerror";
}

/* libspf2's internal errors end the process: they are assertions */
__attribute__((noreturn)) static void
spf_log_error(const char *file, int line, const char *msg)
{
	char esc[512];

	log_err(LOG_CAT_DNS, "event=libspf2_error file=%s line=%d "
	    "msg=\"%s\"", file, line, log_escape_bare(esc, sizeof(esc), msg,
	    strlen(msg)));
	abort();
}

/* its warnings are about records from outside: not ours to log */
static void
spf_log_quiet(const char *file, int line, const char *msg)
{
}

static pthread_once_t spf_once = PTHREAD_ONCE_INIT;

static void
spf_lib_init(void)
{
	SPF_error_handler = spf_log_error;
	SPF_warning_handler = spf_log_quiet;
	SPF_info_handler = spf_log_quiet;
	SPF_debug_handler = spf_log_quiet;
}

/* the reason of a permerror or temperror from libspf2's error code */
static const char *
spf_reason(SPF_errcode_t err, int temp)
{
	switch (err) {
	case SPF_E_DNS_ERROR:		return "DNS lookup failed";
	case SPF_E_NO_MEMORY:		return "out of memory";
	case SPF_E_BIG_DNS:		return "too many DNS lookups";
	case SPF_E_RECURSIVE:		return "include loop";
	case SPF_E_MULTIPLE_RECORDS:	return "more than one SPF record";
	case SPF_E_INCLUDE_RETURNED_NONE:
	case SPF_E_NOT_SPF:		return "include or redirect without "
					    "a record";
	default:			break;
	}
	return temp ? "DNS lookup failed" : "record syntax";
}

static enum spf_result
spf_map(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS:		return SPF_PASS;
	case SPF_RESULT_FAIL:		return SPF_FAIL;
	case SPF_RESULT_SOFTFAIL:	return SPF_SOFTFAIL;
	case SPF_RESULT_NEUTRAL:	return SPF_NEUTRAL;
	case SPF_RESULT_NONE:		return SPF_NONE;
	case SPF_RESULT_TEMPERROR:	return SPF_TEMPERROR;
	default:			return SPF_PERMERROR;
	}
}

/* the client, sender and HELO name into a request: -1 when unusable */
static int
spf_request_fill(SPF_request_t *req, const struct spf_query *q)
{
	static const uint8_t v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

	if (memcmp(q->ip, v4mapped, 12) == 0) {
		struct in_addr a;

		memcpy(&a, q->ip + 12, 4);
		SPF_request_set_ipv4(req, a);
	} else {
		struct in6_addr a;

		memcpy(&a, q->ip, 16);
		SPF_request_set_ipv6(req, a);
	}
	if (q->helo != NULL && q->helo[0] != '\0' &&
	    SPF_request_set_helo_dom(req, q->helo) != SPF_E_SUCCESS)
		return -1;
	if (SPF_request_set_env_from(req, q->sender) != 0)
		return -1;
	/* the domain checked: the sender's, or the HELO name's */
	if (q->domain != NULL && req->env_from_dp != NULL &&
	    strcasecmp(q->domain, req->env_from_dp) != 0) {
		free(req->env_from_dp);
		if ((req->env_from_dp = strdup(q->domain)) == NULL)
			return -1;
	}
	req->cur_dom = req->env_from_dp;
	return req->cur_dom != NULL ? 0 : -1;
}

enum spf_result
spf_check(const struct spf_query *q, const char **why)
{
	struct spf_dns dns;
	SPF_server_t *server = NULL;
	SPF_request_t *req = NULL;
	SPF_response_t *resp = NULL;
	SPF_record_t *rec = NULL;
	SPF_errcode_t err;
	enum spf_result r = SPF_TEMPERROR;
	const char *reason = "out of memory";

	pthread_once(&spf_once, spf_lib_init);
	spf_dns_init(&dns, q->lookup, q->arg);
	/* a name that is no domain has no record (RFC 7208 4.3) */
	if (q->domain == NULL || strchr(q->domain, '.') == NULL ||
	    strpbrk(q->domain, " \t\"\\;()<>,@") != NULL) {
		r = SPF_NONE;
		reason = "not a domain name";
		goto done;
	}
	if ((server = SPF_server_new_dns(&dns.layer, 0)) == NULL ||
	    (req = SPF_request_new(server)) == NULL ||
	    spf_request_fill(req, q) == -1 ||
	    (resp = SPF_response_new(req)) == NULL)
		goto done;
	err = SPF_server_get_record(server, req, resp, &rec);
	if (err == SPF_E_SUCCESS) {
		resp->spf_record_exp = rec;
		err = SPF_record_interpret(rec, req, resp, 0);
		r = spf_map(SPF_response_result(resp));
		err = SPF_response_errcode(resp);
		if (r == SPF_TEMPERROR && dns.over != NULL) {
			r = SPF_PERMERROR;
			reason = dns.over;
		} else
			reason = r == SPF_TEMPERROR || r == SPF_PERMERROR ?
			    spf_reason(err, r == SPF_TEMPERROR) : NULL;
	} else if (err == SPF_E_DNS_ERROR) {
		r = SPF_TEMPERROR;
		reason = spf_reason(err, 1);
	} else if (err == SPF_E_MULTIPLE_RECORDS) {
		r = SPF_PERMERROR;
		reason = spf_reason(err, 0);
	} else if (err == SPF_E_NOT_SPF && dns.top_spf) {
		/* a record was there: it did not compile */
		r = SPF_PERMERROR;
		reason = "record syntax";
	} else if (err == SPF_E_NOT_SPF) {
		r = SPF_NONE;
		reason = NULL;
	} else {
		r = SPF_PERMERROR;
		reason = spf_reason(err, 0);
	}
done:
	if (rec != NULL)
		SPF_record_free(rec);
	if (resp != NULL)
		SPF_response_free(resp);
	if (req != NULL)
		SPF_request_free(req);
	if (server != NULL)
		SPF_server_free(server);
	if (why != NULL)
		*why = reason;
	return r;
}

int
spf_record_check(const char *record, const char **why)
{
	SPF_server_t *server;
	SPF_response_t *resp = NULL;
	SPF_record_t *rec = NULL;
	struct spf_dns dns;
	SPF_errcode_t err;

	pthread_once(&spf_once, spf_lib_init);
	spf_dns_init(&dns, NULL, NULL);
	if ((server = SPF_server_new_dns(&dns.layer, 0)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	/* SPF_record_compile wants "v=spf1" and a space or the end */
	err = SPF_record_compile(server, resp = SPF_response_new(NULL), &rec,
	    record);
	if (rec != NULL)
		SPF_record_free(rec);
	if (resp != NULL)
		SPF_response_free(resp);
	SPF_server_free(server);
	*why = err == SPF_E_SUCCESS ? NULL : "record syntax";
	return err == SPF_E_SUCCESS ? 0 : -1;
}
