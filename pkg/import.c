/*  =========================================================================
    pkg_import - container images from archives and registries (see
    import.h).
    ========================================================================= */
#include "pkg/import.h"
#include "pkg/sha.h"
#include "pkg/file.h"
#include "common/selftest.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define S_ENTRIES_MAX 4096
#define S_CHUNK       (1024 * 1024)

const char *
pkg_import_host_arch (void)
{
    static char arch[32];
    struct utsname u;
    if (uname (&u) != 0)
        return "unknown";
    if (strcmp (u.machine, "x86_64") == 0)
        return "amd64";
    if (strcmp (u.machine, "aarch64") == 0)
        return "arm64";
    if (strncmp (u.machine, "armv7", 5) == 0)
        return "arm";
    snprintf (arch, sizeof arch, "%.31s", u.machine);
    return arch;
}

void
pkg_image_blob_path (const pkg_image_t *img, const uint8_t d[32], char *out, size_t cap)
{
    char hex[65];
    pkg_hex (d, 32, hex);
    snprintf (out, cap, "%s/%s", img->dir, hex);
}

void
pkg_image_cleanup (pkg_image_t *img)
{
    if (img->dir[0])
        pkg_file_remove_tree (img->dir);
    free (img->manifest);
    img->manifest = NULL;
    img->dir[0] = 0;
}

static bool
s_have_blob (const pkg_image_t *img, const pkg_blob_t *b)
{
    char path[4200];
    struct stat st;
    pkg_image_blob_path (img, b->digest, path, sizeof path);
    return stat (path, &st) == 0 && (uint64_t) st.st_size == b->size;
}

//  The media type of a layer from its first bytes.
static const char *
s_layer_type (const char *path)
{
    uint8_t head[4] = {0};
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read (fd, head, sizeof head) < 0)
            head[0] = 0;
        close (fd);
    }
    if (head[0] == 0x1f && head[1] == 0x8b)
        return PKG_MT_OCI_LAYER_GZIP;
    if (head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd)
        return PKG_MT_OCI_LAYER_ZSTD;
    return PKG_MT_OCI_LAYER;
}

//  Read the config's platform, and check the staged image is whole.
static int
s_finish (pkg_image_t *img, char *err, size_t errlen)
{
    if (!s_have_blob (img, &img->m.config)) {
        snprintf (err, errlen, "the image's config blob is missing");
        return -1;
    }
    for (uint32_t i = 0; i < img->m.n_layers; i++)
        if (!s_have_blob (img, &img->m.layers[i])) {
            snprintf (err, errlen, "the image's layer %u is missing", i);
            return -1;
        }
    if (img->m.n_layers + 2 > PKG_LAYERS_MAX) {
        snprintf (err, errlen, "the image has %u layers; a package carries at most %d", img->m.n_layers,
                  PKG_LAYERS_MAX - 2);
        return -1;
    }
    char path[4200];
    pkg_image_blob_path (img, img->m.config.digest, path, sizeof path);
    size_t n = 0;
    char why[300];
    char *cfg = pkg_file_read (path, 1 << 20, &n, why, sizeof why);
    json_object *o = cfg ? json_tokener_parse (cfg) : NULL;
    json_object *v;
    if (o && json_object_object_get_ex (o, "architecture", &v) && json_object_is_type (v, json_type_string))
        snprintf (img->arch, sizeof img->arch, "%s", json_object_get_string (v));
    if (o && json_object_object_get_ex (o, "os", &v) && json_object_is_type (v, json_type_string))
        snprintf (img->os, sizeof img->os, "%s", json_object_get_string (v));
    json_object_put (o);
    free (cfg);
    pkg_sha256 (img->manifest, img->manifest_len, img->manifest_digest);
    return 0;
}

//  Set the image's manifest from `text`: an OCI manifest stays as it is,
//  a Docker schema 2 one is rewritten with OCI media types.
static int
s_set_manifest (pkg_image_t *img, const char *text, size_t len, char *err, size_t errlen)
{
    char why[300];
    if (pkg_manifest_parse (text, len, &img->m, why, sizeof why) != 0) {
        snprintf (err, errlen, "image manifest: %s", why);
        return -1;
    }
    free (img->manifest);
    if (pkg_manifest_to_oci (&img->m))
        img->manifest = pkg_manifest_encode (&img->m, &img->manifest_len);
    else {
        img->manifest = malloc (len + 1);
        if (img->manifest) {
            memcpy (img->manifest, text, len);
            img->manifest[len] = 0;
            img->manifest_len = len;
        }
    }
    if (!img->manifest) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

// --------------------------------------------------------------------------
// Archives (docker-archive, oci-archive): every regular file is staged as
// entries/N, hashed on the way; a name table maps names to them.

typedef struct {
    char name[512];
    uint8_t digest[32];
    uint64_t size;
} s_entry_t;

typedef struct {
    s_entry_t *e;
    size_t n;
} s_entries_t;

static const s_entry_t *
s_entry_find (const s_entries_t *t, const char *name)
{
    while (strncmp (name, "./", 2) == 0)
        name += 2;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp (t->e[i].name, name) == 0)
            return &t->e[i];
    return NULL;
}

