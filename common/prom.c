/*  =========================================================================
    mw_prom - Prometheus exposition writer (see prom.h).
    ========================================================================= */
#include "common/prom.h"
#include "common/json.h"
#include "common/selftest.h"
#include "common/strbuf.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _mw_prom_t {
    mw_strbuf_t *buf;
};

mw_prom_t *
mw_prom_new (void)
{
    mw_prom_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->buf = mw_strbuf_new ();
    if (!self->buf) {
        free (self);
        return NULL;
    }
    return self;
}

void
mw_prom_destroy (mw_prom_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        mw_strbuf_destroy (&(*self_p)->buf);
        free (*self_p);
        *self_p = NULL;
    }
}

//  [a-zA-Z_:][a-zA-Z0-9_:]* for metric names, without ':' for labels.
static bool
s_name_ok (const char *name, bool metric)
{
    if (!name || !*name || (*name >= '0' && *name <= '9'))
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
              || (metric && c == ':')))
            return false;
    }
    return true;
}

//  Escaped text: `\` and newline always, `"` in label values only.
static void
s_escaped (mw_strbuf_t *b, const char *value, bool quote)
{
    size_t cap = strlen (value) * 3 + 4;
    char stack[256];
    char *clean = cap <= sizeof stack ? stack : malloc (cap);
    if (!clean) {
        mw_strbuf_printf (b, "?");
        return;
    }
    mw_json_utf8 (value, clean, cap);
    const char *run = clean;
    for (const char *p = clean;; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : quote && *p == '"' ? "\\\"" : NULL;
        if (esc || !*p) {
            if (p > run)
                mw_strbuf_printf (b, "%.*s", (int) (p - run), run);
            if (!*p)
                break;
            mw_strbuf_printf (b, "%s", esc);
            run = p + 1;
        }
    }
    if (clean != stack)
        free (clean);
}

void
mw_prom_family (mw_prom_t *self, const char *name, const char *type, const char *help)
{
    assert (self);
    assert (s_name_ok (name, true));
    assert (type
            && (!strcmp (type, "counter") || !strcmp (type, "gauge") || !strcmp (type, "histogram")
                || !strcmp (type, "summary") || !strcmp (type, "untyped")));
    mw_strbuf_printf (self->buf, "# HELP %s ", name);
    s_escaped (self->buf, help ? help : "", false);
    mw_strbuf_printf (self->buf, "\n# TYPE %s %s\n", name, type);
}

static void
s_head (mw_prom_t *self, const char *name, va_list ap)
{
    assert (s_name_ok (name, true));
    mw_strbuf_printf (self->buf, "%s", name);
    const char *label = va_arg (ap, const char *);
    for (int n = 0; label; n++) {
        assert (s_name_ok (label, false));
        const char *value = va_arg (ap, const char *);
        mw_strbuf_printf (self->buf, "%s%s=\"", n ? "," : "{", label);
        s_escaped (self->buf, value ? value : "", true);
        mw_strbuf_printf (self->buf, "\"");
        label = va_arg (ap, const char *);
        if (!label)
            mw_strbuf_printf (self->buf, "}");
    }
}

void
mw_prom_u64 (mw_prom_t *self, const char *name, uint64_t v, ...)
{
    assert (self);
    va_list ap;
    va_start (ap, v);
    s_head (self, name, ap);
    va_end (ap);
    mw_strbuf_printf (self->buf, " %" PRIu64 "\n", v);
}

void
mw_prom_num (mw_prom_t *self, const char *name, double v, int decimals, ...)
{
    assert (self);
    va_list ap;
    va_start (ap, decimals);
    s_head (self, name, ap);
    va_end (ap);
    if (isnan (v))
        mw_strbuf_printf (self->buf, " NaN\n");
    else if (isinf (v))
        mw_strbuf_printf (self->buf, " %cInf\n", v > 0 ? '+' : '-');
    else if (decimals < 0)
        mw_strbuf_printf (self->buf, " %g\n", v);
    else
        mw_strbuf_printf (self->buf, " %.*f\n", decimals, v);
}

