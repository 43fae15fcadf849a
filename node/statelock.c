/*  =========================================================================
    node_statelock - one agent per STATE_DIR (see statelock.h).

    POSIX record locks belong to the process, and closing *any* descriptor
    of the file drops them.  So this process never opens agent.lock a
    second time while it holds it: node_statelock_holder recognises our own
    lock file by device and inode (s_held) and answers 0 without opening
    it.
    ========================================================================= */
#include "node/statelock.h"
#include "common/log.h"
#include "common/selftest.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOCK_FILE "agent.lock"

struct _node_statelock_t {
    int fd;
    int slot;   //  in s_held
};

//  The lock files this process holds (normally one).
#define HELD_MAX 8
static struct {
    bool used;
    dev_t dev;
    ino_t ino;
} s_held[HELD_MAX];
static pthread_mutex_t s_held_mutex = PTHREAD_MUTEX_INITIALIZER;

static int
s_path (const char *state_dir, char *out, size_t len)
{
    size_t n = strlen (state_dir);
    while (n > 1 && state_dir[n - 1] == '/')
        n--;
    if ((size_t) snprintf (out, len, "%.*s/" LOCK_FILE, (int) n, state_dir) >= len)
        return -1;
    return 0;
}

//  mkdir -p with mode 0700 for what is missing (the node key's loader
//  tightens the modes of what exists).
static int
s_mkdirs (const char *dir, char *err, size_t errlen)
{
    char path[4096];
    size_t len = strlen (dir);
    if (len == 0 || len >= sizeof path) {
        snprintf (err, errlen, "STATE_DIR '%.200s': bad path", dir);
        return -1;
    }
    memcpy (path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char saved = path[i];
        path[i] = 0;
        if (mkdir (path, 0700) != 0 && errno != EEXIST) {
            snprintf (err, errlen, "STATE_DIR: mkdir '%.200s': %s", path, strerror (errno));
            return -1;
        }
        path[i] = saved;
    }
    return 0;
}

//  Who holds the lock on fd's file: > 0, 0 nobody, -1 (errno).
static pid_t
s_holder_fd (int fd)
{
    struct flock fl;
    memset (&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl (fd, F_GETLK, &fl) != 0)
        return -1;
    if (fl.l_type == F_UNLCK)
        return 0;
    if (fl.l_pid > 0)
        return fl.l_pid;
    //  Held from another PID namespace: the text the holder wrote.
    char buf[32];
    ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
    long pid = 0;
    if (n > 0) {
        buf[n] = 0;
        pid = strtol (buf, NULL, 10);
    }
    if (pid > 0 && pid < 1 << 30)
        return (pid_t) pid;
    errno = EBUSY;
    return -1;
}

node_statelock_t *
node_statelock_new (const char *state_dir, char *err, size_t errlen)
{
    assert (state_dir && err);
    char path[4200];
    if (s_mkdirs (state_dir, err, errlen) != 0)
        return NULL;
    if (s_path (state_dir, path, sizeof path) != 0) {
        snprintf (err, errlen, "STATE_DIR '%.200s': path too long", state_dir);
        return NULL;
    }
    node_statelock_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->slot = -1;
    //  O_NOFOLLOW: a planted symlink must not make us lock (and write our
    //  PID into) some other file.
    self->fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (self->fd < 0) {
        snprintf (err, errlen, "STATE_DIR %.200s: cannot open %s: %s", state_dir, LOCK_FILE,
                  strerror (errno));
        free (self);
        return NULL;
    }
    struct flock fl;
    memset (&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl (self->fd, F_SETLK, &fl) != 0) {
        int e = errno;
        if (e == EACCES || e == EAGAIN) {
            pid_t pid = s_holder_fd (self->fd);
            if (pid > 0)
                snprintf (err, errlen, "STATE_DIR %.200s is in use by PID %d (one agent per STATE_DIR)",
                          state_dir, (int) pid);
            else
                snprintf (err, errlen,
                          "STATE_DIR %.200s is in use by another process (one agent per STATE_DIR)",
                          state_dir);
        }
        else
            snprintf (err, errlen, "STATE_DIR %.200s: cannot lock %s: %s", state_dir, LOCK_FILE,
                      strerror (e));
        close (self->fd);   //  we hold no lock on it: nothing to drop
        free (self);
        return NULL;
    }
    struct stat st;
    if (fstat (self->fd, &st) == 0) {
        pthread_mutex_lock (&s_held_mutex);
        for (int i = 0; i < HELD_MAX; i++)
            if (!s_held[i].used) {
                s_held[i].used = true;
                s_held[i].dev = st.st_dev;
                s_held[i].ino = st.st_ino;
                self->slot = i;
                break;
            }
        pthread_mutex_unlock (&s_held_mutex);
    }
    //  The PID as text, for people (the lock itself is what counts: a
    //  full disk must not stop the agent here).
    char buf[32];
    int n = snprintf (buf, sizeof buf, "%d\n", (int) getpid ());
    if (ftruncate (self->fd, 0) != 0 || pwrite (self->fd, buf, (size_t) n, 0) != n)
        mw_warn ("statelock_pid_unwritten", "path=%s reason=\"%s\"", path, strerror (errno));
    return self;
}

