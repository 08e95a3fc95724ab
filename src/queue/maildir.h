/*
 * maildir.h - deliver one message into a local Maildir.
 */
#ifndef MOAT_MAILDIR_H
#define MOAT_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

#define MAILDIR_NAME_MAX	255	/* longest mailbox name accepted: a
					 * file name ("user@domain" fits) */
#define MAILDIR_KEY_MAX		64	/* maildir_key's room, NUL included */

/* maildir_deliver_once's flags */
#define MAILDIR_LOOK_CUR	0x01	/* look in cur/ too: after a crash */

enum maildir_result {
	MAILDIR_DELIVERED,	/* written into new/ now */
	MAILDIR_FOUND,		/* an earlier attempt's file is there */
	MAILDIR_TEMPFAIL,	/* failed; a later attempt may work */
	MAILDIR_PERMFAIL,	/* failed; no retry can work */
};

/*
 * maildir_check_name - 0 when name may be used as a mailbox directory:
 * 1..MAILDIR_NAME_MAX characters of [a-z0-9._+-], not starting with '.',
 * and at most one '@' that is neither first nor last ("user@domain",
 * the mailbox of a user of one local domain).
 * -1 otherwise. Pure function.
 */
int maildir_check_name(const char *name);

/*
 * maildir_deliver - write data (CRLF lines) into mail_dir/mailbox/new/
 * as one file with LF lines, after a "Return-Path: <return_path>" line.
 * Creates mail_dir/mailbox/{tmp,new,cur} (0700) when missing; mail_dir
 * itself must exist. The file and new/ are fsync'ed before returning 0.
 * On failure returns -1 with errno set (EINVAL: a bad mailbox name or
 * return path, which no retry can fix) and a reason in err; nothing is
 * left in new/.
 */
int maildir_deliver(const char *mail_dir, const char *mailbox,
    const char *return_path, const uint8_t *data, size_t len,
    char *err, size_t errlen);

/*
 * maildir_key - the unique part of the file name of one delivery, the
 * same at every attempt: "TIME.QqidRrcpt_id" (TIME: the message's
 * arrival, qid only [0-9A-Za-z]) into out. Returns 0, or -1 when qid is
 * empty or bad or out is too small (MAILDIR_KEY_MAX is enough).
 */
int maildir_key(char *out, size_t len, int64_t time, const char *qid,
    int64_t rcpt_id);

/*
 * maildir_deliver_once - what maildir_deliver does, under the file name
 * KEY.HOST, once: when an earlier attempt left new/KEY.HOST (or, with
 * MAILDIR_LOOK_CUR, cur/KEY.* where a reader moved it) nothing is
 * written and the result is MAILDIR_FOUND, once the directory it is in
 * has been fsync'ed (in new/ it must be a regular file: anything else
 * there fails, EEXIST). Only new/ costs a stat each time; cur/ is read
 * whole, so MAILDIR_LOOK_CUR is for the deliveries a crash may have cut
 * short. A tmp/KEY.HOST left by one is replaced. On failure errno is
 * set, err says why, nothing is left in new/, and the result says
 * whether a retry may work (maildir_permanent).
 */
enum maildir_result maildir_deliver_once(const char *mail_dir,
    const char *mailbox, const char *key, int flags, const char *return_path,
    const uint8_t *data, size_t len, char *err, size_t errlen);

/*
 * maildir_permanent - 1 when a delivery that failed with errno err
 * cannot work on a retry (ENOTDIR, ELOOP: a file or symlink where a
 * directory must be; EINVAL: a name or return path refused; EFBIG,
 * ENAMETOOLONG), 0 when it may (ENOSPC, EDQUOT, EIO, EACCES, ...).
 */
int maildir_permanent(int err);

#endif
