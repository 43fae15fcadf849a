/*  =========================================================================
    pkg_sign - minisign-compatible Ed25519 keys and signatures (see sign.h).
    ========================================================================= */
#include "pkg/sign.h"
#include "pkg/file.h"
#include "common/selftest.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_PK_BIN    (2 + PKG_SIGN_KEYID_BYTES + crypto_sign_PUBLICKEYBYTES)                             //  42
#define S_SK_BIN    (2 + 2 + 2 + 32 + 8 + 8 + PKG_SIGN_KEYID_BYTES + crypto_sign_SECRETKEYBYTES + 32)   //  158
#define S_SIG_BIN   (2 + PKG_SIGN_KEYID_BYTES + crypto_sign_BYTES)                                      //  74
#define S_UNTRUSTED "untrusted comment: "
#define S_TRUSTED   "trusted comment: "

struct _pkg_pubkey_t {
    uint8_t keyid[PKG_SIGN_KEYID_BYTES];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    char id_hex[17];
    char b64[64];
};

struct _pkg_seckey_t {
    uint8_t keyid[PKG_SIGN_KEYID_BYTES];
    uint8_t *sk;   //  sodium_malloc'ed: guarded, never swapped, wiped on free
    char id_hex[17];
};

struct _pkg_keyring_t {
    pkg_pubkey_t *keys[PKG_SIGN_KEYRING_MAX];
    size_t n;
};

//  minisign prints the key id as a little-endian 64-bit number.
static void
s_id_hex (const uint8_t keyid[PKG_SIGN_KEYID_BYTES], char out[17])
{
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 0; i < PKG_SIGN_KEYID_BYTES; i++) {
        uint8_t b = keyid[PKG_SIGN_KEYID_BYTES - 1 - i];
        out[2 * i] = hex[b >> 4];
        out[2 * i + 1] = hex[b & 15];
    }
    out[16] = 0;
}

//  Split `text` into lines (LF, an optional CR before it stripped).
//  Returns how many (at most max); a line is not NUL-ended: ptr + len.
typedef struct {
    const char *p;
    size_t len;
} s_line_t;

static int
s_lines (const char *text, size_t len, s_line_t *lines, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len && n < max) {
        const char *nl = memchr (text + i, '\n', len - i);
        size_t l = nl ? (size_t) (nl - (text + i)) : len - i;
        lines[n].p = text + i;
        lines[n].len = l > 0 && text[i + l - 1] == '\r' ? l - 1 : l;
        n++;
        i += l + (nl ? 1 : 0);
    }
    //  Blank lines at the end (a final newline) do not count.
    while (n > 0 && lines[n - 1].len == 0)
        n--;
    return n;
}

//  Strict base64 (the original alphabet, padded, no spaces) of exactly
//  `want` bytes.  0/-1.
static int
s_b64_exact (const s_line_t *line, uint8_t *out, size_t want)
{
    size_t got = 0;
    const char *end = NULL;
    if (line->len == 0 || line->len > 4 * ((want + 2) / 3))
        return -1;
    if (sodium_base642bin (out, want, line->p, line->len, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL)
            != 0
        || got != want || end != line->p + line->len)
        return -1;
    return 0;
}

static char *
s_b64 (const uint8_t *bin, size_t len, char *out, size_t cap)
{
    return sodium_bin2base64 (out, cap, bin, len, sodium_base64_VARIANT_ORIGINAL);
}

static bool
s_has_prefix (const s_line_t *line, const char *prefix)
{
    size_t n = strlen (prefix);
    return line->len >= n && memcmp (line->p, prefix, n) == 0;
}

// --------------------------------------------------------------------------
// Public keys

