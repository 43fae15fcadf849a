/*  =========================================================================
    pkg_layout - OCI image layouts in and out (see layout.h).
    ========================================================================= */
#include "pkg/layout.h"
#include "pkg/sha.h"
#include "pkg/file.h"
#include "common/selftest.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_CHUNK       (1024 * 1024)
#define S_SMALL_BLOB  PKG_MANIFEST_MAX   //  blobs kept in memory while reading a .mwpkg
#define S_SMALL_MAX   256                //  ... at most this many
#define S_ENTRIES_MAX 4096               //  tar entries in a .mwpkg
#define S_TITLE_KEY   "org.opencontainers.image.title"
#define S_REF_KEY     "org.opencontainers.image.ref.name"

void
pkg_sha256 (const void *data, size_t len, uint8_t out[32])
{
    SHA256 (data, len, out);
}

// --------------------------------------------------------------------------
// JSON readers: exact types, bounded lengths

static json_object *
s_parse (const char *text, size_t len, int depth)
{
    json_tokener *tok = json_tokener_new_ex (depth);
    if (!tok || len > INT32_MAX) {
        json_tokener_free (tok);
        return NULL;
    }
    json_tokener_set_flags (tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex (tok, text, (int) len);
    if (o
        && (json_tokener_get_error (tok) != json_tokener_success
            || (size_t) json_tokener_get_parse_end (tok) != len)) {
        json_object_put (o);
        o = NULL;
    }
    json_tokener_free (tok);
    return o;
}

//  obj[key] into out (cap bytes with the NUL); absent leaves "".  -1 if
//  present and not a string, too long or holding a NUL.
static int
s_str (json_object *obj, const char *key, char *out, size_t cap)
{
    json_object *v = NULL;
    out[0] = 0;
    if (!obj || !json_object_object_get_ex (obj, key, &v))
        return 0;
    if (!json_object_is_type (v, json_type_string))
        return -1;
    size_t n = (size_t) json_object_get_string_len (v);
    const char *s = json_object_get_string (v);
    if (n >= cap || strlen (s) != n)
        return -1;
    memcpy (out, s, n + 1);
    return 0;
}

static int
s_descriptor (json_object *o, pkg_blob_t *b, char *err, size_t errlen, const char *what)
{
    memset (b, 0, sizeof *b);
    char digest[80];
    json_object *size = NULL, *ann = NULL;
    if (!o || !json_object_is_type (o, json_type_object)) {
        snprintf (err, errlen, "%s is not a descriptor object", what);
        return -1;
    }
    if (s_str (o, "mediaType", b->media_type, sizeof b->media_type) || !b->media_type[0]) {
        snprintf (err, errlen, "%s: mediaType missing or too long", what);
        return -1;
    }
    if (s_str (o, "digest", digest, sizeof digest) || pkg_digest_parse (digest, b->digest) != 0) {
        snprintf (err, errlen, "%s: digest is not sha256:<64 lower-case hex> (only SHA-256 is accepted)",
                  what);
        return -1;
    }
    if (!json_object_object_get_ex (o, "size", &size) || !json_object_is_type (size, json_type_int)
        || json_object_get_int64 (size) < 0 || (uint64_t) json_object_get_int64 (size) > PKG_SIZE_MAX) {
        snprintf (err, errlen, "%s: size missing or out of range", what);
        return -1;
    }
    b->size = (uint64_t) json_object_get_int64 (size);
    if (json_object_object_get_ex (o, "annotations", &ann)) {
        if (!json_object_is_type (ann, json_type_object)
            || s_str (ann, S_TITLE_KEY, b->title, sizeof b->title)) {
            snprintf (err, errlen, "%s: bad annotations", what);
            return -1;
        }
    }
    return 0;
}

static bool
s_is_index_type (const char *mt)
{
    return strcmp (mt, PKG_MT_OCI_INDEX) == 0 || strcmp (mt, PKG_MT_DOCKER_LIST) == 0;
}

int
pkg_manifest_parse (const char *text, size_t len, pkg_manifest_t *m, char *err, size_t errlen)
{
    memset (m, 0, sizeof *m);
    if (!text || len == 0 || len > PKG_MANIFEST_MAX) {
        snprintf (err, errlen, "manifest of %zu bytes (1..%d allowed)", len, PKG_MANIFEST_MAX);
        return -1;
    }
    json_object *o = s_parse (text, len, 8);
    int rc = -1;
    json_object *sv = NULL, *cfg = NULL, *layers = NULL;
    if (!o || !json_object_is_type (o, json_type_object)) {
        snprintf (err, errlen, "manifest is not one JSON object");
        goto done;
    }
    if (!json_object_object_get_ex (o, "schemaVersion", &sv) || !json_object_is_type (sv, json_type_int)
        || json_object_get_int64 (sv) != 2) {
        snprintf (err, errlen, "manifest schemaVersion is not 2");
        goto done;
    }
    if (s_str (o, "mediaType", m->media_type, sizeof m->media_type)
        || s_str (o, "artifactType", m->artifact_type, sizeof m->artifact_type)) {
        snprintf (err, errlen, "manifest mediaType or artifactType is not a short string");
        goto done;
    }
    if (!m->media_type[0])
        strcpy (m->media_type, PKG_MT_OCI_MANIFEST);   //  optional in OCI
    if (s_is_index_type (m->media_type)) {
        snprintf (err, errlen, "an index, not a manifest");
        goto done;
    }
    if (strcmp (m->media_type, PKG_MT_OCI_MANIFEST) != 0
        && strcmp (m->media_type, PKG_MT_DOCKER_MANIFEST) != 0) {
        snprintf (err, errlen, "manifest media type %s is not an OCI or Docker schema 2 image manifest",
                  m->media_type);
        goto done;
    }
    json_object_object_get_ex (o, "config", &cfg);
    if (s_descriptor (cfg, &m->config, err, errlen, "manifest config") != 0)
        goto done;
    if (!json_object_object_get_ex (o, "layers", &layers) || !json_object_is_type (layers, json_type_array)
        || json_object_array_length (layers) > PKG_LAYERS_MAX) {
        snprintf (err, errlen, "manifest layers is not an array of at most %d", PKG_LAYERS_MAX);
        goto done;
    }
    m->n_layers = (uint32_t) json_object_array_length (layers);
    for (uint32_t i = 0; i < m->n_layers; i++) {
        char what[40];
        snprintf (what, sizeof what, "manifest layer %u", i);
        if (s_descriptor (json_object_array_get_idx (layers, i), &m->layers[i], err, errlen, what) != 0)
            goto done;
    }
    if (pkg_manifest_layers_size (m) == UINT64_MAX) {
        snprintf (err, errlen, "manifest layers add up to more than %" PRIu64 " bytes",
                  (uint64_t) PKG_SIZE_MAX);
        goto done;
    }
    rc = 0;
done:
    json_object_put (o);
    return rc;
}

uint64_t
pkg_manifest_layers_size (const pkg_manifest_t *m)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        if (m->layers[i].size > PKG_SIZE_MAX - sum)
            return UINT64_MAX;
        sum += m->layers[i].size;
    }
    return sum;
}

static json_object *
s_descriptor_json (const pkg_blob_t *b)
{
    char d[72];
    pkg_digest_str (b->digest, d);
    json_object *o = json_object_new_object ();
    json_object_object_add (o, "mediaType", json_object_new_string (b->media_type));
    json_object_object_add (o, "digest", json_object_new_string (d));
    json_object_object_add (o, "size", json_object_new_int64 ((int64_t) b->size));
    if (b->title[0]) {
        json_object *a = json_object_new_object ();
        json_object_object_add (a, S_TITLE_KEY, json_object_new_string (b->title));
        json_object_object_add (o, "annotations", a);
    }
    return o;
}

static char *
s_json_take (json_object *o, size_t *len)
{
    const char *text =
        json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *out = text ? strdup (text) : NULL;
    json_object_put (o);
    if (out && len)
        *len = strlen (out);
    return out;
}

char *
pkg_manifest_encode (const pkg_manifest_t *m, size_t *len)
{
    json_object *o = json_object_new_object ();
    json_object_object_add (o, "schemaVersion", json_object_new_int (2));
    json_object_object_add (o, "mediaType", json_object_new_string (m->media_type));
    if (m->artifact_type[0])
        json_object_object_add (o, "artifactType", json_object_new_string (m->artifact_type));
    json_object_object_add (o, "config", s_descriptor_json (&m->config));
    json_object *layers = json_object_new_array ();
    for (uint32_t i = 0; i < m->n_layers; i++)
        json_object_array_add (layers, s_descriptor_json (&m->layers[i]));
    json_object_object_add (o, "layers", layers);
    return s_json_take (o, len);
}

