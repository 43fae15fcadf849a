/*  =========================================================================
    gossip_crypto - the sealed envelope, the cluster keyring, replay defence
    and the node's long-term identity (see crypto.h and docs/SECURITY.md).

    Why an AEAD envelope and not CurveZMQ: beacons travel over UDP, outside
    any ZeroMQ session, and every node must be able to talk to every other
    one without a handshake per pair.  A shared cluster key with
    XChaCha20-Poly1305 covers both transports with one mechanism, and the
    192-bit nonce is large enough to pick at random for every packet, so no
    node ever has to keep nonce state across restarts.

    The envelope's 4 header bytes go in as associated data: a receiver uses
    them (key id, version) before it can authenticate anything, so they must
    be bound to the ciphertext.  So do the receiver's id and the plane,
    which are not on the wire at all: with a shared key, every member could
    otherwise open every other member's packets, and a packet captured on
    its way to B would be a fresh, valid packet for C (whose replay window
    for that sender knows nothing of what B saw).  Binding them makes a
    misdirected packet fail exactly like a forged one.  The key id is only a hint to skip keys that
    cannot match; with 8 bits two keys may share one, so open tries every
    key with that id and only AEAD success counts.

    Replay defence runs after open and decode, on authenticated fields
    only, so an outsider cannot fill the sender table: only key holders can
    create entries, and the table is bounded anyway.
    ========================================================================= */
#include "gossip/crypto.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define ENV_MAGIC0     'M'
#define ENV_MAGIC1     'W'
#define ENV_VERSION    MW_ENVELOPE_VERSION
#define ENV_HDR_AD_LEN 4                                  //  header bytes in the associated data
#define ENV_AD_LEN     (ENV_HDR_AD_LEN + MW_ID_LEN + 1)   //  + receiver id + plane
#define KEY_ID_CONTEXT "meshwatch-key-id"

_Static_assert(MW_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(MW_ENVELOPE_HDR == ENV_HDR_AD_LEN + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "envelope header");
_Static_assert(MW_ENVELOPE_OVERHEAD == MW_ENVELOPE_HDR + crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "envelope overhead");
_Static_assert(crypto_sign_PUBLICKEYBYTES == 32 && crypto_sign_SECRETKEYBYTES == 64, "identity key sizes");

//  --------------------------------------------------------------------------
//  Keyring

struct _gossip_keyring_t {
    size_t n;   //  keys in use; [0] is the primary
    uint8_t key[MW_KEYRING_MAX][MW_KEY_LEN];
    uint8_t id[MW_KEYRING_MAX];
};

static bool
s_sodium_ready (void)
{
    return sodium_init () >= 0;   //  0 first time, 1 afterwards, -1 on failure
}

//  Decode a base64 (standard alphabet, padded) key of exactly MW_KEY_LEN
//  bytes.  Line ends and surrounding blanks are tolerated (keys come from
//  config files); anything else, or any other length, is refused.
static int
s_key_decode (const char *b64, uint8_t key[MW_KEY_LEN])
{
    if (!b64 || !s_sodium_ready ())
        return -1;
    size_t b64_len = strlen (b64);
    if (b64_len > 128)
        return -1;
    uint8_t buf[MW_KEY_LEN * 2];
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_base642bin (buf, sizeof buf, b64, b64_len, " \t\r\n", &bin_len, &end,
                           sodium_base64_VARIANT_ORIGINAL)
            != 0
        || end != b64 + b64_len || bin_len != MW_KEY_LEN) {
        sodium_memzero (buf, sizeof buf);
        return -1;
    }
    memcpy (key, buf, MW_KEY_LEN);
    sodium_memzero (buf, sizeof buf);
    return 0;
}

static uint8_t
s_key_id (const uint8_t key[MW_KEY_LEN])
{
    uint8_t out[crypto_generichash_BYTES];
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, sizeof out);
    crypto_generichash_update (&st, (const uint8_t *) KEY_ID_CONTEXT, strlen (KEY_ID_CONTEXT));
    crypto_generichash_update (&st, key, MW_KEY_LEN);
    crypto_generichash_final (&st, out, sizeof out);
    return out[0];
}

gossip_keyring_t *
gossip_keyring_new (const char *primary_b64)
{
    uint8_t key[MW_KEY_LEN];
    if (s_key_decode (primary_b64, key) != 0)
        return NULL;
    //  sodium_malloc: guarded, locked pages that are wiped when freed.
    gossip_keyring_t *self = (gossip_keyring_t *) sodium_malloc (sizeof (gossip_keyring_t));
    if (!self) {
        sodium_memzero (key, sizeof key);
        return NULL;
    }
    memset (self, 0, sizeof (*self));
    memcpy (self->key[0], key, MW_KEY_LEN);
    self->id[0] = s_key_id (key);
    self->n = 1;
    sodium_memzero (key, sizeof key);
    return self;
}

void
gossip_keyring_destroy (gossip_keyring_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sodium_free (*self_p);
        *self_p = NULL;
    }
}

int
gossip_keyring_add (gossip_keyring_t *self, const char *key_b64)
{
    assert (self);
    uint8_t key[MW_KEY_LEN];
    if (s_key_decode (key_b64, key) != 0)
        return -1;
    int rc = 0;
    size_t i;
    for (i = 0; i < self->n; i++)
        if (sodium_memcmp (self->key[i], key, MW_KEY_LEN) == 0)
            break;   //  already there: adding twice is a no-op
    if (i == self->n) {
        if (self->n == MW_KEYRING_MAX)
            rc = -1;
        else {
            memcpy (self->key[self->n], key, MW_KEY_LEN);
            self->id[self->n] = s_key_id (key);
            self->n++;
        }
    }
    sodium_memzero (key, sizeof key);
    return rc;
}

bool
gossip_key_valid (const char *key_b64)
{
    uint8_t key[MW_KEY_LEN];
    bool ok = s_key_decode (key_b64, key) == 0;
    sodium_memzero (key, sizeof key);
    return ok;
}

