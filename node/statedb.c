/*  =========================================================================
    node_statedb - persistent node state in SQLite (see statedb.h).

    Threads: the loop owns `db` (synchronous writes and reads); the writer
    thread owns `wdb` (write-behind flushes).  Two connections to one WAL
    database: SQLite's own locking orders their transactions, and a
    synchronous write that meets a flush in progress waits for it
    (busy_timeout) - a flush is at most a few hundred small rows.  The
    pending batch, the back-off and the failure log's rate limit live under
    `lock`; the mirror (what is or will be on disk, for de-duplication) is
    the loop's alone.
    ========================================================================= */
#include "node/statedb.h"
#include "common/log.h"
#include "common/sanitize.h"

#include <czmq.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLUSH_GAP_MS     1000    //  at most one write-behind transaction a second
#define BACKOFF_MIN_MS   1000    //  after a failed flush...
#define BACKOFF_MAX_MS   60000   //  ...doubling up to this
#define FAIL_LOG_GAP_MS  60000   //  failures are logged at most once a minute
#define REWRITE_AFTER_MS 60000   //  a peer's seen time is rewritten at most once a minute
#define MIRROR_MAX       1024    //  peers remembered for de-duplication
#define KV_LATER_MAX     8

typedef struct {
    char id[24];
    char name[72];
    char addr[104];
    uint64_t seen_ms;
    bool forget;   //  delete the row instead
} peer_row_t;

typedef struct {
    char key[40];
    uint64_t value;
    bool used;
} kv_row_t;

struct _node_statedb_t {
    sqlite3 *db;    //  the loop's connection
    sqlite3 *wdb;   //  the writer's connection
    char path[512];
    zhashx_t *mirror;   //  id -> peer_row_t: what is (or is about to be) on disk; loop only
    uint64_t next_flush_ms;
    //  Writer thread.
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    //  guarded by lock
    bool stop, go, busy;
    zhashx_t *pending;   //  id -> peer_row_t
    kv_row_t kv[KV_LATER_MAX];
    uint64_t retry_at_ms, backoff_ms;
    uint64_t fail_log_ms;        //  next time a failure may be logged
    uint64_t fails_since_log;    //  failures not logged yet
    uint64_t failing_since_ms;   //  first failure of the current run, 0 = healthy
    node_statedb_stats_t stats;
};

static const char *s_schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS peers (id TEXT PRIMARY KEY, name TEXT, addr TEXT NOT NULL,"
    " seen_ms INTEGER NOT NULL);"
    //  The camera registry (camera/cam_registry.h): one row per camera or
    //  tombstone, with its version.
    "CREATE TABLE IF NOT EXISTS cameras (id TEXT PRIMARY KEY, hlc INTEGER NOT NULL, origin BLOB NOT NULL,"
    " deleted INTEGER NOT NULL, json TEXT NOT NULL);";

static void *s_writer (void *arg);

static void
s_row_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  --------------------------------------------------------------------------
//  Failure bookkeeping (either thread; caller holds the lock)

static void
s_failed (node_statedb_t *self, const char *what, const char *key, const char *reason, size_t rows)
{
    uint64_t now = mw_now_ms ();
    self->stats.degraded = true;
    snprintf (self->stats.last_error, sizeof self->stats.last_error, "%s", reason ? reason : "unknown");
    if (!self->failing_since_ms)
        self->failing_since_ms = now;
    self->fails_since_log++;
    if (now < self->fail_log_ms)
        return;
    //  Loud, once a minute: a full disk must not become a full log too.
    mw_error (what, "key=%s rows=%zu reason=%s failures=%llu retry_in_ms=%llu path=%s", key ? key : "-", rows,
              mw_logq (self->stats.last_error), (unsigned long long) self->fails_since_log,
              (unsigned long long) self->stats.retry_in_ms, mw_logv (self->path));
    self->fails_since_log = 0;
    self->fail_log_ms = now + FAIL_LOG_GAP_MS;
}

static void
s_succeeded (node_statedb_t *self)
{
    if (!self->stats.degraded)
        return;
    uint64_t now = mw_now_ms ();
    mw_warn ("statedb_recovered", "down_ms=%llu unlogged_failures=%llu path=%s",
             (unsigned long long) (self->failing_since_ms ? now - self->failing_since_ms : 0),
             (unsigned long long) self->fails_since_log, mw_logv (self->path));
    self->stats.degraded = false;
    self->failing_since_ms = 0;
    self->fails_since_log = 0;
    self->fail_log_ms = 0;   //  the next failure is news again
}

//  --------------------------------------------------------------------------
//  Open / close

static sqlite3 *
s_connect (const char *path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, db ? sqlite3_errmsg (db) : "cannot open");
        sqlite3_close (db);
        return NULL;
    }
    sqlite3_busy_timeout (db, 2000);
    char *msg = NULL;
    if (sqlite3_exec (db, s_schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, msg ? msg : "schema failed");
        sqlite3_free (msg);
        sqlite3_close (db);
        return NULL;
    }
    return db;
}

