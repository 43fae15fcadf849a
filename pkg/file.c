/*  =========================================================================
    pkg_file - durable writes and bounded reads (see file.h).
    ========================================================================= */
#include "pkg/file.h"
#include "common/selftest.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
pkg_file_sync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

int
pkg_file_pwrite (int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite (fd, p, len, (off_t) off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t) n;
        off += (uint64_t) n;
    }
    return 0;
}

int
pkg_file_pread (int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread (fd, p, len, (off_t) off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;   //  the file is shorter than it should be
            return -1;
        }
        p += n;
        len -= (size_t) n;
        off += (uint64_t) n;
    }
    return 0;
}

int
pkg_file_write (const char *path, const void *data, size_t len, mode_t mode, bool excl, char *err,
                size_t errlen)
{
    if (excl && access (path, F_OK) == 0) {
        snprintf (err, errlen, "%s exists already", path);
        return -1;
    }
    char tmp[4096];
    if (snprintf (tmp, sizeof tmp, "%s.tmp.%d", path, (int) getpid ()) >= (int) sizeof tmp) {
        snprintf (err, errlen, "%s: path too long", path);
        return -1;
    }
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf (err, errlen, "%s: %s", tmp, strerror (errno));
        return -1;
    }
    if (fchmod (fd, mode) != 0 || pkg_file_pwrite (fd, data, len, 0) != 0 || fsync (fd) != 0) {
        snprintf (err, errlen, "%s: %s", tmp, strerror (errno));
        close (fd);
        unlink (tmp);
        return -1;
    }
    close (fd);
    //  link() refuses an existing name, so `excl` holds even against a
    //  writer that raced us between the access() above and here.
    int rc = excl ? link (tmp, path) : rename (tmp, path);
    if (rc != 0) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        unlink (tmp);
        return -1;
    }
    if (excl)
        unlink (tmp);
    char dir[4096];
    snprintf (dir, sizeof dir, "%s", path);
    pkg_file_sync_dir (dirname (dir));
    return 0;
}

char *
pkg_file_read (const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        snprintf (err, errlen, "%s: not a regular file", path);
        close (fd);
        return NULL;
    }
    if ((uint64_t) st.st_size > max) {
        snprintf (err, errlen, "%s: %lld bytes, more than the %zu allowed", path, (long long) st.st_size,
                  max);
        close (fd);
        return NULL;
    }
    size_t n = (size_t) st.st_size;
    char *buf = malloc (n + 1);
    if (!buf || pkg_file_pread (fd, buf, n, 0) != 0) {
        snprintf (err, errlen, "%s: %s", path, buf ? strerror (errno) : "out of memory");
        free (buf);
        close (fd);
        return NULL;
    }
    close (fd);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int
pkg_file_mkdirs (const char *path, mode_t mode)
{
    char buf[4096];
    if (snprintf (buf, sizeof buf, "%s", path) >= (int) sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (buf, mode) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir (buf, mode) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat (buf, &st) != 0 || !S_ISDIR (st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int
s_rm_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) ftw;
    return (flag == FTW_DP ? rmdir (path) : unlink (path)) == 0 || errno == ENOENT ? 0 : -1;
}

int
pkg_file_remove_tree (const char *path)
{
    struct stat st;
    if (lstat (path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR (st.st_mode))
        return unlink (path);
    return nftw (path, s_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
pkg_file_test (bool verbose)
{
    int rc = 0;
    char dir[] = "/tmp/pkg_file_test.XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    char path[256], err[256], sub[256];
    snprintf (path, sizeof path, "%s/a/b/c", dir);
    CHECK (pkg_file_mkdirs (path, 0700) == 0, "mkdirs");
    CHECK (pkg_file_mkdirs (path, 0700) == 0, "mkdirs again");
    snprintf (path, sizeof path, "%s/a/f", dir);
    CHECK (pkg_file_write (path, "hello", 5, 0600, true, err, sizeof err) == 0, "write: %s", err);
    CHECK (pkg_file_write (path, "again", 5, 0600, true, err, sizeof err) == -1, "excl refuses");
    CHECK (pkg_file_write (path, "hello!", 6, 0644, false, err, sizeof err) == 0, "overwrite: %s", err);
    size_t n = 0;
    char *text = pkg_file_read (path, 100, &n, err, sizeof err);
    CHECK (text && n == 6 && strcmp (text, "hello!") == 0, "read back");
    free (text);
    CHECK (pkg_file_read (path, 5, &n, err, sizeof err) == NULL && strstr (err, "more than"), "bounded read");
    struct stat st;
    CHECK (stat (path, &st) == 0 && (st.st_mode & 0777) == 0644, "mode");
    snprintf (sub, sizeof sub, "%s/a/f.tmp.%d", dir, (int) getpid ());
    CHECK (access (sub, F_OK) != 0, "no temp left");
    CHECK (pkg_file_read (dir, 100, &n, err, sizeof err) == NULL, "a directory is not read");
    CHECK (pkg_file_remove_tree (dir) == 0 && access (dir, F_OK) != 0, "remove tree");
    if (verbose)
        printf ("pkg_file: done\n");
    return rc;
}
