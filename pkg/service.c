/*  =========================================================================
    pkg_service - the agent's package service (see service.h).
    ========================================================================= */
#include "pkg/service.h"
#include "pkg/bits.h"
#include "pkg/catalog.h"
#include "pkg/file.h"
#include "pkg/swarm.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/selftest.h"
#include "gossip/transport.h"
#include "scheduler/digest.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdatomic.h>

#define S_PEERS_MAX   128      //  peers on the package plane (remote input: bounded)
#define S_METAREQ_MAX 8        //  PKG_META_REQs in flight
#define S_METAREQ_MS  10000    //  ... each given up after this
#define S_REFUSED_MAX 256      //  digests refused lately, not asked for again ...
#define S_REFUSED_MS  600000   //  ... for ten minutes
#define S_INDEX_MS    120000   //  PKG_INDEX refresh (a change and a newcomer get one at once)
#define S_RELOAD_MS   250      //  catalog poll (data_version)
//  Idle connections are closed after S_IDLE_MS (looked for every
//  S_PRUNE_MS): before TCP keepalive would probe them (10 s in, 15 s out:
//  gossip/transport.c), so an idle mesh puts no package-plane packet on
//  the air.
#define S_PRUNE_MS 2000
#define S_IDLE_MS  8000
#define S_SAVE_MS  250   //  bitmap checkpoint while fetching
#define S_HAVE_MS  100   //  PKG_HAVE at most this often per package
//  Uploads at once (pkg_swarm's model: S_SIM_UPLOADS), and requests queued
//  beyond them (S_SIM_QUEUE): a longer queue keeps requests waiting behind
//  a busy box while another idles.  An upload counts as under way until
//  the peer's next request (or cancel), at most S_UPLOAD_MS.
#define S_UPLOADS    8
#define S_UPQ_TOTAL  1
#define S_UPLOAD_MS  2000
#define S_RECV_BATCH 256   //  messages read per readable call
#define S_RATE_BURST (4.0 * 1024 * 1024)

enum { S_F_HELD = 1, S_F_PARTIAL = 2, S_F_FETCHING = 4 };
enum { S_WHY_BUSY = 1, S_WHY_NOT_HELD = 2, S_WHY_UNKNOWN = 3 };
enum { S_REJ_HASH = 0, S_REJ_UNSOLICITED, S_REJ_SIZE, S_REJ_COUNT };
static const char *s_rej_names[S_REJ_COUNT] = {"bad_hash", "unsolicited", "bad_size"};

typedef struct {
    bool used;
    mw_id_t id;
    char hex[MW_ID_HEX_LEN + 1];
    char addr[MW_ADDR_MAX + 1];
    uint64_t seen_ms;   //  last update_peers that listed it
    uint64_t inc;       //  its incarnation then: a restart (or a refuted suspicion) moves it
    //  Our index to this peer alone, when it is new or back under a new
    //  incarnation: at index_at, index_left more times (see s_peer_set).
    uint64_t index_at;
    int index_left;
    //  A piece sent to it is on its way until it sends us its next
    //  request (that comes after the piece: one request per peer) or
    //  S_UPLOAD_MS pass.  A box that gets a piece says so at once with a
    //  cancel for it (s_on_piece: "done with this request"), so the slot
    //  frees one round trip after the piece is in; not any message: its
    //  PKG_HAVEs and indexes flow meanwhile and would free it early.  At
    //  most one piece per peer in our queues, and the uploads under way are
    //  the peers with one.
    uint64_t upload_until_ms;
} s_peer_t;

typedef struct {
    uint8_t id[32];
    char hex[65];
    pkg_meta_t meta;
    pkg_state_t state;
    bool want, local;
    uint8_t bitmap[PKG_PIECES_MAX / 8];
    uint32_t have;
    uint8_t *pieces;   //  the signed piece digests (while fetching)
    int fd;            //  the data file, opened when first needed
    pkg_swarm_t *swarm;
    uint32_t *sent;   //  uploads per piece (super-seeding)
    //  Super-seeding refusals (peer slot << 32 | piece), the last few: a
    //  peer that asks again for a piece it was refused is served - once
    //  every box holds everything, nobody else would ever send it (a box
    //  repairing damaged pieces, a late joiner).
    uint64_t refused[16];
    uint32_t n_refused;
    uint8_t peer_flags[S_PEERS_MAX];
    bool have_dirty;   //  bitmap changed since the last PKG_HAVE
    uint64_t have_sent_ms;
    bool save_dirty;   //  since the last checkpoint
    uint64_t saved_ms;
    bool finishing;
    uint32_t sources;
    uint64_t fetch_start_ms, fetched_bytes;
    bool seen;   //  reload bookkeeping
} s_pkg_t;

typedef struct {
    uint8_t id[32];
    int peer;
    uint64_t sent_ms;
} s_metareq_t;

typedef struct {
    uint8_t id[32];
    uint64_t until_ms;
} s_refused_t;

//  Work for the worker thread: checkpoints and finishing.
typedef struct s_task_s {
    int kind;   //  0 save, 1 finish, 2 sources (in `have`)
    uint8_t id[32];
    uint8_t bitmap[PKG_PIECES_MAX / 8];
    uint32_t have;
    struct s_task_s *next;
} s_task_t;

struct _pkg_service_t {
    pkg_service_opts_t o;
    char state_dir[512];
    pkg_catalog_t *cat;
    pkg_keyring_t *ring;
    gossip_replay_t *replay;
    gossip_transport_t *transport;
    s_peer_t peers[S_PEERS_MAX];
    s_pkg_t **pkgs;
    size_t n_pkgs, cap_pkgs;
    s_metareq_t metareqs[S_METAREQ_MAX];
    s_refused_t refused[S_REFUSED_MAX];
    size_t refused_next;
    pkg_upq_t *upq;
    pkg_rate_t rate;
    pkg_swarm_cfg_t swarm_cfg;
    int64_t data_version;
    int64_t refusal_id;
    uint64_t next_reload_ms, next_index_ms, next_prune_ms;
    uint64_t peer_index_ms;   //  earliest index_at of a peer (UINT64_MAX: none)
    bool started;             //  first reload done (no events for what was there)
    bool test_corrupt;
    uint64_t rng;
    uint8_t *buf;   //  one piece, for serving
    //  Worker.
    pthread_t worker;
    bool worker_up;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    s_task_t *tasks, *tasks_tail;
    bool stop;
    zsock_t *pipe_loop, *pipe_worker;
    //  Counters.
    uint64_t bytes_served, bytes_fetched, pieces_served, pieces_fetched;
    uint64_t rejected[S_REJ_COUNT];
    uint64_t refused_by[PKG_REFUSE_COUNT];
    uint64_t req_refused[4];
    uint64_t dropped_unknown_sender;
};

static void s_index_soon (pkg_service_t *self, uint64_t now);

// --------------------------------------------------------------------------
// Events

static void
s_event (pkg_service_t *self, const char *name, const pkg_meta_t *m, const char *reason, const char *peer,
         int64_t pieces, int64_t bytes, double seconds)
{
    if (!self->o.events)
        return;
    char digest[72] = "";
    static const uint8_t zero[32];
    if (m && memcmp (m->manifest, zero, 32) != 0)
        pkg_digest_str (m->manifest, digest);
    node_event_t ev;
    node_event_init (&ev, "pkg", name, self->o.ident->id_hex);
    node_event_str (&ev, "name", m ? m->name : "");
    node_event_str (&ev, "version", m ? m->version : "");
    node_event_str (&ev, "digest", digest);
    node_event_str (&ev, "reason", reason ? reason : "");
    node_event_str (&ev, "peer", peer);
    node_event_int (&ev, "pieces", pieces);
    node_event_int (&ev, "bytes", bytes);
    node_event_num (&ev, "seconds", seconds, 3);
    node_events_publish (self->o.events, &ev);
}

// --------------------------------------------------------------------------
// The worker thread: fdatasync + bitmap commits, and finishing.

static void
s_post_task (pkg_service_t *self, const s_task_t *t)
{
    s_task_t *copy = malloc (sizeof *copy);
    if (!copy) {
        mw_error ("pkg_worker_oom", "id=%.12s", "-");
        return;
    }
    *copy = *t;
    copy->next = NULL;
    pthread_mutex_lock (&self->mu);
    if (self->tasks_tail)
        self->tasks_tail->next = copy;
    else
        self->tasks = copy;
    self->tasks_tail = copy;
    pthread_cond_signal (&self->cv);
    pthread_mutex_unlock (&self->mu);
}

static void *
s_worker (void *arg)
{
    pkg_service_t *self = arg;
    char err[600];
    pkg_catalog_t *cat = pkg_catalog_open (self->state_dir, err, sizeof err);
    if (!cat)
        mw_error ("pkg_worker_catalog", "reason=\"%s\"", err);
    while (true) {
        pthread_mutex_lock (&self->mu);
        while (!self->tasks && !self->stop)
            pthread_cond_wait (&self->cv, &self->mu);
        s_task_t *t = self->tasks;
        if (t) {
            self->tasks = t->next;
            if (!self->tasks)
                self->tasks_tail = NULL;
        }
        bool stop = self->stop && !t;
        pthread_mutex_unlock (&self->mu);
        if (stop)
            break;
        if (!cat) {
            free (t);
            continue;
        }
        if (t->kind == 2) {
            pkg_catalog_set_sources (cat, t->id, t->have);
            free (t);
            continue;
        }
        //  The data reaches the disk before the bitmap that claims it.
        int fd = pkg_catalog_data_open (cat, t->id, false, 0);
        if (fd >= 0) {
            fdatasync (fd);
            close (fd);
        }
        char hex[65];
        pkg_hex (t->id, 32, hex);
        if (pkg_catalog_save_bitmap (cat, t->id, t->bitmap, t->have) != 0)
            mw_warn ("pkg_save_failed", "package=%.16s", hex);
        if (t->kind == 1) {
            pkg_refuse_t r = pkg_catalog_finish (cat, t->id, err, sizeof err);
            if (r != PKG_OK) {
                pkg_catalog_set_state (cat, t->id, PKG_STATE_CORRUPT, err);
            }
            zsock_send (self->pipe_worker, "sis", hex, (int) r, r == PKG_OK ? "" : err);
        }
        free (t);
    }
    pkg_catalog_destroy (&cat);
    return NULL;
}

