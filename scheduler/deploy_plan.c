/*  =========================================================================
    deploy_plan - the deployment plan: stamps, fencing, merge, rollouts,
    and its wire form.  See deploy_plan.h for the rules; the selftest runs
    them on sim/netsim with real election instances.
    ========================================================================= */
#include "scheduler/deploy_plan.h"

#include "common/rand.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The wire format's first bytes: a kind letter and a format number, so
//  that a later layout is refused cleanly instead of misread.
#define S_FMT_PLAN   'P'
#define S_FMT_REPORT 'R'
#define S_FMT_CMD    'C'
#define S_FMT_VER    1

//  The wire's limits (common/types.h) hold the largest packed forms.
_Static_assert(DEPLOY_PLAN_BYTES_MAX <= MW_DEPLOY_PLAN_BYTES, "plan fits its message");
_Static_assert(DEPLOY_REPORT_BYTES_MAX <= MW_DEPLOY_REPORT_BYTES, "report fits its message");
_Static_assert(DEPLOY_CMD_BYTES_MAX <= MW_DEPLOY_CMD_BYTES, "command fits its message");

//  A wave's health is judged on the coordinator's own clock; this is kept
//  beside the replicated record, never sent.
typedef struct {
    char name[DEPLOY_NAME_LEN];
    char slot[DEPLOY_SLOT_LEN];
    uint8_t wave;
    bool used;
    uint64_t since_ms;
} s_wave_clock_t;

struct _deploy_plan_t {
    deploy_entry_t *entry;   //  DEPLOY_ENTRIES_MAX
    size_t n_entries;
    deploy_rollout_t rollout[DEPLOY_ROLLOUTS_MAX];
    size_t n_rollouts;
    deploy_epoch_t epoch[DEPLOY_EPOCHS_MAX];
    size_t n_epochs;
    s_wave_clock_t clock[DEPLOY_ROLLOUTS_MAX];
};

static int s_entry_bytes_cmp (const deploy_entry_t *a, const deploy_entry_t *b);
static int s_rollout_bytes_cmp (const deploy_rollout_t *a, const deploy_rollout_t *b);

static const char *s_state_names[DEPLOY_STATE_COUNT] = {"pending", "fetching", "starting",
                                                        "running", "failed",   "rolled_back"};
static const char *s_rollout_names[DEPLOY_ROLLOUT_STATE_COUNT] = {"active", "done", "stopped"};

const char *
deploy_state_name (uint8_t s)
{
    return s < DEPLOY_STATE_COUNT ? s_state_names[s] : "?";
}

int
deploy_state_parse (const char *s)
{
    for (int i = 0; i < DEPLOY_STATE_COUNT; i++)
        if (strcmp (s, s_state_names[i]) == 0)
            return i;
    return -1;
}

const char *
deploy_rollout_state_name (uint8_t s)
{
    return s < DEPLOY_ROLLOUT_STATE_COUNT ? s_rollout_names[s] : "?";
}

int
deploy_stamp_cmp (const deploy_stamp_t *a, const deploy_stamp_t *b)
{
    int c = election_ballot_cmp (&a->b, &b->b);
    if (c)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq ? 1 : 0;
}

bool
deploy_name_ok (const char *s, size_t cap)
{
    size_t n = strnlen (s, cap);
    if (n == 0 || n >= cap)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
                  || c == '_' || c == '+' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

//  Empty or a name.
static bool
s_opt_name_ok (const char *s, size_t cap)
{
    return s[0] == 0 || deploy_name_ok (s, cap);
}

static bool
s_text_ok (const char *s, size_t cap)
{
    size_t n = strnlen (s, cap);
    if (n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] > 0x7e)
            return false;
    return true;
}

static bool
s_ballot_ok (const election_ballot_t *b)
{
    return b->n <= ELECTION_TERM_MAX && b->rank <= ELECTION_RANK_MAX;
}

static bool
s_entry_ok (const deploy_entry_t *e)
{
    if (!deploy_name_ok (e->slot, sizeof e->slot) || !s_ballot_ok (&e->stamp.b))
        return false;
    if (e->name[0] == 0)   //  a tombstone carries nothing else
        return e->version[0] == 0 && e->fallback[0] == 0 && e->variant_by[0] == 0;
    return deploy_name_ok (e->name, sizeof e->name) && deploy_name_ok (e->version, sizeof e->version)
           && s_opt_name_ok (e->fallback, sizeof e->fallback)
           && s_opt_name_ok (e->variant_by, sizeof e->variant_by);
}

static bool
s_rollout_ok (const deploy_rollout_t *r)
{
    if (!deploy_name_ok (r->name, sizeof r->name) || !deploy_name_ok (r->slot, sizeof r->slot)
        || !deploy_name_ok (r->version, sizeof r->version)
        || !s_opt_name_ok (r->variant_by, sizeof r->variant_by) || !s_text_ok (r->reason, sizeof r->reason)
        || !s_ballot_ok (&r->stamp.b))
        return false;
    if (r->state >= DEPLOY_ROLLOUT_STATE_COUNT || r->waves < 1 || r->waves > DEPLOY_WAVES_MAX
        || r->wave >= r->waves || r->n_boxes > DEPLOY_ROLLOUT_BOXES)
        return false;
    for (uint32_t i = 0; i < r->n_boxes; i++) {
        if (r->box_wave[i] >= r->waves)
            return false;
        for (uint32_t j = 0; j < i; j++)
            if (mw_id_eq (&r->box[i], &r->box[j]))
                return false;
    }
    return true;
}

deploy_plan_t *
deploy_plan_new (void)
{
    deploy_plan_t *self = (deploy_plan_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->entry = (deploy_entry_t *) calloc (DEPLOY_ENTRIES_MAX, sizeof *self->entry);
    if (!self->entry) {
        free (self);
        return NULL;
    }
    return self;
}

void
deploy_plan_destroy (deploy_plan_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->entry);
        free (*self_p);
        *self_p = NULL;
    }
}

//  ---------------------------------------------------------------------------
//  Packing: big-endian integers, fixed-width zero-padded strings.

