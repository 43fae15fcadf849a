/*  =========================================================================
    mw_json - json-c helpers (see json.h).
    ========================================================================= */
#include "common/json.h"
#include "common/selftest.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARSE_DEPTH 32

//  Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there
//  are not one (stray continuation, overlong form, surrogate, > U+10FFFF,
//  truncated).  s points at a non-NUL byte.
static size_t
s_utf8_len (const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)   //  also stops at the NUL
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
        || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

size_t
mw_json_utf8_seq (const char *s)
{
    assert (s && *s);
    return s_utf8_len ((const unsigned char *) s);
}

bool
mw_json_utf8_valid (const char *s)
{
    for (const unsigned char *p = (const unsigned char *) s; *p;) {
        size_t n = s_utf8_len (p);
        if (!n)
            return false;
        p += n;
    }
    return true;
}

char *
mw_json_utf8 (const char *s, char *out, size_t cap)
{
    assert (out && cap >= 4);
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p;) {
        size_t n = s_utf8_len (p);
        const char *src = (const char *) p;
        size_t len = n;
        if (!n) {
            src = "\xef\xbf\xbd";   //  U+FFFD
            len = 3;
            n = 1;
        }
        if (o + len >= cap)
            break;
        memcpy (out + o, src, len);
        o += len;
        p += n;
    }
    out[o] = 0;
    return out;
}

json_object *
mw_json_str (const char *s)
{
    if (!s)
        return NULL;
    if (mw_json_utf8_valid (s))
        return json_object_new_string (s);
    size_t cap = strlen (s) * 3 + 4;
    char *clean = malloc (cap);
    if (!clean)
        return NULL;
    json_object *o = json_object_new_string (mw_json_utf8 (s, clean, cap));
    free (clean);
    return o;
}

json_object *
mw_json_num (double v, int decimals)
{
    assert (decimals >= -1 && decimals <= 9);
    if (!isfinite (v))
        return NULL;
    char text[64];
    if (decimals < 0)
        snprintf (text, sizeof text, "%g", v);
    else
        snprintf (text, sizeof text, "%.*f", decimals, v);
    if (!strcmp (text, "-0") || !strncmp (text, "-0.", 3)) {
        //  "-0.0": a tiny negative rounded away; print it as zero.
        bool zero = true;
        for (const char *p = text + 1; *p; p++)
            zero &= *p == '0' || *p == '.';
        if (zero)
            memmove (text, text + 1, strlen (text));
    }
    return json_object_new_double_s (strtod (text, NULL), text);
}

json_object *
mw_json_u64 (uint64_t v)
{
#if JSON_C_VERSION_NUM >= (14 << 8)
    return json_object_new_uint64 (v);
#else
    if (v <= INT64_MAX)
        return json_object_new_int64 ((int64_t) v);
    char text[32];
    snprintf (text, sizeof text, "%" PRIu64, v);
    return json_object_new_double_s ((double) v, text);
#endif
}

json_object *
mw_json_i64 (int64_t v)
{
    return json_object_new_int64 (v);
}

json_object *
mw_json_bool (bool v)
{
    return json_object_new_boolean (v ? 1 : 0);
}

void
mw_json_add (json_object *obj, const char *key, json_object *val)
{
    assert (obj && key);
    json_object_object_add (obj, key, val);
}

