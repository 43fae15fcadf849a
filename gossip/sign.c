/*  =========================================================================
    gossip_sign - node-key signatures over records and election messages
    (see sign.h).

    Record layout that is signed (all integers big-endian):

        "meshwatch-record-v2"  19 bytes, domain separation
        'S'                    self-asserted (alive, left)
        id (8) state (1) incarnation (8) session (8) stamp (8)
        name_len (1) name   addr_len (1) addr   digest_len (1) digest
      or
        'A'                    asserted by `from` (suspect, dead)
        id (8) state (1) incarnation (8) from (8)

    Message layout that is signed:

        "meshwatch-msg-v2"  16 bytes
        receiver id (8, zero when unbound)
        the message's encoding (gossip/wire.c) with `signature` empty
    ========================================================================= */
#include "gossip/sign.h"
#include "common/log.h"

#include <assert.h>
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(GOSSIP_SIGN_LEN == crypto_sign_BYTES && GOSSIP_SIGN_LEN == MW_SIG_MAX, "signature size");
_Static_assert(GOSSIP_PK_LEN == crypto_sign_PUBLICKEYBYTES && GOSSIP_PK_LEN == MW_PK_MAX, "key size");

#define RECORD_DOMAIN "meshwatch-record-v2"
#define MSG_DOMAIN    "meshwatch-msg-v2"
//  Domain, kind, id, state, incarnation, session, stamp, three lengths and
//  the longest name, address and digest.
#define RECORD_MAX                                                                                           \
    (sizeof RECORD_DOMAIN - 1 + 1 + MW_ID_LEN + 1 + 8 + 8 + 8 + 3 + MW_NAME_MAX + MW_ADDR_MAX + MW_DIGEST_MAX)

void
gossip_sign_pk_id (const uint8_t pk[GOSSIP_PK_LEN], mw_id_t *id)
{
    uint8_t h[32];
    crypto_generichash (h, sizeof h, pk, GOSSIP_PK_LEN, NULL, 0);
    memcpy (id->b, h, MW_ID_LEN);
}

bool
gossip_sign_pk_ok (const uint8_t *pk, size_t pk_len, const mw_id_t *id)
{
    if (!pk || !id || pk_len != GOSSIP_PK_LEN)
        return false;
    mw_id_t got;
    gossip_sign_pk_id (pk, &got);
    return sodium_memcmp (got.b, id->b, MW_ID_LEN) == 0;
}

static bool
s_self_asserted (const mw_update_t *u)
{
    return u->state == MW_STATE_ALIVE || u->state == MW_STATE_LEFT;
}

const mw_id_t *
gossip_sign_record_signer (const mw_update_t *u)
{
    assert (u);
    return s_self_asserted (u) ? &u->id : &u->from;
}

static void
s_put64 (uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t) v;
}

//  A string field, bounded by its array (a decoded record always holds a
//  NUL; a caller's may not).
static size_t
s_put_str (uint8_t *p, const char *s, size_t size)
{
    size_t n = strnlen (s, size - 1);
    p[0] = (uint8_t) n;
    memcpy (p + 1, s, n);
    return 1 + n;
}

//  The bytes a record's signature covers.  0 on a state or length out of range.
static size_t
s_record_bytes (const mw_update_t *u, uint8_t out[RECORD_MAX])
{
    if (u->state >= MW_STATE_COUNT || u->digest_len > MW_DIGEST_MAX)
        return 0;
    size_t n = 0;
    memcpy (out, RECORD_DOMAIN, sizeof RECORD_DOMAIN - 1);
    n += sizeof RECORD_DOMAIN - 1;
    bool self = s_self_asserted (u);
    out[n++] = self ? 'S' : 'A';
    memcpy (out + n, u->id.b, MW_ID_LEN);
    n += MW_ID_LEN;
    out[n++] = u->state;
    s_put64 (out + n, u->incarnation);
    n += 8;
    if (!self) {
        memcpy (out + n, u->from.b, MW_ID_LEN);
        return n + MW_ID_LEN;
    }
    s_put64 (out + n, u->session);
    n += 8;
    s_put64 (out + n, u->stamp);
    n += 8;
    n += s_put_str (out + n, u->name, sizeof u->name);
    n += s_put_str (out + n, u->addr, sizeof u->addr);
    out[n++] = (uint8_t) u->digest_len;
    memcpy (out + n, u->digest, u->digest_len);
    return n + u->digest_len;
}

