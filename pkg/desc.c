/*  =========================================================================
    pkg_desc - the meshwatch manifest (OCI config blob), see desc.h.
    ========================================================================= */
#include "pkg/desc.h"
#include "common/selftest.h"

#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
s_printable (const char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

char *
pkg_desc_encode (const pkg_desc_t *d, size_t *len, char *err, size_t errlen)
{
    char canon[PKG_VARIANT_MAX + 1];
    if (!pkg_meta_name_ok (d->name) || !pkg_meta_version_ok (d->version)) {
        snprintf (err, errlen, "bad name or version");
        return NULL;
    }
    if (pkg_meta_variant_canon (d->variant, canon, sizeof canon) != 0) {
        snprintf (err, errlen, "bad variant '%s' (k=v,...)", d->variant);
        return NULL;
    }
    if (!s_printable (d->entry) || !s_printable (d->health) || !s_printable (d->model_family)
        || !s_printable (d->arch) || !s_printable (d->cuda) || !s_printable (d->jetpack)) {
        snprintf (err, errlen, "control characters in a field");
        return NULL;
    }
    json_object *o = json_object_new_object ();
    json_object_object_add (o, "name", json_object_new_string (d->name));
    json_object_object_add (o, "version", json_object_new_string (d->version));
    json_object_object_add (o, "kind", json_object_new_string (pkg_kind_name (d->kind)));
    json_object *var = json_object_new_object ();
    //  canon is "k=v,k=v"
    char *save = NULL;
    for (char *kv = strtok_r (canon, ",", &save); kv; kv = strtok_r (NULL, ",", &save)) {
        char *eq = strchr (kv, '=');
        *eq = 0;
        json_object_object_add (var, kv, json_object_new_string (eq + 1));
    }
    json_object_object_add (o, "variant", var);
    if (d->model_family[0] || d->n_input_sizes) {
        json_object *m = json_object_new_object ();
        if (d->model_family[0])
            json_object_object_add (m, "family", json_object_new_string (d->model_family));
        json_object *sizes = json_object_new_array ();
        for (uint32_t i = 0; i < d->n_input_sizes && i < PKG_DESC_SIZES_MAX; i++)
            json_object_array_add (sizes, json_object_new_int64 (d->input_sizes[i]));
        json_object_object_add (m, "input_sizes", sizes);
        json_object_object_add (o, "model", m);
    }
    if (d->entry[0] || d->health[0] || d->cpu_percent || d->memory_mb || d->gpu) {
        json_object *e = json_object_new_object ();
        if (d->entry[0])
            json_object_object_add (e, "entry", json_object_new_string (d->entry));
        if (d->health[0])
            json_object_object_add (e, "health", json_object_new_string (d->health));
        json_object *r = json_object_new_object ();
        json_object_object_add (r, "cpu_percent", json_object_new_int64 (d->cpu_percent));
        json_object_object_add (r, "memory_mb", json_object_new_int64 (d->memory_mb));
        json_object_object_add (r, "gpu", json_object_new_boolean (d->gpu));
        json_object_object_add (e, "resources", r);
        json_object_object_add (o, "exec", e);
    }
    if (d->arch[0] || d->cuda[0] || d->jetpack[0]) {
        json_object *r = json_object_new_object ();
        if (d->arch[0])
            json_object_object_add (r, "arch", json_object_new_string (d->arch));
        if (d->cuda[0])
            json_object_object_add (r, "cuda", json_object_new_string (d->cuda));
        if (d->jetpack[0])
            json_object_object_add (r, "jetpack", json_object_new_string (d->jetpack));
        json_object_object_add (o, "requires", r);
    }
    if (d->kind == PKG_KIND_OCI_IMAGE) {
        char md[72];
        pkg_digest_str (d->image_manifest, md);
        json_object *im = json_object_new_object ();
        json_object_object_add (im, "manifest", json_object_new_string (md));
        json_object_object_add (im, "media_type", json_object_new_string (d->image_media_type));
        json_object_object_add (o, "image", im);
    }
    const char *text =
        json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *out = text ? strdup (text) : NULL;
    json_object_put (o);
    if (out && strlen (out) > PKG_DESC_MAX) {
        snprintf (err, errlen, "config of %zu bytes (max %d)", strlen (out), PKG_DESC_MAX);
        free (out);
        return NULL;
    }
    if (out && len)
        *len = strlen (out);
    return out;
}

//  obj[key] as a string of at most max bytes into out; absent = "".
//  -1 if present with another type, too long, or holding control bytes.
static int
s_get_str (json_object *obj, const char *key, char *out, size_t max)
{
    json_object *v = NULL;
    out[0] = 0;
    if (!obj || !json_object_object_get_ex (obj, key, &v))
        return 0;
    if (!json_object_is_type (v, json_type_string))
        return -1;
    size_t n = (size_t) json_object_get_string_len (v);
    const char *s = json_object_get_string (v);
    if (n > max || strlen (s) != n)
        return -1;
    memcpy (out, s, n + 1);
    return s_printable (out) ? 0 : -1;
}

static int
s_get_u32 (json_object *obj, const char *key, uint32_t max, uint32_t *out)
{
    json_object *v = NULL;
    *out = 0;
    if (!obj || !json_object_object_get_ex (obj, key, &v))
        return 0;
    if (!json_object_is_type (v, json_type_int))
        return -1;
    errno = 0;
    int64_t x = json_object_get_int64 (v);
    if (errno || x < 0 || x > max)
        return -1;
    *out = (uint32_t) x;
    return 0;
}

static json_object *
s_get_obj (json_object *obj, const char *key, bool *bad)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex (obj, key, &v))
        return NULL;
    if (!json_object_is_type (v, json_type_object)) {
        *bad = true;
        return NULL;
    }
    return v;
}

