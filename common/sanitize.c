/*  =========================================================================
    mw_sanitize - safe forms of untrusted strings (see sanitize.h).
    ========================================================================= */
#include "common/sanitize.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define RING     8
#define RING_LEN 512
#define IN_MAX   256   //  wire strings are at most 96 bytes; longer input is cut

static bool
s_bare_safe (unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || strchr ("._-:/@+,[]%~", c);
}

//  Length of the valid UTF-8 sequence at p (n bytes left) and its code
//  point, or 0 if p does not start one (overlong, surrogate, cut short...).
static size_t
s_utf8 (const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t v;
    unsigned char lo = 0x80, hi = 0xBF;   //  allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, v = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;   //  no overlong
        if (c == 0xED)
            hi = 0x9F;   //  no surrogates
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;   //  nothing above U+10FFFF
    }
    else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    v = v << 6 | (p[1] & 0x3F);
    for (size_t i = 2; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    *cp = v;
    return len;
}

//  Code points that must not reach a terminal or a log raw: C1 controls,
//  and the invisible or direction-changing ones (a bidi override makes a
//  name read backwards; a line separator breaks a line).
static bool
s_cp_unsafe (uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E)
           || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF;
}

typedef struct {
    char *out;
    size_t cap, len;
    size_t keep;   //  room kept for the end: a closing quote, "...", the NUL
    bool cut;
} sink_t;

//  Append n bytes (all or nothing: never half an escape or a character).
static bool
s_put (sink_t *s, const char *p, size_t n)
{
    if (s->cut || s->len + n + s->keep > s->cap) {
        s->cut = true;
        return false;
    }
    memcpy (s->out + s->len, p, n);
    s->len += n;
    return true;
}

char *
mw_sanitize (char *out, size_t cap, const char *in, size_t in_max, mw_sanitize_mode_t mode)
{
    //  Logs mark a cut value with "..." (in its quotes); a terminal cell is
    //  cut silently, its renderer marks it.
    assert (out && (cap >= 8 || (mode == MW_SANITIZE_TERM && cap >= 1)));
    if (!in)
        in = "";
    size_t n = strnlen (in, in_max);
    const unsigned char *p = (const unsigned char *) in;
    bool quote = mode == MW_SANITIZE_LOG_QUOTED || (mode == MW_SANITIZE_LOG && n == 0);
    for (size_t i = 0; i < n && mode == MW_SANITIZE_LOG && !quote; i++)
        quote = !s_bare_safe (p[i]);
    sink_t s = {out, cap, 0, mode == MW_SANITIZE_TERM ? 1 : 5, false};
    if (quote)
        s_put (&s, "\"", 1);
    for (size_t i = 0; i < n && !s.cut;) {
        unsigned char c = p[i];
        char esc[16];
        uint32_t cp = 0;
        size_t len = c < 0x80 ? 1 : s_utf8 (p + i, n - i, &cp);
        if (c < 0x80) {
            const char *e = NULL;
            if (c == '\n')
                e = "\\n";
            else if (c == '\r')
                e = "\\r";
            else if (c == '\t')
                e = "\\t";
            else if (quote && c == '"')
                e = "\\\"";
            else if (c == '\\')
                e = "\\\\";   //  unambiguous: "\\n" is a backslash and an n
            if (e)
                s_put (&s, e, strlen (e));
            else if (c < 0x20 || c == 0x7F) {
                snprintf (esc, sizeof esc, "\\x%02x", c);
                s_put (&s, esc, 4);
            }
            else
                s_put (&s, (const char *) &c, 1);
        }
        else if (len == 0) {   //  not UTF-8: show the byte
            snprintf (esc, sizeof esc, "\\x%02x", c);
            s_put (&s, esc, 4);
            len = 1;
        }
        else if (s_cp_unsafe (cp)) {
            int k = snprintf (esc, sizeof esc, "\\u%04x", (unsigned) cp);
            s_put (&s, esc, (size_t) k);
        }
        else
            s_put (&s, (const char *) p + i, len);
        if (!s.cut)
            i += len;
    }
    if (s.cut && mode != MW_SANITIZE_TERM) {   //  room was kept for these
        memcpy (out + s.len, "...", 3);
        s.len += 3;
    }
    if (quote)
        out[s.len++] = '"';
    out[s.len] = 0;
    return out;
}