int
gossip_sign_record (const gossip_identity_t *signer, mw_update_t *u)
{
    assert (signer && u);
    //  An alive or left record whose `from` is not the member would be
    //  refused by every receiver: say so here instead.
    if (s_self_asserted (u) && !mw_id_eq (&u->from, &u->id))
        return -1;
    if (!mw_id_eq (gossip_sign_record_signer (u), &signer->id))
        return -1;
    uint8_t buf[RECORD_MAX];
    size_t n = s_record_bytes (u, buf);
    if (n == 0)
        return -1;
    crypto_sign_detached (u->sig, NULL, buf, n, signer->sk);
    u->sig_len = GOSSIP_SIGN_LEN;
    return 0;
}

bool
gossip_sign_record_verify (const uint8_t pk[GOSSIP_PK_LEN], const mw_update_t *u)
{
    assert (pk && u);
    if (u->sig_len != GOSSIP_SIGN_LEN)
        return false;
    if (s_self_asserted (u) && !mw_id_eq (&u->from, &u->id))
        return false;
    uint8_t buf[RECORD_MAX];
    size_t n = s_record_bytes (u, buf);
    return n > 0 && crypto_sign_verify_detached (u->sig, buf, n, pk) == 0;
}

bool
gossip_sign_msg_needed (int type)
{
    return type == MW_MSG_HEARTBEAT || type == MW_MSG_VOTE_REQ || type == MW_MSG_VOTE;
}

//  Domain, receiver and the encoding of `msg` with its signature left out,
//  in `version`, into a buffer the caller frees.  0 or -1.
static int
s_msg_bytes (const mw_id_t *to, const mw_msg_t *msg, uint8_t version, uint8_t **out, size_t *out_len)
{
    //  Election messages own nothing (no updates, no job): a shallow copy
    //  is the message.
    if (msg->n_updates || msg->job)
        return -1;
    mw_msg_t bare = *msg;
    bare.signature_len = 0;
    memset (bare.signature, 0, sizeof bare.signature);
    uint8_t *enc = NULL;
    size_t len = 0;
    if (gossip_wire_encode_version (&bare, version, &enc, &len) != 0)
        return -1;
    size_t head = sizeof MSG_DOMAIN - 1 + MW_ID_LEN;
    uint8_t *buf = (uint8_t *) malloc (head + len);
    if (!buf) {
        free (enc);
        return -1;
    }
    memcpy (buf, MSG_DOMAIN, sizeof MSG_DOMAIN - 1);
    if (to)
        memcpy (buf + sizeof MSG_DOMAIN - 1, to->b, MW_ID_LEN);
    else
        memset (buf + sizeof MSG_DOMAIN - 1, 0, MW_ID_LEN);
    memcpy (buf + head, enc, len);
    free (enc);
    *out = buf;
    *out_len = head + len;
    return 0;
}

int
gossip_sign_msg (const gossip_identity_t *signer, const mw_id_t *to, mw_msg_t *msg)
{
    assert (signer && msg);
    if (!gossip_sign_msg_needed (msg->type) || !mw_id_eq (&msg->sender, &signer->id))
        return -1;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (s_msg_bytes (to, msg, MW_WIRE_SEND_VERSION, &buf, &len) != 0)
        return -1;
    crypto_sign_detached (msg->signature, NULL, buf, len, signer->sk);
    msg->signature_len = GOSSIP_SIGN_LEN;
    free (buf);
    return 0;
}