typedef struct {
    uint8_t *p;
    size_t len, cap;
    bool bad;
} s_out_t;

static void
s_put (s_out_t *o, const void *d, size_t n)
{
    if (o->bad || o->len + n > o->cap) {
        o->bad = true;
        return;
    }
    memcpy (o->p + o->len, d, n);
    o->len += n;
}

static void
s_put_u (s_out_t *o, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t) (v >> (8 * (bytes - 1 - i)));
    s_put (o, b, (size_t) bytes);
}

//  A string field: its bytes up to the NUL, zeros after (canonical).
static void
s_put_s (s_out_t *o, const char *s, size_t cap)
{
    char buf[256];
    assert (cap <= sizeof buf);
    memset (buf, 0, cap);
    size_t n = strnlen (s, cap - 1);
    memcpy (buf, s, n);
    s_put (o, buf, cap);
}

static void
s_put_stamp (s_out_t *o, const deploy_stamp_t *s)
{
    s_put_u (o, s->b.n, 8);
    s_put_u (o, s->b.rank, 4);
    s_put (o, s->b.id.b, MW_ID_LEN);
    s_put_u (o, s->seq, 8);
}

//  ---------------------------------------------------------------------------
//  Merge

bool
deploy_plan_fenced (const deploy_plan_t *self, const deploy_stamp_t *s)
{
    for (size_t i = 0; i < self->n_epochs; i++) {
        const deploy_epoch_t *e = &self->epoch[i];
        if (election_ballot_cmp (&s->b, &e->ballot) < 0 && deploy_stamp_cmp (s, &e->fence) > 0)
            return true;
    }
    return false;
}

//  Drop what the epochs fence (after a new epoch arrived).
static void
s_drop_fenced (deploy_plan_t *self)
{
    size_t k = 0;
    for (size_t i = 0; i < self->n_entries; i++)
        if (!deploy_plan_fenced (self, &self->entry[i].stamp))
            self->entry[k++] = self->entry[i];
    self->n_entries = k;
    k = 0;
    for (size_t i = 0; i < self->n_rollouts; i++)
        if (!deploy_plan_fenced (self, &self->rollout[i].stamp)) {
            self->clock[k] = self->clock[i];
            self->rollout[k++] = self->rollout[i];
        }
    for (size_t i = k; i < self->n_rollouts; i++)
        self->clock[i].used = false;
    self->n_rollouts = k;
}

int
deploy_plan_merge_epoch (deploy_plan_t *self, const deploy_epoch_t *e)
{
    if (!s_ballot_ok (&e->ballot) || !s_ballot_ok (&e->fence.b)
        || election_ballot_cmp (&e->fence.b, &e->ballot) >= 0)
        return -1;   //  a fence is what was held before the takeover: always below its ballot
    for (size_t i = 0; i < self->n_epochs; i++)
        if (election_ballot_cmp (&self->epoch[i].ballot, &e->ballot) == 0) {
            //  One coordinator takes over once; two fences for one ballot
            //  can only be a bug or a forgery: keep the lower (safer) one.
            if (deploy_stamp_cmp (&e->fence, &self->epoch[i].fence) < 0) {
                self->epoch[i].fence = e->fence;
                s_drop_fenced (self);
                return 1;
            }
            return 0;
        }
    size_t at = self->n_epochs;
    if (at == DEPLOY_EPOCHS_MAX) {
        //  Full: the lowest ballot goes (a newer fence covers what it fenced
        //  on every box that held the plan when the newer one took over).
        size_t lo = 0;
        for (size_t i = 1; i < self->n_epochs; i++)
            if (election_ballot_cmp (&self->epoch[i].ballot, &self->epoch[lo].ballot) < 0)
                lo = i;
        if (election_ballot_cmp (&e->ballot, &self->epoch[lo].ballot) < 0)
            return 0;
        at = lo;
    }
    else
        self->n_epochs++;
    self->epoch[at] = *e;
    s_drop_fenced (self);
    return 1;
}

int
deploy_plan_merge_entry (deploy_plan_t *self, const deploy_entry_t *e)
{
    if (!s_entry_ok (e) || deploy_plan_fenced (self, &e->stamp))
        return -1;
    for (size_t i = 0; i < self->n_entries; i++) {
        deploy_entry_t *o = &self->entry[i];
        if (!mw_id_eq (&o->box, &e->box) || strcmp (o->slot, e->slot) != 0)
            continue;
        int c = deploy_stamp_cmp (&e->stamp, &o->stamp);
        //  Equal stamps with other contents cannot come from one coordinator;
        //  the greater bytes win so that every box keeps the same one.
        if (c > 0 || (c == 0 && s_entry_bytes_cmp (e, o) > 0)) {
            *o = *e;
            return 1;
        }
        return 0;
    }
    if (self->n_entries == DEPLOY_ENTRIES_MAX) {
        //  Full: an undeploy's tombstone with the lowest stamp makes room
        //  (it has done its work once every box saw it).
        size_t lo = SIZE_MAX;
        for (size_t i = 0; i < self->n_entries; i++)
            if (self->entry[i].name[0] == 0
                && (lo == SIZE_MAX || deploy_stamp_cmp (&self->entry[i].stamp, &self->entry[lo].stamp) < 0))
                lo = i;
        if (lo == SIZE_MAX)
            return -1;
        self->entry[lo] = *e;
        return 1;
    }
    self->entry[self->n_entries++] = *e;
    return 1;
}

