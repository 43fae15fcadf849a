/*  =========================================================================
    pkg_meta - signed package metadata and the trust decision (see meta.h).
    ========================================================================= */
#include "pkg/meta.h"
#include "common/selftest.h"

#include <errno.h>
#include <json.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_refuse[PKG_REFUSE_COUNT] = {
    "ok",      "malformed", "unsigned",          "untrusted_key", "bad_signature", "rollback",
    "expired", "conflict",  "tampered_manifest", "tampered_blob", "bad_piece",     "too_large",
};
static const char *s_kinds[PKG_KIND_COUNT] = {"model", "exec", "oci-image"};

const char *
pkg_refuse_name (pkg_refuse_t r)
{
    return r >= 0 && r < PKG_REFUSE_COUNT ? s_refuse[r] : "unknown";
}

const char *
pkg_kind_name (pkg_kind_t k)
{
    return k >= 0 && k < PKG_KIND_COUNT ? s_kinds[k] : "unknown";
}

int
pkg_kind_parse (const char *text)
{
    for (int k = 0; k < PKG_KIND_COUNT; k++)
        if (text && strcmp (text, s_kinds[k]) == 0)
            return k;
    return -1;
}

uint32_t
pkg_meta_piece_size_for (uint64_t size)
{
    if (size == 0 || size > PKG_SIZE_MAX)
        return 0;
    uint32_t ps = PKG_PIECE_MIN;
    //  Grow while the package still has PKG_PIECES_WANT pieces, up to 1 MiB.
    while (ps < 1024u * 1024 && size / ((uint64_t) ps * 2) >= PKG_PIECES_WANT)
        ps *= 2;
    while (pkg_meta_piece_count (size, ps) > PKG_PIECES_MAX && ps < PKG_PIECE_MAX)
        ps *= 2;
    return ps;
}

uint32_t
pkg_meta_piece_count (uint64_t size, uint32_t piece_size)
{
    if (!piece_size)
        return 0;
    uint64_t n = (size + piece_size - 1) / piece_size;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t) n;
}

uint32_t
pkg_meta_piece_len (const pkg_meta_t *m, uint32_t i)
{
    if (i >= m->piece_count)
        return 0;
    uint64_t off = (uint64_t) i * m->piece_size;
    uint64_t left = m->size - off;
    return left < m->piece_size ? (uint32_t) left : m->piece_size;
}

void
pkg_hex (const uint8_t *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = 0;
}

void
pkg_digest_str (const uint8_t d[32], char out[72])
{
    memcpy (out, "sha256:", 7);
    pkg_hex (d, 32, out + 7);
}

static int
s_hexval (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;   //  lower case only: a digest has one spelling
}

