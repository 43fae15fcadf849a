/*  =========================================================================
    pkg_file - the few file operations the package store needs, done once
    and done so that a kill -9 (or a power cut) never leaves half a file
    under a name anyone reads.

    Writes go to NAME.tmp.PID, are fsync'ed, renamed over NAME, and the
    directory is fsync'ed: a reader sees the old file or the whole new one.
    Reads are bounded: a file larger than the caller's limit is an error,
    never a huge allocation.
    ========================================================================= */
#ifndef PKG_FILE_H_INCLUDED
#define PKG_FILE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  Write `len` bytes to `path` (temp, fsync, rename, fsync dir) with
//  `mode`.  excl: fail if `path` exists.  0, or -1 with the reason in err.
int pkg_file_write (const char *path, const void *data, size_t len, mode_t mode, bool excl, char *err,
                    size_t errlen);
//  The whole file, at most `max` bytes (a larger file is an error), NUL
//  ended (malloc'ed; *len without the NUL).  NULL with the reason in err.
char *pkg_file_read (const char *path, size_t max, size_t *len, char *err, size_t errlen);
//  mkdir -p with `mode` for what it creates.  0/-1 (errno set).
int pkg_file_mkdirs (const char *path, mode_t mode);
//  fsync a directory (after a rename or unlink in it).  0/-1.
int pkg_file_sync_dir (const char *dir);
//  rm -rf (no symlink is followed).  0/-1.
int pkg_file_remove_tree (const char *path);
//  pread/pwrite the whole range, retrying short transfers and EINTR.
int pkg_file_pread (int fd, void *buf, size_t len, uint64_t off);
int pkg_file_pwrite (int fd, const void *buf, size_t len, uint64_t off);

int pkg_file_test (bool verbose);

#endif
