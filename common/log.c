/*  =========================================================================
    mw_log - structured logging (see log.h).

    A line is written with one fputs of a buffer built in full first, so that
    lines from several threads never interleave half-way.
    ========================================================================= */
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static mw_log_level_t s_level = MW_LOG_WARN;
static char s_node[40] = "-";
static FILE *s_file = NULL;
static char s_path[4096] = "";   //  the file's name, for mw_log_reopen
static pthread_mutex_t s_mutex = PTHREAD_MUTEX_INITIALIZER;

static const char *s_names[] = {"debug", "info", "warn", "error"};

int
mw_log_level_parse (const char *text)
{
    if (!text)
        return -1;
    for (int i = 0; i < 4; i++)
        if (strcmp (text, s_names[i]) == 0)
            return i;
    if (strcmp (text, "warning") == 0)
        return MW_LOG_WARN;
    return -1;
}

void
mw_log_set_level (mw_log_level_t level)
{
    s_level = level;
}

mw_log_level_t
mw_log_get_level (void)
{
    return s_level;
}

void
mw_log_set_node (const char *node_id)
{
    pthread_mutex_lock (&s_mutex);
    snprintf (s_node, sizeof s_node, "%s", node_id ? node_id : "-");
    pthread_mutex_unlock (&s_mutex);
}

int
mw_log_set_file (const char *path)
{
    FILE *f = NULL;
    if (path) {
        if (strlen (path) >= sizeof s_path)
            return -1;
        f = fopen (path, "ae");
        if (!f)
            return -1;
        setvbuf (f, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock (&s_mutex);
    if (s_file)
        fclose (s_file);
    s_file = f;
    snprintf (s_path, sizeof s_path, "%s", path ? path : "");
    pthread_mutex_unlock (&s_mutex);
    return 0;
}

int
mw_log_reopen (void)
{
    pthread_mutex_lock (&s_mutex);
    int rc = 0;
    if (s_file && *s_path) {
        //  Open the new file before closing the old one: if it cannot be
        //  opened, lines keep going to the old file rather than nowhere.
        FILE *f = fopen (s_path, "ae");
        if (f) {
            setvbuf (f, NULL, _IOLBF, 0);
            fclose (s_file);
            s_file = f;
        }
        else
            rc = -1;
    }
    int e = errno;
    pthread_mutex_unlock (&s_mutex);
    errno = e;
    return rc;
}

void
mw_log (mw_log_level_t level, const char *event, const char *fmt, ...)
{
    if (level < s_level)
        return;
    char line[2048];
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);
    pthread_mutex_lock (&s_mutex);
    int n = snprintf (line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s node=%s event=%s",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                      ts.tv_nsec / 1000000, s_names[level], s_node, event);
    if (fmt && *fmt && n > 0 && (size_t) n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start (ap, fmt);
        int m = vsnprintf (line + n, sizeof line - (size_t) n - 1, fmt, ap);
        va_end (ap);
        if (m > 0)
            n += m;
    }
    if (n < 0)
        n = 0;
    if ((size_t) n > sizeof line - 2)
        n = (int) sizeof line - 2;
    line[n++] = '\n';
    line[n] = 0;
    fputs (line, s_file ? s_file : stderr);
    pthread_mutex_unlock (&s_mutex);
}

uint64_t
mw_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

uint64_t
mw_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

int
mw_log_test (bool verbose)
{
    if (mw_log_level_parse ("info") != MW_LOG_INFO || mw_log_level_parse ("bogus") != -1)
        return -1;
    char path[] = "/tmp/mw-log-test-XXXXXX";
    int fd = mkstemp (path);
    if (fd < 0)
        return -1;
    mw_log_set_file (path);
    mw_log_set_node ("abcd");
    mw_log_set_level (MW_LOG_INFO);
    mw_debug ("hidden", "x=1");
    mw_info ("shown", "x=%d", 2);
    mw_log_set_file (NULL);
    mw_log_set_level (MW_LOG_WARN);
    FILE *f = fopen (path, "r");
    char buf[512] = "";
    int lines = 0, ok = 0;
    while (f && fgets (buf, sizeof buf, f)) {
        lines++;
        ok = strstr (buf, "level=info node=abcd event=shown x=2\n") != NULL;
    }
    if (f)
        fclose (f);
    unlink (path);
    if (verbose)
        printf ("log lines=%d ok=%d\n", lines, ok);
    uint64_t a = mw_now_ms (), b = mw_now_ms ();
    return (lines == 1 && ok && b >= a && mw_wall_ms () > 1600000000000ull) ? 0 : -1;
}
