/*  =========================================================================
    pkg_cli - `meshwatch pkg ...` (see cli.h).
    ========================================================================= */
#include "pkg/cli.h"
#include "pkg/bits.h"
#include "pkg/catalog.h"
#include "pkg/file.h"
#include "pkg/import.h"
#include "pkg/layout.h"
#include "common/cliopt.h"
#include "common/log.h"
#include "node/statelock.h"

#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAIL     1
#define EXIT_USAGE    2
#define EXIT_NO_AGENT 3

enum {
    OPT_STATE_DIR = 256,
    OPT_JSON,
    OPT_OUT,
    OPT_NAME,
    OPT_VERSION,
    OPT_KIND,
    OPT_VARIANT,
    OPT_ENTRY,
    OPT_HEALTH,
    OPT_KEY,
    OPT_SEQ,
    OPT_EXPIRES_DAYS,
    OPT_MODEL_FAMILY,
    OPT_INPUT_SIZE,
    OPT_CPU,
    OPT_MEMORY,
    OPT_GPU,
    OPT_ARCH,
    OPT_CUDA,
    OPT_JETPACK,
    OPT_LEGACY,
    OPT_TRUSTED,
    OPT_TIMEOUT_S,
    OPT_FORMAT,
    OPT_PLATFORM,
    OPT_EXPIRES_AT,
};

#define O_HELP                                                                                               \
    {                                                                                                        \
        "help", no_argument, NULL, 'h'                                                                       \
    }
#define O_STATE_DIR                                                                                          \
    {                                                                                                        \
        "state-dir", required_argument, NULL, OPT_STATE_DIR                                                  \
    }
#define O_JSON                                                                                               \
    {                                                                                                        \
        "json", no_argument, NULL, OPT_JSON                                                                  \
    }
#define O_TRUSTED                                                                                            \
    {                                                                                                        \
        "trusted", required_argument, NULL, OPT_TRUSTED                                                      \
    }
#define O_END                                                                                                \
    {                                                                                                        \
        NULL, 0, NULL, 0                                                                                     \
    }

#define STATE_DIR_HELP                                                                                       \
    "  --state-dir DIR  the agent's STATE_DIR (default $MESHWATCH_STATE_DIR, then /var/lib/meshwatch)\n"
#define TRUSTED_HELP                                                                                         \
    "  --trusted LIST   comma-separated .pub files to trust (default: $MESHWATCH_TRUSTED_KEYS, then the\n"   \
    "                   agent's TRUSTED_KEYS as it last started on STATE_DIR)\n"

static const char *
s_state_dir_default (void)
{
    const char *env = getenv ("MESHWATCH_STATE_DIR");
    return env && *env ? env : "/var/lib/meshwatch";
}

static void
s_print_json (json_object *o)
{
    printf ("%s\n",
            json_object_to_json_string_ext (o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put (o);
}

static json_object *
s_str (const char *s)
{
    return json_object_new_string (s ? s : "");
}

//  The trust anchors: --trusted, else $MESHWATCH_TRUSTED_KEYS, else what
//  the agent wrote at its last start (STATE_DIR/pkg/trusted-keys).
static pkg_keyring_t *
s_keyring (const char *trusted, const char *state_dir, char *err, size_t errlen)
{
    pkg_keyring_t *ring = pkg_keyring_new ();
    if (!ring) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    char *file = NULL;
    const char *list = trusted;
    if (!list || !*list)
        list = getenv ("MESHWATCH_TRUSTED_KEYS");
    if (!list || !*list) {
        char path[700], why[300];
        snprintf (path, sizeof path, "%s/pkg/trusted-keys", state_dir);
        file = pkg_file_read (path, 65536, NULL, why, sizeof why);
        if (file) {
            char *nl;
            while ((nl = strchr (file, '\n')))
                *nl = ',';
        }
        list = file;
    }
    int rc = pkg_keyring_load_list (ring, list, err, errlen);
    free (file);
    if (rc != 0) {
        pkg_keyring_destroy (&ring);
        return NULL;
    }
    if (pkg_keyring_size (ring) == 0) {
        snprintf (err, errlen,
                  "no trusted keys (--trusted K.pub, $MESHWATCH_TRUSTED_KEYS, or TRUSTED_KEYS in the "
                  "agent's config)");
        pkg_keyring_destroy (&ring);
        return NULL;
    }
    return ring;
}

static pkg_catalog_t *
s_catalog (const char *state_dir)
{
    char err[600];
    pkg_catalog_t *c = pkg_catalog_open (state_dir, err, sizeof err);
    if (!c)
        fprintf (stderr, "meshwatch pkg: %s\n", err);
    return c;
}

static int
s_ref (const char *cmd, const char *ref, char *name, char *version)
{
    if (pkg_meta_ref_parse (ref, name, version) != 0) {
        mw_cliopt_fail (cmd, "'%.80s' is not NAME@VERSION", ref);
        return -1;
    }
    return 0;
}

static bool
s_one_positional (mw_cliopt_t *p, const char *cmd, const char *what, const char **out)
{
    int n = 0;
    char **rest = mw_cliopt_rest (p, &n);
    if (n != 1) {
        if (n == 0)
            mw_cliopt_fail (cmd, "%s is missing", what);
        else
            mw_cliopt_fail (cmd, "unexpected argument '%.60s'", rest[1]);
        return false;
    }
    *out = rest[0];
    return true;
}

// --------------------------------------------------------------------------
// keygen

static int
s_keygen (int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, OPT_OUT}, O_JSON, O_HELP, O_END};
    if (mw_cliopt_wants_help (argc, argv)) {
        printf ("usage: meshwatch pkg keygen --out PREFIX [--json]\n"
                "  Make a publisher key pair in minisign's formats: PREFIX.key (secret, mode 0600, not\n"
                "  encrypted) and PREFIX.pub.  `minisign -S -s PREFIX.key` and `minisign -V -p PREFIX.pub`\n"
                "  use them as they are.  Refuses to overwrite either file.\n");
        return 0;
    }
    mw_cliopt_t *p = mw_cliopt_new ("pkg keygen", argc, argv, opts);
    const char *out = NULL;
    bool json = false;
    int c;
    while ((c = mw_cliopt_next (p)) >= 0)
        switch (c) {
        case OPT_OUT: out = mw_cliopt_arg (p); break;
        case OPT_JSON: json = true; break;
        }
    int rc = c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0 ? EXIT_USAGE : 0;
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    if (!out)
        return mw_cliopt_fail ("pkg keygen", "--out PREFIX is required");
    char err[600];
    if (pkg_sign_keygen (out, err, sizeof err) != 0) {
        fprintf (stderr, "meshwatch pkg keygen: %s\n", err);
        return EXIT_FAIL;
    }
    char pub[4200];
    snprintf (pub, sizeof pub, "%s.pub", out);
    pkg_pubkey_t *k = pkg_pubkey_load (pub, err, sizeof err);
    if (json) {
        json_object *o = json_object_new_object ();
        char key[4200];
        snprintf (key, sizeof key, "%s.key", out);
        json_object_object_add (o, "key", s_str (key));
        json_object_object_add (o, "pub", s_str (pub));
        json_object_object_add (o, "key_id", s_str (k ? pkg_pubkey_id (k) : ""));
        s_print_json (o);
    }
    else
        printf ("key %s: %s.key (secret) and %s (public)\n", k ? pkg_pubkey_id (k) : "?", out, pub);
    pkg_pubkey_destroy (&k);
    return 0;
}

// --------------------------------------------------------------------------
// build and import