//  Stage every file of the archive by its content digest (dir/<hex>).
static int
s_stage_archive (const char *file, pkg_image_t *img, s_entries_t *t, char *err, size_t errlen)
{
    struct archive *ar = archive_read_new ();
    uint8_t *buf = malloc (S_CHUNK);
    int rc = -1;
    if (!ar || !buf || !(t->e = calloc (S_ENTRIES_MAX, sizeof *t->e))) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    archive_read_support_format_tar (ar);
    archive_read_support_filter_gzip (ar);
    archive_read_support_filter_zstd (ar);
    if (archive_read_open_filename (ar, file, 1 << 20) != ARCHIVE_OK) {
        snprintf (err, errlen, "%s: %s", file, archive_error_string (ar));
        goto done;
    }
    struct archive_entry *ae;
    int r;
    uint64_t total = 0;
    while ((r = archive_read_next_header (ar, &ae)) == ARCHIVE_OK) {
        if (archive_entry_filetype (ae) != AE_IFREG)
            continue;
        if (t->n == S_ENTRIES_MAX) {
            snprintf (err, errlen, "%s: more than %d files", file, S_ENTRIES_MAX);
            goto done;
        }
        s_entry_t *e = &t->e[t->n];
        const char *name = archive_entry_pathname (ae);
        while (name && strncmp (name, "./", 2) == 0)
            name += 2;
        snprintf (e->name, sizeof e->name, "%s", name ? name : "");
        char tmp[4200];
        snprintf (tmp, sizeof tmp, "%s/entry.tmp", img->dir);
        int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            snprintf (err, errlen, "%s: %s", tmp, strerror (errno));
            goto done;
        }
        pkg_sha256_state st;
        pkg_sha256_init (&st);
        la_ssize_t got;
        while ((got = archive_read_data (ar, buf, S_CHUNK)) > 0) {
            total += (uint64_t) got;
            if (total > PKG_SIZE_MAX || pkg_file_pwrite (fd, buf, (size_t) got, e->size) != 0) {
                snprintf (err, errlen, "%s: %s", file, total > PKG_SIZE_MAX ? "too large" : strerror (errno));
                close (fd);
                goto done;
            }
            pkg_sha256_update (&st, buf, (size_t) got);
            e->size += (uint64_t) got;
        }
        close (fd);
        if (got < 0) {
            snprintf (err, errlen, "%s: %s", file, archive_error_string (ar));
            goto done;
        }
        pkg_sha256_final (&st, e->digest);
        char dst[4200];
        pkg_image_blob_path (img, e->digest, dst, sizeof dst);
        if (rename (tmp, dst) != 0) {
            snprintf (err, errlen, "%s: %s", dst, strerror (errno));
            goto done;
        }
        t->n++;
    }
    if (r != ARCHIVE_EOF) {
        snprintf (err, errlen, "%s: %s", file, archive_error_string (ar));
        goto done;
    }
    rc = 0;
done:
    if (ar)
        archive_read_free (ar);
    free (buf);
    return rc;
}

static char *
s_entry_text (const pkg_image_t *img, const s_entry_t *e, size_t max, size_t *len, char *err, size_t errlen)
{
    char path[4200];
    pkg_image_blob_path (img, e->digest, path, sizeof path);
    return pkg_file_read (path, max, len, err, errlen);
}