bool
pkg_manifest_to_oci (pkg_manifest_t *m)
{
    bool changed = false;
    if (strcmp (m->media_type, PKG_MT_DOCKER_MANIFEST) == 0) {
        strcpy (m->media_type, PKG_MT_OCI_MANIFEST);
        changed = true;
    }
    if (strcmp (m->config.media_type, PKG_MT_DOCKER_CONFIG) == 0) {
        strcpy (m->config.media_type, PKG_MT_OCI_CONFIG);
        changed = true;
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const char *mt = m->layers[i].media_type;
        const char *to = NULL;
        if (strcmp (mt, PKG_MT_DOCKER_LAYER) == 0)
            to = PKG_MT_OCI_LAYER_GZIP;
        else if (strcmp (mt, "application/vnd.docker.image.rootfs.diff.tar") == 0)
            to = PKG_MT_OCI_LAYER;
        else if (strcmp (mt, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") == 0)
            to = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
        if (to) {
            strcpy (m->layers[i].media_type, to);
            changed = true;
        }
    }
    return changed;
}

int
pkg_index_parse (const char *text, size_t len, pkg_index_entry_t *entries, size_t max, size_t *n, char *err,
                 size_t errlen)
{
    *n = 0;
    if (!text || len == 0 || len > PKG_MANIFEST_MAX) {
        snprintf (err, errlen, "index of %zu bytes (1..%d allowed)", len, PKG_MANIFEST_MAX);
        return -1;
    }
    json_object *o = s_parse (text, len, 8);
    int rc = -1;
    json_object *sv = NULL, *list = NULL;
    char mt[128];
    if (!o || !json_object_is_type (o, json_type_object)) {
        snprintf (err, errlen, "index is not one JSON object");
        goto done;
    }
    if (!json_object_object_get_ex (o, "schemaVersion", &sv) || !json_object_is_type (sv, json_type_int)
        || json_object_get_int64 (sv) != 2) {
        snprintf (err, errlen, "index schemaVersion is not 2");
        goto done;
    }
    if (s_str (o, "mediaType", mt, sizeof mt) || (mt[0] && !s_is_index_type (mt))) {
        snprintf (err, errlen, "not an image index");
        goto done;
    }
    if (!json_object_object_get_ex (o, "manifests", &list) || !json_object_is_type (list, json_type_array)
        || json_object_array_length (list) > max || json_object_array_length (list) > PKG_INDEX_MAX) {
        snprintf (err, errlen, "index manifests is not an array of at most %zu",
                  max < PKG_INDEX_MAX ? max : PKG_INDEX_MAX);
        goto done;
    }
    for (size_t i = 0; i < json_object_array_length (list); i++) {
        json_object *e = json_object_array_get_idx (list, i);
        pkg_index_entry_t *x = &entries[i];
        memset (x, 0, sizeof *x);
        pkg_blob_t b;
        char what[32];
        snprintf (what, sizeof what, "index entry %zu", i);
        if (s_descriptor (e, &b, err, errlen, what) != 0)
            goto done;
        memcpy (x->media_type, b.media_type, sizeof x->media_type);
        memcpy (x->digest, b.digest, 32);
        x->size = b.size;
        json_object *plat = NULL, *ann = NULL;
        if (json_object_object_get_ex (e, "platform", &plat)
            && (!json_object_is_type (plat, json_type_object) || s_str (plat, "os", x->os, sizeof x->os)
                || s_str (plat, "architecture", x->arch, sizeof x->arch)
                || s_str (plat, "variant", x->arch_variant, sizeof x->arch_variant))) {
            snprintf (err, errlen, "%s: bad platform", what);
            goto done;
        }
        if (json_object_object_get_ex (e, "annotations", &ann)
            && (!json_object_is_type (ann, json_type_object)
                || s_str (ann, S_REF_KEY, x->ref, sizeof x->ref))) {
            snprintf (err, errlen, "%s: bad annotations", what);
            goto done;
        }
        if (s_str (e, "artifactType", x->artifact_type, sizeof x->artifact_type)) {
            snprintf (err, errlen, "%s: bad artifactType", what);
            goto done;
        }
        (*n)++;
    }
    rc = 0;
done:
    json_object_put (o);
    return rc;
}

char *
pkg_index_encode (const pkg_index_entry_t *entries, size_t n, size_t *len)
{
    json_object *o = json_object_new_object ();
    json_object_object_add (o, "schemaVersion", json_object_new_int (2));
    json_object_object_add (o, "mediaType", json_object_new_string (PKG_MT_OCI_INDEX));
    json_object *list = json_object_new_array ();
    for (size_t i = 0; i < n; i++) {
        const pkg_index_entry_t *x = &entries[i];
        char d[72];
        pkg_digest_str (x->digest, d);
        json_object *e = json_object_new_object ();
        json_object_object_add (e, "mediaType", json_object_new_string (x->media_type));
        json_object_object_add (e, "digest", json_object_new_string (d));
        json_object_object_add (e, "size", json_object_new_int64 ((int64_t) x->size));
        if (x->artifact_type[0])
            json_object_object_add (e, "artifactType", json_object_new_string (x->artifact_type));
        if (x->arch[0] || x->os[0]) {
            json_object *p = json_object_new_object ();
            json_object_object_add (p, "architecture", json_object_new_string (x->arch));
            json_object_object_add (p, "os", json_object_new_string (x->os));
            if (x->arch_variant[0])
                json_object_object_add (p, "variant", json_object_new_string (x->arch_variant));
            json_object_object_add (e, "platform", p);
        }
        if (x->ref[0]) {
            json_object *a = json_object_new_object ();
            json_object_object_add (a, S_REF_KEY, json_object_new_string (x->ref));
            json_object_object_add (e, "annotations", a);
        }
        json_object_array_add (list, e);
    }
    json_object_object_add (o, "manifests", list);
    return s_json_take (o, len);
}

// --------------------------------------------------------------------------
// Piece digests

struct _pkg_piecer_t {
    uint64_t size, fed;
    uint32_t piece_size, count, done;
    uint32_t in_piece;   //  bytes of the current piece so far
    pkg_sha256_state st;
    uint8_t *list;
};

pkg_piecer_t *
pkg_piecer_new (uint64_t size, uint32_t piece_size)
{
    uint32_t count = pkg_meta_piece_count (size, piece_size);
    if (!piece_size || count == 0 || count > PKG_PIECES_MAX)
        return NULL;
    pkg_piecer_t *self = calloc (1, sizeof *self);
    if (!self || !(self->list = malloc ((size_t) count * 32))) {
        free (self);
        return NULL;
    }
    self->size = size;
    self->piece_size = piece_size;
    self->count = count;
    pkg_sha256_init (&self->st);
    return self;
}

void
pkg_piecer_destroy (pkg_piecer_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->list);
        free (*self_p);
        *self_p = NULL;
    }
}

void
pkg_piecer_feed (pkg_piecer_t *self, const void *data, size_t len)
{
    const uint8_t *p = data;
    self->fed += len;
    while (len > 0 && self->done < self->count) {
        size_t take = self->piece_size - self->in_piece;
        if (take > len)
            take = len;
        pkg_sha256_update (&self->st, p, take);
        self->in_piece += (uint32_t) take;
        p += take;
        len -= take;
        uint64_t piece_end = (uint64_t) self->done * self->piece_size + self->in_piece;
        if (self->in_piece == self->piece_size || piece_end == self->size) {
            pkg_sha256_final (&self->st, self->list + (size_t) self->done * 32);
            pkg_sha256_init (&self->st);
            self->done++;
            self->in_piece = 0;
        }
    }
}

int
pkg_piecer_finish (pkg_piecer_t *self, const uint8_t **list, size_t *list_len, uint8_t digest[32])
{
    if (self->fed != self->size || self->done != self->count)
        return -1;
    *list = self->list;
    *list_len = (size_t) self->count * 32;
    pkg_sha256 (self->list, *list_len, digest);
    return 0;
}

// --------------------------------------------------------------------------
// The structural check

pkg_refuse_t
pkg_layout_check (const pkg_meta_t *meta, const char *manifest, size_t manifest_len, const char *config,
                  size_t config_len, const uint8_t *pieces, size_t pieces_len, pkg_manifest_t *m,
                  pkg_desc_t *desc, char *err, size_t errlen)
{
    uint8_t d[32];
    pkg_sha256 (manifest, manifest_len, d);
    if (manifest_len != meta->manifest_size || memcmp (d, meta->manifest, 32) != 0) {
        snprintf (err, errlen, "the manifest is not the one the metadata signs");
        return PKG_REFUSE_TAMPERED_MANIFEST;
    }
    char why[200];
    if (pkg_manifest_parse (manifest, manifest_len, m, why, sizeof why) != 0) {
        snprintf (err, errlen, "%s", why);
        return PKG_REFUSE_MALFORMED;
    }
    if (strcmp (m->artifact_type, PKG_ARTIFACT_TYPE) != 0 || strcmp (m->config.media_type, PKG_MT_CONFIG) != 0
        || m->n_layers == 0) {
        snprintf (err, errlen, "not a meshwatch package manifest (artifactType %s)", m->artifact_type);
        return PKG_REFUSE_MALFORMED;
    }
    pkg_sha256 (config, config_len, d);
    if (config_len != m->config.size || memcmp (d, m->config.digest, 32) != 0) {
        snprintf (err, errlen, "the config blob does not match its digest");
        return PKG_REFUSE_TAMPERED_MANIFEST;
    }
    if (pkg_desc_decode (config, config_len, desc, why, sizeof why) != 0) {
        snprintf (err, errlen, "%s", why);
        return PKG_REFUSE_MALFORMED;
    }
    if (strcmp (desc->name, meta->name) != 0 || strcmp (desc->version, meta->version) != 0
        || strcmp (desc->variant, meta->variant) != 0 || desc->kind != meta->kind) {
        snprintf (err, errlen, "the config describes %s@%s (%s), the metadata signs %s@%s (%s)", desc->name,
                  desc->version, pkg_kind_name (desc->kind), meta->name, meta->version,
                  pkg_kind_name (meta->kind));
        return PKG_REFUSE_TAMPERED_MANIFEST;
    }
    if (pkg_manifest_layers_size (m) != meta->size) {
        snprintf (err, errlen, "the layers add up to %" PRIu64 " bytes, the metadata signs %" PRIu64,
                  pkg_manifest_layers_size (m), meta->size);
        return PKG_REFUSE_TAMPERED_MANIFEST;
    }
    if (desc->kind == PKG_KIND_OCI_IMAGE
        && (m->n_layers < 2 || memcmp (m->layers[0].digest, desc->image_manifest, 32) != 0
            || strcmp (m->layers[0].media_type, desc->image_media_type) != 0)) {
        snprintf (err, errlen, "an oci-image package must carry its image manifest as the first layer");
        return PKG_REFUSE_MALFORMED;
    }
    if (pieces) {
        pkg_sha256 (pieces, pieces_len, d);
        if (pieces_len != (size_t) meta->piece_count * 32 || memcmp (d, meta->pieces, 32) != 0) {
            snprintf (err, errlen, "the piece list is not the one the metadata signs");
            return PKG_REFUSE_TAMPERED_MANIFEST;
        }
    }
    return PKG_OK;
}

// --------------------------------------------------------------------------
// Writing tar files and layouts

//  Where the writers put files: a tar (libarchive) or a folder.
typedef struct {
    struct archive *ar;   //  tar, or NULL for a folder
    const char *dir;
    char err[300];
} s_sink_t;

static void
s_entry_defaults (struct archive_entry *e)
{
    //  Reproducible: the same contents give the same bytes.
    archive_entry_set_mtime (e, 0, 0);
    archive_entry_set_uid (e, 0);
    archive_entry_set_gid (e, 0);
    archive_entry_set_uname (e, "");
    archive_entry_set_gname (e, "");
}

static int
s_sink_dir (s_sink_t *s, const char *name)
{
    if (s->ar) {
        struct archive_entry *e = archive_entry_new ();
        archive_entry_set_pathname (e, name);
        archive_entry_set_filetype (e, AE_IFDIR);
        archive_entry_set_perm (e, 0755);
        s_entry_defaults (e);
        int rc = archive_write_header (s->ar, e);
        archive_entry_free (e);
        if (rc != ARCHIVE_OK) {
            snprintf (s->err, sizeof s->err, "%s: %s", name, archive_error_string (s->ar));
            return -1;
        }
        return 0;
    }
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", s->dir, name);
    if (pkg_file_mkdirs (path, 0755) != 0) {
        snprintf (s->err, sizeof s->err, "%.200s: %s", path, strerror (errno));
        return -1;
    }
    return 0;
}

//  A file of `size` bytes: from memory (data) or through reader(layer).
static int
s_sink_file (s_sink_t *s, const char *name, uint64_t size, const void *data, pkg_blob_reader_fn *reader,
             void *ctx, uint32_t layer)
{
    int fd = -1;
    struct archive_entry *e = NULL;
    uint8_t *buf = NULL;
    char path[4096];
    if (s->ar) {
        e = archive_entry_new ();
        archive_entry_set_pathname (e, name);
        archive_entry_set_filetype (e, AE_IFREG);
        archive_entry_set_perm (e, 0644);
        archive_entry_set_size (e, (la_int64_t) size);
        s_entry_defaults (e);
        if (archive_write_header (s->ar, e) != ARCHIVE_OK) {
            snprintf (s->err, sizeof s->err, "%s: %s", name, archive_error_string (s->ar));
            archive_entry_free (e);
            return -1;
        }
        archive_entry_free (e);
    }
    else {
        snprintf (path, sizeof path, "%s/%s", s->dir, name);
        fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            snprintf (s->err, sizeof s->err, "%.200s: %s", path, strerror (errno));
            return -1;
        }
    }
    int rc = -1;
    uint64_t off = 0;
    if (!data && !(buf = malloc (S_CHUNK))) {
        snprintf (s->err, sizeof s->err, "out of memory");
        goto done;
    }
    while (off < size) {
        size_t n = size - off > S_CHUNK ? S_CHUNK : (size_t) (size - off);
        const void *p = data ? (const uint8_t *) data + off : buf;
        if (!data && reader (ctx, layer, off, buf, n) != 0) {
            snprintf (s->err, sizeof s->err, "%s: cannot read the blob's bytes", name);
            goto done;
        }
        if (s->ar ? archive_write_data (s->ar, p, n) != (la_ssize_t) n
                  : pkg_file_pwrite (fd, p, n, off) != 0) {
            snprintf (s->err, sizeof s->err, "%s: %s", name,
                      s->ar ? archive_error_string (s->ar) : strerror (errno));
            goto done;
        }
        off += n;
    }
    rc = 0;
