/*  =========================================================================
    mw_loghup - SIGHUP reopens LOG_FILE (see loghup.h).
    ========================================================================= */
#include "common/loghup.h"
#include "common/log.h"
#include "common/selftest.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _mw_loghup_t {
    int pipe_r, pipe_w;
    pthread_t thread;
    struct sigaction old_action;
    sigset_t old_mask;
    atomic_bool stop;
    atomic_uint_fast64_t count;
};

//  The handler's only state: where to write its byte (-1: nowhere).
static volatile sig_atomic_t s_pipe_w = -1;
static mw_loghup_t *s_instance = NULL;

static void
s_on_hup (int sig)
{
    (void) sig;
    int e = errno;
    int fd = s_pipe_w;
    if (fd >= 0) {
        //  Non-blocking: a full pipe already holds a pending reopen.
        char b = 'h';
        ssize_t n = write (fd, &b, 1);
        (void) n;
    }
    errno = e;
}

static void *
s_run (void *arg)
{
    mw_loghup_t *self = (mw_loghup_t *) arg;
    //  This thread is where SIGHUP lands (the others block it).
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGHUP);
    pthread_sigmask (SIG_UNBLOCK, &set, NULL);
    char buf[64];
    while (!atomic_load (&self->stop)) {
        ssize_t n = read (self->pipe_r, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || atomic_load (&self->stop))
            break;
        if (!memchr (buf, 'h', (size_t) n))
            continue;
        //  Several signals in one read: one reopen is enough.
        if (mw_log_reopen () == 0)
            mw_info ("log_reopened", "signal=HUP");
        else {
            int e = errno;
            mw_error ("log_reopen_failed", "reason=\"%s\" still=old_file", strerror (e));
            fprintf (stderr,
                     "meshwatch: SIGHUP: cannot reopen the log file (%s); still writing to the old one\n",
                     strerror (e));
        }
        atomic_fetch_add (&self->count, 1);
    }
    return NULL;
}

mw_loghup_t *
mw_loghup_new (void)
{
    assert (!s_instance);   //  one handler per process
    mw_loghup_t *self = (mw_loghup_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    int fds[2];
    if (pipe2 (fds, O_CLOEXEC) != 0) {
        free (self);
        return NULL;
    }
    self->pipe_r = fds[0];
    self->pipe_w = fds[1];
    fcntl (self->pipe_w, F_SETFL, O_NONBLOCK);
    atomic_init (&self->stop, false);
    atomic_init (&self->count, 0);
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &set, &self->old_mask);
    s_pipe_w = self->pipe_w;
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_hup;
    sa.sa_flags = SA_RESTART;
    sigemptyset (&sa.sa_mask);
    bool installed = sigaction (SIGHUP, &sa, &self->old_action) == 0;
    //  The thread inherits SIGHUP blocked and unblocks it itself.
    if (!installed || pthread_create (&self->thread, NULL, s_run, self) != 0) {
        if (installed)
            sigaction (SIGHUP, &self->old_action, NULL);
        s_pipe_w = -1;
        pthread_sigmask (SIG_SETMASK, &self->old_mask, NULL);
        close (self->pipe_r);
        close (self->pipe_w);
        free (self);
        return NULL;
    }
    s_instance = self;
    return self;
}

void
mw_loghup_destroy (mw_loghup_t **self_p)
{
    assert (self_p);
    mw_loghup_t *self = *self_p;
    if (!self)
        return;
    //  The thread first, while the handler still has its pipe: a SIGHUP
    //  that comes now is absorbed, not acted on with the old disposition.
    atomic_store (&self->stop, true);
    char b = 'q';
    ssize_t n = write (self->pipe_w, &b, 1);   //  a full pipe wakes it too
    (void) n;
    pthread_join (self->thread, NULL);
    sigaction (SIGHUP, &self->old_action, NULL);
    s_pipe_w = -1;
    close (self->pipe_r);
    close (self->pipe_w);
    pthread_sigmask (SIG_SETMASK, &self->old_mask, NULL);
    s_instance = NULL;
    free (self);
    *self_p = NULL;
}