static int
s_docker_archive (const char *file, pkg_image_t *img, char *err, size_t errlen)
{
    s_entries_t t = {0};
    int rc = -1;
    char *text = NULL;
    json_object *o = NULL;
    if (s_stage_archive (file, img, &t, err, errlen) != 0)
        goto done;
    const s_entry_t *mj = s_entry_find (&t, "manifest.json");
    size_t len = 0;
    if (!mj || !(text = s_entry_text (img, mj, PKG_MANIFEST_MAX, &len, err, errlen))) {
        snprintf (err, errlen, "%s: no manifest.json (not a docker save archive)", file);
        goto done;
    }
    o = json_tokener_parse (text);
    json_object *first = o && json_object_is_type (o, json_type_array) && json_object_array_length (o) > 0
                             ? json_object_array_get_idx (o, 0)
                             : NULL;
    json_object *cfg = NULL, *layers = NULL, *tags = NULL;
    if (!first || !json_object_object_get_ex (first, "Config", &cfg)
        || !json_object_is_type (cfg, json_type_string)
        || !json_object_object_get_ex (first, "Layers", &layers)
        || !json_object_is_type (layers, json_type_array)) {
        snprintf (err, errlen, "%s: manifest.json is not docker save's (Config, Layers)", file);
        goto done;
    }
    if (json_object_array_length (o) > 1)
        fprintf (stderr, "meshwatch pkg import: %s holds %zu images; taking the first\n", file,
                 json_object_array_length (o));
    const s_entry_t *ce = s_entry_find (&t, json_object_get_string (cfg));
    if (!ce || json_object_array_length (layers) > PKG_LAYERS_MAX) {
        snprintf (err, errlen, "%s: config %s missing, or too many layers", file,
                  json_object_get_string (cfg));
        goto done;
    }
    pkg_manifest_t m = {.n_layers = (uint32_t) json_object_array_length (layers)};
    strcpy (m.media_type, PKG_MT_OCI_MANIFEST);
    strcpy (m.config.media_type, PKG_MT_OCI_CONFIG);
    memcpy (m.config.digest, ce->digest, 32);
    m.config.size = ce->size;
    for (uint32_t i = 0; i < m.n_layers; i++) {
        json_object *l = json_object_array_get_idx (layers, i);
        const s_entry_t *le =
            json_object_is_type (l, json_type_string) ? s_entry_find (&t, json_object_get_string (l)) : NULL;
        if (!le) {
            snprintf (err, errlen, "%s: layer %u missing", file, i);
            goto done;
        }
        char path[4200];
        pkg_image_blob_path (img, le->digest, path, sizeof path);
        snprintf (m.layers[i].media_type, sizeof m.layers[i].media_type, "%s", s_layer_type (path));
        memcpy (m.layers[i].digest, le->digest, 32);
        m.layers[i].size = le->size;
    }
    if (json_object_object_get_ex (first, "RepoTags", &tags) && json_object_is_type (tags, json_type_array)
        && json_object_array_length (tags) > 0) {
        const char *rt = json_object_get_string (json_object_array_get_idx (tags, 0));
        const char *colon = rt ? strrchr (rt, ':') : NULL;
        const char *slash = rt ? strrchr (rt, '/') : NULL;
        if (colon && (!slash || colon > slash)) {
            snprintf (img->tag, sizeof img->tag, "%s", colon + 1);
            snprintf (img->name, sizeof img->name, "%.*s", (int) (colon - (slash ? slash + 1 : rt)),
                      slash ? slash + 1 : rt);
        }
    }
    img->m = m;
    img->manifest = pkg_manifest_encode (&m, &img->manifest_len);
    if (!img->manifest) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    rc = 0;
done:
    json_object_put (o);
    free (text);
    free (t.e);
    return rc;
}

//  Of an index's entries, the one for `arch` (or the ref asked for).
static int
s_pick (const pkg_index_entry_t *e, size_t n, const char *arch, const char *ref)
{
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        if (ref && ref[0]) {
            if (strcmp (e[i].ref, ref) == 0)
                return (int) i;
            continue;
        }
        if (e[i].arch[0] == 0 && best < 0)
            best = (int) i;   //  no platform given: fine for a one-image index
        if (strcmp (e[i].arch, arch) == 0 && (!e[i].os[0] || strcmp (e[i].os, "linux") == 0))
            return (int) i;
    }
    return ref && ref[0] ? -1 : (n == 1 ? 0 : best);
}