done:
    free (buf);
    if (fd >= 0) {
        if (rc == 0 && fsync (fd) != 0) {
            snprintf (s->err, sizeof s->err, "%.200s: %s", path, strerror (errno));
            rc = -1;
        }
        close (fd);
    }
    return rc;
}

//  Open a tar writer on a temp file next to `out`; s_tar_close renames it
//  into place (or removes it).
typedef struct {
    char tmp[4096];
    int fd;
} s_tarfile_t;

static int
s_tar_open (s_sink_t *s, s_tarfile_t *t, const char *out)
{
    memset (s, 0, sizeof *s);
    snprintf (t->tmp, sizeof t->tmp, "%s.tmp.%d", out, (int) getpid ());
    t->fd = open (t->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (t->fd < 0) {
        snprintf (s->err, sizeof s->err, "%.200s: %s", t->tmp, strerror (errno));
        return -1;
    }
    s->ar = archive_write_new ();
    if (!s->ar || archive_write_set_format_pax_restricted (s->ar) != ARCHIVE_OK
        || archive_write_open_fd (s->ar, t->fd) != ARCHIVE_OK) {
        snprintf (s->err, sizeof s->err, "%s: cannot start a tar", out);
        if (s->ar)
            archive_write_free (s->ar);
        s->ar = NULL;
        close (t->fd);
        unlink (t->tmp);
        return -1;
    }
    return 0;
}

static int
s_tar_close (s_sink_t *s, s_tarfile_t *t, const char *out, bool ok)
{
    if (archive_write_close (s->ar) != ARCHIVE_OK && ok) {
        snprintf (s->err, sizeof s->err, "%s: %s", out, archive_error_string (s->ar));
        ok = false;
    }
    archive_write_free (s->ar);
    s->ar = NULL;
    if (ok && fsync (t->fd) != 0) {
        snprintf (s->err, sizeof s->err, "%s: %s", out, strerror (errno));
        ok = false;
    }
    close (t->fd);
    if (ok && rename (t->tmp, out) != 0) {
        snprintf (s->err, sizeof s->err, "%s: %s", out, strerror (errno));
        ok = false;
    }
    if (!ok) {
        unlink (t->tmp);
        return -1;
    }
    char dir[4096];
    snprintf (dir, sizeof dir, "%s", out);
    pkg_file_sync_dir (dirname (dir));
    return 0;
}

static bool
s_seen_before (const pkg_manifest_t *m, uint32_t i)
{
    for (uint32_t j = 0; j < i; j++)
        if (memcmp (m->layers[j].digest, m->layers[i].digest, 32) == 0)
            return true;
    return false;
}

static int
s_blob_name (const uint8_t d[32], char *out, size_t cap)
{
    char hex[65];
    pkg_hex (d, 32, hex);
    return snprintf (out, cap, "blobs/sha256/%s", hex);
}

static const char *s_oci_layout = "{\"imageLayoutVersion\":\"1.0.0\"}";

int
pkg_layout_write_mwpkg (const char *out, const char *meta, size_t meta_len, const char *sig, size_t sig_len,
                        const char *manifest, size_t manifest_len, const char *config, size_t config_len,
                        const pkg_manifest_t *m, pkg_blob_reader_fn *reader, void *ctx, char *err,
                        size_t errlen)
{
    s_sink_t s;
    s_tarfile_t t;
    if (s_tar_open (&s, &t, out) != 0) {
        snprintf (err, errlen, "%s", s.err);
        return -1;
    }
    pkg_meta_t md;
    char why[200];
    bool ok = pkg_meta_decode (meta, meta_len, &md, why, sizeof why) == 0;
    if (!ok)
        snprintf (s.err, sizeof s.err, "%s", why);
    //  The index names the package; a tool that only knows OCI sees one
    //  artifact tagged with the version.
    pkg_index_entry_t ix = {.size = manifest_len};
    strcpy (ix.media_type, PKG_MT_OCI_MANIFEST);
    strcpy (ix.artifact_type, PKG_ARTIFACT_TYPE);
    pkg_sha256 (manifest, manifest_len, ix.digest);
    if (ok)
        snprintf (ix.ref, sizeof ix.ref, "%s", md.version);
    size_t index_len = 0;
    char *index = ok ? pkg_index_encode (&ix, 1, &index_len) : NULL;
    char name[128];
    ok = ok && index
         && s_sink_file (&s, "oci-layout", strlen (s_oci_layout), s_oci_layout, NULL, NULL, 0) == 0
         && s_sink_file (&s, "index.json", index_len, index, NULL, NULL, 0) == 0
         && s_sink_dir (&s, "meshwatch") == 0
         && s_sink_file (&s, PKG_META_FILE, meta_len, meta, NULL, NULL, 0) == 0
         && (!sig || s_sink_file (&s, PKG_SIG_FILE, sig_len, sig, NULL, NULL, 0) == 0)
         && s_sink_dir (&s, "blobs") == 0 && s_sink_dir (&s, "blobs/sha256") == 0;
    free (index);
    if (ok) {
        s_blob_name (ix.digest, name, sizeof name);
        ok = s_sink_file (&s, name, manifest_len, manifest, NULL, NULL, 0) == 0;
    }
    if (ok) {
        s_blob_name (m->config.digest, name, sizeof name);
        ok = s_sink_file (&s, name, config_len, config, NULL, NULL, 0) == 0;
    }
    for (uint32_t i = 0; ok && i < m->n_layers; i++) {
        if (s_seen_before (m, i) || memcmp (m->layers[i].digest, m->config.digest, 32) == 0)
            continue;
        s_blob_name (m->layers[i].digest, name, sizeof name);
        ok = s_sink_file (&s, name, m->layers[i].size, NULL, reader, ctx, i) == 0;
    }
    if (s_tar_close (&s, &t, out, ok) != 0) {
        snprintf (err, errlen, "%s", s.err);
        return -1;
    }
    return 0;
}

//  The image an oci-image package carries: its manifest (layer 0) read
//  and parsed, so its config and layers can be matched to ours.
static int
s_image_manifest (const pkg_manifest_t *m, pkg_blob_reader_fn *reader, void *ctx, pkg_manifest_t *img,
                  char *err, size_t errlen)
{
    if (m->n_layers < 2 || m->layers[0].size > PKG_MANIFEST_MAX) {
        snprintf (err, errlen, "not an oci-image package");
        return -1;
    }
    size_t n = (size_t) m->layers[0].size;
    char *text = malloc (n + 1);
    if (!text || reader (ctx, 0, 0, text, n) != 0) {
        free (text);
        snprintf (err, errlen, "cannot read the image manifest");
        return -1;
    }
    char why[200];
    int rc = pkg_manifest_parse (text, n, img, why, sizeof why);
    free (text);
    if (rc != 0) {
        snprintf (err, errlen, "image manifest: %s", why);
        return -1;
    }
    //  Every blob it names must be one we carry (layers 1..n).
    if (img->n_layers + 2 != m->n_layers || memcmp (img->config.digest, m->layers[1].digest, 32) != 0) {
        snprintf (err, errlen, "the image manifest does not match the package's layers");
        return -1;
    }
    for (uint32_t i = 0; i < img->n_layers; i++)
        if (memcmp (img->layers[i].digest, m->layers[i + 2].digest, 32) != 0) {
            snprintf (err, errlen, "the image manifest does not match the package's layers");
            return -1;
        }
    return 0;
}

static int
s_write_image (s_sink_t *s, pkg_export_format_t format, const char *name, const char *tag,
               const pkg_manifest_t *m, const pkg_manifest_t *img, pkg_blob_reader_fn *reader, void *ctx)
{
    char bname[128];
    bool ok = true;
    if (format == PKG_EXPORT_OCI) {
        pkg_index_entry_t ix = {.size = m->layers[0].size};
        snprintf (ix.media_type, sizeof ix.media_type, "%s", m->layers[0].media_type);
        memcpy (ix.digest, m->layers[0].digest, 32);
        snprintf (ix.ref, sizeof ix.ref, "%s", tag);
        size_t index_len = 0;
        char *index = pkg_index_encode (&ix, 1, &index_len);
        ok = index && s_sink_file (s, "oci-layout", strlen (s_oci_layout), s_oci_layout, NULL, NULL, 0) == 0
             && s_sink_file (s, "index.json", index_len, index, NULL, NULL, 0) == 0;
        free (index);
    }
    else {
        //  docker save's manifest.json: the config and layers by path.
        json_object *list = json_object_new_array ();
        json_object *e = json_object_new_object ();
        s_blob_name (img->config.digest, bname, sizeof bname);
        json_object_object_add (e, "Config", json_object_new_string (bname));
        json_object *tags = json_object_new_array ();
        char repotag[300];
        snprintf (repotag, sizeof repotag, "%s:%s", name, tag);
        json_object_array_add (tags, json_object_new_string (repotag));
        json_object_object_add (e, "RepoTags", tags);
        json_object *layers = json_object_new_array ();
        for (uint32_t i = 0; i < img->n_layers; i++) {
            s_blob_name (img->layers[i].digest, bname, sizeof bname);
            json_object_array_add (layers, json_object_new_string (bname));
        }
        json_object_object_add (e, "Layers", layers);
        json_object_array_add (list, e);
        size_t len = 0;
        char *text = s_json_take (list, &len);
        ok = text && s_sink_file (s, "manifest.json", len, text, NULL, NULL, 0) == 0;
        free (text);
    }
    ok = ok && s_sink_dir (s, "blobs") == 0 && s_sink_dir (s, "blobs/sha256") == 0;
    //  Docker archives have no use for the image manifest (layer 0).
    for (uint32_t i = format == PKG_EXPORT_OCI ? 0 : 1; ok && i < m->n_layers; i++) {
        if (s_seen_before (m, i))
            continue;
        s_blob_name (m->layers[i].digest, bname, sizeof bname);
        ok = s_sink_file (s, bname, m->layers[i].size, NULL, reader, ctx, i) == 0;
    }
    return ok ? 0 : -1;
}

int
pkg_layout_write_image (const char *out, pkg_export_format_t format, const char *name, const char *tag,
                        const pkg_manifest_t *m, pkg_blob_reader_fn *reader, void *ctx, char *err,
                        size_t errlen)
{
    pkg_manifest_t img;
    if (s_image_manifest (m, reader, ctx, &img, err, errlen) != 0)
        return -1;
    s_sink_t s;
    s_tarfile_t t;
    if (s_tar_open (&s, &t, out) != 0) {
        snprintf (err, errlen, "%s", s.err);
        return -1;
    }
    bool ok = s_write_image (&s, format, name, tag, m, &img, reader, ctx) == 0;
    if (s_tar_close (&s, &t, out, ok) != 0) {
        snprintf (err, errlen, "%s", s.err);
        return -1;
    }
    return 0;
}

int
pkg_layout_write_image_dir (const char *dir, const char *tag, const pkg_manifest_t *m,
                            pkg_blob_reader_fn *reader, void *ctx, char *err, size_t errlen)
{
    pkg_manifest_t img;
    if (s_image_manifest (m, reader, ctx, &img, err, errlen) != 0)
        return -1;
    s_sink_t s = {.dir = dir};
    if (pkg_file_mkdirs (dir, 0755) != 0
        || s_write_image (&s, PKG_EXPORT_OCI, "", tag, m, &img, reader, ctx) != 0) {
        snprintf (err, errlen, "%s", s.err[0] ? s.err : strerror (errno));
        return -1;
    }
    return 0;
}

// --------------------------------------------------------------------------
// Building

//  The layer tar of model and exec packages: PATHs (files or folders) at
//  the top, folders walked in name order, reproducible entries.
static int
s_add_tree (struct archive *ar, const char *path, const char *name, char *err, size_t errlen, int depth)
{
    struct stat st;
    if (depth > 64) {
        snprintf (err, errlen, "%s: folders nested too deep", path);
        return -1;
    }
    if (lstat (path, &st) != 0) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        return -1;
    }
    struct archive_entry *e = archive_entry_new ();
    archive_entry_set_pathname (e, name);
    s_entry_defaults (e);
    int rc = -1;
    if (S_ISREG (st.st_mode)) {
        archive_entry_set_filetype (e, AE_IFREG);
        archive_entry_set_perm (e, (st.st_mode & 0111) ? 0755 : 0644);
        archive_entry_set_size (e, st.st_size);
    }
    else if (S_ISDIR (st.st_mode)) {
        archive_entry_set_filetype (e, AE_IFDIR);
        archive_entry_set_perm (e, 0755);
    }
    else if (S_ISLNK (st.st_mode)) {
        char target[4096];
        ssize_t n = readlink (path, target, sizeof target - 1);
        if (n < 0) {
            snprintf (err, errlen, "%s: %s", path, strerror (errno));
            goto done;
        }
        target[n] = 0;
        archive_entry_set_filetype (e, AE_IFLNK);
        archive_entry_set_perm (e, 0777);
        archive_entry_set_symlink (e, target);
    }
    else {
        snprintf (err, errlen, "%s: only files, folders and symlinks go into a package", path);
        goto done;
    }
    if (archive_write_header (ar, e) != ARCHIVE_OK) {
        snprintf (err, errlen, "%s: %s", path, archive_error_string (ar));
        goto done;
    }
    if (S_ISREG (st.st_mode)) {
        int fd = open (path, O_RDONLY | O_CLOEXEC);
        uint8_t *buf = malloc (S_CHUNK);
        uint64_t left = (uint64_t) st.st_size, off = 0;
        bool ok = fd >= 0 && buf;
        while (ok && left > 0) {
            size_t n = left > S_CHUNK ? S_CHUNK : (size_t) left;
            ok = pkg_file_pread (fd, buf, n, off) == 0 && archive_write_data (ar, buf, n) == (la_ssize_t) n;
            off += n;
            left -= n;
        }
        free (buf);
        if (fd >= 0)
            close (fd);
        if (!ok) {
            snprintf (err, errlen, "%s: %s", path, strerror (errno));
            goto done;
        }
    }
    if (S_ISDIR (st.st_mode)) {
        struct dirent **list = NULL;
        int n = scandir (path, &list, NULL, alphasort);
        if (n < 0) {
            snprintf (err, errlen, "%s: %s", path, strerror (errno));
            goto done;
        }
        bool ok = true;
        for (int i = 0; i < n; i++) {
            const char *d = list[i]->d_name;
            if (ok && strcmp (d, ".") != 0 && strcmp (d, "..") != 0) {
                char sub[4096], subname[4096];
                if (snprintf (sub, sizeof sub, "%s/%s", path, d) >= (int) sizeof sub
                    || snprintf (subname, sizeof subname, "%s/%s", name, d) >= (int) sizeof subname) {
                    snprintf (err, errlen, "%s: path too long", path);
                    ok = false;
                }
                else if (s_add_tree (ar, sub, subname, err, errlen, depth + 1) != 0)
                    ok = false;
            }
            free (list[i]);
        }
        free (list);
        if (!ok)
            goto done;
    }
    rc = 0;
done:
    archive_entry_free (e);
    return rc;
}