int
deploy_plan_merge_rollout (deploy_plan_t *self, const deploy_rollout_t *r)
{
    if (!s_rollout_ok (r) || deploy_plan_fenced (self, &r->stamp))
        return -1;
    for (size_t i = 0; i < self->n_rollouts; i++) {
        deploy_rollout_t *o = &self->rollout[i];
        if (strcmp (o->name, r->name) != 0 || strcmp (o->slot, r->slot) != 0)
            continue;
        int c = deploy_stamp_cmp (&r->stamp, &o->stamp);
        if (c > 0 || (c == 0 && s_rollout_bytes_cmp (r, o) > 0)) {
            *o = *r;
            return 1;
        }
        return 0;
    }
    size_t at = self->n_rollouts;
    if (at == DEPLOY_ROLLOUTS_MAX) {
        //  Full: the oldest finished record goes; active ones stay.
        size_t lo = SIZE_MAX;
        for (size_t i = 0; i < self->n_rollouts; i++)
            if (self->rollout[i].state != DEPLOY_ROLLOUT_ACTIVE
                && (lo == SIZE_MAX
                    || deploy_stamp_cmp (&self->rollout[i].stamp, &self->rollout[lo].stamp) < 0))
                lo = i;
        if (lo == SIZE_MAX)
            return -1;
        at = lo;
    }
    else
        self->n_rollouts++;
    self->rollout[at] = *r;
    self->clock[at].used = false;
    return 1;
}

int
deploy_plan_merge (deploy_plan_t *self, const deploy_plan_t *other)
{
    int changed = 0;
    for (size_t i = 0; i < other->n_epochs; i++)
        changed += deploy_plan_merge_epoch (self, &other->epoch[i]) == 1;
    for (size_t i = 0; i < other->n_entries; i++)
        changed += deploy_plan_merge_entry (self, &other->entry[i]) == 1;
    for (size_t i = 0; i < other->n_rollouts; i++)
        changed += deploy_plan_merge_rollout (self, &other->rollout[i]) == 1;
    return changed;
}

//  Compare two records by their wire bytes (never by struct memory: the
//  padding is not theirs to compare).
static void s_put_entry (s_out_t *o, const deploy_entry_t *e);
static void s_put_rollout (s_out_t *o, const deploy_rollout_t *r);

static int
s_entry_bytes_cmp (const deploy_entry_t *a, const deploy_entry_t *b)
{
    uint8_t x[512], y[512];
    s_out_t ox = {x, 0, sizeof x, false}, oy = {y, 0, sizeof y, false};
    s_put_entry (&ox, a);
    s_put_entry (&oy, b);
    return memcmp (x, y, ox.len);
}

static int
s_rollout_bytes_cmp (const deploy_rollout_t *a, const deploy_rollout_t *b)
{
    uint8_t x[2048], y[2048];
    s_out_t ox = {x, 0, sizeof x, false}, oy = {y, 0, sizeof y, false};
    s_put_rollout (&ox, a);
    s_put_rollout (&oy, b);
    if (ox.len != oy.len)
        return ox.len < oy.len ? -1 : 1;
    return memcmp (x, y, ox.len);
}

//  ---------------------------------------------------------------------------
//  Read

size_t
deploy_plan_entries (const deploy_plan_t *self)
{
    return self->n_entries;
}

const deploy_entry_t *
deploy_plan_entry_at (const deploy_plan_t *self, size_t i)
{
    return i < self->n_entries ? &self->entry[i] : NULL;
}

const deploy_entry_t *
deploy_plan_find (const deploy_plan_t *self, const mw_id_t *box, const char *slot)
{
    for (size_t i = 0; i < self->n_entries; i++)
        if (mw_id_eq (&self->entry[i].box, box) && strcmp (self->entry[i].slot, slot) == 0)
            return &self->entry[i];
    return NULL;
}

size_t
deploy_plan_rollouts (const deploy_plan_t *self)
{
    return self->n_rollouts;
}

const deploy_rollout_t *
deploy_plan_rollout_at (const deploy_plan_t *self, size_t i)
{
    return i < self->n_rollouts ? &self->rollout[i] : NULL;
}

const deploy_rollout_t *
deploy_plan_rollout_find (const deploy_plan_t *self, const char *name, const char *slot)
{
    for (size_t i = 0; i < self->n_rollouts; i++)
        if (strcmp (self->rollout[i].name, name) == 0 && strcmp (self->rollout[i].slot, slot) == 0)
            return &self->rollout[i];
    return NULL;
}

size_t
deploy_plan_epochs (const deploy_plan_t *self)
{
    return self->n_epochs;
}

const deploy_epoch_t *
deploy_plan_epoch_at (const deploy_plan_t *self, size_t i)
{
    return i < self->n_epochs ? &self->epoch[i] : NULL;
}

void
deploy_plan_max_stamp (const deploy_plan_t *self, deploy_stamp_t *out)
{
    memset (out, 0, sizeof *out);
    for (size_t i = 0; i < self->n_entries; i++)
        if (deploy_stamp_cmp (&self->entry[i].stamp, out) > 0)
            *out = self->entry[i].stamp;
    for (size_t i = 0; i < self->n_rollouts; i++)
        if (deploy_stamp_cmp (&self->rollout[i].stamp, out) > 0)
            *out = self->rollout[i].stamp;
}

typedef struct {
    const uint8_t *p;
    size_t len, at;
    bool bad;
} s_in_t;

static void
s_get (s_in_t *in, void *d, size_t n)
{
    if (in->bad || in->len - in->at < n) {
        in->bad = true;
        memset (d, 0, n);
        return;
    }
    memcpy (d, in->p + in->at, n);
    in->at += n;
}

static uint64_t
s_get_u (s_in_t *in, int bytes)
{
    uint8_t b[8];
    s_get (in, b, (size_t) bytes);
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | b[i];
    return v;
}

static void
s_get_s (s_in_t *in, char *s, size_t cap)
{
    s_get (in, s, cap);
    //  NUL-terminated within the field and only zeros after it: one byte
    //  string per value, so two boxes never disagree on what was sent.
    size_t n = strnlen (s, cap);
    if (n == cap) {
        in->bad = true;
        s[cap - 1] = 0;
        return;
    }
    for (size_t i = n; i < cap; i++)
        if (s[i]) {
            in->bad = true;
            return;
        }
}

static void
s_get_stamp (s_in_t *in, deploy_stamp_t *s)
{
    s->b.n = s_get_u (in, 8);
    s->b.rank = (uint32_t) s_get_u (in, 4);
    s_get (in, s->b.id.b, MW_ID_LEN);
    s->seq = s_get_u (in, 8);
}