pkg_pubkey_t *
pkg_pubkey_parse (const char *text, size_t len, char *err, size_t errlen)
{
    if (sodium_init () < 0) {
        snprintf (err, errlen, "libsodium failed to start");
        return NULL;
    }
    s_line_t lines[3];
    int n = s_lines (text, len, lines, 3);
    //  A key file (comment + key) or the bare base64 line (minisign -P).
    const s_line_t *key = NULL;
    if (n == 2 && s_has_prefix (&lines[0], S_UNTRUSTED) && lines[0].len <= PKG_SIGN_COMMENT_MAX)
        key = &lines[1];
    else if (n == 1)
        key = &lines[0];
    if (!key) {
        snprintf (err, errlen, "not a minisign public key (expected '%s...' and one base64 line)",
                  S_UNTRUSTED);
        return NULL;
    }
    uint8_t bin[S_PK_BIN];
    if (s_b64_exact (key, bin, sizeof bin) != 0) {
        snprintf (err, errlen, "not a minisign public key (the key line is not %d bytes of base64)",
                  S_PK_BIN);
        return NULL;
    }
    if (memcmp (bin, "Ed", 2) != 0) {
        snprintf (err, errlen, "unsupported key algorithm (not Ed25519)");
        return NULL;
    }
    pkg_pubkey_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    memcpy (self->keyid, bin + 2, PKG_SIGN_KEYID_BYTES);
    memcpy (self->pk, bin + 2 + PKG_SIGN_KEYID_BYTES, crypto_sign_PUBLICKEYBYTES);
    s_id_hex (self->keyid, self->id_hex);
    s_b64 (bin, sizeof bin, self->b64, sizeof self->b64);
    return self;
}

pkg_pubkey_t *
pkg_pubkey_load (const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char why[300];
    char *text = pkg_file_read (path, 4096, &len, why, sizeof why);
    if (!text) {
        snprintf (err, errlen, "%s", why);
        return NULL;
    }
    pkg_pubkey_t *self = pkg_pubkey_parse (text, len, why, sizeof why);
    free (text);
    if (!self)
        snprintf (err, errlen, "%s: %s", path, why);
    return self;
}

void
pkg_pubkey_destroy (pkg_pubkey_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
pkg_pubkey_id (const pkg_pubkey_t *self)
{
    return self->id_hex;
}

const char *
pkg_pubkey_base64 (const pkg_pubkey_t *self)
{
    return self->b64;
}

// --------------------------------------------------------------------------
// Secret keys

static void
s_seckey_chk (const uint8_t *keyid, const uint8_t *sk, uint8_t chk[32])
{
    crypto_generichash_state hs;
    crypto_generichash_init (&hs, NULL, 0, 32);
    crypto_generichash_update (&hs, (const uint8_t *) "Ed", 2);
    crypto_generichash_update (&hs, keyid, PKG_SIGN_KEYID_BYTES);
    crypto_generichash_update (&hs, sk, crypto_sign_SECRETKEYBYTES);
    crypto_generichash_final (&hs, chk, 32);
}

pkg_seckey_t *
pkg_seckey_parse (const char *text, size_t len, char *err, size_t errlen)
{
    if (sodium_init () < 0) {
        snprintf (err, errlen, "libsodium failed to start");
        return NULL;
    }
    s_line_t lines[3];
    int n = s_lines (text, len, lines, 3);
    if (n != 2 || !s_has_prefix (&lines[0], S_UNTRUSTED)) {
        snprintf (err, errlen, "not a minisign secret key");
        return NULL;
    }
    uint8_t *bin = sodium_malloc (S_SK_BIN);
    pkg_seckey_t *self = calloc (1, sizeof *self);
    if (!bin || !self || !(self->sk = sodium_malloc (crypto_sign_SECRETKEYBYTES))) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    if (s_b64_exact (&lines[1], bin, S_SK_BIN) != 0) {
        snprintf (err, errlen, "not a minisign secret key (the key line is not %d bytes of base64)",
                  S_SK_BIN);
        goto fail;
    }
    if (memcmp (bin, "Ed", 2) != 0 || memcmp (bin + 4, "B2", 2) != 0) {
        snprintf (err, errlen, "unsupported secret key (algorithm or checksum is not minisign's Ed/B2)");
        goto fail;
    }
    if (memcmp (bin + 2, "Sc", 2) == 0) {
        snprintf (err, errlen,
                  "the secret key is encrypted with a password; remove it with `minisign -C -W -s FILE` "
                  "(packages are signed unattended)");
        goto fail;
    }
    if (bin[2] != 0 || bin[3] != 0) {
        snprintf (err, errlen, "unsupported key derivation in the secret key");
        goto fail;
    }
    const uint8_t *keyid = bin + 54;
    const uint8_t *sk = keyid + PKG_SIGN_KEYID_BYTES;
    const uint8_t *chk = sk + crypto_sign_SECRETKEYBYTES;
    uint8_t want[32], zero[32] = {0};
    s_seckey_chk (keyid, sk, want);
    //  minisign 0.11 leaves the checksum of an unencrypted key zero.
    if (sodium_memcmp (chk, want, 32) != 0 && sodium_memcmp (chk, zero, 32) != 0) {
        snprintf (err, errlen, "the secret key's checksum does not match (damaged key file)");
        goto fail;
    }
    //  The public half must be the one the secret half derives (a key file
    //  spliced from two keys would sign under the wrong id).
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_sk_to_pk (pk, sk) != 0 || memcmp (pk, sk + 32, sizeof pk) != 0) {
        snprintf (err, errlen, "the secret key is inconsistent (damaged key file)");
        goto fail;
    }
    memcpy (self->keyid, keyid, PKG_SIGN_KEYID_BYTES);
    memcpy (self->sk, sk, crypto_sign_SECRETKEYBYTES);
    s_id_hex (self->keyid, self->id_hex);
    sodium_free (bin);
    return self;
fail:
    if (bin)
        sodium_free (bin);
    pkg_seckey_destroy (&self);
    return NULL;
}

