/*
 * maildir.h - deliver one message into a local Maildir.
 */
#ifndef MOAT_MAILDIR_H
#define MOAT_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

#define MAILDIR_NAME_MAX	64	/* longest mailbox name accepted */

/*
 * maildir_check_name - 0 when name may be used as a mailbox directory:
 * 1..MAILDIR_NAME_MAX characters of [a-z0-9._+-], not starting with '.'.
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

#endif