typedef struct {
    pkg_desc_t desc;
    const char *key, *out, *seq_text;
    int64_t seq, expires_days, expires_at;
    bool legacy, json;
    char variants[PKG_VARIANT_MAX + 1];
} s_build_args_t;

//  The options build and import share; 1 if `c` was one of them, 0 if
//  not, -1 on a bad value.
static int
s_build_opt (mw_cliopt_t *p, int c, s_build_args_t *a)
{
    int64_t v;
    switch (c) {
    case OPT_VARIANT: {
        size_t used = strlen (a->variants);
        if (snprintf (a->variants + used, sizeof a->variants - used, "%s%s", used ? "," : "",
                      mw_cliopt_arg (p))
            >= (int) (sizeof a->variants - used)) {
            mw_cliopt_fail ("pkg build", "--variant: too many");
            return -1;
        }
        return 1;
    }
    case OPT_KEY: a->key = mw_cliopt_arg (p); return 1;
    case OPT_OUT: a->out = mw_cliopt_arg (p); return 1;
    case OPT_SEQ: return mw_cliopt_int (p, 1, 1ll << 53, &a->seq) == 0 ? 1 : -1;
    case OPT_EXPIRES_DAYS: return mw_cliopt_int (p, 1, 36500, &a->expires_days) == 0 ? 1 : -1;
    case OPT_EXPIRES_AT: return mw_cliopt_int (p, 1, 1ll << 40, &a->expires_at) == 0 ? 1 : -1;
    case OPT_LEGACY: a->legacy = true; return 1;
    case OPT_JSON: a->json = true; return 1;
    case OPT_ARCH: snprintf (a->desc.arch, sizeof a->desc.arch, "%.31s", mw_cliopt_arg (p)); return 1;
    case OPT_CUDA: snprintf (a->desc.cuda, sizeof a->desc.cuda, "%.31s", mw_cliopt_arg (p)); return 1;
    case OPT_JETPACK:
        snprintf (a->desc.jetpack, sizeof a->desc.jetpack, "%.31s", mw_cliopt_arg (p));
        return 1;
    case OPT_NAME:
        if (!pkg_meta_name_ok (mw_cliopt_arg (p))) {
            mw_cliopt_fail ("pkg", "--name: [a-z0-9][a-z0-9._-]*, at most %d", PKG_NAME_MAX);
            return -1;
        }
        snprintf (a->desc.name, sizeof a->desc.name, "%s", mw_cliopt_arg (p));
        return 1;
    case OPT_VERSION:
        if (!pkg_meta_version_ok (mw_cliopt_arg (p))) {
            mw_cliopt_fail ("pkg", "--version: [A-Za-z0-9][A-Za-z0-9._+-]*, at most %d", PKG_VERSION_MAX);
            return -1;
        }
        snprintf (a->desc.version, sizeof a->desc.version, "%s", mw_cliopt_arg (p));
        return 1;
    case OPT_ENTRY:
    case OPT_HEALTH: {
        const char *s = mw_cliopt_arg (p);
        if (strlen (s) > PKG_DESC_CMD_MAX) {
            mw_cliopt_fail ("pkg build", "%s: at most %d bytes", mw_cliopt_name (p), PKG_DESC_CMD_MAX);
            return -1;
        }
        snprintf (c == OPT_ENTRY ? a->desc.entry : a->desc.health, PKG_DESC_CMD_MAX + 1, "%s", s);
        return 1;
    }
    case OPT_MODEL_FAMILY:
        snprintf (a->desc.model_family, sizeof a->desc.model_family, "%.63s", mw_cliopt_arg (p));
        return 1;
    case OPT_INPUT_SIZE:
        if (a->desc.n_input_sizes == PKG_DESC_SIZES_MAX) {
            mw_cliopt_fail ("pkg build", "--input-size: at most %d", PKG_DESC_SIZES_MAX);
            return -1;
        }
        if (mw_cliopt_int (p, 1, 65536, &v) != 0)
            return -1;
        a->desc.input_sizes[a->desc.n_input_sizes++] = (uint32_t) v;
        return 1;
    case OPT_CPU:
        if (mw_cliopt_int (p, 1, 100000, &v) != 0)
            return -1;
        a->desc.cpu_percent = (uint32_t) v;
        return 1;
    case OPT_MEMORY:
        if (mw_cliopt_int (p, 1, 1 << 24, &v) != 0)
            return -1;
        a->desc.memory_mb = (uint32_t) v;
        return 1;
    case OPT_GPU: a->desc.gpu = true; return 1;
    }
    return 0;
}

#define S_BUILD_OPTS                                                                                         \
    {"name", required_argument, NULL, OPT_NAME}, {"version", required_argument, NULL, OPT_VERSION},          \
        {"variant", required_argument, NULL, OPT_VARIANT}, {"key", required_argument, NULL, OPT_KEY},        \
        {"out", required_argument, NULL, OPT_OUT}, {"seq", required_argument, NULL, OPT_SEQ},                \
        {"expires-days", required_argument, NULL, OPT_EXPIRES_DAYS},                                         \
        {"expires-at", required_argument, NULL, OPT_EXPIRES_AT},                                             \
        {"legacy-signature", no_argument, NULL, OPT_LEGACY}, {"arch", required_argument, NULL, OPT_ARCH},    \
        {"cuda", required_argument, NULL, OPT_CUDA}, {"jetpack", required_argument, NULL, OPT_JETPACK},      \
        {"entry", required_argument, NULL, OPT_ENTRY}, {"health", required_argument, NULL, OPT_HEALTH},      \
        {"model-family", required_argument, NULL, OPT_MODEL_FAMILY},                                         \
        {"input-size", required_argument, NULL, OPT_INPUT_SIZE},                                             \
        {"cpu-percent", required_argument, NULL, OPT_CPU},                                                   \
        {"memory-mb", required_argument, NULL, OPT_MEMORY}, {"gpu", no_argument, NULL, OPT_GPU}, O_JSON,     \
        O_HELP

#define S_BUILD_HELP                                                                                         \
    "  --variant K=V        a variant tag (e.g. weather=sunny); repeat for more\n"                           \
    "  --key FILE.key       the publisher's secret key (pkg keygen, or minisign -G -W)\n"                    \
    "  --out FILE.mwpkg     the package file to write\n"                                                     \
    "  --seq N              metadata version; must grow within NAME+variant (default: now, Unix ms)\n"       \
    "  --expires-days D     how long the signed metadata stays valid (default 365)\n"                        \
    "  --expires-at T       or until Unix time T (seconds)\n"                                                \
    "  --legacy-signature   sign in minisign's legacy form (Ed) instead of prehashed (ED)\n"                 \
    "  --arch A --cuda V --jetpack V   what the package requires (e.g. arm64, 11.4, 5.1)\n"                  \
    "  --json               print the result as JSON\n"