// --------------------------------------------------------------------------
// Peers

static int
s_peer_find (pkg_service_t *self, const mw_id_t *id)
{
    for (int i = 0; i < S_PEERS_MAX; i++)
        if (self->peers[i].used && mw_id_eq (&self->peers[i].id, id))
            return i;
    return -1;
}

static void
s_peer_drop (pkg_service_t *self, int slot)
{
    s_peer_t *p = &self->peers[slot];
    for (size_t k = 0; k < self->n_pkgs; k++) {
        s_pkg_t *pk = self->pkgs[k];
        pk->peer_flags[slot] = 0;
        if (pk->swarm)
            pkg_swarm_peer_gone (pk->swarm, (uint32_t) slot);
    }
    pkg_upq_drop_peer (self->upq, (uint32_t) slot);
    gossip_transport_peer_remove (self->transport, p->addr);
    gossip_replay_forget (self->replay, &p->id);
    memset (p, 0, sizeof *p);
}

//  Add or refresh a peer (from the membership view, or a test) at
//  incarnation `inc`.
static int
s_peer_set (pkg_service_t *self, const mw_id_t *id, const char *addr, uint64_t inc, uint64_t now)
{
    int slot = s_peer_find (self, id);
    if (slot >= 0 && strcmp (self->peers[slot].addr, addr) != 0)
        s_peer_drop (self, slot), slot = -1;   //  moved: a new connection
    if (slot < 0)
        for (int i = 0; i < S_PEERS_MAX && slot < 0; i++)
            if (!self->peers[i].used)
                slot = i;
    if (slot < 0)
        return -1;
    s_peer_t *p = &self->peers[slot];
    bool fresh = !p->used;
    if (!p->used) {
        //  The only addresses this plane ever sends to: the members'.
        if (gossip_transport_peer_add (self->transport, addr, id, 0) != 0)
            return -1;
        p->used = true;
        p->id = *id;
        gossip_wire_id_hex (id, p->hex);
        snprintf (p->addr, sizeof p->addr, "%s", addr);
    }
    if (fresh || inc != p->inc) {
        //  A newcomer, or a peer back under a new incarnation: restarted
        //  (its catalog may want what we hold, and it has forgotten our
        //  index) or cleared of a suspicion (it may have missed one).  The
        //  refresh is only every S_INDEX_MS: our index to it alone now, and
        //  again 2 s and 6 s later: the first copy may leave before our new
        //  connection is up, or meet our connection to its old process,
        //  which ZeroMQ replaces within a second (reconnect backoff <= 1 s).
        p->index_at = now + 20;
        p->index_left = 3;
        if (p->index_at < self->peer_index_ms)
            self->peer_index_ms = p->index_at;
    }
    p->inc = inc;
    p->seen_ms = now;
    return slot;
}