static void
s_put_entry (s_out_t *o, const deploy_entry_t *e)
{
    s_put (o, e->box.b, MW_ID_LEN);
    s_put_s (o, e->slot, sizeof e->slot);
    s_put_s (o, e->name, sizeof e->name);
    s_put_s (o, e->version, sizeof e->version);
    s_put_s (o, e->fallback, sizeof e->fallback);
    s_put_s (o, e->variant_by, sizeof e->variant_by);
    s_put_stamp (o, &e->stamp);
}

static void
s_get_entry (s_in_t *in, deploy_entry_t *e)
{
    memset (e, 0, sizeof *e);
    s_get (in, e->box.b, MW_ID_LEN);
    s_get_s (in, e->slot, sizeof e->slot);
    s_get_s (in, e->name, sizeof e->name);
    s_get_s (in, e->version, sizeof e->version);
    s_get_s (in, e->fallback, sizeof e->fallback);
    s_get_s (in, e->variant_by, sizeof e->variant_by);
    s_get_stamp (in, &e->stamp);
}

static void
s_put_rollout (s_out_t *o, const deploy_rollout_t *r)
{
    s_put_s (o, r->name, sizeof r->name);
    s_put_s (o, r->slot, sizeof r->slot);
    s_put_s (o, r->version, sizeof r->version);
    s_put_s (o, r->variant_by, sizeof r->variant_by);
    s_put_u (o, r->state, 1);
    s_put_u (o, r->wave, 1);
    s_put_u (o, r->waves, 1);
    s_put_u (o, r->health_ms, 4);
    s_put_u (o, r->n_boxes, 1);
    for (uint32_t i = 0; i < r->n_boxes && i < DEPLOY_ROLLOUT_BOXES; i++) {
        s_put (o, r->box[i].b, MW_ID_LEN);
        s_put_u (o, r->box_wave[i], 1);
    }
    s_put_s (o, r->reason, sizeof r->reason);
    s_put_stamp (o, &r->stamp);
}

static void
s_get_rollout (s_in_t *in, deploy_rollout_t *r)
{
    memset (r, 0, sizeof *r);
    s_get_s (in, r->name, sizeof r->name);
    s_get_s (in, r->slot, sizeof r->slot);
    s_get_s (in, r->version, sizeof r->version);
    s_get_s (in, r->variant_by, sizeof r->variant_by);
    r->state = (uint8_t) s_get_u (in, 1);
    r->wave = (uint8_t) s_get_u (in, 1);
    r->waves = (uint8_t) s_get_u (in, 1);
    r->health_ms = (uint32_t) s_get_u (in, 4);
    r->n_boxes = (uint32_t) s_get_u (in, 1);
    if (r->n_boxes > DEPLOY_ROLLOUT_BOXES) {
        in->bad = true;
        return;
    }
    for (uint32_t i = 0; i < r->n_boxes; i++) {
        s_get (in, r->box[i].b, MW_ID_LEN);
        r->box_wave[i] = (uint8_t) s_get_u (in, 1);
    }
    s_get_s (in, r->reason, sizeof r->reason);
    s_get_stamp (in, &r->stamp);
}

int
deploy_plan_pack (const deploy_plan_t *self, uint8_t **out, size_t *len)
{
    s_out_t o = {malloc (DEPLOY_PLAN_BYTES_MAX), 0, DEPLOY_PLAN_BYTES_MAX, false};
    if (!o.p)
        return -1;
    s_put_u (&o, S_FMT_PLAN, 1);
    s_put_u (&o, S_FMT_VER, 1);
    s_put_u (&o, self->n_epochs, 1);
    s_put_u (&o, self->n_entries, 2);
    s_put_u (&o, self->n_rollouts, 1);
    for (size_t i = 0; i < self->n_epochs; i++) {
        s_put_u (&o, self->epoch[i].ballot.n, 8);
        s_put_u (&o, self->epoch[i].ballot.rank, 4);
        s_put (&o, self->epoch[i].ballot.id.b, MW_ID_LEN);
        s_put_stamp (&o, &self->epoch[i].fence);
    }
    for (size_t i = 0; i < self->n_entries; i++)
        s_put_entry (&o, &self->entry[i]);
    for (size_t i = 0; i < self->n_rollouts; i++)
        s_put_rollout (&o, &self->rollout[i]);
    if (o.bad) {
        free (o.p);
        return -1;
    }
    *out = o.p;
    *len = o.len;
    return 0;
}

deploy_plan_t *
deploy_plan_unpack (const uint8_t *data, size_t len)
{
    if (!data || len > DEPLOY_PLAN_BYTES_MAX)
        return NULL;
    s_in_t in = {data, len, 0, false};
    if (s_get_u (&in, 1) != S_FMT_PLAN || s_get_u (&in, 1) != S_FMT_VER)
        return NULL;
    size_t ne = (size_t) s_get_u (&in, 1), nn = (size_t) s_get_u (&in, 2), nr = (size_t) s_get_u (&in, 1);
    if (in.bad || ne > DEPLOY_EPOCHS_MAX || nn > DEPLOY_ENTRIES_MAX || nr > DEPLOY_ROLLOUTS_MAX)
        return NULL;
    deploy_plan_t *p = deploy_plan_new ();
    if (!p)
        return NULL;
    for (size_t i = 0; i < ne && !in.bad; i++) {
        deploy_epoch_t *e = &p->epoch[i];
        e->ballot.n = s_get_u (&in, 8);
        e->ballot.rank = (uint32_t) s_get_u (&in, 4);
        s_get (&in, e->ballot.id.b, MW_ID_LEN);
        s_get_stamp (&in, &e->fence);
        if (!s_ballot_ok (&e->ballot) || !s_ballot_ok (&e->fence.b)
            || election_ballot_cmp (&e->fence.b, &e->ballot) >= 0)
            in.bad = true;
    }
    p->n_epochs = ne;
    for (size_t i = 0; i < nn && !in.bad; i++) {
        s_get_entry (&in, &p->entry[i]);
        if (!in.bad && !s_entry_ok (&p->entry[i]))
            in.bad = true;
        for (size_t j = 0; j < i && !in.bad; j++)   //  one entry per (box, slot)
            if (mw_id_eq (&p->entry[j].box, &p->entry[i].box)
                && strcmp (p->entry[j].slot, p->entry[i].slot) == 0)
                in.bad = true;
    }
    p->n_entries = nn;
    for (size_t i = 0; i < nr && !in.bad; i++) {
        s_get_rollout (&in, &p->rollout[i]);
        if (!in.bad && !s_rollout_ok (&p->rollout[i]))
            in.bad = true;
    }
    p->n_rollouts = nr;
    if (in.bad || in.at != len) {
        deploy_plan_destroy (&p);
        return NULL;
    }
    return p;
}