int
pkg_digest_parse (const char *s, uint8_t d[32])
{
    if (!s || strncmp (s, "sha256:", 7) != 0 || strlen (s) != 7 + 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        int hi = s_hexval (s[7 + 2 * i]), lo = s_hexval (s[8 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        d[i] = (uint8_t) (hi << 4 | lo);
    }
    return 0;
}

static bool
s_chars_ok (const char *s, size_t max, const char *first, const char *rest)
{
    size_t n = s ? strlen (s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum_lo = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        bool upper = c >= 'A' && c <= 'Z';
        const char *set = i == 0 ? first : rest;
        //  The set string: 'a' = a-z0-9, 'A' = A-Z, anything else literal.
        bool ok = (alnum_lo && strchr (set, 'a')) || (upper && strchr (set, 'A'))
                  || (!alnum_lo && !upper && strchr (set, c) && c != 'a' && c != 'A');
        if (!ok)
            return false;
    }
    return true;
}

bool
pkg_meta_name_ok (const char *s)
{
    return s_chars_ok (s, PKG_NAME_MAX, "a", "a._-");
}

bool
pkg_meta_version_ok (const char *s)
{
    return s_chars_ok (s, PKG_VERSION_MAX, "aA", "aA._+-");
}

typedef struct {
    char k[64], v[64];
} s_kv_t;

static int
s_kv_cmp (const void *a, const void *b)
{
    return strcmp (((const s_kv_t *) a)->k, ((const s_kv_t *) b)->k);
}

int
pkg_meta_variant_canon (const char *in, char *out, size_t cap)
{
    s_kv_t kv[16];
    int n = 0;
    if (!in || !*in) {
        if (cap)
            out[0] = 0;
        return 0;
    }
    const char *p = in;
    while (*p) {
        if (n == 16)
            return -1;
        const char *end = strchr (p, ',');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        const char *eq = memchr (p, '=', len);
        if (!eq)
            return -1;
        size_t kl = (size_t) (eq - p), vl = len - kl - 1;
        if (kl == 0 || kl >= 64 || vl == 0 || vl >= 64)
            return -1;
        memcpy (kv[n].k, p, kl);
        kv[n].k[kl] = 0;
        memcpy (kv[n].v, eq + 1, vl);
        kv[n].v[vl] = 0;
        if (!s_chars_ok (kv[n].k, 63, "a_.-", "a_.-") || !s_chars_ok (kv[n].v, 63, "aA_.+-", "aA_.+-"))
            return -1;
        n++;
        p += len;
        if (*p == ',' && !*++p)
            return -1;   //  a trailing comma
    }
    qsort (kv, (size_t) n, sizeof kv[0], s_kv_cmp);
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && strcmp (kv[i].k, kv[i - 1].k) == 0)
            return -1;
        int w = snprintf (out + used, cap - used, "%s%s=%s", i ? "," : "", kv[i].k, kv[i].v);
        if (w < 0 || (size_t) w >= cap - used)
            return -1;
        used += (size_t) w;
    }
    return used <= PKG_VARIANT_MAX ? 0 : -1;
}

int
pkg_meta_ref_parse (const char *ref, char name[PKG_NAME_MAX + 1], char version[PKG_VERSION_MAX + 1])
{
    const char *at = ref ? strchr (ref, '@') : NULL;
    if (!at || (size_t) (at - ref) > PKG_NAME_MAX || strlen (at + 1) > PKG_VERSION_MAX)
        return -1;
    memcpy (name, ref, (size_t) (at - ref));
    name[at - ref] = 0;
    strcpy (version, at + 1);
    return pkg_meta_name_ok (name) && pkg_meta_version_ok (version) ? 0 : -1;
}

static bool
s_meta_ok (const pkg_meta_t *m, char *err, size_t errlen)
{
    char canon[PKG_VARIANT_MAX + 1];
    if (!pkg_meta_name_ok (m->name))
        snprintf (err, errlen, "bad name");
    else if (!pkg_meta_version_ok (m->version))
        snprintf (err, errlen, "bad version");
    else if (pkg_meta_variant_canon (m->variant, canon, sizeof canon) != 0 || strcmp (canon, m->variant) != 0)
        snprintf (err, errlen, "bad variant (k=v,... sorted by key)");
    else if (m->kind < 0 || m->kind >= PKG_KIND_COUNT)
        snprintf (err, errlen, "bad kind");
    else if (m->seq == 0 || m->seq > (1ull << 53))
        snprintf (err, errlen, "seq out of range");
    else if (m->manifest_size == 0 || m->manifest_size > 65536)
        snprintf (err, errlen, "manifest_size out of range");
    else if (m->size == 0 || m->size > PKG_SIZE_MAX)
        snprintf (err, errlen, "size out of range");
    else if (m->piece_size < PKG_PIECE_MIN || m->piece_size > PKG_PIECE_MAX
             || (m->piece_size & (m->piece_size - 1)) != 0)
        snprintf (err, errlen, "piece_size not a power of two in [%u, %u]", PKG_PIECE_MIN, PKG_PIECE_MAX);
    else if (m->piece_count != pkg_meta_piece_count (m->size, m->piece_size)
             || m->piece_count > PKG_PIECES_MAX)
        snprintf (err, errlen, "piece_count does not match size / piece_size");
    else
        return true;
    return false;
}