node_statedb_t *
node_statedb_open (const char *state_dir, char *err, size_t errlen)
{
    node_statedb_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    snprintf (self->path, sizeof self->path, "%s/state.db", state_dir);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    pthread_cond_init (&self->done, NULL);
    self->mirror = zhashx_new ();
    self->pending = zhashx_new ();
    if (!self->mirror || !self->pending) {
        snprintf (err, errlen, "out of memory");
        node_statedb_close (&self);
        return NULL;
    }
    zhashx_set_destructor (self->mirror, s_row_free);
    zhashx_set_destructor (self->pending, s_row_free);
    self->db = s_connect (self->path, err, errlen);
    if (self->db)
        self->wdb = s_connect (self->path, err, errlen);
    if (!self->db || !self->wdb) {
        node_statedb_close (&self);
        return NULL;
    }
    if (pthread_create (&self->thread, NULL, s_writer, self) != 0) {
        snprintf (err, errlen, "cannot start the state DB writer thread");
        node_statedb_close (&self);
        return NULL;
    }
    self->thread_started = true;
    return self;
}

void
node_statedb_close (node_statedb_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    node_statedb_t *self = *self_p;
    if (self->thread_started) {
        node_statedb_flush (self, 2000);   //  one last try; what fails is lost (it is a cache)
        pthread_mutex_lock (&self->lock);
        self->stop = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->thread, NULL);
    }
    sqlite3_close (self->wdb);
    sqlite3_close (self->db);
    zhashx_destroy (&self->mirror);
    zhashx_destroy (&self->pending);
    pthread_cond_destroy (&self->wake);
    pthread_cond_destroy (&self->done);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Synchronous

int
node_statedb_get_u64 (node_statedb_t *self, const char *key, uint64_t *value)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, "SELECT value FROM kv WHERE key=?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st);
    int out = -1;
    if (rc == SQLITE_ROW) {
        *value = (uint64_t) sqlite3_column_int64 (st, 0);
        out = 0;
    }
    else if (rc == SQLITE_DONE)
        out = 1;
    sqlite3_finalize (st);
    return out;
}

static int
s_put_u64 (sqlite3 *db, const char *key, uint64_t value)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (db,
                            "INSERT INTO kv(key,value) VALUES(?,?) "
                            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                            -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) value);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize (st);
    return rc;
}

int
node_statedb_set_u64 (node_statedb_t *self, const char *key, uint64_t value)
{
    return node_statedb_set_u64s (self, &key, &value, 1);
}