int
deploy_report_pack (const deploy_report_t *r, uint8_t **out, size_t *len)
{
    if (r->n > DEPLOY_BOX_SLOTS)
        return -1;
    s_out_t o = {malloc (DEPLOY_REPORT_BYTES_MAX), 0, DEPLOY_REPORT_BYTES_MAX, false};
    if (!o.p)
        return -1;
    s_put_u (&o, S_FMT_REPORT, 1);
    s_put_u (&o, S_FMT_VER, 1);
    s_put (&o, r->box.b, MW_ID_LEN);
    s_put_u (&o, r->n, 1);
    for (uint32_t i = 0; i < r->n; i++) {
        const deploy_actual_t *a = &r->slot[i];
        s_put_s (&o, a->slot, sizeof a->slot);
        s_put_s (&o, a->name, sizeof a->name);
        s_put_s (&o, a->version, sizeof a->version);
        s_put_s (&o, a->active, sizeof a->active);
        s_put_s (&o, a->variant, sizeof a->variant);
        s_put_u (&o, a->state, 1);
        s_put_u (&o, a->restarts, 4);
        s_put_u (&o, a->running_ms, 4);
        s_put_s (&o, a->error, sizeof a->error);
        s_put_stamp (&o, &a->applied);
    }
    if (o.bad) {
        free (o.p);
        return -1;
    }
    *out = o.p;
    *len = o.len;
    return 0;
}

int
deploy_report_unpack (const uint8_t *data, size_t len, deploy_report_t *r)
{
    memset (r, 0, sizeof *r);
    if (!data || len > DEPLOY_REPORT_BYTES_MAX)
        return -1;
    s_in_t in = {data, len, 0, false};
    if (s_get_u (&in, 1) != S_FMT_REPORT || s_get_u (&in, 1) != S_FMT_VER)
        return -1;
    s_get (&in, r->box.b, MW_ID_LEN);
    r->n = (uint32_t) s_get_u (&in, 1);
    if (r->n > DEPLOY_BOX_SLOTS)
        return -1;
    for (uint32_t i = 0; i < r->n && !in.bad; i++) {
        deploy_actual_t *a = &r->slot[i];
        s_get_s (&in, a->slot, sizeof a->slot);
        s_get_s (&in, a->name, sizeof a->name);
        s_get_s (&in, a->version, sizeof a->version);
        s_get_s (&in, a->active, sizeof a->active);
        s_get_s (&in, a->variant, sizeof a->variant);
        a->state = (uint8_t) s_get_u (&in, 1);
        a->restarts = (uint32_t) s_get_u (&in, 4);
        a->running_ms = (uint32_t) s_get_u (&in, 4);
        s_get_s (&in, a->error, sizeof a->error);
        s_get_stamp (&in, &a->applied);
        if (in.bad)
            break;
        if (!deploy_name_ok (a->slot, sizeof a->slot) || !s_opt_name_ok (a->name, sizeof a->name)
            || !s_opt_name_ok (a->version, sizeof a->version) || !s_opt_name_ok (a->active, sizeof a->active)
            || !s_opt_name_ok (a->variant, sizeof a->variant) || a->state >= DEPLOY_STATE_COUNT
            || !s_text_ok (a->error, sizeof a->error) || !s_ballot_ok (&a->applied.b))
            in.bad = true;
        for (uint32_t j = 0; j < i && !in.bad; j++)
            if (strcmp (r->slot[j].slot, a->slot) == 0)
                in.bad = true;
    }
    if (in.bad || in.at != len) {
        memset (r, 0, sizeof *r);
        return -1;
    }
    return 0;
}

int
deploy_cmd_pack (const deploy_cmd_t *c, uint8_t **out, size_t *len)
{
    if (c->n_boxes > DEPLOY_ROLLOUT_BOXES)
        return -1;
    s_out_t o = {malloc (DEPLOY_CMD_BYTES_MAX), 0, DEPLOY_CMD_BYTES_MAX, false};
    if (!o.p)
        return -1;
    s_put_u (&o, S_FMT_CMD, 1);
    s_put_u (&o, S_FMT_VER, 1);
    s_put_u (&o, c->op, 1);
    s_put_s (&o, c->name, sizeof c->name);
    s_put_s (&o, c->version, sizeof c->version);
    s_put_s (&o, c->slot, sizeof c->slot);
    s_put_s (&o, c->variant_by, sizeof c->variant_by);
    s_put_u (&o, c->waves, 1);
    s_put_u (&o, c->health_ms, 4);
    s_put_u (&o, c->n_boxes, 1);
    for (uint32_t i = 0; i < c->n_boxes; i++)
        s_put (&o, c->box[i].b, MW_ID_LEN);
    if (o.bad) {
        free (o.p);
        return -1;
    }
    *out = o.p;
    *len = o.len;
    return 0;
}