int
pkg_desc_decode (const char *text, size_t len, pkg_desc_t *d, char *err, size_t errlen)
{
    memset (d, 0, sizeof *d);
    if (!text || len == 0 || len > PKG_DESC_MAX) {
        snprintf (err, errlen, "config of %zu bytes (1..%d allowed)", len, PKG_DESC_MAX);
        return -1;
    }
    json_tokener *tok = json_tokener_new_ex (6);
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
    bool bad = false;
    char kind[16];
    if (!whole || !json_object_is_type (o, json_type_object)) {
        snprintf (err, errlen, "config is not one JSON object");
        goto done;
    }
    if (s_get_str (o, "name", d->name, PKG_NAME_MAX) || !pkg_meta_name_ok (d->name)
        || s_get_str (o, "version", d->version, PKG_VERSION_MAX) || !pkg_meta_version_ok (d->version)) {
        snprintf (err, errlen, "config: bad name or version");
        goto done;
    }
    if (s_get_str (o, "kind", kind, sizeof kind - 1) || pkg_kind_parse (kind) < 0) {
        snprintf (err, errlen, "config: kind is not model, exec or oci-image");
        goto done;
    }
    d->kind = (pkg_kind_t) pkg_kind_parse (kind);
    json_object *var = s_get_obj (o, "variant", &bad);
    if (var) {
        char joined[1024] = "";
        size_t used = 0;
        json_object_object_foreach (var, k, v)
        {
            if (!json_object_is_type (v, json_type_string) || used >= sizeof joined) {
                bad = true;
                break;
            }
            int w = snprintf (joined + used, sizeof joined - used, "%s%s=%s", used ? "," : "", k,
                              json_object_get_string (v));
            if (w < 0 || (size_t) w >= sizeof joined - used) {
                bad = true;
                break;
            }
            used += (size_t) w;
        }
        if (!bad && pkg_meta_variant_canon (joined, d->variant, sizeof d->variant) != 0)
            bad = true;
    }
    if (bad) {
        snprintf (err, errlen, "config: bad variant (an object of short [a-z0-9_.-] keys and values)");
        goto done;
    }
    json_object *m = s_get_obj (o, "model", &bad);
    json_object *e = s_get_obj (o, "exec", &bad);
    json_object *r = e ? s_get_obj (e, "resources", &bad) : NULL;
    json_object *req = s_get_obj (o, "requires", &bad);
    json_object *im = s_get_obj (o, "image", &bad);
    if (bad || s_get_str (m, "family", d->model_family, sizeof d->model_family - 1)
        || s_get_str (e, "entry", d->entry, PKG_DESC_CMD_MAX)
        || s_get_str (e, "health", d->health, PKG_DESC_CMD_MAX)
        || s_get_u32 (r, "cpu_percent", 100000, &d->cpu_percent)
        || s_get_u32 (r, "memory_mb", 1u << 24, &d->memory_mb)
        || s_get_str (req, "arch", d->arch, sizeof d->arch - 1)
        || s_get_str (req, "cuda", d->cuda, sizeof d->cuda - 1)
        || s_get_str (req, "jetpack", d->jetpack, sizeof d->jetpack - 1)) {
        snprintf (err, errlen, "config: a model, exec or requires field has the wrong type or length");
        goto done;
    }
    json_object *gpu = NULL;
    if (r && json_object_object_get_ex (r, "gpu", &gpu)) {
        if (!json_object_is_type (gpu, json_type_boolean)) {
            snprintf (err, errlen, "config: exec.resources.gpu is not true or false");
            goto done;
        }
        d->gpu = json_object_get_boolean (gpu);
    }
    json_object *sizes = NULL;
    if (m && json_object_object_get_ex (m, "input_sizes", &sizes)) {
        if (!json_object_is_type (sizes, json_type_array)
            || json_object_array_length (sizes) > PKG_DESC_SIZES_MAX) {
            snprintf (err, errlen, "config: model.input_sizes is not an array of at most %d sizes",
                      PKG_DESC_SIZES_MAX);
            goto done;
        }
        for (size_t i = 0; i < json_object_array_length (sizes); i++) {
            json_object *v = json_object_array_get_idx (sizes, i);
            int64_t x = json_object_is_type (v, json_type_int) ? json_object_get_int64 (v) : -1;
            if (x < 1 || x > 65536) {
                snprintf (err, errlen, "config: model.input_sizes[%zu] is not a size in 1..65536", i);
                goto done;
            }
            d->input_sizes[d->n_input_sizes++] = (uint32_t) x;
        }
    }
    if (d->kind == PKG_KIND_OCI_IMAGE) {
        char md[80];
        if (!im || s_get_str (im, "manifest", md, 71) || pkg_digest_parse (md, d->image_manifest) != 0
            || s_get_str (im, "media_type", d->image_media_type, sizeof d->image_media_type - 1)
            || !d->image_media_type[0]) {
            snprintf (err, errlen, "config: an oci-image package needs image.manifest and image.media_type");
            goto done;
        }
    }
    rc = 0;
done:
    json_object_put (o);
    return rc;
}