static int
s_make_layer (const char *const *paths, size_t n, const char *out, char *err, size_t errlen)
{
    //  Two PATHs with one base name would overwrite each other unpacked.
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) {
            char a[4096], b[4096];
            snprintf (a, sizeof a, "%s", paths[i]);
            snprintf (b, sizeof b, "%s", paths[j]);
            if (strcmp (basename (a), basename (b)) == 0) {
                snprintf (err, errlen, "%s and %s have the same name in the package", paths[j], paths[i]);
                return -1;
            }
        }
    struct archive *ar = archive_write_new ();
    if (!ar || archive_write_set_format_pax_restricted (ar) != ARCHIVE_OK
        || archive_write_open_filename (ar, out) != ARCHIVE_OK) {
        snprintf (err, errlen, "%s: %s", out, ar ? archive_error_string (ar) : "out of memory");
        if (ar)
            archive_write_free (ar);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char copy[4096];
        snprintf (copy, sizeof copy, "%s", paths[i]);
        //  Strip trailing slashes so "models/" packs as "models".
        size_t l = strlen (copy);
        while (l > 1 && copy[l - 1] == '/')
            copy[--l] = 0;
        const char *base = basename (copy);
        if (strcmp (base, "/") == 0 || strcmp (base, ".") == 0 || strcmp (base, "..") == 0) {
            snprintf (err, errlen, "%s: name a file or folder, not '%s'", paths[i], base);
            rc = -1;
            break;
        }
        rc = s_add_tree (ar, paths[i], base, err, errlen, 0);
    }
    if (archive_write_close (ar) != ARCHIVE_OK && rc == 0) {
        snprintf (err, errlen, "%s: %s", out, archive_error_string (ar));
        rc = -1;
    }
    archive_write_free (ar);
    return rc;
}

typedef struct {
    const char **paths;
    size_t n;
} s_files_t;

static int
s_read_files (void *ctx, uint32_t layer, uint64_t off, void *buf, size_t len)
{
    s_files_t *f = ctx;
    if (layer >= f->n)
        return -1;
    int fd = open (f->paths[layer], O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = pkg_file_pread (fd, buf, len, off);
    close (fd);
    return rc;
}

//  The default seq: the wall clock in ms, so that two builds of a line in
//  one second still get growing numbers.
static uint64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int
pkg_build (const pkg_build_opts_t *o, pkg_meta_t *meta_out, char *err, size_t errlen)
{
    if (!o->key || !o->out || (o->desc.kind == PKG_KIND_OCI_IMAGE ? !o->n_blobs : !o->n_paths)) {
        snprintf (err, errlen,
                  o->desc.kind == PKG_KIND_OCI_IMAGE ? "no image to package" : "no files to package");
        return -1;
    }
    char tmpl[4096], outdir[4096];
    snprintf (outdir, sizeof outdir, "%s", o->out);
    snprintf (tmpl, sizeof tmpl, "%s/.mwpkg-build.XXXXXX", o->tmpdir ? o->tmpdir : dirname (outdir));
    if (!mkdtemp (tmpl)) {
        snprintf (err, errlen, "%s: %s", tmpl, strerror (errno));
        return -1;
    }
    int rc = -1;
    char layer_path[4200];
    const char *paths[PKG_LAYERS_MAX];
    pkg_manifest_t m = {0};
    pkg_piecer_t *piecer = NULL;
    char *config = NULL, *manifest = NULL, *meta = NULL, *sig = NULL;
    uint8_t *buf = NULL;
    strcpy (m.media_type, PKG_MT_OCI_MANIFEST);
    strcpy (m.artifact_type, PKG_ARTIFACT_TYPE);
    if (o->desc.kind != PKG_KIND_OCI_IMAGE) {
        snprintf (layer_path, sizeof layer_path, "%s/layer.tar", tmpl);
        if (s_make_layer (o->paths, o->n_paths, layer_path, err, errlen) != 0)
            goto done;
        paths[0] = layer_path;
        m.n_layers = 1;
        strcpy (m.layers[0].media_type, PKG_MT_OCI_LAYER);
        snprintf (m.layers[0].title, sizeof m.layers[0].title, "%s.tar", o->desc.name);
    }
    else {
        if (o->n_blobs > PKG_LAYERS_MAX) {
            snprintf (err, errlen, "more than %d blobs", PKG_LAYERS_MAX);
            goto done;
        }
        for (size_t i = 0; i < o->n_blobs; i++) {
            paths[i] = o->blobs[i].path;
            memcpy (m.layers[i].media_type, o->blobs[i].media_type, sizeof m.layers[i].media_type);
            memcpy (m.layers[i].title, o->blobs[i].title, sizeof m.layers[i].title);
        }
        m.n_layers = (uint32_t) o->n_blobs;
    }
    //  Sizes first (the piece size depends on the total), then one pass
    //  that hashes each blob and the pieces across them.
    uint64_t total = 0;
    for (uint32_t i = 0; i < m.n_layers; i++) {
        struct stat st;
        if (stat (paths[i], &st) != 0 || !S_ISREG (st.st_mode)) {
            snprintf (err, errlen, "%s: %s", paths[i], errno ? strerror (errno) : "not a file");
            goto done;
        }
        m.layers[i].size = (uint64_t) st.st_size;
        total += (uint64_t) st.st_size;
    }
    uint32_t piece_size = pkg_meta_piece_size_for (total);
    if (!piece_size) {
        snprintf (err, errlen, "%" PRIu64 " bytes: a package holds 1 to %" PRIu64 " bytes", total,
                  (uint64_t) PKG_SIZE_MAX);
        goto done;
    }
    piecer = pkg_piecer_new (total, piece_size);
    buf = malloc (S_CHUNK);
    if (!piecer || !buf) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < m.n_layers; i++) {
        int fd = open (paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            snprintf (err, errlen, "%s: %s", paths[i], strerror (errno));
            goto done;
        }
        pkg_sha256_state st;
        pkg_sha256_init (&st);
        uint64_t off = 0;
        while (off < m.layers[i].size) {
            size_t n = m.layers[i].size - off > S_CHUNK ? S_CHUNK : (size_t) (m.layers[i].size - off);
            if (pkg_file_pread (fd, buf, n, off) != 0) {
                snprintf (err, errlen, "%s: %s", paths[i], strerror (errno));
                close (fd);
                goto done;
            }
            pkg_sha256_update (&st, buf, n);
            pkg_piecer_feed (piecer, buf, n);
            off += n;
        }
        close (fd);
        pkg_sha256_final (&st, m.layers[i].digest);
    }
    pkg_meta_t md = {.kind = o->desc.kind,
                     .seq = o->seq ? o->seq : s_now_ms (),
                     .expires = o->expires,
                     .size = total,
                     .piece_size = piece_size};
    const uint8_t *list = NULL;
    size_t list_len = 0;
    if (pkg_piecer_finish (piecer, &list, &list_len, md.pieces) != 0) {
        snprintf (err, errlen, "a file changed while it was packed");
        goto done;
    }
    md.piece_count = (uint32_t) (list_len / 32);
    //  The config (our manifest), the OCI manifest, the metadata.
    size_t config_len = 0, manifest_len = 0, meta_len = 0;
    if (!(config = pkg_desc_encode (&o->desc, &config_len, err, errlen)))
        goto done;
    strcpy (m.config.media_type, PKG_MT_CONFIG);
    m.config.size = config_len;
    pkg_sha256 (config, config_len, m.config.digest);
    if (!(manifest = pkg_manifest_encode (&m, &manifest_len))) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    pkg_sha256 (manifest, manifest_len, md.manifest);
    md.manifest_size = manifest_len;
    memcpy (md.name, o->desc.name, sizeof md.name);
    memcpy (md.version, o->desc.version, sizeof md.version);
    if (pkg_meta_variant_canon (o->desc.variant, md.variant, sizeof md.variant) != 0) {
        snprintf (err, errlen, "bad variant");
        goto done;
    }
    if (!(meta = pkg_meta_encode (&md, &meta_len))) {
        snprintf (err, errlen, "the metadata is out of bounds (name, version, seq %" PRIu64 ")", md.seq);
        goto done;
    }
    char trusted[PKG_NAME_MAX + PKG_VERSION_MAX + 64];
    snprintf (trusted, sizeof trusted, "meshwatch package %s@%s seq=%" PRIu64, md.name, md.version, md.seq);
    if (!(sig = pkg_sign (o->key, meta, meta_len, trusted, o->legacy_sig))) {
        snprintf (err, errlen, "signing failed");
        goto done;
    }
    s_files_t files = {.paths = paths, .n = m.n_layers};
    if (pkg_layout_write_mwpkg (o->out, meta, meta_len, sig, strlen (sig), manifest, manifest_len, config,
                                config_len, &m, s_read_files, &files, err, errlen)
        != 0)
        goto done;
    if (meta_out)
        *meta_out = md;
    rc = 0;
done:
    pkg_piecer_destroy (&piecer);
    free (buf);
    free (config);
    free (manifest);
    free (meta);
    free (sig);
    pkg_file_remove_tree (tmpl);
    return rc;
}