static int
s_build_finish (s_build_args_t *a, const char *cmd, const char *const *paths, size_t n_paths,
                const pkg_build_blob_t *blobs, size_t n_blobs)
{
    char err[600];
    if (!a->desc.name[0] || !a->desc.version[0] || !a->key || !a->out)
        return mw_cliopt_fail (cmd, "--name, --version, --key and --out are required");
    if (pkg_meta_variant_canon (a->variants, a->desc.variant, sizeof a->desc.variant) != 0)
        return mw_cliopt_fail (cmd,
                               "--variant: K=V with K in [a-z0-9_.-] and V in [A-Za-z0-9_.+-], each K once");
    pkg_seckey_t *key = pkg_seckey_load (a->key, err, sizeof err);
    if (!key) {
        fprintf (stderr, "meshwatch %s: %s\n", cmd, err);
        return EXIT_FAIL;
    }
    pkg_build_opts_t o = {.desc = a->desc,
                          .paths = paths,
                          .n_paths = n_paths,
                          .blobs = blobs,
                          .n_blobs = n_blobs,
                          .key = key,
                          .legacy_sig = a->legacy,
                          .seq = (uint64_t) a->seq,
                          .expires = a->expires_at
                                         ? (uint64_t) a->expires_at
                                         : (uint64_t) time (NULL)
                                               + (uint64_t) (a->expires_days ? a->expires_days : 365) * 86400,
                          .out = a->out};
    pkg_meta_t m;
    int rc = pkg_build (&o, &m, err, sizeof err);
    char key_id[17];
    snprintf (key_id, sizeof key_id, "%s", pkg_seckey_id (key));
    pkg_seckey_destroy (&key);
    if (rc != 0) {
        fprintf (stderr, "meshwatch %s: %s\n", cmd, err);
        return EXIT_FAIL;
    }
    char d[72];
    pkg_digest_str (m.manifest, d);
    if (a->json) {
        json_object *o = json_object_new_object ();
        json_object_object_add (o, "file", s_str (a->out));
        json_object_object_add (o, "name", s_str (m.name));
        json_object_object_add (o, "version", s_str (m.version));
        json_object_object_add (o, "kind", s_str (pkg_kind_name (m.kind)));
        json_object_object_add (o, "variant", s_str (m.variant));
        json_object_object_add (o, "digest", s_str (d));
        json_object_object_add (o, "size", json_object_new_int64 ((int64_t) m.size));
        json_object_object_add (o, "pieces", json_object_new_int64 (m.piece_count));
        json_object_object_add (o, "piece_size", json_object_new_int64 (m.piece_size));
        json_object_object_add (o, "seq", json_object_new_int64 ((int64_t) m.seq));
        json_object_object_add (o, "expires", json_object_new_int64 ((int64_t) m.expires));
        json_object_object_add (o, "key_id", s_str (key_id));
        s_print_json (o);
    }
    else
        printf ("%s: %s@%s (%s) %" PRIu64 " bytes, %u pieces of %u, seq %" PRIu64 ", signed by %s\n", a->out,
                m.name, m.version, pkg_kind_name (m.kind), m.size, m.piece_count, m.piece_size, m.seq,
                key_id);
    return 0;
}

static int
s_build (int argc, char **argv)
{
    static const struct option opts[] = {S_BUILD_OPTS, {"kind", required_argument, NULL, OPT_KIND}, O_END};
    if (mw_cliopt_wants_help (argc, argv)) {
        printf (
            "usage: meshwatch pkg build --name N --version V --kind model|exec [--variant K=V]...\n"
            "         [--entry CMD] [--health CMD] --key PREFIX.key --out FILE.mwpkg PATH...\n"
            "  Pack files and folders (PATH...) into a signed package: an OCI image layout in one tar,\n"
            "  one uncompressed layer, signed metadata (meshwatch/metadata.json + .minisig).\n"
            "  --kind model|exec    weights the inference engine loads, or a program the agent runs\n"
            "                       (container images: meshwatch pkg import)\n"
            "  --model-family F --input-size N...   for models\n"
            "  --entry CMD --health CMD --cpu-percent N --memory-mb N --gpu   for programs\n" S_BUILD_HELP);
        return 0;
    }
    mw_cliopt_t *p = mw_cliopt_new ("pkg build", argc, argv, opts);
    s_build_args_t a = {0};
    a.desc.kind = PKG_KIND_COUNT;
    int c, rc = 0;
    while (rc == 0 && (c = mw_cliopt_next (p)) >= 0) {
        if (c == OPT_KIND) {
            int k = pkg_kind_parse (mw_cliopt_arg (p));
            if (k < 0 || k == PKG_KIND_OCI_IMAGE)
                rc = mw_cliopt_fail ("pkg build", "--kind: model or exec (images come through pkg import)");
            else
                a.desc.kind = (pkg_kind_t) k;
        }
        else if (s_build_opt (p, c, &a) < 0)
            rc = EXIT_USAGE;
    }
    if (rc == 0 && c == MW_CLIOPT_ERROR)
        rc = EXIT_USAGE;
    int n = 0;
    char **rest = mw_cliopt_rest (p, &n);
    if (rc == 0 && a.desc.kind == PKG_KIND_COUNT)
        rc = mw_cliopt_fail ("pkg build", "--kind is required (model or exec)");
    if (rc == 0 && n == 0)
        rc = mw_cliopt_fail ("pkg build", "no PATH to pack");
    if (rc == 0)
        rc = s_build_finish (&a, "pkg build", (const char *const *) rest, (size_t) n, NULL, 0);
    mw_cliopt_destroy (&p);
    return rc;
}

static int
s_import (int argc, char **argv)
{
    static const struct option opts[] = {
        S_BUILD_OPTS, {"platform", required_argument, NULL, OPT_PLATFORM}, O_END};
    if (mw_cliopt_wants_help (argc, argv)) {
        printf (
            "usage: meshwatch pkg import SOURCE --key PREFIX.key --out FILE.mwpkg [--name N] [--version V]\n"
            "         [--variant K=V]... [--platform ARCH]\n"
            "  Make an oci-image package of a container image:\n"
            "    docker-archive:FILE           the output of `docker save`\n"
            "    oci-archive:FILE[:REF]        an OCI layout in a tar (skopeo, podman save)\n"
            "    registry:HOST:PORT/REPO:TAG   a registry (Docker Registry HTTP API v2, plain HTTP;\n"
            "                                  registry+https: for TLS); REPO@sha256:D pins a digest\n"
            "  Every blob is checked against its digest.  --name and --version default to the image's\n"
            "  repository and tag; --platform picks from multi-platform images (default: this machine's).\n"
            "  --entry CMD --health CMD --cpu-percent N --memory-mb N --gpu   how part 2 runs "
            "it\n" S_BUILD_HELP);
        return 0;
    }
    mw_cliopt_t *p = mw_cliopt_new ("pkg import", argc, argv, opts);
    s_build_args_t a = {0};
    a.desc.kind = PKG_KIND_OCI_IMAGE;
    const char *platform = NULL, *src = NULL;
    int c, rc = 0;
    while (rc == 0 && (c = mw_cliopt_next (p)) >= 0) {
        if (c == OPT_PLATFORM)
            platform = mw_cliopt_arg (p);
        else if (s_build_opt (p, c, &a) < 0)
            rc = EXIT_USAGE;
    }
    if (rc == 0 && (c == MW_CLIOPT_ERROR || !s_one_positional (p, "pkg import", "SOURCE", &src)))
        rc = EXIT_USAGE;
    if (rc == 0 && (!a.key || !a.out))
        rc = mw_cliopt_fail ("pkg import", "--key and --out are required");
    if (rc != 0) {
        mw_cliopt_destroy (&p);
        return rc;
    }
    char err[800], outdir[4096];
    snprintf (outdir, sizeof outdir, "%s", a.out);
    pkg_image_t img;
    if (pkg_import (src, platform, dirname (outdir), &img, err, sizeof err) != 0) {
        fprintf (stderr, "meshwatch pkg import: %s\n", err);
        mw_cliopt_destroy (&p);
        return EXIT_FAIL;
    }
    //  Names from the source where none were given, made valid.
    if (!a.desc.name[0]) {
        size_t j = 0;
        for (size_t i = 0; img.name[i] && j < PKG_NAME_MAX; i++) {
            char ch = img.name[i];
            if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || (j > 0 && strchr ("._-", ch)))
                a.desc.name[j++] = ch;
            else if (ch >= 'A' && ch <= 'Z')
                a.desc.name[j++] = (char) (ch - 'A' + 'a');
        }
    }
    if (!a.desc.version[0] && pkg_meta_version_ok (img.tag))
        snprintf (a.desc.version, sizeof a.desc.version, "%.64s", img.tag);
    if (!a.desc.arch[0])
        snprintf (a.desc.arch, sizeof a.desc.arch, "%.31s", img.arch);
    memcpy (a.desc.image_manifest, img.manifest_digest, 32);
    snprintf (a.desc.image_media_type, sizeof a.desc.image_media_type, "%s", img.m.media_type);
    //  The blobs in order: the image manifest, its config, its layers.
    pkg_build_blob_t blobs[PKG_LAYERS_MAX];
    char paths[PKG_LAYERS_MAX][4200];
    char mpath[4200];
    snprintf (mpath, sizeof mpath, "%s/manifest.json", img.dir);
    rc = pkg_file_write (mpath, img.manifest, img.manifest_len, 0644, false, err, sizeof err) == 0
             ? 0
             : EXIT_FAIL;
    size_t nb = 0;
    blobs[nb] = (pkg_build_blob_t){.path = mpath};
    snprintf (blobs[nb].media_type, sizeof blobs[nb].media_type, "%s", img.m.media_type);
    snprintf (blobs[nb++].title, sizeof blobs[0].title, "image manifest");
    pkg_image_blob_path (&img, img.m.config.digest, paths[nb], sizeof paths[0]);
    blobs[nb] = (pkg_build_blob_t){.path = paths[nb]};
    snprintf (blobs[nb].media_type, sizeof blobs[nb].media_type, "%s", img.m.config.media_type);
    snprintf (blobs[nb++].title, sizeof blobs[0].title, "image config");
    for (uint32_t i = 0; i < img.m.n_layers; i++) {
        pkg_image_blob_path (&img, img.m.layers[i].digest, paths[nb], sizeof paths[0]);
        blobs[nb] = (pkg_build_blob_t){.path = paths[nb]};
        snprintf (blobs[nb++].media_type, sizeof blobs[0].media_type, "%s", img.m.layers[i].media_type);
    }
    if (rc == 0)
        rc = s_build_finish (&a, "pkg import", NULL, 0, blobs, nb);
    else
        fprintf (stderr, "meshwatch pkg import: %s\n", err);
    pkg_image_cleanup (&img);
    mw_cliopt_destroy (&p);
    return rc;
}

