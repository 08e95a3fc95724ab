/*
 * dirs.h - the directories moat owns, and one daemon per spool.
 */
#ifndef MOAT_DIRS_H
#define MOAT_DIRS_H

#include <sys/types.h>

#define DIRS_MAX	64	/* directories one start may create */
#define DIRS_LOCK_NAME	"moat.lock"

/* what a start created, so that a failed start can take it back */
struct dirs {
	char	*made[DIRS_MAX];	/* owned, in the order made */
	size_t	 n_made;
	char	*lock_path;		/* owned; the lock file, if we made it */
	int	 lock_fd;		/* -1: not held */
};

/* dirs_init - nothing made, no lock */
void dirs_init(struct dirs *d);

/*
 * dirs_own - path is a directory of uid with exactly mode: made (with
 * any missing parents, mode 0755) when missing; an existing one must
 * already be so, and is never changed. -1 with a reason in err.
 */
int dirs_own(struct dirs *d, const char *path, mode_t mode, uid_t uid,
    gid_t gid, char *err, size_t errlen);

/* dirs_empty - path has no entries (a chroot); -1 with a reason */
int dirs_empty(const char *path, char *err, size_t errlen);

/*
 * dirs_lock - an exclusive lock on spool_dir/moat.lock, held by the
 * parent for its life (close-on-exec: no child, exec'd, has it); the
 * file holds the pid. -1 with a reason when another daemon holds it.
 */
int dirs_lock(struct dirs *d, const char *spool_dir, char *err,
    size_t errlen);

/*
 * dirs_undo - after a failed start: the lock file and the directories
 * this start made go again (a directory only while it is empty)
 */
void dirs_undo(struct dirs *d);

/*
 * dirs_forget - a start that went well: keep what was made. The lock
 * stays held until the process exits; its file stays for good (removing
 * it would let a second daemon lock a new file while a third holds the
 * old one).
 */
void dirs_forget(struct dirs *d);

#endif