void
pkg_service_update_peers (pkg_service_t *self, gossip_member_t *members, uint64_t now_ms)
{
    size_t n = gossip_member_size (members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    if (!list)
        return;
    n = gossip_member_list (members, list, n);
    for (size_t i = 0; i < n; i++) {
        gossip_member_info_t *m = &list[i];
        sched_digest_t d;
        if (m->is_self || m->state != MW_STATE_ALIVE || !m->digest_len
            || sched_digest_decode (m->digest, m->digest_len, &d) != 0 || !d.pkg_port)
            continue;
        const char *c = strrchr (m->addr, ':');
        if (!c)
            continue;
        char addr[MW_ADDR_MAX + 1];
        if (snprintf (addr, sizeof addr, "%.*s:%u", (int) (c - m->addr), m->addr, d.pkg_port)
            >= (int) sizeof addr)
            continue;
        s_peer_set (self, &m->id, addr, m->incarnation, now_ms);
    }
    free (list);
    //  Not listed this time (dead, left, suspected, no port): gone.
    for (int i = 0; i < S_PEERS_MAX; i++)
        if (self->peers[i].used && self->peers[i].seen_ms != now_ms)
            s_peer_drop (self, i);
}

// --------------------------------------------------------------------------
// Packages in memory

static s_pkg_t *
s_pkg_find (pkg_service_t *self, const uint8_t id[32])
{
    for (size_t i = 0; i < self->n_pkgs; i++)
        if (memcmp (self->pkgs[i]->id, id, 32) == 0)
            return self->pkgs[i];
    return NULL;
}

static uint32_t
s_pkg_index (pkg_service_t *self, const s_pkg_t *p)
{
    for (size_t i = 0; i < self->n_pkgs; i++)
        if (self->pkgs[i] == p)
            return (uint32_t) i;
    return UINT32_MAX;
}

static void
s_pkg_free (s_pkg_t *p)
{
    if (p->fd >= 0)
        close (p->fd);
    pkg_swarm_destroy (&p->swarm);
    free (p->pieces);
    free (p->sent);
    free (p);
}

static int
s_pkg_fd (pkg_service_t *self, s_pkg_t *p, bool create)
{
    if (p->fd < 0)
        p->fd = pkg_catalog_data_open (self->cat, p->id, create, p->meta.size);
    return p->fd;
}

static uint8_t
s_flags (const s_pkg_t *p)
{
    uint8_t f = 0;
    if (p->state == PKG_STATE_COMPLETE)
        f |= S_F_HELD;
    else if (p->have > 0)
        f |= S_F_PARTIAL;
    if (p->want && p->state != PKG_STATE_COMPLETE)
        f |= S_F_FETCHING;
    return f;
}

//  Tell a fetching package's swarm what a peer holds, from its index flags.
static void
s_swarm_peer_from_flags (s_pkg_t *p, int slot)
{
    if (p->swarm && (p->peer_flags[slot] & S_F_HELD))
        pkg_swarm_peer_bitmap (p->swarm, (uint32_t) slot, NULL, true);
}

//  Find pieces written but never recorded (the agent died between a write
//  and its checkpoint): only ranges the file system says hold data are
//  read and hashed, so a fresh (sparse) file costs nothing.
static uint32_t
s_recover (s_pkg_t *p, uint8_t *buf)
{
    uint32_t found = 0;
    for (uint32_t i = 0; i < p->meta.piece_count; i++) {
        if (pkg_bit_get (p->bitmap, i))
            continue;
        uint64_t off = (uint64_t) i * p->meta.piece_size;
        uint32_t len = pkg_meta_piece_len (&p->meta, i);
        off_t data = lseek (p->fd, (off_t) off, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;   //  no data from here to the end
        if (data >= 0 && (uint64_t) data >= off + len)
            continue;   //  a hole
        uint8_t h[32];
        if (pkg_file_pread (p->fd, buf, len, off) != 0)
            continue;
        pkg_sha256 (buf, len, h);
        if (memcmp (h, p->pieces + (size_t) i * 32, 32) == 0) {
            pkg_bit_set (p->bitmap, i, true);
            p->have++;
            found++;
        }
    }
    return found;
}

static void s_save (pkg_service_t *self, s_pkg_t *p, uint64_t now);

static void
s_fetch_start (pkg_service_t *self, s_pkg_t *p, uint64_t now)
{
    char err[300];
    //  Metadata that expired since it was accepted is not trusted any more
    //  (freeze): the publisher re-signs it (a higher seq, a new expiry).
    if (p->meta.expires <= (uint64_t) time (NULL)) {
        snprintf (err, sizeof err, "the signed metadata expired; the publisher must sign it again");
        mw_warn ("pkg_refused", "package=%s@%s reason=expired detail=\"%s\"", p->meta.name, p->meta.version,
                 err);
        self->refused_by[PKG_REFUSE_EXPIRED]++;
        s_event (self, "refused", &p->meta, "expired", NULL, 0, 0, 0);
        pkg_catalog_set_state (self->cat, p->id, PKG_STATE_AVAILABLE, err);
        pkg_catalog_set_want (self->cat, p->id, false);
        p->want = false;
        p->state = PKG_STATE_AVAILABLE;
        return;
    }
    pkg_parts_t parts;
    if (pkg_catalog_parts (self->cat, p->id, &parts) != 0) {
        mw_warn ("pkg_fetch_failed", "package=%s@%s reason=\"no parts in the catalog\"", p->meta.name,
                 p->meta.version);
        return;
    }
    free (p->pieces);
    p->pieces = (uint8_t *) parts.pieces;
    parts.pieces = NULL;
    pkg_catalog_parts_free (&parts);
    if (s_pkg_fd (self, p, true) < 0) {
        snprintf (err, sizeof err, "cannot open the data file: %s", strerror (errno));
        mw_warn ("pkg_fetch_failed", "package=%s@%s reason=\"%s\"", p->meta.name, p->meta.version, err);
        pkg_catalog_set_state (self->cat, p->id, PKG_STATE_FETCHING, err);
        return;
    }
    uint32_t recovered = s_recover (p, self->buf);
    p->swarm = pkg_swarm_new (&self->swarm_cfg, p->meta.piece_count, p->bitmap, mw_splitmix64 (&self->rng));
    if (!p->swarm)
        return;
    for (int i = 0; i < S_PEERS_MAX; i++)
        if (self->peers[i].used)
            s_swarm_peer_from_flags (p, i);
    p->fetch_start_ms = now;
    p->fetched_bytes = 0;
    p->have_dirty = true;
    if (recovered) {
        mw_info ("pkg_pieces_recovered", "package=%s@%s pieces=%u", p->meta.name, p->meta.version, recovered);
        s_save (self, p, now);
    }
    mw_info ("pkg_fetch_started", "package=%s@%s have=%u pieces=%u", p->meta.name, p->meta.version, p->have,
             p->meta.piece_count);
    s_event (self, "fetch_started", &p->meta, "", NULL, p->meta.piece_count - p->have, (int64_t) p->meta.size,
             0);
    s_index_soon (self, now);
}

static void
s_fetch_stop (pkg_service_t *self, s_pkg_t *p)
{
    if (!p->swarm)
        return;
    (void) self;
    pkg_swarm_destroy (&p->swarm);
}

//  The catalog changed (a CLI publish, fetch wish, rm; or our own worker):
//  bring the packages in memory up to date.  The in-memory bitmap of a
//  download in progress is ahead of the catalog's and is kept.
static void
s_reload (pkg_service_t *self, uint64_t now)
{
    pkg_entry_t *list = NULL;
    size_t n = 0;
    if (pkg_catalog_list (self->cat, &list, &n) != 0)
        return;
    for (size_t k = 0; k < self->n_pkgs; k++)
        self->pkgs[k]->seen = false;
    for (size_t i = 0; i < n; i++) {
        pkg_entry_t *e = &list[i];
        s_pkg_t *p = s_pkg_find (self, e->meta.manifest);
        if (!p) {
            if (self->n_pkgs == self->cap_pkgs) {
                size_t cap = self->cap_pkgs ? self->cap_pkgs * 2 : 16;
                s_pkg_t **more = realloc (self->pkgs, cap * sizeof *more);
                if (!more)
                    break;
                self->pkgs = more;
                self->cap_pkgs = cap;
            }
            p = calloc (1, sizeof *p);
            if (!p)
                break;
            memcpy (p->id, e->meta.manifest, 32);
            pkg_hex (p->id, 32, p->hex);
            p->fd = -1;
            p->meta = e->meta;
            p->state = e->state;
            p->local = e->local;
            memcpy (p->bitmap, e->bitmap, sizeof p->bitmap);
            p->have = e->have;
            self->pkgs[self->n_pkgs++] = p;
            if (self->started && e->local && e->state == PKG_STATE_COMPLETE) {
                mw_info ("pkg_published", "package=%s@%s pieces=%u", e->meta.name, e->meta.version,
                         e->meta.piece_count);
                s_event (self, "published", &e->meta, "", NULL, e->meta.piece_count, (int64_t) e->meta.size,
                         0);
            }
            s_index_soon (self, now);
        }
        p->seen = true;
        p->meta = e->meta;   //  re-signed metadata: new seq and expiry
        if (e->state == PKG_STATE_COMPLETE && p->state != PKG_STATE_COMPLETE && !p->finishing) {
            //  Published here meanwhile (a complete copy): stop fetching.
            s_fetch_stop (self, p);
            memcpy (p->bitmap, e->bitmap, sizeof p->bitmap);
            p->have = e->have;
            if (p->fd >= 0) {
                close (p->fd);   //  the file was replaced
                p->fd = -1;
            }
            s_index_soon (self, now);
        }
        if (!p->swarm && !p->finishing) {
            p->state = e->state;
            memcpy (p->bitmap, e->bitmap, sizeof p->bitmap);
            p->have = e->have;
        }
        if (p->want != e->want || p->local != e->local)
            s_index_soon (self, now);
        p->want = e->want;
        p->local = e->local;
        if (p->want && p->state != PKG_STATE_COMPLETE && !p->swarm && !p->finishing) {
            p->state = PKG_STATE_FETCHING;
            s_fetch_start (self, p, now);
        }
        if (!p->want && p->swarm && !p->finishing) {
            s_save (self, p, now);
            s_fetch_stop (self, p);
        }
    }
    //  Gone from the catalog (pkg rm): forget it here too.
    for (size_t k = 0; k < self->n_pkgs;) {
        s_pkg_t *p = self->pkgs[k];
        if (p->seen || p->finishing) {
            k++;
            continue;
        }
        pkg_upq_drop_pkg (self->upq, (uint32_t) k);
        s_pkg_free (p);
        self->pkgs[k] = self->pkgs[--self->n_pkgs];
        //  upq items name packages by index: the moved one's are dropped
        //  too (their requesters time out and ask again).
        pkg_upq_drop_pkg (self->upq, (uint32_t) self->n_pkgs);
        s_index_soon (self, now);
    }
    free (list);
}

//  Refusals the CLI noted (publish): reported as events like ours.
static void
s_cli_refusal (void *ctx, const char *name, const char *version, const char *reason, const char *detail,
               const char *source)
{
    pkg_service_t *self = ctx;
    pkg_meta_t m;
    memset (&m, 0, sizeof m);
    snprintf (m.name, sizeof m.name, "%s", name);
    snprintf (m.version, sizeof m.version, "%s", version);
    mw_warn ("pkg_refused", "package=%s@%s reason=%s source=%s detail=\"%s\"", name, version, reason, source,
             detail);
    if (self->started)
        s_event (self, "refused", &m, reason, NULL, 0, 0, 0);
}

// --------------------------------------------------------------------------
// Sending

static int
s_send (pkg_service_t *self, int slot, mw_msg_t *m)
{
    if (slot < 0 || !self->peers[slot].used)
        return -1;
    return gossip_transport_send (self->transport, self->peers[slot].addr, m);
}

static void
s_send_refuse (pkg_service_t *self, int slot, const uint8_t id[32], uint32_t piece, int why)
{
    mw_msg_t m = {.type = MW_MSG_PKG_REFUSE, .piece = piece, .pkg_why = (uint8_t) why};
    memcpy (m.pkg, id, 32);
    self->req_refused[why]++;
    s_send (self, slot, &m);
}

static void
s_send_req (pkg_service_t *self, int slot, const uint8_t id[32], uint32_t piece, bool cancel)
{
    mw_msg_t m = {.type = MW_MSG_PKG_REQ, .piece = piece, .pkg_cancel = cancel};
    memcpy (m.pkg, id, 32);
    s_send (self, slot, &m);
}

static void
s_index_soon (pkg_service_t *self, uint64_t now)
{
    if (self->next_index_ms > now + 20)
        self->next_index_ms = now + 20;   //  a short debounce: one index for a burst of changes
}

//  PKG_INDEX to every peer.
//  Our index to one peer (`slot` >= 0) or to all of them (-1); the latter
//  restarts the refresh period.
static void
s_send_index_to (pkg_service_t *self, int slot, uint64_t now)
{
    size_t n = self->n_pkgs < MW_PKG_INDEX_MAX ? self->n_pkgs : MW_PKG_INDEX_MAX;
    uint8_t *entries = malloc (n * MW_PKG_INDEX_ENTRY + 1);
    if (!entries)
        return;
    for (size_t i = 0; i < n; i++) {
        const s_pkg_t *p = self->pkgs[i];
        uint8_t *e = entries + i * MW_PKG_INDEX_ENTRY;
        memcpy (e, p->id, 32);
        for (int b = 0; b < 8; b++)
            e[32 + b] = (uint8_t) (p->meta.seq >> (56 - 8 * b));
        e[40] = s_flags (p);
    }
    mw_msg_t m = {.type = MW_MSG_PKG_INDEX,
                  .pkg_entries = entries,
                  .pkg_entries_len = (uint32_t) (n * MW_PKG_INDEX_ENTRY)};
    for (int i = 0; i < S_PEERS_MAX; i++)
        if (self->peers[i].used && (slot < 0 || slot == i))
            s_send (self, i, &m);
    free (entries);
    if (slot >= 0)
        return;
    //  Jitter, so that boxes started together do not index in step.
    self->next_index_ms = now + S_INDEX_MS - 200 + mw_splitmix64 (&self->rng) % 400;
}

static void
s_send_index (pkg_service_t *self, uint64_t now)
{
    s_send_index_to (self, -1, now);
}

//  The per-peer indexes that are due (s_peer_set), and when the next is.
static void
s_peer_indexes (pkg_service_t *self, uint64_t now)
{
    static const uint64_t again_ms[] = {6000, 2000};   //  by index_left after this one
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < S_PEERS_MAX; i++) {
        s_peer_t *p = &self->peers[i];
        if (!p->used || p->index_left <= 0)
            continue;
        if (now >= p->index_at) {
            s_send_index_to (self, i, now);
            p->index_left--;
            if (p->index_left > 0)
                p->index_at = now + again_ms[p->index_left - 1];
        }
        if (p->index_left > 0 && p->index_at < next)
            next = p->index_at;
    }
    self->peer_index_ms = next;
}

//  Sources of p for `pkg list`: while fetching, the peers the swarm knows
//  to hold pieces; otherwise (complete, or not wanted) the peers whose
//  index says they hold it whole or in part - a complete package still
//  shows where else it lives.
static uint32_t
s_sources (pkg_service_t *self, s_pkg_t *p)
{
    if (p->swarm && !p->finishing)
        return pkg_swarm_sources (p->swarm);
    uint32_t n = 0;
    for (int i = 0; i < S_PEERS_MAX; i++)
        n += self->peers[i].used && (p->peer_flags[i] & (S_F_HELD | S_F_PARTIAL));
    return n;
}

//  Our bitmap of p to the peers fetching it.
static void
s_send_have (pkg_service_t *self, s_pkg_t *p, uint64_t now)
{
    mw_msg_t m = {.type = MW_MSG_PKG_HAVE,
                  .pkg_have = p->have,
                  .pkg_bitmap = p->bitmap,
                  .pkg_bitmap_len = (uint32_t) PKG_BITS_BYTES (p->meta.piece_count)};
    memcpy (m.pkg, p->id, 32);
    for (int i = 0; i < S_PEERS_MAX; i++)
        if (self->peers[i].used && (p->peer_flags[i] & S_F_FETCHING))
            s_send (self, i, &m);
    p->have_dirty = false;
    p->have_sent_ms = now;
}

static void
s_save (pkg_service_t *self, s_pkg_t *p, uint64_t now)
{
    s_task_t t = {.kind = 0, .have = p->have};
    memcpy (t.id, p->id, 32);
    memcpy (t.bitmap, p->bitmap, sizeof t.bitmap);
    s_post_task (self, &t);
    p->save_dirty = false;
    p->saved_ms = now;
}

// --------------------------------------------------------------------------
// Messages

static bool
s_refused_recently (pkg_service_t *self, const uint8_t id[32], uint64_t now)
{
    for (size_t i = 0; i < S_REFUSED_MAX; i++)
        if (self->refused[i].until_ms > now && memcmp (self->refused[i].id, id, 32) == 0)
            return true;
    return false;
}

static void
s_meta_request (pkg_service_t *self, int slot, const uint8_t id[32], uint64_t now)
{
    int free_slot = -1;
    for (int i = 0; i < S_METAREQ_MAX; i++) {
        s_metareq_t *r = &self->metareqs[i];
        if (r->sent_ms && now - r->sent_ms < S_METAREQ_MS) {
            if (memcmp (r->id, id, 32) == 0)
                return;   //  asked already
        }
        else if (free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0 || s_refused_recently (self, id, now))
        return;
    s_metareq_t *r = &self->metareqs[free_slot];
    memcpy (r->id, id, 32);
    r->peer = slot;
    r->sent_ms = now;
    mw_msg_t m = {.type = MW_MSG_PKG_META_REQ};
    memcpy (m.pkg, id, 32);
    s_send (self, slot, &m);
}

int
pkg_service_index_parse (const uint8_t *data, size_t len, pkg_index_entry_fn *fn, void *ctx)
{
    if (len % MW_PKG_INDEX_ENTRY != 0 || len / MW_PKG_INDEX_ENTRY > MW_PKG_INDEX_MAX || (len && !data))
        return -1;
    for (size_t i = 0; i < len / MW_PKG_INDEX_ENTRY; i++) {
        const uint8_t *e = data + i * MW_PKG_INDEX_ENTRY;
        uint64_t seq = 0;
        for (int b = 0; b < 8; b++)
            seq = seq << 8 | e[32 + b];
        fn (ctx, e, seq, e[40] & (S_F_HELD | S_F_PARTIAL | S_F_FETCHING));
    }
    return 0;
}

typedef struct {
    pkg_service_t *self;
    int slot;
    uint64_t now;
} s_index_ctx_t;

static void
s_on_index_entry (void *ctx, const uint8_t e[32], uint64_t seq, uint8_t flags)
{
    s_index_ctx_t *c = ctx;
    pkg_service_t *self = c->self;
    int slot = c->slot;
    uint64_t now = c->now;
    {
        s_pkg_t *p = s_pkg_find (self, e);
        if (!p || seq > p->meta.seq) {
            s_meta_request (self, slot, e, now);
            if (!p)
                return;
        }
        p->seen = true;
        uint8_t was = p->peer_flags[slot];
        p->peer_flags[slot] = flags;
        if ((flags & S_F_HELD) && !(was & S_F_HELD))
            s_swarm_peer_from_flags (p, slot);
        else if (p->swarm && (flags & S_F_HELD))
            pkg_swarm_peer_bitmap (p->swarm, (uint32_t) slot, NULL,
                                   true);   //  refresh (super-seeding cleared bits)
        //  It fetches what we partly hold: it needs our bitmap.
        if ((flags & S_F_FETCHING) && !(was & S_F_FETCHING) && p->have > 0 && p->state != PKG_STATE_COMPLETE)
            p->have_dirty = true;
    }
}

static void
s_on_index (pkg_service_t *self, int slot, const mw_msg_t *m, uint64_t now)
{
    //  Entries this index does not list any more are no longer the peer's.
    for (size_t k = 0; k < self->n_pkgs; k++)
        self->pkgs[k]->seen = false;
    s_index_ctx_t ctx = {self, slot, now};
    if (pkg_service_index_parse (m->pkg_entries, m->pkg_entries_len, s_on_index_entry, &ctx) != 0)
        return;
    for (size_t k = 0; k < self->n_pkgs; k++) {
        s_pkg_t *p = self->pkgs[k];
        if (!p->seen && p->peer_flags[slot]) {
            p->peer_flags[slot] = 0;
            if (p->swarm)
                pkg_swarm_peer_gone (p->swarm, (uint32_t) slot);
        }
    }
}

static void
s_on_meta_req (pkg_service_t *self, int slot, const mw_msg_t *m)
{
    pkg_parts_t parts;
    if (!s_pkg_find (self, m->pkg) || pkg_catalog_parts (self->cat, m->pkg, &parts) != 0)
        return;
    mw_msg_t r = {.type = MW_MSG_PKG_META,
                  .pkg_meta = (uint8_t *) parts.meta,
                  .pkg_meta_len = (uint32_t) parts.meta_len,
                  .pkg_sig = (uint8_t *) parts.sig,
                  .pkg_sig_len = (uint32_t) parts.sig_len,
                  .pkg_manifest = (uint8_t *) parts.manifest,
                  .pkg_manifest_len = (uint32_t) parts.manifest_len,
                  .pkg_config = (uint8_t *) parts.config,
                  .pkg_config_len = (uint32_t) parts.config_len,
                  .pkg_pieces = (uint8_t *) parts.pieces,
                  .pkg_pieces_len = (uint32_t) parts.pieces_len};
    memcpy (r.pkg, m->pkg, 32);
    s_send (self, slot, &r);
    pkg_catalog_parts_free (&parts);
}

static void
s_on_meta (pkg_service_t *self, int slot, const mw_msg_t *m, uint64_t now)
{
    //  Only what we asked for: a peer cannot fill the catalog unasked.
    s_metareq_t *req = NULL;
    for (int i = 0; i < S_METAREQ_MAX; i++)
        if (self->metareqs[i].sent_ms && memcmp (self->metareqs[i].id, m->pkg, 32) == 0)
            req = &self->metareqs[i];
    if (!req)
        return;
    req->sent_ms = 0;
    pkg_parts_t parts = {(const char *) m->pkg_meta,
                         m->pkg_meta_len,
                         m->pkg_sig_len ? (const char *) m->pkg_sig : NULL,
                         m->pkg_sig_len,
                         (const char *) m->pkg_manifest,
                         m->pkg_manifest_len,
                         (const char *) m->pkg_config,
                         m->pkg_config_len,
                         m->pkg_pieces,
                         m->pkg_pieces_len};
    pkg_accept_t how;
    pkg_meta_t meta;
    memset (&meta, 0, sizeof meta);
    char detail[600] = "";
    pkg_refuse_t r = PKG_OK;
    //  The metadata must name the package asked for, before anything is
    //  stored (a peer answering with another package's parts).
    pkg_meta_t named;
    char why[300];
    if (pkg_meta_decode (parts.meta, parts.meta_len, &named, why, sizeof why) == 0
        && memcmp (named.manifest, m->pkg, 32) != 0) {
        meta = named;
        snprintf (detail, sizeof detail, "the metadata names another package than the one asked for");
        r = PKG_REFUSE_TAMPERED_MANIFEST;
    }
    if (r == PKG_OK)
        r = pkg_catalog_accept (self->cat, self->ring, &parts, (uint64_t) time (NULL), self->o.max_packages,
                                false, &how, &meta, detail, sizeof detail);
    if (r != PKG_OK) {
        self->refused_by[r]++;
        s_refused_t *x = &self->refused[self->refused_next++ % S_REFUSED_MAX];
        memcpy (x->id, m->pkg, 32);
        x->until_ms = now + S_REFUSED_MS;
        mw_warn ("pkg_refused", "package=%s@%s reason=%s peer=%s detail=\"%s\"", meta.name, meta.version,
                 pkg_refuse_name (r), self->peers[slot].hex, detail);
        pkg_catalog_note_refusal (self->cat, meta.name, meta.version, r, detail, self->peers[slot].hex);
        //  Our own note: reported here, not again by the reload.
        int64_t last = self->refusal_id;
        pkg_catalog_refusals (self->cat, self->refusal_id, NULL, NULL, &last);
        self->refusal_id = last;
        s_event (self, "refused", meta.name[0] ? &meta : NULL, pkg_refuse_name (r), self->peers[slot].hex, 0,
                 0, 0);
        return;
    }
    if (how != PKG_ACCEPT_KNOWN) {
        mw_info ("pkg_learned", "package=%s@%s seq=%" PRIu64 " from=%s", meta.name, meta.version, meta.seq,
                 self->peers[slot].hex);
        s_reload (self, now);
        self->data_version = pkg_catalog_data_version (self->cat);
        s_pkg_t *p = s_pkg_find (self, m->pkg);
        //  What the peer announced before we knew the package.
        if (p && !p->peer_flags[slot])
            p->peer_flags[slot] = S_F_HELD;   //  it had the parts; its next index corrects the flags
    }
}

static void
s_on_have (pkg_service_t *self, int slot, const mw_msg_t *m)
{
    s_pkg_t *p = s_pkg_find (self, m->pkg);
    if (!p || !p->swarm || m->pkg_bitmap_len != PKG_BITS_BYTES (p->meta.piece_count))
        return;
    pkg_swarm_peer_bitmap (p->swarm, (uint32_t) slot, m->pkg_bitmap, false);
    p->peer_flags[slot] |= S_F_PARTIAL;
}

static void
s_on_req (pkg_service_t *self, int slot, const mw_msg_t *m, uint64_t now)
{
    s_pkg_t *p = s_pkg_find (self, m->pkg);
    if (m->pkg_cancel) {
        if (p)
            pkg_upq_cancel (self->upq, (uint32_t) slot, s_pkg_index (self, p), m->piece);
        return;
    }
    if (!p) {
        s_send_refuse (self, slot, m->pkg, m->piece, S_WHY_UNKNOWN);
        return;
    }
    if (m->piece >= p->meta.piece_count || !pkg_bit_get (p->bitmap, m->piece)) {
        s_send_refuse (self, slot, m->pkg, m->piece, S_WHY_NOT_HELD);
        return;
    }
    if (!p->sent && !(p->sent = calloc (p->meta.piece_count, sizeof *p->sent)))
        return;
    //  Super-seeding while we hold everything: each piece once before any twice.
    if (p->state == PKG_STATE_COMPLETE && pkg_upq_seed_refuses (p->sent, p->meta.piece_count, m->piece)) {
        uint64_t key = (uint64_t) (uint32_t) slot << 32 | m->piece;
        bool again = false;
        for (uint32_t k = 0; k < 16 && !again; k++)
            again = p->refused[k] == key + 1;
        if (!again) {
            p->refused[p->n_refused++ % 16] = key + 1;
            s_send_refuse (self, slot, m->pkg, m->piece, S_WHY_NOT_HELD);
            return;
        }
    }
    pkg_upq_item_t it = {(uint32_t) slot, s_pkg_index (self, p), m->piece, p->sent[m->piece], now};
    if (pkg_upq_push (self->upq, &it) < 0)
        s_send_refuse (self, slot, m->pkg, m->piece, S_WHY_BUSY);
}

static void
s_finish_start (pkg_service_t *self, s_pkg_t *p)
{
    p->finishing = true;
    s_task_t t = {.kind = 1, .have = p->have};
    memcpy (t.id, p->id, 32);
    memcpy (t.bitmap, p->bitmap, sizeof t.bitmap);
    s_post_task (self, &t);
    p->save_dirty = false;
}

static void
s_on_piece (pkg_service_t *self, int slot, const mw_msg_t *m, uint64_t now)
{
    s_pkg_t *p = s_pkg_find (self, m->pkg);
    if (!p || !p->swarm || !pkg_swarm_requested (p->swarm, (uint32_t) slot, m->piece)) {
        self->rejected[S_REJ_UNSOLICITED]++;
        return;
    }
    bool ok = m->pkg_data_len == pkg_meta_piece_len (&p->meta, m->piece);
    if (!ok)
        self->rejected[S_REJ_SIZE]++;
    if (ok) {
        uint8_t h[32];
        pkg_sha256 (m->pkg_data, m->pkg_data_len, h);
        ok = memcmp (h, p->pieces + (size_t) m->piece * 32, 32) == 0;
        if (!ok)
            self->rejected[S_REJ_HASH]++;
    }
    pkg_swarm_req_t cancel[8];
    size_t nc = 0;
    pkg_swarm_got_t g =
        pkg_swarm_got (p->swarm, (uint32_t) slot, m->piece, ok, m->pkg_data_len, now, cancel, 8, &nc);
    //  Done with this request: the sender's upload slot is free now, not
    //  when our next request happens to go its way (a publisher, which no
    //  PKG_HAVE reaches, would otherwise hold it for S_UPLOAD_MS).
    s_send_req (self, slot, p->id, m->piece, true);
    if (g == PKG_SWARM_BAD) {
        mw_warn ("pkg_bad_piece", "package=%s@%s piece=%u peer=%s action=banned", p->meta.name,
                 p->meta.version, m->piece, self->peers[slot].hex);
        s_event (self, "bad_piece", &p->meta, ok ? "" : "hash", self->peers[slot].hex, m->piece,
                 m->pkg_data_len, 0);
        return;
    }
    if (g != PKG_SWARM_NEW)
        return;
    if (pkg_file_pwrite (p->fd, m->pkg_data, m->pkg_data_len, (uint64_t) m->piece * p->meta.piece_size)
        != 0) {
        //  Not written: it is not ours yet (the disk is full?); ask again later.
        mw_error ("pkg_write_failed", "package=%s@%s piece=%u reason=\"%s\"", p->meta.name, p->meta.version,
                  m->piece, strerror (errno));
        pkg_swarm_lost (p->swarm, m->piece);
        return;
    }
    pkg_bit_set (p->bitmap, m->piece, true);
    p->have++;
    p->fetched_bytes += m->pkg_data_len;
    self->bytes_fetched += m->pkg_data_len;
    self->pieces_fetched++;
    p->have_dirty = true;
    p->save_dirty = true;
    if (p->have == 1)
        s_index_soon (self, now);   //  partly held now: others may ask us
    for (size_t c = 0; c < nc; c++)
        s_send_req (self, (int) cancel[c].peer, p->id, cancel[c].piece, true);
    if (pkg_swarm_done (p->swarm)) {
        mw_info ("pkg_pieces_complete", "package=%s@%s seconds=%.3f", p->meta.name, p->meta.version,
                 (double) (now - p->fetch_start_ms) / 1000.0);
        s_send_have (self, p, now);
        s_finish_start (self, p);
    }
}

static void
s_on_refuse (pkg_service_t *self, int slot, const mw_msg_t *m, uint64_t now)
{
    s_pkg_t *p = s_pkg_find (self, m->pkg);
    if (p && p->swarm)
        pkg_swarm_refused (p->swarm, (uint32_t) slot, m->piece, m->pkg_why == S_WHY_BUSY, now);
}

static void
s_dispatch (pkg_service_t *self, const mw_msg_t *m, uint64_t now)
{
    int slot = s_peer_find (self, &m->sender);
    if (slot < 0) {
        //  Only members answer here: a reply never goes to an address a
        //  message names, and nothing grows for strangers.
        self->dropped_unknown_sender++;
        return;
    }
    if (m->type == MW_MSG_PKG_REQ)
        self->peers[slot].upload_until_ms = 0;
    switch (m->type) {
    case MW_MSG_PKG_INDEX: s_on_index (self, slot, m, now); break;
    case MW_MSG_PKG_META_REQ: s_on_meta_req (self, slot, m); break;
    case MW_MSG_PKG_META: s_on_meta (self, slot, m, now); break;
    case MW_MSG_PKG_HAVE: s_on_have (self, slot, m); break;
    case MW_MSG_PKG_REQ: s_on_req (self, slot, m, now); break;
    case MW_MSG_PKG_PIECE: s_on_piece (self, slot, m, now); break;
    case MW_MSG_PKG_REFUSE: s_on_refuse (self, slot, m, now); break;
    default: break;
    }
}

// --------------------------------------------------------------------------
// Uploads

typedef struct {
    pkg_service_t *self;
    int busy;   //  uploads under way
    uint64_t now;
} s_ready_t;

static bool
s_ready (void *ctx, uint32_t peer)
{
    s_ready_t *r = ctx;
    return peer < S_PEERS_MAX && r->self->peers[peer].used && r->self->peers[peer].upload_until_ms <= r->now;
}

static void
s_pump (pkg_service_t *self, uint64_t now)
{
    s_ready_t r = {self, 0, now};
    for (int i = 0; i < S_PEERS_MAX; i++)
        if (self->peers[i].used && self->peers[i].upload_until_ms > now)
            r.busy++;
    pkg_upq_item_t it;
    while (r.busy < S_UPLOADS && pkg_rate_ready (&self->rate, now)
           && pkg_upq_pop (self->upq, s_ready, &r, &it)) {
        if (it.pkg >= self->n_pkgs)
            continue;
        s_pkg_t *p = self->pkgs[it.pkg];
        if (it.piece >= p->meta.piece_count || !pkg_bit_get (p->bitmap, it.piece)
            || s_pkg_fd (self, p, false) < 0)
            continue;
        uint32_t len = pkg_meta_piece_len (&p->meta, it.piece);
        if (pkg_file_pread (p->fd, self->buf, len, (uint64_t) it.piece * p->meta.piece_size) != 0) {
            mw_error ("pkg_read_failed", "package=%s@%s piece=%u reason=\"%s\"", p->meta.name,
                      p->meta.version, it.piece, strerror (errno));
            s_send_refuse (self, (int) it.peer, p->id, it.piece, S_WHY_NOT_HELD);
            continue;
        }
        if (self->test_corrupt)
            self->buf[len / 2] ^= 0x5a;   //  test hook: a box that serves damaged pieces
        mw_msg_t m = {
            .type = MW_MSG_PKG_PIECE, .piece = it.piece, .pkg_data = self->buf, .pkg_data_len = len};
        memcpy (m.pkg, p->id, 32);
        if (s_send (self, (int) it.peer, &m) != 0) {
            //  Dropped (queue full after all): the requester times out
            //  or gets it elsewhere; tell it now rather than in 30 s.
            s_send_refuse (self, (int) it.peer, p->id, it.piece, S_WHY_BUSY);
            continue;
        }
        if (!p->sent && !(p->sent = calloc (p->meta.piece_count, sizeof *p->sent)))
            continue;
        p->sent[it.piece]++;
        self->peers[it.peer].upload_until_ms = now + S_UPLOAD_MS;
        pkg_rate_spend (&self->rate, len);
        self->bytes_served += len;
        self->pieces_served++;
        r.busy++;
    }
}

// --------------------------------------------------------------------------
// The loop service

static void
s_tick (void *ctx, uint64_t now)
{
    pkg_service_t *self = ctx;
    if (now >= self->next_prune_ms) {
        self->next_prune_ms = now + S_PRUNE_MS;
        gossip_transport_prune (self->transport, now, S_IDLE_MS);
    }
    if (now >= self->next_reload_ms) {
        self->next_reload_ms = now + S_RELOAD_MS;
        int64_t v = pkg_catalog_data_version (self->cat);
        if (v != self->data_version || !self->started) {
            self->data_version = v;
            s_reload (self, now);
            int64_t last = self->refusal_id;
            pkg_catalog_refusals (self->cat, self->refusal_id, s_cli_refusal, self, &last);
            self->refusal_id = last;
            self->started = true;
        }
    }
    for (size_t k = 0; k < self->n_pkgs; k++) {
        s_pkg_t *p = self->pkgs[k];
        if (p->swarm && !p->finishing) {
            pkg_swarm_req_t reqs[64];
            size_t n = pkg_swarm_tick (p->swarm, now, reqs, 64);
            for (size_t i = 0; i < n; i++)
                s_send_req (self, (int) reqs[i].peer, p->id, reqs[i].piece, true);
            n = pkg_swarm_next (p->swarm, now, reqs, 64);
            for (size_t i = 0; i < n; i++)
                s_send_req (self, (int) reqs[i].peer, p->id, reqs[i].piece, false);
            if (p->save_dirty && now >= p->saved_ms + S_SAVE_MS)
                s_save (self, p, now);
        }
        uint32_t src = s_sources (self, p);
        if (src != p->sources) {
            //  For `pkg list`; written by the worker (a commit is an
            //  fsync: never on the loop).
            p->sources = src;
            s_task_t t = {.kind = 2, .have = src};
            memcpy (t.id, p->id, 32);
            s_post_task (self, &t);
        }
        if (p->have_dirty && now >= p->have_sent_ms + S_HAVE_MS)
            s_send_have (self, p, now);
    }
    s_pump (self, now);
    if (now >= self->peer_index_ms)
        s_peer_indexes (self, now);
    if (now >= self->next_index_ms)
        s_send_index (self, now);
    for (int i = 0; i < S_METAREQ_MAX; i++)
        if (self->metareqs[i].sent_ms && now - self->metareqs[i].sent_ms >= S_METAREQ_MS)
            self->metareqs[i].sent_ms = 0;
}

static uint64_t
s_wakeup (void *ctx, uint64_t now)
{
    pkg_service_t *self = ctx;
    uint64_t w = self->next_reload_ms < self->next_index_ms ? self->next_reload_ms : self->next_index_ms;
    if (self->peer_index_ms < w)
        w = self->peer_index_ms;
    for (size_t k = 0; k < self->n_pkgs; k++) {
        s_pkg_t *p = self->pkgs[k];
        if (p->swarm && !p->finishing) {
            uint64_t t = pkg_swarm_next_wakeup (p->swarm, now);
            if (t < w)
                w = t;
            if (p->save_dirty && p->saved_ms + S_SAVE_MS < w)
                w = p->saved_ms + S_SAVE_MS;
        }
        if (p->have_dirty && p->have_sent_ms + S_HAVE_MS < w)
            w = p->have_sent_ms + S_HAVE_MS;
    }
    //  Queued uploads wait for tokens or for a peer's queue to drain (which
    //  no poll item tells us): look again soon.
    if (pkg_upq_size (self->upq)) {
        uint64_t t = pkg_rate_when (&self->rate, now);
        t = t > now + 2 ? t : now + 2;
        if (t < w)
            w = t;
    }
    return w < now ? now : w;
}

static int
s_items (void *ctx, zmq_pollitem_t *items, int max)
{
    pkg_service_t *self = ctx;
    //  The transport's sockets (inbound, and outbound: answers to what we
    //  sent come back on our own connections), then the worker's pipe.
    int n = gossip_transport_pollitems (self->transport, items, max);
    if (max < n + 1)
        return n + 1;
    items[n] = (zmq_pollitem_t){zsock_resolve (self->pipe_loop), 0, ZMQ_POLLIN, 0};
    return n + 1;
}

static void
s_worker_result (pkg_service_t *self, uint64_t now)
{
    char *hex = NULL, *err = NULL;
    int r = 0;
    if (zsock_recv (self->pipe_loop, "sis", &hex, &r, &err) != 0)
        return;
    char digest[80];
    uint8_t id[32];
    snprintf (digest, sizeof digest, "sha256:%s", hex);
    s_pkg_t *p = pkg_digest_parse (digest, id) == 0 ? s_pkg_find (self, id) : NULL;
    if (p) {
        p->finishing = false;
        double secs = (double) (now - p->fetch_start_ms) / 1000.0;
        if (r == PKG_OK) {
            p->state = PKG_STATE_COMPLETE;
            p->want = false;
            mw_info ("pkg_complete", "package=%s@%s seconds=%.3f bytes=%" PRIu64 " sources=%u", p->meta.name,
                     p->meta.version, secs, p->fetched_bytes, p->sources);
            s_event (self, "complete", &p->meta, "", NULL, p->meta.piece_count, (int64_t) p->fetched_bytes,
                     secs);
        }
        else {
            p->state = PKG_STATE_CORRUPT;
            self->refused_by[r]++;
            mw_warn ("pkg_refused", "package=%s@%s reason=%s detail=\"%s\"", p->meta.name, p->meta.version,
                     pkg_refuse_name ((pkg_refuse_t) r), err);
            s_event (self, "refused", &p->meta, pkg_refuse_name ((pkg_refuse_t) r), NULL, 0, 0, secs);
        }
        s_fetch_stop (self, p);
        s_index_soon (self, now);
    }
    zstr_free (&hex);
    zstr_free (&err);
}

static void
s_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    pkg_service_t *self = ctx;
    if (item->socket == zsock_resolve (self->pipe_loop)) {
        while (zsock_events (self->pipe_loop) & ZMQ_POLLIN)
            s_worker_result (self, now);
        return;
    }
    for (int i = 0; i < S_RECV_BATCH; i++) {
        mw_msg_t m;
        int rc = gossip_transport_recv (self->transport, &m);
        if (rc < 0)
            break;
        if (rc == 1)
            s_dispatch (self, &m, now);
        gossip_wire_msg_clear (&m);
    }
    //  Answers (pieces, refusals) often free request slots: ask again now.
    s_tick (self, now);
}

void
pkg_service_service (pkg_service_t *self, node_service_t *svc)
{
    memset (svc, 0, sizeof *svc);
    svc->name = "packages";
    svc->ctx = self;
    svc->pollitems = s_items;
    svc->readable = s_readable;
    svc->tick = s_tick;
    svc->next_wakeup = s_wakeup;
}

// --------------------------------------------------------------------------
// Life

pkg_service_t *
pkg_service_new (const pkg_service_opts_t *opts, char *err, size_t errlen)
{
    pkg_service_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->o = *opts;
    snprintf (self->state_dir, sizeof self->state_dir, "%s", opts->state_dir);
    self->o.state_dir = self->state_dir;
    pthread_mutex_init (&self->mu, NULL);
    pthread_cond_init (&self->cv, NULL);
    randombytes_buf (&self->rng, sizeof self->rng);
    pkg_swarm_cfg_defaults (&self->swarm_cfg);
    self->test_corrupt = getenv ("MW_TEST_PKG_CORRUPT") && !strcmp (getenv ("MW_TEST_PKG_CORRUPT"), "1");
    if (self->test_corrupt)
        mw_warn ("pkg_test_corrupt_on", "reason=\"MW_TEST_PKG_CORRUPT=1: every piece served is damaged (a "
                                        "test hook)\"");
    self->ring = pkg_keyring_new ();
    if (!self->ring || pkg_keyring_load_list (self->ring, opts->trusted_keys, err, errlen) != 0) {
        if (self->ring) {
            char why[600];
            snprintf (why, sizeof why, "TRUSTED_KEYS: %s", err);
            snprintf (err, errlen, "%s", why);
        }
        goto fail;
    }
    self->cat = pkg_catalog_open (opts->state_dir, err, errlen);
    if (!self->cat)
        goto fail;
    //  Where the CLI finds the same trust anchors (pkg publish, verify).
    {
        char path[700], why[300];
        snprintf (path, sizeof path, "%s/trusted-keys", pkg_catalog_dir (self->cat));
        const char *list = opts->trusted_keys ? opts->trusted_keys : "";
        if (pkg_file_write (path, list, strlen (list), 0600, false, why, sizeof why) != 0)
            mw_warn ("pkg_trusted_keys_not_written", "reason=\"%s\"", why);
    }
    self->replay = gossip_replay_new (opts->max_clock_skew_ms);
    gossip_transport_opts_t to;
    gossip_transport_opts_pkg (&to);
    to.guard = opts->guard;
    if (opts->out_max)
        to.out_max = opts->out_max;
    self->transport = self->replay ? gossip_transport_new_opts (opts->bind_endpoint, opts->ident, opts->keys,
                                                                self->replay, opts->session, &to)
                                   : NULL;
    if (!self->transport) {
        snprintf (err, errlen, "cannot listen on %s (PKG_PORT in use?)", opts->bind_endpoint);
        goto fail;
    }
    self->upq = pkg_upq_new (1, S_UPQ_TOTAL);
    self->buf = malloc (PKG_PIECE_MAX);
    if (!self->upq || !self->buf) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    pkg_rate_init (&self->rate, opts->max_mbps, S_RATE_BURST, mw_now_ms ());
    //  The worker's results come back through an inproc pair.
    //  Named by a counter, not the address (libzmq frees an inproc name only
    //  once its reaper has closed the socket).
    static atomic_uint s_worker_seq;
    char ep[64];
    snprintf (ep, sizeof ep, "inproc://pkg-worker-%u", atomic_fetch_add (&s_worker_seq, 1));
    char ep1[80];
    snprintf (ep1, sizeof ep1, "@%s", ep);
    self->pipe_loop = zsock_new_pair (ep1);
    char ep2[80];
    snprintf (ep2, sizeof ep2, ">%s", ep);
    self->pipe_worker = zsock_new_pair (ep2);
    if (!self->pipe_loop || !self->pipe_worker || pthread_create (&self->worker, NULL, s_worker, self) != 0) {
        snprintf (err, errlen, "cannot start the package worker");
        goto fail;
    }
    self->worker_up = true;
    //  Refusals noted before we started were reported then (or by the CLI).
    pkg_catalog_refusals (self->cat, 0, NULL, NULL, &self->refusal_id);
    return self;
fail:
    pkg_service_destroy (&self);
    return NULL;
}

void
pkg_service_destroy (pkg_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pkg_service_t *self = *self_p;
    //  Checkpoint what is in progress, then let the worker drain and stop.
    for (size_t k = 0; k < self->n_pkgs; k++)
        if (self->pkgs[k]->swarm && self->pkgs[k]->save_dirty && self->worker_up)
            s_save (self, self->pkgs[k], mw_now_ms ());
    if (self->worker_up) {
        pthread_mutex_lock (&self->mu);
        self->stop = true;
        pthread_cond_signal (&self->cv);
        pthread_mutex_unlock (&self->mu);
        pthread_join (self->worker, NULL);
    }
    while (self->tasks) {
        s_task_t *t = self->tasks;
        self->tasks = t->next;
        free (t);
    }
    for (size_t k = 0; k < self->n_pkgs; k++)
        s_pkg_free (self->pkgs[k]);
    free (self->pkgs);
    zsock_destroy (&self->pipe_worker);
    zsock_destroy (&self->pipe_loop);
    gossip_transport_destroy (&self->transport);
    gossip_replay_destroy (&self->replay);
    pkg_catalog_destroy (&self->cat);
    pkg_keyring_destroy (&self->ring);
    pkg_upq_destroy (&self->upq);
    free (self->buf);
    pthread_mutex_destroy (&self->mu);
    pthread_cond_destroy (&self->cv);
    free (self);
    *self_p = NULL;
}

// --------------------------------------------------------------------------
// Views

void
pkg_service_prometheus (pkg_service_t *self, mw_prom_t *out)
{
    mw_prom_family (out, "meshwatch_pkg_bytes_served_total", "counter",
                    "Package bytes this box uploaded to peers.");
    mw_prom_u64 (out, "meshwatch_pkg_bytes_served_total", self->bytes_served, NULL);
    mw_prom_family (out, "meshwatch_pkg_bytes_fetched_total", "counter",
                    "Package bytes this box downloaded and verified.");
    mw_prom_u64 (out, "meshwatch_pkg_bytes_fetched_total", self->bytes_fetched, NULL);
    mw_prom_family (out, "meshwatch_pkg_pieces_served_total", "counter", "Pieces uploaded to peers.");
    mw_prom_u64 (out, "meshwatch_pkg_pieces_served_total", self->pieces_served, NULL);
    mw_prom_family (out, "meshwatch_pkg_pieces_fetched_total", "counter", "Pieces downloaded and verified.");
    mw_prom_u64 (out, "meshwatch_pkg_pieces_fetched_total", self->pieces_fetched, NULL);
    mw_prom_family (out, "meshwatch_pkg_pieces_rejected_total", "counter",
                    "Pieces received and dropped, by reason (bad_hash, bad_size: the sender is banned).");
    for (int i = 0; i < S_REJ_COUNT; i++)
        mw_prom_u64 (out, "meshwatch_pkg_pieces_rejected_total", self->rejected[i], "reason", s_rej_names[i],
                     NULL);
    mw_prom_family (
        out, "meshwatch_pkg_refused_total", "counter",
        "Package metadata refused from peers, or downloads that failed their final check, by reason.");
    for (int i = 1; i < PKG_REFUSE_COUNT; i++)
        mw_prom_u64 (out, "meshwatch_pkg_refused_total", self->refused_by[i], "reason",
                     pkg_refuse_name ((pkg_refuse_t) i), NULL);
    mw_prom_family (out, "meshwatch_pkg_packages", "gauge", "Packages in the catalog, by state.");
    uint64_t by_state[PKG_STATE_COUNT] = {0};
    for (size_t k = 0; k < self->n_pkgs; k++)
        by_state[self->pkgs[k]->state]++;
    for (int s = 0; s < PKG_STATE_COUNT; s++)
        mw_prom_u64 (out, "meshwatch_pkg_packages", by_state[s], "state", pkg_state_name ((pkg_state_t) s),
                     NULL);
}

static json_object *
s_status (pkg_service_t *self)
{
    json_object *o = json_object_new_object ();
    mw_json_add (o, "packages", mw_json_u64 (self->n_pkgs));
    uint64_t fetching = 0;
    for (size_t k = 0; k < self->n_pkgs; k++)
        fetching += self->pkgs[k]->swarm != NULL;
    mw_json_add (o, "fetching", mw_json_u64 (fetching));
    uint64_t peers = 0;
    for (int i = 0; i < S_PEERS_MAX; i++)
        peers += self->peers[i].used;
    mw_json_add (o, "peers", mw_json_u64 (peers));
    mw_json_add (o, "bytes_served", mw_json_u64 (self->bytes_served));
    mw_json_add (o, "bytes_fetched", mw_json_u64 (self->bytes_fetched));
    mw_json_add (o, "pieces_served", mw_json_u64 (self->pieces_served));
    mw_json_add (o, "pieces_fetched", mw_json_u64 (self->pieces_fetched));
    json_object *rej = json_object_new_object ();
    for (int i = 0; i < S_REJ_COUNT; i++)
        mw_json_add (rej, s_rej_names[i], mw_json_u64 (self->rejected[i]));
    mw_json_add (o, "pieces_rejected", rej);
    json_object *ref = json_object_new_object ();
    for (int i = 1; i < PKG_REFUSE_COUNT; i++)
        mw_json_add (ref, pkg_refuse_name ((pkg_refuse_t) i), mw_json_u64 (self->refused_by[i]));
    mw_json_add (o, "refused", ref);
    mw_json_add (o, "upload_queue", mw_json_u64 (pkg_upq_size (self->upq)));
    return o;
}

json_object *
pkg_service_status_json (pkg_service_t *self)
{
    return s_status (self);
}

static json_object *
s_ctl_packages (void *ctx, const node_control_req_t *req)
{
    pkg_service_t *self = ctx;
    (void) req;
    json_object *o = s_status (self);
    json_object *list = json_object_new_array ();
    for (size_t k = 0; k < self->n_pkgs; k++) {
        s_pkg_t *p = self->pkgs[k];
        char d[72];
        pkg_digest_str (p->id, d);
        json_object *e = json_object_new_object ();
        mw_json_add (e, "name", mw_json_str (p->meta.name));
        mw_json_add (e, "version", mw_json_str (p->meta.version));
        mw_json_add (e, "digest", mw_json_str (d));
        mw_json_add (e, "state", mw_json_str (pkg_state_name (p->state)));
        mw_json_add (e, "pieces", mw_json_u64 (p->meta.piece_count));
        mw_json_add (e, "pieces_have", mw_json_u64 (p->have));
        mw_json_add (e, "sources", mw_json_u64 (p->sources));
        mw_json_add (e, "inflight", mw_json_u64 (p->swarm ? pkg_swarm_inflight (p->swarm) : 0));
        json_object *holders = json_object_new_array ();
        for (int i = 0; i < S_PEERS_MAX; i++)
            if (self->peers[i].used && p->peer_flags[i]) {
                json_object *h = json_object_new_object ();
                mw_json_add (h, "peer", mw_json_str (self->peers[i].hex));
                mw_json_add (h, "held", mw_json_bool (p->peer_flags[i] & S_F_HELD));
                mw_json_add (h, "partly", mw_json_bool (p->peer_flags[i] & S_F_PARTIAL));
                mw_json_add (h, "fetching", mw_json_bool (p->peer_flags[i] & S_F_FETCHING));
                json_object_array_add (holders, h);
            }
        mw_json_add (e, "peers", holders);
        json_object_array_add (list, e);
    }
    mw_json_add (o, "list", list);
    return o;
}

int
pkg_service_control_register (pkg_service_t *self, node_control_t *ctl)
{
    return node_control_on (ctl, "packages", 1, s_ctl_packages, self);
}

// --------------------------------------------------------------------------
// Selftest: four services in one process on loopback.  A publishes (as the
// CLI does, through its own catalog handle); B and C fetch it from A and
// from each other; then C turns into a box that serves damaged pieces and
// D fetches from A and C: every bad piece is dropped, C is banned, D
// completes.  E trusts another key: it refuses the metadata and learns
// nothing.  The unpacked files equal the source.

typedef struct {
    pkg_service_t *svc;
    gossip_identity_t ident;
    char dir[300];
    char ep[64];
} s_box_t;

static int
s_box_new (s_box_t *b, const char *root, const char *name, gossip_keyring_t *keys, const char *trusted,
           int port)
{
    char err[600];
    snprintf (b->dir, sizeof b->dir, "%s/%s", root, name);
    pkg_file_mkdirs (b->dir, 0700);
    if (gossip_identity_load (b->dir, &b->ident, err, sizeof err) != 0)
        return -1;
    snprintf (b->ep, sizeof b->ep, "tcp://127.0.0.1:%d", port);
    pkg_service_opts_t o = {.state_dir = b->dir,
                            .trusted_keys = trusted,
                            .ident = &b->ident,
                            .keys = keys,
                            .session = mw_wall_ms (),
                            .max_clock_skew_ms = 60000,
                            .bind_endpoint = b->ep,
                            .max_mbps = 0,
                            .max_packages = 16};
    b->svc = pkg_service_new (&o, err, sizeof err);
    if (!b->svc)
        fprintf (stderr, "pkg_service_test: %s: %s\n", name, err);
    return b->svc ? 0 : -1;
}

//  One turn of a tiny loop over every box.
static void
s_turn (s_box_t *boxes, int n, int wait_ms)
{
    zmq_pollitem_t items[32];
    int owner[32], k = 0;
    uint64_t now = mw_now_ms ();
    for (int i = 0; i < n; i++) {
        if (!boxes[i].svc)
            continue;
        s_tick (boxes[i].svc, now);
        int got = s_items (boxes[i].svc, items + k, 32 - k);
        for (int j = 0; j < got; j++)
            owner[k + j] = i;
        k += got;
    }
    zmq_poll (items, k, wait_ms);
    now = mw_now_ms ();
    for (int j = 0; j < k; j++)
        if (items[j].revents & ZMQ_POLLIN)
            s_readable (boxes[owner[j]].svc, &items[j], now);
}

static pkg_state_t
s_state_of (s_box_t *b, const char *name, const char *version)
{
    pkg_entry_t e;
    if (pkg_catalog_find (b->svc->cat, name, version, &e) != 0)
        return PKG_STATE_COUNT;
    return e.state;
}

static bool
s_same_file (const char *a, const char *b)
{
    char err[200];
    size_t la = 0, lb = 0;
    char *x = pkg_file_read (a, 1 << 26, &la, err, sizeof err);
    char *y = pkg_file_read (b, 1 << 26, &lb, err, sizeof err);
    bool same = x && y && la == lb && memcmp (x, y, la) == 0;
    free (x);
    free (y);
    return same;
}

int
pkg_service_test (bool verbose)
{
    int rc = 0;
    char err[600];
    if (sodium_init () < 0)
        return -1;
    char root[] = "/tmp/pkg_service_test.XXXXXX";
    if (!mkdtemp (root))
        return -1;
    if (verbose)
        mw_log_set_level (MW_LOG_INFO);
    char path[1000], key[700], other[700];
    snprintf (key, sizeof key, "%s/pub", root);
    snprintf (other, sizeof other, "%s/other", root);
    CHECK (pkg_sign_keygen (key, err, sizeof err) == 0 && pkg_sign_keygen (other, err, sizeof err) == 0,
           "keys");
    //  A package of ~3 MB: 46 pieces of 64 KiB.
    char src[700];
    snprintf (src, sizeof src, "%s/weights", root);
    pkg_file_mkdirs (src, 0755);
    size_t wlen = 3000000;
    uint8_t *w = malloc (wlen);
    randombytes_buf (w, wlen);
    snprintf (path, sizeof path, "%s/model.bin", src);
    pkg_file_write (path, w, wlen, 0644, false, err, sizeof err);
    free (w);
    snprintf (path, sizeof path, "%s.key", key);
    pkg_seckey_t *sk = pkg_seckey_load (path, err, sizeof err);
    const char *paths[] = {src};
    char file[700];
    snprintf (file, sizeof file, "%s/facedet.mwpkg", root);
    pkg_build_opts_t bo = {.paths = paths,
                           .n_paths = 1,
                           .key = sk,
                           .seq = 1,
                           .expires = (uint64_t) time (NULL) + 3600,
                           .out = file};
    bo.desc.kind = PKG_KIND_MODEL;
    strcpy (bo.desc.name, "facedet");
    strcpy (bo.desc.version, "1.0");
    pkg_meta_t meta;
    CHECK (sk && pkg_build (&bo, &meta, err, sizeof err) == 0, "build: %s", err);
    pkg_seckey_destroy (&sk);

    uint8_t ck[32];
    randombytes_buf (ck, sizeof ck);
    char ckb64[64];
    sodium_bin2base64 (ckb64, sizeof ckb64, ck, sizeof ck, sodium_base64_VARIANT_ORIGINAL);
    gossip_keyring_t *keys = gossip_keyring_new (ckb64);
    char trusted[800], untrusted[800];
    snprintf (trusted, sizeof trusted, "%s.pub", key);
    snprintf (untrusted, sizeof untrusted, "%s.pub", other);
    s_box_t boxes[5];
    memset (boxes, 0, sizeof boxes);
    int base = 21000 + (int) randombytes_uniform (10000);   //  below the ephemeral ports (32768+)
    const char *names[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        CHECK (s_box_new (&boxes[i], root, names[i], keys, i == 4 ? untrusted : trusted, base + i) == 0,
               "box %s", names[i]);
    for (int i = 0; i < 5; i++)
        if (!boxes[i].svc)
            goto out;
    uint64_t now = mw_now_ms ();
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            if (i != j)
                s_peer_set (boxes[i].svc, &boxes[j].ident.id, boxes[j].ep, 1, now);

    //  A publishes, the way `meshwatch pkg publish` does.
    pkg_catalog_t *cat = pkg_catalog_open (boxes[0].dir, err, sizeof err);
    pkg_keyring_t *ring = pkg_keyring_new ();
    pkg_keyring_load_list (ring, trusted, err, sizeof err);
    pkg_accept_t how;
    CHECK (cat
               && pkg_catalog_publish (cat, ring, file, (uint64_t) time (NULL), 16, NULL, NULL, &how, NULL,
                                       err, sizeof err)
                      == PKG_OK,
           "publish: %s", err);
    pkg_catalog_destroy (&cat);
    pkg_keyring_destroy (&ring);

    //  The mesh learns it (B, C and D: what is checked below is what is
    //  waited for); B and C ask for it (as `pkg fetch` does).
    uint64_t deadline = mw_now_ms () + 30000;
    while (mw_now_ms () < deadline
           && (s_state_of (&boxes[1], "facedet", "1.0") == PKG_STATE_COUNT
               || s_state_of (&boxes[2], "facedet", "1.0") == PKG_STATE_COUNT
               || s_state_of (&boxes[3], "facedet", "1.0") == PKG_STATE_COUNT))
        s_turn (boxes, 5, 10);
    if (verbose)
        for (int i = 0; i < 5; i++) {
            const gossip_transport_stats_t *ts = gossip_transport_stats (boxes[i].svc->transport);
            printf ("  %s: in %" PRIu64 " out %" PRIu64 " dropped %" PRIu64 " rejected", names[i],
                    ts->msgs_in, ts->msgs_out, ts->send_dropped);
            for (int r = 0; r < MW_REJ_COUNT; r++)
                printf (" %" PRIu64, ts->rejected[r]);
            printf (" unknown %" PRIu64 " pkgs %zu\n", boxes[i].svc->dropped_unknown_sender,
                    boxes[i].svc->n_pkgs);
        }
    CHECK (s_state_of (&boxes[1], "facedet", "1.0") == PKG_STATE_AVAILABLE
               && s_state_of (&boxes[2], "facedet", "1.0") == PKG_STATE_AVAILABLE
               && s_state_of (&boxes[3], "facedet", "1.0") == PKG_STATE_AVAILABLE,
           "learned through the mesh");
    for (int i = 1; i <= 2; i++) {
        pkg_catalog_t *c = pkg_catalog_open (boxes[i].dir, err, sizeof err);   //  another process's handle
        CHECK (c && pkg_catalog_set_want (c, meta.manifest, true) == 0, "want");
        pkg_catalog_destroy (&c);
    }
    deadline = mw_now_ms () + 120000;
    while (mw_now_ms () < deadline
           && (s_state_of (&boxes[1], "facedet", "1.0") != PKG_STATE_COMPLETE
               || s_state_of (&boxes[2], "facedet", "1.0") != PKG_STATE_COMPLETE))
        s_turn (boxes, 5, 10);
    for (int i = 1; i <= 2; i++) {
        CHECK (s_state_of (&boxes[i], "facedet", "1.0") == PKG_STATE_COMPLETE, "box %s complete", names[i]);
        char got[900];
        snprintf (got, sizeof got, "%s/pkg/files/facedet@1.0/weights/model.bin", boxes[i].dir);
        snprintf (path, sizeof path, "%s/model.bin", src);
        CHECK (s_same_file (got, path), "box %s: the unpacked file is the source", names[i]);
    }
    if (verbose)
        printf ("  B and C complete: A served %" PRIu64 " bytes, B %" PRIu64 ", C %" PRIu64 "\n",
                boxes[0].svc->bytes_served, boxes[1].svc->bytes_served, boxes[2].svc->bytes_served);

    //  C now damages what it serves; D fetches from A and C.
    boxes[2].svc->test_corrupt = true;
    pkg_catalog_t *cd = pkg_catalog_open (boxes[3].dir, err, sizeof err);
    CHECK (cd && pkg_catalog_set_want (cd, meta.manifest, true) == 0, "want");
    pkg_catalog_destroy (&cd);
    deadline = mw_now_ms () + 120000;
    while (mw_now_ms () < deadline && s_state_of (&boxes[3], "facedet", "1.0") != PKG_STATE_COMPLETE)
        s_turn (boxes, 5, 10);
    CHECK (s_state_of (&boxes[3], "facedet", "1.0") == PKG_STATE_COMPLETE, "D complete despite C");
    CHECK (boxes[3].svc->rejected[S_REJ_HASH] <= 1, "D banned C at its first bad piece (%" PRIu64 ")",
           boxes[3].svc->rejected[S_REJ_HASH]);
    if (verbose)
        printf ("  D complete: %" PRIu64 " bad pieces from C rejected\n", boxes[3].svc->rejected[S_REJ_HASH]);

    //  E trusts another key: it refused the metadata, its catalog is empty.
    pkg_entry_t *list = NULL;
    size_t n = 0;
    pkg_catalog_list (boxes[4].svc->cat, &list, &n);
    CHECK (n == 0 && boxes[4].svc->refused_by[PKG_REFUSE_UNTRUSTED_KEY] >= 1, "E refused (%zu packages)", n);
    free (list);
out:
    for (int i = 0; i < 5; i++)
        pkg_service_destroy (&boxes[i].svc);
    gossip_keyring_destroy (&keys);
    pkg_file_remove_tree (root);
    if (verbose)
        printf ("pkg_service: done\n");
    return rc;
}