// --------------------------------------------------------------------------
// publish and verify

typedef struct {
    bool tty;
    uint64_t last_ms;
} s_bar_t;

static void
s_bar (s_bar_t *b, const char *what, uint64_t done, uint64_t total, const char *extra)
{
    if (!b->tty)
        return;
    uint64_t now = mw_now_ms ();
    if (done < total && now - b->last_ms < 100)
        return;
    b->last_ms = now;
    int width = 30;
    int fill = total ? (int) (done * (uint64_t) width / total) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf (stderr, "\r%s [%s] %3d%% %s", what, bar, total ? (int) (done * 100 / total) : 100,
             extra ? extra : "");
    if (done >= total)
        fprintf (stderr, "\n");
    fflush (stderr);
}

static void
s_publish_progress (void *ctx, uint64_t done, uint64_t total)
{
    s_bar (ctx, "publishing", done, total, "");
}

static int
s_publish (int argc, char **argv)
{
    static const struct option opts[] = {O_STATE_DIR, O_TRUSTED, O_JSON, O_HELP, O_END};
    if (mw_cliopt_wants_help (argc, argv)) {
        printf ("usage: meshwatch pkg publish FILE.mwpkg [--state-dir DIR] [--trusted LIST] [--json]\n"
                "  Check a package (signature by a trusted key, metadata seq and expiry, manifest, every\n"
                "  blob and piece) and put it into this box's catalog, complete; the agent then announces\n"
                "  it and the mesh learns it.  A refusal says why and changes nothing.\n" STATE_DIR_HELP
                    TRUSTED_HELP);
        return 0;
    }
    mw_cliopt_t *p = mw_cliopt_new ("pkg publish", argc, argv, opts);
    const char *state_dir = s_state_dir_default (), *trusted = NULL, *file = NULL;
    bool json = false;
    int c;
    while ((c = mw_cliopt_next (p)) >= 0)
        switch (c) {
        case OPT_STATE_DIR: state_dir = mw_cliopt_arg (p); break;
        case OPT_TRUSTED: trusted = mw_cliopt_arg (p); break;
        case OPT_JSON: json = true; break;
        }
    int rc =
        c == MW_CLIOPT_ERROR || !s_one_positional (p, "pkg publish", "FILE.mwpkg", &file) ? EXIT_USAGE : 0;
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    char err[800];
    pkg_keyring_t *ring = s_keyring (trusted, state_dir, err, sizeof err);
    if (!ring) {
        fprintf (stderr, "meshwatch pkg publish: %s\n", err);
        return EXIT_FAIL;
    }
    pkg_catalog_t *cat = s_catalog (state_dir);
    if (!cat) {
        pkg_keyring_destroy (&ring);
        return EXIT_FAIL;
    }
    s_bar_t bar = {.tty = isatty (2) && !json};
    pkg_accept_t how = PKG_ACCEPT_NEW;
    pkg_meta_t m;
    memset (&m, 0, sizeof m);
    pkg_refuse_t r = pkg_catalog_publish (cat, ring, file, (uint64_t) time (NULL), 0, s_publish_progress,
                                          &bar, &how, &m, err, sizeof err);
    if (r != PKG_OK)
        pkg_catalog_note_refusal (cat, m.name, m.version, r, err, "publish");
    char d[72];
    pkg_digest_str (m.manifest, d);
    if (json) {
        json_object *o = json_object_new_object ();
        json_object_object_add (o, "ok", json_object_new_boolean (r == PKG_OK));
        json_object_object_add (o, "name", s_str (m.name));
        json_object_object_add (o, "version", s_str (m.version));
        json_object_object_add (o, "digest", s_str (r == PKG_OK ? d : ""));
        if (r == PKG_OK)
            json_object_object_add (o, "result",
                                    s_str (how == PKG_ACCEPT_NEW       ? "published"
                                           : how == PKG_ACCEPT_UPDATED ? "updated"
                                                                       : "known"));
        else {
            json_object_object_add (o, "reason", s_str (pkg_refuse_name (r)));
            json_object_object_add (o, "detail", s_str (err));
        }
        s_print_json (o);
    }
    else if (r == PKG_OK)
        printf ("%s@%s %s (%s)\n", m.name, m.version,
                how == PKG_ACCEPT_NEW       ? "published"
                : how == PKG_ACCEPT_UPDATED ? "published again (new metadata)"
                                            : "already published",
                d);
    if (r != PKG_OK)
        fprintf (stderr, "meshwatch pkg publish: refused (%s): %s\n", pkg_refuse_name (r), err);
    pkg_catalog_destroy (&cat);
    pkg_keyring_destroy (&ring);
    return r == PKG_OK ? 0 : EXIT_FAIL;
}

//  Verify a .mwpkg file without storing it: a throw-away catalog.
static pkg_refuse_t
s_verify_file (const char *file, const pkg_keyring_t *ring, pkg_meta_t *m, char *err, size_t errlen)
{
    char tmp[] = "/tmp/mwpkg-verify.XXXXXX";
    if (!mkdtemp (tmp)) {
        snprintf (err, errlen, "%s", strerror (errno));
        return PKG_REFUSE_MALFORMED;
    }
    pkg_catalog_t *cat = pkg_catalog_open (tmp, err, errlen);
    pkg_refuse_t r = PKG_REFUSE_MALFORMED;
    pkg_accept_t how;
    if (cat)
        r = pkg_catalog_publish (cat, ring, file, (uint64_t) time (NULL), 0, NULL, NULL, &how, m, err,
                                 errlen);
    pkg_catalog_destroy (&cat);
    pkg_file_remove_tree (tmp);
    return r;
}