const char *
mw_json_text (json_object *o, bool pretty)
{
    int flags = JSON_C_TO_STRING_NOSLASHESCAPE
                | (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
    return json_object_to_json_string_ext (o, flags);
}

json_object *
mw_json_parse (const char *text, size_t len, char *err, size_t errlen)
{
    if (err && errlen)
        *err = 0;
    if (!text || len > INT32_MAX) {
        if (err)
            snprintf (err, errlen, "no text");
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex (PARSE_DEPTH);
    if (!tok) {
        if (err)
            snprintf (err, errlen, "out of memory");
        return NULL;
    }
    json_tokener_set_flags (tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex (tok, text, (int) len);
    enum json_tokener_error e = json_tokener_get_error (tok);
#if JSON_C_VERSION_NUM >= (15 << 8)
    size_t end = json_tokener_get_parse_end (tok);
#else
    size_t end = (size_t) tok->char_offset;
#endif
    json_tokener_free (tok);
    if (!o || e != json_tokener_success) {
        if (err)
            snprintf (err, errlen, "%s at byte %zu",
                      e == json_tokener_continue ? "truncated document" : json_tokener_error_desc (e), end);
        json_object_put (o);
        return NULL;
    }
    for (size_t i = end; i < len; i++)
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') {
            if (err)
                snprintf (err, errlen, "trailing bytes after the document at byte %zu", i);
            json_object_put (o);
            return NULL;
        }
    return o;
}

json_object *
mw_json_get (json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (obj && json_object_is_type (obj, json_type_object) && json_object_object_get_ex (obj, key, &v))
        return v;
    return NULL;
}

const char *
mw_json_get_str (json_object *obj, const char *key, const char *dflt)
{
    json_object *v = mw_json_get (obj, key);
    return v && json_object_is_type (v, json_type_string) ? json_object_get_string (v) : dflt;
}

double
mw_json_get_num (json_object *obj, const char *key, double dflt)
{
    json_object *v = mw_json_get (obj, key);
    return v && (json_object_is_type (v, json_type_int) || json_object_is_type (v, json_type_double))
               ? json_object_get_double (v)
               : dflt;
}

int64_t
mw_json_get_int (json_object *obj, const char *key, int64_t dflt)
{
    json_object *v = mw_json_get (obj, key);
    return v && json_object_is_type (v, json_type_int) ? json_object_get_int64 (v) : dflt;
}

uint64_t
mw_json_get_u64 (json_object *obj, const char *key, uint64_t dflt)
{
    json_object *v = mw_json_get (obj, key);
    if (!v || !json_object_is_type (v, json_type_int))
        return dflt;
#if JSON_C_VERSION_NUM >= (14 << 8)
    return json_object_get_uint64 (v);
#else
    int64_t i = json_object_get_int64 (v);
    return i < 0 ? dflt : (uint64_t) i;
#endif
}

bool
mw_json_get_bool (json_object *obj, const char *key, bool dflt)
{
    json_object *v = mw_json_get (obj, key);
    return v && json_object_is_type (v, json_type_boolean) ? json_object_get_boolean (v) : dflt;
}

bool
mw_json_is_null (json_object *obj, const char *key)
{
    json_object *v = NULL;
    return obj && json_object_is_type (obj, json_type_object) && json_object_object_get_ex (obj, key, &v)
           && v == NULL;
}

//  --------------------------------------------------------------------------
//  Selftest

int
mw_json_test (bool verbose)
{
    int rc = 0;
    //  Hostile strings survive a round trip through text.
    const char *hostile[] = {"a\"b",    "back\\slash", "new\nline", "brace}{", "ctl\x01\x1f\x7f",
                             "ünï ☃ 😀", "</script>",   ""};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        json_object *o = json_object_new_object ();
        mw_json_add (o, "s", mw_json_str (hostile[i]));
        const char *text = mw_json_text (o, i % 2);
        char err[128];
        json_object *back = mw_json_parse (text, strlen (text), err, sizeof err);
        CHECK (back && !strcmp (mw_json_get_str (back, "s", "?"), hostile[i]), "round trip %zu: %s (%s)", i,
               text, err);
        CHECK (!strchr (text, '\x01') && (i % 2 || !strchr (text, '\n')), "raw control byte in %s", text);
        if (verbose)
            printf ("  %s\n", text);
        json_object_put (back);
        json_object_put (o);
    }
    //  Invalid UTF-8 becomes U+FFFD; the text stays valid.
    const char *bad[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok\xe2\x82"};
    const char *want[] = {"\xef\xbf\xbd",
                          "a\xef\xbf\xbd",
                          "\xef\xbf\xbd\xef\xbf\xbd",
                          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
                          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
                          "ok\xef\xbf\xbd\xef\xbf\xbd"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_object *s = mw_json_str (bad[i]);
        CHECK (s && !strcmp (json_object_get_string (s), want[i]), "utf8 %zu", i);
        json_object_put (s);
    }
    char small[8];
    CHECK (!strcmp (mw_json_utf8 ("ab☃", small, 5), "ab"), "truncation splits a character");
    CHECK (mw_json_str (NULL) == NULL, "NULL is null");

    //  Numbers: documented precision, no NaN, no -0, full u64.
    json_object *o = json_object_new_object ();
    mw_json_add (o, "ms", mw_json_num (12.345, 1));
    mw_json_add (o, "conf", mw_json_num (0.8125, 3));
    mw_json_add (o, "nan", mw_json_num (NAN, 2));
    mw_json_add (o, "inf", mw_json_num (INFINITY, 2));
    mw_json_add (o, "negz", mw_json_num (-0.0001, 2));
    mw_json_add (o, "max", mw_json_u64 (UINT64_MAX));
    mw_json_add (o, "neg", mw_json_i64 (-5));
    mw_json_add (o, "g", mw_json_num (20.5, -1));
    mw_json_add (o, "yes", mw_json_bool (true));
    mw_json_add (o, "path", mw_json_str ("tcp://10.0.0.1:7946"));
    const char *text = mw_json_text (o, false);
    const char *expect =
        "{\"ms\":12.3,\"conf\":0.812,\"nan\":null,\"inf\":null,\"negz\":0.00,"
        "\"max\":18446744073709551615,\"neg\":-5,\"g\":20.5,\"yes\":true,\"path\":\"tcp://10.0.0.1:7946\"}";
    CHECK (!strcmp (text, expect), "numbers: %s", text);
    char err[128];
    json_object *back = mw_json_parse (text, strlen (text), err, sizeof err);
    CHECK (back, "parse own text: %s", err);
    CHECK (mw_json_get_num (back, "ms", 0) == 12.3 && mw_json_get_num (back, "neg", 0) == -5, "get_num");
    CHECK (mw_json_get_int (back, "neg", 0) == -5 && mw_json_get_int (back, "ms", 7) == 7, "get_int");
    CHECK (mw_json_get_u64 (back, "max", 0) == UINT64_MAX && mw_json_get_u64 (back, "ms", 9) == 9, "get_u64");
    CHECK (mw_json_get_bool (back, "yes", false) && !mw_json_get_bool (back, "ms", false), "get_bool");
    CHECK (mw_json_is_null (back, "nan") && !mw_json_is_null (back, "ms") && !mw_json_is_null (back, "zz"),
           "is_null");
    CHECK (!strcmp (mw_json_get_str (back, "missing", "d"), "d")
               && !strcmp (mw_json_get_str (back, "ms", "d"), "d"),
           "get_str default");
    json_object_put (back);
    json_object_put (o);

    //  Strict parsing: garbage, truncation, trailing bytes, depth bombs.
    const char *refused[] = {"", "{", "{\"a\":1} x", "[1,]", "nul", "{\"a\":1}{}"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        json_object *r = mw_json_parse (refused[i], strlen (refused[i]), err, sizeof err);
        CHECK (r == NULL && *err, "accepted %s", refused[i]);
        json_object_put (r);
    }
    char deep[200];
    memset (deep, '[', 100);
    memset (deep + 100, ']', 100);
    json_object *r = mw_json_parse (deep, sizeof deep, err, sizeof err);
    CHECK (r == NULL, "depth 100 accepted");
    json_object_put (r);
    r = mw_json_parse (" [1, 2]\n", 8, err, sizeof err);
    CHECK (r && json_object_array_length (r) == 2, "white space around: %s", err);
    json_object_put (r);
    return rc;
}