// --------------------------------------------------------------------------
// Reading a .mwpkg

typedef struct {
    uint8_t digest[32];
    char *data;
    size_t len;
} s_small_t;

struct _pkg_archive_t {
    char path[4096];
    char *meta_text, *sig_text, *index_text;
    size_t meta_len, sig_len, index_len;
    s_small_t small[S_SMALL_MAX];
    size_t n_small;
    pkg_meta_t meta;
    pkg_manifest_t manifest;
    pkg_desc_t desc;
    const s_small_t *manifest_blob, *config_blob;
};

static struct archive *
s_reader_open (const char *path, char *err, size_t errlen)
{
    struct archive *ar = archive_read_new ();
    if (!ar) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    archive_read_support_format_tar (ar);
    archive_read_support_filter_gzip (ar);
    archive_read_support_filter_zstd (ar);
    if (archive_read_open_filename (ar, path, 1 << 20) != ARCHIVE_OK) {
        snprintf (err, errlen, "%s: %s", path, archive_error_string (ar));
        archive_read_free (ar);
        return NULL;
    }
    return ar;
}

//  The entry's name without leading "./" (tar -C dir . writes them).
static const char *
s_entry_name (struct archive_entry *e)
{
    const char *n = archive_entry_pathname (e);
    while (n && strncmp (n, "./", 2) == 0)
        n += 2;
    return n ? n : "";
}

static char *
s_read_entry (struct archive *ar, size_t size)
{
    char *buf = malloc (size + 1);
    if (!buf)
        return NULL;
    size_t got = 0;
    while (got < size) {
        la_ssize_t n = archive_read_data (ar, buf + got, size - got);
        if (n <= 0) {
            free (buf);
            return NULL;
        }
        got += (size_t) n;
    }
    buf[size] = 0;
    return buf;
}

static const s_small_t *
s_small_find (pkg_archive_t *self, const uint8_t d[32])
{
    for (size_t i = 0; i < self->n_small; i++)
        if (memcmp (self->small[i].digest, d, 32) == 0)
            return &self->small[i];
    return NULL;
}

pkg_archive_t *
pkg_archive_open (const char *path, pkg_refuse_t *why, char *err, size_t errlen)
{
    *why = PKG_REFUSE_MALFORMED;
    pkg_archive_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    snprintf (self->path, sizeof self->path, "%s", path);
    struct archive *ar = s_reader_open (path, err, errlen);
    if (!ar)
        goto fail;
    struct archive_entry *e;
    int r, n_entries = 0;
    bool layout_ok = false;
    while ((r = archive_read_next_header (ar, &e)) == ARCHIVE_OK) {
        if (++n_entries > S_ENTRIES_MAX) {
            snprintf (err, errlen, "%s: more than %d entries", path, S_ENTRIES_MAX);
            goto fail;
        }
        const char *name = s_entry_name (e);
        la_int64_t size = archive_entry_size (e);
        if (archive_entry_filetype (e) != AE_IFREG || size < 0)
            continue;
        char **slot = NULL;
        size_t *slot_len = NULL, max = 0;
        if (strcmp (name, "index.json") == 0)
            slot = &self->index_text, slot_len = &self->index_len, max = PKG_MANIFEST_MAX;
        else if (strcmp (name, PKG_META_FILE) == 0)
            slot = &self->meta_text, slot_len = &self->meta_len, max = PKG_META_MAX;
        else if (strcmp (name, PKG_SIG_FILE) == 0)
            slot = &self->sig_text, slot_len = &self->sig_len, max = PKG_SIGN_TEXT_MAX;
        if (slot) {
            if (*slot || (size_t) size > max) {
                snprintf (err, errlen, "%s: %s is repeated or larger than %zu bytes", path, name, max);
                goto fail;
            }
            if (!(*slot = s_read_entry (ar, (size_t) size))) {
                snprintf (err, errlen, "%s: cannot read %s", path, name);
                goto fail;
            }
            *slot_len = (size_t) size;
            continue;
        }
        if (strcmp (name, "oci-layout") == 0 && size < 1024) {
            char *text = s_read_entry (ar, (size_t) size);
            layout_ok = text && strstr (text, "\"imageLayoutVersion\"") != NULL;
            free (text);
            continue;
        }
        uint8_t d[32];
        char digest[80];
        if (strncmp (name, "blobs/sha256/", 13) == 0 && size <= S_SMALL_BLOB
            && snprintf (digest, sizeof digest, "sha256:%s", name + 13) < (int) sizeof digest
            && pkg_digest_parse (digest, d) == 0 && !s_small_find (self, d)) {
            if (self->n_small == S_SMALL_MAX)
                continue;   //  a package has a few small blobs; more are layers read later
            s_small_t *b = &self->small[self->n_small];
            if (!(b->data = s_read_entry (ar, (size_t) size))) {
                snprintf (err, errlen, "%s: cannot read %s", path, name);
                goto fail;
            }
            memcpy (b->digest, d, 32);
            b->len = (size_t) size;
            self->n_small++;
        }
    }
    if (r != ARCHIVE_EOF) {
        snprintf (err, errlen, "%s: %s", path, archive_error_string (ar));
        goto fail;
    }
    archive_read_free (ar);
    ar = NULL;
    if (!layout_ok || !self->index_text) {
        snprintf (err, errlen, "%s: not an OCI image layout (no oci-layout or index.json)", path);
        goto fail;
    }
    if (!self->meta_text) {
        snprintf (err, errlen, "%s: no %s (not a meshwatch package, or built without metadata)", path,
                  PKG_META_FILE);
        goto fail;
    }
    char whyt[300];
    if (pkg_meta_decode (self->meta_text, self->meta_len, &self->meta, whyt, sizeof whyt) != 0) {
        snprintf (err, errlen, "%s: %s", path, whyt);
        goto fail;
    }
    //  The index must name the signed manifest.
    pkg_index_entry_t entries[PKG_INDEX_MAX];
    size_t n = 0;
    if (pkg_index_parse (self->index_text, self->index_len, entries, PKG_INDEX_MAX, &n, whyt, sizeof whyt)
        != 0) {
        snprintf (err, errlen, "%s: %s", path, whyt);
        goto fail;
    }
    bool named = false;
    for (size_t i = 0; i < n; i++)
        named = named || memcmp (entries[i].digest, self->meta.manifest, 32) == 0;
    if (!named) {
        *why = PKG_REFUSE_TAMPERED_MANIFEST;
        snprintf (err, errlen, "%s: index.json does not list the manifest the metadata signs", path);
        goto fail;
    }
    self->manifest_blob = s_small_find (self, self->meta.manifest);
    if (!self->manifest_blob) {
        *why = PKG_REFUSE_TAMPERED_MANIFEST;
        snprintf (err, errlen, "%s: the signed manifest is not in the package", path);
        goto fail;
    }
    //  The config digest comes from the manifest: parse it once to find it
    //  (pkg_layout_check parses again, after checking the digest).
    pkg_manifest_t peek;
    if (pkg_manifest_parse (self->manifest_blob->data, self->manifest_blob->len, &peek, whyt, sizeof whyt)
        == 0)
        self->config_blob = s_small_find (self, peek.config.digest);
    static const s_small_t none = {{0}, (char *) "", 0};
    const s_small_t *cfg = self->config_blob ? self->config_blob : &none;
    pkg_refuse_t rc =
        pkg_layout_check (&self->meta, self->manifest_blob->data, self->manifest_blob->len, cfg->data,
                          cfg->len, NULL, 0, &self->manifest, &self->desc, whyt, sizeof whyt);
    if (rc != PKG_OK) {
        *why = rc;
        snprintf (err, errlen, "%s: %s", path, whyt);
        goto fail;
    }
    *why = PKG_OK;
    return self;
fail:
    if (ar)
        archive_read_free (ar);
    pkg_archive_destroy (&self);
    return NULL;
}

void
pkg_archive_destroy (pkg_archive_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pkg_archive_t *self = *self_p;
    free (self->meta_text);
    free (self->sig_text);
    free (self->index_text);
    for (size_t i = 0; i < self->n_small; i++)
        free (self->small[i].data);
    free (self);
    *self_p = NULL;
}

const char *
pkg_archive_meta_text (pkg_archive_t *self, size_t *len)
{
    *len = self->meta_len;
    return self->meta_text;
}

const char *
pkg_archive_sig_text (pkg_archive_t *self, size_t *len)
{
    *len = self->sig_len;
    return self->sig_text;
}

const pkg_meta_t *
pkg_archive_meta (pkg_archive_t *self)
{
    return &self->meta;
}

const pkg_manifest_t *
pkg_archive_manifest (pkg_archive_t *self)
{
    return &self->manifest;
}

const pkg_desc_t *
pkg_archive_desc (pkg_archive_t *self)
{
    return &self->desc;
}

const char *
pkg_archive_manifest_text (pkg_archive_t *self, size_t *len)
{
    *len = self->manifest_blob->len;
    return self->manifest_blob->data;
}

const char *
pkg_archive_config_text (pkg_archive_t *self, size_t *len)
{
    *len = self->config_blob->len;
    return self->config_blob->data;
}