static int
s_oci_archive (const char *file, const char *ref, const char *arch, pkg_image_t *img, char *err,
               size_t errlen)
{
    s_entries_t t = {0};
    int rc = -1;
    char *text = NULL;
    if (s_stage_archive (file, img, &t, err, errlen) != 0)
        goto done;
    //  Blobs are named by digest: a blob whose bytes are not its name is a
    //  damaged or forged archive.
    for (size_t i = 0; i < t.n; i++) {
        char d[80];
        uint8_t want[32];
        if (strncmp (t.e[i].name, "blobs/sha256/", 13) == 0
            && snprintf (d, sizeof d, "sha256:%s", t.e[i].name + 13) < (int) sizeof d
            && (pkg_digest_parse (d, want) != 0 || memcmp (want, t.e[i].digest, 32) != 0)) {
            snprintf (err, errlen, "%s: blob %s does not match its digest", file, t.e[i].name + 13);
            goto done;
        }
    }
    const s_entry_t *ix = s_entry_find (&t, "index.json");
    size_t len = 0;
    if (!ix || !(text = s_entry_text (img, ix, PKG_MANIFEST_MAX, &len, err, errlen))) {
        snprintf (err, errlen, "%s: no index.json (not an OCI archive)", file);
        goto done;
    }
    //  Follow nested indexes (multi-platform images) down to a manifest.
    for (int depth = 0; depth < 4; depth++) {
        pkg_index_entry_t e[PKG_INDEX_MAX];
        size_t n = 0;
        char why[300];
        if (pkg_index_parse (text, len, e, PKG_INDEX_MAX, &n, why, sizeof why) != 0) {
            snprintf (err, errlen, "%s: %s", file, why);
            goto done;
        }
        int k = s_pick (e, n, arch, depth == 0 ? ref : NULL);
        if (k < 0) {
            snprintf (err, errlen, "%s: no image for %s%s%s", file,
                      ref && ref[0] ? "reference " : "architecture ", ref && ref[0] ? ref : arch,
                      n > 1 ? " (several in the index)" : "");
            goto done;
        }
        char path[4200];
        pkg_image_blob_path (img, e[k].digest, path, sizeof path);
        free (text);
        text = pkg_file_read (path, PKG_MANIFEST_MAX, &len, why, sizeof why);
        if (!text) {
            snprintf (err, errlen, "%s: the manifest the index names is missing", file);
            goto done;
        }
        if (strcmp (e[k].media_type, PKG_MT_OCI_INDEX) != 0
            && strcmp (e[k].media_type, PKG_MT_DOCKER_LIST) != 0) {
            if (e[k].ref[0] && !img->tag[0])
                snprintf (img->tag, sizeof img->tag, "%s", e[k].ref);
            rc = s_set_manifest (img, text, len, err, errlen);
            goto done;
        }
    }
    snprintf (err, errlen, "%s: indexes nested too deep", file);
done:
    free (text);
    free (t.e);
    return rc;
}

// --------------------------------------------------------------------------
// Registry (Docker Registry HTTP API v2)

typedef struct {
    char *buf;
    size_t len, max;
    int fd;
    uint64_t written, limit;
    pkg_sha256_state st;
    bool hash;
    bool overflow;
    char content_type[128];
    char digest[80];
} s_http_t;

static size_t
s_http_write (char *p, size_t size, size_t n, void *ctx)
{
    s_http_t *h = ctx;
    size_t len = size * n;
    if (h->fd >= 0) {
        if (h->written + len > h->limit || pkg_file_pwrite (h->fd, p, len, h->written) != 0) {
            h->overflow = true;
            return 0;
        }
        if (h->hash)
            pkg_sha256_update (&h->st, (const uint8_t *) p, len);
        h->written += len;
        return len;
    }
    if (h->len + len > h->max) {
        h->overflow = true;
        return 0;
    }
    memcpy (h->buf + h->len, p, len);
    h->len += len;
    return len;
}

static size_t
s_http_header (char *p, size_t size, size_t n, void *ctx)
{
    s_http_t *h = ctx;
    size_t len = size * n;
    char line[300];
    snprintf (line, sizeof line, "%.*s", (int) (len < sizeof line - 1 ? len : sizeof line - 1), p);
    char *cr = strpbrk (line, "\r\n");
    if (cr)
        *cr = 0;
    if (strncasecmp (line, "Content-Type:", 13) == 0) {
        const char *v = line + 13;
        while (*v == ' ')
            v++;
        snprintf (h->content_type, sizeof h->content_type, "%.*s", (int) strcspn (v, ";"), v);
    }
    else if (strncasecmp (line, "Docker-Content-Digest:", 22) == 0) {
        const char *v = line + 22;
        while (*v == ' ')
            v++;
        snprintf (h->digest, sizeof h->digest, "%.79s", v);
    }
    return len;
}

static int
s_http_get (const char *url, bool manifest, s_http_t *h, char *err, size_t errlen)
{
    CURL *c = curl_easy_init ();
    if (!c) {
        snprintf (err, errlen, "libcurl failed to start");
        return -1;
    }
    struct curl_slist *hdr = NULL;
    if (manifest)
        hdr = curl_slist_append (hdr, "Accept: " PKG_MT_OCI_MANIFEST ", " PKG_MT_OCI_INDEX
                                      ", " PKG_MT_DOCKER_MANIFEST ", " PKG_MT_DOCKER_LIST);
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 1L);   //  blobs may redirect to storage
    curl_easy_setopt (c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt (c, CURLOPT_LOW_SPEED_LIMIT, 1024L);   //  a stalled server is given up on
    curl_easy_setopt (c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_http_write);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, s_http_header);
    curl_easy_setopt (c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform (c);
    long status = 0;
    curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (hdr);
    curl_easy_cleanup (c);
    if (h->overflow) {
        snprintf (err, errlen, "%s: larger than allowed", url);
        return -1;
    }
    if (cc != CURLE_OK) {
        snprintf (err, errlen, "%s: %s", url, curl_easy_strerror (cc));
        return -1;
    }
    if (status != 200) {
        snprintf (err, errlen, "%s: HTTP %ld%s", url, status,
                  status == 401 ? " (registries with authentication are not supported)" : "");
        return -1;
    }
    return 0;
}

