/*  =========================================================================
    mw_cliopt - command-line options of a meshwatch subcommand (see
    cliopt.h).

    Every argument is checked against the option table *before* getopt_long
    runs (s_prescan): getopt_long's own diagnostics name the wrong thing
    often enough (it accepts abbreviations, takes `--help` as the value of
    `--camera`, and after an error its optind does not always point at the
    offending word), and the CLI must say exactly which word it refused.
    getopt_long then only parses what is known to be well formed.
    ========================================================================= */
#include "common/cliopt.h"
#include "common/selftest.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct _mw_cliopt_t {
    const char *cmd;
    int argc;
    char **argv;
    const struct option *opts;
    char shortopts[64];
    const char *arg;
    char name[64];
    bool checked;   //  s_prescan ran
    bool ended;     //  getopt_long returned -1
};

bool
mw_cliopt_wants_help (int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--") == 0)
            break;
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
            return true;
    }
    return false;
}

mw_cliopt_t *
mw_cliopt_new (const char *cmd, int argc, char **argv, const struct option *opts)
{
    assert (cmd && argv && opts && argc >= 1);
    mw_cliopt_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cmd = cmd;
    self->argc = argc;
    self->argv = argv;
    self->opts = opts;
    //  ':' first: a missing value is reported as such, not as unknown.
    size_t n = 0;
    self->shortopts[n++] = ':';
    for (const struct option *o = opts; o->name && n + 3 < sizeof self->shortopts; o++)
        if (!o->flag && o->val > 0 && o->val < 128 && isalnum (o->val)) {
            self->shortopts[n++] = (char) o->val;
            if (o->has_arg == required_argument)
                self->shortopts[n++] = ':';
        }
    self->shortopts[n] = 0;
    return self;
}

