/*  =========================================================================
    mw_weights - TensorFlow.js weights-manifest loader.

    Why a loader of our own: the face-api models are distributed only in the
    tfjs format (a JSON manifest + uint8-quantised .bin shards), and the
    issue asks that --models-dir accept the package's model/ folder as it
    is, so there is no conversion step anywhere.

    The manifest is parsed with json-c (strict: one top-level array, no
    trailing bytes, bounded depth and size), validated completely (names,
    shapes, dtypes, quantisation parameters, shard names) and only then are
    the bytes read and dequantised.  Every bound is checked before use; the
    fuzz target tests/fuzz/fuzz_manifest.c feeds mw_weights_load_buffer ().

    Dequantisation follows tfjs io.decodeWeights: uint8/uint16 values are
    q*scale + min computed in double and stored as float32 (int32 tensors are
    Math.round()ed); float16 is widened; unquantised float32/int32 are taken
    little-endian as they are.
    ========================================================================= */
#include "inference/weights.h"

#include <assert.h>
#include <errno.h>
#include <json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum { Q_NONE = 0, Q_UINT8, Q_UINT16, Q_FLOAT16 } qtype_t;

typedef struct {
    char *name;
    int ndims;
    int shape[MW_WEIGHTS_MAX_DIMS];
    size_t elems;    //  element count
    size_t nbytes;   //  bytes in the .bin
    bool is_int;     //  dtype int32 (rounded after dequantisation)
    qtype_t q;
    double scale, min;
    size_t offset;   //  first float in the arena
} entry_t;

struct _mw_weights_t {
    entry_t *entries;
    size_t count;
    float *arena;
    size_t arena_elems;
};

//  A parsed manifest before the bytes are read.
typedef struct {
    entry_t *entries;
    size_t count;
    size_t total_bytes;
    //  shard file names, in order, over all groups, and the byte count each
    //  group needs (the shards of a group must add up to exactly that).
    char **paths;
    int *path_group;
    size_t npaths;
    size_t *group_bytes;
    size_t ngroups;
} manifest_t;

static void
s_err (char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err, errlen, fmt, ap);
    va_end (ap);
}

static void
s_manifest_clear (manifest_t *m)
{
    for (size_t i = 0; i < m->count; i++)
        free (m->entries[i].name);
    free (m->entries);
    for (size_t i = 0; i < m->npaths; i++)
        free (m->paths[i]);
    free (m->paths);
    free (m->path_group);
    free (m->group_bytes);
    memset (m, 0, sizeof (*m));
}

//  A JSON string without embedded NULs, 1..maxlen bytes.
static const char *
s_json_str (json_object *o, size_t maxlen)
{
    if (!o || !json_object_is_type (o, json_type_string))
        return NULL;
    int len = json_object_get_string_len (o);
    const char *s = json_object_get_string (o);
    if (len <= 0 || (size_t) len > maxlen || strlen (s) != (size_t) len)
        return NULL;
    return s;
}

static bool
s_json_number (json_object *o, double *value)
{
    if (!o || !(json_object_is_type (o, json_type_double) || json_object_is_type (o, json_type_int)))
        return false;
    errno = 0;
    double v = json_object_get_double (o);
    if (!isfinite (v))
        return false;
    *value = v;
    return true;
}

//  A shard name is a plain file name next to the manifest: no directories,
//  no hidden files, nothing that could climb out of the models dir.
static bool
s_safe_path (const char *p)
{
    if (p[0] == '.' || strlen (p) > 255)
        return false;
    for (const char *c = p; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.'
              || *c == '_' || *c == '-'))
            return false;
    return true;
}

