/*  =========================================================================
    deploy_plan - what should run where: the deployment plan, as pure code.

    The coordinator owns the plan: per box and slot, the package (name,
    version, the version to fall back to, the variant key) that box should
    run.  Every entry carries a stamp, (ballot, seq): the coordinator's
    election ballot when it wrote it and a sequence number that grows with
    every write under that ballot.  Every box holds a copy; copies are
    exchanged whole (anti-entropy) and merged entry by entry: per box and
    slot the highest stamp wins, so after a partition heals every box ends
    with the same plan whatever order the copies met in.

    Fencing.  A coordinator that takes over adds an EPOCH to the plan: its
    ballot and the highest stamp it held when it took over (the fence).  An
    entry whose ballot is below an epoch's ballot is valid only if its
    stamp is not above that epoch's fence: it was written before the
    takeover.  Anything a superseded coordinator writes afterwards (it
    lost its lease behind a partition and does not know yet) is above the
    fence and is ignored by every box that knows the epoch - and epochs
    travel with the plan, so that is every box the plan reaches.
    (election_accept_decision () refuses ballots too far above what a box
    has seen: the daemon checks each stamp's ballot with it before merging.)

    Rollouts.  A rollout record (per package and slot, stamped the same
    way and merged the same way) lists the boxes in waves: a canary, then
    the rest in equal waves.  The coordinator moves the rollout along with
    deploy_plan_rollout_step (), from the boxes' state reports alone: a
    wave is healthy when each of its boxes reports the new version running
    for health_ms; a box in a wave that reports failed or rolled_back, or
    a restart of the new version (one death is enough: a crash, a failed
    health check), stops the rollout and puts every updated box back on its previous
    version; the other boxes are never touched.  The record is in the
    replicated plan, so a new coordinator continues where the last one was
    (its health window starts again: it cannot know how long the old one
    had watched).

    Reports.  Each box says what it actually runs per slot (pending,
    fetching, starting, running, failed, rolled_back), with the stamp of
    the entry it applied, restarts and the last error.

    No socket, clock or global state: the daemon (node/deploy.c), the
    selftest on sim/netsim (real election instances, partitions, a
    coordinator killed mid-rollout, merge) and the fuzz target use the
    same code.  The wire form (deploy_plan_pack / _unpack) is a packed
    binary layout that travels in the DEPLOY_* messages of
    gossip/wire_def.h; unpacking checks every byte.
    ========================================================================= */
#ifndef SCHED_DEPLOY_PLAN_H_INCLUDED
#define SCHED_DEPLOY_PLAN_H_INCLUDED

#include "common/types.h"
#include "scheduler/election.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Field sizes (with the NUL) and table bounds: everything a peer can make
//  a box hold is bounded here.
#define DEPLOY_SLOT_LEN      16    //  "main", "env"
#define DEPLOY_NAME_LEN      64    //  package name
#define DEPLOY_VERSION_LEN   32    //  package version
#define DEPLOY_KEY_LEN       16    //  variant key ("weather")
#define DEPLOY_ERROR_LEN     96    //  last error, a short phrase
#define DEPLOY_ENTRIES_MAX   256   //  (box, slot) entries in a plan
#define DEPLOY_EPOCHS_MAX    8     //  takeovers remembered (older ones are implied by newer fences)
#define DEPLOY_ROLLOUTS_MAX  8     //  rollout records (finished ones are replaced first)
#define DEPLOY_ROLLOUT_BOXES 64    //  boxes in one rollout
#define DEPLOY_WAVES_MAX     8     //  waves in one rollout (the canary is wave 0)
#define DEPLOY_BOX_SLOTS     8     //  slots one box reports

typedef struct {
    election_ballot_t b;
    uint64_t seq;
} deploy_stamp_t;

//  Lexicographic (ballot, seq): <0, 0, >0.
int deploy_stamp_cmp (const deploy_stamp_t *a, const deploy_stamp_t *b);

typedef struct {
    mw_id_t box;
    char slot[DEPLOY_SLOT_LEN];
    char name[DEPLOY_NAME_LEN];          //  "" = nothing runs here (undeployed)
    char version[DEPLOY_VERSION_LEN];    //  the version wanted
    char fallback[DEPLOY_VERSION_LEN];   //  the one before it in this slot ("" none)
    char variant_by[DEPLOY_KEY_LEN];     //  "" or the variant key the box chooses by
    deploy_stamp_t stamp;
} deploy_entry_t;

typedef enum {
    DEPLOY_ROLLOUT_ACTIVE = 0,
    DEPLOY_ROLLOUT_DONE,
    DEPLOY_ROLLOUT_STOPPED,   //  a wave was unhealthy: rolled back
    DEPLOY_ROLLOUT_STATE_COUNT
} deploy_rollout_state_t;