static int
s_verify (int argc, char **argv)
{
    static const struct option opts[] = {O_STATE_DIR, O_TRUSTED, O_JSON, O_HELP, O_END};
    if (mw_cliopt_wants_help (argc, argv)) {
        printf ("usage: meshwatch pkg verify FILE.mwpkg | NAME@VERSION [--state-dir DIR] [--trusted LIST] "
                "[--json]\n"
                "  A file: every check publish makes (signature, seq, expiry, manifest, blobs, pieces),\n"
                "  storing nothing.  NAME@VERSION: hash every piece this box holds again; damaged ones\n"
                "  are dropped (the package becomes corrupt; pkg fetch repairs it).\n" STATE_DIR_HELP
                    TRUSTED_HELP);
        return 0;
    }
    mw_cliopt_t *p = mw_cliopt_new ("pkg verify", argc, argv, opts);
    const char *state_dir = s_state_dir_default (), *trusted = NULL, *what = NULL;
    bool json = false;
    int c;
    while ((c = mw_cliopt_next (p)) >= 0)
        switch (c) {
        case OPT_STATE_DIR: state_dir = mw_cliopt_arg (p); break;
        case OPT_TRUSTED: trusted = mw_cliopt_arg (p); break;
        case OPT_JSON: json = true; break;
        }
    int rc = c == MW_CLIOPT_ERROR || !s_one_positional (p, "pkg verify", "FILE.mwpkg or NAME@VERSION", &what)
                 ? EXIT_USAGE
                 : 0;
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    char err[800], name[PKG_NAME_MAX + 1], version[PKG_VERSION_MAX + 1];
    struct stat st;
    if (stat (what, &st) == 0 || pkg_meta_ref_parse (what, name, version) != 0) {
        pkg_keyring_t *ring = s_keyring (trusted, state_dir, err, sizeof err);
        if (!ring) {
            fprintf (stderr, "meshwatch pkg verify: %s\n", err);
            return EXIT_FAIL;
        }
        pkg_meta_t m;
        memset (&m, 0, sizeof m);
        pkg_refuse_t r = s_verify_file (what, ring, &m, err, sizeof err);
        pkg_keyring_destroy (&ring);
        if (json) {
            json_object *o = json_object_new_object ();
            json_object_object_add (o, "ok", json_object_new_boolean (r == PKG_OK));
            json_object_object_add (o, "name", s_str (m.name));
            json_object_object_add (o, "version", s_str (m.version));
            if (r != PKG_OK) {
                json_object_object_add (o, "reason", s_str (pkg_refuse_name (r)));
                json_object_object_add (o, "detail", s_str (err));
            }
            s_print_json (o);
        }
        else if (r == PKG_OK)
            printf ("%s: %s@%s verified\n", what, m.name, m.version);
        if (r != PKG_OK)
            fprintf (stderr, "meshwatch pkg verify: %s (%s): %s\n", what, pkg_refuse_name (r), err);
        return r == PKG_OK ? 0 : EXIT_FAIL;
    }
    pkg_catalog_t *cat = s_catalog (state_dir);
    if (!cat)
        return EXIT_FAIL;
    pkg_entry_t e;
    uint32_t bad = 0;
    if (pkg_catalog_find (cat, name, version, &e) != 0) {
        fprintf (stderr, "meshwatch pkg verify: %s@%s is not in the catalog\n", name, version);
        rc = EXIT_FAIL;
    }
    else if (pkg_catalog_verify (cat, e.meta.manifest, &bad, err, sizeof err) != 0) {
        fprintf (stderr, "meshwatch pkg verify: %s\n", err);
        rc = EXIT_FAIL;
    }
    else {
        if (json) {
            json_object *o = json_object_new_object ();
            json_object_object_add (o, "ok", json_object_new_boolean (bad == 0));
            json_object_object_add (o, "name", s_str (name));
            json_object_object_add (o, "version", s_str (version));
            json_object_object_add (o, "pieces_checked", json_object_new_int64 (e.have));
            json_object_object_add (o, "pieces_bad", json_object_new_int64 (bad));
            s_print_json (o);
        }
        else
            printf ("%s@%s: %u pieces checked, %u damaged%s\n", name, version, e.have, bad,
                    bad ? " (dropped; `meshwatch pkg fetch` repairs them)" : "");
        rc = bad ? EXIT_FAIL : 0;
    }
    pkg_catalog_destroy (&cat);
    return rc;
}

// --------------------------------------------------------------------------
// fetch