void
gossip_key_generate (char out[64])
{
    uint8_t key[MW_KEY_LEN];
    if (!s_sodium_ready ()) {
        out[0] = 0;
        return;
    }
    randombytes_buf (key, sizeof key);
    sodium_bin2base64 (out, 64, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero (key, sizeof key);
}

//  The associated data: header bytes, receiver id (zero when unbound), plane.
static void
s_ad (uint8_t ad[ENV_AD_LEN], const uint8_t *hdr, const mw_id_t *to, uint8_t plane)
{
    memcpy (ad, hdr, ENV_HDR_AD_LEN);
    if (to)
        memcpy (ad + ENV_HDR_AD_LEN, to->b, MW_ID_LEN);
    else
        memset (ad + ENV_HDR_AD_LEN, 0, MW_ID_LEN);
    ad[ENV_HDR_AD_LEN + MW_ID_LEN] = plane;
}

int
gossip_crypto_seal (gossip_keyring_t *self, const mw_id_t *to, uint8_t plane, const uint8_t *plain,
                    size_t plain_len, uint8_t **out, size_t *out_len)
{
    assert (self && out && out_len);
    assert (plain || plain_len == 0);
    *out = NULL;
    *out_len = 0;
    //  The envelope's own ceiling is the largest message of any plane (a
    //  data-plane JOB with its frame); each transport enforces its own,
    //  usually much smaller, limit before it gets here.
    if (plain_len > MW_JOB_MSG_MAX)
        return -1;
    if (to && mw_id_zero (to))
        to = NULL;
    size_t len = plain_len + MW_ENVELOPE_OVERHEAD;
    uint8_t *env = (uint8_t *) malloc (len);
    if (!env)
        return -1;
    env[0] = ENV_MAGIC0;
    env[1] = ENV_MAGIC1;
    env[2] = (uint8_t) (ENV_VERSION | (to ? 0 : MW_ENVELOPE_UNBOUND));
    env[3] = self->id[0];
    uint8_t ad[ENV_AD_LEN];
    s_ad (ad, env, to, plane);
    uint8_t *nonce = env + ENV_HDR_AD_LEN;
    randombytes_buf (nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt (env + MW_ENVELOPE_HDR, &clen, plain, plain_len, ad, sizeof ad,
                                                NULL, nonce, self->key[0]);
    assert (clen == plain_len + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    *out = env;
    *out_len = len;
    return 0;
}

int
gossip_crypto_open (gossip_keyring_t *self, const mw_id_t *me, uint8_t plane, const uint8_t *data, size_t len,
                    uint8_t **out, size_t *out_len, bool *bound)
{
    assert (self && out && out_len);
    assert (data || len == 0);
    *out = NULL;
    *out_len = 0;
    if (bound)
        *bound = false;
    if (len < MW_ENVELOPE_OVERHEAD)
        return MW_CRYPTO_ESHORT;
    if (len > (size_t) MW_JOB_MSG_MAX + MW_ENVELOPE_OVERHEAD)
        return MW_CRYPTO_ETOOBIG;
    if (data[0] != ENV_MAGIC0 || data[1] != ENV_MAGIC1)
        return MW_CRYPTO_EMAGIC;
    if ((data[2] & ~MW_ENVELOPE_UNBOUND) != ENV_VERSION)
        return MW_CRYPTO_EVERSION;
    bool unbound = (data[2] & MW_ENVELOPE_UNBOUND) != 0;
    //  Sealed for someone, and we have no id to be that someone (a beacon
    //  socket): it cannot be for us.
    if (!unbound && (!me || mw_id_zero (me)))
        return MW_CRYPTO_EAUTH;

    bool any = false;
    for (size_t i = 0; i < self->n; i++)
        any |= self->id[i] == data[3];
    if (!any)
        return MW_CRYPTO_EKEY;

    uint8_t ad[ENV_AD_LEN];
    s_ad (ad, data, unbound ? NULL : me, plane);
    //  The plaintext buffer's pages are only written once the tag has been
    //  verified (libsodium checks first), so a forged multi-megabyte frame
    //  costs address space here, not resident memory.
    size_t plain_len = len - MW_ENVELOPE_OVERHEAD;
    uint8_t *plain = (uint8_t *) malloc (plain_len ? plain_len : 1);
    if (!plain)
        return MW_WIRE_ENOMEM;
    const uint8_t *nonce = data + ENV_HDR_AD_LEN;
    for (size_t i = 0; i < self->n; i++) {
        if (self->id[i] != data[3])
            continue;
        unsigned long long mlen = 0;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt (plain, &mlen, NULL, data + MW_ENVELOPE_HDR,
                                                        len - MW_ENVELOPE_HDR, ad, sizeof ad, nonce,
                                                        self->key[i])
            == 0) {
            *out = plain;
            *out_len = (size_t) mlen;
            if (bound)
                *bound = !unbound;
            return 0;
        }
    }
    free (plain);
    return MW_CRYPTO_EAUTH;
}

//  --------------------------------------------------------------------------
//  Replay window
//
//  One entry per sender: the highest session seen, and in it the highest
//  seq (top) with a REPLAY_WINDOW-bit map of which of top-511..top were
//  seen (bit 0 = top).  Entries sit in a hash table (SipHash with a per-table random key,
//  so ids chosen to collide cannot make chains long) and on an LRU list;
//  when the table is full the least recently accepted sender is dropped.
//  A dropped sender is treated as new again, which is why the timestamp
//  bound exists: it limits what could be replayed to a dropped sender's
//  last max_skew_ms.
//
//  Sessions only grow, so the one value that must never be recorded is a
//  session from the future: one forged packet with session 2^64-1 under a
//  real node's id would make all of that node's genuine packets stale until
//  it is forgotten (which, while it keeps talking, is never).  A session is
//  its sender's boot time in wall ms, so a genuine one is never later than
//  now + skew; a lower bound would be wrong (a box up for a month has a
//  month-old session, and a newcomer must accept it), and harmless to leave
//  out (a low forged session is replaced by the real, higher one).

#define REPLAY_MAX_SENDERS MW_REPLAY_MAX_SENDERS
#define REPLAY_BUCKETS     4096   //  power of two
//  The window, in a sender's messages: its seq counts what it sends to
//  everyone, and small messages go as datagrams while full states go over
//  TCP, so a full state held back by retransmissions arrives behind the
//  datagrams its sender sent meanwhile (a few seconds of a busy sender's
//  traffic under heavy loss).  512 bits is 64 bytes per sender.
#define REPLAY_WINDOW 512
#define REPLAY_WORDS  (REPLAY_WINDOW / 64)

typedef struct _replay_entry_t {
    mw_id_t id;
    uint64_t session;
    uint64_t top;
    uint64_t bitmap[REPLAY_WORDS];   //  bit b of word w: seq top - (64 w + b) seen
    struct _replay_entry_t *chain;   //  next in hash bucket
    struct _replay_entry_t *newer;   //  LRU list: head is the most recent
    struct _replay_entry_t *older;
} replay_entry_t;

struct _gossip_replay_t {
    uint64_t max_skew_ms;
    gossip_replay_gate_fn *gate;
    void *gate_ctx;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    replay_entry_t *bucket[REPLAY_BUCKETS];
    replay_entry_t *newest;
    replay_entry_t *oldest;
    size_t count;
};

gossip_replay_t *
gossip_replay_new (uint64_t max_skew_ms)
{
    if (!s_sodium_ready ())
        return NULL;
    gossip_replay_t *self = (gossip_replay_t *) calloc (1, sizeof (gossip_replay_t));
    if (!self)
        return NULL;
    self->max_skew_ms = max_skew_ms;
    crypto_shorthash_keygen (self->hash_key);
    return self;
}

void
gossip_replay_destroy (gossip_replay_t **self_p)
{
    assert (self_p);
    gossip_replay_t *self = *self_p;
    if (!self)
        return;
    replay_entry_t *e = self->newest;
    while (e) {
        replay_entry_t *next = e->older;
        free (e);
        e = next;
    }
    free (self);
    *self_p = NULL;
}

static size_t
s_bucket (gossip_replay_t *self, const mw_id_t *id)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash (h, id->b, MW_ID_LEN, self->hash_key);
    uint64_t v;
    memcpy (&v, h, sizeof v);
    return (size_t) (v & (REPLAY_BUCKETS - 1));
}

static void
s_lru_unlink (gossip_replay_t *self, replay_entry_t *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        self->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        self->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void
s_lru_push (gossip_replay_t *self, replay_entry_t *e)
{
    e->newer = NULL;
    e->older = self->newest;
    if (self->newest)
        self->newest->newer = e;
    self->newest = e;
    if (!self->oldest)
        self->oldest = e;
}

static void
s_remove (gossip_replay_t *self, replay_entry_t *e)
{
    replay_entry_t **pp = &self->bucket[s_bucket (self, &e->id)];
    while (*pp && *pp != e)
        pp = &(*pp)->chain;
    if (*pp)
        *pp = e->chain;
    s_lru_unlink (self, e);
    free (e);
    self->count--;
}

static replay_entry_t *
s_lookup (gossip_replay_t *self, const mw_id_t *id)
{
    replay_entry_t *e = self->bucket[s_bucket (self, id)];
    while (e && !gossip_wire_id_eq (&e->id, id))
        e = e->chain;
    return e;
}

static int s_replay_check (gossip_replay_t *self, const mw_id_t *sender, uint64_t session, uint64_t seq,
                           uint64_t ts_ms, uint64_t now_wall_ms, const mw_msg_t *carrier);

int
gossip_replay_check (gossip_replay_t *self, const mw_id_t *sender, uint64_t session, uint64_t seq,
                     uint64_t ts_ms, uint64_t now_wall_ms)
{
    return s_replay_check (self, sender, session, seq, ts_ms, now_wall_ms, NULL);
}

int
gossip_replay_check_msg (gossip_replay_t *self, const mw_msg_t *msg, uint64_t now_wall_ms)
{
    assert (msg);
    return s_replay_check (self, &msg->sender, msg->session, msg->seq, msg->ts_ms, now_wall_ms, msg);
}

static int
s_replay_check (gossip_replay_t *self, const mw_id_t *sender, uint64_t session, uint64_t seq, uint64_t ts_ms,
                uint64_t now_wall_ms, const mw_msg_t *carrier)
{
    assert (self && sender);
    replay_entry_t *e = s_lookup (self, sender);
    if (e && session < e->session)
        return MW_REPLAY_ESTALE;

    if (!e || session > e->session) {
        //  First message of a sender or of a new session: no window to
        //  check against, so the timestamp must be fresh, and the session
        //  (a boot time) cannot lie in the future.
        uint64_t skew = ts_ms > now_wall_ms ? ts_ms - now_wall_ms : now_wall_ms - ts_ms;
        if (skew > self->max_skew_ms)
            return MW_REPLAY_ECLOCK;
        if (session > now_wall_ms + self->max_skew_ms)
            return MW_REPLAY_ESESSION;
        //  The gate vouches for the session (a known sender's increase, and
        //  a first contact too: a sender this table forgot or evicted may
        //  still be a member whose signed record names its session).
        if (self->gate
            && !self->gate (self->gate_ctx, sender, e != NULL, e ? e->session : 0, session, carrier))
            return MW_REPLAY_ESESSION;
        if (!e) {
            if (self->count >= REPLAY_MAX_SENDERS)
                s_remove (self, self->oldest);
            e = (replay_entry_t *) calloc (1, sizeof (replay_entry_t));
            if (!e)
                return MW_WIRE_ENOMEM;
            e->id = *sender;
            size_t b = s_bucket (self, sender);
            e->chain = self->bucket[b];
            self->bucket[b] = e;
            self->count++;
        }
        else
            s_lru_unlink (self, e);
        e->session = session;
        e->top = seq;
        memset (e->bitmap, 0, sizeof e->bitmap);
        e->bitmap[0] = 1;
        s_lru_push (self, e);
        return MW_REPLAY_OK;
    }

    //  Same session: IPsec-style sliding window (RFC 4303, 3.4.3).
    if (seq > e->top) {
        uint64_t shift = seq - e->top;
        if (shift >= REPLAY_WINDOW)
            memset (e->bitmap, 0, sizeof e->bitmap);
        else {
            //  Shift the whole map left by `shift` bits (towards older).
            int words = (int) (shift / 64);
            unsigned bits = (unsigned) (shift % 64);
            for (int w = REPLAY_WORDS - 1; w >= 0; w--) {
                int src = w - words;
                uint64_t v = 0;
                if (src >= 0) {
                    v = e->bitmap[src] << bits;
                    if (bits && src >= 1)
                        v |= e->bitmap[src - 1] >> (64 - bits);
                }
                e->bitmap[w] = v;
            }
        }
        e->bitmap[0] |= 1;
        e->top = seq;
    }
    else {
        uint64_t behind = e->top - seq;
        if (behind >= REPLAY_WINDOW)
            return MW_REPLAY_EREPLAY;
        uint64_t bit = (uint64_t) 1 << (behind % 64);
        if (e->bitmap[behind / 64] & bit)
            return MW_REPLAY_EREPLAY;
        e->bitmap[behind / 64] |= bit;
    }
    s_lru_unlink (self, e);
    s_lru_push (self, e);
    return MW_REPLAY_OK;
}

void
gossip_replay_forget (gossip_replay_t *self, const mw_id_t *sender)
{
    assert (self && sender);
    replay_entry_t *e = s_lookup (self, sender);
    if (e)
        s_remove (self, e);
}

size_t
gossip_replay_size (gossip_replay_t *self)
{
    assert (self);
    return self->count;
}

void
gossip_replay_set_gate (gossip_replay_t *self, gossip_replay_gate_fn *gate, void *ctx)
{
    assert (self);
    self->gate = gate;
    self->gate_ctx = ctx;
}

//  --------------------------------------------------------------------------
//  Node identity
//
//  node.key is text, so that an operator can tell what it is:
//      meshwatch-node-key-v1
//      <base64 of the 64-byte Ed25519 secret key (seed || public key)>
//  Loading checks that the public half matches the one derived from the
//  seed, so a flipped bit anywhere is caught rather than becoming a new,
//  silently different identity.

#define KEY_FILE     "node.key"
#define KEY_HEADER   "meshwatch-node-key-v1\n"
#define KEY_FILE_MAX 1024

static int s_err (char *errbuf, size_t errlen, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static int
s_err (char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (errbuf, errlen, fmt, ap);
        va_end (ap);
    }
    return -1;
}

//  mkdir -p, then make sure the last component is a private directory.
static int
s_state_dir (const char *dir, char *errbuf, size_t errlen)
{
    char path[4096];
    size_t len = strlen (dir);
    if (len == 0 || len >= sizeof path)
        return s_err (errbuf, errlen, "state dir '%s': bad path", dir);
    memcpy (path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char saved = path[i];
        path[i] = 0;
        if (mkdir (path, 0700) != 0 && errno != EEXIST)
            return s_err (errbuf, errlen, "state dir: mkdir '%s': %s", path, strerror (errno));
        path[i] = saved;
    }
    struct stat st;
    if (stat (dir, &st) != 0)
        return s_err (errbuf, errlen, "state dir '%s': %s", dir, strerror (errno));
    if (!S_ISDIR (st.st_mode))
        return s_err (errbuf, errlen, "state dir '%s': not a directory", dir);
    if (st.st_mode & 077) {
        if (chmod (dir, 0700) != 0)
            return s_err (errbuf, errlen, "state dir '%s': chmod 0700: %s", dir, strerror (errno));
        mw_warn ("state_dir_mode_fixed", "dir=%s old_mode=%03o", dir, st.st_mode & 0777);
    }
    return 0;
}

static void
s_ident_fill (gossip_identity_t *ident, const uint8_t sk[64])
{
    memcpy (ident->sk, sk, 64);
    crypto_sign_ed25519_sk_to_pk (ident->pk, ident->sk);
    uint8_t h[32];
    crypto_generichash (h, sizeof h, ident->pk, sizeof ident->pk, NULL, 0);
    memcpy (ident->id.b, h, MW_ID_LEN);
    gossip_wire_id_hex (&ident->id, ident->id_hex);
}

int
gossip_identity_from_seed (const uint8_t seed[32], gossip_identity_t *ident)
{
    assert (seed && ident);
    if (!s_sodium_ready ())
        return -1;
    uint8_t pk[32], sk[64];
    crypto_sign_seed_keypair (pk, sk, seed);
    memset (ident, 0, sizeof *ident);
    s_ident_fill (ident, sk);
    sodium_memzero (sk, sizeof sk);
    return 0;
}

int
gossip_identity_generate (gossip_identity_t *ident)
{
    assert (ident);
    if (!s_sodium_ready ())
        return -1;
    uint8_t seed[32];
    randombytes_buf (seed, sizeof seed);
    int rc = gossip_identity_from_seed (seed, ident);
    sodium_memzero (seed, sizeof seed);
    return rc;
}

//  Returns 0 loaded, 1 no such file, -1 error (errbuf says why).
static int
s_key_read (const char *path, uint8_t sk[64], char *errbuf, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        return s_err (errbuf, errlen, "node key '%s': %s", path, strerror (errno));
    }
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        close (fd);
        return s_err (errbuf, errlen, "node key '%s': not a regular file", path);
    }
    if (st.st_mode & 077) {
        if (fchmod (fd, 0600) != 0) {
            int e = errno;
            close (fd);
            return s_err (errbuf, errlen, "node key '%s': mode %03o and chmod 0600 failed: %s", path,
                          st.st_mode & 0777, strerror (e));
        }
        mw_warn ("node_key_mode_fixed", "path=%s old_mode=%03o", path, st.st_mode & 0777);
    }
    char text[KEY_FILE_MAX + 1];
    size_t got = 0;
    while (got < sizeof text) {
        ssize_t n = read (fd, text + got, sizeof text - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close (fd);
            sodium_memzero (text, sizeof text);
            return s_err (errbuf, errlen, "node key '%s': read: %s", path, strerror (e));
        }
        if (n == 0)
            break;
        got += (size_t) n;
    }
    close (fd);

    const char *why = NULL;
    size_t hlen = strlen (KEY_HEADER);
    uint8_t bin[128];
    size_t bin_len = 0;
    const char *end = NULL;
    if (got > KEY_FILE_MAX)
        why = "file too large";
    else if (got < hlen || memcmp (text, KEY_HEADER, hlen) != 0)
        why = "missing 'meshwatch-node-key-v1' header";
    else if (sodium_base642bin (bin, sizeof bin, text + hlen, got - hlen, " \t\r\n", &bin_len, &end,
                                sodium_base64_VARIANT_ORIGINAL)
                 != 0
             || end != text + got)
        why = "key is not valid base64";
    else if (bin_len != 64)
        why = "key has the wrong length";
    else {
        uint8_t pk2[32], sk2[64];
        crypto_sign_seed_keypair (pk2, sk2, bin);   //  the seed is the first 32 bytes
        if (sodium_memcmp (sk2, bin, 64) != 0)
            why = "public half does not match the secret key";
        sodium_memzero (sk2, sizeof sk2);
    }
    sodium_memzero (text, sizeof text);
    if (why) {
        sodium_memzero (bin, sizeof bin);
        return s_err (errbuf, errlen,
                      "node key '%s' is corrupt (%s); refusing to replace it: restore it from "
                      "a backup, or move it away to create a new node identity",
                      path, why);
    }
    memcpy (sk, bin, 64);
    sodium_memzero (bin, sizeof bin);
    return 0;
}