const char *
mw_prom_text (mw_prom_t *self)
{
    assert (self);
    return mw_strbuf_str (self->buf);
}

size_t
mw_prom_len (mw_prom_t *self)
{
    assert (self);
    return mw_strbuf_len (self->buf);
}

//  --------------------------------------------------------------------------
//  Selftest: the escaping read back the way a Prometheus parser does.

//  Parse `name{l="v",...} value` into the first label's unescaped value.
static int
s_read_label (const char *line, char *out, size_t cap)
{
    const char *p = strchr (line, '"');
    if (!p)
        return -1;
    size_t o = 0;
    for (p++; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\n')
            return -1;   //  a raw newline would end the sample line
        if (c == '\\') {
            p++;
            c = *p == 'n' ? '\n' : *p;
            if (*p != 'n' && *p != '\\' && *p != '"')
                return -1;
        }
        if (o + 1 < cap)
            out[o++] = c;
    }
    out[o] = 0;
    return *p == '"' ? 0 : -1;
}

int
mw_prom_test (bool verbose)
{
    int rc = 0;
    const char *hostile[] = {"plain", "q\"uote", "back\\slash", "new\nline", "}{\",x=\"y", "ünï ☃"};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        mw_prom_t *p = mw_prom_new ();
        mw_prom_u64 (p, "m_total", 7, "name", hostile[i], "peer", "ab", NULL);
        const char *text = mw_prom_text (p);
        char back[64];
        CHECK (s_read_label (text, back, sizeof back) == 0 && !strcmp (back, hostile[i]), "label %zu: %s", i,
               text);
        CHECK (strchr (text, '\n') == text + strlen (text) - 1, "one line: %s", text);
        CHECK (strstr (text, "\",peer=\"ab\"} 7\n") != NULL, "second label: %s", text);
        if (verbose)
            printf ("  %s", text);
        mw_prom_destroy (&p);
    }
    mw_prom_t *p = mw_prom_new ();
    mw_prom_family (p, "m_seconds", "histogram", "Help with a \\ and a\nnewline.");
    mw_prom_num (p, "m_seconds_bucket", 3, 0, "le", "0.5", NULL);
    mw_prom_num (p, "m_gauge", 1.23456, 2, NULL);
    mw_prom_num (p, "m_gauge", INFINITY, 2, NULL);
    mw_prom_num (p, "m_gauge", -INFINITY, 2, NULL);
    mw_prom_num (p, "m_gauge", NAN, 2, NULL);
    mw_prom_num (p, "m_gauge", 0.25, -1, NULL);
    mw_prom_u64 (p, "m_total", UINT64_MAX, NULL);
    mw_prom_u64 (p, "m_bad", 1, "v", "\xff", NULL);
    const char *want = "# HELP m_seconds Help with a \\\\ and a\\nnewline.\n"
                       "# TYPE m_seconds histogram\n"
                       "m_seconds_bucket{le=\"0.5\"} 3\n"
                       "m_gauge 1.23\n"
                       "m_gauge +Inf\n"
                       "m_gauge -Inf\n"
                       "m_gauge NaN\n"
                       "m_gauge 0.25\n"
                       "m_total 18446744073709551615\n"
                       "m_bad{v=\"\xef\xbf\xbd\"} 1\n";
    CHECK (!strcmp (mw_prom_text (p), want), "text:\n%s", mw_prom_text (p));
    CHECK (mw_prom_len (p) == strlen (want), "len");
    mw_prom_destroy (&p);
    CHECK (p == NULL, "destroy nulls");
    CHECK (s_name_ok ("a:b_c9", true) && !s_name_ok ("a:b", false) && !s_name_ok ("9a", true)
               && !s_name_ok ("a-b", true) && !s_name_ok ("", true),
           "name grammar");
    return rc;
}