int
node_statedb_set_u64s (node_statedb_t *self, const char *const *keys, const uint64_t *values, size_t n)
{
    int rc = sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = s_put_u64 (self->db, keys[i], values[i]);
    if (rc == 0 && sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    pthread_mutex_lock (&self->lock);
    if (rc) {
        char reason[128];
        snprintf (reason, sizeof reason, "%s", sqlite3_errmsg (self->db));
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
        self->stats.sync_failures++;
        s_failed (self, "statedb_write_failed", n ? keys[0] : "-", reason, n);
    }
    else
        s_succeeded (self);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

const char *
node_statedb_last_error (node_statedb_t *self)
{
    return self->stats.last_error;
}

//  --------------------------------------------------------------------------
//  Write-behind: the loop's side

static int
s_pending_put (node_statedb_t *self, const peer_row_t *row)
{
    int rc = 0;
    pthread_mutex_lock (&self->lock);
    peer_row_t *p = (peer_row_t *) zhashx_lookup (self->pending, row->id);
    if (p)
        *p = *row;
    else if (zhashx_size (self->pending) >= NODE_STATEDB_PENDING_MAX) {
        self->stats.dropped++;
        rc = -1;
    }
    else if ((p = malloc (sizeof *p)) != NULL) {
        *p = *row;
        zhashx_insert (self->pending, row->id, p);
    }
    else
        rc = -1;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
node_statedb_peer_note (node_statedb_t *self, const char *id_hex, const char *name, const char *addr,
                        uint64_t seen_wall_ms)
{
    if (!id_hex || !*id_hex || !addr || !*addr)
        return -1;
    peer_row_t row;
    memset (&row, 0, sizeof row);
    snprintf (row.id, sizeof row.id, "%s", id_hex);
    snprintf (row.name, sizeof row.name, "%s", name ? name : "");
    snprintf (row.addr, sizeof row.addr, "%s", addr);
    row.seen_ms = seen_wall_ms;
    //  Already written (or on its way) with the same name and address, and
    //  not long ago: nothing to do.  This is what keeps a 1 Hz sync of the
    //  whole member list from turning into a write a second per peer.
    peer_row_t *m = (peer_row_t *) zhashx_lookup (self->mirror, row.id);
    if (m && !m->forget && !strcmp (m->name, row.name) && !strcmp (m->addr, row.addr)
        && seen_wall_ms < m->seen_ms + REWRITE_AFTER_MS)
        return 0;
    if (s_pending_put (self, &row) != 0)
        return -1;
    if (!m) {
        if (zhashx_size (self->mirror) >= MIRROR_MAX)
            zhashx_purge (self->mirror);   //  costs some rewrites, bounds the memory
        m = malloc (sizeof *m);
        if (!m)
            return 0;
        zhashx_insert (self->mirror, row.id, m);
    }
    *m = row;
    return 0;
}

int
node_statedb_peer_forget (node_statedb_t *self, const char *id_hex)
{
    if (!id_hex || !*id_hex)
        return -1;
    peer_row_t row;
    memset (&row, 0, sizeof row);
    snprintf (row.id, sizeof row.id, "%s", id_hex);
    row.forget = true;
    zhashx_delete (self->mirror, row.id);
    return s_pending_put (self, &row);
}

int
node_statedb_set_u64_later (node_statedb_t *self, const char *key, uint64_t value)
{
    int rc = -1;
    pthread_mutex_lock (&self->lock);
    kv_row_t *free_slot = NULL;
    for (int i = 0; i < KV_LATER_MAX && rc; i++) {
        if (self->kv[i].used && !strcmp (self->kv[i].key, key)) {
            self->kv[i].value = value;
            rc = 0;
        }
        else if (!self->kv[i].used && !free_slot)
            free_slot = &self->kv[i];
    }
    if (rc && free_slot && strlen (key) < sizeof free_slot->key) {
        snprintf (free_slot->key, sizeof free_slot->key, "%s", key);
        free_slot->value = value;
        free_slot->used = true;
        rc = 0;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

static bool
s_has_pending (node_statedb_t *self)
{
    if (zhashx_size (self->pending))
        return true;
    for (int i = 0; i < KV_LATER_MAX; i++)
        if (self->kv[i].used)
            return true;
    return false;
}

void
node_statedb_tick (node_statedb_t *self, uint64_t now_ms)
{
    if (now_ms < self->next_flush_ms)
        return;
    pthread_mutex_lock (&self->lock);
    if (!self->busy && !self->go && now_ms >= self->retry_at_ms && s_has_pending (self)) {
        self->go = true;
        pthread_cond_signal (&self->wake);
        self->next_flush_ms = now_ms + FLUSH_GAP_MS;
    }
    pthread_mutex_unlock (&self->lock);
}

int
node_statedb_flush (node_statedb_t *self, int timeout_ms)
{
    uint64_t deadline = mw_now_ms () + (uint64_t) timeout_ms;
    pthread_mutex_lock (&self->lock);
    self->retry_at_ms = 0;   //  an explicit flush does not wait out the back-off
    while (s_has_pending (self) || self->busy || self->go) {
        if (!self->busy && !self->go) {
            self->go = true;
            pthread_cond_signal (&self->wake);
        }
        uint64_t now = mw_now_ms ();
        if (now >= deadline)
            break;
        struct timespec ts;
        clock_gettime (CLOCK_REALTIME, &ts);
        uint64_t wait = deadline - now < 100 ? deadline - now : 100;
        ts.tv_nsec += (long) (wait * 1000000);
        ts.tv_sec += ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_cond_timedwait (&self->done, &self->lock, &ts);
        //  A failed flush re-queues its batch: do not spin on it.
        if (self->stats.degraded && !self->busy && !self->go)
            break;
    }
    int rc = s_has_pending (self) ? -1 : 0;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

//  --------------------------------------------------------------------------
//  Write-behind: the writer thread

//  One transaction for the whole batch.  0/-1 (reason in err).
static int
s_write_batch (node_statedb_t *self, zhashx_t *batch, const kv_row_t *kv, char *err, size_t errlen)
{
    sqlite3 *db = self->wdb;
    sqlite3_stmt *up = NULL, *del = NULL;
    int rc = sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    if (rc == 0
        && (sqlite3_prepare_v2 (
                db,
                "INSERT INTO peers(id,name,addr,seen_ms) VALUES(?,?,?,?) ON CONFLICT(id) "
                "DO UPDATE SET name=excluded.name, addr=excluded.addr, seen_ms=excluded.seen_ms",
                -1, &up, NULL)
                != SQLITE_OK
            || sqlite3_prepare_v2 (db, "DELETE FROM peers WHERE id=?", -1, &del, NULL) != SQLITE_OK))
        rc = -1;
    for (peer_row_t *p = (peer_row_t *) zhashx_first (batch); p && rc == 0;
         p = (peer_row_t *) zhashx_next (batch)) {
        sqlite3_stmt *st = p->forget ? del : up;
        sqlite3_reset (st);
        sqlite3_bind_text (st, 1, p->id, -1, SQLITE_STATIC);
        if (!p->forget) {
            sqlite3_bind_text (st, 2, p->name, -1, SQLITE_STATIC);
            sqlite3_bind_text (st, 3, p->addr, -1, SQLITE_STATIC);
            sqlite3_bind_int64 (st, 4, (sqlite3_int64) p->seen_ms);
        }
        if (sqlite3_step (st) != SQLITE_DONE)
            rc = -1;
    }
    for (int i = 0; i < KV_LATER_MAX && rc == 0; i++)
        if (kv[i].used)
            rc = s_put_u64 (db, kv[i].key, kv[i].value);
    //  Keep the table small: the most recent peers are plenty to rejoin.
    if (rc == 0 && zhashx_size (batch)) {
        char sql[160];
        snprintf (sql, sizeof sql,
                  "DELETE FROM peers WHERE id NOT IN (SELECT id FROM peers ORDER BY seen_ms DESC LIMIT %d)",
                  NODE_STATEDB_PEERS_MAX);
        if (sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK)
            rc = -1;
    }
    sqlite3_finalize (up);
    sqlite3_finalize (del);
    if (rc == 0 && sqlite3_exec (db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    if (rc) {
        snprintf (err, errlen, "%s", sqlite3_errmsg (db));
        sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

static void *
s_writer (void *arg)
{
    node_statedb_t *self = (node_statedb_t *) arg;
    pthread_mutex_lock (&self->lock);
    while (true) {
        while (!self->stop && !self->go)
            pthread_cond_wait (&self->wake, &self->lock);
        if (!self->go)
            break;   //  stop, nothing asked for
        //  Take the batch; the loop keeps noting into a fresh one meanwhile.
        zhashx_t *batch = self->pending;
        zhashx_t *fresh = zhashx_new ();
        if (!fresh) {
            self->go = false;
            pthread_cond_broadcast (&self->done);
            continue;
        }
        zhashx_set_destructor (fresh, s_row_free);
        self->pending = fresh;
        kv_row_t kv[KV_LATER_MAX];
        memcpy (kv, self->kv, sizeof kv);
        memset (self->kv, 0, sizeof self->kv);
        self->go = false;
        self->busy = true;
        pthread_mutex_unlock (&self->lock);

        char err[128] = "";
        uint64_t t0 = mw_now_ms ();
        size_t rows = zhashx_size (batch);
        int rc = s_write_batch (self, batch, kv, err, sizeof err);
        uint64_t took = mw_now_ms () - t0;

        pthread_mutex_lock (&self->lock);
        if (took > self->stats.worst_flush_ms)
            self->stats.worst_flush_ms = took;
        if (rc == 0) {
            self->stats.flushes++;
            self->stats.rows += rows;
            self->backoff_ms = 0;
            self->retry_at_ms = 0;
            self->stats.retry_in_ms = 0;
            s_succeeded (self);
            zhashx_destroy (&batch);
        }
        else {
            //  Keep what failed, unless a newer note replaced it meanwhile.
            for (peer_row_t *p = (peer_row_t *) zhashx_first (batch); p;
                 p = (peer_row_t *) zhashx_next (batch))
                if (!zhashx_lookup (self->pending, p->id)
                    && zhashx_size (self->pending) < NODE_STATEDB_PENDING_MAX) {
                    peer_row_t *copy = malloc (sizeof *copy);
                    if (copy) {
                        *copy = *p;
                        zhashx_insert (self->pending, p->id, copy);
                    }
                }
            zhashx_destroy (&batch);
            for (int i = 0; i < KV_LATER_MAX; i++) {
                if (!kv[i].used)
                    continue;
                bool newer = false;
                for (int j = 0; j < KV_LATER_MAX; j++)
                    newer |= self->kv[j].used && !strcmp (self->kv[j].key, kv[i].key);
                for (int j = 0; j < KV_LATER_MAX && !newer; j++)
                    if (!self->kv[j].used) {
                        self->kv[j] = kv[i];
                        break;
                    }
            }
            self->backoff_ms = self->backoff_ms ? self->backoff_ms * 2 : BACKOFF_MIN_MS;
            if (self->backoff_ms > BACKOFF_MAX_MS)
                self->backoff_ms = BACKOFF_MAX_MS;
            self->retry_at_ms = mw_now_ms () + self->backoff_ms;
            self->stats.retry_in_ms = self->backoff_ms;
            self->stats.flush_failures++;
            s_failed (self, "statedb_flush_failed", NULL, err, rows);
        }
        self->busy = false;
        pthread_cond_broadcast (&self->done);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

void
node_statedb_stats (node_statedb_t *self, node_statedb_stats_t *out)
{
    pthread_mutex_lock (&self->lock);
    *out = self->stats;
    out->pending = zhashx_size (self->pending);
    for (int i = 0; i < KV_LATER_MAX; i++)
        out->pending += self->kv[i].used;
    uint64_t now = mw_now_ms ();
    out->retry_in_ms = self->retry_at_ms > now ? self->retry_at_ms - now : 0;
    pthread_mutex_unlock (&self->lock);
}

//  --------------------------------------------------------------------------
//  Reads

size_t
node_statedb_peer_addrs (node_statedb_t *self, char (*addrs)[100], size_t max)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2 (self->db, "SELECT addr FROM peers ORDER BY seen_ms DESC LIMIT ?", -1, &st, NULL)
        != SQLITE_OK)
        return 0;
    sqlite3_bind_int64 (st, 1, (sqlite3_int64) max);
    while (n < max && sqlite3_step (st) == SQLITE_ROW) {
        const unsigned char *a = sqlite3_column_text (st, 0);
        snprintf (addrs[n], 100, "%s", a ? (const char *) a : "");
        if (addrs[n][0])
            n++;
    }
    sqlite3_finalize (st);
    return n;
}

//  --------------------------------------------------------------------------
//  Selftest

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            printf ("node_statedb_test: FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                       \
            printf (__VA_ARGS__);                                                                            \
            printf ("\n");                                                                                   \
            rc = -1;                                                                                         \
            goto done;                                                                                       \
        }                                                                                                    \
    } while (0)

static int
s_count (sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_prepare_v2 (db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step (st) == SQLITE_ROW)
        n = sqlite3_column_int (st, 0);
    sqlite3_finalize (st);
    return n;
}

static int
s_log_lines (const char *path, const char *event)
{
    FILE *f = fopen (path, "r");
    char line[1024];
    int n = 0;
    while (f && fgets (line, sizeof line, f))
        n += strstr (line, event) != NULL;
    if (f)
        fclose (f);
    return n;
}

int
node_statedb_cameras_put (node_statedb_t *self, const node_statedb_camera_t *rows, size_t n)
{
    if (n == 0)
        return 0;
    int rc = sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    sqlite3_stmt *st = NULL;
    if (rc == 0
        && sqlite3_prepare_v2 (self->db,
                               "INSERT INTO cameras(id,hlc,origin,deleted,json) VALUES(?,?,?,?,?) "
                               "ON CONFLICT(id) DO UPDATE SET hlc=excluded.hlc, origin=excluded.origin, "
                               "deleted=excluded.deleted, json=excluded.json",
                               -1, &st, NULL)
               != SQLITE_OK)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_reset (st);
        sqlite3_bind_text (st, 1, rows[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_int64 (st, 2, (sqlite3_int64) rows[i].hlc);
        sqlite3_bind_blob (st, 3, rows[i].origin, 8, SQLITE_STATIC);
        sqlite3_bind_int (st, 4, rows[i].deleted ? 1 : 0);
        sqlite3_bind_text (st, 5, rows[i].json ? rows[i].json : "", -1, SQLITE_STATIC);
        if (sqlite3_step (st) != SQLITE_DONE)
            rc = -1;
    }
    sqlite3_finalize (st);
    if (rc == 0 && sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    pthread_mutex_lock (&self->lock);
    if (rc) {
        char reason[128];
        snprintf (reason, sizeof reason, "%s", sqlite3_errmsg (self->db));
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
        self->stats.sync_failures++;
        s_failed (self, "statedb_write_failed", "cameras", reason, n);
    }
    else
        s_succeeded (self);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
node_statedb_cameras_delete (node_statedb_t *self, const char *id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, "DELETE FROM cameras WHERE id=?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize (st);
    return rc;
}

int
node_statedb_cameras_each (node_statedb_t *self, void (*fn) (void *ctx, const node_statedb_camera_t *row),
                           void *ctx)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, "SELECT id,hlc,origin,deleted,json FROM cameras", -1, &st, NULL)
        != SQLITE_OK)
        return -1;
    int n = 0;
    while (sqlite3_step (st) == SQLITE_ROW) {
        node_statedb_camera_t row;
        memset (&row, 0, sizeof row);
        const unsigned char *id = sqlite3_column_text (st, 0);
        const void *origin = sqlite3_column_blob (st, 2);
        if (!id || !origin || sqlite3_column_bytes (st, 2) != 8)
            continue;   //  not ours: skip the row
        row.id = (const char *) id;
        row.hlc = (uint64_t) sqlite3_column_int64 (st, 1);
        memcpy (row.origin, origin, 8);
        row.deleted = sqlite3_column_int (st, 3) != 0;
        row.json = (const char *) sqlite3_column_text (st, 4);
        fn (ctx, &row);
        n++;
    }
    sqlite3_finalize (st);
    return n;
}

static void
s_test_row (void *ctx, const node_statedb_camera_t *row)
{
    int *seen = (int *) ctx;
    if (!strcmp (row->id, "cam-1") && row->hlc == 77 && row->origin[7] == 8 && !row->deleted
        && !strcmp (row->json, "{\"a\":1}"))
        seen[0]++;
    if (!strcmp (row->id, "cam-2") && row->deleted)
        seen[1]++;
}

int
node_statedb_test (bool verbose)
{
    int rc = 0;
    char dir[] = "/tmp/mw-statedb-XXXXXX";
    char logpath[600] = "";
    sqlite3 *other = NULL;
    if (!mkdtemp (dir))
        return -1;
    char err[256];
    node_statedb_t *db = node_statedb_open (dir, err, sizeof err);
    CHECK (db, "open: %s", err);
    snprintf (logpath, sizeof logpath, "%s/test.log", dir);
    mw_log_set_file (logpath);

    //  Synchronous keys survive a reopen.
    uint64_t v = 0;
    CHECK (node_statedb_get_u64 (db, "incarnation", &v) == 1, "absent key");
    CHECK (node_statedb_set_u64 (db, "incarnation", 41) == 0
               && node_statedb_set_u64 (db, "incarnation", 42) == 0,
           "set");
    const char *keys[] = {"k1", "k2"};
    uint64_t vals[] = {7, UINT64_MAX};
    CHECK (node_statedb_set_u64s (db, keys, vals, 2) == 0, "set several");

    //  Write-behind: 300 peers noted, one flush, the 256 newest kept.
    char id[24], addr[64];
    for (int i = 0; i < 300; i++) {
        snprintf (id, sizeof id, "%016x", i);
        snprintf (addr, sizeof addr, "tcp://127.0.0.1:%d", 1000 + i);
        CHECK (node_statedb_peer_note (db, id, "p", addr, 1000000 + (uint64_t) i) == 0, "note");
    }
    node_statedb_stats_t st;
    node_statedb_stats (db, &st);
    CHECK (st.pending == 300 && st.flushes == 0, "pending %llu", (unsigned long long) st.pending);
    CHECK (node_statedb_flush (db, 5000) == 0, "flush");
    node_statedb_stats (db, &st);
    CHECK (st.flushes == 1 && st.rows == 300 && st.pending == 0, "one flush of 300 rows: %llu / %llu",
           (unsigned long long) st.flushes, (unsigned long long) st.rows);
    CHECK (s_count (db->db, "SELECT count(*) FROM peers") == NODE_STATEDB_PEERS_MAX, "peers kept: %d",
           s_count (db->db, "SELECT count(*) FROM peers"));
    char addrs[4][100];
    CHECK (node_statedb_peer_addrs (db, addrs, 4) == 4 && !strcmp (addrs[0], "tcp://127.0.0.1:1299"),
           "newest first: %s", addrs[0]);
    //  Noting the same again is free; a new address or a minute later is not.
    snprintf (id, sizeof id, "%016x", 299);
    node_statedb_peer_note (db, id, "p", "tcp://127.0.0.1:1299", 1000299 + 30000);
    node_statedb_stats (db, &st);
    CHECK (st.pending == 0, "unchanged peer written again");
    node_statedb_peer_note (db, id, "p", "tcp://127.0.0.1:9", 1000299 + 30000);
    snprintf (id, sizeof id, "%016x", 298);
    node_statedb_peer_note (db, id, "p", "tcp://127.0.0.1:1298", 1000298 + 61000);
    snprintf (id, sizeof id, "%016x", 297);
    node_statedb_peer_forget (db, id);
    node_statedb_set_u64_later (db, "incarnation", 43);
    node_statedb_stats (db, &st);
    CHECK (st.pending == 4, "pending %llu, want 4", (unsigned long long) st.pending);
    //  tick: at most one flush a second
    node_statedb_tick (db, 5000);
    CHECK (node_statedb_flush (db, 5000) == 0, "flush 2");
    CHECK (node_statedb_get_u64 (db, "incarnation", &v) == 0 && v == 43, "later key: %llu",
           (unsigned long long) v);
    CHECK (s_count (db->db, "SELECT count(*) FROM peers WHERE addr='tcp://127.0.0.1:9'") == 1, "new address");
    CHECK (s_count (db->db, "SELECT count(*) FROM peers WHERE id='0000000000000129'") == 0, "forgotten peer");

    //  The disk is busy (another writer holds the lock for seconds): the
    //  loop's calls still return at once, the writer waits, fails, backs off.
    CHECK (sqlite3_open_v2 (db->path, &other, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK, "third connection");
    CHECK (sqlite3_exec (other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "hold the write lock");
    uint64_t t0 = mw_now_ms (), worst = 0;
    for (int i = 0; i < 2000; i++) {
        uint64_t a = mw_now_ms ();
        snprintf (id, sizeof id, "b%015x", i % 50);
        node_statedb_peer_note (db, id, "busy", "tcp://127.0.0.1:2", 2000000 + (uint64_t) i * 61000);
        node_statedb_tick (db, 10000 + (uint64_t) i * 1000);
        uint64_t b = mw_now_ms ();
        if (b - a > worst)
            worst = b - a;
        if (i % 100 == 0)
            usleep (2000);
    }
    uint64_t spent = mw_now_ms () - t0;
    sqlite3_exec (other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close (other);
    other = NULL;
    if (verbose)
        printf (
            " * statedb: 2000 notes+ticks while another writer held the lock: worst call %llu ms, %llu ms "
            "in all\n",
            (unsigned long long) worst, (unsigned long long) spent);
    CHECK (worst < 50, "a loop call waited %llu ms for the disk", (unsigned long long) worst);
    CHECK (node_statedb_flush (db, 8000) == 0, "flush after the lock was released");

    //  The disk is full: SQLite's max_page_count makes every write that
    //  needs a new page fail with SQLITE_FULL, as ENOSPC would.
    int pages = s_count (db->db, "PRAGMA page_count");
    char sql[96];
    snprintf (sql, sizeof sql, "PRAGMA max_page_count=%d", pages);
    sqlite3_exec (db->db, sql, NULL, NULL, NULL);
    sqlite3_exec (db->wdb, sql, NULL, NULL, NULL);
    int before = s_log_lines (logpath, "statedb_flush_failed");
    int recovered_before = s_log_lines (logpath, "statedb_recovered");
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 400; i++) {
            snprintf (id, sizeof id, "f%03d%012x", round, i);
            node_statedb_peer_note (db, id, "full", "tcp://127.0.0.1:3", 3000000 + (uint64_t) i);
        }
        node_statedb_flush (db, 3000);
    }
    node_statedb_stats (db, &st);
    CHECK (st.flush_failures >= 5 && st.degraded && st.pending > 0, "full disk: %llu failures, pending %llu",
           (unsigned long long) st.flush_failures, (unsigned long long) st.pending);
    CHECK (strstr (st.last_error, "full"), "reason: %s", st.last_error);
    int logged = s_log_lines (logpath, "statedb_flush_failed") - before;
    CHECK (logged == 1, "%d failure lines for %llu failures (want one a minute)", logged,
           (unsigned long long) st.flush_failures);
    //  Space returns: the pending rows reach the disk, recovery is logged once.
    sqlite3_exec (db->db, "PRAGMA max_page_count=1073741823", NULL, NULL, NULL);
    sqlite3_exec (db->wdb, "PRAGMA max_page_count=1073741823", NULL, NULL, NULL);
    CHECK (node_statedb_flush (db, 5000) == 0, "flush after space returned");
    node_statedb_stats (db, &st);
    CHECK (!st.degraded && st.pending == 0, "still degraded");
    CHECK (s_log_lines (logpath, "statedb_recovered") == recovered_before + 1, "recovery lines: %d",
           s_log_lines (logpath, "statedb_recovered") - recovered_before);
    if (verbose)
        printf (" * statedb: full disk: %llu failed flushes, 1 log line, recovered; worst flush %llu ms\n",
                (unsigned long long) st.flush_failures, (unsigned long long) st.worst_flush_ms);
    node_statedb_close (&db);

    //  Reopen: values survived.
    db = node_statedb_open (dir, err, sizeof err);
    CHECK (db, "reopen: %s", err);
    CHECK (node_statedb_get_u64 (db, "incarnation", &v) == 0 && v == 43, "incarnation %llu",
           (unsigned long long) v);
    CHECK (node_statedb_get_u64 (db, "k2", &v) == 0 && v == UINT64_MAX, "k2");
    //  Cameras: rows in one transaction, replaced by id, read back.
    node_statedb_camera_t rows[2] = {{"cam-1", 5, {1, 2, 3, 4, 5, 6, 7, 8}, false, "{}"},
                                     {"cam-2", 6, {0}, true, NULL}};
    CHECK (db && node_statedb_cameras_put (db, rows, 2) == 0, "cameras put");
    rows[0].hlc = 77;
    rows[0].json = "{\"a\":1}";
    CHECK (db && node_statedb_cameras_put (db, rows, 1) == 0, "cameras replace");
    node_statedb_close (&db);
    db = node_statedb_open (dir, err, sizeof err);
    int seen[2] = {0, 0};
    CHECK (db && node_statedb_cameras_each (db, s_test_row, seen) == 2 && seen[0] == 1 && seen[1] == 1,
           "cameras read back");
    CHECK (db && node_statedb_cameras_delete (db, "cam-2") == 0
               && node_statedb_cameras_each (db, s_test_row, seen) == 1,
           "camera deleted");
done:
    if (other)
        sqlite3_close (other);
    node_statedb_close (&db);
    mw_log_set_file (NULL);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    if (system (cmd) != 0)
        rc = -1;
    return rc;
}
