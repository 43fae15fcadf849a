/*  =========================================================================
    mw_log - structured logging: one event per line, logfmt.

    Every line is `ts=... level=... node=... event=NAME key=value ...` on
    stderr (or a file), so that a test checker or an operator's grep can read
    it without guessing.  Quiet by default: only warnings and errors unless
    LOG_LEVEL says otherwise.
    ========================================================================= */
#ifndef MW_LOG_H_INCLUDED
#define MW_LOG_H_INCLUDED

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { MW_LOG_DEBUG = 0, MW_LOG_INFO = 1, MW_LOG_WARN = 2, MW_LOG_ERROR = 3 } mw_log_level_t;

//  Parse "debug|info|warn|error"; returns -1 on anything else.
int mw_log_level_parse (const char *text);
void mw_log_set_level (mw_log_level_t level);
mw_log_level_t mw_log_get_level (void);
//  Node id (short hex) stamped on every line; NULL clears it.
void mw_log_set_node (const char *node_id);
//  Redirect to a file opened in append mode (NULL = stderr).  Returns 0/-1.
int mw_log_set_file (const char *path);
//  Open the log file again by its name (after logrotate renamed it) and
//  switch to it.  0, or -1 with errno when it cannot be opened: lines then
//  keep going to the old file.  No-op (0) when logging to stderr.
int mw_log_reopen (void);

//  Log one event.  `fmt` is the rest of the line: space-separated key=value
//  pairs, e.g. mw_log (MW_LOG_INFO, "member_dead", "peer=%s inc=%llu", ...).
//  Values that may hold spaces should be quoted with mw_log_quote ().
void mw_log (mw_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define mw_debug(ev, ...) mw_log (MW_LOG_DEBUG, ev, __VA_ARGS__)
#define mw_info(ev, ...)  mw_log (MW_LOG_INFO, ev, __VA_ARGS__)
#define mw_warn(ev, ...)  mw_log (MW_LOG_WARN, ev, __VA_ARGS__)
#define mw_error(ev, ...) mw_log (MW_LOG_ERROR, ev, __VA_ARGS__)

//  Monotonic milliseconds (for timers) and wall-clock milliseconds since the
//  epoch (for timestamps that travel between nodes).
uint64_t mw_now_ms (void);
uint64_t mw_wall_ms (void);

int mw_log_test (bool verbose);

#endif