//  GET a manifest (or index) and check it against `want` when given, else
//  against the registry's Docker-Content-Digest when it sends one.
static char *
s_get_manifest (const char *base, const char *repo, const char *ref, const uint8_t *want, size_t *len,
                char *ct, size_t ctcap, char *err, size_t errlen)
{
    char url[1200];
    snprintf (url, sizeof url, "%s/v2/%s/manifests/%s", base, repo, ref);
    s_http_t h = {.max = PKG_MANIFEST_MAX, .fd = -1};
    if (!(h.buf = malloc (h.max + 1))) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    if (s_http_get (url, true, &h, err, errlen) != 0) {
        free (h.buf);
        return NULL;
    }
    h.buf[h.len] = 0;
    uint8_t d[32], hd[32];
    pkg_sha256 (h.buf, h.len, d);
    if ((want && memcmp (d, want, 32) != 0)
        || (h.digest[0] && pkg_digest_parse (h.digest, hd) == 0 && memcmp (d, hd, 32))) {
        snprintf (err, errlen, "%s: the manifest does not match its digest", url);
        free (h.buf);
        return NULL;
    }
    snprintf (ct, ctcap, "%s", h.content_type);
    *len = h.len;
    return h.buf;
}

static int
s_get_blob (const char *base, const char *repo, const pkg_blob_t *b, pkg_image_t *img, char *err,
            size_t errlen)
{
    char url[1200], digest[72], path[4200], tmp[4300];
    pkg_digest_str (b->digest, digest);
    snprintf (url, sizeof url, "%s/v2/%s/blobs/%s", base, repo, digest);
    pkg_image_blob_path (img, b->digest, path, sizeof path);
    if (s_have_blob (img, b))
        return 0;   //  a layer listed twice
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    s_http_t h = {
        .fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), .limit = b->size, .hash = true};
    if (h.fd < 0) {
        snprintf (err, errlen, "%s: %s", tmp, strerror (errno));
        return -1;
    }
    pkg_sha256_init (&h.st);
    int rc = s_http_get (url, false, &h, err, errlen);
    close (h.fd);
    uint8_t d[32];
    pkg_sha256_final (&h.st, d);
    if (rc == 0 && (h.written != b->size || memcmp (d, b->digest, 32) != 0)) {
        snprintf (err, errlen, "%s: the blob does not match its digest (%" PRIu64 " of %" PRIu64 " bytes)",
                  url, h.written, b->size);
        rc = -1;
    }
    if (rc == 0 && rename (tmp, path) != 0) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        rc = -1;
    }
    if (rc != 0)
        unlink (tmp);
    return rc;
}

static int
s_registry (const char *spec, bool https, const char *arch, pkg_image_t *img, char *err, size_t errlen)
{
    //  HOST:PORT/REPO[:TAG|@sha256:DIGEST]
    const char *slash = strchr (spec, '/');
    if (!slash || slash == spec || strlen (spec) > 900) {
        snprintf (err, errlen, "registry source is HOST:PORT/REPO:TAG, not '%s'", spec);
        return -1;
    }
    char host[300], repo[600], ref[200] = "latest";
    snprintf (host, sizeof host, "%.*s", (int) (slash - spec), spec);
    snprintf (repo, sizeof repo, "%s", slash + 1);
    uint8_t want[32];
    bool pinned = false;
    char *at = strchr (repo, '@');
    char *colon = strrchr (repo, ':');
    if (at) {
        snprintf (ref, sizeof ref, "%s", at + 1);
        *at = 0;
        if (pkg_digest_parse (ref, want) != 0) {
            snprintf (err, errlen, "'%s' is not a sha256 digest", ref);
            return -1;
        }
        pinned = true;
    }
    else if (colon && !strchr (colon, '/')) {
        snprintf (ref, sizeof ref, "%s", colon + 1);
        *colon = 0;
    }
    for (const char *p = repo; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr ("._-/", *p))) {
            snprintf (err, errlen, "repository '%s': only [a-z0-9._-/]", repo);
            return -1;
        }
    for (const char *p = ref; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
              || strchr ("._-:", *p))) {
            snprintf (err, errlen, "reference '%s': bad character", ref);
            return -1;
        }
    char base[400];
    snprintf (base, sizeof base, "%s://%s", https ? "https" : "http", host);
    const char *name = strrchr (repo, '/');
    snprintf (img->name, sizeof img->name, "%.127s", name ? name + 1 : repo);
    if (!pinned)
        snprintf (img->tag, sizeof img->tag, "%s", ref);
    size_t len = 0;
    char ct[128];
    char *text = s_get_manifest (base, repo, ref, pinned ? want : NULL, &len, ct, sizeof ct, err, errlen);
    if (!text)
        return -1;
    //  An index: take this platform's manifest.
    pkg_manifest_t probe;
    char why[300];
    if (strcmp (ct, PKG_MT_OCI_INDEX) == 0 || strcmp (ct, PKG_MT_DOCKER_LIST) == 0
        || pkg_manifest_parse (text, len, &probe, why, sizeof why) != 0) {
        pkg_index_entry_t e[PKG_INDEX_MAX];
        size_t n = 0;
        if (pkg_index_parse (text, len, e, PKG_INDEX_MAX, &n, why, sizeof why) != 0) {
            snprintf (err, errlen, "%s/%s:%s: neither a manifest nor an index (%s)", host, repo, ref, why);
            free (text);
            return -1;
        }
        int k = s_pick (e, n, arch, NULL);
        free (text);
        if (k < 0) {
            snprintf (err, errlen, "%s/%s:%s has no image for %s", host, repo, ref, arch);
            return -1;
        }
        char d[72];
        pkg_digest_str (e[k].digest, d);
        if (!(text = s_get_manifest (base, repo, d, e[k].digest, &len, ct, sizeof ct, err, errlen)))
            return -1;
    }
    int rc = s_set_manifest (img, text, len, err, errlen);
    free (text);
    if (rc != 0)
        return -1;
    if (s_get_blob (base, repo, &img->m.config, img, err, errlen) != 0)
        return -1;
    bool tty = isatty (2);   //  progress for a person, not for logs
    for (uint32_t i = 0; i < img->m.n_layers; i++) {
        if (tty)
            fprintf (stderr, "\rmeshwatch pkg import: layer %u of %u", i + 1, img->m.n_layers);
        if (s_get_blob (base, repo, &img->m.layers[i], img, err, errlen) != 0) {
            if (tty)
                fprintf (stderr, "\n");
            return -1;
        }
    }
    if (tty)
        fprintf (stderr, "\n");
    return 0;
}