int
deploy_cmd_unpack (const uint8_t *data, size_t len, deploy_cmd_t *c)
{
    memset (c, 0, sizeof *c);
    if (!data || len > DEPLOY_CMD_BYTES_MAX)
        return -1;
    s_in_t in = {data, len, 0, false};
    if (s_get_u (&in, 1) != S_FMT_CMD || s_get_u (&in, 1) != S_FMT_VER)
        return -1;
    c->op = (uint8_t) s_get_u (&in, 1);
    s_get_s (&in, c->name, sizeof c->name);
    s_get_s (&in, c->version, sizeof c->version);
    s_get_s (&in, c->slot, sizeof c->slot);
    s_get_s (&in, c->variant_by, sizeof c->variant_by);
    c->waves = (uint8_t) s_get_u (&in, 1);
    c->health_ms = (uint32_t) s_get_u (&in, 4);
    c->n_boxes = (uint32_t) s_get_u (&in, 1);
    if (c->n_boxes > DEPLOY_ROLLOUT_BOXES)
        return -1;
    for (uint32_t i = 0; i < c->n_boxes; i++)
        s_get (&in, c->box[i].b, MW_ID_LEN);
    bool ok = !in.bad && in.at == len && (c->op == DEPLOY_CMD_DEPLOY || c->op == DEPLOY_CMD_UNDEPLOY)
              && deploy_name_ok (c->name, sizeof c->name) && s_opt_name_ok (c->slot, sizeof c->slot)
              && s_opt_name_ok (c->variant_by, sizeof c->variant_by) && c->waves <= DEPLOY_WAVES_MAX
              && (c->op == DEPLOY_CMD_UNDEPLOY ? s_opt_name_ok (c->version, sizeof c->version)
                                               : deploy_name_ok (c->version, sizeof c->version));
    if (!ok) {
        memset (c, 0, sizeof *c);
        return -1;
    }
    return 0;
}