static int
s_fetch (int argc, char **argv)
{
    static const struct option opts[] = {
        O_STATE_DIR, {"timeout-s", required_argument, NULL, OPT_TIMEOUT_S}, O_JSON, O_HELP, O_END};
    if (mw_cliopt_wants_help (argc, argv)) {
        printf ("usage: meshwatch pkg fetch NAME@VERSION [--state-dir DIR] [--timeout-s S] [--json]\n"
                "  Ask this box's agent for a package and wait until it is here, complete and verified\n"
                "  (exit 0), or refused or damaged (exit 1), or S seconds passed (default 600; the agent\n"
                "  keeps fetching: the wish is kept, even across a restart).  A progress bar on a\n"
                "  terminal.  Waits for the mesh to announce NAME@VERSION if it is not known yet.\n"
                "  Exit 3: no agent runs on STATE_DIR.\n" STATE_DIR_HELP);
        return 0;
    }
    mw_cliopt_t *p = mw_cliopt_new ("pkg fetch", argc, argv, opts);
    const char *state_dir = s_state_dir_default (), *ref = NULL;
    int64_t timeout_s = 600;
    bool json = false;
    int c, rc = 0;
    while ((c = mw_cliopt_next (p)) >= 0)
        switch (c) {
        case OPT_STATE_DIR: state_dir = mw_cliopt_arg (p); break;
        case OPT_TIMEOUT_S:
            if (mw_cliopt_int (p, 1, 86400 * 7, &timeout_s) != 0)
                rc = EXIT_USAGE;
            break;
        case OPT_JSON: json = true; break;
        }
    if (c == MW_CLIOPT_ERROR || !s_one_positional (p, "pkg fetch", "NAME@VERSION", &ref))
        rc = EXIT_USAGE;
    mw_cliopt_destroy (&p);
    char name[PKG_NAME_MAX + 1], version[PKG_VERSION_MAX + 1];
    if (rc || s_ref ("pkg fetch", ref, name, version) != 0)
        return EXIT_USAGE;
    pid_t agent = node_statelock_holder (state_dir);
    if (agent <= 0) {
        fprintf (stderr, "meshwatch pkg fetch: no agent runs on %s (is it running?)\n", state_dir);
        return EXIT_NO_AGENT;
    }
    pkg_catalog_t *cat = s_catalog (state_dir);
    if (!cat)
        return EXIT_FAIL;
    uint64_t start = mw_now_ms (), deadline = start + (uint64_t) timeout_s * 1000;
    s_bar_t bar = {.tty = isatty (2) && !json};
    pkg_entry_t e;
    bool asked = false, said_waiting = false;
    uint32_t have0 = 0;
    rc = EXIT_FAIL;
    const char *outcome = "timeout";
    while (true) {
        int found = pkg_catalog_find (cat, name, version, &e);
        if (found == 0 && !asked) {
            if (e.state != PKG_STATE_COMPLETE && pkg_catalog_set_want (cat, e.meta.manifest, true) != 0) {
                fprintf (stderr, "meshwatch pkg fetch: cannot record the request\n");
                break;
            }
            asked = true;
            have0 = e.have;
            continue;
        }
        if (found == 0 && e.state == PKG_STATE_COMPLETE) {
            s_bar (&bar, "fetching", 1, 1, "");
            rc = 0;
            outcome = "complete";
            break;
        }
        if (found == 0 && asked && e.error[0]) {
            outcome = e.state == PKG_STATE_CORRUPT ? "corrupt" : "failed";
            break;
        }
        if (found != 0 && !said_waiting && bar.tty) {
            fprintf (stderr, "waiting for the mesh to announce %s@%s...\n", name, version);
            said_waiting = true;
        }
        if (found == 0) {
            char extra[120];
            double s = (double) (mw_now_ms () - start) / 1000.0;
            double mbps = s > 0 ? (double) (e.have - have0) * e.meta.piece_size * 8 / 1e6 / s : 0;
            snprintf (extra, sizeof extra, "%u/%u pieces, %u sources, %.1f Mbit/s ", e.have,
                      e.meta.piece_count, e.sources, mbps);
            s_bar (&bar, "fetching", e.have, e.meta.piece_count ? e.meta.piece_count : 1, extra);
        }
        if (mw_now_ms () >= deadline)
            break;
        if (node_statelock_holder (state_dir) <= 0) {
            outcome = "agent_stopped";
            break;
        }
        usleep (100 * 1000);
    }
    if (bar.tty && rc != 0)
        fprintf (stderr, "\n");
    if (json) {
        json_object *o = json_object_new_object ();
        json_object_object_add (o, "ok", json_object_new_boolean (rc == 0));
        json_object_object_add (o, "name", s_str (name));
        json_object_object_add (o, "version", s_str (version));
        json_object_object_add (o, "outcome", s_str (outcome));
        json_object_object_add (o, "seconds",
                                json_object_new_double ((double) (mw_now_ms () - start) / 1000.0));
        if (asked || rc == 0) {
            json_object_object_add (o, "pieces", json_object_new_int64 (e.meta.piece_count));
            json_object_object_add (o, "pieces_have", json_object_new_int64 (e.have));
            json_object_object_add (o, "error", s_str (e.error));
        }
        s_print_json (o);
    }
    else if (rc == 0)
        printf ("%s@%s complete\n", name, version);
    if (rc != 0)
        fprintf (stderr, "meshwatch pkg fetch: %s@%s: %s%s%s\n", name, version,
                 strcmp (outcome, "timeout") == 0 ? (asked ? "not complete in time (the agent keeps fetching)"
                                                           : "not announced by the mesh in time")
                 : strcmp (outcome, "agent_stopped") == 0 ? "the agent stopped"
                                                          : outcome,
                 asked && e.error[0] ? ": " : "", asked ? e.error : "");
    pkg_catalog_destroy (&cat);
    return rc;
}

// --------------------------------------------------------------------------
// list, show, path, rm, export

static json_object *
s_entry_json (const pkg_entry_t *e)
{
    char d[72];
    pkg_digest_str (e->meta.manifest, d);
    json_object *o = json_object_new_object ();
    json_object_object_add (o, "name", s_str (e->meta.name));
    json_object_object_add (o, "version", s_str (e->meta.version));
    json_object_object_add (o, "kind", s_str (pkg_kind_name (e->meta.kind)));
    json_object_object_add (o, "variant", s_str (e->meta.variant));
    json_object_object_add (o, "digest", s_str (d));
    json_object_object_add (o, "size", json_object_new_int64 ((int64_t) e->meta.size));
    json_object_object_add (o, "state", s_str (pkg_state_name (e->state)));
    json_object_object_add (o, "pieces", json_object_new_int64 (e->meta.piece_count));
    json_object_object_add (o, "pieces_have", json_object_new_int64 (e->have));
    json_object_object_add (o, "sources", json_object_new_int64 (e->sources));
    return o;
}

static void
s_size_text (uint64_t b, char *out, size_t cap)
{
    if (b >= 1ull << 30)
        snprintf (out, cap, "%.1f GiB", (double) b / (1ull << 30));
    else if (b >= 1ull << 20)
        snprintf (out, cap, "%.1f MiB", (double) b / (1ull << 20));
    else if (b >= 1024)
        snprintf (out, cap, "%.1f KiB", (double) b / 1024);
    else
        snprintf (out, cap, "%" PRIu64 " B", b);
}

static int
s_list (int argc, char **argv)
{
    static const struct option opts[] = {O_STATE_DIR, O_JSON, O_HELP, O_END};
    if (mw_cliopt_wants_help (argc, argv)) {
        printf ("usage: meshwatch pkg list [--state-dir DIR] [--json]\n"
                "  Every package this box knows: state available|fetching|complete|corrupt, pieces held,\n"
                "  sources (peers holding pieces).  --json: an array of {name, version, kind, variant,\n"
                "  digest, size, state, pieces, pieces_have, sources}.\n" STATE_DIR_HELP);
        return 0;
    }
    mw_cliopt_t *p = mw_cliopt_new ("pkg list", argc, argv, opts);
    const char *state_dir = s_state_dir_default ();
    bool json = false;
    int c;
    while ((c = mw_cliopt_next (p)) >= 0)
        switch (c) {
        case OPT_STATE_DIR: state_dir = mw_cliopt_arg (p); break;
        case OPT_JSON: json = true; break;
        }
    int rc = c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0 ? EXIT_USAGE : 0;
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    pkg_catalog_t *cat = s_catalog (state_dir);
    if (!cat)
        return EXIT_FAIL;
    pkg_entry_t *list = NULL;
    size_t n = 0;
    if (pkg_catalog_list (cat, &list, &n) != 0) {
        fprintf (stderr, "meshwatch pkg list: cannot read the catalog\n");
        pkg_catalog_destroy (&cat);
        return EXIT_FAIL;
    }
    if (json) {
        json_object *a = json_object_new_array ();
        for (size_t i = 0; i < n; i++)
            json_object_array_add (a, s_entry_json (&list[i]));
        s_print_json (a);
    }
    else {
        printf ("%-24s %-14s %-9s %-20s %10s %-10s %13s %7s\n", "NAME", "VERSION", "KIND", "VARIANT", "SIZE",
                "STATE", "PIECES", "SOURCES");
        for (size_t i = 0; i < n; i++) {
            const pkg_entry_t *e = &list[i];
            char size[32], pieces[32];
            s_size_text (e->meta.size, size, sizeof size);
            snprintf (pieces, sizeof pieces, "%u/%u", e->have, e->meta.piece_count);
            printf ("%-24s %-14s %-9s %-20s %10s %-10s %13s %7u\n", e->meta.name, e->meta.version,
                    pkg_kind_name (e->meta.kind), e->meta.variant[0] ? e->meta.variant : "-", size,
                    pkg_state_name (e->state), pieces, e->sources);
        }
        if (n == 0)
            printf ("(no packages)\n");
    }
    free (list);
    pkg_catalog_destroy (&cat);
    return 0;
}