static int
s_write_all (int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write (fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

//  Write a new key: temp file, fsync, link into place (link fails if the
//  name exists, so a key that appeared meanwhile is never overwritten),
//  fsync the directory so the new name survives a power cut.  Returns 0
//  created, 1 someone else created it first, -1 error.
static int
s_key_create (const char *dir, const char *path, uint8_t sk[64], char *errbuf, size_t errlen)
{
    uint8_t pk[32];
    crypto_sign_keypair (pk, sk);
    char text[256];
    size_t hlen = strlen (KEY_HEADER);
    memcpy (text, KEY_HEADER, hlen);
    sodium_bin2base64 (text + hlen, sizeof text - hlen - 1, sk, 64, sodium_base64_VARIANT_ORIGINAL);
    size_t tlen = strlen (text);
    text[tlen++] = '\n';

    char tmp[4200];
    snprintf (tmp, sizeof tmp, "%s/" KEY_FILE ".tmp.XXXXXX", dir);
    int fd = mkstemp (tmp);
    if (fd < 0) {
        sodium_memzero (text, sizeof text);
        return s_err (errbuf, errlen, "node key: create temp in '%s': %s", dir, strerror (errno));
    }
    int rc = 0;
    const char *step = NULL;
    if (fchmod (fd, 0600) != 0)
        step = "chmod";
    else if (s_write_all (fd, text, tlen) != 0)
        step = "write";
    else if (fsync (fd) != 0)
        step = "fsync";
    sodium_memzero (text, sizeof text);
    if (close (fd) != 0 && !step)
        step = "close";
    if (!step) {
        if (link (tmp, path) != 0) {
            if (errno == EEXIST)
                rc = 1;
            else if (rename (tmp, path) != 0)   //  file systems without hard links
                step = "rename";
        }
    }
    int e = errno;
    unlink (tmp);   //  no-op after a successful rename
    if (step) {
        sodium_memzero (sk, 64);
        return s_err (errbuf, errlen, "node key '%s': %s: %s", path, step, strerror (e));
    }
    if (rc == 1) {
        sodium_memzero (sk, 64);
        return 1;
    }
    int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync (dfd) != 0)
            mw_warn ("state_dir_fsync_failed", "dir=%s err=\"%s\"", dir, strerror (errno));
        close (dfd);
    }
    return 0;
}