const char *deploy_rollout_state_name (uint8_t s);

typedef struct {
    char name[DEPLOY_NAME_LEN];
    char slot[DEPLOY_SLOT_LEN];
    char version[DEPLOY_VERSION_LEN];
    char variant_by[DEPLOY_KEY_LEN];
    uint8_t state;   //  deploy_rollout_state_t
    uint8_t wave;    //  the wave being watched (ACTIVE), or the last one
    uint8_t waves;
    uint32_t health_ms;
    uint32_t n_boxes;
    mw_id_t box[DEPLOY_ROLLOUT_BOXES];
    uint8_t box_wave[DEPLOY_ROLLOUT_BOXES];
    char reason[DEPLOY_ERROR_LEN];
    deploy_stamp_t stamp;
} deploy_rollout_t;

typedef struct {
    election_ballot_t ballot;   //  the coordinator that took over
    deploy_stamp_t fence;       //  the highest stamp it held then
} deploy_epoch_t;

//  What a box actually runs in one slot.
typedef enum {
    DEPLOY_PENDING = 0,
    DEPLOY_FETCHING,
    DEPLOY_STARTING,
    DEPLOY_RUNNING,
    DEPLOY_FAILED,
    DEPLOY_ROLLED_BACK,
    DEPLOY_STATE_COUNT
} deploy_state_t;

const char *deploy_state_name (uint8_t s);
//  -1 if unknown.
int deploy_state_parse (const char *s);

typedef struct {
    char slot[DEPLOY_SLOT_LEN];
    char name[DEPLOY_NAME_LEN];
    char version[DEPLOY_VERSION_LEN];   //  the version the plan asked for
    char active[DEPLOY_VERSION_LEN];    //  the version running now ("" none; the fallback after a rollback)
    char variant[DEPLOY_VERSION_LEN];   //  the variant tag chosen ("" none)
    uint8_t state;                      //  deploy_state_t
    uint32_t restarts;
    uint32_t running_ms;   //  how long it has been running without a break (saturates)
    char error[DEPLOY_ERROR_LEN];
    deploy_stamp_t applied;   //  the stamp of the entry this answers
} deploy_actual_t;

typedef struct {
    mw_id_t box;
    uint32_t n;
    deploy_actual_t slot[DEPLOY_BOX_SLOTS];
} deploy_report_t;

//  A deploy command (the CLI's, forwarded to the coordinator).
typedef enum { DEPLOY_CMD_DEPLOY = 1, DEPLOY_CMD_UNDEPLOY = 2 } deploy_cmd_op_t;

typedef struct {
    uint8_t op;   //  deploy_cmd_op_t
    char name[DEPLOY_NAME_LEN];
    char version[DEPLOY_VERSION_LEN];   //  DEPLOY: required; UNDEPLOY: ignored
    char slot[DEPLOY_SLOT_LEN];         //  "" = "main" (DEPLOY); UNDEPLOY: "" = every slot running `name`
    char variant_by[DEPLOY_KEY_LEN];
    uint8_t waves;        //  0/1 = all at once; 2..DEPLOY_WAVES_MAX = canary + (waves - 1) waves
    uint32_t health_ms;   //  a wave must run this long (waves >= 2)
    uint32_t
        n_boxes;   //  the targets (resolved from --to / --all / --where by the box that took the command)
    mw_id_t box[DEPLOY_ROLLOUT_BOXES];
} deploy_cmd_t;

typedef struct _deploy_plan_t deploy_plan_t;

deploy_plan_t *deploy_plan_new (void);
void deploy_plan_destroy (deploy_plan_t **self_p);

//  ---- Merge (every box) ----------------------------------------------------

//  Is this stamp fenced off by an epoch (written by a coordinator after it
//  was superseded)?
bool deploy_plan_fenced (const deploy_plan_t *self, const deploy_stamp_t *s);
//  1 changed the plan, 0 nothing new, -1 refused (fenced, invalid, full).
//  A new epoch drops the entries and rollouts it fences.
int deploy_plan_merge_epoch (deploy_plan_t *self, const deploy_epoch_t *e);
int deploy_plan_merge_entry (deploy_plan_t *self, const deploy_entry_t *e);
int deploy_plan_merge_rollout (deploy_plan_t *self, const deploy_rollout_t *r);
//  Merge a whole unpacked plan (epochs first); returns how many changed.
int deploy_plan_merge (deploy_plan_t *self, const deploy_plan_t *other);

//  ---- Read -----------------------------------------------------------------