pkg_refuse_t
pkg_archive_copy_layers (pkg_archive_t *self, int fd, char *err, size_t errlen)
{
    const pkg_manifest_t *m = &self->manifest;
    uint64_t offsets[PKG_LAYERS_MAX];
    bool done[PKG_LAYERS_MAX] = {false};
    uint64_t off = 0;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        offsets[i] = off;
        off += m->layers[i].size;
    }
    struct archive *ar = s_reader_open (self->path, err, errlen);
    if (!ar)
        return PKG_REFUSE_MALFORMED;
    uint8_t *buf = malloc (S_CHUNK);
    pkg_refuse_t rc = PKG_REFUSE_MALFORMED;
    struct archive_entry *e;
    int r;
    if (!buf) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    while ((r = archive_read_next_header (ar, &e)) == ARCHIVE_OK) {
        const char *name = s_entry_name (e);
        uint8_t d[32];
        char digest[80];
        if (archive_entry_filetype (e) != AE_IFREG || strncmp (name, "blobs/sha256/", 13) != 0
            || snprintf (digest, sizeof digest, "sha256:%s", name + 13) >= (int) sizeof digest
            || pkg_digest_parse (digest, d) != 0)
            continue;
        int first = -1;
        for (uint32_t i = 0; i < m->n_layers && first < 0; i++)
            if (!done[i] && memcmp (m->layers[i].digest, d, 32) == 0)
                first = (int) i;
        if (first < 0)
            continue;
        const pkg_blob_t *b = &m->layers[first];
        if ((uint64_t) archive_entry_size (e) != b->size) {
            snprintf (err, errlen, "blob %s is %lld bytes, the manifest says %" PRIu64, name + 13,
                      (long long) archive_entry_size (e), b->size);
            rc = PKG_REFUSE_TAMPERED_BLOB;
            goto done;
        }
        pkg_sha256_state st;
        pkg_sha256_init (&st);
        uint64_t got = 0;
        while (got < b->size) {
            la_ssize_t n = archive_read_data (ar, buf, S_CHUNK);
            if (n <= 0 || (uint64_t) n > b->size - got) {
                snprintf (err, errlen, "blob %s: %s", name + 13, n < 0 ? archive_error_string (ar) : "short");
                rc = PKG_REFUSE_TAMPERED_BLOB;
                goto done;
            }
            pkg_sha256_update (&st, buf, (size_t) n);
            if (pkg_file_pwrite (fd, buf, (size_t) n, offsets[first] + got) != 0) {
                snprintf (err, errlen, "writing blob %s: %s", name + 13, strerror (errno));
                goto done;
            }
            got += (uint64_t) n;
        }
        uint8_t h[32];
        pkg_sha256_final (&st, h);
        if (memcmp (h, b->digest, 32) != 0) {
            snprintf (err, errlen, "blob %s does not match its digest", name + 13);
            rc = PKG_REFUSE_TAMPERED_BLOB;
            goto done;
        }
        //  The same blob as a later layer too: copy what was just checked.
        for (uint32_t i = (uint32_t) first; i < m->n_layers; i++) {
            if (done[i] || memcmp (m->layers[i].digest, d, 32) != 0)
                continue;
            for (uint64_t o = 0; i != (uint32_t) first && o < b->size; o += S_CHUNK) {
                size_t n = b->size - o > S_CHUNK ? S_CHUNK : (size_t) (b->size - o);
                if (pkg_file_pread (fd, buf, n, offsets[first] + o) != 0
                    || pkg_file_pwrite (fd, buf, n, offsets[i] + o) != 0) {
                    snprintf (err, errlen, "copying blob %s: %s", name + 13, strerror (errno));
                    goto done;
                }
            }
            done[i] = true;
        }
    }
    if (r != ARCHIVE_EOF) {
        snprintf (err, errlen, "%s: %s", self->path, archive_error_string (ar));
        goto done;
    }
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (!done[i]) {
            char hex[65];
            pkg_hex (m->layers[i].digest, 32, hex);
            snprintf (err, errlen, "layer %u (sha256:%.12s...) is missing from the package", i, hex);
            rc = PKG_REFUSE_TAMPERED_BLOB;
            goto done;
        }
    rc = PKG_OK;
done:
    free (buf);
    archive_read_free (ar);
    return rc;
}

// --------------------------------------------------------------------------
// Unpacking a layer

typedef struct {
    int fd;
    uint64_t off, end;
    pkg_sha256_state *st;   //  hash what is read (NULL: do not)
    uint8_t buf[256 * 1024];
} s_range_t;

static la_ssize_t
s_range_read (struct archive *ar, void *ctx, const void **out)
{
    (void) ar;
    s_range_t *r = ctx;
    size_t n = r->end - r->off > sizeof r->buf ? sizeof r->buf : (size_t) (r->end - r->off);
    if (n == 0)
        return 0;
    if (pkg_file_pread (r->fd, r->buf, n, r->off) != 0)
        return -1;
    if (r->st)
        pkg_sha256_update (r->st, r->buf, n);
    r->off += n;
    *out = r->buf;
    return (la_ssize_t) n;
}

//  A relative name that stays inside: no "..", no absolute path.
static bool
s_name_inside (const char *name)
{
    if (!name[0] || name[0] == '/')
        return false;
    const char *p = name;
    while (*p) {
        const char *slash = strchr (p, '/');
        size_t n = slash ? (size_t) (slash - p) : strlen (p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        while (*p == '/')
            p++;
    }
    return true;
}

//  A symlink's target, read from the link's folder, stays inside.
static bool
s_link_inside (const char *name, const char *target)
{
    if (!target || !target[0] || target[0] == '/')
        return false;
    int depth = 0;
    for (const char *p = name; *p; p++)   //  folders above the link
        if (*p == '/' && p[1] && p[1] != '/')
            depth++;
    const char *p = target;
    while (*p) {
        const char *slash = strchr (p, '/');
        size_t n = slash ? (size_t) (slash - p) : strlen (p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return false;
        }
        else if (n > 0 && !(n == 1 && p[0] == '.'))
            depth++;
        p += n;
        while (*p == '/')
            p++;
    }
    return true;
}

static int s_untar (int fd, uint64_t off, uint64_t len, const char *dir, pkg_sha256_state *st, char *err,
                    size_t errlen);

int
pkg_layout_untar (int fd, uint64_t off, uint64_t len, const char *dir, char *err, size_t errlen)
{
    return s_untar (fd, off, len, dir, NULL, err, errlen);
}

int
pkg_layout_untar_verify (int fd, uint64_t off, uint64_t len, const char *dir, const uint8_t digest[32],
                         char *err, size_t errlen)
{
    pkg_sha256_state st;
    pkg_sha256_init (&st);
    uint8_t h[32];
    if (s_untar (fd, off, len, dir, &st, err, errlen) != 0) {
        //  Damaged bytes usually break the tar first: say so when they do.
        pkg_sha256_init (&st);
        uint8_t *buf = malloc (S_CHUNK);
        for (uint64_t o = 0; buf && o < len; o += S_CHUNK) {
            size_t n = len - o > S_CHUNK ? S_CHUNK : (size_t) (len - o);
            if (pkg_file_pread (fd, buf, n, off + o) != 0)
                break;
            pkg_sha256_update (&st, buf, n);
        }
        free (buf);
        pkg_sha256_final (&st, h);
        if (memcmp (h, digest, 32) != 0) {
            snprintf (err, errlen, "the layer does not match its digest");
            return -2;
        }
        return -1;
    }
    pkg_sha256_final (&st, h);
    if (memcmp (h, digest, 32) != 0) {
        snprintf (err, errlen, "the layer does not match its digest");
        return -2;
    }
    return 0;
}

static int
s_untar (int fd, uint64_t off, uint64_t len, const char *dir, pkg_sha256_state *st, char *err, size_t errlen)
{
    s_range_t *range = malloc (sizeof *range);
    struct archive *ar = archive_read_new ();
    struct archive *disk = archive_write_disk_new ();
    int rc = -1;
    if (!range || !ar || !disk) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    range->fd = fd;
    range->off = off;
    range->end = off + len;
    range->st = st;
    archive_read_support_format_tar (ar);
    archive_write_disk_set_options (disk, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS
                                              | ARCHIVE_EXTRACT_SECURE_NODOTDOT
                                              | ARCHIVE_EXTRACT_NO_OVERWRITE);
    //  Entries are extracted under the folder's real path (libarchive
    //  extracts relative to the process's cwd, and refuses symlinks on the
    //  way when asked to: the folder itself may sit under one).
    char real[4096];
    if (!realpath (dir, real)) {
        snprintf (err, errlen, "%s: %s", dir, strerror (errno));
        goto done;
    }
    if (archive_read_open (ar, range, NULL, s_range_read, NULL) != ARCHIVE_OK) {
        snprintf (err, errlen, "layer: %s", archive_error_string (ar));
        goto done;
    }
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header (ar, &e)) == ARCHIVE_OK) {
        char name[4096];
        snprintf (name, sizeof name, "%s", s_entry_name (e));
        mode_t type = archive_entry_filetype (e);
        if (!s_name_inside (name)) {
            snprintf (err, errlen, "layer entry '%s' would land outside the package folder", name);
            goto done;
        }
        if (archive_entry_hardlink (e) || (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)) {
            snprintf (err, errlen, "layer entry '%s': only files, folders and symlinks are unpacked", name);
            goto done;
        }
        if (archive_entry_sparse_count (e) > 0) {
            snprintf (err, errlen, "layer entry '%s' is a sparse file", name);
            goto done;
        }
        if (type == AE_IFLNK && !s_link_inside (name, archive_entry_symlink (e))) {
            snprintf (err, errlen, "layer symlink '%s' points outside the package folder", name);
            goto done;
        }
        char path[8300];
        if (snprintf (path, sizeof path, "%s/%s", real, name) >= (int) sizeof path) {
            snprintf (err, errlen, "layer entry '%s': path too long", name);
            goto done;
        }
        archive_entry_set_pathname (e, path);
        archive_entry_set_perm (e, archive_entry_perm (e) & 0755);   //  no set-id, no world-writable
        archive_entry_set_uid (e, getuid ());
        archive_entry_set_gid (e, getgid ());
        if (archive_write_header (disk, e) != ARCHIVE_OK) {
            snprintf (err, errlen, "unpacking '%s': %s", name, archive_error_string (disk));
            goto done;
        }
        if (type == AE_IFREG) {
            const void *block;
            size_t size;
            la_int64_t boff;
            int dr;
            while ((dr = archive_read_data_block (ar, &block, &size, &boff)) == ARCHIVE_OK)
                if (archive_write_data_block (disk, block, size, boff) != ARCHIVE_OK) {
                    snprintf (err, errlen, "unpacking '%s': %s", name, archive_error_string (disk));
                    goto done;
                }
            if (dr != ARCHIVE_EOF) {
                snprintf (err, errlen, "unpacking '%s': %s", name, archive_error_string (ar));
                goto done;
            }
        }
        if (archive_write_finish_entry (disk) != ARCHIVE_OK) {
            snprintf (err, errlen, "unpacking '%s': %s", name, archive_error_string (disk));
            goto done;
        }
    }
    if (r != ARCHIVE_EOF) {
        snprintf (err, errlen, "layer: %s", archive_error_string (ar));
        goto done;
    }
    //  Hashing: the bytes after the archive's end (padding) count too.
    if (st) {
        const void *rest;
        while (s_range_read (ar, range, &rest) > 0)
            ;
    }
    rc = 0;
done:
    if (ar)
        archive_read_free (ar);
    if (disk)
        archive_write_free (disk);
    free (range);
    return rc;
}