//  The common shape of show, path, rm: NAME@VERSION [--state-dir] [--json].
static int
s_ref_cmd (int argc, char **argv, const char *cmd, const char *usage, const char **state_dir, bool *json,
           char *name, char *version)
{
    static const struct option opts[] = {O_STATE_DIR, O_JSON, O_HELP, O_END};
    if (mw_cliopt_wants_help (argc, argv)) {
        printf ("%s", usage);
        return -1;
    }
    mw_cliopt_t *p = mw_cliopt_new (cmd, argc, argv, opts);
    *state_dir = s_state_dir_default ();
    const char *ref = NULL;
    int c;
    while ((c = mw_cliopt_next (p)) >= 0)
        switch (c) {
        case OPT_STATE_DIR: *state_dir = mw_cliopt_arg (p); break;
        case OPT_JSON: *json = true; break;
        }
    int rc = c == MW_CLIOPT_ERROR || !s_one_positional (p, cmd, "NAME@VERSION", &ref) ? EXIT_USAGE : 0;
    if (rc == 0 && s_ref (cmd, ref, name, version) != 0)
        rc = EXIT_USAGE;
    mw_cliopt_destroy (&p);
    return rc;
}

static int
s_path (int argc, char **argv)
{
    const char *state_dir;
    bool json = false;
    char name[PKG_NAME_MAX + 1], version[PKG_VERSION_MAX + 1];
    int rc =
        s_ref_cmd (argc, argv, "pkg path",
                   "usage: meshwatch pkg path NAME@VERSION [--state-dir DIR] [--json]\n"
                   "  The folder holding the package's unpacked files (an OCI image layout for oci-image\n"
                   "  packages); exit 1 unless the package is complete and verified.\n" STATE_DIR_HELP,
                   &state_dir, &json, name, version);
    if (rc)
        return rc < 0 ? 0 : rc;
    pkg_catalog_t *cat = s_catalog (state_dir);
    if (!cat)
        return EXIT_FAIL;
    pkg_entry_t e;
    char path[1000];
    if (pkg_catalog_find (cat, name, version, &e) != 0) {
        fprintf (stderr, "meshwatch pkg path: %s@%s is not in the catalog\n", name, version);
        rc = EXIT_FAIL;
    }
    else if (e.state != PKG_STATE_COMPLETE) {
        fprintf (stderr, "meshwatch pkg path: %s@%s is %s, not complete\n", name, version,
                 pkg_state_name (e.state));
        rc = EXIT_FAIL;
    }
    else {
        pkg_catalog_files_path (cat, name, version, path, sizeof path);
        char real[4096];
        if (realpath (path, real))
            snprintf (path, sizeof path, "%.999s", real);
        if (json) {
            json_object *o = json_object_new_object ();
            json_object_object_add (o, "path", s_str (path));
            s_print_json (o);
        }
        else
            printf ("%s\n", path);
    }
    pkg_catalog_destroy (&cat);
    return rc;
}

static int
s_show (int argc, char **argv)
{
    const char *state_dir;
    bool json = false;
    char name[PKG_NAME_MAX + 1], version[PKG_VERSION_MAX + 1];
    int rc =
        s_ref_cmd (argc, argv, "pkg show",
                   "usage: meshwatch pkg show NAME@VERSION [--state-dir DIR] [--json]\n"
                   "  Everything about one package: signed metadata, key, manifest (what it is, what it\n"
                   "  needs), layers, pieces held.\n" STATE_DIR_HELP,
                   &state_dir, &json, name, version);
    if (rc)
        return rc < 0 ? 0 : rc;
    pkg_catalog_t *cat = s_catalog (state_dir);
    if (!cat)
        return EXIT_FAIL;
    pkg_entry_t e;
    pkg_parts_t parts;
    if (pkg_catalog_find (cat, name, version, &e) != 0
        || pkg_catalog_parts (cat, e.meta.manifest, &parts) != 0) {
        fprintf (stderr, "meshwatch pkg show: %s@%s is not in the catalog\n", name, version);
        pkg_catalog_destroy (&cat);
        return EXIT_FAIL;
    }
    pkg_desc_t d;
    pkg_manifest_t m;
    char err[300];
    memset (&d, 0, sizeof d);
    memset (&m, 0, sizeof m);
    pkg_desc_decode (parts.config, parts.config_len, &d, err, sizeof err);
    pkg_manifest_parse (parts.manifest, parts.manifest_len, &m, err, sizeof err);
    json_object *o = s_entry_json (&e);
    json_object_object_add (o, "seq", json_object_new_int64 ((int64_t) e.meta.seq));
    json_object_object_add (o, "expires", json_object_new_int64 ((int64_t) e.meta.expires));
    json_object_object_add (o, "key_id", s_str (e.key_id));
    json_object_object_add (o, "piece_size", json_object_new_int64 (e.meta.piece_size));
    json_object_object_add (o, "local", json_object_new_boolean (e.local));
    json_object_object_add (o, "error", s_str (e.error));
    //  Which pieces are here (bit i of byte i/8, most significant first):
    //  what a repair fetches again, what a test takes the union of.
    char *bits = malloc (2 * PKG_BITS_BYTES (e.meta.piece_count) + 1);
    if (bits) {
        pkg_hex (e.bitmap, PKG_BITS_BYTES (e.meta.piece_count), bits);
        json_object_object_add (o, "bitmap", s_str (bits));
        free (bits);
    }
    json_object_object_add (o, "config", json_tokener_parse (parts.config));
    json_object *layers = json_object_new_array ();
    for (uint32_t i = 0; i < m.n_layers; i++) {
        char ld[72];
        pkg_digest_str (m.layers[i].digest, ld);
        json_object *l = json_object_new_object ();
        json_object_object_add (l, "media_type", s_str (m.layers[i].media_type));
        json_object_object_add (l, "digest", s_str (ld));
        json_object_object_add (l, "size", json_object_new_int64 ((int64_t) m.layers[i].size));
        json_object_array_add (layers, l);
    }
    json_object_object_add (o, "layers", layers);
    if (json)
        s_print_json (o);
    else {
        char size[32], exp[64];
        s_size_text (e.meta.size, size, sizeof size);
        time_t t = (time_t) e.meta.expires;
        struct tm tm;
        strftime (exp, sizeof exp, "%Y-%m-%d %H:%M UTC", gmtime_r (&t, &tm));
        char dg[72];
        pkg_digest_str (e.meta.manifest, dg);
        printf ("%s@%s  (%s%s%s)\n", name, version, pkg_kind_name (e.meta.kind),
                e.meta.variant[0] ? ", " : "", e.meta.variant);
        printf ("  state      %s%s%s, %u of %u pieces of %u bytes, %u sources%s\n", pkg_state_name (e.state),
                e.error[0] ? ": " : "", e.error, e.have, e.meta.piece_count, e.meta.piece_size, e.sources,
                e.local ? ", published here" : "");
        printf ("  size       %s (%" PRIu64 " bytes)\n", size, e.meta.size);
        printf ("  digest     %s\n  signed     by key %s, seq %" PRIu64 ", expires %s\n", dg, e.key_id,
                e.meta.seq, exp);
        if (d.model_family[0] || d.n_input_sizes) {
            printf ("  model      %s, input sizes", d.model_family[0] ? d.model_family : "-");
            for (uint32_t i = 0; i < d.n_input_sizes; i++)
                printf (" %u", d.input_sizes[i]);
            printf ("\n");
        }
        if (d.entry[0])
            printf ("  entry      %s\n", d.entry);
        if (d.health[0])
            printf ("  health     %s\n", d.health);
        if (d.cpu_percent || d.memory_mb || d.gpu)
            printf ("  resources  cpu %u %%, memory %u MB, gpu %s\n", d.cpu_percent, d.memory_mb,
                    d.gpu ? "yes" : "no");
        if (d.arch[0] || d.cuda[0] || d.jetpack[0])
            printf ("  requires   arch %s, cuda %s, jetpack %s\n", d.arch[0] ? d.arch : "-",
                    d.cuda[0] ? d.cuda : "-", d.jetpack[0] ? d.jetpack : "-");
        for (uint32_t i = 0; i < m.n_layers; i++) {
            char ld[72], ls[32];
            pkg_digest_str (m.layers[i].digest, ld);
            s_size_text (m.layers[i].size, ls, sizeof ls);
            printf ("  layer %-4u %.19s...  %10s  %s\n", i, ld, ls, m.layers[i].media_type);
        }
        json_object_put (o);
    }
    pkg_catalog_parts_free (&parts);
    pkg_catalog_destroy (&cat);
    return 0;
}