char *
pkg_meta_encode (const pkg_meta_t *m, size_t *len)
{
    char err[100];
    if (!s_meta_ok (m, err, sizeof err))
        return NULL;
    char md[72], pd[72];
    pkg_digest_str (m->manifest, md);
    pkg_digest_str (m->pieces, pd);
    json_object *o = json_object_new_object ();
    json_object_object_add (o, "type", json_object_new_string ("meshwatch.package.metadata"));
    json_object_object_add (o, "spec", json_object_new_int (1));
    json_object_object_add (o, "name", json_object_new_string (m->name));
    json_object_object_add (o, "version", json_object_new_string (m->version));
    json_object_object_add (o, "variant", json_object_new_string (m->variant));
    json_object_object_add (o, "kind", json_object_new_string (pkg_kind_name (m->kind)));
    json_object_object_add (o, "seq", json_object_new_int64 ((int64_t) m->seq));
    json_object_object_add (o, "expires", json_object_new_int64 ((int64_t) m->expires));
    json_object_object_add (o, "manifest", json_object_new_string (md));
    json_object_object_add (o, "manifest_size", json_object_new_int64 ((int64_t) m->manifest_size));
    json_object_object_add (o, "size", json_object_new_int64 ((int64_t) m->size));
    json_object_object_add (o, "piece_size", json_object_new_int64 (m->piece_size));
    json_object_object_add (o, "piece_count", json_object_new_int64 (m->piece_count));
    json_object_object_add (o, "pieces", json_object_new_string (pd));
    const char *text =
        json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *out = text ? strdup (text) : NULL;
    if (out && len)
        *len = strlen (out);
    json_object_put (o);
    return out;
}

//  Exact-type field readers.
static const char *
s_str (json_object *o, const char *key, size_t max)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex (o, key, &v) || !json_object_is_type (v, json_type_string))
        return NULL;
    const char *s = json_object_get_string (v);
    return (size_t) json_object_get_string_len (v) <= max
                   && strlen (s) == (size_t) json_object_get_string_len (v)
               ? s
               : NULL;
}

static int
s_u64 (json_object *o, const char *key, uint64_t *out)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex (o, key, &v) || !json_object_is_type (v, json_type_int))
        return -1;
    errno = 0;
    int64_t x = json_object_get_int64 (v);
    if (x < 0 || errno)
        return -1;
    *out = (uint64_t) x;
    return 0;
}