//  Where the installed file at `path` differs from the tar entry: up to
//  S_DIFF_MAX byte ranges of the entry's data (adjacent ones merged); a
//  file that is missing, of another size or not regular differs whole
//  (*whole).  Returns how many ranges (0: the same).  Reads both in step.
#define S_DIFF_MAX 32
typedef struct {
    uint64_t off, len;
} s_diff_t;

static int
s_file_diff (struct archive *ar, struct archive_entry *e, const char *path, s_diff_t *d, bool *whole)
{
    *whole = false;
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || st.st_size != archive_entry_size (e)) {
        if (fd >= 0)
            close (fd);
        *whole = true;
        return 1;
    }
    uint8_t *mine = malloc (64 * 1024);
    int n = 0;
    const void *block;
    size_t size;
    la_int64_t boff;
    while (archive_read_data_block (ar, &block, &size, &boff) == ARCHIVE_OK) {
        for (size_t done = 0; done < size;) {
            size_t k = size - done > 64 * 1024 ? 64 * 1024 : size - done;
            uint64_t at = (uint64_t) boff + done;
            bool same = mine && pkg_file_pread (fd, mine, k, at) == 0
                        && memcmp (mine, (const uint8_t *) block + done, k) == 0;
            if (!same) {
                if (n > 0 && d[n - 1].off + d[n - 1].len == at)
                    d[n - 1].len += k;
                else if (n < S_DIFF_MAX)
                    d[n++] = (s_diff_t){at, k};
                else
                    *whole = true;
            }
            done += k;
        }
    }
    free (mine);
    close (fd);
    if (!mine)
        *whole = true;
    return *whole ? (n ? n : 1) : n;
}

int
pkg_layout_check_tree (int fd, uint64_t off, uint64_t len, const char *dir, pkg_layout_bad_fn *bad, void *ctx,
                       char *err, size_t errlen)
{
    s_range_t *range = malloc (sizeof *range);
    struct archive *ar = archive_read_new ();
    s_diff_t *d = malloc (S_DIFF_MAX * sizeof *d);
    int rc = -1, differ = 0;
    if (!range || !ar || !d) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    range->fd = fd;
    range->off = off;
    range->end = off + len;
    range->st = NULL;
    archive_read_support_format_tar (ar);
    if (archive_read_open (ar, range, NULL, s_range_read, NULL) != ARCHIVE_OK) {
        snprintf (err, errlen, "layer: %s", archive_error_string (ar));
        goto done;
    }
    struct archive_entry *e;
    int r;
    //  A differing entry is reported when the next header is read: its data
    //  ends (padded to 512) where that header begins, so byte ranges of the
    //  data map to exact ranges of the layer.  A whole entry: from its
    //  header to the next.
    int pending = 0;
    bool pwhole = false;
    uint64_t from = 0, psize = 0;
    char pname[256] = "";
    for (;;) {
        r = archive_read_next_header (ar, &e);
        uint64_t at = r == ARCHIVE_OK ? (uint64_t) archive_read_header_position (ar) : len;
        if (pending) {
            uint64_t data = at - ((psize + 511) / 512) * 512;
            if (pwhole || data < from || at > len)
                bad (ctx, from, at, pname);
            else
                for (int k = 0; k < pending; k++)
                    bad (ctx, data + d[k].off, data + d[k].off + d[k].len, pname);
            pending = 0;
        }
        if (r != ARCHIVE_OK)
            break;
        const char *name = s_entry_name (e);
        if (archive_entry_filetype (e) != AE_IFREG || !s_name_inside (name))
            continue;
        char path[8300];
        snprintf (path, sizeof path, "%s/%s", dir, name);
        int n = s_file_diff (ar, e, path, d, &pwhole);
        if (n > 0) {
            differ++;
            pending = n;
            from = at;
            psize = (uint64_t) archive_entry_size (e);
            snprintf (pname, sizeof pname, "%s", name);
        }
    }
    if (r != ARCHIVE_EOF) {
        snprintf (err, errlen, "layer: %s", archive_error_string (ar));
        goto done;
    }
    rc = differ;
done:
    if (ar)
        archive_read_free (ar);
    free (range);
    free (d);
    return rc;
}

// --------------------------------------------------------------------------
// Selftest

static int
s_write_text (const char *path, const char *text)
{
    char err[200];
    return pkg_file_write (path, text, strlen (text), 0644, false, err, sizeof err);
}

//  Make a tar holding one hostile entry.
static int
s_evil_tar (const char *path, const char *name, mode_t type, const char *link)
{
    struct archive *ar = archive_write_new ();
    archive_write_set_format_pax_restricted (ar);
    if (archive_write_open_filename (ar, path) != ARCHIVE_OK)
        return -1;
    struct archive_entry *e = archive_entry_new ();
    archive_entry_set_pathname (e, name);
    archive_entry_set_filetype (e, type);
    archive_entry_set_perm (e, 06777);
    if (link)
        archive_entry_set_symlink (e, link);
    archive_entry_set_size (e, type == AE_IFREG ? 3 : 0);
    archive_write_header (ar, e);
    if (type == AE_IFREG)
        archive_write_data (ar, "bad", 3);
    archive_entry_free (e);
    archive_write_close (ar);
    archive_write_free (ar);
    return 0;
}

static int
s_untar_file (const char *tar, const char *dir, char *err, size_t errlen)
{
    int fd = open (tar, O_RDONLY);
    struct stat st;
    fstat (fd, &st);
    int rc = pkg_layout_untar (fd, 0, (uint64_t) st.st_size, dir, err, errlen);
    close (fd);
    return rc;
}

typedef struct {
    int fd;
    uint64_t offsets[PKG_LAYERS_MAX];
} s_datafile_t;

static int
s_read_datafile (void *ctx, uint32_t layer, uint64_t off, void *buf, size_t len)
{
    s_datafile_t *d = ctx;
    return pkg_file_pread (d->fd, buf, len, d->offsets[layer] + off);
}