uint64_t
mw_loghup_count (mw_loghup_t *self)
{
    assert (self);
    return (uint64_t) atomic_load (&self->count);
}

//  --------------------------------------------------------------------------
//  Selftest

static bool
s_file_has (const char *path, const char *text)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets (line, sizeof line, f))
        found = strstr (line, text) != NULL;
    fclose (f);
    return found;
}

//  Send SIGHUP to the process and wait (up to 3 s) for the count to pass
//  `before`.
static bool
s_hup_and_wait (mw_loghup_t *h, uint64_t before)
{
    kill (getpid (), SIGHUP);
    for (int i = 0; i < 300; i++) {
        if (mw_loghup_count (h) > before)
            return true;
        usleep (10000);
    }
    return false;
}

int
mw_loghup_test (bool verbose)
{
    int rc = 0;
    char dir[] = "/tmp/mw-loghup-XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    char log[256], log1[256], log2[256];
    snprintf (log, sizeof log, "%s/a.log", dir);
    snprintf (log1, sizeof log1, "%s/a.log.1", dir);
    snprintf (log2, sizeof log2, "%s/a.log.2", dir);
    mw_log_level_t level = mw_log_get_level ();
    mw_log_set_level (MW_LOG_INFO);
    CHECK (mw_log_set_file (log) == 0, "log file");
    //  The failed reopen below also says so on stderr.
    fflush (stderr);
    int saved = dup (2);
    if (!verbose) {
        int null = open ("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2 (null, 2);
            close (null);
        }
    }
    //  As main.c does: ignored before and after (a late signal of the
    //  burst below must not take the default action, termination).
    struct sigaction ign, old;
    memset (&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction (SIGHUP, &ign, &old);
    mw_loghup_t *h = mw_loghup_new ();
    CHECK (h, "new");
    if (h) {
        //  logrotate: rename, HUP; new lines go to a new file of the name.
        mw_info ("before", "n=1");
        CHECK (rename (log, log1) == 0, "rename");
        CHECK (s_hup_and_wait (h, 0), "HUP handled");
        mw_info ("after", "n=2");
        CHECK (s_file_has (log, "event=log_reopened") && s_file_has (log, "event=after"), "new file");
        CHECK (s_file_has (log1, "event=before") && !s_file_has (log1, "event=after"), "old file");
        //  The name cannot be opened (a directory now): keep the old file.
        CHECK (rename (log, log2) == 0 && mkdir (log, 0700) == 0, "block the name");
        CHECK (s_hup_and_wait (h, 1), "HUP handled");
        mw_info ("during", "n=3");
        CHECK (s_file_has (log2, "event=log_reopen_failed") && s_file_has (log2, "event=during"),
               "lines stay in the old file");
        CHECK (rmdir (log) == 0, "unblock");
        CHECK (s_hup_and_wait (h, 2), "HUP handled");
        mw_info ("healed", "n=4");
        CHECK (s_file_has (log, "event=healed"), "reopened once possible");
        //  A burst: the process survives (we are still here) and handles it.
        uint64_t n = mw_loghup_count (h);
        for (int i = 0; i < 200; i++)
            kill (getpid (), SIGHUP);
        CHECK (s_hup_and_wait (h, n), "burst handled");
        mw_loghup_destroy (&h);
        CHECK (h == NULL, "destroy nulls");
        struct sigaction now;
        CHECK (sigaction (SIGHUP, NULL, &now) == 0 && now.sa_handler == SIG_IGN, "disposition restored");
        //  A second one may start after the first is gone.
        h = mw_loghup_new ();
        CHECK (h, "new again");
        mw_loghup_destroy (&h);
    }
    sigaction (SIGHUP, &old, NULL);
    fflush (stderr);
    if (saved >= 0) {
        dup2 (saved, 2);
        close (saved);
    }
    mw_log_set_file (NULL);
    mw_log_set_level (level);
    unlink (log);
    unlink (log1);
    unlink (log2);
    rmdir (dir);
    if (verbose)
        printf ("loghup: %s\n", rc == 0 ? "ok" : "failures above");
    return rc;
}