int
pkg_desc_test (bool verbose)
{
    int rc = 0;
    char err[256];
    pkg_desc_t d = {.kind = PKG_KIND_EXEC, .cpu_percent = 50, .memory_mb = 512, .gpu = true};
    strcpy (d.name, "facedet");
    strcpy (d.version, "1.0");
    strcpy (d.variant, "weather=sunny");
    strcpy (d.entry, "bin/run --port \"9000\"");
    strcpy (d.health, "bin/check");
    strcpy (d.arch, "arm64");
    strcpy (d.jetpack, "5.1");
    strcpy (d.model_family, "tiny-face");
    d.input_sizes[0] = 416;
    d.input_sizes[1] = 608;
    d.n_input_sizes = 2;
    size_t len = 0;
    char *text = pkg_desc_encode (&d, &len, err, sizeof err);
    CHECK (text, "encode: %s", err);
    if (verbose && text)
        printf ("%s\n", text);
    pkg_desc_t back;
    CHECK (text && pkg_desc_decode (text, len, &back, err, sizeof err) == 0, "decode: %s", err);
    CHECK (memcmp (&back, &d, sizeof d) == 0, "round trip");
    for (size_t i = 0; text && i < len; i++)
        CHECK (pkg_desc_decode (text, i, &back, err, sizeof err) == -1, "truncated at %zu", i);
    free (text);
    //  oci-image needs its image section.
    d.kind = PKG_KIND_OCI_IMAGE;
    strcpy (d.image_media_type, "application/vnd.oci.image.manifest.v1+json");
    d.image_manifest[0] = 0xab;
    text = pkg_desc_encode (&d, &len, err, sizeof err);
    CHECK (text && pkg_desc_decode (text, len, &back, err, sizeof err) == 0 && back.image_manifest[0] == 0xab,
           "image: %s", err);
    free (text);
    const char *bad[] = {
        "{\"name\":\"x\",\"version\":\"1\",\"kind\":\"oci-image\"}",
        "{\"name\":\"x\",\"version\":\"1\",\"kind\":\"model\",\"model\":{\"input_sizes\":[0]}}",
        "{\"name\":\"x\",\"version\":\"1\",\"kind\":\"model\",\"model\":[]}",
        "{\"name\":\"x\",\"version\":\"1\",\"kind\":\"exec\",\"exec\":{\"resources\":{\"gpu\":1}}}",
        "{\"name\":\"x\",\"version\":\"1\",\"kind\":\"exec\",\"exec\":{\"entry\":\"a\\u0000b\"}}",
        "{\"name\":\"x\",\"version\":\"1\",\"kind\":\"exec\",\"exec\":{\"entry\":\"a\\nb\"}}",
        "{\"name\":\"x\",\"version\":\"1\",\"kind\":\"model\",\"variant\":{\"a b\":\"c\"}}",
        "{\"name\":\"x\",\"version\":\"1\",\"kind\":\"model\",\"variant\":{\"a\":1}}",
        "{\"name\":\"x\",\"version\":\"1\",\"kind\":\"daemon\"}",
        "{\"name\":\"../x\",\"version\":\"1\",\"kind\":\"model\"}",
        NULL,
    };
    for (int i = 0; bad[i]; i++)
        CHECK (pkg_desc_decode (bad[i], strlen (bad[i]), &back, err, sizeof err) == -1, "bad %d accepted", i);
    const char *ok = "{\"name\":\"x\",\"version\":\"1\",\"kind\":\"model\",\"future\":{\"field\":[1,2]}}";
    CHECK (pkg_desc_decode (ok, strlen (ok), &back, err, sizeof err) == 0, "unknown fields ignored: %s", err);
    if (verbose)
        printf ("pkg_desc: done\n");
    return rc;
}