int
gossip_identity_load (const char *state_dir, gossip_identity_t *ident, char *errbuf, size_t errlen)
{
    assert (state_dir && ident);
    if (errbuf && errlen)
        errbuf[0] = 0;
    memset (ident, 0, sizeof (*ident));
    if (!s_sodium_ready ())
        return s_err (errbuf, errlen, "libsodium failed to initialise");
    if (s_state_dir (state_dir, errbuf, errlen) != 0)
        return -1;
    char path[4200];
    if ((size_t) snprintf (path, sizeof path, "%s/" KEY_FILE, state_dir) >= sizeof path)
        return s_err (errbuf, errlen, "state dir '%s': path too long", state_dir);

    uint8_t sk[64];
    //  Two rounds at most: if another process creates the key between our
    //  read and our link, we load theirs.
    for (int round = 0; round < 2; round++) {
        int rc = s_key_read (path, sk, errbuf, errlen);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            rc = s_key_create (state_dir, path, sk, errbuf, errlen);
            if (rc < 0)
                return -1;
            if (rc == 1)
                continue;
            mw_info ("node_key_created", "path=%s", path);
        }
        s_ident_fill (ident, sk);
        sodium_memzero (sk, sizeof sk);
        return 0;
    }
    return s_err (errbuf, errlen, "node key '%s': keeps appearing and vanishing", path);
}