static int
s_rm (int argc, char **argv)
{
    const char *state_dir;
    bool json = false;
    char name[PKG_NAME_MAX + 1], version[PKG_VERSION_MAX + 1];
    int rc =
        s_ref_cmd (argc, argv, "pkg rm",
                   "usage: meshwatch pkg rm NAME@VERSION [--state-dir DIR] [--json]\n"
                   "  Forget a package here: its catalog entry, data and files.  The trust state (highest\n"
                   "  seq seen) stays, so the same or older metadata is still refused as a rollback\n"
                   "  unless it is re-signed with a higher seq.\n" STATE_DIR_HELP,
                   &state_dir, &json, name, version);
    if (rc)
        return rc < 0 ? 0 : rc;
    pkg_catalog_t *cat = s_catalog (state_dir);
    if (!cat)
        return EXIT_FAIL;
    pkg_entry_t e;
    if (pkg_catalog_find (cat, name, version, &e) != 0 || pkg_catalog_remove (cat, e.meta.manifest) != 0) {
        fprintf (stderr, "meshwatch pkg rm: %s@%s is not in the catalog\n", name, version);
        rc = EXIT_FAIL;
    }
    else if (json) {
        json_object *o = json_object_new_object ();
        json_object_object_add (o, "removed", s_str (name));
        json_object_object_add (o, "version", s_str (version));
        s_print_json (o);
    }
    else
        printf ("%s@%s removed\n", name, version);
    pkg_catalog_destroy (&cat);
    return rc;
}

static int
s_export (int argc, char **argv)
{
    static const struct option opts[] = {O_STATE_DIR,
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {"format", required_argument, NULL, OPT_FORMAT},
                                         O_JSON,
                                         O_HELP,
                                         O_END};
    if (mw_cliopt_wants_help (argc, argv)) {
        printf (
            "usage: meshwatch pkg export NAME@VERSION --out FILE [--format F] [--state-dir DIR] [--json]\n"
            "  Write a complete package as an archive:\n"
            "    mwpkg           the signed package (default for model and exec): publish it elsewhere\n"
            "    docker-archive  the container image for `docker load` (default for oci-image)\n"
            "    oci-archive     the container image as an OCI layout (skopeo, podman "
            "load)\n" STATE_DIR_HELP);
        return 0;
    }
    mw_cliopt_t *p = mw_cliopt_new ("pkg export", argc, argv, opts);
    const char *state_dir = s_state_dir_default (), *out = NULL, *format = NULL, *ref = NULL;
    bool json = false;
    int c;
    while ((c = mw_cliopt_next (p)) >= 0)
        switch (c) {
        case OPT_STATE_DIR: state_dir = mw_cliopt_arg (p); break;
        case OPT_OUT: out = mw_cliopt_arg (p); break;
        case OPT_FORMAT: format = mw_cliopt_arg (p); break;
        case OPT_JSON: json = true; break;
        }
    int rc =
        c == MW_CLIOPT_ERROR || !s_one_positional (p, "pkg export", "NAME@VERSION", &ref) ? EXIT_USAGE : 0;
    mw_cliopt_destroy (&p);
    char name[PKG_NAME_MAX + 1], version[PKG_VERSION_MAX + 1];
    if (rc || s_ref ("pkg export", ref, name, version) != 0)
        return EXIT_USAGE;
    if (!out)
        return mw_cliopt_fail ("pkg export", "--out FILE is required");
    if (format && strcmp (format, "mwpkg") && strcmp (format, "docker-archive")
        && strcmp (format, "oci-archive"))
        return mw_cliopt_fail ("pkg export", "--format: mwpkg, docker-archive or oci-archive");
    pkg_catalog_t *cat = s_catalog (state_dir);
    if (!cat)
        return EXIT_FAIL;
    pkg_entry_t e;
    char err[800];
    if (pkg_catalog_find (cat, name, version, &e) != 0) {
        fprintf (stderr, "meshwatch pkg export: %s@%s is not in the catalog\n", name, version);
        rc = EXIT_FAIL;
    }
    else {
        if (!format)
            format = e.meta.kind == PKG_KIND_OCI_IMAGE ? "docker-archive" : "mwpkg";
        if (pkg_catalog_export (cat, e.meta.manifest, format, out, err, sizeof err) != 0) {
            fprintf (stderr, "meshwatch pkg export: %s\n", err);
            rc = EXIT_FAIL;
        }
        else if (json) {
            json_object *o = json_object_new_object ();
            json_object_object_add (o, "file", s_str (out));
            json_object_object_add (o, "format", s_str (format));
            s_print_json (o);
        }
        else
            printf ("%s@%s -> %s (%s)\n", name, version, out, format);
    }
    pkg_catalog_destroy (&cat);
    return rc;
}

// --------------------------------------------------------------------------

typedef struct {
    const char *name;
    const char *synopsis;
    int (*run) (int argc, char **argv);
} s_cmd_t;

static const s_cmd_t s_cmds[] = {
    {"keygen", "--out PREFIX                      a publisher key pair (minisign formats)", s_keygen},
    {"build", "--name N --version V --kind K ... PATH...   pack and sign files", s_build},
    {"import", "SOURCE --key K --out F ...         a container image as a package", s_import},
    {"publish", "FILE.mwpkg                        into this box's catalog; the mesh learns it", s_publish},
    {"fetch", "NAME@VERSION [--timeout-s S]      get it through the mesh; waits until verified", s_fetch},
    {"list", "                                   what this box knows and holds", s_list},
    {"show", "NAME@VERSION                       everything about one package", s_show},
    {"path", "NAME@VERSION                       where its unpacked files are", s_path},
    {"verify", "FILE.mwpkg | NAME@VERSION         check a file, or re-hash what is held", s_verify},
    {"rm", "NAME@VERSION                       forget a package here", s_rm},
    {"export", "NAME@VERSION --out FILE           a .mwpkg, or docker/OCI archive of an image", s_export},
    {NULL, NULL, NULL},
};

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch pkg COMMAND [options]   (meshwatch pkg COMMAND --help for each)\n");
    for (const s_cmd_t *c = s_cmds; c->name; c++)
        fprintf (f, "  %-8s %s\n", c->name, c->synopsis);
    fprintf (f, "Every command takes --json.  Packages: docs/PACKAGES.md.\n");
}

int
pkg_cli_main (int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp (cmd, "--help") == 0 || strcmp (cmd, "-h") == 0 || strcmp (cmd, "help") == 0) {
        s_usage (stdout);
        return 0;
    }
    for (const s_cmd_t *c = s_cmds; c->name; c++)
        if (strcmp (cmd, c->name) == 0)
            return c->run (argc - 1, argv + 1);
    //  An option before any command (`pkg --bogus`), or a misspelt one.
    if (mw_cliopt_wants_help (argc, argv)) {
        s_usage (stdout);
        return 0;
    }
    //  One line naming it, like every other subcommand's.
    if (cmd[0] == '-')
        fprintf (stderr, "meshwatch pkg: unknown option '%.60s'\n", cmd);
    else
        fprintf (stderr, "meshwatch pkg: unknown command '%.60s' (meshwatch pkg --help lists them)\n", cmd);
    return EXIT_USAGE;
}