int
pkg_layout_test (bool verbose)
{
    int rc = 0;
    char err[512];
    char dir[] = "/tmp/pkg_layout_test.XXXXXX";
    if (!mkdtemp (dir) || sodium_init () < 0)
        return -1;
    char path[1024], key[512], out[512];
    snprintf (key, sizeof key, "%s/pub", dir);
    CHECK (pkg_sign_keygen (key, err, sizeof err) == 0, "keygen: %s", err);
    snprintf (path, sizeof path, "%s/pub.key", dir);
    pkg_seckey_t *sk = pkg_seckey_load (path, err, sizeof err);
    snprintf (path, sizeof path, "%s/pub.pub", dir);
    pkg_pubkey_t *pk = pkg_pubkey_load (path, err, sizeof err);
    pkg_keyring_t *ring = pkg_keyring_new ();
    pkg_keyring_add (ring, &pk);

    //  Files: a folder with a weights file (200 KiB: several pieces), a
    //  nested file and a symlink inside.
    snprintf (path, sizeof path, "%s/src/weights/sub", dir);
    pkg_file_mkdirs (path, 0755);
    size_t wlen = 200 * 1024 + 7;
    uint8_t *w = malloc (wlen);
    for (size_t i = 0; i < wlen; i++)
        w[i] = (uint8_t) (i * 31 + (i >> 9));
    snprintf (path, sizeof path, "%s/src/weights/model.bin", dir);
    CHECK (pkg_file_write (path, w, wlen, 0644, false, err, sizeof err) == 0, "weights");
    snprintf (path, sizeof path, "%s/src/weights/sub/manifest.json", dir);
    s_write_text (path, "{\"weights\":1}");
    snprintf (path, sizeof path, "%s/src/weights/latest", dir);
    CHECK (symlink ("model.bin", path) == 0, "symlink");
    snprintf (path, sizeof path, "%s/src/run.sh", dir);
    s_write_text (path, "#!/bin/sh\necho ok\n");
    chmod (path, 0755);

    char p1[512], p2[512];
    snprintf (p1, sizeof p1, "%s/src/weights", dir);
    snprintf (p2, sizeof p2, "%s/src/run.sh", dir);
    const char *paths[] = {p1, p2};
    pkg_build_opts_t o = {
        .paths = paths, .n_paths = 2, .key = sk, .seq = 5, .expires = 4000000000ull, .out = out};
    o.desc.kind = PKG_KIND_MODEL;
    strcpy (o.desc.name, "facedet");
    strcpy (o.desc.version, "1.0");
    strcpy (o.desc.variant, "weather=sunny");
    strcpy (o.desc.model_family, "tiny-face");
    snprintf (out, sizeof out, "%s/facedet.mwpkg", dir);
    pkg_meta_t meta;
    CHECK (pkg_build (&o, &meta, err, sizeof err) == 0, "build: %s", err);
    CHECK (meta.piece_count >= 3 && meta.piece_size == PKG_PIECE_MIN, "pieces %u of %u", meta.piece_count,
           meta.piece_size);
    //  Reproducible: the same files give the same manifest.
    char out2[512];
    snprintf (out2, sizeof out2, "%s/again.mwpkg", dir);
    o.out = out2;
    pkg_meta_t meta2;
    CHECK (pkg_build (&o, &meta2, err, sizeof err) == 0 && memcmp (meta.manifest, meta2.manifest, 32) == 0,
           "reproducible: %s", err);
    o.out = out;

    //  Read it back: structure, signature, layers, pieces.
    pkg_refuse_t why;
    pkg_archive_t *a = pkg_archive_open (out, &why, err, sizeof err);
    CHECK (a && why == PKG_OK, "open: %s", err);
    if (a) {
        size_t ml = 0, sl = 0;
        const char *mt = pkg_archive_meta_text (a, &ml);
        const char *st = pkg_archive_sig_text (a, &sl);
        CHECK (st && pkg_sign_verify (ring, mt, ml, st, sl, NULL, err, sizeof err) == 0, "signature: %s",
               err);
        CHECK (strcmp (pkg_archive_desc (a)->model_family, "tiny-face") == 0, "desc");
        const pkg_manifest_t *m = pkg_archive_manifest (a);
        CHECK (m->n_layers == 1 && m->layers[0].size == meta.size, "one layer");
        snprintf (path, sizeof path, "%s/data", dir);
        int fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        CHECK (pkg_archive_copy_layers (a, fd, err, sizeof err) == PKG_OK, "copy: %s", err);
        //  The pieces of what was copied are the signed ones.
        pkg_piecer_t *pc = pkg_piecer_new (meta.size, meta.piece_size);
        uint8_t *buf = malloc (meta.size);
        CHECK (pkg_file_pread (fd, buf, meta.size, 0) == 0, "read data");
        pkg_piecer_feed (pc, buf, 1000);
        pkg_piecer_feed (pc, buf + 1000, meta.size - 1000);
        const uint8_t *list = NULL;
        size_t list_len = 0;
        uint8_t pd[32];
        CHECK (pkg_piecer_finish (pc, &list, &list_len, pd) == 0 && memcmp (pd, meta.pieces, 32) == 0,
               "pieces");
        size_t cl = 0;
        const char *cfg = pkg_archive_config_text (a, &cl);
        const char *man = pkg_archive_manifest_text (a, &ml);
        pkg_manifest_t m2;
        pkg_desc_t d2;
        CHECK (pkg_layout_check (&meta, man, ml, cfg, cl, list, list_len, &m2, &d2, err, sizeof err)
                   == PKG_OK,
               "check: %s", err);
        CHECK (pkg_layout_check (&meta, man, ml, cfg, cl, list, list_len - 32, &m2, &d2, err, sizeof err)
                   == PKG_REFUSE_TAMPERED_MANIFEST,
               "short piece list");
        pkg_meta_t other = meta;
        other.size++;
        CHECK (pkg_layout_check (&other, man, ml, cfg, cl, NULL, 0, &m2, &d2, err, sizeof err)
                   == PKG_REFUSE_TAMPERED_MANIFEST,
               "size mismatch");
        strcpy (other.name, "other");
        other.size--;
        CHECK (pkg_layout_check (&other, man, ml, cfg, cl, NULL, 0, &m2, &d2, err, sizeof err)
                   == PKG_REFUSE_TAMPERED_MANIFEST,
               "name mismatch: %s", err);
        pkg_piecer_destroy (&pc);
        free (buf);
        //  Unpack: the files come back, the symlink stays a symlink.
        char udir[512];
        snprintf (udir, sizeof udir, "%s/unpacked", dir);
        pkg_file_mkdirs (udir, 0755);
        CHECK (pkg_layout_untar (fd, 0, meta.size, udir, err, sizeof err) == 0, "untar: %s", err);
        snprintf (path, sizeof path, "%s/weights/model.bin", udir);
        size_t got = 0;
        char *back = pkg_file_read (path, 1 << 20, &got, err, sizeof err);
        CHECK (back && got == wlen && memcmp (back, w, wlen) == 0, "weights back");
        free (back);
        snprintf (path, sizeof path, "%s/weights/latest", udir);
        struct stat lst;
        CHECK (lstat (path, &lst) == 0 && S_ISLNK (lst.st_mode), "symlink back");
        snprintf (path, sizeof path, "%s/run.sh", udir);
        CHECK (stat (path, &lst) == 0 && (lst.st_mode & 0100), "exec bit back");
        close (fd);
        pkg_archive_destroy (&a);
    }

    //  Hostile layers are refused.
    struct {
        const char *name;
        mode_t type;
        const char *link;
    } evil[] = {
        {"../escape", AE_IFREG, NULL},   {"/abs", AE_IFREG, NULL},      {"a/../../x", AE_IFREG, NULL},
        {"ln", AE_IFLNK, "/etc/passwd"}, {"d/ln", AE_IFLNK, "../../x"}, {"dev", AE_IFCHR, NULL},
        {"fifo", AE_IFIFO, NULL},
    };
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        char tar[512], udir[512];
        snprintf (tar, sizeof tar, "%s/evil%zu.tar", dir, i);
        snprintf (udir, sizeof udir, "%s/evil%zu", dir, i);
        pkg_file_mkdirs (udir, 0755);
        s_evil_tar (tar, evil[i].name, evil[i].type, evil[i].link);
        CHECK (s_untar_file (tar, udir, err, sizeof err) == -1, "evil %s accepted", evil[i].name);
    }
    {
        char tar[512], udir[512];
        snprintf (tar, sizeof tar, "%s/ok.tar", dir);
        snprintf (udir, sizeof udir, "%s/okdir", dir);
        pkg_file_mkdirs (udir, 0755);
        s_evil_tar (tar, "d/ln", AE_IFLNK, "../x");
        CHECK (s_untar_file (tar, udir, err, sizeof err) == 0, "inside link refused: %s", err);
        s_evil_tar (tar, "setuid", AE_IFREG, NULL);
        CHECK (s_untar_file (tar, udir, err, sizeof err) == 0, "file: %s", err);
        snprintf (path, sizeof path, "%s/setuid", udir);
        struct stat st;
        CHECK (stat (path, &st) == 0 && (st.st_mode & 07000) == 0 && (st.st_mode & 0002) == 0,
               "mode cleaned");
    }

    //  Tampering with a built package: one byte of the layer blob.
    {
        size_t n = 0;
        char *bytes = pkg_file_read (out, 64 << 20, &n, err, sizeof err);
        //  The weights bytes are inside the layer: find a run of them.
        uint8_t *hit = bytes ? memmem (bytes, n, w + 5000, 64) : NULL;
        CHECK (hit != NULL, "weights in the tar");
        if (hit) {
            hit[10] ^= 1;
            snprintf (path, sizeof path, "%s/tampered.mwpkg", dir);
            pkg_file_write (path, bytes, n, 0644, false, err, sizeof err);
            a = pkg_archive_open (path, &why, err, sizeof err);
            CHECK (a, "structure still fine: %s", err);
            snprintf (p1, sizeof p1, "%s/data2", dir);
            int fd = open (p1, O_RDWR | O_CREAT | O_TRUNC, 0600);
            CHECK (a && pkg_archive_copy_layers (a, fd, err, sizeof err) == PKG_REFUSE_TAMPERED_BLOB,
                   "tampered blob: %s", err);
            close (fd);
            pkg_archive_destroy (&a);
            hit[10] ^= 1;
        }
        //  The config's "tiny-face": the manifest's digest of it breaks.
        char *cf = bytes ? memmem (bytes, n, "tiny-face", 9) : NULL;
        CHECK (cf != NULL, "config in the tar");
        if (cf) {
            cf[0] = 'T';
            snprintf (path, sizeof path, "%s/tampered2.mwpkg", dir);
            pkg_file_write (path, bytes, n, 0644, false, err, sizeof err);
            a = pkg_archive_open (path, &why, err, sizeof err);
            CHECK (!a && why == PKG_REFUSE_TAMPERED_MANIFEST, "tampered config: %s", err);
            pkg_archive_destroy (&a);
            cf[0] = 't';
        }
        free (bytes);
    }

    //  An oci-image package: a tiny image (manifest, config, one layer),
    //  exported as OCI and Docker archives, and as a folder.
    {
        char lpath[512], cpath[512], mpath[512];
        snprintf (lpath, sizeof lpath, "%s/img-layer.tar", dir);
        const char *lp[] = {p2};
        snprintf (p2, sizeof p2, "%s/src/run.sh", dir);
        CHECK (s_make_layer (lp, 1, lpath, err, sizeof err) == 0, "image layer");
        size_t ll = 0;
        char *layer = pkg_file_read (lpath, 1 << 20, &ll, err, sizeof err);
        const char *cfg =
            "{\"architecture\":\"arm64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
        snprintf (cpath, sizeof cpath, "%s/img-config.json", dir);
        s_write_text (cpath, cfg);
        pkg_manifest_t img = {.n_layers = 1};
        strcpy (img.media_type, PKG_MT_OCI_MANIFEST);
        strcpy (img.config.media_type, PKG_MT_OCI_CONFIG);
        img.config.size = strlen (cfg);
        pkg_sha256 (cfg, strlen (cfg), img.config.digest);
        strcpy (img.layers[0].media_type, PKG_MT_OCI_LAYER);
        img.layers[0].size = ll;
        pkg_sha256 (layer, ll, img.layers[0].digest);
        free (layer);
        size_t il = 0;
        char *itext = pkg_manifest_encode (&img, &il);
        snprintf (mpath, sizeof mpath, "%s/img-manifest.json", dir);
        s_write_text (mpath, itext);
        pkg_build_blob_t blobs[3] = {{.path = mpath}, {.path = cpath}, {.path = lpath}};
        strcpy (blobs[0].media_type, PKG_MT_OCI_MANIFEST);
        strcpy (blobs[1].media_type, PKG_MT_OCI_CONFIG);
        strcpy (blobs[2].media_type, PKG_MT_OCI_LAYER);
        pkg_build_opts_t io = {.blobs = blobs, .n_blobs = 3, .key = sk, .seq = 1, .expires = 4000000000ull};
        io.desc.kind = PKG_KIND_OCI_IMAGE;
        strcpy (io.desc.name, "web");
        strcpy (io.desc.version, "2.1");
        strcpy (io.desc.image_media_type, PKG_MT_OCI_MANIFEST);
        pkg_sha256 (itext, il, io.desc.image_manifest);
        free (itext);
        snprintf (out2, sizeof out2, "%s/web.mwpkg", dir);
        io.out = out2;
        CHECK (pkg_build (&io, &meta2, err, sizeof err) == 0, "image build: %s", err);
        a = pkg_archive_open (out2, &why, err, sizeof err);
        CHECK (a, "image open: %s", err);
        if (a) {
            s_datafile_t df;
            snprintf (path, sizeof path, "%s/imgdata", dir);
            df.fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
            CHECK (pkg_archive_copy_layers (a, df.fd, err, sizeof err) == PKG_OK, "image copy: %s", err);
            const pkg_manifest_t *m = pkg_archive_manifest (a);
            uint64_t off = 0;
            for (uint32_t i = 0; i < m->n_layers; i++)
                df.offsets[i] = off, off += m->layers[i].size;
            snprintf (path, sizeof path, "%s/web.oci.tar", dir);
            CHECK (pkg_layout_write_image (path, PKG_EXPORT_OCI, "web", "2.1", m, s_read_datafile, &df, err,
                                           sizeof err)
                       == 0,
                   "oci export: %s", err);
            snprintf (path, sizeof path, "%s/web.docker.tar", dir);
            CHECK (pkg_layout_write_image (path, PKG_EXPORT_DOCKER, "web", "2.1", m, s_read_datafile, &df,
                                           err, sizeof err)
                       == 0,
                   "docker export: %s", err);
            snprintf (path, sizeof path, "%s/webdir", dir);
            CHECK (pkg_layout_write_image_dir (path, "2.1", m, s_read_datafile, &df, err, sizeof err) == 0,
                   "dir export: %s", err);
            snprintf (path, sizeof path, "%s/webdir/index.json", dir);
            size_t xl = 0;
            char *x = pkg_file_read (path, 1 << 16, &xl, err, sizeof err);
            pkg_index_entry_t ent[4];
            size_t ne = 0;
            CHECK (x && pkg_index_parse (x, xl, ent, 4, &ne, err, sizeof err) == 0 && ne == 1
                       && memcmp (ent[0].digest, io.desc.image_manifest, 32) == 0
                       && strcmp (ent[0].ref, "2.1") == 0,
                   "exported index names the image: %s", err);
            free (x);
            close (df.fd);
            pkg_archive_destroy (&a);
        }
    }

    //  Docker schema 2 manifests become OCI ones.
    const char *dm =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
        "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":7,"
        "\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"},"
        "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":9,"
        "\"digest\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\"}]}";
    pkg_manifest_t dmm;
    CHECK (pkg_manifest_parse (dm, strlen (dm), &dmm, err, sizeof err) == 0, "docker manifest: %s", err);
    CHECK (pkg_manifest_to_oci (&dmm) && strcmp (dmm.layers[0].media_type, PKG_MT_OCI_LAYER_GZIP) == 0
               && strcmp (dmm.config.media_type, PKG_MT_OCI_CONFIG) == 0,
           "to oci");
    const char *sha512 =
        "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"size\":1,\"digest\":\"sha512:00\"},"
        "\"layers\":[]}";
    CHECK (pkg_manifest_parse (sha512, strlen (sha512), &dmm, err, sizeof err) == -1, "sha512 refused");

    free (w);
    pkg_seckey_destroy (&sk);
    pkg_keyring_destroy (&ring);
    pkg_file_remove_tree (dir);
    if (verbose)
        printf ("pkg_layout: done\n");
    return rc;
}