void
node_statelock_destroy (node_statelock_t **self_p)
{
    assert (self_p);
    node_statelock_t *self = *self_p;
    if (!self)
        return;
    if (self->slot >= 0) {
        pthread_mutex_lock (&s_held_mutex);
        s_held[self->slot].used = false;
        pthread_mutex_unlock (&s_held_mutex);
    }
    close (self->fd);   //  drops the lock
    free (self);
    *self_p = NULL;
}

pid_t
node_statelock_holder (const char *state_dir)
{
    assert (state_dir);
    char path[4200];
    if (s_path (state_dir, path, sizeof path) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    struct stat st;
    if (lstat (path, &st) != 0)
        return -1;
    bool ours = false;
    pthread_mutex_lock (&s_held_mutex);
    for (int i = 0; i < HELD_MAX; i++)
        ours |= s_held[i].used && s_held[i].dev == st.st_dev && s_held[i].ino == st.st_ino;
    pthread_mutex_unlock (&s_held_mutex);
    if (ours)
        return 0;
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    pid_t pid = s_holder_fd (fd);
    int e = errno;
    close (fd);
    errno = e;
    return pid;
}

//  --------------------------------------------------------------------------
//  Selftest

//  In a child: try to lock `dir`; exit 0 if that matched `expect_pid`
//  (> 0: refused naming that PID and holder() says so; 0: the lock was
//  free and taken).
static int
s_child_try (const char *dir, pid_t expect_pid)
{
    fflush (NULL);
    pid_t child = fork ();
    if (child < 0)
        return -1;
    if (child == 0) {
        //  A forked child holds none of its parent's locks.
        memset (s_held, 0, sizeof s_held);
        char err[512] = "", want[64];
        node_statelock_t *l = node_statelock_new (dir, err, sizeof err);
        snprintf (want, sizeof want, "in use by PID %d ", (int) expect_pid);
        bool ok = expect_pid > 0 ? !l && strstr (err, want) && node_statelock_holder (dir) == expect_pid
                                 : l != NULL;
        if (!ok)
            fprintf (stderr, "statelock child: expected %d, got lock=%p err=%s holder=%d\n", (int) expect_pid,
                     (void *) l, err, (int) node_statelock_holder (dir));
        node_statelock_destroy (&l);
        _exit (ok ? 0 : 1);
    }
    int status = 0;
    if (waitpid (child, &status, 0) != child)
        return -1;
    return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? 0 : -1;
}

int
node_statelock_test (bool verbose)
{
    int rc = 0;
    char base[] = "/tmp/mw-statelock-XXXXXX";
    if (!mkdtemp (base))
        return -1;
    char dir[256], link[256], slash[260], file[300], err[512] = "";
    snprintf (dir, sizeof dir, "%s/a/state", base);
    snprintf (link, sizeof link, "%s/link", base);
    snprintf (slash, sizeof slash, "%s/", dir);
    snprintf (file, sizeof file, "%s/" LOCK_FILE, dir);
    pid_t me = getpid ();

    CHECK (node_statelock_holder (dir) == -1 && errno == ENOENT, "no lock file yet");
    node_statelock_t *l = node_statelock_new (dir, err, sizeof err);
    CHECK (l, "lock a new STATE_DIR: %s", err);
    struct stat st;
    CHECK (stat (dir, &st) == 0 && (st.st_mode & 0777) == 0700, "STATE_DIR created 0700");
    //  Read through our own descriptor: opening and closing the file again
    //  would drop our lock (the very trap statelock.c avoids).
    char text[32] = "";
    CHECK (l && pread (l->fd, text, sizeof text - 1, 0) > 0 && atoi (text) == me, "the file names our PID");
    //  Another process is refused, naming us, by every spelling of the dir.
    CHECK (symlink (dir, link) == 0, "symlink");
    CHECK (s_child_try (dir, me) == 0, "a second process is refused");
    CHECK (s_child_try (link, me) == 0, "refused through a symlink");
    CHECK (s_child_try (slash, me) == 0, "refused with a trailing slash");
    //  Asking ourselves does not open (and so not drop) our lock.
    CHECK (node_statelock_holder (dir) == 0, "our own lock reads as free to us");
    CHECK (s_child_try (dir, me) == 0, "still held after asking");
    node_statelock_destroy (&l);
    CHECK (l == NULL, "destroy nulls");
    CHECK (node_statelock_holder (dir) == 0, "free after destroy");
    CHECK (s_child_try (dir, 0) == 0, "another process takes it after destroy");

    //  kill -9 of the holder: the kernel releases the lock.
    int pipefd[2];
    CHECK (pipe (pipefd) == 0, "pipe");
    fflush (NULL);
    pid_t holder = fork ();
    if (holder == 0) {
        memset (s_held, 0, sizeof s_held);
        char e2[256];
        node_statelock_t *hl = node_statelock_new (dir, e2, sizeof e2);
        char b = hl ? 'y' : 'n';
        if (write (pipefd[1], &b, 1) != 1)
            _exit (1);
        while (true)
            pause ();
    }
    char b = 0;
    CHECK (holder > 0 && read (pipefd[0], &b, 1) == 1 && b == 'y', "child holds the lock");
    CHECK (node_statelock_holder (dir) == holder, "holder() names the child");
    l = node_statelock_new (dir, err, sizeof err);
    CHECK (!l && strstr (err, "is in use by PID"), "refused while the child holds it: %s", err);
    node_statelock_destroy (&l);
    if (holder > 0) {
        kill (holder, SIGKILL);
        waitpid (holder, NULL, 0);
    }
    CHECK (node_statelock_holder (dir) == 0, "free after kill -9");
    l = node_statelock_new (dir, err, sizeof err);
    CHECK (l, "taken after kill -9: %s", err);
    node_statelock_destroy (&l);
    close (pipefd[0]);
    close (pipefd[1]);

    //  A symlink planted as the lock file is refused, not followed.
    char other[300], dir2[256], file2[300];
    snprintf (other, sizeof other, "%s/other", base);
    snprintf (dir2, sizeof dir2, "%s/b", base);
    snprintf (file2, sizeof file2, "%s/" LOCK_FILE, dir2);
    CHECK (mkdir (dir2, 0700) == 0 && symlink (other, file2) == 0, "plant a symlink");
    l = node_statelock_new (dir2, err, sizeof err);
    CHECK (!l && access (other, F_OK) != 0, "a symlinked lock file is refused: %s", err);
    node_statelock_destroy (&l);
    if (verbose)
        printf ("statelock: %s\n", rc == 0 ? "ok" : "failures above");

    unlink (file2);
    rmdir (dir2);
    unlink (link);
    unlink (file);
    rmdir (dir);
    char a[300];
    snprintf (a, sizeof a, "%s/a", base);
    rmdir (a);
    rmdir (base);
    return rc;
}