//  --------------------------------------------------------------------------
//  Selftest

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf (stderr, "gossip_crypto_test: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

static int
s_file_mode (const char *path)
{
    struct stat st;
    if (stat (path, &st) != 0)
        return -1;
    return (int) (st.st_mode & 07777);
}

static int
s_write_file (const char *path, const void *data, size_t len)
{
    FILE *f = fopen (path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite (data, 1, len, f);
    return fclose (f) == 0 && n == len ? 0 : -1;
}

static int
s_rm_rf (const char *path)
{
    char cmd[4300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", path);
    return system (cmd);
}

static int s_gate_calls;

//  A test gate: certifies even sessions only.
static bool
s_gate_refuse_odd (void *ctx, const mw_id_t *sender, bool known, uint64_t old_session, uint64_t new_session,
                   const mw_msg_t *carrier)
{
    (void) ctx;
    (void) sender;
    (void) old_session;
    s_gate_calls++;
    //  A first contact is let through; a carrier with a probe of 1
    //  certifies anything (stands for "carries a signed record").
    return !known || new_session % 2 == 0 || (carrier && carrier->probe == 1);
}

int
gossip_crypto_test (bool verbose)
{
    gossip_keyring_t *ka = NULL, *kb = NULL;
    gossip_replay_t *rp = NULL;
    uint8_t *env = NULL, *plain = NULL, *mut = NULL;
    size_t env_len = 0, plain_len = 0;
    char tmpdir[] = "/tmp/mw_crypto_test.XXXXXX";
    bool have_tmp = false;
    char k1[64], k2[64], k3[64];
    //  The receiver every envelope below is sealed for (binding: its own block).
    const mw_id_t rcv = {{0xb0, 1, 2, 3, 4, 5, 6, 7}};

    CHECK (sodium_init () >= 0);

    //  Keys and keyrings.
    gossip_key_generate (k1);
    gossip_key_generate (k2);
    gossip_key_generate (k3);
    CHECK (strlen (k1) == 44 && k1[43] == '=');
    CHECK (gossip_key_valid (k1) && gossip_key_valid (k2));
    CHECK (strcmp (k1, k2) != 0);
    CHECK (!gossip_key_valid (NULL));
    CHECK (!gossip_key_valid (""));
    CHECK (!gossip_key_valid ("not base64!"));
    CHECK (!gossip_key_valid ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="));       //  31 bytes
    CHECK (!gossip_key_valid ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="));   //  34 bytes
    CHECK (!gossip_key_valid ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));        //  unpadded
    CHECK (!gossip_key_valid ("-_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));       //  URL alphabet
    CHECK (gossip_key_valid ("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
    {
        char padded[80];
        snprintf (padded, sizeof padded, "  %s\n", k1);
        CHECK (gossip_key_valid (padded));
    }
    CHECK (gossip_keyring_new ("bogus") == NULL);
    CHECK (gossip_keyring_new (NULL) == NULL);
    ka = gossip_keyring_new (k1);
    kb = gossip_keyring_new (k1);
    CHECK (ka && kb);

    //  Seal and open.
    {
        const char *text = "[\"MWP\", hello]";
        CHECK (gossip_crypto_seal (ka, &rcv, MW_PLANE_MESH, (const uint8_t *) text, strlen (text), &env,
                                   &env_len)
               == 0);
        CHECK (env_len == strlen (text) + MW_ENVELOPE_OVERHEAD);
        CHECK (env[0] == 'M' && env[1] == 'W' && env[2] == MW_ENVELOPE_VERSION);
        CHECK (gossip_crypto_open (kb, &rcv, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL) == 0);
        CHECK (plain_len == strlen (text) && memcmp (plain, text, plain_len) == 0);
        free (plain);
        plain = NULL;

        //  Tamper with one bit at every offset: each must be refused, with
        //  the code that matches the part hit.
        mut = (uint8_t *) malloc (env_len);
        CHECK (mut);
        for (size_t i = 0; i < env_len; i++) {
            memcpy (mut, env, env_len);
            mut[i] ^= (uint8_t) (1u << (i % 8));
            int rc = gossip_crypto_open (kb, &rcv, MW_PLANE_MESH, mut, env_len, &plain, &plain_len, NULL);
            int want = i < 2    ? MW_CRYPTO_EMAGIC
                       : i == 2 ? MW_CRYPTO_EVERSION
                       : i == 3 ? MW_CRYPTO_EKEY
                                : MW_CRYPTO_EAUTH;
            CHECK (rc == want);
            CHECK (plain == NULL);
        }
        free (mut);
        mut = NULL;
        //  Truncations, too short, too big.
        for (size_t cut = 0; cut < env_len; cut++) {
            int rc = gossip_crypto_open (kb, &rcv, MW_PLANE_MESH, env, cut, &plain, &plain_len, NULL);
            CHECK (rc == (cut < MW_ENVELOPE_OVERHEAD ? MW_CRYPTO_ESHORT : MW_CRYPTO_EAUTH));
        }
        //  The absolute limit is the data plane's (MW_JOB_MSG_MAX): a
        //  plaintext of exactly that size seals and opens, one byte more is
        //  refused on both sides.  A membership-sized limit is the
        //  transport's business, not the envelope's.
        size_t big_len = (size_t) MW_JOB_MSG_MAX + MW_ENVELOPE_OVERHEAD + 1;
        uint8_t *big = (uint8_t *) calloc (1, big_len);
        CHECK (big);
        big[7] = 0x5a;
        uint8_t *sealed_max = NULL;
        size_t sealed_max_len = 0;
        int rc = gossip_crypto_open (kb, &rcv, MW_PLANE_MESH, big, big_len, &plain, &plain_len, NULL);
        int rc_over = gossip_crypto_seal (ka, &rcv, MW_PLANE_MESH, big, MW_JOB_MSG_MAX + 1, &mut, &plain_len);
        bool over_null = mut == NULL;
        int rc_mesh = gossip_crypto_seal (ka, &rcv, MW_PLANE_MESH, big, MW_MSG_MAX + 1, &mut, &plain_len);
        size_t mesh_len = plain_len;
        free (mut);
        mut = NULL;
        int rc_max =
            gossip_crypto_seal (ka, &rcv, MW_PLANE_MESH, big, MW_JOB_MSG_MAX, &sealed_max, &sealed_max_len);
        int rc_open = rc_max;
        if (rc_open == 0)
            rc_open = gossip_crypto_open (kb, &rcv, MW_PLANE_MESH, sealed_max, sealed_max_len, &plain,
                                          &plain_len, NULL);
        bool same_max = rc_open == 0 && plain_len == MW_JOB_MSG_MAX && memcmp (plain, big, plain_len) == 0;
        free (sealed_max);
        free (big);
        CHECK (rc == MW_CRYPTO_ETOOBIG);
        CHECK (rc_over == -1 && over_null);
        CHECK (rc_mesh == 0 && mesh_len == MW_MSG_MAX + 1 + MW_ENVELOPE_OVERHEAD);
        CHECK (rc_max == 0 && sealed_max_len == MW_JOB_MSG_MAX + MW_ENVELOPE_OVERHEAD);
        CHECK (same_max);
        free (plain);
        plain = NULL;
        //  Empty plaintext is a valid envelope.
        free (env);
        env = NULL;
        CHECK (gossip_crypto_seal (ka, &rcv, MW_PLANE_MESH, NULL, 0, &env, &env_len) == 0);
        CHECK (gossip_crypto_open (kb, &rcv, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL) == 0
               && plain_len == 0);
        free (plain);
        plain = NULL;
        //  Two seals of the same text differ (random nonce).
        uint8_t *env2 = NULL;
        size_t env2_len = 0;
        CHECK (gossip_crypto_seal (ka, &rcv, MW_PLANE_MESH, NULL, 0, &env2, &env2_len) == 0);
        bool same = env2_len == env_len && memcmp (env, env2, env_len) == 0;
        free (env2);
        CHECK (!same);
        free (env);
        env = NULL;
    }

    //  Binding: the receiver's id and the plane are in the associated data.
    {
        const mw_id_t other = {{0xc0, 1, 2, 3, 4, 5, 6, 7}};
        bool bound = false;
        CHECK (gossip_crypto_seal (ka, &rcv, MW_PLANE_MESH, (const uint8_t *) "b", 1, &env, &env_len) == 0);
        CHECK (gossip_crypto_open (kb, &rcv, MW_PLANE_MESH, env, env_len, &plain, &plain_len, &bound) == 0);
        CHECK (bound && plain_len == 1 && plain[0] == 'b');
        free (plain);
        plain = NULL;
        //  Bytes sealed for B do not open at C, nor at B on another plane,
        //  nor on a socket with no id (beacons), nor as unbound.
        CHECK (gossip_crypto_open (kb, &other, MW_PLANE_MESH, env, env_len, &plain, &plain_len, &bound)
               == MW_CRYPTO_EAUTH);
        CHECK (gossip_crypto_open (kb, &rcv, MW_PLANE_DATA, env, env_len, &plain, &plain_len, NULL)
               == MW_CRYPTO_EAUTH);
        CHECK (gossip_crypto_open (kb, &rcv, MW_PLANE_PKG, env, env_len, &plain, &plain_len, NULL)
               == MW_CRYPTO_EAUTH);
        CHECK (gossip_crypto_open (kb, NULL, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL)
               == MW_CRYPTO_EAUTH);
        env[2] |= MW_ENVELOPE_UNBOUND;
        CHECK (gossip_crypto_open (kb, &rcv, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL)
               == MW_CRYPTO_EAUTH);
        //  An envelope of the first version (no binding) is refused.
        env[2] = 1;
        CHECK (gossip_crypto_open (kb, &rcv, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL)
               == MW_CRYPTO_EVERSION);
        CHECK (plain == NULL);
        free (env);
        env = NULL;
        //  Unbound (NULL or zero id): opens at any receiver, only on its
        //  plane, and says it was unbound; clearing the flag breaks it.
        const mw_id_t zero = {{0}};
        for (int z = 0; z < 2; z++) {
            CHECK (gossip_crypto_seal (ka, z ? &zero : NULL, MW_PLANE_BEACON, (const uint8_t *) "u", 1, &env,
                                       &env_len)
                   == 0);
            CHECK (env[2] == (MW_ENVELOPE_VERSION | MW_ENVELOPE_UNBOUND));
            bound = true;
            CHECK (gossip_crypto_open (kb, &other, MW_PLANE_BEACON, env, env_len, &plain, &plain_len, &bound)
                   == 0);
            CHECK (!bound && plain_len == 1 && plain[0] == 'u');
            free (plain);
            plain = NULL;
            CHECK (gossip_crypto_open (kb, NULL, MW_PLANE_BEACON, env, env_len, &plain, &plain_len, &bound)
                   == 0);
            free (plain);
            plain = NULL;
            CHECK (gossip_crypto_open (kb, &other, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL)
                   == MW_CRYPTO_EAUTH);
            env[2] = MW_ENVELOPE_VERSION;
            CHECK (gossip_crypto_open (kb, &other, MW_PLANE_BEACON, env, env_len, &plain, &plain_len, NULL)
                   == MW_CRYPTO_EAUTH);
            free (env);
            env = NULL;
        }
        if (verbose)
            printf (" * binding: receiver and plane in the AD; unbound flag; version 1 refused\n");
    }

    //  Wrong key: another key id gives EKEY; a different key that happens
    //  to share the key id gives EAUTH.
    {
        gossip_keyring_destroy (&kb);
        kb = gossip_keyring_new (k2);
        CHECK (kb);
        CHECK (gossip_crypto_seal (ka, &rcv, MW_PLANE_MESH, (const uint8_t *) "x", 1, &env, &env_len) == 0);
        int rc = gossip_crypto_open (kb, &rcv, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL);
        CHECK (rc == (kb->id[0] == ka->id[0] ? MW_CRYPTO_EAUTH : MW_CRYPTO_EKEY));
        char kc[64];
        int tries = 0;
        gossip_keyring_t *kc_ring = NULL;
        do {
            gossip_keyring_destroy (&kc_ring);
            gossip_key_generate (kc);
            kc_ring = gossip_keyring_new (kc);
            CHECK (kc_ring);
        } while ((kc_ring->id[0] != ka->id[0] || sodium_memcmp (kc_ring->key[0], ka->key[0], MW_KEY_LEN) == 0)
                 && ++tries < 100000);
        rc = gossip_crypto_open (kc_ring, &rcv, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL);
        gossip_keyring_destroy (&kc_ring);
        CHECK (rc == MW_CRYPTO_EAUTH);
        free (env);
        env = NULL;
        if (verbose)
            printf (" * wrong key: EKEY, and EAUTH for a key id collision (%d tries)\n", tries);
    }

    //  Rotation: node A still seals with k1; B has moved to k2 as primary
    //  and keeps k1 as accepted-only, so it still understands A; A adds k2
    //  and understands B.
    {
        CHECK (gossip_keyring_add (kb, k1) == 0);
        CHECK (gossip_crypto_seal (ka, &rcv, MW_PLANE_MESH, (const uint8_t *) "old", 3, &env, &env_len) == 0);
        CHECK (env[3] == ka->id[0]);
        CHECK (gossip_crypto_open (kb, &rcv, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL) == 0);
        CHECK (plain_len == 3 && memcmp (plain, "old", 3) == 0);
        free (plain);
        plain = NULL;
        free (env);
        env = NULL;
        CHECK (gossip_crypto_seal (kb, &rcv, MW_PLANE_MESH, (const uint8_t *) "new", 3, &env, &env_len) == 0);
        CHECK (env[3] == kb->id[0]);
        int rc = gossip_crypto_open (ka, &rcv, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL);
        CHECK (rc == MW_CRYPTO_EKEY || rc == MW_CRYPTO_EAUTH);
        CHECK (gossip_keyring_add (ka, k2) == 0);
        CHECK (gossip_crypto_open (ka, &rcv, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL) == 0);
        free (plain);
        plain = NULL;
        free (env);
        env = NULL;
        //  Keyring bounds: duplicates are a no-op, at most MW_KEYRING_MAX keys.
        CHECK (gossip_keyring_add (ka, k2) == 0);
        CHECK (ka->n == 2);
        CHECK (gossip_keyring_add (ka, "nonsense") == -1);
        CHECK (gossip_keyring_add (ka, k3) == 0);
        char k4[64], k5[64];
        gossip_key_generate (k4);
        gossip_key_generate (k5);
        CHECK (gossip_keyring_add (ka, k4) == 0);
        CHECK (gossip_keyring_add (ka, k5) == -1);
        CHECK (ka->n == MW_KEYRING_MAX);
    }
    gossip_keyring_destroy (&ka);
    gossip_keyring_destroy (&kb);
    CHECK (ka == NULL && kb == NULL);
    gossip_keyring_destroy (&ka);   //  destroying NULL is fine

    //  Replay window.
    {
        const uint64_t now = 1700000000000ULL, skew = 60000;
        rp = gossip_replay_new (skew);
        CHECK (rp);
        mw_id_t a = {{1, 2, 3, 4, 5, 6, 7, 8}}, b = {{8, 7, 6, 5, 4, 3, 2, 1}};
        //  Unknown sender: ts must be within the skew.
        CHECK (gossip_replay_check (rp, &a, 100, 1, now - skew - 1, now) == MW_REPLAY_ECLOCK);
        CHECK (gossip_replay_check (rp, &a, 100, 1, now + skew + 1, now) == MW_REPLAY_ECLOCK);
        CHECK (gossip_replay_check (rp, &a, 100, 1, now + skew, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &a, 100, 1, now, now) == MW_REPLAY_EREPLAY);
        CHECK (gossip_replay_check (rp, &a, 100, 2, now, now) == MW_REPLAY_OK);
        //  Out of order within the window is fine, once.
        CHECK (gossip_replay_check (rp, &a, 100, 10, now, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &a, 100, 5, now, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &a, 100, 5, now, now) == MW_REPLAY_EREPLAY);
        CHECK (gossip_replay_check (rp, &a, 100, 10, now, now) == MW_REPLAY_EREPLAY);
        //  Within a known session the ts is not checked again.
        CHECK (gossip_replay_check (rp, &a, 100, 11, 0, now) == MW_REPLAY_OK);
        //  Slides across the map's words keep what was seen: 5, 10, 11
        //  stay seen after shifts of 65 and 130 (not multiples of 64).
        CHECK (gossip_replay_check (rp, &a, 100, 76, now, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &a, 100, 206, now, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &a, 100, 10, now, now) == MW_REPLAY_EREPLAY);
        CHECK (gossip_replay_check (rp, &a, 100, 5, now, now) == MW_REPLAY_EREPLAY);
        CHECK (gossip_replay_check (rp, &a, 100, 76, now, now) == MW_REPLAY_EREPLAY);
        CHECK (gossip_replay_check (rp, &a, 100, 75, now, now) == MW_REPLAY_OK);   //  131 behind, unseen
        //  Slide: top goes to 522, so 11 is 511 behind (last slot), 10 is out.
        CHECK (gossip_replay_check (rp, &a, 100, 522, now, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &a, 100, 12, now, now) == MW_REPLAY_OK);   //  510 behind, unseen
        CHECK (gossip_replay_check (rp, &a, 100, 11, now, now) == MW_REPLAY_EREPLAY);
        CHECK (gossip_replay_check (rp, &a, 100, 10, now, now) == MW_REPLAY_EREPLAY);
        CHECK (gossip_replay_check (rp, &a, 100, 3, now, now) == MW_REPLAY_EREPLAY);
        //  A jump larger than the window clears it.
        CHECK (gossip_replay_check (rp, &a, 100, 1200, now, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &a, 100, 999, now, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &a, 100, 522, now, now) == MW_REPLAY_EREPLAY);
        //  Another sender is independent.
        CHECK (gossip_replay_check (rp, &b, 7, 1, now, now) == MW_REPLAY_OK);
        //  Old session: stale; new session: resets the window, ts checked.
        CHECK (gossip_replay_check (rp, &a, 99, 5000, now, now) == MW_REPLAY_ESTALE);
        CHECK (gossip_replay_check (rp, &a, 101, 1, now + 2 * skew, now) == MW_REPLAY_ECLOCK);
        CHECK (gossip_replay_check (rp, &a, 100, 1201, now, now) == MW_REPLAY_OK);   //  still 100
        CHECK (gossip_replay_check (rp, &a, 101, 1, now, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &a, 101, 1, now, now) == MW_REPLAY_EREPLAY);
        CHECK (gossip_replay_check (rp, &a, 100, 1202, now, now) == MW_REPLAY_ESTALE);
        //  seq at the top of the range.
        CHECK (gossip_replay_check (rp, &a, 101, UINT64_MAX, now, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &a, 101, UINT64_MAX, now, now) == MW_REPLAY_EREPLAY);
        CHECK (gossip_replay_check (rp, &a, 101, UINT64_MAX - 511, now, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &a, 101, UINT64_MAX - 512, now, now) == MW_REPLAY_EREPLAY);
        //  A new session from the future is refused, for a new sender and
        //  for a known one, and records nothing; the real session then
        //  still passes.  (Sessions are boot times: never beyond now + skew.)
        mw_id_t v = {{9, 9, 9, 9, 9, 9, 9, 9}};
        CHECK (gossip_replay_check (rp, &v, UINT64_MAX, 1, now, now) == MW_REPLAY_ESESSION);
        CHECK (gossip_replay_check (rp, &v, now + skew + 1, 1, now, now) == MW_REPLAY_ESESSION);
        CHECK (gossip_replay_check (rp, &v, now - 86400000, 5, now, now) == MW_REPLAY_OK);   //  up a day
        CHECK (gossip_replay_check (rp, &v, UINT64_MAX, 6, now, now) == MW_REPLAY_ESESSION);
        CHECK (gossip_replay_check (rp, &v, now - 86400000, 6, now, now) == MW_REPLAY_OK);
        CHECK (gossip_replay_check (rp, &v, now + skew, 1, now, now) == MW_REPLAY_OK);   //  a reboot
        CHECK (gossip_replay_check (rp, &v, now - 86400000, 7, now, now) == MW_REPLAY_ESTALE);
        //  The gate decides whenever a session is new to the table: first
        //  contact and increase, not within a session; the message that
        //  carries the session is handed to it.
        s_gate_calls = 0;
        gossip_replay_set_gate (rp, s_gate_refuse_odd, NULL);
        mw_id_t g = {{7, 7, 7, 7, 7, 7, 7, 7}};
        CHECK (gossip_replay_check (rp, &g, 1001, 1, now, now) == MW_REPLAY_OK);   //  first contact
        CHECK (s_gate_calls == 1);
        CHECK (gossip_replay_check (rp, &g, 1003, 1, now, now) == MW_REPLAY_ESESSION);   //  refused
        CHECK (gossip_replay_check (rp, &g, 1001, 2, now, now) == MW_REPLAY_OK);         //  still 1001
        CHECK (gossip_replay_check (rp, &g, 1002, 1, now, now) == MW_REPLAY_OK);         //  certified
        CHECK (s_gate_calls == 3);
        CHECK (gossip_replay_check (rp, &g, 1002, 2, now, now) == MW_REPLAY_OK);   //  same session: no call
        CHECK (s_gate_calls == 3);
        mw_msg_t carrier;
        memset (&carrier, 0, sizeof carrier);
        carrier.sender = g;
        carrier.session = 1005;
        carrier.seq = 1;
        carrier.ts_ms = now;
        CHECK (gossip_replay_check_msg (rp, &carrier, now) == MW_REPLAY_ESESSION);
        carrier.probe = 1;   //  now it carries its certificate
        CHECK (gossip_replay_check_msg (rp, &carrier, now) == MW_REPLAY_OK);
        CHECK (s_gate_calls == 5);
        gossip_replay_set_gate (rp, NULL, NULL);
        CHECK (gossip_replay_check (rp, &g, 1007, 1, now, now) == MW_REPLAY_OK);
        gossip_replay_forget (rp, &g);
        gossip_replay_forget (rp, &v);
        //  Forget: the sender is new again.
        gossip_replay_forget (rp, &a);
        CHECK (gossip_replay_check (rp, &a, 101, 1, now, now) == MW_REPLAY_OK);
        gossip_replay_forget (rp, &a);
        gossip_replay_forget (rp, &a);   //  forgetting an unknown sender is fine

        //  Bounded table: the least recently seen sender is evicted.
        mw_id_t id;
        memset (&id, 0, sizeof id);
        for (uint32_t i = 0; i < REPLAY_MAX_SENDERS + 10; i++) {
            memcpy (id.b, &i, sizeof i);
            id.b[7] = 0xee;
            CHECK (gossip_replay_check (rp, &id, 1, 1, now, now) == MW_REPLAY_OK);
            if (i == 0)   //  keep b fresh: it must survive
                CHECK (gossip_replay_check (rp, &b, 7, 2, now, now) == MW_REPLAY_OK);
            if (i % 1000 == 999)
                CHECK (gossip_replay_check (rp, &b, 7, 3 + i / 1000, now, now) == MW_REPLAY_OK);
        }
        CHECK (rp->count == REPLAY_MAX_SENDERS && gossip_replay_size (rp) == REPLAY_MAX_SENDERS);
        CHECK (gossip_replay_check (rp, &b, 7, 2, now, now) == MW_REPLAY_EREPLAY);   //  kept
        uint32_t first = 0;
        memcpy (id.b, &first, sizeof first);
        CHECK (gossip_replay_check (rp, &id, 1, 1, now, now) == MW_REPLAY_OK);   //  was evicted
        uint32_t last = REPLAY_MAX_SENDERS + 9;
        memcpy (id.b, &last, sizeof last);
        CHECK (gossip_replay_check (rp, &id, 1, 1, now, now) == MW_REPLAY_EREPLAY);
        gossip_replay_destroy (&rp);
        CHECK (rp == NULL);
        if (verbose)
            printf (" * replay window: duplicates, stale sessions, clock bound, future sessions, gate, "
                    "eviction\n");
    }

    //  Identity.
    {
        CHECK (mkdtemp (tmpdir));
        have_tmp = true;
        char dir[256], keyfile[300], err[512];
        snprintf (dir, sizeof dir, "%s/a/b/state", tmpdir);
        snprintf (keyfile, sizeof keyfile, "%s/node.key", dir);
        gossip_identity_t id1, id2;
        CHECK (gossip_identity_load (dir, &id1, err, sizeof err) == 0);
        CHECK (s_file_mode (dir) == 0700);
        CHECK (s_file_mode (keyfile) == 0600);
        CHECK (strlen (id1.id_hex) == MW_ID_HEX_LEN);
        CHECK (gossip_identity_load (dir, &id2, err, sizeof err) == 0);
        CHECK (gossip_wire_id_eq (&id1.id, &id2.id) && strcmp (id1.id_hex, id2.id_hex) == 0);
        CHECK (memcmp (id1.pk, id2.pk, 32) == 0 && memcmp (id1.sk, id2.sk, 64) == 0);
        //  The id is BLAKE2b-256 (pk), first 8 bytes; the key signs.
        uint8_t h[32];
        crypto_generichash (h, sizeof h, id1.pk, 32, NULL, 0);
        CHECK (memcmp (h, id1.id.b, MW_ID_LEN) == 0);
        uint8_t sig[crypto_sign_BYTES];
        crypto_sign_detached (sig, NULL, (const uint8_t *) "pkg", 3, id2.sk);
        CHECK (crypto_sign_verify_detached (sig, (const uint8_t *) "pkg", 3, id1.pk) == 0);

        //  Loose permissions are tightened on load.
        CHECK (chmod (dir, 0755) == 0 && chmod (keyfile, 0644) == 0);
        mw_log_level_t lvl = mw_log_get_level ();
        mw_log_set_level (MW_LOG_ERROR);   //  keep the expected warnings out of the output
        int rc = gossip_identity_load (dir, &id2, err, sizeof err);
        mw_log_set_level (lvl);
        CHECK (rc == 0 && gossip_wire_id_eq (&id1.id, &id2.id));
        CHECK (s_file_mode (dir) == 0700 && s_file_mode (keyfile) == 0600);

        //  Corrupt key files: refused with a reason, never replaced.
        FILE *f = fopen (keyfile, "rb");
        CHECK (f);
        char good[512];
        size_t good_len = fread (good, 1, sizeof good, f);
        fclose (f);
        CHECK (good_len > 30);
        const struct {
            size_t len;
            int flip;   //  offset of a byte to change, or -1
            const char *what;
        } cases[] = {
            {0, -1, "empty"},
            {20, -1, "half header"},
            {good_len / 2, -1, "half key"},
            {good_len, 30, "flipped bit in the secret"},
            {good_len, (int) good_len - 5, "flipped bit in the public half"},
            {good_len, 3, "header"},
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            char bad[512];
            memcpy (bad, good, good_len);
            if (cases[c].flip >= 0)
                bad[cases[c].flip] = bad[cases[c].flip] == 'A' ? 'B' : 'A';
            CHECK (s_write_file (keyfile, bad, cases[c].len) == 0);
            err[0] = 0;
            rc = gossip_identity_load (dir, &id2, err, sizeof err);
            if (verbose)
                printf (" * corrupt key (%s): %s\n", cases[c].what, err);
            CHECK (rc == -1 && strstr (err, "corrupt") != NULL);
            struct stat st;
            CHECK (stat (keyfile, &st) == 0 && (size_t) st.st_size == cases[c].len);
        }
        {
            char big[KEY_FILE_MAX + 10];
            memset (big, 'A', sizeof big);
            CHECK (s_write_file (keyfile, big, sizeof big) == 0);
            CHECK (gossip_identity_load (dir, &id2, err, sizeof err) == -1);
            CHECK (strstr (err, "too large"));
        }
        //  The good file back: the same identity again.
        CHECK (s_write_file (keyfile, good, good_len) == 0);
        CHECK (gossip_identity_load (dir, &id2, err, sizeof err) == 0);
        CHECK (gossip_wire_id_eq (&id1.id, &id2.id));
        //  A state dir that is a file is an error.
        CHECK (gossip_identity_load (keyfile, &id2, err, sizeof err) == -1);
        if (verbose)
            printf (" * identity %s: created, reloaded, corrupt files refused\n", id1.id_hex);
        sodium_memzero (&id1, sizeof id1);
        sodium_memzero (&id2, sizeof id2);
        sodium_memzero (good, sizeof good);
        s_rm_rf (tmpdir);
        have_tmp = false;
    }
    return 0;

fail:
    gossip_keyring_destroy (&ka);
    gossip_keyring_destroy (&kb);
    gossip_replay_destroy (&rp);
    free (env);
    free (plain);
    free (mut);
    if (have_tmp)
        s_rm_rf (tmpdir);
    return -1;
}