pkg_seckey_t *
pkg_seckey_load (const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char why[300];
    char *text = pkg_file_read (path, 4096, &len, why, sizeof why);
    if (!text) {
        snprintf (err, errlen, "%s", why);
        return NULL;
    }
    pkg_seckey_t *self = pkg_seckey_parse (text, len, why, sizeof why);
    sodium_memzero (text, len);
    free (text);
    if (!self)
        snprintf (err, errlen, "%s: %s", path, why);
    return self;
}

void
pkg_seckey_destroy (pkg_seckey_t **self_p)
{
    if (self_p && *self_p) {
        if ((*self_p)->sk)
            sodium_free ((*self_p)->sk);
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
pkg_seckey_id (const pkg_seckey_t *self)
{
    return self->id_hex;
}

int
pkg_sign_keygen (const char *prefix, char *err, size_t errlen)
{
    if (sodium_init () < 0) {
        snprintf (err, errlen, "libsodium failed to start");
        return -1;
    }
    char kpath[4096], ppath[4096];
    if (snprintf (kpath, sizeof kpath, "%s.key", prefix) >= (int) sizeof kpath
        || snprintf (ppath, sizeof ppath, "%s.pub", prefix) >= (int) sizeof ppath) {
        snprintf (err, errlen, "%s: path too long", prefix);
        return -1;
    }
    if (access (kpath, F_OK) == 0 || access (ppath, F_OK) == 0) {
        snprintf (err, errlen, "%s exists already; not overwriting a key",
                  access (kpath, F_OK) == 0 ? kpath : ppath);
        return -1;
    }
    uint8_t *bin = sodium_malloc (S_SK_BIN);
    char *text = sodium_malloc (512);
    if (!bin || !text) {
        snprintf (err, errlen, "out of memory");
        if (bin)
            sodium_free (bin);
        if (text)
            sodium_free (text);
        return -1;
    }
    memset (bin, 0, S_SK_BIN);
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t *keyid = bin + 54, *sk = keyid + PKG_SIGN_KEYID_BYTES, *chk = sk + crypto_sign_SECRETKEYBYTES;
    memcpy (bin, "Ed", 2);   //  kdf stays "\0\0": not encrypted
    memcpy (bin + 4, "B2", 2);
    randombytes_buf (keyid, PKG_SIGN_KEYID_BYTES);
    crypto_sign_keypair (pk, sk);
    s_seckey_chk (keyid, sk, chk);
    char id[17];
    s_id_hex (keyid, id);

    int rc = -1;
    char b64[300];
    int n = snprintf (text, 512, "%smeshwatch package signing key %s (minisign format, not encrypted)\n%s\n",
                      S_UNTRUSTED, id, s_b64 (bin, S_SK_BIN, b64, sizeof b64));
    sodium_memzero (b64, sizeof b64);
    if (pkg_file_write (kpath, text, (size_t) n, 0600, true, err, errlen) == 0) {
        uint8_t pbin[S_PK_BIN];
        memcpy (pbin, "Ed", 2);
        memcpy (pbin + 2, keyid, PKG_SIGN_KEYID_BYTES);
        memcpy (pbin + 2 + PKG_SIGN_KEYID_BYTES, pk, sizeof pk);
        char ptext[256];
        n = snprintf (ptext, sizeof ptext, "%sminisign public key %s\n%s\n", S_UNTRUSTED, id,
                      s_b64 (pbin, sizeof pbin, b64, sizeof b64));
        if (pkg_file_write (ppath, ptext, (size_t) n, 0644, true, err, errlen) == 0)
            rc = 0;
        else
            unlink (kpath);   //  a secret key without its public half helps nobody
    }
    sodium_free (bin);
    sodium_free (text);
    return rc;
}

// --------------------------------------------------------------------------
// Signatures

char *
pkg_sign (const pkg_seckey_t *key, const void *msg, size_t len, const char *trusted, bool legacy)
{
    if (!key || (!msg && len) || !trusted || strlen (trusted) >= PKG_SIGN_TRUSTED_MAX
        || strpbrk (trusted, "\r\n"))
        return NULL;
    uint8_t sigbin[S_SIG_BIN];
    memcpy (sigbin, legacy ? "Ed" : "ED", 2);
    memcpy (sigbin + 2, key->keyid, PKG_SIGN_KEYID_BYTES);
    uint8_t *sig = sigbin + 2 + PKG_SIGN_KEYID_BYTES;
    if (legacy)
        crypto_sign_detached (sig, NULL, msg, len, key->sk);
    else {
        uint8_t h[crypto_generichash_BYTES_MAX];
        crypto_generichash (h, sizeof h, msg, len, NULL, 0);
        crypto_sign_detached (sig, NULL, h, sizeof h, key->sk);
    }
    //  The global signature covers the signature and the trusted comment.
    size_t tlen = strlen (trusted);
    uint8_t *both = malloc (crypto_sign_BYTES + tlen);
    if (!both)
        return NULL;
    memcpy (both, sig, crypto_sign_BYTES);
    memcpy (both + crypto_sign_BYTES, trusted, tlen);
    uint8_t global[crypto_sign_BYTES];
    crypto_sign_detached (global, NULL, both, crypto_sign_BYTES + tlen, key->sk);
    free (both);

    char b64sig[128], b64global[128];
    size_t cap = 200 + tlen + 256;
    char *out = malloc (cap);
    if (!out)
        return NULL;
    snprintf (out, cap, "%ssignature from meshwatch secret key %s\n%s\n%s%s\n%s\n", S_UNTRUSTED, key->id_hex,
              s_b64 (sigbin, sizeof sigbin, b64sig, sizeof b64sig), S_TRUSTED, trusted,
              s_b64 (global, sizeof global, b64global, sizeof b64global));
    return out;
}

//  The parts of a signature file.
typedef struct {
    uint8_t bin[S_SIG_BIN];
    uint8_t global[crypto_sign_BYTES];
    s_line_t trusted;
} s_sig_t;

static int
s_sig_parse (const char *text, size_t len, s_sig_t *sig, char *err, size_t errlen)
{
    if (!text || len == 0 || len > PKG_SIGN_TEXT_MAX) {
        snprintf (err, errlen, len ? "signature too long" : "no signature");
        return PKG_SIGN_EMALFORMED;
    }
    if (memchr (text, 0, len)) {
        snprintf (err, errlen, "signature holds a NUL byte");
        return PKG_SIGN_EMALFORMED;
    }
    s_line_t lines[5];
    int n = s_lines (text, len, lines, 5);
    if (n != 4 || !s_has_prefix (&lines[0], S_UNTRUSTED) || lines[0].len > PKG_SIGN_COMMENT_MAX
        || !s_has_prefix (&lines[2], S_TRUSTED)) {
        snprintf (err, errlen,
                  "not a minisign signature (expected four lines: comment, signature, trusted "
                  "comment, global signature)");
        return PKG_SIGN_EMALFORMED;
    }
    if (s_b64_exact (&lines[1], sig->bin, S_SIG_BIN) != 0
        || s_b64_exact (&lines[3], sig->global, crypto_sign_BYTES)) {
        snprintf (err, errlen, "not a minisign signature (bad base64)");
        return PKG_SIGN_EMALFORMED;
    }
    if (memcmp (sig->bin, "ED", 2) != 0 && memcmp (sig->bin, "Ed", 2) != 0) {
        snprintf (err, errlen, "unsupported signature algorithm");
        return PKG_SIGN_EMALFORMED;
    }
    sig->trusted.p = lines[2].p + strlen (S_TRUSTED);
    sig->trusted.len = lines[2].len - strlen (S_TRUSTED);
    if (sig->trusted.len >= PKG_SIGN_TRUSTED_MAX) {
        snprintf (err, errlen, "trusted comment too long");
        return PKG_SIGN_EMALFORMED;
    }
    return PKG_SIGN_OK;
}

int
pkg_sign_key_id (const char *sig, size_t sig_len, char out[17])
{
    s_sig_t s;
    char err[128];
    if (s_sig_parse (sig, sig_len, &s, err, sizeof err) != PKG_SIGN_OK)
        return -1;
    s_id_hex (s.bin + 2, out);
    return 0;
}

int
pkg_sign_verify (const pkg_keyring_t *ring, const void *msg, size_t len, const char *sig, size_t sig_len,
                 pkg_sig_info_t *info, char *err, size_t errlen)
{
    if (sodium_init () < 0) {
        snprintf (err, errlen, "libsodium failed to start");
        return PKG_SIGN_EMALFORMED;
    }
    s_sig_t s;
    int rc = s_sig_parse (sig, sig_len, &s, err, errlen);
    if (rc != PKG_SIGN_OK)
        return rc;
    char id[17];
    s_id_hex (s.bin + 2, id);
    const pkg_pubkey_t *key = ring ? pkg_keyring_find (ring, id) : NULL;
    if (!key) {
        snprintf (err, errlen, "signed by key %s, which this box does not trust", id);
        return PKG_SIGN_EUNKNOWN_KEY;
    }
    bool prehashed = memcmp (s.bin, "ED", 2) == 0;
    const uint8_t *sigbytes = s.bin + 2 + PKG_SIGN_KEYID_BYTES;
    int ok;
    if (prehashed) {
        uint8_t h[crypto_generichash_BYTES_MAX];
        crypto_generichash (h, sizeof h, msg, len, NULL, 0);
        ok = crypto_sign_verify_detached (sigbytes, h, sizeof h, key->pk);
    }
    else
        ok = crypto_sign_verify_detached (sigbytes, msg, len, key->pk);
    if (ok != 0) {
        snprintf (err, errlen, "signature by key %s does not match", id);
        return PKG_SIGN_EBAD;
    }
    uint8_t *both = malloc (crypto_sign_BYTES + s.trusted.len);
    if (!both) {
        snprintf (err, errlen, "out of memory");
        return PKG_SIGN_EMALFORMED;
    }
    memcpy (both, sigbytes, crypto_sign_BYTES);
    memcpy (both + crypto_sign_BYTES, s.trusted.p, s.trusted.len);
    ok = crypto_sign_verify_detached (s.global, both, crypto_sign_BYTES + s.trusted.len, key->pk);
    free (both);
    if (ok != 0) {
        snprintf (err, errlen, "the trusted comment of key %s's signature was altered", id);
        return PKG_SIGN_EBAD_COMMENT;
    }
    if (info) {
        memcpy (info->key_id, id, sizeof info->key_id);
        info->prehashed = prehashed;
        memcpy (info->trusted, s.trusted.p, s.trusted.len);
        info->trusted[s.trusted.len] = 0;
    }
    return PKG_SIGN_OK;
}

const char *
pkg_sign_strerror (int result)
{
    switch (result) {
    case PKG_SIGN_OK: return "ok";
    case PKG_SIGN_EMALFORMED: return "malformed signature";
    case PKG_SIGN_EUNKNOWN_KEY: return "untrusted key";
    case PKG_SIGN_EBAD: return "bad signature";
    case PKG_SIGN_EBAD_COMMENT: return "altered trusted comment";
    default: return "unknown";
    }
}

// --------------------------------------------------------------------------
// Keyring

pkg_keyring_t *
pkg_keyring_new (void)
{
    return calloc (1, sizeof (pkg_keyring_t));
}

void
pkg_keyring_destroy (pkg_keyring_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (size_t i = 0; i < (*self_p)->n; i++)
        pkg_pubkey_destroy (&(*self_p)->keys[i]);
    free (*self_p);
    *self_p = NULL;
}

int
pkg_keyring_add (pkg_keyring_t *self, pkg_pubkey_t **key_p)
{
    if (!key_p || !*key_p)
        return -1;
    if (self->n >= PKG_SIGN_KEYRING_MAX || pkg_keyring_find (self, (*key_p)->id_hex)) {
        pkg_pubkey_destroy (key_p);
        return -1;
    }
    self->keys[self->n++] = *key_p;
    *key_p = NULL;
    return 0;
}

int
pkg_keyring_load_list (pkg_keyring_t *self, const char *list, char *err, size_t errlen)
{
    if (!list)
        return 0;
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *end = strchr (p, ',');
        size_t n = end ? (size_t) (end - p) : strlen (p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        char path[4096];
        if (n >= sizeof path) {
            snprintf (err, errlen, "a key path is too long");
            return -1;
        }
        memcpy (path, p, n);
        path[n] = 0;
        pkg_pubkey_t *key = pkg_pubkey_load (path, err, errlen);
        if (!key)
            return -1;
        char id[17];
        memcpy (id, key->id_hex, sizeof id);
        if (pkg_keyring_add (self, &key) != 0) {
            snprintf (err, errlen, "%s: key %s is listed twice or more than %d keys are", path, id,
                      PKG_SIGN_KEYRING_MAX);
            return -1;
        }
        p += n;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

size_t
pkg_keyring_size (const pkg_keyring_t *self)
{
    return self->n;
}

const pkg_pubkey_t *
pkg_keyring_find (const pkg_keyring_t *self, const char *key_id)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp (self->keys[i]->id_hex, key_id) == 0)
            return self->keys[i];
    return NULL;
}

// --------------------------------------------------------------------------
// Selftest: our own round trips, every tampering refused, and fixed vectors
// made by minisign 0.11 (tests/pkg/minisign_interop.sh runs the binary both
// ways; these keep the formats pinned where minisign is not installed).

//  `minisign -G -W` (0.11): its secret key has an all-zero checksum.
static const char *s_ms_pub = "untrusted comment: minisign public key C32948BFE486831C\n"
                              "RWQcg4bkv0gpw3gCrBcadiT/EfKs06GHwEUOpnI69VeOOd82WhX+HYeW\n";
static const char *s_ms_key =
    "untrusted comment: minisign encrypted secret key\n"
    "RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAHIOG5L9IKcP9wvLYFIy2Ing4XqhiMJLR"
    "V81LGBwKenyqQi5CTV5Ap3gCrBcadiT/"
    "EfKs06GHwEUOpnI69VeOOd82WhX+HYeWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
//  `echo hello > f; minisign -S -s k.key -m f -t "tc here"` (prehashed).
static const char *s_ms_sig =
    "untrusted comment: signature from minisign secret key\n"
    "RUQcg4bkv0gpwwHNpNCAZu0jIUAp8xEwz19z9Q/KSWaBRSYX2IQbvSoiDYiaoZAxXQH9HbM6Z/tcQ9n0i8/"
    "srYjOYiYfJvjt/gk=\n"
    "trusted comment: tc here\n"
    "MoHPqWtDQYDpNlGXZoTEZqcQjke///3eesWjafnppSEkKlTwIlAUC9ZZPiJcNFnOn3l2B/+wDXXytLXeakWQAg==\n";
//  `minisign -S -l ...`: the legacy form, default trusted comment.
static const char *s_ms_sig_legacy =
    "untrusted comment: signature from minisign secret key\n"
    "RWQcg4bkv0gpw7ZiKtICazfUxbnzzX0BQjon0LJsWYUXMLO/e52xpW1t8FrNnNAsB9eav2rTpA+"
    "TCRGaUhomOhbPuHr9bVeGbAQ=\n"
    "trusted comment: timestamp:1796551937\tfile:f\n"
    "KU4uqvsijB4KILS7ijNt9KxY9xzLmSTU/4rIAVja7ymYUQB3tX9hJvZ+/dYICJaNlCszqDsq0W59ezkpeqhxAg==\n";

int
pkg_sign_test (bool verbose)
{
    int rc = 0;
    char err[512];
    CHECK (sodium_init () >= 0, "sodium");

    //  minisign's own files.
    pkg_pubkey_t *mpub = pkg_pubkey_parse (s_ms_pub, strlen (s_ms_pub), err, sizeof err);
    CHECK (mpub && strcmp (pkg_pubkey_id (mpub), "C32948BFE486831C") == 0, "minisign pub: %s", err);
    pkg_seckey_t *msec = pkg_seckey_parse (s_ms_key, strlen (s_ms_key), err, sizeof err);
    CHECK (msec && strcmp (pkg_seckey_id (msec), "C32948BFE486831C") == 0, "minisign key: %s", err);
    pkg_keyring_t *ring = pkg_keyring_new ();
    CHECK (pkg_keyring_add (ring, &mpub) == 0 && !mpub, "add");
    pkg_sig_info_t info;
    CHECK (pkg_sign_verify (ring, "hello\n", 6, s_ms_sig, strlen (s_ms_sig), &info, err, sizeof err) == 0,
           "minisign ED sig: %s", err);
    CHECK (info.prehashed && strcmp (info.trusted, "tc here") == 0, "info");
    CHECK (pkg_sign_verify (ring, "hello\n", 6, s_ms_sig_legacy, strlen (s_ms_sig_legacy), &info, err,
                            sizeof err)
               == 0,
           "minisign Ed sig: %s", err);
    CHECK (!info.prehashed && strncmp (info.trusted, "timestamp:", 10) == 0, "legacy info");
    CHECK (pkg_sign_verify (ring, "hellO\n", 6, s_ms_sig, strlen (s_ms_sig), NULL, err, sizeof err)
               == PKG_SIGN_EBAD,
           "other message");

    //  Our signatures with minisign's key, both forms.
    for (int legacy = 0; legacy < 2; legacy++) {
        const char *msg = "{\"name\":\"facedet\"}";
        char *sig = pkg_sign (msec, msg, strlen (msg), "meshwatch facedet@1 seq=3", legacy);
        CHECK (sig, "sign");
        if (!sig)
            continue;
        CHECK (pkg_sign_verify (ring, msg, strlen (msg), sig, strlen (sig), &info, err, sizeof err) == 0,
               "verify own: %s", err);
        CHECK (info.prehashed == !legacy, "form");
        char id[17];
        CHECK (pkg_sign_key_id (sig, strlen (sig), id) == 0 && strcmp (id, "C32948BFE486831C") == 0,
               "key id");
        //  Flip each byte of the file: every change is refused, or (in the
        //  untrusted comment, or base64 padding bits) harmless.
        size_t n = strlen (sig);
        size_t first_nl = strchr (sig, '\n') - sig;
        int refused = 0;
        for (size_t i = first_nl + 1; i < n; i++) {
            char saved = sig[i];
            if (saved == '\n')
                continue;
            sig[i] = saved == 'A' ? 'B' : 'A';
            if (pkg_sign_verify (ring, msg, strlen (msg), sig, n, NULL, err, sizeof err) != 0)
                refused++;
            sig[i] = saved;
        }
        CHECK (refused >= (int) (n - first_nl) - 10, "tampering refused (%d of %zu)", refused, n - first_nl);
        //  A trusted comment swapped in: the global signature catches it.
        char *other = pkg_sign (msec, msg, strlen (msg), "meshwatch facedet@1 seq=9", legacy);
        char *swap = malloc (n + 10);
        const char *tc = strstr (other, "\ntrusted comment: ") + 1;
        const char *mine = strstr (sig, "\ntrusted comment: ") + 1;
        size_t head = (size_t) (mine - sig);
        memcpy (swap, sig, head);
        const char *tcend = strchr (tc, '\n');
        memcpy (swap + head, tc, (size_t) (tcend - tc) + 1);
        strcpy (swap + head + (tcend - tc) + 1, strchr (mine, '\n') + 1);
        CHECK (pkg_sign_verify (ring, msg, strlen (msg), swap, strlen (swap), NULL, err, sizeof err)
                   == PKG_SIGN_EBAD_COMMENT,
               "swapped trusted comment: %s", err);
        free (swap);
        free (other);
        free (sig);
    }
    CHECK (pkg_sign (msec, "x", 1, "two\nlines", false) == NULL, "multi-line trusted comment refused");

    //  keygen: files in minisign's format, refuses to overwrite.
    char dir[] = "/tmp/pkg_sign_test.XXXXXX";
    CHECK (mkdtemp (dir) != NULL, "tmp");
    char prefix[256], path[300];
    snprintf (prefix, sizeof prefix, "%s/pub1", dir);
    CHECK (pkg_sign_keygen (prefix, err, sizeof err) == 0, "keygen: %s", err);
    CHECK (pkg_sign_keygen (prefix, err, sizeof err) == -1 && strstr (err, "exists"), "no overwrite");
    snprintf (path, sizeof path, "%s.key", prefix);
    pkg_seckey_t *sk = pkg_seckey_load (path, err, sizeof err);
    CHECK (sk, "load key: %s", err);
    snprintf (path, sizeof path, "%s.pub", prefix);
    pkg_pubkey_t *pk = pkg_pubkey_load (path, err, sizeof err);
    CHECK (pk && sk && strcmp (pkg_pubkey_id (pk), pkg_seckey_id (sk)) == 0, "ids match");
    char *sig = sk ? pkg_sign (sk, "abc", 3, "t", false) : NULL;
    CHECK (sig
               && pkg_sign_verify (ring, "abc", 3, sig, strlen (sig), NULL, err, sizeof err)
                      == PKG_SIGN_EUNKNOWN_KEY,
           "an untrusted key: %s", err);
    char list[700];
    snprintf (list, sizeof list, " %s , %s.pub,", path, prefix);
    CHECK (pkg_keyring_load_list (ring, list, err, sizeof err) == -1 && strstr (err, "twice"), "dup in list");
    CHECK (pkg_keyring_size (ring) == 2, "size %zu", pkg_keyring_size (ring));
    CHECK (sig && pkg_sign_verify (ring, "abc", 3, sig, strlen (sig), NULL, err, sizeof err) == 0,
           "trusted now: %s", err);
    free (sig);
    pkg_pubkey_destroy (&pk);
    pkg_seckey_destroy (&sk);

    //  Malformed inputs.
    CHECK (pkg_pubkey_parse ("garbage", 7, err, sizeof err) == NULL, "bad pub");
    CHECK (pkg_sign_verify (ring, "a", 1, "", 0, NULL, err, sizeof err) == PKG_SIGN_EMALFORMED, "empty sig");
    CHECK (pkg_sign_verify (ring, "a", 1, "x\ny\nz\nw\n", 8, NULL, err, sizeof err) == PKG_SIGN_EMALFORMED,
           "junk sig");
    const char *enc = "untrusted comment: minisign encrypted secret key\n"
                      "RWRTY0IyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAHIOG5L9IKcP9wv"
                      "LYFIy2Ing4XqhiMJLRV8"
                      "1LGBwKenyqQi5CTV5Ap3gCrBcadiT/"
                      "EfKs06GHwEUOpnI69VeOOd82WhX+HYeWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    CHECK (pkg_seckey_parse (enc, strlen (enc), err, sizeof err) == NULL && strstr (err, "minisign -C -W"),
           "encrypted key refused with the way out: %s", err);

    pkg_seckey_destroy (&msec);
    pkg_keyring_destroy (&ring);
    pkg_file_remove_tree (dir);
    if (verbose)
        printf ("pkg_sign: done\n");
    return rc;
}