size_t deploy_plan_entries (const deploy_plan_t *self);
const deploy_entry_t *deploy_plan_entry_at (const deploy_plan_t *self, size_t i);
//  The entry for (box, slot), NULL if none.
const deploy_entry_t *deploy_plan_find (const deploy_plan_t *self, const mw_id_t *box, const char *slot);
size_t deploy_plan_rollouts (const deploy_plan_t *self);
const deploy_rollout_t *deploy_plan_rollout_at (const deploy_plan_t *self, size_t i);
const deploy_rollout_t *deploy_plan_rollout_find (const deploy_plan_t *self, const char *name,
                                                  const char *slot);
size_t deploy_plan_epochs (const deploy_plan_t *self);
const deploy_epoch_t *deploy_plan_epoch_at (const deploy_plan_t *self, size_t i);
//  The highest stamp in the plan (entries and rollouts).
void deploy_plan_max_stamp (const deploy_plan_t *self, deploy_stamp_t *out);
//  A digest of the whole plan (order-independent): equal plans, equal digests.
uint64_t deploy_plan_digest (const deploy_plan_t *self);

//  ---- Write (the coordinator) ------------------------------------------------

//  A coordinator holding ballot b takes the plan over: a new epoch (b, the
//  highest stamp held) unless one for b or above exists.  1 new, 0 already.
int deploy_plan_adopt (deploy_plan_t *self, const election_ballot_t *b);
//  Apply a command under ballot b (adopted first).  0, or -1 with err.
int deploy_plan_apply (deploy_plan_t *self, const election_ballot_t *b, const deploy_cmd_t *cmd, char *err,
                       size_t errlen);
//  Move every active rollout on from the reports (n of them, one per box
//  in the mesh now: a box in the mesh with nothing to say yet is given
//  an empty report (n = 0) and is not healthy; a box without any report
//  is away and does not hold its wave up - it converges when it is back).  now_ms is the coordinator's
//  own clock (a wave that is not healthy after wave_timeout_ms is
//  stopped).  Returns how many records changed.  `why` (may be NULL)
//  receives one line per decision for the event log.
typedef void (deploy_note_fn) (void *ctx, const char *event, const deploy_rollout_t *r, const char *detail);
int deploy_plan_rollout_step (deploy_plan_t *self, const election_ballot_t *b, const deploy_report_t *reports,
                              size_t n, uint64_t now_ms, uint32_t wave_timeout_ms, deploy_note_fn *note,
                              void *ctx);

//  ---- Wire -----------------------------------------------------------------

//  The plan as bytes (*out malloc'ed).  0/-1.
int deploy_plan_pack (const deploy_plan_t *self, uint8_t **out, size_t *len);
//  A new plan from bytes, every field checked; NULL when malformed.  The
//  unpacked plan is merged into the box's own with deploy_plan_merge ().
deploy_plan_t *deploy_plan_unpack (const uint8_t *data, size_t len);
int deploy_report_pack (const deploy_report_t *r, uint8_t **out, size_t *len);
int deploy_report_unpack (const uint8_t *data, size_t len, deploy_report_t *r);
int deploy_cmd_pack (const deploy_cmd_t *c, uint8_t **out, size_t *len);
int deploy_cmd_unpack (const uint8_t *data, size_t len, deploy_cmd_t *c);
//  The largest packed plan, report, command (wire limits).
#define DEPLOY_PLAN_BYTES_MAX                                                                                \
    (16 + DEPLOY_EPOCHS_MAX * 64 + DEPLOY_ENTRIES_MAX * 256 + DEPLOY_ROLLOUTS_MAX * 1024)
#define DEPLOY_REPORT_BYTES_MAX (16 + DEPLOY_BOX_SLOTS * 384)
#define DEPLOY_CMD_BYTES_MAX    (16 + 256 + DEPLOY_ROLLOUT_BOXES * 8)

//  Names on the wire and in commands: 1..len-1 of [A-Za-z0-9._+-] (a
//  slot, name, version or key); errors: printable ASCII.
bool deploy_name_ok (const char *s, size_t cap);

//  ---- Variants (the box's side) -------------------------------------------

//  Hysteresis for environment-adaptive variants: the current tag changes
//  only after `k` agreeing readings in a row, and not before `dwell_ms`
//  since the last change (the first choice needs the k readings only).
typedef struct {
    char current[DEPLOY_VERSION_LEN];
    char candidate[DEPLOY_VERSION_LEN];
    uint32_t count;
    uint64_t changed_ms;
    bool chosen;
} deploy_variant_t;

//  A reading (a tag, e.g. "rainy").  True when `current` changed.
bool deploy_variant_feed (deploy_variant_t *v, const char *reading, uint64_t now_ms, uint32_t k,
                          uint32_t dwell_ms);
//  ENV_RESULT_MAP ("1:sunny,4:rainy"): the tag for a result code, or NULL.
const char *deploy_variant_map (const char *map, const char *result, char *out, size_t cap);

int deploy_plan_test (bool verbose);

#endif
