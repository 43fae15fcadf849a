/*  =========================================================================
    pkg_sign - publisher keys and signatures in minisign's file formats.

    Why minisign's formats and not our own: a site's publisher can check a
    meshwatch signature with the stock `minisign -V`, sign metadata with
    `minisign -S` on an air-gapped laptop, and keep one key pair for both
    tools.  Everything is Ed25519 through libsodium:

      public key   "untrusted comment: ...\n" base64("Ed" || keyid[8] || pk[32])
      secret key   "untrusted comment: ...\n" base64("Ed" || kdf[2] || "B2" ||
                   salt[32] || ops[8] || mem[8] || keyid[8] || sk[64] || chk[32])
                   kdf "\0\0" = not encrypted (minisign -W); chk = BLAKE2b-256
                   ("Ed" || keyid || sk), all zero in keys minisign 0.11 makes
      signature    "untrusted comment: ...\n" base64(alg[2] || keyid[8] || sig[64])
                   "\ntrusted comment: TEXT\n" base64(global_sig[64]) "\n"
                   alg "ED": sig signs BLAKE2b-512(message) (minisign 0.11's
                   default, any size signed in constant memory); "Ed": the
                   legacy form, sig signs the message itself.  global_sig
                   signs sig || TEXT, so the trusted comment cannot be
                   swapped between signatures.

    Encrypted secret keys (minisign without -W) are refused with the
    command that removes the password: the agent and the CI that publish
    packages cannot type one, and a scrypt KDF per publish buys nothing
    when the key file sits next to the pipeline.

    A keyring is the box's trust anchors (TRUSTED_KEYS: comma-separated
    .pub files); a signature names its key by id and is checked against
    that key only.
    ========================================================================= */
#ifndef PKG_SIGN_H_INCLUDED
#define PKG_SIGN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKG_SIGN_KEYID_BYTES 8
#define PKG_SIGN_COMMENT_MAX 1024   //  untrusted comment line (minisign's limit)
#define PKG_SIGN_TRUSTED_MAX 8192   //  trusted comment (minisign's limit)
#define PKG_SIGN_TEXT_MAX    (PKG_SIGN_COMMENT_MAX + PKG_SIGN_TRUSTED_MAX + 300)
#define PKG_SIGN_KEYRING_MAX 32   //  trust anchors per box

//  Verification failures, each a reason an operator can act on.
typedef enum {
    PKG_SIGN_OK = 0,
    PKG_SIGN_EMALFORMED = -1,     //  not a minisign signature
    PKG_SIGN_EUNKNOWN_KEY = -2,   //  signed by a key this box does not trust
    PKG_SIGN_EBAD = -3,           //  the signature does not match the message
    PKG_SIGN_EBAD_COMMENT = -4,   //  the trusted comment was changed
} pkg_sign_result_t;

typedef struct _pkg_pubkey_t pkg_pubkey_t;
typedef struct _pkg_seckey_t pkg_seckey_t;
typedef struct _pkg_keyring_t pkg_keyring_t;

//  A new key pair: PREFIX.key (0600, unencrypted) and PREFIX.pub, both
//  written temp-fsync-rename; refuses to overwrite either.  0, or -1 with
//  the reason in err.
int pkg_sign_keygen (const char *prefix, char *err, size_t errlen);

//  Keys from files (or, for the public key, its file's text or the bare
//  base64 line).  NULL with the reason in err.
pkg_pubkey_t *pkg_pubkey_load (const char *path, char *err, size_t errlen);
pkg_pubkey_t *pkg_pubkey_parse (const char *text, size_t len, char *err, size_t errlen);
void pkg_pubkey_destroy (pkg_pubkey_t **self_p);
pkg_seckey_t *pkg_seckey_load (const char *path, char *err, size_t errlen);
pkg_seckey_t *pkg_seckey_parse (const char *text, size_t len, char *err, size_t errlen);
void pkg_seckey_destroy (pkg_seckey_t **self_p);

//  The key id as minisign prints it (16 upper-case hex digits).
const char *pkg_pubkey_id (const pkg_pubkey_t *self);
const char *pkg_seckey_id (const pkg_seckey_t *self);
//  The public key's base64 line (what `minisign -P` takes).
const char *pkg_pubkey_base64 (const pkg_pubkey_t *self);

//  Sign `len` bytes: the whole signature file's text (malloc'ed, NUL
//  ended), prehashed ("ED") unless legacy.  `trusted` is one line (no CR
//  or LF, < PKG_SIGN_TRUSTED_MAX).  NULL on bad arguments.
char *pkg_sign (const pkg_seckey_t *key, const void *msg, size_t len, const char *trusted, bool legacy);

//  What a good signature said.
typedef struct {
    char key_id[17];
    bool prehashed;                       //  "ED" (true) or legacy "Ed"
    char trusted[PKG_SIGN_TRUSTED_MAX];   //  the trusted comment
} pkg_sig_info_t;

//  Check `sig` (a signature file's text, sig_len bytes) over msg with the
//  one key it names among `ring`.  Returns PKG_SIGN_OK or a negative
//  pkg_sign_result_t, with the reason in err.  info may be NULL.
int pkg_sign_verify (const pkg_keyring_t *ring, const void *msg, size_t len, const char *sig, size_t sig_len,
                     pkg_sig_info_t *info, char *err, size_t errlen);
//  The key id a signature names (without checking it), 0 or -1.
int pkg_sign_key_id (const char *sig, size_t sig_len, char out[17]);
const char *pkg_sign_strerror (int result);

//  Trust anchors.  An empty keyring trusts nothing.
pkg_keyring_t *pkg_keyring_new (void);
void pkg_keyring_destroy (pkg_keyring_t **self_p);
//  Add one key (taken: the keyring owns it).  0, or -1 if full or the
//  same id is in already (the key is then destroyed).
int pkg_keyring_add (pkg_keyring_t *self, pkg_pubkey_t **key_p);
//  Add every file of a comma-separated list ("a.pub,b.pub"); blanks
//  around names are ignored.  0, or -1 with the failing file in err.
int pkg_keyring_load_list (pkg_keyring_t *self, const char *list, char *err, size_t errlen);
size_t pkg_keyring_size (const pkg_keyring_t *self);
const pkg_pubkey_t *pkg_keyring_find (const pkg_keyring_t *self, const char *key_id);

int pkg_sign_test (bool verbose);

#endif