int
pkg_import (const char *src, const char *arch, const char *workdir, pkg_image_t *img, char *err,
            size_t errlen)
{
    memset (img, 0, sizeof *img);
    if (sodium_init () < 0) {
        snprintf (err, errlen, "libsodium failed to start");
        return -1;
    }
    if (!arch || !arch[0])
        arch = pkg_import_host_arch ();
    snprintf (img->dir, sizeof img->dir, "%s/.mwpkg-import.XXXXXX", workdir);
    if (!mkdtemp (img->dir)) {
        snprintf (err, errlen, "%s: %s", img->dir, strerror (errno));
        img->dir[0] = 0;
        return -1;
    }
    int rc;
    if (strncmp (src, "docker-archive:", 15) == 0)
        rc = s_docker_archive (src + 15, img, err, errlen);
    else if (strncmp (src, "oci-archive:", 12) == 0) {
        char file[4096];
        snprintf (file, sizeof file, "%s", src + 12);
        //  FILE:REF - a colon after the last slash names a reference, unless
        //  the whole thing is an existing file.
        char *ref = NULL;
        char *c = strrchr (file, ':');
        if (c && !strchr (c, '/') && access (file, F_OK) != 0) {
            *c = 0;
            ref = c + 1;
        }
        rc = s_oci_archive (file, ref, arch, img, err, errlen);
    }
    else if (strncmp (src, "registry:", 9) == 0)
        rc = s_registry (src + 9, false, arch, img, err, errlen);
    else if (strncmp (src, "registry+https:", 15) == 0)
        rc = s_registry (src + 15, true, arch, img, err, errlen);
    else {
        snprintf (err, errlen,
                  "unknown source '%s' (docker-archive:FILE, oci-archive:FILE, registry:HOST:PORT/REPO:TAG)",
                  src);
        rc = -1;
    }
    if (rc == 0)
        rc = s_finish (img, err, errlen);
    if (rc != 0)
        pkg_image_cleanup (img);
    return rc;
}

// --------------------------------------------------------------------------
// Selftest: a docker save archive and an OCI archive made here, and a
// registry served by libmicrohttpd from memory (one that lies too).  The
// real registry:2 and skopeo are tests/pkg/import_registry_lo.sh's.

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

typedef struct {
    const char *path;
    const char *type;
    const char *body;
    size_t len;
} s_route_t;

typedef struct {
    s_route_t routes[8];
    int n;
} s_server_t;

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result s_mhd_result;
#else
typedef int s_mhd_result;
#endif

