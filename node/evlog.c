/*  =========================================================================
    node_evlog - the durable event log (see evlog.h).

    Threads and connections: the writer thread owns `wdb` (inserts, the
    retention's deletes, the meta row); readers share `rdb` under
    `rdb_lock` (a reader only goes there when the ring no longer holds what
    it asks for).  Two connections to one WAL database: SQLite orders the
    writes, and readers never block the writer.  Everything else - the
    queue, the ring, the counters, the bounds - lives under `lock`.
    ========================================================================= */
#include "node/evlog.h"
#include "common/json.h"
#include "common/log.h"
#include "common/selftest.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define RING_SIZE        8192   //  committed events kept in memory
#define BATCH_MAX        4096   //  events per transaction at most
#define QUEUE_DEFAULT    65536
#define PRUNE_AGE_GAP_MS 5000   //  the age bound is enforced this often
#define BACKOFF_MIN_MS   100
#define BACKOFF_MAX_MS   5000
#define FAIL_LOG_GAP_MS  60000

typedef struct {
    node_evlog_entry_t e;   //  first: a node_evlog_entry_t * is an entry_t *
    int refs;
    char data[];   //  topic \0 json \0 mp
} entry_t;

struct _node_evlog_t {
    char path[512];
    sqlite3 *wdb, *rdb;
    pthread_mutex_t rdb_lock;
    uint64_t epoch;
    uint64_t keep_count, keep_age_ms;
    size_t queue_max;
    int efd;
    uint64_t next_seq;   //  loop thread only
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;        //  the writer: something queued, or stop
    pthread_cond_t committed;   //  readers: a commit, or close
    //  guarded by lock
    bool stop, closed;
    entry_t **queue;   //  FIFO of appended entries, capacity queue_max
    size_t q_head, q_len;
    entry_t *ring[RING_SIZE];   //  ring[seq % RING_SIZE] for seq in [ring_first, last]
    uint64_t ring_first;        //  oldest seq in the ring (0: empty)
    uint64_t last;              //  last committed
    uint64_t oldest;            //  oldest kept
    node_evlog_stats_t stats;
    uint64_t fail_log_ms, fails_unlogged;
    void (*on_commit) (void *, uint64_t);
    void *on_commit_ctx;
};

static void *s_writer (void *arg);