bool
gossip_sign_msg_verify (const uint8_t pk[GOSSIP_PK_LEN], const mw_id_t *me, const mw_msg_t *msg)
{
    assert (pk && msg);
    if (!gossip_sign_msg_needed (msg->type) || msg->signature_len != GOSSIP_SIGN_LEN || msg->version < 2)
        return false;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (s_msg_bytes (me, msg, msg->version, &buf, &len) != 0)
        return false;
    bool ok = crypto_sign_verify_detached (msg->signature, buf, len, pk) == 0;
    free (buf);
    return ok;
}

//  --------------------------------------------------------------------------
//  Pair MACs

#define PAIR_DOMAIN "meshwatch-pair-v1"

bool
gossip_sign_mac_type (int type)
{
    return type == MW_MSG_HEARTBEAT;
}

//  The MAC over what a signature would cover (domain, receiver, encoding
//  without the signature field), under the pair key.
static int
s_mac (const uint8_t key[32], const mw_id_t *to, const mw_msg_t *msg, uint8_t version,
       uint8_t out[GOSSIP_MAC_LEN])
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (s_msg_bytes (to, msg, version, &buf, &len) != 0)
        return -1;
    int rc = crypto_generichash (out, GOSSIP_MAC_LEN, buf, len, key, 32);
    free (buf);
    return rc == 0 ? 0 : -1;
}

int
gossip_sign_msg_mac (const uint8_t key[32], const mw_id_t *to, mw_msg_t *msg)
{
    assert (key && msg);
    if (!gossip_sign_mac_type (msg->type))
        return -1;
    if (s_mac (key, to, msg, MW_WIRE_SEND_VERSION, msg->signature) != 0)
        return -1;
    msg->signature_len = GOSSIP_MAC_LEN;
    return 0;
}

bool
gossip_sign_msg_mac_verify (const uint8_t key[32], const mw_id_t *me, const mw_msg_t *msg)
{
    assert (key && msg);
    if (!gossip_sign_mac_type (msg->type) || msg->signature_len != GOSSIP_MAC_LEN || msg->version < 2)
        return false;
    uint8_t mac[GOSSIP_MAC_LEN];
    if (s_mac (key, me, msg, msg->version, mac) != 0)
        return false;
    return sodium_memcmp (mac, msg->signature, GOSSIP_MAC_LEN) == 0;
}

typedef struct {
    uint8_t pk[GOSSIP_PK_LEN];
    uint8_t key[32];
} s_pairkey_t;

static void
s_pairkey_free (void **item)
{
    if (*item) {
        sodium_memzero (*item, sizeof (s_pairkey_t));
        free (*item);
        *item = NULL;
    }
}

struct _gossip_pairkeys_t {
    const gossip_identity_t *me;
    uint8_t me_x[crypto_scalarmult_curve25519_BYTES];   //  our X25519 secret
    zhashx_t *keys;                                     //  peer pk (hex) -> s_pairkey_t
    size_t max;
};

gossip_pairkeys_t *
gossip_pairkeys_new (const gossip_identity_t *me, size_t max)
{
    assert (me);
    gossip_pairkeys_t *self = (gossip_pairkeys_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->me = me;
    self->max = max ? max : 1;
    self->keys = zhashx_new ();
    if (!self->keys || crypto_sign_ed25519_sk_to_curve25519 (self->me_x, me->sk) != 0) {
        gossip_pairkeys_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->keys, s_pairkey_free);
    return self;
}

void
gossip_pairkeys_destroy (gossip_pairkeys_t **self_p)
{
    assert (self_p);
    gossip_pairkeys_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->keys);
    sodium_memzero (self->me_x, sizeof self->me_x);
    free (self);
    *self_p = NULL;
}

size_t
gossip_pairkeys_size (gossip_pairkeys_t *self)
{
    assert (self);
    return zhashx_size (self->keys);
}