int
pkg_meta_decode (const char *text, size_t len, pkg_meta_t *m, char *err, size_t errlen)
{
    memset (m, 0, sizeof *m);
    if (!text || len == 0 || len > PKG_META_MAX) {
        snprintf (err, errlen, "metadata of %zu bytes (1..%d allowed)", len, PKG_META_MAX);
        return -1;
    }
    json_tokener *tok = json_tokener_new_ex (4);
    if (!tok) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    json_tokener_set_flags (tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex (tok, text, (int) len);
    bool whole = o && json_tokener_get_error (tok) == json_tokener_success
                 && (size_t) json_tokener_get_parse_end (tok) == len;
    json_tokener_free (tok);
    int rc = -1;
    uint64_t spec = 0, ps = 0, pc = 0;
    const char *s;
    if (!whole || !json_object_is_type (o, json_type_object)) {
        snprintf (err, errlen, "metadata is not one JSON object");
        goto done;
    }
    if (!(s = s_str (o, "type", 64)) || strcmp (s, "meshwatch.package.metadata") != 0) {
        snprintf (err, errlen, "metadata type is not meshwatch.package.metadata");
        goto done;
    }
    if (s_u64 (o, "spec", &spec) != 0 || spec != 1) {
        snprintf (err, errlen, "metadata spec is not 1");
        goto done;
    }
#define S_COPY(field, key, max)                                                                              \
    if (!(s = s_str (o, key, max))) {                                                                        \
        snprintf (err, errlen, "metadata field '%s' missing, not a string or too long", key);                \
        goto done;                                                                                           \
    }                                                                                                        \
    strcpy (m->field, s);
    S_COPY (name, "name", PKG_NAME_MAX);
    S_COPY (version, "version", PKG_VERSION_MAX);
    S_COPY (variant, "variant", PKG_VARIANT_MAX);
#undef S_COPY
    int kind = pkg_kind_parse (s_str (o, "kind", 16));
    if (kind < 0) {
        snprintf (err, errlen, "metadata kind is not model, exec or oci-image");
        goto done;
    }
    m->kind = (pkg_kind_t) kind;
    if (s_u64 (o, "seq", &m->seq) || s_u64 (o, "expires", &m->expires)
        || s_u64 (o, "manifest_size", &m->manifest_size) || s_u64 (o, "size", &m->size)
        || s_u64 (o, "piece_size", &ps) || s_u64 (o, "piece_count", &pc)) {
        snprintf (err, errlen, "metadata number missing or not a non-negative integer");
        goto done;
    }
    if (ps > PKG_PIECE_MAX || pc > PKG_PIECES_MAX) {
        snprintf (err, errlen, "piece geometry out of range");
        goto done;
    }
    m->piece_size = (uint32_t) ps;
    m->piece_count = (uint32_t) pc;
    if (pkg_digest_parse (s_str (o, "manifest", 71), m->manifest) != 0
        || pkg_digest_parse (s_str (o, "pieces", 71), m->pieces) != 0) {
        snprintf (err, errlen, "metadata digest is not sha256:<64 lower-case hex>");
        goto done;
    }
    char why[100];
    if (!s_meta_ok (m, why, sizeof why)) {
        snprintf (err, errlen, "metadata: %s", why);
        goto done;
    }
    //  One spelling only: what we would write, byte for byte.  No unknown
    //  or duplicate key, no spacing a second parser could read otherwise.
    size_t clen = 0;
    char *canon = pkg_meta_encode (m, &clen);
    bool same = canon && clen == len && memcmp (canon, text, len) == 0;
    free (canon);
    if (!same) {
        snprintf (err, errlen, "metadata is not in canonical form");
        goto done;
    }
    rc = 0;
done:
    json_object_put (o);
    return rc;
}

pkg_refuse_t
pkg_meta_judge (const pkg_meta_t *m, const pkg_meta_seen_t *seen, uint64_t now_s, char *detail,
                size_t detaillen)
{
    detail[0] = 0;
    if (seen->same_seq_known && seen->same_seq_identical)
        return PKG_OK;   //  known already: nothing changes
    if (m->seq < seen->highest_seq) {
        snprintf (detail, detaillen, "seq %" PRIu64 " is below %" PRIu64 ", already seen for %s%s%s", m->seq,
                  seen->highest_seq, m->name, m->variant[0] ? " " : "", m->variant);
        return PKG_REFUSE_ROLLBACK;
    }
    if (seen->same_seq_known) {
        snprintf (detail, detaillen, "seq %" PRIu64 " of %s is known with other contents", m->seq, m->name);
        return PKG_REFUSE_CONFLICT;
    }
    if (seen->ref_known && !seen->ref_same_manifest) {
        snprintf (detail, detaillen, "%s@%s is known with another manifest", m->name, m->version);
        return PKG_REFUSE_CONFLICT;
    }
    if (m->expires <= now_s) {
        snprintf (detail, detaillen, "expired %" PRIu64 " s ago", now_s - m->expires);
        return PKG_REFUSE_EXPIRED;
    }
    return PKG_OK;
}

int
pkg_meta_test (bool verbose)
{
    int rc = 0;
    char err[256];
    //  Piece sizes: >= 512 pieces where possible, 64 KiB .. 1 MiB, more
    //  only to stay under PKG_PIECES_MAX.
    CHECK (pkg_meta_piece_size_for (0) == 0, "empty");
    CHECK (pkg_meta_piece_size_for (1000) == PKG_PIECE_MIN, "tiny");
    CHECK (pkg_meta_piece_size_for (64ull << 20) == 128u << 10, "64 MiB: %u",
           pkg_meta_piece_size_for (64ull << 20));
    CHECK (pkg_meta_piece_size_for (64000000) == 64u << 10, "64 MB: %u", pkg_meta_piece_size_for (64000000));
    CHECK (pkg_meta_piece_size_for (256ull << 20) == 512u << 10, "256 MiB");
    CHECK (pkg_meta_piece_size_for (1ull << 30) == 1u << 20, "1 GiB");
    CHECK (pkg_meta_piece_size_for (20ull << 30) == 2u << 20, "20 GiB");
    CHECK (pkg_meta_piece_size_for (PKG_SIZE_MAX + 1) == 0, "too large");
    for (uint64_t s = 1; s < PKG_SIZE_MAX; s = s * 3 + 7) {
        uint32_t ps = pkg_meta_piece_size_for (s);
        uint32_t n = pkg_meta_piece_count (s, ps);
        CHECK (ps >= PKG_PIECE_MIN && ps <= PKG_PIECE_MAX && n <= PKG_PIECES_MAX, "size %" PRIu64, s);
        CHECK (n >= PKG_PIECES_WANT || ps == PKG_PIECE_MIN, "size %" PRIu64 ": %u pieces of %u", s, n, ps);
    }

    pkg_meta_t m = {.kind = PKG_KIND_MODEL,
                    .seq = 7,
                    .expires = 2000000000,
                    .manifest_size = 500,
                    .size = 3 * 1048576 + 5,
                    .piece_size = 1048576};
    strcpy (m.name, "facedet");
    strcpy (m.version, "1.2.0+jp5");
    CHECK (pkg_meta_variant_canon ("weather=sunny,arch=arm64", m.variant, sizeof m.variant) == 0
               && strcmp (m.variant, "arch=arm64,weather=sunny") == 0,
           "variant canon: %s", m.variant);
    m.piece_count = pkg_meta_piece_count (m.size, m.piece_size);
    for (int i = 0; i < 32; i++)
        m.manifest[i] = (uint8_t) i, m.pieces[i] = (uint8_t) (255 - i);
    CHECK (pkg_meta_piece_len (&m, 3) == 5 && pkg_meta_piece_len (&m, 0) == 1048576, "piece lengths");
    size_t len = 0;
    char *text = pkg_meta_encode (&m, &len);
    CHECK (text && len == strlen (text), "encode");
    if (verbose && text)
        printf ("%s\n", text);
    pkg_meta_t back;
    CHECK (text && pkg_meta_decode (text, len, &back, err, sizeof err) == 0, "decode: %s", err);
    CHECK (memcmp (&back, &m, sizeof m) == 0, "round trip");
    size_t len2 = 0;
    char *again = pkg_meta_encode (&back, &len2);
    CHECK (again && len2 == len && memcmp (again, text, len) == 0, "canonical");
    free (again);
    //  Every truncation fails cleanly.
    for (size_t i = 0; text && i < len; i++)
        CHECK (pkg_meta_decode (text, i, &back, err, sizeof err) == -1, "truncated at %zu", i);
    //  Hand-made bad documents.
    const char *bad[] = {
        "[]",
        "{\"type\":\"meshwatch.package.metadata\"}",
        "{} x",
        "{\"type\":\"meshwatch.package.metadata\",\"spec\":1,\"name\":\"Facedet\",\"version\":\"1\","
        "\"variant\":\"\","
        "\"kind\":\"model\",\"seq\":1,\"expires\":9,\"manifest\":\"sha256:00\",\"manifest_size\":1,\"size\":"
        "1,"
        "\"piece_size\":65536,\"piece_count\":1,\"pieces\":\"sha256:00\"}",
        NULL,
    };
    for (int i = 0; bad[i]; i++)
        CHECK (pkg_meta_decode (bad[i], strlen (bad[i]), &back, err, sizeof err) == -1, "bad %d", i);
    //  Geometry that does not add up, and a negative number.
    pkg_meta_t g = m;
    g.piece_count = 3;
    CHECK (pkg_meta_encode (&g, NULL) == NULL, "wrong piece_count refused");
    g = m;
    g.piece_size = 100000;
    CHECK (pkg_meta_encode (&g, NULL) == NULL, "odd piece size refused");
    if (text) {
        char *neg = strdup (text);
        char *p = strstr (neg, "\"seq\":7");
        if (p)
            memcpy (p, "\"seq\":-", 7);
        CHECK (pkg_meta_decode (neg, strlen (neg), &back, err, sizeof err) == -1, "negative");
        free (neg);
    }
    //  Not canonical: spacing, or a key added.
    const char *spaced = "{ \"type\":\"meshwatch.package.metadata\"}";
    CHECK (pkg_meta_decode (spaced, strlen (spaced), &back, err, sizeof err) == -1, "spaced");
    if (text) {
        char *extra = malloc (len + 20);
        snprintf (extra, len + 20, "%.*s,\"x\":1}", (int) len - 1, text);
        CHECK (pkg_meta_decode (extra, strlen (extra), &back, err, sizeof err) == -1
                   && strstr (err, "canonical"),
               "extra key: %s", err);
        free (extra);
    }
    free (text);

    //  Names and references.
    CHECK (pkg_meta_name_ok ("face-det_2.x") && !pkg_meta_name_ok ("-x") && !pkg_meta_name_ok ("a/b")
               && !pkg_meta_name_ok ("") && !pkg_meta_name_ok (".."),
           "names");
    CHECK (pkg_meta_version_ok ("1.2.0-rc1+jp5") && !pkg_meta_version_ok ("1 2")
               && !pkg_meta_version_ok ("../x"),
           "versions");
    char n[PKG_NAME_MAX + 1], v[PKG_VERSION_MAX + 1];
    CHECK (pkg_meta_ref_parse ("facedet@1.2", n, v) == 0 && strcmp (n, "facedet") == 0
               && strcmp (v, "1.2") == 0,
           "ref");
    CHECK (pkg_meta_ref_parse ("facedet", n, v) == -1 && pkg_meta_ref_parse ("@1", n, v) == -1, "bad ref");
    char canon[PKG_VARIANT_MAX + 1];
    CHECK (pkg_meta_variant_canon ("a=1,a=2", canon, sizeof canon) == -1, "dup key");
    CHECK (pkg_meta_variant_canon ("a=1,", canon, sizeof canon) == -1, "trailing comma");
    CHECK (pkg_meta_variant_canon ("a", canon, sizeof canon) == -1, "no =");
    CHECK (pkg_meta_variant_canon ("a=b c", canon, sizeof canon) == -1, "space");
    uint8_t d[32];
    CHECK (pkg_digest_parse ("sha256:ABCD", d) == -1, "short digest");

    //  The trust decision.
    char detail[200];
    pkg_meta_seen_t seen = {0};
    CHECK (pkg_meta_judge (&m, &seen, 1000, detail, sizeof detail) == PKG_OK, "new");
    seen.highest_seq = 8;
    CHECK (pkg_meta_judge (&m, &seen, 1000, detail, sizeof detail) == PKG_REFUSE_ROLLBACK, "rollback");
    seen.highest_seq = 7;
    seen.same_seq_known = true;
    CHECK (pkg_meta_judge (&m, &seen, 1000, detail, sizeof detail) == PKG_REFUSE_CONFLICT, "same seq other");
    seen.same_seq_identical = true;
    CHECK (pkg_meta_judge (&m, &seen, 3000000000ull, detail, sizeof detail) == PKG_OK, "known: no change");
    memset (&seen, 0, sizeof seen);
    CHECK (pkg_meta_judge (&m, &seen, 2000000000, detail, sizeof detail) == PKG_REFUSE_EXPIRED, "expired");
    seen.ref_known = true;
    CHECK (pkg_meta_judge (&m, &seen, 1000, detail, sizeof detail) == PKG_REFUSE_CONFLICT,
           "ref other manifest");
    seen.ref_same_manifest = true;
    CHECK (pkg_meta_judge (&m, &seen, 1000, detail, sizeof detail) == PKG_OK, "re-signed");
    CHECK (strcmp (pkg_refuse_name (PKG_REFUSE_BAD_PIECE), "bad_piece") == 0, "names table");
    if (verbose)
        printf ("pkg_meta: done\n");
    return rc;
}