static void
s_entry_unref (entry_t *e)
{
    if (e && __atomic_sub_fetch (&e->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free (e);
}

static entry_t *
s_entry_new (uint64_t seq, uint64_t ts_ms, const char *topic, const char *json, size_t json_len,
             const void *mp, size_t mp_len)
{
    size_t tlen = strlen (topic);
    entry_t *e = malloc (sizeof *e + tlen + 1 + json_len + 1 + mp_len);
    if (!e)
        return NULL;
    char *p = e->data;
    memcpy (p, topic, tlen + 1);
    e->e.topic = p;
    p += tlen + 1;
    memcpy (p, json, json_len);
    p[json_len] = 0;
    e->e.json = p;
    e->e.json_len = json_len;
    p += json_len + 1;
    if (mp && mp_len) {
        memcpy (p, mp, mp_len);
        e->e.mp = (const unsigned char *) p;
        e->e.mp_len = mp_len;
    }
    else {
        e->e.mp = NULL;
        e->e.mp_len = 0;
    }
    e->e.seq = seq;
    e->e.ts_ms = ts_ms;
    e->refs = 1;
    return e;
}

static const char *s_schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS evlog_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL,"
    " topic TEXT NOT NULL, json TEXT NOT NULL);";

static int
s_meta_get (sqlite3 *db, const char *key, uint64_t *value)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (db, "SELECT value FROM evlog_meta WHERE key=?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st);
    int out = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (out == 0)
        *value = (uint64_t) sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    return out;
}

static int
s_meta_set (sqlite3 *db, const char *key, uint64_t value)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (db,
                            "INSERT INTO evlog_meta(key,value) VALUES(?,?) "
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

//  One integer from a one-row query (0 when NULL or no row); -1 on error.
static int
s_query_u64 (sqlite3 *db, const char *sql, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step (st);
    *out = rc == SQLITE_ROW ? (uint64_t) sqlite3_column_int64 (st, 0) : 0;
    sqlite3_finalize (st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static sqlite3 *
s_open_db (const char *path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2 (path, &db, flags, NULL) != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, db ? sqlite3_errmsg (db) : "cannot open");
        sqlite3_close (db);
        return NULL;
    }
    //  The loop's own connection (node/statedb.c) and the outboxes write to
    //  the same file: wait for them rather than fail.
    sqlite3_busy_timeout (db, 5000);
    char *msg = NULL;
    if (sqlite3_exec (db, s_schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, msg ? msg : "schema failed");
        sqlite3_free (msg);
        sqlite3_close (db);
        return NULL;
    }
    return db;
}

node_evlog_t *
node_evlog_open (const char *state_dir, const node_evlog_opts_t *opts, char *err, size_t errlen)
{
    assert (state_dir && opts);
    node_evlog_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->efd = -1;
    pthread_mutex_init (&self->lock, NULL);
    pthread_mutex_init (&self->rdb_lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    pthread_cond_init (&self->committed, NULL);
    snprintf (self->path, sizeof self->path, "%s/state.db", state_dir);
    self->keep_count = opts->keep_count ? opts->keep_count : 1;
    self->keep_age_ms = opts->keep_age_ms;
    self->queue_max = opts->queue_max ? opts->queue_max : QUEUE_DEFAULT;
    self->queue = calloc (self->queue_max, sizeof *self->queue);
    self->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!self->queue || self->efd < 0) {
        snprintf (err, errlen, "out of memory or file descriptors");
        goto fail;
    }
    self->wdb = s_open_db (self->path, err, errlen);
    self->rdb = self->wdb ? s_open_db (self->path, err, errlen) : NULL;
    if (!self->rdb)
        goto fail;
    //  The epoch: made once, with the table; a new state DB gets a new one.
    int rc = s_meta_get (self->wdb, "epoch", &self->epoch);
    if (rc == 1) {
        do
            randombytes_buf (&self->epoch, sizeof self->epoch);
        while ((self->epoch &= (UINT64_C (1) << 53) - 1) == 0);
        rc = s_meta_set (self->wdb, "epoch", self->epoch);
    }
    uint64_t last_meta = 0, last_rows = 0, oldest = 0;
    if (rc != 0 || s_meta_get (self->wdb, "last_seq", &last_meta) < 0
        || s_query_u64 (self->wdb, "SELECT MAX(seq) FROM events", &last_rows) != 0
        || s_query_u64 (self->wdb, "SELECT MIN(seq) FROM events", &oldest) != 0) {
        snprintf (err, errlen, "%s: cannot read the event log: %s", self->path, sqlite3_errmsg (self->wdb));
        goto fail;
    }
    //  The meta row is written with every commit; MAX(seq) covers a table
    //  from before it.  Retention may have emptied the table: the meta row
    //  still says where seq is.
    self->last = last_meta > last_rows ? last_meta : last_rows;
    self->oldest = oldest ? oldest : self->last + 1;
    self->next_seq = self->last + 1;
    if (pthread_create (&self->thread, NULL, s_writer, self) != 0) {
        snprintf (err, errlen, "cannot start the event log writer");
        goto fail;
    }
    self->thread_started = true;
    mw_info ("evlog_open", "epoch=%" PRIu64 " last=%" PRIu64 " oldest=%" PRIu64 " keep=%" PRIu64, self->epoch,
             self->last, self->oldest, self->keep_count);
    return self;
fail:
    node_evlog_close (&self);
    return NULL;
}

void
node_evlog_close (node_evlog_t **self_p)
{
    assert (self_p);
    node_evlog_t *self = *self_p;
    if (!self)
        return;
    if (self->thread_started) {
        node_evlog_flush (self, 2000);
        pthread_mutex_lock (&self->lock);
        self->stop = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->thread, NULL);
    }
    pthread_mutex_lock (&self->lock);
    self->closed = true;
    pthread_cond_broadcast (&self->committed);
    if (self->q_len)
        mw_error ("evlog_lost", "events=%zu reason=\"not committed at close\"", self->q_len);
    for (size_t i = 0; i < self->q_len; i++)
        s_entry_unref (self->queue[(self->q_head + i) % self->queue_max]);
    for (size_t i = 0; i < RING_SIZE; i++)
        s_entry_unref (self->ring[i]);
    pthread_mutex_unlock (&self->lock);
    sqlite3_close (self->wdb);
    sqlite3_close (self->rdb);
    if (self->efd >= 0)
        close (self->efd);
    free (self->queue);
    pthread_cond_destroy (&self->wake);
    pthread_cond_destroy (&self->committed);
    pthread_mutex_destroy (&self->rdb_lock);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

uint64_t
node_evlog_epoch (node_evlog_t *self)
{
    assert (self);
    return self->epoch;
}

uint64_t
node_evlog_next_seq (node_evlog_t *self)
{
    assert (self);
    return self->next_seq;
}

int
node_evlog_append (node_evlog_t *self, const char *topic, uint64_t ts_ms, const char *json, size_t json_len,
                   const void *mp, size_t mp_len)
{
    assert (self && topic && json);
    entry_t *e = s_entry_new (self->next_seq, ts_ms, topic, json, json_len, mp, mp_len);
    pthread_mutex_lock (&self->lock);
    if (!e || self->q_len >= self->queue_max || self->stop) {
        //  The disk is slower than the events (or failing): drop the new
        //  one, loudly, rather than grow without bound.
        uint64_t d = ++self->stats.dropped;
        pthread_mutex_unlock (&self->lock);
        free (e);
        if ((d & (d - 1)) == 0)   //  1, 2, 4, 8...: loud but bounded
            mw_error ("evlog_dropped",
                      "topic=%s dropped=%" PRIu64 " reason=\"queue full (disk slow or failing)\"", topic, d);
        return -1;
    }
    self->queue[(self->q_head + self->q_len++) % self->queue_max] = e;
    self->stats.appended++;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    self->next_seq++;
    return 0;
}

int
node_evlog_fd (node_evlog_t *self)
{
    assert (self);
    return self->efd;
}

void
node_evlog_fd_ack (node_evlog_t *self)
{
    assert (self);
    uint64_t v;
    if (read (self->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        mw_debug ("evlog_fd", "reason=\"%s\"", strerror (errno));
}

//  --------------------------------------------------------------------------
//  The writer

static uint64_t
s_wall_ms (void)
{
    return mw_wall_ms ();
}

//  One transaction: the batch's rows and the meta row.  0/-1.
static int
s_commit (node_evlog_t *self, entry_t **batch, size_t n, char *why, size_t whylen)
{
    sqlite3 *db = self->wdb;
    if (sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf (why, whylen, "%s", sqlite3_errmsg (db));
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2 (db, "INSERT OR REPLACE INTO events(seq,ts_ms,topic,json) VALUES(?,?,?,?)",
                                 -1, &st, NULL)
                     == SQLITE_OK
                 ? 0
                 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const node_evlog_entry_t *e = &batch[i]->e;
        sqlite3_reset (st);
        sqlite3_bind_int64 (st, 1, (sqlite3_int64) e->seq);
        sqlite3_bind_int64 (st, 2, (sqlite3_int64) e->ts_ms);
        sqlite3_bind_text (st, 3, e->topic, -1, SQLITE_STATIC);
        sqlite3_bind_text (st, 4, e->json, (int) e->json_len, SQLITE_STATIC);
        if (sqlite3_step (st) != SQLITE_DONE)
            rc = -1;
    }
    sqlite3_finalize (st);
    if (rc == 0 && s_meta_set (db, "last_seq", batch[n - 1]->e.seq) != 0)
        rc = -1;
    if (rc == 0 && sqlite3_exec (db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    if (rc != 0) {
        snprintf (why, whylen, "%s", sqlite3_errmsg (db));
        sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

//  Retention: by count after every commit (with a little slack, so a busy
//  log deletes in chunks rather than a row per event), by age every few
//  seconds.  Writer thread; `lock` not held.
static void
s_prune (node_evlog_t *self, uint64_t last, uint64_t *next_age_ms)
{
    pthread_mutex_lock (&self->lock);
    uint64_t oldest = self->oldest;
    pthread_mutex_unlock (&self->lock);
    uint64_t slack = self->keep_count / 16 + 1;
    uint64_t count = last >= oldest ? last - oldest + 1 : 0;
    uint64_t new_oldest = oldest;
    bool changed = false;
    if (count > self->keep_count + slack) {
        new_oldest = last - self->keep_count + 1;
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2 (self->wdb, "DELETE FROM events WHERE seq < ?", -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64 (st, 1, (sqlite3_int64) new_oldest);
            changed = sqlite3_step (st) == SQLITE_DONE;
        }
        sqlite3_finalize (st);
    }
    uint64_t now = s_wall_ms ();
    if (self->keep_age_ms && now >= *next_age_ms) {
        *next_age_ms = now + PRUNE_AGE_GAP_MS;
        sqlite3_stmt *st = NULL;
        if (now > self->keep_age_ms
            && sqlite3_prepare_v2 (self->wdb, "DELETE FROM events WHERE ts_ms < ?", -1, &st, NULL)
                   == SQLITE_OK) {
            sqlite3_bind_int64 (st, 1, (sqlite3_int64) (now - self->keep_age_ms));
            if (sqlite3_step (st) == SQLITE_DONE && sqlite3_changes (self->wdb) > 0) {
                uint64_t min = 0;
                if (s_query_u64 (self->wdb, "SELECT MIN(seq) FROM events", &min) == 0) {
                    uint64_t o = min ? min : last + 1;
                    if (o > new_oldest)
                        new_oldest = o;
                    changed = true;
                }
            }
        }
        sqlite3_finalize (st);
    }
    if (changed && new_oldest > oldest) {
        pthread_mutex_lock (&self->lock);
        self->stats.pruned += new_oldest - oldest;
        if (new_oldest > self->oldest)
            self->oldest = new_oldest;
        pthread_mutex_unlock (&self->lock);
    }
}

static void *
s_writer (void *arg)
{
    node_evlog_t *self = (node_evlog_t *) arg;
    entry_t **batch = malloc (BATCH_MAX * sizeof *batch);
    uint64_t backoff = 0, next_age_ms = 0;
    pthread_mutex_lock (&self->lock);
    while (batch) {
        while (!self->q_len && !self->stop) {
            //  Wake now and then for the age bound even when idle.
            struct timespec ts;
            clock_gettime (CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait (&self->wake, &self->lock, &ts);
            if (!self->q_len && self->keep_age_ms) {
                uint64_t last = self->last;
                pthread_mutex_unlock (&self->lock);
                s_prune (self, last, &next_age_ms);
                pthread_mutex_lock (&self->lock);
            }
        }
        if (!self->q_len)
            break;   //  stop, and nothing left
        size_t n = self->q_len < BATCH_MAX ? self->q_len : BATCH_MAX;
        for (size_t i = 0; i < n; i++)
            batch[i] = self->queue[(self->q_head + i) % self->queue_max];
        bool stopping = self->stop;
        pthread_mutex_unlock (&self->lock);

        char why[160] = "";
        struct timespec c0, c1;
        clock_gettime (CLOCK_MONOTONIC, &c0);
        int rc = s_commit (self, batch, n, why, sizeof why);
        clock_gettime (CLOCK_MONOTONIC, &c1);
        int64_t dus =
            (int64_t) (c1.tv_sec - c0.tv_sec) * 1000000 + (int64_t) (c1.tv_nsec - c0.tv_nsec) / 1000;
        uint64_t us = dus > 0 ? (uint64_t) dus : 0;

        pthread_mutex_lock (&self->lock);
        if (rc == 0) {
            //  Committed: out of the queue, into the ring, visible.
            self->q_head = (self->q_head + n) % self->queue_max;
            self->q_len -= n;
            for (size_t i = 0; i < n; i++) {
                entry_t *e = batch[i];
                size_t slot = e->e.seq % RING_SIZE;
                s_entry_unref (self->ring[slot]);
                self->ring[slot] = e;   //  the queue's reference moves to the ring
            }
            self->last = batch[n - 1]->e.seq;
            if (!self->ring_first)
                self->ring_first = batch[0]->e.seq;   //  the first commit since open
            if (self->last - self->ring_first + 1 > RING_SIZE)
                self->ring_first = self->last - RING_SIZE + 1;
            self->stats.committed += n;
            self->stats.commits++;
            if (n > self->stats.batch_max)
                self->stats.batch_max = n;
            if (us > self->stats.worst_commit_us)
                self->stats.worst_commit_us = us;
            if (backoff) {
                mw_warn ("evlog_recovered", "unlogged_failures=%" PRIu64, self->fails_unlogged);
                self->fails_unlogged = 0;
                self->fail_log_ms = 0;
            }
            backoff = 0;
            uint64_t last = self->last;
            void (*hook) (void *, uint64_t) = self->on_commit;
            void *hook_ctx = self->on_commit_ctx;
            pthread_cond_broadcast (&self->committed);
            pthread_mutex_unlock (&self->lock);
            uint64_t one = 1;
            if (write (self->efd, &one, sizeof one) < 0 && errno != EAGAIN)
                mw_debug ("evlog_fd", "reason=\"%s\"", strerror (errno));
            if (hook)
                hook (hook_ctx, last);
            s_prune (self, last, &next_age_ms);
            pthread_mutex_lock (&self->lock);
        }
        else {
            //  Kept in the queue and retried; the loop goes on appending
            //  until the queue is full.  Loud once a minute.
            self->stats.failures++;
            self->fails_unlogged++;
            uint64_t now = mw_now_ms ();
            if (now >= self->fail_log_ms) {
                mw_error ("evlog_write_failed", "events=%zu reason=\"%s\" failures=%" PRIu64 " path=%s", n,
                          why, self->fails_unlogged, self->path);
                self->fails_unlogged = 0;
                self->fail_log_ms = now + FAIL_LOG_GAP_MS;
            }
            backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
            if (backoff > BACKOFF_MAX_MS)
                backoff = BACKOFF_MAX_MS;
            if (stopping)
                break;   //  close () gave up waiting
            struct timespec ts;
            clock_gettime (CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t) (backoff / 1000);
            ts.tv_nsec += (long) (backoff % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            while (!self->stop && pthread_cond_timedwait (&self->wake, &self->lock, &ts) == 0)
                ;
        }
    }
    pthread_mutex_unlock (&self->lock);
    free (batch);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Readers

static int
s_read_db (node_evlog_t *self, uint64_t after, node_evlog_entry_t **out, size_t max, uint64_t last)
{
    pthread_mutex_lock (&self->rdb_lock);
    sqlite3_stmt *st = NULL;
    int n = 0;
    if (sqlite3_prepare_v2 (self->rdb,
                            "SELECT seq, ts_ms, topic, json FROM events WHERE seq > ? AND seq <= ? "
                            "ORDER BY seq LIMIT ?",
                            -1, &st, NULL)
        != SQLITE_OK) {
        mw_error ("evlog_read_failed", "reason=\"%s\"", sqlite3_errmsg (self->rdb));
        pthread_mutex_unlock (&self->rdb_lock);
        return -1;
    }
    sqlite3_bind_int64 (st, 1, (sqlite3_int64) after);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) last);
    sqlite3_bind_int64 (st, 3, (sqlite3_int64) max);
    int rc;
    while ((size_t) n < max && (rc = sqlite3_step (st)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t) sqlite3_column_int64 (st, 0);
        //  Contiguous or nothing: a hole means retention got there first.
        if (seq != after + 1 + (uint64_t) n) {
            n = n ? n : NODE_EVLOG_GONE;
            break;
        }
        const char *topic = (const char *) sqlite3_column_text (st, 2);
        const char *json = (const char *) sqlite3_column_text (st, 3);
        size_t jl = (size_t) sqlite3_column_bytes (st, 3);
        entry_t *e = s_entry_new (seq, (uint64_t) sqlite3_column_int64 (st, 1), topic ? topic : "",
                                  json ? json : "", json ? jl : 0, NULL, 0);
        if (!e)
            break;
        out[n++] = &e->e;
    }
    sqlite3_finalize (st);
    pthread_mutex_unlock (&self->rdb_lock);
    if (n == 0 && after < last)
        return NODE_EVLOG_GONE;   //  nothing where rows must be
    return n;
}

int
node_evlog_read (node_evlog_t *self, uint64_t after, node_evlog_entry_t **out, size_t max)
{
    assert (self && out);
    if (max == 0)
        return 0;
    pthread_mutex_lock (&self->lock);
    uint64_t last = self->last, oldest = self->oldest;
    if (after > last || after + 1 < oldest) {
        pthread_mutex_unlock (&self->lock);
        return NODE_EVLOG_GONE;
    }
    if (after == last) {
        pthread_mutex_unlock (&self->lock);
        return 0;
    }
    if (self->ring_first && after + 1 >= self->ring_first) {
        int n = 0;
        for (uint64_t s = after + 1; s <= last && (size_t) n < max; s++) {
            entry_t *e = self->ring[s % RING_SIZE];
            assert (e && e->e.seq == s);
            __atomic_add_fetch (&e->refs, 1, __ATOMIC_RELAXED);
            out[n++] = &e->e;
        }
        pthread_mutex_unlock (&self->lock);
        return n;
    }
    self->stats.db_reads++;
    pthread_mutex_unlock (&self->lock);
    return s_read_db (self, after, out, max, last);
}

void
node_evlog_release (node_evlog_entry_t **entries, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s_entry_unref ((entry_t *) entries[i]);
        entries[i] = NULL;
    }
}

void
node_evlog_bounds (node_evlog_t *self, uint64_t *oldest, uint64_t *last)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    if (oldest)
        *oldest = self->oldest;
    if (last)
        *last = self->last;
    pthread_mutex_unlock (&self->lock);
}

uint64_t
node_evlog_wait (node_evlog_t *self, uint64_t after, int timeout_ms)
{
    assert (self);
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&self->lock);
    while (self->last <= after && !self->closed)
        if (pthread_cond_timedwait (&self->committed, &self->lock, &ts) == ETIMEDOUT)
            break;
    uint64_t last = self->last;
    pthread_mutex_unlock (&self->lock);
    return last;
}

void
node_evlog_on_commit (node_evlog_t *self, void (*fn) (void *ctx, uint64_t last), void *ctx)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    self->on_commit = fn;
    self->on_commit_ctx = ctx;
    pthread_mutex_unlock (&self->lock);
}

int
node_evlog_flush (node_evlog_t *self, int timeout_ms)
{
    assert (self);
    uint64_t want = self->next_seq - 1;
    uint64_t t0 = mw_now_ms ();
    while (true) {
        uint64_t last = node_evlog_wait (self, want ? want - 1 : 0, 50);
        if (last >= want)
            return 0;
        if (mw_now_ms () - t0 >= (uint64_t) timeout_ms)
            return -1;
    }
}

void
node_evlog_stats (node_evlog_t *self, node_evlog_stats_t *out)
{
    assert (self && out);
    pthread_mutex_lock (&self->lock);
    *out = self->stats;
    out->queued = self->q_len;
    pthread_mutex_unlock (&self->lock);
}

int
node_evlog_cursor_parse (const char *text, uint64_t *epoch, uint64_t *seq)
{
    if (!text || !*text || strlen (text) > 48)
        return -1;
    uint64_t a = 0, b = 0;
    const char *p = text;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (a > (UINT64_MAX - 9) / 10)
            return -1;
        a = a * 10 + (uint64_t) (*p - '0');
    }
    if (!digits)
        return -1;
    if (*p == 0) {
        *epoch = 0;
        *seq = a;
        return 0;
    }
    if (*p != '-')
        return -1;
    digits = 0;
    for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
        if (b > (UINT64_MAX - 9) / 10)
            return -1;
        b = b * 10 + (uint64_t) (*p - '0');
    }
    if (!digits || *p || a == 0 || a >= (UINT64_C (1) << 53))
        return -1;
    *epoch = a;
    *seq = b;
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest

static int
s_append_n (node_evlog_t *log, int n, const char *tag)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        json_object *o = json_object_new_object ();
        mw_json_add (o, "event", mw_json_str ("report"));
        mw_json_add (o, "seq", mw_json_u64 (node_evlog_next_seq (log)));
        mw_json_add (o, "tag", mw_json_str (tag));
        const char *json = mw_json_text (o, false);
        unsigned char mp[4] = {0x81, 0xa1, 'x', 0x01};
        rc |= node_evlog_append (log, "env.report", mw_wall_ms (), json, strlen (json), mp, sizeof mp);
        json_object_put (o);
    }
    return rc;
}

typedef struct {
    uint64_t last;
    int calls;
    pthread_mutex_t lock;
} hook_t;

static void
s_hook (void *ctx, uint64_t last)
{
    hook_t *h = (hook_t *) ctx;
    pthread_mutex_lock (&h->lock);
    h->last = last;
    h->calls++;
    pthread_mutex_unlock (&h->lock);
}

int
node_evlog_test (bool verbose)
{
    int rc = 0;
    char dir[] = "/tmp/mw-evlog-XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    char err[256] = "";
    node_evlog_opts_t o = {1000, 0, 0};
    node_evlog_t *log = node_evlog_open (dir, &o, err, sizeof err);
    CHECK (log, "open: %s", err);
    if (!log)
        return -1;
    uint64_t epoch = node_evlog_epoch (log);
    CHECK (epoch > 0 && epoch < (UINT64_C (1) << 53), "epoch %" PRIu64, epoch);
    CHECK (node_evlog_next_seq (log) == 1, "first seq");
    hook_t hook = {0, 0, PTHREAD_MUTEX_INITIALIZER};
    node_evlog_on_commit (log, s_hook, &hook);

    //  Nothing yet: read after 0 gives 0; a cursor beyond the log is gone.
    node_evlog_entry_t *ents[2048];
    CHECK (node_evlog_read (log, 0, ents, 10) == 0, "empty read");
    CHECK (node_evlog_read (log, 5, ents, 10) == NODE_EVLOG_GONE, "future cursor not gone");

    //  A burst: committed in a few transactions, contiguous, in order.
    CHECK (s_append_n (log, 1500, "a") == 0, "append");
    CHECK (node_evlog_flush (log, 5000) == 0, "flush");
    uint64_t oldest, last;
    node_evlog_bounds (log, &oldest, &last);
    CHECK (last == 1500, "last %" PRIu64, last);
    node_evlog_stats_t st;
    node_evlog_stats (log, &st);
    CHECK (st.committed == 1500 && st.commits < 1500 && st.dropped == 0, "group commit: %" PRIu64 " commits",
           st.commits);
    if (verbose)
        printf ("  1500 events in %" PRIu64 " transactions (largest %" PRIu64 ", slowest %" PRIu64 " us)\n",
                st.commits, st.batch_max, st.worst_commit_us);
    //  The hook ran on the writer with the last seq (it may trail the flush
    //  by a moment: it runs after the waiters are woken).
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock (&hook.lock);
        bool done = hook.last == 1500;
        pthread_mutex_unlock (&hook.lock);
        if (done)
            break;
        usleep (10000);
    }
    CHECK (hook.last == 1500 && hook.calls >= 1, "hook %" PRIu64, hook.last);
    //  Retention by count: 1000 kept (plus slack at most).  The writer
    //  prunes right after the commit it has just announced.
    for (int i = 0; i < 500; i++) {
        node_evlog_bounds (log, &oldest, &last);
        if (last - oldest + 1 <= 1000 + 1000 / 16 + 1)
            break;
        usleep (10000);
    }
    CHECK (oldest > 1 && last - oldest + 1 <= 1000 + 1000 / 16 + 1, "retention: oldest %" PRIu64, oldest);
    int n = node_evlog_read (log, oldest - 1, ents, 5);
    CHECK (n == 5 && ents[0]->seq == oldest && ents[4]->seq == oldest + 4 && ents[0]->mp, "ring read");
    if (n > 0)
        node_evlog_release (ents, (size_t) n);
    CHECK (node_evlog_read (log, oldest - 2, ents, 5) == NODE_EVLOG_GONE, "pruned cursor not gone");
    CHECK (node_evlog_read (log, 1500, ents, 5) == 0, "head read");
    //  wait: times out with nothing new, wakes on a commit.
    uint64_t t0 = mw_now_ms ();
    CHECK (node_evlog_wait (log, 1500, 100) == 1500 && mw_now_ms () - t0 >= 90, "wait timeout");
    node_evlog_close (&log);
    CHECK (log == NULL, "close nulls");

    //  Reopen: same epoch, seq continues, old events readable from SQLite.
    log = node_evlog_open (dir, &o, err, sizeof err);
    CHECK (log && node_evlog_epoch (log) == epoch && node_evlog_next_seq (log) == 1501, "reopen: %s", err);
    if (!log)
        return -1;
    node_evlog_bounds (log, &oldest, &last);
    n = node_evlog_read (log, last - 3, ents, 10);
    CHECK (n == 3 && ents[0]->seq == last - 2 && !ents[0]->mp && strstr (ents[2]->json, "\"seq\":1500"),
           "db read after reopen: %d", n);
    if (n > 0)
        node_evlog_release (ents, (size_t) n);
    n = node_evlog_read (log, oldest - 1, ents, 2048);
    CHECK (n == (int) (last - oldest + 1), "read all kept: %d", n);
    bool ordered = n > 0;
    for (int i = 1; i < n; i++)
        ordered &= ents[i]->seq == ents[i - 1]->seq + 1;
    CHECK (ordered, "contiguous");
    if (n > 0)
        node_evlog_release (ents, (size_t) n);
    //  More after the restart: seq continues.
    s_append_n (log, 10, "b");
    CHECK (node_evlog_flush (log, 5000) == 0, "flush 2");
    n = node_evlog_read (log, 1500, ents, 20);
    CHECK (n == 10 && ents[0]->seq == 1501 && strstr (ents[0]->json, "\"tag\":\"b\""), "continued: %d", n);
    if (n > 0)
        node_evlog_release (ents, (size_t) n);
    node_evlog_close (&log);

    //  A bounded queue: a writer that cannot keep up drops, never grows.
    node_evlog_opts_t small = {100, 3600000, 16};
    char dir2[] = "/tmp/mw-evlog2-XXXXXX";
    if (mkdtemp (dir2)) {
        log = node_evlog_open (dir2, &small, err, sizeof err);
        CHECK (log, "open 2: %s", err);
        if (log) {
            //  Hold the writer: it needs the write lock to commit.
            sqlite3 *blocker = NULL;
            char path[600];
            snprintf (path, sizeof path, "%s/state.db", dir2);
            sqlite3_open (path, &blocker);
            sqlite3_busy_timeout (blocker, 100);
            CHECK (sqlite3_exec (blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "blocker");
            int fails = 0;
            for (int i = 0; i < 200; i++)
                fails += s_append_n (log, 1, "c") != 0;
            node_evlog_stats (log, &st);
            CHECK (fails > 0 && st.dropped == (uint64_t) fails && st.queued <= 16 + BATCH_MAX,
                   "bounded: %d dropped, %" PRIu64 " queued", fails, st.queued);
            sqlite3_exec (blocker, "ROLLBACK", NULL, NULL, NULL);
            sqlite3_close (blocker);
            CHECK (node_evlog_flush (log, 10000) == 0, "flush after the blocker");
            node_evlog_bounds (log, &oldest, &last);
            CHECK (last == (uint64_t) (200 - fails), "seq without holes: last %" PRIu64 ", %d dropped", last,
                   fails);
            if (verbose)
                printf ("  blocked writer: %d of 200 dropped, the rest committed as 1..%" PRIu64 "\n", fails,
                        last);
            node_evlog_close (&log);
        }
        char cmd[128];
        snprintf (cmd, sizeof cmd, "rm -rf %s", dir2);
        if (system (cmd) != 0)
            rc = -1;
    }

    //  A new state DB: a new epoch, seq from 1.
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -f %s/state.db*", dir);
    if (system (cmd) != 0)
        rc = -1;
    log = node_evlog_open (dir, &o, err, sizeof err);
    CHECK (log && node_evlog_epoch (log) != epoch && node_evlog_next_seq (log) == 1, "recreated: new epoch");
    node_evlog_close (&log);

    //  Cursors.
    uint64_t e, s;
    CHECK (node_evlog_cursor_parse ("42", &e, &s) == 0 && e == 0 && s == 42, "seq cursor");
    CHECK (node_evlog_cursor_parse ("123-0", &e, &s) == 0 && e == 123 && s == 0, "epoch cursor");
    const char *bad[] = {
        "",    "-", "1-", "-1", "a", "1-2-3", "0-5", "1 -2", "99999999999999999999999", "9007199254740992-1",
        "1-x", NULL};
    for (int i = 0; bad[i]; i++)
        CHECK (node_evlog_cursor_parse (bad[i], &e, &s) == -1, "bad cursor '%s' accepted", bad[i]);
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    if (system (cmd) != 0)
        rc = -1;
    return rc;
}