static s_mhd_result
s_serve (void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
         const char *upload, size_t *upload_len, void **state)
{
    (void) method, (void) version, (void) upload, (void) upload_len, (void) state;
    s_server_t *s = cls;
    for (int i = 0; i < s->n; i++)
        if (strcmp (url, s->routes[i].path) == 0) {
            struct MHD_Response *r = MHD_create_response_from_buffer (
                s->routes[i].len, (void *) s->routes[i].body, MHD_RESPMEM_PERSISTENT);
            MHD_add_response_header (r, "Content-Type", s->routes[i].type);
            s_mhd_result ret = MHD_queue_response (c, 200, r);
            MHD_destroy_response (r);
            return ret;
        }
    struct MHD_Response *r = MHD_create_response_from_buffer (0, (void *) "", MHD_RESPMEM_PERSISTENT);
    s_mhd_result ret = MHD_queue_response (c, 404, r);
    MHD_destroy_response (r);
    return ret;
}

static void
s_tar_add (struct archive *ar, const char *name, const void *data, size_t len)
{
    struct archive_entry *e = archive_entry_new ();
    archive_entry_set_pathname (e, name);
    archive_entry_set_filetype (e, AE_IFREG);
    archive_entry_set_perm (e, 0644);
    archive_entry_set_size (e, (la_int64_t) len);
    archive_write_header (ar, e);
    archive_write_data (ar, data, len);
    archive_entry_free (e);
}