size_t
mw_utf8_len (const char *p, size_t n)
{
    uint32_t cp;
    if (!n)
        return 0;
    if ((unsigned char) p[0] < 0x80)
        return 1;
    return s_utf8 ((const unsigned char *) p, n, &cp);
}

//  --------------------------------------------------------------------------
//  Per-thread buffers for log calls

static __thread char s_ring[RING][RING_LEN];
static __thread unsigned s_ring_next;

static const char *
s_ring_put (const char *in, mw_sanitize_mode_t mode)
{
    char *buf = s_ring[s_ring_next++ % RING];
    return mw_sanitize (buf, RING_LEN, in, IN_MAX, mode);
}

const char *
mw_logv (const char *in)
{
    return s_ring_put (in, MW_SANITIZE_LOG);
}

const char *
mw_logq (const char *in)
{
    return s_ring_put (in, MW_SANITIZE_LOG_QUOTED);
}

const char *
mw_termv (const char *in)
{
    return s_ring_put (in, MW_SANITIZE_TERM);
}

//  --------------------------------------------------------------------------
//  Selftest

int
mw_sanitize_test (bool verbose)
{
    struct {
        const char *in;
        mw_sanitize_mode_t mode;
        const char *want;
    } cases[] = {
        {"edge-07", MW_SANITIZE_LOG, "edge-07"},
        {"tcp://10.0.0.1:7946", MW_SANITIZE_LOG, "tcp://10.0.0.1:7946"},
        {"tcp://[fe80::1]:7946", MW_SANITIZE_LOG, "tcp://[fe80::1]:7946"},
        {"", MW_SANITIZE_LOG, "\"\""},
        {NULL, MW_SANITIZE_LOG, "\"\""},
        {"a b", MW_SANITIZE_LOG, "\"a b\""},
        {"x=1", MW_SANITIZE_LOG, "\"x=1\""},
        //  a forged second line and a forged key
        {"n1\nts=2026 level=error event=fake", MW_SANITIZE_LOG, "\"n1\\nts=2026 level=error event=fake\""},
        {"a\" peer=evil", MW_SANITIZE_LOG, "\"a\\\" peer=evil\""},
        {"back\\slash", MW_SANITIZE_LOG, "\"back\\\\slash\""},
        {"tab\there\r", MW_SANITIZE_LOG, "\"tab\\there\\r\""},
        //  terminal escapes: clear screen, set title, bell, DEL
        {"\x1b[2J\x1b]0;pwned\x07", MW_SANITIZE_TERM, "\\x1b[2J\\x1b]0;pwned\\x07"},
        {"del\x7f", MW_SANITIZE_TERM, "del\\x7f"},
        //  valid UTF-8 stays, quoted in logs (a non-ASCII space splits fields)
        {"caf\xc3\xa9", MW_SANITIZE_LOG, "\"caf\xc3\xa9\""},
        {"caf\xc3\xa9", MW_SANITIZE_TERM, "caf\xc3\xa9"},
        {"\xe6\x9d\xb1\xe4\xba\xac", MW_SANITIZE_TERM, "\xe6\x9d\xb1\xe4\xba\xac"},
        //  not UTF-8: stray continuation, overlong, surrogate, cut short
        {"a\x80z", MW_SANITIZE_TERM, "a\\x80z"},
        {"\xc0\xaf", MW_SANITIZE_TERM, "\\xc0\\xaf"},
        {"\xed\xa0\x80", MW_SANITIZE_TERM, "\\xed\\xa0\\x80"},
        {"\xe6\x9d", MW_SANITIZE_TERM, "\\xe6\\x9d"},
        {"\xf4\x90\x80\x80", MW_SANITIZE_TERM, "\\xf4\\x90\\x80\\x80"},
        //  C1 control (U+009B is CSI on some terminals), bidi override, BOM
        {"x\xc2\x9b"
         "2Jy",
         MW_SANITIZE_TERM, "x\\u009b2Jy"},
        {"evil\xe2\x80\xaegpj.exe", MW_SANITIZE_TERM, "evil\\u202egpj.exe"},
        {"\xef\xbb\xbfname", MW_SANITIZE_LOG, "\"\\ufeffname\""},
        {"quoted", MW_SANITIZE_LOG_QUOTED, "\"quoted\""},
        {"q\"t", MW_SANITIZE_TERM, "q\"t"},
        {"a\\n", MW_SANITIZE_TERM, "a\\\\n"},   //  a backslash and an n: not a newline
        //  terminal cells cut silently on a character (their renderer marks it)
    };
    int rc = 0;
    char buf[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mw_sanitize (buf, sizeof buf, cases[i].in, 200, cases[i].mode);
        if (strcmp (buf, cases[i].want)) {
            printf ("mw_sanitize case %zu: got [%s], want [%s]\n", i, buf, cases[i].want);
            rc = -1;
        }
    }
    //  in_max bounds the read (an unterminated wire field)
    char raw[4] = {'a', 'b', 'c', 'd'};
    if (strcmp (mw_sanitize (buf, sizeof buf, raw, 3, MW_SANITIZE_LOG), "abc"))
        rc = -1;
    //  Truncation: terminated, marked, quote closed, never half an escape.
    char small[16];
    mw_sanitize (small, sizeof small, "\x01\x01\x01\x01\x01", 100, MW_SANITIZE_LOG);
    if (strcmp (small, "\"\\x01\\x01...\"")) {
        printf ("mw_sanitize truncation: [%s]\n", small);
        rc = -1;
    }
    char tiny[7];
    if (strcmp (
            mw_sanitize (tiny, sizeof tiny, "\xe2\x98\x83\xe2\x98\x83\xe2\x98\x83", 100, MW_SANITIZE_TERM),
            "\xe2\x98\x83\xe2\x98\x83")) {
        printf ("mw_sanitize terminal cut: [%s]\n", tiny);
        rc = -1;
    }
    //  Every byte value, every mode: no raw control byte comes out, and a
    //  quoted value has no unescaped quote inside.
    char all[256], out[2048];
    for (int mode = 0; mode < 3; mode++)
        for (int start = 1; start < 256; start++) {
            for (int k = 0; k < 255; k++)
                all[k] = (char) (((start + k) % 255) + 1);
            all[255] = 0;
            mw_sanitize (out, sizeof out, all, 256, (mw_sanitize_mode_t) mode);
            size_t len = strlen (out);
            for (size_t k = 0; k < len; k++) {
                unsigned char c = (unsigned char) out[k];
                if (c < 0x20 || c == 0x7F)
                    rc = -1;
                if (mode != MW_SANITIZE_TERM && c == '"' && k > 0 && k < len - 1 && out[k - 1] != '\\')
                    rc = -1;
                if (mode != MW_SANITIZE_TERM && (c == ' ' || c == '=') && out[0] != '"')
                    rc = -1;
            }
        }
    //  The ring: 8 distinct results usable in one call.
    const char *r[8];
    for (int i = 0; i < 8; i++)
        r[i] = mw_logv (i % 2 ? "a b" : "ok");
    for (int i = 0; i < 8; i++)
        if (strcmp (r[i], i % 2 ? "\"a b\"" : "ok"))
            rc = -1;
    if (strcmp (mw_logq ("x"), "\"x\"") || strcmp (mw_termv ("\x1b"), "\\x1b"))
        rc = -1;
    if (verbose)
        printf (" * mw_sanitize: %s, e.g. %s\n", rc ? "FAILED" : "ok", mw_logv ("evil\n\xe2\x80\xae\"name"));
    return rc;
}