static int
s_parse_entry (json_object *w, entry_t *e, char *err, size_t errlen, size_t index)
{
    json_object *o;
    if (!json_object_is_type (w, json_type_object)) {
        s_err (err, errlen, "manifest: weights[%zu] is not an object", index);
        return -1;
    }
    const char *name = json_object_object_get_ex (w, "name", &o) ? s_json_str (o, 256) : NULL;
    if (!name) {
        s_err (err, errlen, "manifest: weights[%zu] has no valid name", index);
        return -1;
    }
    const char *dtype = json_object_object_get_ex (w, "dtype", &o) ? s_json_str (o, 16) : NULL;
    if (!dtype || (strcmp (dtype, "float32") != 0 && strcmp (dtype, "int32") != 0)) {
        s_err (err, errlen, "manifest: %s: unsupported dtype (want float32 or int32)", name);
        return -1;
    }
    e->is_int = strcmp (dtype, "int32") == 0;
    if (!json_object_object_get_ex (w, "shape", &o) || !json_object_is_type (o, json_type_array)) {
        s_err (err, errlen, "manifest: %s: missing shape", name);
        return -1;
    }
    size_t nd = json_object_array_length (o);
    if (nd > MW_WEIGHTS_MAX_DIMS) {
        s_err (err, errlen, "manifest: %s: %zu dims (max %d)", name, nd, MW_WEIGHTS_MAX_DIMS);
        return -1;
    }
    e->ndims = (int) nd;
    size_t elems = 1;
    for (size_t d = 0; d < nd; d++) {
        json_object *dim = json_object_array_get_idx (o, d);
        if (!dim || !json_object_is_type (dim, json_type_int)) {
            s_err (err, errlen, "manifest: %s: shape[%zu] is not an integer", name, d);
            return -1;
        }
        int64_t v = json_object_get_int64 (dim);
        if (v < 0 || v > (int64_t) MW_WEIGHTS_MAX_ELEMS) {
            s_err (err, errlen, "manifest: %s: shape[%zu] = %lld out of range", name, d, (long long) v);
            return -1;
        }
        e->shape[d] = (int) v;
        if (v != 0 && elems > MW_WEIGHTS_MAX_ELEMS / (size_t) v) {
            s_err (err, errlen, "manifest: %s: too many elements", name);
            return -1;
        }
        elems *= (size_t) v;
    }
    if (elems > MW_WEIGHTS_MAX_ELEMS) {
        s_err (err, errlen, "manifest: %s: too many elements", name);
        return -1;
    }
    e->elems = elems;
    e->q = Q_NONE;
    size_t bytes_per = 4;
    if (json_object_object_get_ex (w, "quantization", &o) && !json_object_is_type (o, json_type_null)) {
        if (!json_object_is_type (o, json_type_object)) {
            s_err (err, errlen, "manifest: %s: quantization is not an object", name);
            return -1;
        }
        json_object *qd;
        const char *qt = json_object_object_get_ex (o, "dtype", &qd) ? s_json_str (qd, 16) : NULL;
        if (qt && strcmp (qt, "uint8") == 0)
            e->q = Q_UINT8, bytes_per = 1;
        else if (qt && strcmp (qt, "uint16") == 0)
            e->q = Q_UINT16, bytes_per = 2;
        else if (qt && strcmp (qt, "float16") == 0)
            e->q = Q_FLOAT16, bytes_per = 2;
        else {
            s_err (err, errlen, "manifest: %s: unsupported quantization dtype", name);
            return -1;
        }
        if (e->q != Q_FLOAT16) {
            json_object *so, *mo;
            if (!json_object_object_get_ex (o, "scale", &so) || !s_json_number (so, &e->scale)
                || !json_object_object_get_ex (o, "min", &mo) || !s_json_number (mo, &e->min)) {
                s_err (err, errlen, "manifest: %s: quantization needs finite scale and min", name);
                return -1;
            }
        }
    }
    e->nbytes = elems * bytes_per;
    e->name = strdup (name);
    if (!e->name) {
        s_err (err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int
s_parse_manifest (const char *json, size_t len, manifest_t *m, char *err, size_t errlen)
{
    memset (m, 0, sizeof (*m));
    if (len == 0 || len > MW_WEIGHTS_MAX_MANIFEST) {
        s_err (err, errlen, "manifest: size %zu out of range (1..%u bytes)", len, MW_WEIGHTS_MAX_MANIFEST);
        return -1;
    }
    json_tokener *tok = json_tokener_new_ex (16);
    if (!tok) {
        s_err (err, errlen, "out of memory");
        return -1;
    }
    json_tokener_set_flags (tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex (tok, json, (int) len);
    enum json_tokener_error jerr = json_tokener_get_error (tok);
    size_t end = json_tokener_get_parse_end (tok);
    json_tokener_free (tok);
    if (!root || jerr != json_tokener_success) {
        s_err (err, errlen, "manifest: invalid JSON (%s)",
               jerr == json_tokener_continue ? "truncated" : json_tokener_error_desc (jerr));
        json_object_put (root);
        return -1;
    }
    for (size_t i = end; i < len; i++)
        if (json[i] != ' ' && json[i] != '\n' && json[i] != '\r' && json[i] != '\t') {
            s_err (err, errlen, "manifest: trailing bytes after the JSON value");
            json_object_put (root);
            return -1;
        }
    int rc = -1;
    if (!json_object_is_type (root, json_type_array) || json_object_array_length (root) == 0) {
        s_err (err, errlen, "manifest: top level must be a non-empty array of weight groups");
        goto done;
    }
    size_t ngroups = json_object_array_length (root);
    size_t total_entries = 0, total_paths = 0;
    for (size_t g = 0; g < ngroups; g++) {
        json_object *grp = json_object_array_get_idx (root, g), *o;
        if (!grp || !json_object_is_type (grp, json_type_object)
            || !json_object_object_get_ex (grp, "weights", &o) || !json_object_is_type (o, json_type_array)) {
            s_err (err, errlen, "manifest: group %zu has no weights array", g);
            goto done;
        }
        total_entries += json_object_array_length (o);
        if (!json_object_object_get_ex (grp, "paths", &o) || !json_object_is_type (o, json_type_array)
            || json_object_array_length (o) == 0) {
            s_err (err, errlen, "manifest: group %zu has no paths array", g);
            goto done;
        }
        total_paths += json_object_array_length (o);
    }
    if (total_entries == 0 || total_entries > MW_WEIGHTS_MAX_ENTRIES || total_paths > 1024) {
        s_err (err, errlen, "manifest: %zu weight entries (want 1..%d)", total_entries,
               MW_WEIGHTS_MAX_ENTRIES);
        goto done;
    }
    m->entries = calloc (total_entries, sizeof (entry_t));
    m->paths = calloc (total_paths, sizeof (char *));
    m->path_group = calloc (total_paths, sizeof (int));
    m->group_bytes = calloc (ngroups, sizeof (size_t));
    if (!m->entries || !m->paths || !m->path_group || !m->group_bytes) {
        s_err (err, errlen, "out of memory");
        goto done;
    }
    m->ngroups = ngroups;
    size_t total_elems = 0;
    for (size_t g = 0; g < ngroups; g++) {
        json_object *grp = json_object_array_get_idx (root, g), *ws, *ps;
        json_object_object_get_ex (grp, "weights", &ws);
        json_object_object_get_ex (grp, "paths", &ps);
        for (size_t i = 0; i < json_object_array_length (ws); i++) {
            entry_t *e = &m->entries[m->count];
            if (s_parse_entry (json_object_array_get_idx (ws, i), e, err, errlen, m->count) != 0)
                goto done;
            m->count++;
            for (size_t j = 0; j + 1 < m->count; j++)
                if (strcmp (m->entries[j].name, e->name) == 0) {
                    s_err (err, errlen, "manifest: duplicate weight name %s", e->name);
                    goto done;
                }
            total_elems += e->elems;
            if (total_elems > MW_WEIGHTS_MAX_ELEMS) {
                s_err (err, errlen, "manifest: more than %u elements in all", MW_WEIGHTS_MAX_ELEMS);
                goto done;
            }
            m->group_bytes[g] += e->nbytes;
            m->total_bytes += e->nbytes;
        }
        for (size_t i = 0; i < json_object_array_length (ps); i++) {
            const char *p = s_json_str (json_object_array_get_idx (ps, i), 255);
            if (!p || !s_safe_path (p)) {
                s_err (err, errlen, "manifest: group %zu: path %zu is not a plain file name", g, i);
                goto done;
            }
            m->paths[m->npaths] = strdup (p);
            if (!m->paths[m->npaths]) {
                s_err (err, errlen, "out of memory");
                goto done;
            }
            m->path_group[m->npaths++] = (int) g;
        }
    }
    if (m->total_bytes > MW_WEIGHTS_MAX_BIN) {
        s_err (err, errlen, "manifest: weights need %zu bytes (max %u)", m->total_bytes, MW_WEIGHTS_MAX_BIN);
        goto done;
    }
    rc = 0;
done:
    json_object_put (root);
    if (rc != 0)
        s_manifest_clear (m);
    return rc;
}

static float
s_half_to_float (uint16_t h)
{
    uint32_t sign = (uint32_t) (h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float f;
    if (exp == 0)
        f = ldexpf ((float) mant, -24);
    else if (exp == 31)
        f = mant ? NAN : INFINITY;
    else
        f = ldexpf ((float) (mant | 0x400), (int) exp - 25);
    return sign ? -f : f;
}

//  Build the weights object from a parsed manifest and exactly
//  m->total_bytes of packed data.  Takes ownership of m's entries.
static mw_weights_t *
s_build (manifest_t *m, const uint8_t *bin, char *err, size_t errlen)
{
    size_t total = 0;
    for (size_t i = 0; i < m->count; i++)
        total += m->entries[i].elems;
    mw_weights_t *self = calloc (1, sizeof (*self));
    float *arena = malloc ((total ? total : 1) * sizeof (float));
    if (!self || !arena) {
        free (self);
        free (arena);
        s_err (err, errlen, "out of memory (%zu floats)", total);
        return NULL;
    }
    size_t pos = 0, off = 0;
    for (size_t i = 0; i < m->count; i++) {
        entry_t *e = &m->entries[i];
        const uint8_t *p = bin + pos;
        float *dst = arena + off;
        for (size_t k = 0; k < e->elems; k++) {
            double v;
            switch (e->q) {
            case Q_UINT8: v = p[k] * e->scale + e->min; break;
            case Q_UINT16: v = (uint16_t) (p[2 * k] | (p[2 * k + 1] << 8)) * e->scale + e->min; break;
            case Q_FLOAT16: v = s_half_to_float ((uint16_t) (p[2 * k] | (p[2 * k + 1] << 8))); break;
            default: {
                uint32_t u = (uint32_t) p[4 * k] | (uint32_t) p[4 * k + 1] << 8
                             | (uint32_t) p[4 * k + 2] << 16 | (uint32_t) p[4 * k + 3] << 24;
                if (e->is_int)
                    v = (double) (int32_t) u;
                else {
                    float f;
                    memcpy (&f, &u, 4);
                    v = f;
                }
            }
            }
            if (e->is_int)
                v = floor (v + 0.5);   //  Math.round
            dst[k] = (float) v;
        }
        e->offset = off;
        off += e->elems;
        pos += e->nbytes;
    }
    self->entries = m->entries;
    self->count = m->count;
    m->entries = NULL;
    m->count = 0;
    self->arena = arena;
    self->arena_elems = total;
    return self;
}

mw_weights_t *
mw_weights_load_buffer (const char *json, size_t json_len, const uint8_t *bin, size_t bin_len, char *err,
                        size_t errlen)
{
    manifest_t m;
    if (!json || s_parse_manifest (json, json_len, &m, err, errlen) != 0)
        return NULL;
    mw_weights_t *self = NULL;
    if (bin_len != m.total_bytes || (!bin && bin_len))
        s_err (err, errlen, "weights: .bin holds %zu bytes, the manifest needs %zu (%s)", bin_len,
               m.total_bytes, bin_len < m.total_bytes ? "short file" : "trailing bytes");
    else
        self = s_build (&m, bin, err, errlen);
    s_manifest_clear (&m);
    return self;
}

//  Read a whole file of at most `max` bytes.
static uint8_t *
s_read_file (const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        s_err (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fileno (f), &st) != 0 || !S_ISREG (st.st_mode)) {
        s_err (err, errlen, "%s is not a regular file", path);
        fclose (f);
        return NULL;
    }
    if ((uint64_t) st.st_size > max) {
        s_err (err, errlen, "%s: %lld bytes is too large (max %zu)", path, (long long) st.st_size, max);
        fclose (f);
        return NULL;
    }
    size_t n = (size_t) st.st_size;
    uint8_t *buf = malloc (n ? n : 1);
    if (!buf) {
        s_err (err, errlen, "out of memory reading %s", path);
        fclose (f);
        return NULL;
    }
    if (n && fread (buf, 1, n, f) != n) {
        s_err (err, errlen, "short read on %s", path);
        free (buf);
        fclose (f);
        return NULL;
    }
    fclose (f);
    *len = n;
    return buf;
}

mw_weights_t *
mw_weights_load (const char *dir, const char *manifest, char *err, size_t errlen)
{
    assert (dir && manifest);
    char path[4096];
    if ((size_t) snprintf (path, sizeof path, "%s/%s", dir, manifest) >= sizeof path) {
        s_err (err, errlen, "models dir path too long");
        return NULL;
    }
    size_t json_len = 0;
    char *json = (char *) s_read_file (path, MW_WEIGHTS_MAX_MANIFEST, &json_len, err, errlen);
    if (!json)
        return NULL;
    manifest_t m;
    char perr[256];
    if (s_parse_manifest (json, json_len, &m, perr, sizeof perr) != 0) {
        s_err (err, errlen, "%s: %s", path, perr);
        free (json);
        return NULL;
    }
    free (json);
    mw_weights_t *self = NULL;
    uint8_t *bin = malloc (m.total_bytes ? m.total_bytes : 1);
    if (!bin) {
        s_err (err, errlen, "out of memory (%zu bytes of weights)", m.total_bytes);
        goto done;
    }
    size_t pos = 0;
    for (size_t g = 0; g < m.ngroups; g++) {
        size_t group_start = pos;
        for (size_t i = 0; i < m.npaths; i++) {
            if (m.path_group[i] != (int) g)
                continue;
            if ((size_t) snprintf (path, sizeof path, "%s/%s", dir, m.paths[i]) >= sizeof path) {
                s_err (err, errlen, "models dir path too long");
                goto done;
            }
            size_t room = m.group_bytes[g] - (pos - group_start), n = 0;
            //  Read at most one byte more than the group needs, so that a
            //  long shard is reported rather than silently cut.
            uint8_t *shard = s_read_file (path, room + 1, &n, err, errlen);
            if (!shard)
                goto done;
            if (n > room) {
                s_err (err, errlen, "%s: longer than the manifest says (trailing bytes)", path);
                free (shard);
                goto done;
            }
            memcpy (bin + pos, shard, n);
            pos += n;
            free (shard);
        }
        if (pos - group_start != m.group_bytes[g]) {
            s_err (err, errlen, "%s: short .bin: %zu bytes, the manifest needs %zu", path, pos - group_start,
                   m.group_bytes[g]);
            goto done;
        }
    }
    self = s_build (&m, bin, err, errlen);
done:
    free (bin);
    s_manifest_clear (&m);
    return self;
}

void
mw_weights_destroy (mw_weights_t **self_p)
{
    assert (self_p);
    mw_weights_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        free (self->entries[i].name);
    free (self->entries);
    free (self->arena);
    free (self);
    *self_p = NULL;
}

const float *
mw_weights_get (mw_weights_t *self, const char *name, int ndims, const int *shape, char *err, size_t errlen)
{
    assert (self && name && ndims >= 0 && ndims <= MW_WEIGHTS_MAX_DIMS);
    for (size_t i = 0; i < self->count; i++) {
        entry_t *e = &self->entries[i];
        if (strcmp (e->name, name) != 0)
            continue;
        bool ok = e->ndims == ndims;
        for (int d = 0; ok && d < ndims; d++)
            ok = e->shape[d] == shape[d];
        if (!ok) {
            char want[96] = "", have[96] = "";
            for (int d = 0; d < ndims; d++)
                snprintf (want + strlen (want), sizeof want - strlen (want), "%s%d", d ? "," : "", shape[d]);
            for (int d = 0; d < e->ndims; d++)
                snprintf (have + strlen (have), sizeof have - strlen (have), "%s%d", d ? "," : "",
                          e->shape[d]);
            s_err (err, errlen, "weights: %s has shape [%s], expected [%s]", name, have, want);
            return NULL;
        }
        return self->arena + e->offset;
    }
    s_err (err, errlen, "weights: tensor %s is missing from the manifest", name);
    return NULL;
}

size_t
mw_weights_count (mw_weights_t *self)
{
    assert (self);
    return self->count;
}

size_t
mw_weights_elems (mw_weights_t *self)
{
    assert (self);
    return self->arena_elems;
}

//  --------------------------------------------------------------------------
//  Selftest: small manifests in memory, good and bad.

int
mw_weights_test (bool verbose)
{
    char err[256];
    int fails = 0;
#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf (stderr, "mw_weights_test: %s:%d: %s\n", __FILE__, __LINE__, #cond);                     \
            fails++;                                                                                         \
        }                                                                                                    \
    } while (0)

    const char *good =
        "[{\"weights\":[{\"name\":\"a\",\"shape\":[2,2],\"dtype\":\"float32\","
        "\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,\"min\":-1}},"
        "{\"name\":\"s\",\"shape\":[],\"dtype\":\"int32\",\"quantization\":{\"dtype\":\"uint8\","
        "\"scale\":0.5,\"min\":0}},"
        "{\"name\":\"f\",\"shape\":[1],\"dtype\":\"float32\"}],\"paths\":[\"x.bin\"]}]";
    uint8_t bin[9] = {0, 1, 2, 255, 3, 0, 0, 0xc0, 0x3f};   //  3*0.5 = 1.5 -> 2; 1.5f
    mw_weights_t *w = mw_weights_load_buffer (good, strlen (good), bin, sizeof bin, err, sizeof err);
    CHECK (w != NULL);
    if (w) {
        int sh[2] = {2, 2};
        const float *a = mw_weights_get (w, "a", 2, sh, err, sizeof err);
        CHECK (a && a[0] == -1.0f && a[1] == -0.5f && a[2] == 0.0f && a[3] == 126.5f);
        const float *s = mw_weights_get (w, "s", 0, NULL, err, sizeof err);
        CHECK (s && s[0] == 2.0f);
        const float *f = mw_weights_get (w, "f", 1, (int[]){1}, err, sizeof err);
        CHECK (f && f[0] == 1.5f);
        CHECK (mw_weights_get (w, "a", 2, (int[]){4, 1}, err, sizeof err) == NULL);
        CHECK (strstr (err, "expected [4,1]") != NULL);
        CHECK (mw_weights_get (w, "zz", 0, NULL, err, sizeof err) == NULL);
        CHECK (mw_weights_count (w) == 3 && mw_weights_elems (w) == 6);
        mw_weights_destroy (&w);
        CHECK (w == NULL);
    }
    //  Short and long .bin.
    CHECK (!mw_weights_load_buffer (good, strlen (good), bin, 8, err, sizeof err) && strstr (err, "short"));
    if (verbose)
        printf ("  short bin: %s\n", err);
    uint8_t longbin[10] = {0};
    CHECK (!mw_weights_load_buffer (good, strlen (good), longbin, 10, err, sizeof err)
           && strstr (err, "trailing"));
    //  Bad manifests: each must fail cleanly.
    const char *bad[] = {
        "",
        "{}",
        "[]",
        "[{\"weights\":[],\"paths\":[\"x.bin\"]}]",
        "[{\"weights\":[{\"name\":\"a\",\"shape\":[2],\"dtype\":\"float32\"}],\"paths\":[\"../x.bin\"]}]",
        "[{\"weights\":[{\"name\":\"a\",\"shape\":[-2],\"dtype\":\"float32\"}],\"paths\":[\"x.bin\"]}]",
        "[{\"weights\":[{\"name\":\"a\",\"shape\":[2.5],\"dtype\":\"float32\"}],\"paths\":[\"x.bin\"]}]",
        "[{\"weights\":[{\"name\":\"a\",\"shape\":[99999999,99999999],\"dtype\":\"float32\"}],\"paths\":[\"x."
        "bin\"]}]",
        "[{\"weights\":[{\"name\":\"a\",\"shape\":[1,1,1,1,1,1,1],\"dtype\":\"float32\"}],\"paths\":[\"x."
        "bin\"]}]",
        "[{\"weights\":[{\"name\":\"a\",\"shape\":[2],\"dtype\":\"string\"}],\"paths\":[\"x.bin\"]}]",
        "[{\"weights\":[{\"name\":\"a\",\"shape\":[2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":"
        "\"uint8\"}}],"
        "\"paths\":[\"x.bin\"]}]",
        "[{\"weights\":[{\"name\":\"a\",\"shape\":[1],\"dtype\":\"float32\"},{\"name\":\"a\",\"shape\":[1],"
        "\"dtype\":\"float32\"}],\"paths\":[\"x.bin\"]}]",
        "[{\"weights\":[{\"name\":\"a\",\"shape\":[1],\"dtype\":\"float32\"}],\"paths\":[\"x.bin\"]}] junk",
        "[{\"weights\":[{\"name\":\"a\",\"shape\":[1],\"dtype\":\"float32\"}],\"paths\":[\"x.bin\"]",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        uint8_t zeros[16] = {0};
        mw_weights_t *b = mw_weights_load_buffer (bad[i], strlen (bad[i]), zeros, 4, err, sizeof err);
        CHECK (b == NULL && err[0] != 0);
        if (verbose)
            printf ("  bad[%zu]: %s\n", i, err);
        mw_weights_destroy (&b);
    }
    //  Missing directory: a clear message.
    CHECK (!mw_weights_load ("/nonexistent-mw", "m.json", err, sizeof err) && strstr (err, "cannot open"));
    return fails ? -1 : 0;
#undef CHECK
}
