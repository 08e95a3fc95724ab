/*
 * sendmail.h - moat sendmail and mailq: the command line of local
 * submission, also run as "sendmail" or "mailq" (argv[0]).
 */
#ifndef MOAT_SENDMAIL_H
#define MOAT_SENDMAIL_H

/*
 * sendmail_main - argv[0] is the program's name, the options follow
 * (sendmail(8) style). Exit status from sysexits.h: 0, EX_USAGE (64),
 * EX_DATAERR (65), EX_NOUSER (67), EX_UNAVAILABLE (69), EX_SOFTWARE
 * (70), EX_TEMPFAIL (75, the daemon is not running or said 4xx),
 * EX_NOPERM (77, not in submit_users).
 */
int sendmail_main(int argc, char **argv);

/* mailq_main - the queue, through the control socket (moat queue list) */
int mailq_main(int argc, char **argv);

#endif