int
pkg_import_test (bool verbose)
{
    int rc = 0;
    char err[600];
    char dir[] = "/tmp/pkg_import_test.XXXXXX";
    if (!mkdtemp (dir) || sodium_init () < 0)
        return -1;
    const char *config = "{\"architecture\":\"arm64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\"}}";
    const char *layer = "pretend this is a layer tar";
    char cdig[72], ldig[72];
    uint8_t cd[32], ld[32];
    pkg_sha256 (config, strlen (config), cd);
    pkg_sha256 (layer, strlen (layer), ld);
    pkg_digest_str (cd, cdig);
    pkg_digest_str (ld, ldig);

    //  docker save's layout.
    char file[600];
    snprintf (file, sizeof file, "%s/saved.tar", dir);
    struct archive *ar = archive_write_new ();
    archive_write_set_format_pax_restricted (ar);
    archive_write_open_filename (ar, file);
    char mj[600];
    snprintf (mj, sizeof mj,
              "[{\"Config\":\"%s.json\",\"RepoTags\":[\"site/facecam:v3\"],\"Layers\":[\"abc/layer.tar\"]}]",
              cdig + 7);
    char cname[100];
    snprintf (cname, sizeof cname, "%s.json", cdig + 7);
    s_tar_add (ar, cname, config, strlen (config));
    s_tar_add (ar, "abc/layer.tar", layer, strlen (layer));
    s_tar_add (ar, "manifest.json", mj, strlen (mj));
    archive_write_close (ar);
    archive_write_free (ar);
    char src[700];
    snprintf (src, sizeof src, "docker-archive:%s", file);
    pkg_image_t img;
    CHECK (pkg_import (src, NULL, dir, &img, err, sizeof err) == 0, "docker-archive: %s", err);
    CHECK (strcmp (img.name, "facecam") == 0 && strcmp (img.tag, "v3") == 0
               && strcmp (img.arch, "arm64") == 0,
           "names %s:%s %s", img.name, img.tag, img.arch);
    CHECK (img.m.n_layers == 1 && memcmp (img.m.layers[0].digest, ld, 32) == 0
               && strcmp (img.m.layers[0].media_type, PKG_MT_OCI_LAYER) == 0
               && memcmp (img.m.config.digest, cd, 32) == 0,
           "oci manifest from docker save");
    pkg_image_cleanup (&img);

    //  An OCI archive with a two-platform index, and one whose blob lies.
    pkg_manifest_t m = {.n_layers = 1};
    strcpy (m.media_type, PKG_MT_OCI_MANIFEST);
    strcpy (m.config.media_type, PKG_MT_OCI_CONFIG);
    memcpy (m.config.digest, cd, 32);
    m.config.size = strlen (config);
    strcpy (m.layers[0].media_type, PKG_MT_OCI_LAYER);
    memcpy (m.layers[0].digest, ld, 32);
    m.layers[0].size = strlen (layer);
    size_t ml = 0;
    char *man = pkg_manifest_encode (&m, &ml);
    pkg_index_entry_t ix[2] = {{.size = ml}, {.size = ml}};
    for (int i = 0; i < 2; i++) {
        strcpy (ix[i].media_type, PKG_MT_OCI_MANIFEST);
        pkg_sha256 (man, ml, ix[i].digest);
        strcpy (ix[i].os, "linux");
    }
    strcpy (ix[0].arch, "amd64");
    strcpy (ix[1].arch, "arm64");
    strcpy (ix[1].ref, "edge");
    size_t il = 0;
    char *index = pkg_index_encode (ix, 2, &il);
    char mname[100], lname[100], cn[100];
    char mdig[72];
    pkg_digest_str (ix[0].digest, mdig);
    snprintf (mname, sizeof mname, "blobs/sha256/%s", mdig + 7);
    snprintf (lname, sizeof lname, "blobs/sha256/%s", ldig + 7);
    snprintf (cn, sizeof cn, "blobs/sha256/%s", cdig + 7);
    for (int lie = 0; lie < 2; lie++) {
        snprintf (file, sizeof file, "%s/oci%d.tar", dir, lie);
        ar = archive_write_new ();
        archive_write_set_format_pax_restricted (ar);
        archive_write_open_filename (ar, file);
        s_tar_add (ar, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
        s_tar_add (ar, "index.json", index, il);
        s_tar_add (ar, mname, man, ml);
        s_tar_add (ar, cn, config, strlen (config));
        s_tar_add (ar, lname, lie ? "a different layer" : layer, lie ? 17 : strlen (layer));
        archive_write_close (ar);
        archive_write_free (ar);
        snprintf (src, sizeof src, "oci-archive:%s", file);
        int r = pkg_import (src, "arm64", dir, &img, err, sizeof err);
        if (lie)
            CHECK (r == -1 && strstr (err, "does not match"), "lying blob refused: %s", err);
        else {
            CHECK (r == 0 && img.manifest_len == ml && memcmp (img.manifest, man, ml) == 0
                       && strcmp (img.tag, "edge") == 0,
                   "oci-archive kept byte for byte: %s", err);
            pkg_image_cleanup (&img);
            snprintf (src, sizeof src, "oci-archive:%s", file);
            CHECK (pkg_import (src, "riscv64", dir, &img, err, sizeof err) == -1 && strstr (err, "no image"),
                   "no such platform: %s", err);
            snprintf (src, sizeof src, "oci-archive:%s:edge", file);
            CHECK (pkg_import (src, "amd64", dir, &img, err, sizeof err) == 0, "by ref: %s", err);
            pkg_image_cleanup (&img);
        }
    }

    //  A registry: a Docker schema 2 manifest (converted), then a registry
    //  that serves a wrong layer.
    char dm[1000];
    snprintf (dm, sizeof dm,
              "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\",\"size\":%zu,"
              "\"digest\":\"%s\"},"
              "\"layers\":[{\"mediaType\":\"%s\",\"size\":%zu,\"digest\":\"%s\"}]}",
              PKG_MT_DOCKER_MANIFEST, PKG_MT_DOCKER_CONFIG, strlen (config), cdig, PKG_MT_DOCKER_LAYER,
              strlen (layer), ldig);
    char cpath[200], lpath[200];
    snprintf (cpath, sizeof cpath, "/v2/site/facecam/blobs/%s", cdig);
    snprintf (lpath, sizeof lpath, "/v2/site/facecam/blobs/%s", ldig);
    s_server_t srv = {.n = 3};
    srv.routes[0] = (s_route_t){"/v2/site/facecam/manifests/v3", PKG_MT_DOCKER_MANIFEST, dm, strlen (dm)};
    srv.routes[1] = (s_route_t){cpath, "application/octet-stream", config, strlen (config)};
    srv.routes[2] = (s_route_t){lpath, "application/octet-stream", layer, strlen (layer)};
    struct MHD_Daemon *d = NULL;
    int port = 0;
    for (int try = 0; try < 20 && !d; try++) {
        port = 20000 + (int) (randombytes_uniform (20000));
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
        sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        d = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t) port, NULL, NULL, s_serve, &srv,
                              MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    }
    CHECK (d != NULL, "http server");
    snprintf (src, sizeof src, "registry:127.0.0.1:%d/site/facecam:v3", port);
    CHECK (pkg_import (src, NULL, dir, &img, err, sizeof err) == 0, "registry: %s", err);
    CHECK (strcmp (img.m.media_type, PKG_MT_OCI_MANIFEST) == 0
               && strcmp (img.m.layers[0].media_type, PKG_MT_OCI_LAYER_GZIP) == 0
               && strcmp (img.name, "facecam") == 0 && strcmp (img.tag, "v3") == 0,
           "converted to OCI");
    pkg_image_cleanup (&img);
    srv.routes[2].body = "the registry lies";
    srv.routes[2].len = strlen (layer);
    CHECK (pkg_import (src, NULL, dir, &img, err, sizeof err) == -1 && strstr (err, "does not match"),
           "lying registry refused: %s", err);
    snprintf (src, sizeof src, "registry:127.0.0.1:%d/site/nothing:v1", port);
    CHECK (pkg_import (src, NULL, dir, &img, err, sizeof err) == -1 && strstr (err, "404"), "404: %s", err);
    if (d)
        MHD_stop_daemon (d);
    free (man);
    free (index);
    pkg_file_remove_tree (dir);
    if (verbose)
        printf ("pkg_import: done\n");
    return rc;
}