int
gossip_pairkeys_get (gossip_pairkeys_t *self, const uint8_t peer_pk[GOSSIP_PK_LEN], uint8_t key[32])
{
    assert (self && peer_pk && key);
    char hex[2 * GOSSIP_PK_LEN + 1];
    sodium_bin2hex (hex, sizeof hex, peer_pk, GOSSIP_PK_LEN);
    s_pairkey_t *e = (s_pairkey_t *) zhashx_lookup (self->keys, hex);
    if (e) {
        memcpy (key, e->key, 32);
        return 0;
    }
    if (sodium_memcmp (peer_pk, self->me->pk, GOSSIP_PK_LEN) == 0)
        return -1;
    uint8_t peer_x[crypto_scalarmult_curve25519_BYTES], shared[crypto_scalarmult_BYTES];
    if (crypto_sign_ed25519_pk_to_curve25519 (peer_x, peer_pk) != 0
        || crypto_scalarmult (shared, self->me_x, peer_x) != 0)
        return -1;   //  not a point, or a low-order one (all-zero result)
    //  key = BLAKE2b-256 (domain || shared || the two Ed25519 keys in
    //  byte order): the same at both ends, bound to this pair.
    const uint8_t *lo = self->me->pk, *hi = peer_pk;
    if (memcmp (lo, hi, GOSSIP_PK_LEN) > 0)
        lo = peer_pk, hi = self->me->pk;
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 32);
    crypto_generichash_update (&st, (const uint8_t *) PAIR_DOMAIN, sizeof PAIR_DOMAIN - 1);
    crypto_generichash_update (&st, shared, sizeof shared);
    crypto_generichash_update (&st, lo, GOSSIP_PK_LEN);
    crypto_generichash_update (&st, hi, GOSSIP_PK_LEN);
    crypto_generichash_final (&st, key, 32);
    sodium_memzero (shared, sizeof shared);
    if (zhashx_size (self->keys) >= self->max)
        zhashx_purge (self->keys);   //  bounded: start over, keys are cheap
    e = (s_pairkey_t *) malloc (sizeof *e);
    if (e) {
        memcpy (e->pk, peer_pk, GOSSIP_PK_LEN);
        memcpy (e->key, key, 32);
        if (zhashx_insert (self->keys, hex, e) != 0)
            free (e);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Costs

static double
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int
s_dbl_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  An everyday record: a 16-byte name, a 25-byte address, a 58-byte digest.
static void
s_everyday_record (const gossip_identity_t *ident, mw_update_t *u)
{
    memset (u, 0, sizeof *u);
    u->id = ident->id;
    u->from = ident->id;
    snprintf (u->name, sizeof u->name, "edge-box-0007-ab");
    snprintf (u->addr, sizeof u->addr, "tcp://10.20.30.40:7946");
    u->incarnation = 12;
    u->session = 1733000000000ULL;
    u->stamp = 99;
    u->digest_len = 58;
    for (int i = 0; i < 58; i++)
        u->digest[i] = (uint8_t) (i * 13);
}

int
gossip_sign_bench (int rounds, gossip_sign_cost_t *out)
{
    assert (out);
    memset (out, 0, sizeof *out);
    if (rounds < 1 || rounds > 101)
        return -1;
    gossip_identity_t a, b;
    uint8_t seed[32] = {1};
    if (gossip_identity_from_seed (seed, &a) != 0)
        return -1;
    seed[0] = 2;
    if (gossip_identity_from_seed (seed, &b) != 0)
        return -1;
    gossip_identity_t c;
    seed[0] = 3;
    if (gossip_identity_from_seed (seed, &c) != 0)
        return -1;
    mw_update_t u;
    s_everyday_record (&a, &u);
    mw_msg_t m;
    memset (&m, 0, sizeof m);
    m.type = MW_MSG_VOTE;
    m.sender = a.id;
    m.session = 1733000000000ULL;
    m.seq = 123456;
    m.ts_ms = 1733000012345ULL;
    m.term = 42;
    m.rank = 11010;
    m.granted = 1;
    m.ballot = b.id;
    m.version = MW_WIRE_SEND_VERSION;
    enum { BATCH = 200, K = 8 };
    double *t[K];
    gossip_pairkeys_t *pa = gossip_pairkeys_new (&a, 1);
    if (!pa)
        return -1;
    mw_msg_t h = m;
    h.type = MW_MSG_HEARTBEAT;
    h.lease_ms = 400;
    uint8_t key[32];
    for (int k = 0; k < K; k++)
        if (!(t[k] = (double *) calloc ((size_t) rounds, sizeof (double)))) {
            for (int j = 0; j < k; j++)
                free (t[j]);
            gossip_pairkeys_destroy (&pa);
            return -1;
        }
    int bad = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = s_now_us ();
        for (int i = 0; i < BATCH; i++) {
            u.stamp++;
            bad |= gossip_sign_record (&a, &u);
        }
        double t1 = s_now_us ();
        for (int i = 0; i < BATCH; i++)
            bad |= !gossip_sign_record_verify (a.pk, &u);
        double t2 = s_now_us ();
        for (int i = 0; i < BATCH; i++) {
            m.seq++;
            bad |= gossip_sign_msg (&a, &b.id, &m);
        }
        double t3 = s_now_us ();
        for (int i = 0; i < BATCH; i++)
            bad |= !gossip_sign_msg_verify (a.pk, &b.id, &m);
        double t4 = s_now_us ();
        for (int i = 0; i < BATCH; i++)
            bad |= !gossip_sign_pk_ok (a.pk, GOSSIP_PK_LEN, &a.id);
        double t5 = s_now_us ();
        for (int i = 0; i < BATCH; i++) {
            h.seq++;
            bad |= gossip_pairkeys_get (pa, b.pk, key) || gossip_sign_msg_mac (key, &b.id, &h);
        }
        double t6 = s_now_us ();
        for (int i = 0; i < BATCH; i++)
            bad |= gossip_pairkeys_get (pa, b.pk, key) || !gossip_sign_msg_mac_verify (key, &b.id, &h);
        double t7 = s_now_us ();
        for (int i = 0; i < BATCH; i++) {
            //  A table of one, and another peer each time: every get derives.
            bad |= gossip_pairkeys_get (pa, (i & 1) ? b.pk : c.pk, key);
        }
        double t8 = s_now_us ();
        t[5][r] = (t6 - t5) / BATCH;
        t[6][r] = (t7 - t6) / BATCH;
        t[7][r] = (t8 - t7) / BATCH;
        t[0][r] = (t1 - t0) / BATCH;
        t[1][r] = (t2 - t1) / BATCH;
        t[2][r] = (t3 - t2) / BATCH;
        t[3][r] = (t4 - t3) / BATCH;
        t[4][r] = (t5 - t4) / BATCH;
    }
    gossip_pairkeys_destroy (&pa);
    double med[K];
    for (int k = 0; k < K; k++) {
        qsort (t[k], (size_t) rounds, sizeof (double), s_dbl_cmp);
        med[k] = t[k][rounds / 2];
        free (t[k]);
    }
    out->record_sign_us = med[0];
    out->record_verify_us = med[1];
    out->msg_sign_us = med[2];
    out->msg_verify_us = med[3];
    out->pk_check_us = med[4];
    out->mac_us = med[5];
    out->mac_verify_us = med[6];
    out->pair_derive_us = med[7];
    return bad ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  Selftest

#include "common/selftest.h"
#define T(c) CHECK (c, "%s", #c)

int
gossip_sign_test (bool verbose)
{
    int rc = 0;
    gossip_identity_t a, b, c;
    uint8_t seed[32] = {0};
    seed[0] = 11;
    T (gossip_identity_from_seed (seed, &a) == 0);
    seed[0] = 12;
    T (gossip_identity_from_seed (seed, &b) == 0);
    seed[0] = 13;
    T (gossip_identity_from_seed (seed, &c) == 0);
    //  The same seed, the same identity (the simulators rely on it).
    gossip_identity_t a2;
    seed[0] = 11;
    T (gossip_identity_from_seed (seed, &a2) == 0);
    T (memcmp (&a, &a2, sizeof a) == 0);

    //  1. A public key names exactly its id.
    T (gossip_sign_pk_ok (a.pk, GOSSIP_PK_LEN, &a.id));
    T (!gossip_sign_pk_ok (a.pk, GOSSIP_PK_LEN, &b.id));
    T (!gossip_sign_pk_ok (a.pk, GOSSIP_PK_LEN - 1, &a.id));
    T (!gossip_sign_pk_ok (NULL, 0, &a.id));

    //  2. An alive record, signed by its member, verifies; relayed as it
    //  is (the signature covers the record alone) it still does.
    mw_update_t u, t;
    s_everyday_record (&a, &u);
    T (gossip_sign_record (&a, &u) == 0 && u.sig_len == GOSSIP_SIGN_LEN);
    T (gossip_sign_record_verify (a.pk, &u));
    t = u;
    t.pk_len = GOSSIP_PK_LEN;   //  the key riding along is not signed: it is checked against the id
    memcpy (t.pk, a.pk, GOSSIP_PK_LEN);
    T (gossip_sign_record_verify (a.pk, &t));
    //  ... not by another key, nor signed by another node for a's id.
    T (!gossip_sign_record_verify (b.pk, &u));
    t = u;
    T (gossip_sign_record (&b, &t) == -1);   //  nobody signs for another id
    //  A forger signing a's record with its own key: the signature is b's,
    //  the receiver checks a's key.
    t = u;
    t.incarnation = UINT64_C (1) << 63;
    crypto_sign_detached (t.sig, NULL, (const uint8_t *) "x", 1, b.sk);
    T (!gossip_sign_record_verify (a.pk, &t));

    //  3. Every field the member asserts is covered: each one changed
    //  breaks the signature.
    int tampered = 0;
    for (int f = 0; f < 9; f++) {
        t = u;
        switch (f) {
        case 0: t.incarnation++; break;
        case 1: t.session++; break;
        case 2: t.stamp++; break;
        case 3: t.name[0] ^= 1; break;
        case 4: t.addr[6] ^= 1; break;
        case 5: t.digest[57] ^= 1; break;
        case 6: t.digest_len--; break;
        case 7: t.state = MW_STATE_LEFT; break;
        case 8: t.sig[10] ^= 1; break;
        }
        T (!gossip_sign_record_verify (a.pk, &t));
        tampered++;
    }
    //  An alive record whose `from` is not the member is no valid record.
    t = u;
    t.from = b.id;
    T (!gossip_sign_record_verify (a.pk, &t));
    T (gossip_sign_record (&a, &t) == -1);
    //  No signature: nothing verifies.
    t = u;
    t.sig_len = 0;
    T (!gossip_sign_record_verify (a.pk, &t));

    //  4. A suspect record is signed by its asserter, over id, state,
    //  incarnation and from; the rest of it is not its to say.
    mw_update_t s;
    memset (&s, 0, sizeof s);
    s.id = a.id;
    s.state = MW_STATE_SUSPECT;
    s.incarnation = 12;
    s.from = b.id;
    T (gossip_sign_record_signer (&s) == &s.from);
    T (gossip_sign_record (&a, &s) == -1);   //  the member does not suspect itself
    T (gossip_sign_record (&b, &s) == 0);
    T (gossip_sign_record_verify (b.pk, &s));
    T (!gossip_sign_record_verify (a.pk, &s));
    t = s;
    t.from = c.id;   //  b's verdict passed off as c's
    T (!gossip_sign_record_verify (c.pk, &t) && !gossip_sign_record_verify (b.pk, &t));
    t = s;
    t.state = MW_STATE_DEAD;
    T (!gossip_sign_record_verify (b.pk, &t));
    t = s;
    t.incarnation++;
    T (!gossip_sign_record_verify (b.pk, &t));

    //  5. Election messages: signed over the encoding and the receiver.
    mw_msg_t m, x;
    memset (&m, 0, sizeof m);
    m.type = MW_MSG_HEARTBEAT;
    m.sender = a.id;
    m.session = 1733000000000ULL;
    m.seq = 77;
    m.ts_ms = 1733000001000ULL;
    m.term = 9;
    m.rank = 11005;
    m.lease_ms = 2000;
    T (gossip_sign_msg (&a, &b.id, &m) == 0 && m.signature_len == GOSSIP_SIGN_LEN);
    //  Through the codec, as the receiver sees it.
    uint8_t *enc = NULL;
    size_t len = 0;
    T (gossip_wire_encode (&m, &enc, &len) == 0);
    T (gossip_wire_decode (enc, len, &x) == 0);
    free (enc);
    T (x.version == MW_WIRE_SEND_VERSION && gossip_sign_msg_verify (a.pk, &b.id, &x));
    //  Another receiver, another key, any field changed: refused.
    T (!gossip_sign_msg_verify (a.pk, &c.id, &x));
    T (!gossip_sign_msg_verify (b.pk, &b.id, &x));
    int msg_tampered = 0;
    for (int f = 0; f < 8; f++) {
        mw_msg_t y = x;
        switch (f) {
        case 0: y.term++; break;
        case 1: y.rank++; break;
        case 2: y.lease_ms++; break;
        case 3: y.seq++; break;
        case 4: y.session++; break;
        case 5: y.ts_ms++; break;
        case 6: y.sender = c.id; break;
        case 7: y.type = MW_MSG_VOTE_REQ; break;
        }
        T (!gossip_sign_msg_verify (a.pk, &b.id, &y));
        msg_tampered++;
    }
    //  Pair MACs: a -> b under the key both derive; nobody else's key, no
    //  other receiver, no changed field; only HEARTBEAT takes one.
    {
        gossip_pairkeys_t *ka = gossip_pairkeys_new (&a, 2), *kb = gossip_pairkeys_new (&b, 2),
                          *kc = gossip_pairkeys_new (&c, 2);
        T (ka && kb && kc);
        uint8_t kab[32], kba[32], kcb[32], kca[32], again[32];
        T (ka && kb && kc && gossip_pairkeys_get (ka, b.pk, kab) == 0
           && gossip_pairkeys_get (kb, a.pk, kba) == 0 && gossip_pairkeys_get (kc, b.pk, kcb) == 0
           && gossip_pairkeys_get (kc, a.pk, kca) == 0);
        T (memcmp (kab, kba, 32) == 0 && memcmp (kab, kcb, 32) != 0 && memcmp (kab, kca, 32) != 0);
        T (ka && gossip_pairkeys_get (ka, a.pk, again) == -1);   //  not with ourselves
        uint8_t junk[GOSSIP_PK_LEN];
        memset (junk, 0, sizeof junk);   //  the identity point: no key
        T (ka && gossip_pairkeys_get (ka, junk, again) == -1);
        T (ka && gossip_pairkeys_get (ka, b.pk, again) == 0 && memcmp (again, kab, 32) == 0
           && gossip_pairkeys_size (ka) == 1);
        T (ka && gossip_pairkeys_get (ka, c.pk, again) == 0 && gossip_pairkeys_size (ka) == 2);
        //  Full: the table starts over, the key is the same.
        gossip_identity_t d;
        seed[0] = 14;
        T (gossip_identity_from_seed (seed, &d) == 0);
        T (ka && gossip_pairkeys_get (ka, d.pk, again) == 0 && gossip_pairkeys_size (ka) == 1);
        T (ka && gossip_pairkeys_get (ka, b.pk, again) == 0 && memcmp (again, kab, 32) == 0);
        mw_msg_t h = m, hx;
        h.signature_len = 0;
        T (gossip_sign_msg_mac (kab, &b.id, &h) == 0 && h.signature_len == GOSSIP_MAC_LEN);
        uint8_t *henc = NULL;
        size_t hlen = 0, slen = 0;
        T (gossip_wire_encode (&h, &henc, &hlen) == 0 && gossip_wire_decode (henc, hlen, &hx) == 0);
        free (henc);
        henc = NULL;
        T (gossip_wire_encode (&m, &henc, &slen) == 0);
        free (henc);
        T (hlen + 48 == slen);   //  48 bytes less than the signed one
        T (gossip_sign_msg_mac_verify (kba, &b.id, &hx));
        T (!gossip_sign_msg_mac_verify (kcb, &b.id, &hx));   //  c's key with b
        T (!gossip_sign_msg_mac_verify (kba, &c.id, &hx));   //  for b, not c
        T (!gossip_sign_msg_verify (a.pk, &b.id, &hx));      //  a MAC is no signature
        for (int fld = 0; fld < 6; fld++) {
            mw_msg_t y = hx;
            switch (fld) {
            case 0: y.term++; break;
            case 1: y.rank++; break;
            case 2: y.lease_ms++; break;
            case 3: y.seq++; break;
            case 4: y.ts_ms++; break;
            case 5: y.sender = c.id; break;
            }
            T (!gossip_sign_msg_mac_verify (kba, &b.id, &y));
        }
        mw_msg_t v = m;
        v.type = MW_MSG_VOTE_REQ;
        T (gossip_sign_msg_mac (kab, &b.id, &v) == -1);   //  votes stay signed
        v = hx;
        v.signature_len = GOSSIP_SIGN_LEN;   //  a signature-sized field is no MAC
        T (!gossip_sign_msg_mac_verify (kba, &b.id, &v));
        gossip_pairkeys_destroy (&ka);
        gossip_pairkeys_destroy (&kb);
        gossip_pairkeys_destroy (&kc);
        T (ka == NULL);
    }
    //  A forger with the cluster key speaks as a (a real member) and signs
    //  with its own key c: what it says does not verify under a's key.
    mw_msg_t f = x;
    f.term = UINT64_MAX;
    f.sender = c.id;
    T (gossip_sign_msg (&c, &b.id, &f) == 0);
    f.sender = a.id;
    T (!gossip_sign_msg_verify (a.pk, &b.id, &f));
    T (gossip_sign_msg (&c, &b.id, &f) == -1);   //  c cannot sign as a
    //  Nobody signs or verifies a type that carries no signature.
    mw_msg_t g;
    memset (&g, 0, sizeof g);
    g.type = MW_MSG_GOSSIP;
    g.sender = a.id;
    T (gossip_sign_msg (&a, &b.id, &g) == -1 && !gossip_sign_msg_verify (a.pk, &b.id, &g));
    //  A version-1 message (no signature field) never verifies.
    x.version = 1;
    T (!gossip_sign_msg_verify (a.pk, &b.id, &x));
    gossip_wire_msg_clear (&x);
    //  Unbound (no receiver): signed and checked with the zero id.
    memset (&m.signature, 0, sizeof m.signature);
    T (gossip_sign_msg (&a, NULL, &m) == 0);
    m.version = MW_WIRE_SEND_VERSION;
    mw_id_t zero;
    memset (&zero, 0, sizeof zero);
    T (gossip_sign_msg_verify (a.pk, &zero, &m) && !gossip_sign_msg_verify (a.pk, &b.id, &m));

    if (verbose)
        printf (" * %d record fields and %d message fields tampered: all refused; forged-as-other refused\n",
                tampered, msg_tampered);
    return rc;
}