void
mw_cliopt_destroy (mw_cliopt_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

int
mw_cliopt_fail (const char *cmd, const char *fmt, ...)
{
    fprintf (stderr, "meshwatch %s: ", cmd);
    va_list ap;
    va_start (ap, fmt);
    vfprintf (stderr, fmt, ap);
    va_end (ap);
    fputc ('\n', stderr);
    return 2;
}

static const struct option *
s_find_long (const struct option *opts, const char *name, size_t len)
{
    for (const struct option *o = opts; o->name; o++)
        if (strlen (o->name) == len && strncmp (o->name, name, len) == 0)
            return o;
    return NULL;
}

static const struct option *
s_find_short (const struct option *opts, int c)
{
    for (const struct option *o = opts; o->name; o++)
        if (!o->flag && o->val == c && c < 128)
            return o;
    return NULL;
}

//  The same walk getopt_long makes (a required value is the next word, or
//  follows '='; `--` ends the options; other words are positional), with
//  exact names only.  0, or -1 after the one-line message.
static int
s_prescan (mw_cliopt_t *self)
{
    for (int i = 1; i < self->argc; i++) {
        const char *t = self->argv[i];
        if (strcmp (t, "--") == 0)
            break;
        if (t[0] != '-' || t[1] == 0)
            continue;
        const struct option *o = NULL;
        const char *eq = NULL;
        char shown[80];
        if (t[1] == '-') {
            eq = strchr (t + 2, '=');
            size_t len = eq ? (size_t) (eq - (t + 2)) : strlen (t + 2);
            o = s_find_long (self->opts, t + 2, len);
            snprintf (shown, sizeof shown, "--%.*s", (int) (len < 60 ? len : 60), t + 2);
        }
        else {
            //  Short options only one per word (no "-hx" clusters).
            o = t[2] == 0 ? s_find_short (self->opts, t[1]) : NULL;
            snprintf (shown, sizeof shown, "%.60s", t);
        }
        if (!o) {
            mw_cliopt_fail (self->cmd, "unknown option '%s'", shown);
            return -1;
        }
        if (o->has_arg == no_argument && eq) {
            mw_cliopt_fail (self->cmd, "option '%s' takes no value", shown);
            return -1;
        }
        if (o->has_arg == required_argument) {
            const char *v = eq ? eq + 1 : (i + 1 < self->argc ? self->argv[i + 1] : NULL);
            //  "--camera --help" is a forgotten value, not a camera.
            if (!v || !*v || strncmp (v, "--", 2) == 0) {
                mw_cliopt_fail (self->cmd, "option '%s' needs a value", shown);
                return -1;
            }
            if (!eq)
                i++;
        }
    }
    return 0;
}

int
mw_cliopt_next (mw_cliopt_t *self)
{
    assert (self);
    if (self->ended)
        return MW_CLIOPT_END;
    if (!self->checked) {
        self->checked = true;
        if (s_prescan (self) != 0) {
            self->ended = true;
            return MW_CLIOPT_ERROR;
        }
        optind = 0;   //  GNU: re-initialise completely (argv may differ)
        opterr = 0;
    }
    int idx = -1;
    optarg = NULL;
    int c = getopt_long (self->argc, self->argv, self->shortopts, self->opts, &idx);
    if (c == -1) {
        self->ended = true;
        return MW_CLIOPT_END;
    }
    if (c == '?' || c == ':') {
        //  s_prescan refuses everything getopt_long would; kept in case.
        self->ended = true;
        mw_cliopt_fail (self->cmd, "bad option '%.60s'", optind > 0 ? self->argv[optind - 1] : "?");
        return MW_CLIOPT_ERROR;
    }
    self->arg = optarg;
    if (idx >= 0)
        snprintf (self->name, sizeof self->name, "--%.60s", self->opts[idx].name);
    else
        snprintf (self->name, sizeof self->name, "-%c", c);
    return c;
}

const char *
mw_cliopt_arg (mw_cliopt_t *self)
{
    assert (self);
    return self->arg;
}

const char *
mw_cliopt_name (mw_cliopt_t *self)
{
    assert (self);
    return self->name;
}

int
mw_cliopt_parse_int (const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    //  strtoll would skip leading spaces and take "+5": a number is digits.
    if (!text
        || !(isdigit ((unsigned char) text[0]) || (text[0] == '-' && isdigit ((unsigned char) text[1]))))
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll (text, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int
mw_cliopt_parse_double (const char *text, double lo, double hi, double *out)
{
    if (!text || !(isdigit ((unsigned char) text[0]) || text[0] == '.' || text[0] == '-'))
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || end == text || *end || !isfinite (v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int
mw_cliopt_int (mw_cliopt_t *self, int64_t lo, int64_t hi, int64_t *out)
{
    assert (self);
    if (mw_cliopt_parse_int (self->arg, lo, hi, out) == 0)
        return 0;
    mw_cliopt_fail (self->cmd, "%s: '%.40s' is not an integer in %lld..%lld", self->name,
                    self->arg ? self->arg : "", (long long) lo, (long long) hi);
    return -1;
}

int
mw_cliopt_double (mw_cliopt_t *self, double lo, double hi, double *out)
{
    assert (self);
    if (mw_cliopt_parse_double (self->arg, lo, hi, out) == 0)
        return 0;
    mw_cliopt_fail (self->cmd, "%s: '%.40s' is not a number in %g..%g", self->name,
                    self->arg ? self->arg : "", lo, hi);
    return -1;
}

char **
mw_cliopt_rest (mw_cliopt_t *self, int *count)
{
    assert (self && count);
    if (!self->ended || optind > self->argc) {
        *count = 0;
        return self->argv + self->argc;
    }
    *count = self->argc - optind;
    return self->argv + optind;
}

int
mw_cliopt_no_rest (mw_cliopt_t *self)
{
    int n = 0;
    char **rest = mw_cliopt_rest (self, &n);
    if (n == 0)
        return 0;
    mw_cliopt_fail (self->cmd, "unexpected argument '%.60s'", rest[0]);
    return -1;
}

//  --------------------------------------------------------------------------
//  Selftest

enum { T_STATE_DIR = 256, T_JSON, T_COUNT };
static const struct option s_test_opts[] = {{"state-dir", required_argument, NULL, T_STATE_DIR},
                                            {"json", no_argument, NULL, T_JSON},
                                            {"count", required_argument, NULL, T_COUNT},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};

//  Parse argv; returns MW_CLIOPT_ERROR or the number of options seen, and
//  fills the state dir, the json flag and the positional arguments.
static int
s_run (int argc, char **argv, const char **dir, bool *json, int *n_rest, char ***rest)
{
    mw_cliopt_t *p = mw_cliopt_new ("test", argc, argv, s_test_opts);
    if (!p)
        return MW_CLIOPT_ERROR;
    int c, n = 0;
    *dir = NULL;
    *json = false;
    while ((c = mw_cliopt_next (p)) >= 0) {
        n++;
        if (c == T_STATE_DIR)
            *dir = mw_cliopt_arg (p);
        else if (c == T_JSON)
            *json = true;
        else if (c == T_COUNT) {
            int64_t v;
            if (mw_cliopt_int (p, 1, 100, &v) != 0) {
                c = MW_CLIOPT_ERROR;
                break;
            }
        }
    }
    *rest = mw_cliopt_rest (p, n_rest);
    mw_cliopt_destroy (&p);
    return c == MW_CLIOPT_ERROR ? MW_CLIOPT_ERROR : n;
}

#define ARGV(...) ((char *[]){"test", __VA_ARGS__, NULL})
#define ARGC(...) ((int) (sizeof ((char *[]){"test", __VA_ARGS__}) / sizeof (char *)))
#define RUN(...)  s_run (ARGC (__VA_ARGS__), ARGV (__VA_ARGS__), &dir, &json, &n_rest, &rest)

int
mw_cliopt_test (bool verbose)
{
    int rc = 0;
    //  The refusals print one line each; keep them out of the test output.
    fflush (stderr);
    int saved = dup (2);
    if (!verbose) {
        int null = open ("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2 (null, 2);
            close (null);
        }
    }
    const char *dir = NULL;
    bool json = false;
    int n_rest = 0;
    char **rest = NULL;

    CHECK (mw_cliopt_wants_help (ARGC ("--json", "--help"), ARGV ("--json", "--help")), "--help");
    CHECK (mw_cliopt_wants_help (ARGC ("--bogus", "-h"), ARGV ("--bogus", "-h")), "-h after a bad option");
    CHECK (!mw_cliopt_wants_help (ARGC ("--", "--help"), ARGV ("--", "--help")), "--help after --");
    CHECK (!mw_cliopt_wants_help (ARGC ("--helpme"), ARGV ("--helpme")), "--helpme is not help");

    CHECK (RUN ("--state-dir", "/x", "--json") == 2 && dir && !strcmp (dir, "/x") && json && n_rest == 0,
           "two options");
    CHECK (RUN ("--state-dir=/y") == 1 && dir && !strcmp (dir, "/y"), "--name=value");
    CHECK (RUN ("--stat-dir", "/x") == MW_CLIOPT_ERROR, "a misspelt option");
    CHECK (RUN ("--js") == MW_CLIOPT_ERROR, "an abbreviation");
    CHECK (RUN ("--state") == MW_CLIOPT_ERROR, "an abbreviation of an option with a value");
    CHECK (RUN ("--json=1") == MW_CLIOPT_ERROR, "a value for a flag");
    CHECK (RUN ("--json", "--state-dir") == MW_CLIOPT_ERROR, "a missing value at the end");
    CHECK (RUN ("--state-dir", "--json") == MW_CLIOPT_ERROR, "an option as the value");
    CHECK (RUN ("--state-dir", "") == MW_CLIOPT_ERROR, "an empty value");
    CHECK (RUN ("--state-dir=") == MW_CLIOPT_ERROR, "an empty value after =");
    CHECK (RUN ("-x") == MW_CLIOPT_ERROR, "an unknown short option");
    CHECK (RUN ("-hx") == MW_CLIOPT_ERROR, "a cluster");
    CHECK (RUN ("--count", "7") == 1, "a number in range");
    CHECK (RUN ("--count", "0") == MW_CLIOPT_ERROR, "a number out of range");
    CHECK (RUN ("--count", "7x") == MW_CLIOPT_ERROR, "not a number");
    CHECK (RUN ("--count", " 7") == MW_CLIOPT_ERROR, "a leading space");
    CHECK (RUN ("5", "--state-dir", "/z", "1.5") == 1 && n_rest == 2 && !strcmp (rest[0], "5")
               && !strcmp (rest[1], "1.5") && !strcmp (dir, "/z"),
           "positional arguments around options");
    CHECK (RUN ("a", "--", "--json") == 0 && n_rest == 2 && !strcmp (rest[1], "--json") && !json,
           "everything after -- is positional");
    CHECK (RUN ("-") == 0 && n_rest == 1, "'-' is positional");
    //  A second parser starts afresh (getopt_long's state is global).
    CHECK (RUN ("--json") == 1 && json && n_rest == 0, "parsers do not share state");

    int64_t i = 0;
    double d = 0;
    CHECK (mw_cliopt_parse_int ("4294967295", 0, 4294967295LL, &i) == 0 && i == 4294967295LL, "u32 max");
    CHECK (mw_cliopt_parse_int ("-1", 0, 10, &i) != 0, "below range");
    CHECK (mw_cliopt_parse_int ("99999999999999999999", 0, INT64_MAX, &i) != 0, "overflow");
    CHECK (mw_cliopt_parse_int ("+3", 0, 10, &i) != 0, "a plus sign");
    CHECK (mw_cliopt_parse_double ("2.5", 0, 10, &d) == 0 && d == 2.5, "a decimal");
    CHECK (mw_cliopt_parse_double ("nan", 0, 10, &d) != 0 && mw_cliopt_parse_double ("inf", 0, 1e9, &d) != 0,
           "nan and inf");
    CHECK (mw_cliopt_parse_double ("1e3", 0, 10, &d) != 0, "above range");

    fflush (stderr);
    if (saved >= 0) {
        dup2 (saved, 2);
        close (saved);
    }
    if (verbose)
        printf ("cliopt: %s\n", rc == 0 ? "all cases pass" : "failures above");
    return rc;
}
