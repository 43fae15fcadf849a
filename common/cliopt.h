/*  =========================================================================
    mw_cliopt - command-line options of a meshwatch subcommand, the same
    rules everywhere.

    A thin layer over getopt_long, because a CLI that talks to a running
    agent must never guess: `leave --help` once made the agent leave, and a
    misspelt `--stat-dir` silently fell back to /var/lib/meshwatch.  So:

      - `--help` or `-h` anywhere (before a `--`) wins: the caller prints
        its usage and does nothing else (mw_cliopt_wants_help);
      - an unknown option, an abbreviation (getopt_long would accept `--js`
        for `--json`), a missing value, a value that looks like an option
        (`--camera --help`) and a bad number are errors: one line on
        stderr, `meshwatch CMD: what is wrong`, and the caller exits 2;
      - positional arguments are collected for the caller to check (most
        subcommands take none: mw_cliopt_no_rest).

    Usage:
        if (mw_cliopt_wants_help (argc, argv)) { usage (stdout); return 0; }
        mw_cliopt_t *p = mw_cliopt_new ("status", argc, argv, opts);
        int c;
        while ((c = mw_cliopt_next (p)) >= 0)
            switch (c) { case OPT_STATE_DIR: dir = mw_cliopt_arg (p); ... }
        if (c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0) -> exit 2

    getopt_long keeps its state in globals: one parser at a time.
    ========================================================================= */
#ifndef MW_CLIOPT_H_INCLUDED
#define MW_CLIOPT_H_INCLUDED

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#define MW_CLIOPT_END   (-1)   //  no more options
#define MW_CLIOPT_ERROR (-2)   //  a bad option; the line is printed

typedef struct _mw_cliopt_t mw_cliopt_t;

//  True if argv[1..] holds `--help` or `-h` before any `--`.
bool mw_cliopt_wants_help (int argc, char **argv);

//  A parser over argv[1..argc-1] (argv[0] is the subcommand, `cmd` names it
//  in messages).  `opts` ends with a zero entry and must outlive the parser;
//  `val` of a long-only option should be >= 256.  NULL on allocation
//  failure.
mw_cliopt_t *mw_cliopt_new (const char *cmd, int argc, char **argv, const struct option *opts);
void mw_cliopt_destroy (mw_cliopt_t **self_p);

//  The next option's `val`, MW_CLIOPT_END, or MW_CLIOPT_ERROR (after the
//  line on stderr).
int mw_cliopt_next (mw_cliopt_t *self);
//  The last option's value (NULL for a flag) and its name ("--state-dir").
const char *mw_cliopt_arg (mw_cliopt_t *self);
const char *mw_cliopt_name (mw_cliopt_t *self);

//  The last option's value as an integer in [lo, hi] or a number in
//  [lo, hi]: 0, or -1 after printing "meshwatch CMD: --name: ...".
int mw_cliopt_int (mw_cliopt_t *self, int64_t lo, int64_t hi, int64_t *out);
int mw_cliopt_double (mw_cliopt_t *self, double lo, double hi, double *out);

//  After MW_CLIOPT_END: the positional arguments (GNU getopt moves them to
//  the end of argv), and how many.
char **mw_cliopt_rest (mw_cliopt_t *self, int *count);
//  0 if there is none, else -1 after "meshwatch CMD: unexpected argument 'X'".
int mw_cliopt_no_rest (mw_cliopt_t *self);

//  Print "meshwatch CMD: <fmt...>" on stderr (one line); returns 2, the
//  usage exit code, so callers can `return mw_cliopt_fail (...)`.
int mw_cliopt_fail (const char *cmd, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  Strict number parsing, for positional arguments: 0/-1, no message.
int mw_cliopt_parse_int (const char *text, int64_t lo, int64_t hi, int64_t *out);
int mw_cliopt_parse_double (const char *text, double lo, double hi, double *out);

int mw_cliopt_test (bool verbose);

#endif