//  Order-independent: the sum of each record's FNV-1a over its packed form.
static uint64_t
s_fnv (const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

uint64_t
deploy_plan_digest (const deploy_plan_t *self)
{
    uint8_t buf[2048];
    uint64_t d = 0;
    for (size_t i = 0; i < self->n_entries; i++) {
        s_out_t o = {buf, 0, sizeof buf, false};
        s_put_entry (&o, &self->entry[i]);
        d += s_fnv (buf, o.len);
    }
    for (size_t i = 0; i < self->n_rollouts; i++) {
        s_out_t o = {buf, 0, sizeof buf, false};
        s_put_rollout (&o, &self->rollout[i]);
        d += s_fnv (buf, o.len) * 3;
    }
    for (size_t i = 0; i < self->n_epochs; i++) {
        s_out_t o = {buf, 0, sizeof buf, false};
        s_put_u (&o, self->epoch[i].ballot.n, 8);
        s_put_u (&o, self->epoch[i].ballot.rank, 4);
        s_put (&o, self->epoch[i].ballot.id.b, MW_ID_LEN);
        s_put_stamp (&o, &self->epoch[i].fence);
        d += s_fnv (buf, o.len) * 5;
    }
    return d;
}

//  ---------------------------------------------------------------------------
//  Write (the coordinator)

int
deploy_plan_adopt (deploy_plan_t *self, const election_ballot_t *b)
{
    for (size_t i = 0; i < self->n_epochs; i++)
        if (election_ballot_cmp (&self->epoch[i].ballot, b) >= 0)
            return 0;
    deploy_epoch_t e = {.ballot = *b};
    deploy_plan_max_stamp (self, &e.fence);
    if (election_ballot_cmp (&e.fence.b, b) >= 0)
        return 0;   //  entries already under b (or above): nothing to fence for b
    return deploy_plan_merge_epoch (self, &e) == 1 ? 1 : 0;
}

//  The next stamp under b.
static deploy_stamp_t
s_next_stamp (const deploy_plan_t *self, const election_ballot_t *b)
{
    deploy_stamp_t m;
    deploy_plan_max_stamp (self, &m);
    deploy_stamp_t s = {.b = *b, .seq = 1};
    if (election_ballot_cmp (&m.b, b) == 0)
        s.seq = m.seq + 1;
    return s;
}

//  Want name@version in (box, slot): the previous version of the same
//  package becomes the fallback.  1 written, 0 already so, -1 full.
static int
s_want (deploy_plan_t *self, const election_ballot_t *b, const mw_id_t *box, const char *slot,
        const char *name, const char *version, const char *variant_by)
{
    deploy_entry_t e = {.box = *box};
    snprintf (e.slot, sizeof e.slot, "%s", slot);
    snprintf (e.name, sizeof e.name, "%s", name);
    snprintf (e.version, sizeof e.version, "%s", version);
    snprintf (e.variant_by, sizeof e.variant_by, "%s", variant_by);
    const deploy_entry_t *o = deploy_plan_find (self, box, slot);
    if (o && strcmp (o->name, name) == 0) {
        if (strcmp (o->version, version) == 0 && strcmp (o->variant_by, variant_by) == 0)
            return 0;
        snprintf (e.fallback, sizeof e.fallback, "%s",
                  strcmp (o->version, version) != 0 ? o->version : o->fallback);
    }
    e.stamp = s_next_stamp (self, b);
    return deploy_plan_merge_entry (self, &e) == 1 ? 1 : -1;
}

//  Put (box, slot) back on its fallback (a rollback): nothing runs there
//  if there was none.
static int
s_revert (deploy_plan_t *self, const election_ballot_t *b, const mw_id_t *box, const char *slot,
          const char *name, const char *version)
{
    const deploy_entry_t *o = deploy_plan_find (self, box, slot);
    if (!o || strcmp (o->name, name) != 0 || strcmp (o->version, version) != 0)
        return 0;   //  not ours to revert (another deploy since)
    deploy_entry_t e = {.box = *box};
    snprintf (e.slot, sizeof e.slot, "%s", slot);
    if (o->fallback[0]) {
        snprintf (e.name, sizeof e.name, "%s", o->name);
        snprintf (e.version, sizeof e.version, "%s", o->fallback);
        snprintf (e.variant_by, sizeof e.variant_by, "%s", o->variant_by);
    }
    e.stamp = s_next_stamp (self, b);
    return deploy_plan_merge_entry (self, &e) == 1 ? 1 : -1;
}

static deploy_rollout_t *
s_rollout_mut (deploy_plan_t *self, const char *name, const char *slot)
{
    return (deploy_rollout_t *) deploy_plan_rollout_find (self, name, slot);
}

static int
s_put_rollout_rec (deploy_plan_t *self, const election_ballot_t *b, deploy_rollout_t *r)
{
    r->stamp = s_next_stamp (self, b);
    return deploy_plan_merge_rollout (self, r) == 1 ? 0 : -1;
}

//  Write the entries of wave w.
static int
s_start_wave (deploy_plan_t *self, const election_ballot_t *b, const deploy_rollout_t *r, uint8_t w)
{
    for (uint32_t i = 0; i < r->n_boxes; i++)
        if (r->box_wave[i] == w
            && s_want (self, b, &r->box[i], r->slot, r->name, r->version, r->variant_by) < 0)
            return -1;
    return 0;
}

int
deploy_plan_apply (deploy_plan_t *self, const election_ballot_t *b, const deploy_cmd_t *cmd, char *err,
                   size_t errlen)
{
    deploy_plan_adopt (self, b);
    const char *slot = cmd->slot[0] ? cmd->slot : "main";
    if (cmd->op == DEPLOY_CMD_UNDEPLOY) {
        int n = 0;
        for (size_t i = 0; i < self->n_entries; i++) {
            deploy_entry_t *o = &self->entry[i];
            if (strcmp (o->name, cmd->name) != 0 || (cmd->slot[0] && strcmp (o->slot, cmd->slot) != 0))
                continue;
            bool target = cmd->n_boxes == 0;
            for (uint32_t k = 0; k < cmd->n_boxes && !target; k++)
                target = mw_id_eq (&cmd->box[k], &o->box);
            if (!target)
                continue;
            deploy_entry_t t = {.box = o->box};
            snprintf (t.slot, sizeof t.slot, "%s", o->slot);
            t.stamp = s_next_stamp (self, b);
            deploy_plan_merge_entry (self, &t);
            n++;
        }
        for (size_t i = 0; i < self->n_rollouts; i++) {
            deploy_rollout_t r = self->rollout[i];
            if (strcmp (r.name, cmd->name) == 0 && r.state == DEPLOY_ROLLOUT_ACTIVE
                && (!cmd->slot[0] || strcmp (r.slot, cmd->slot) == 0)) {
                r.state = DEPLOY_ROLLOUT_STOPPED;
                snprintf (r.reason, sizeof r.reason, "undeployed");
                s_put_rollout_rec (self, b, &r);
            }
        }
        if (n == 0) {
            snprintf (err, errlen, "%s is not deployed there", cmd->name);
            return -1;
        }
        return 0;
    }
    if (cmd->n_boxes == 0) {
        snprintf (err, errlen, "no box matches");
        return -1;
    }
    if (cmd->waves < 2 || cmd->n_boxes < 2) {
        //  All at once; a rollout record of the same package in this slot
        //  is finished by it.
        deploy_rollout_t *r = s_rollout_mut (self, cmd->name, slot);
        if (r && r->state == DEPLOY_ROLLOUT_ACTIVE) {
            deploy_rollout_t c = *r;
            c.state = DEPLOY_ROLLOUT_STOPPED;
            snprintf (c.reason, sizeof c.reason, "replaced by %.48s@%.31s", cmd->name, cmd->version);
            s_put_rollout_rec (self, b, &c);
        }
        for (uint32_t k = 0; k < cmd->n_boxes; k++)
            if (s_want (self, b, &cmd->box[k], slot, cmd->name, cmd->version, cmd->variant_by) < 0) {
                snprintf (err, errlen, "the plan is full (%d entries)", DEPLOY_ENTRIES_MAX);
                return -1;
            }
        return 0;
    }
    //  A rollout: the first box is the canary (wave 0), the others in
    //  waves - 1 equal waves.
    deploy_rollout_t r = {0};
    snprintf (r.name, sizeof r.name, "%s", cmd->name);
    snprintf (r.slot, sizeof r.slot, "%s", slot);
    snprintf (r.version, sizeof r.version, "%s", cmd->version);
    snprintf (r.variant_by, sizeof r.variant_by, "%s", cmd->variant_by);
    r.state = DEPLOY_ROLLOUT_ACTIVE;
    r.waves = cmd->waves;
    if (r.waves > cmd->n_boxes)
        r.waves = (uint8_t) cmd->n_boxes;
    r.health_ms = cmd->health_ms;
    r.n_boxes = cmd->n_boxes;
    uint32_t rest = cmd->n_boxes - 1, per = (rest + (r.waves - 2)) / (uint32_t) (r.waves - 1);
    for (uint32_t k = 0; k < cmd->n_boxes; k++) {
        r.box[k] = cmd->box[k];
        r.box_wave[k] = (uint8_t) (k == 0 ? 0 : 1 + (k - 1) / per);
    }
    if (s_put_rollout_rec (self, b, &r) < 0 || s_start_wave (self, b, &r, 0) < 0) {
        snprintf (err, errlen, "the plan is full");
        return -1;
    }
    for (size_t i = 0; i < self->n_rollouts; i++)
        if (strcmp (self->rollout[i].name, r.name) == 0 && strcmp (self->rollout[i].slot, r.slot) == 0)
            self->clock[i].used = false;
    return 0;
}

static const deploy_actual_t *
s_actual (const deploy_report_t *reports, size_t n, const mw_id_t *box, const char *slot)
{
    for (size_t i = 0; i < n; i++)
        if (mw_id_eq (&reports[i].box, box))
            for (uint32_t k = 0; k < reports[i].n && k < DEPLOY_BOX_SLOTS; k++)
                if (strcmp (reports[i].slot[k].slot, slot) == 0)
                    return &reports[i].slot[k];
    return NULL;
}

static bool
s_reported (const deploy_report_t *reports, size_t n, const mw_id_t *box)
{
    for (size_t i = 0; i < n; i++)
        if (mw_id_eq (&reports[i].box, box))
            return true;
    return false;
}

int
deploy_plan_rollout_step (deploy_plan_t *self, const election_ballot_t *b, const deploy_report_t *reports,
                          size_t n, uint64_t now_ms, uint32_t wave_timeout_ms, deploy_note_fn *note,
                          void *ctx)
{
    int changed = 0;
    for (size_t i = 0; i < self->n_rollouts; i++) {
        if (self->rollout[i].state != DEPLOY_ROLLOUT_ACTIVE)
            continue;
        deploy_rollout_t r = self->rollout[i];
        s_wave_clock_t *ck = &self->clock[i];
        if (!ck->used || ck->wave != r.wave || strcmp (ck->name, r.name) != 0
            || strcmp (ck->slot, r.slot) != 0) {
            ck->used = true;
            ck->wave = r.wave;
            snprintf (ck->name, sizeof ck->name, "%s", r.name);
            snprintf (ck->slot, sizeof ck->slot, "%s", r.slot);
            ck->since_ms = now_ms;
        }
        //  Any box updated so far that failed the new version stops it.
        char why[DEPLOY_ERROR_LEN] = "";
        bool healthy = true;
        for (uint32_t k = 0; k < r.n_boxes && !why[0]; k++) {
            if (r.box_wave[k] > r.wave)
                continue;
            //  A box with no report at all is not in the mesh now: it does
            //  not hold the rollout up (it converges when it is back); one
            //  that is in the mesh and says nothing yet is not healthy.
            if (!s_reported (reports, n, &r.box[k]))
                continue;
            const deploy_actual_t *a = s_actual (reports, n, &r.box[k], r.slot);
            bool mine = a && strcmp (a->name, r.name) == 0 && strcmp (a->version, r.version) == 0;
            //  A wave is healthy only if its programs run without a break:
            //  one death of the new version (a crash, a failed health
            //  check) stops the rollout - no waiting for a crash loop.
            if (mine && (a->state == DEPLOY_FAILED || a->state == DEPLOY_ROLLED_BACK || a->restarts > 0)) {
                char hex[MW_ID_HEX_LEN + 1];
                for (int j = 0; j < MW_ID_LEN; j++)
                    snprintf (hex + 2 * j, 3, "%02x", r.box[k].b[j]);
                if (a->state == DEPLOY_FAILED || a->state == DEPLOY_ROLLED_BACK)
                    snprintf (why, sizeof why, "box %s %s: %.60s", hex, deploy_state_name (a->state),
                              a->error);
                else
                    snprintf (why, sizeof why, "box %s restarted %u times: %.50s", hex, a->restarts,
                              a->error);
            }
            else if (r.box_wave[k] == r.wave
                     && !(mine && a->state == DEPLOY_RUNNING && strcmp (a->active, r.version) == 0
                          && a->running_ms >= r.health_ms))
                healthy = false;
        }
        if (!why[0] && !healthy && wave_timeout_ms && now_ms - ck->since_ms > wave_timeout_ms)
            snprintf (why, sizeof why, "wave %u not healthy after %u s", r.wave, wave_timeout_ms / 1000);
        if (why[0]) {
            for (uint32_t k = 0; k < r.n_boxes; k++)
                if (r.box_wave[k] <= r.wave)
                    s_revert (self, b, &r.box[k], r.slot, r.name, r.version);
            r.state = DEPLOY_ROLLOUT_STOPPED;
            snprintf (r.reason, sizeof r.reason, "%s", why);
            s_put_rollout_rec (self, b, &r);
            if (note)
                note (ctx, "rollout.stopped", &r, why);
            changed++;
            continue;
        }
        if (!healthy)
            continue;
        //  The wave held: the next non-empty one, or done.
        uint8_t next = (uint8_t) (r.wave + 1);
        for (; next < r.waves; next++) {
            bool any = false;
            for (uint32_t k = 0; k < r.n_boxes; k++)
                any |= r.box_wave[k] == next;
            if (any)
                break;
        }
        if (next >= r.waves) {
            r.state = DEPLOY_ROLLOUT_DONE;
            snprintf (r.reason, sizeof r.reason, "every wave healthy");
            s_put_rollout_rec (self, b, &r);
            if (note)
                note (ctx, "rollout.done", &r, r.reason);
        }
        else {
            r.wave = next;
            s_put_rollout_rec (self, b, &r);
            s_start_wave (self, b, &r, next);
            if (note)
                note (ctx, "rollout.wave", &r, "previous wave healthy");
        }
        changed++;
    }
    return changed;
}

//  ---------------------------------------------------------------------------
//  Variants

bool
deploy_variant_feed (deploy_variant_t *v, const char *reading, uint64_t now_ms, uint32_t k, uint32_t dwell_ms)
{
    if (!reading || !reading[0] || strlen (reading) >= sizeof v->candidate)
        return false;
    if (strcmp (v->candidate, reading) == 0)
        v->count++;
    else {
        snprintf (v->candidate, sizeof v->candidate, "%s", reading);
        v->count = 1;
    }
    if (v->chosen && strcmp (v->current, reading) == 0)
        return false;
    if (v->count < (k ? k : 1))
        return false;
    if (v->chosen && now_ms - v->changed_ms < dwell_ms)
        return false;
    snprintf (v->current, sizeof v->current, "%s", reading);
    v->changed_ms = now_ms;
    v->chosen = true;
    return true;
}

const char *
deploy_variant_map (const char *map, const char *result, char *out, size_t cap)
{
    if (!map || !result)
        return NULL;
    size_t rl = strlen (result);
    for (const char *p = map; *p;) {
        const char *end = strchr (p, ',');
        size_t n = end ? (size_t) (end - p) : strlen (p);
        const char *colon = memchr (p, ':', n);
        if (colon && (size_t) (colon - p) == rl && !strncmp (p, result, rl)) {
            size_t vl = n - rl - 1;
            if (vl == 0 || vl >= cap)
                return NULL;
            memcpy (out, colon + 1, vl);
            out[vl] = 0;
            return deploy_name_ok (out, cap) ? out : NULL;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return NULL;
}

//  ---------------------------------------------------------------------------
//  Selftest

#include "deploy_plan_test.inc"
