/*  =========================================================================
    node_outbox - durable, ordered, at-least-once deliveries (see outbox.h).

    One thread per sink, with its own SQLite connection (the cursor row:
    synchronous=NORMAL in WAL mode - it survives kill -9, and a cursor lost
    to a power cut only means a re-delivery, which the ids make harmless)
    and its own libcurl handle.  The loop never waits for a sink: the sink
    waits on the log (node_evlog_wait) and on its backoff.
    ========================================================================= */
#include "node/outbox.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/selftest.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define READ_BATCH       32
#define CURSOR_WRITE_MS  1000   //  a cursor moved over filtered-out events is written this often
#define SECRET_MAX_BYTES 64

struct _node_outbox_t {
    char name[32];
    node_outbox_kind_t kind;
    char *url, *filter, *node_id;
    unsigned char key[SECRET_MAX_BYTES];
    size_t key_len;   //  0: unsigned
    node_evlog_t *log;
    uint64_t epoch;
    uint32_t retry_min_ms, retry_max_ms, timeout_ms;
    sqlite3 *db;
    uint64_t cursor;   //  the thread's
    uint64_t rng;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;   //  CLOCK_MONOTONIC
    //  guarded by lock
    bool stop;
    node_outbox_stats_t stats;
};

//  --------------------------------------------------------------------------
//  Pure parts

bool
node_outbox_match (const char *filter, const char *topic)
{
    if (!topic)
        return false;
    if (!filter || !*filter)
        return true;
    size_t tl = strlen (topic);
    for (const char *p = filter; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t) (e - p);
        while (n && p[n - 1] == ' ')
            n--;
        if (n == 1 && *p == '*')
            return true;
        if (n >= 2 && p[n - 1] == '*' && p[n - 2] == '.') {
            //  "family.*": the family's every event.
            if (tl > n - 1 && !strncmp (topic, p, n - 1))
                return true;
        }
        else if (n && n == tl && !strncmp (topic, p, n))
            return true;
        p = e;
    }
    return false;
}

static int
s_secret_key (const char *secret, unsigned char *key, size_t *key_len)
{
    if (!secret || strncmp (secret, "whsec_", 6))
        return -1;
    const char *b64 = secret + 6;
    size_t n = 0;
    if (sodium_base642bin (key, SECRET_MAX_BYTES, b64, strlen (b64), NULL, &n, NULL,
                           sodium_base64_VARIANT_ORIGINAL)
            != 0
        || n == 0)
        return -1;
    *key_len = n;
    return 0;
}

bool
node_outbox_secret_ok (const char *secret)
{
    unsigned char key[SECRET_MAX_BYTES];
    size_t n;
    bool ok = s_secret_key (secret, key, &n) == 0;
    sodium_memzero (key, sizeof key);
    return ok;
}

static void
s_sign_key (const unsigned char *key, size_t key_len, const char *id, uint64_t ts_s, const char *body,
            size_t len, char *out, size_t cap)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char ts[24];
    snprintf (ts, sizeof ts, "%" PRIu64, ts_s);
    crypto_auth_hmacsha256_init (&st, key, key_len);
    crypto_auth_hmacsha256_update (&st, (const unsigned char *) id, strlen (id));
    crypto_auth_hmacsha256_update (&st, (const unsigned char *) ".", 1);
    crypto_auth_hmacsha256_update (&st, (const unsigned char *) ts, strlen (ts));
    crypto_auth_hmacsha256_update (&st, (const unsigned char *) ".", 1);
    crypto_auth_hmacsha256_update (&st, (const unsigned char *) body, len);
    crypto_auth_hmacsha256_final (&st, mac);
    memcpy (out, "v1,", 3);
    sodium_bin2base64 (out + 3, cap - 3, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
}

int
node_outbox_sign (const char *secret, const char *id, uint64_t ts_s, const char *body, size_t len, char *out,
                  size_t cap)
{
    unsigned char key[SECRET_MAX_BYTES];
    size_t kl;
    if (cap < 64 || s_secret_key (secret, key, &kl) != 0)
        return -1;
    s_sign_key (key, kl, id, ts_s, body, len, out, cap);
    sodium_memzero (key, sizeof key);
    return 0;
}

uint32_t
node_outbox_backoff (uint32_t failures, uint32_t min_ms, uint32_t max_ms, uint64_t *rng)
{
    uint64_t b = min_ms ? min_ms : 1;
    for (uint32_t i = 1; i < failures && b < max_ms; i++)
        b *= 2;
    if (b > max_ms)
        b = max_ms;
    //  "Equal jitter": [b/2, b], so boxes that lost the same receiver do
    //  not all come back at the same instant, yet none retries at once.
    uint64_t half = b / 2;
    uint64_t r = rng ? mw_splitmix64 (rng) : 0;
    return (uint32_t) (b - half + (half ? r % (half + 1) : 0));
}

char *
node_outbox_body (node_outbox_kind_t kind, const char *topic, uint64_t ts_ms, const char *event_json,
                  size_t len, char *why, size_t whylen)
{
    char err[128];
    json_object *ev = mw_json_parse (event_json, len, err, sizeof err);
    if (!ev || !json_object_is_type (ev, json_type_object)) {
        snprintf (why, whylen, "the event is not a JSON object: %s", ev ? "wrong type" : err);
        json_object_put (ev);
        return NULL;
    }
    json_object *o = json_object_new_object ();
    if (!o) {
        json_object_put (ev);
        snprintf (why, whylen, "out of memory");
        return NULL;
    }
    if (kind == NODE_OUTBOX_ENV) {
        //  The seed's environment-info body, from the env.report event.
        const char *keys[] = {"nid", "date", "time", "result"};
        for (int i = 0; i < 4; i++) {
            json_object *v = mw_json_get (ev, keys[i]);
            if (!v || !json_object_is_type (v, json_type_string)) {
                snprintf (why, whylen, "the event has no string field %s", keys[i]);
                json_object_put (o);
                json_object_put (ev);
                return NULL;
            }
            mw_json_add (o, keys[i], json_object_get (v));
        }
        json_object_put (ev);
    }
    else {
        time_t t = (time_t) (ts_ms / 1000);
        struct tm tm;
        gmtime_r (&t, &tm);
        char stamp[64];
        snprintf (stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (ts_ms % 1000));
        mw_json_add (o, "type", mw_json_str (topic));
        mw_json_add (o, "timestamp", mw_json_str (stamp));
        mw_json_add (o, "data", ev);
    }
    const char *text = mw_json_text (o, false);
    char *body = text ? strdup (text) : NULL;
    json_object_put (o);
    if (!body)
        snprintf (why, whylen, "out of memory");
    return body;
}

//  --------------------------------------------------------------------------
//  The cursor

static int
s_cursor_write (node_outbox_t *self, uint64_t seq)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2 (
            self->db,
            "INSERT INTO outbox_cursor(sink,epoch,seq,updated_ms) VALUES(?,?,?,?) ON CONFLICT(sink) "
            "DO UPDATE SET epoch=excluded.epoch, seq=excluded.seq, updated_ms=excluded.updated_ms",
            -1, &st, NULL)
        == SQLITE_OK) {
        sqlite3_bind_text (st, 1, self->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64 (st, 2, (sqlite3_int64) self->epoch);
        sqlite3_bind_int64 (st, 3, (sqlite3_int64) seq);
        sqlite3_bind_int64 (st, 4, (sqlite3_int64) mw_wall_ms ());
        rc = sqlite3_step (st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize (st);
    if (rc)
        mw_error ("outbox_cursor_failed", "sink=%s seq=%" PRIu64 " reason=\"%s\"", self->name, seq,
                  sqlite3_errmsg (self->db));
    return rc;
}

//  --------------------------------------------------------------------------
//  Delivery

static bool
s_stopping (node_outbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool s = self->stop;
    pthread_mutex_unlock (&self->lock);
    return s;
}

static int
s_progress (void *cls, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void) a, (void) b, (void) c, (void) d;
    return s_stopping ((node_outbox_t *) cls) ? 1 : 0;
}

static size_t
s_discard (char *p, size_t size, size_t n, void *cls)
{
    (void) p, (void) cls;
    return size * n;
}

//  One attempt: the HTTP status (0: no answer, the reason in why).
static long
s_post (node_outbox_t *self, CURL *curl, const char *id, const char *body, char *why, size_t whylen)
{
    uint64_t ts = mw_wall_ms () / 1000;
    char h_id[160], h_ts[48], h_sig[128];
    snprintf (h_id, sizeof h_id, "webhook-id: %s", id);
    snprintf (h_ts, sizeof h_ts, "webhook-timestamp: %" PRIu64, ts);
    struct curl_slist *hdr = curl_slist_append (NULL, "Content-Type: application/json");
    hdr = curl_slist_append (hdr, h_id);
    hdr = curl_slist_append (hdr, h_ts);
    if (self->key_len) {
        char sig[100];
        s_sign_key (self->key, self->key_len, id, ts, body, strlen (body), sig, sizeof sig);
        snprintf (h_sig, sizeof h_sig, "webhook-signature: %s", sig);
        hdr = curl_slist_append (hdr, h_sig);
    }
    hdr = curl_slist_append (hdr, "Expect:");   //  no 100-continue round trip
    curl_easy_setopt (curl, CURLOPT_URL, self->url);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_progress);
    curl_easy_setopt (curl, CURLOPT_XFERINFODATA, self);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "meshwatch-outbox");
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    CURLcode rc = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (hdr);
    if (rc != CURLE_OK) {
        snprintf (why, whylen, "%s", curl_easy_strerror (rc));
        return 0;
    }
    if (status < 200 || status > 299)
        snprintf (why, whylen, "HTTP %ld", status);
    return status;
}

//  Deliver one event until a 2xx: 0; skipped (refused or unusable): 1;
//  stopped: -1.
static int
s_deliver (node_outbox_t *self, CURL *curl, const node_evlog_entry_t *e, uint32_t *streak)
{
    char why[160];
    char *body = node_outbox_body (self->kind, e->topic, e->ts_ms, e->json, e->json_len, why, sizeof why);
    if (!body) {
        mw_error ("outbox_skipped", "sink=%s seq=%" PRIu64 " topic=%s reason=\"%s\"", self->name, e->seq,
                  e->topic, why);
        pthread_mutex_lock (&self->lock);
        self->stats.rejected++;
        pthread_mutex_unlock (&self->lock);
        return 1;
    }
    char id[96];
    snprintf (id, sizeof id, "%s-%" PRIu64 "-%" PRIu64, self->node_id, self->epoch, e->seq);
    uint32_t refusals = 0;
    int out = -1;
    while (!s_stopping (self)) {
        long status = s_post (self, curl, id, body, why, sizeof why);
        bool ok = status >= 200 && status <= 299;
        bool permanent = status >= 400 && status <= 499 && status != 408 && status != 429;
        pthread_mutex_lock (&self->lock);
        self->stats.attempts++;
        self->stats.last_status = status;
        if (ok) {
            self->stats.delivered++;
            self->stats.retry_in_ms = 0;
            self->stats.last_error[0] = 0;
        }
        else {
            self->stats.failures++;
            snprintf (self->stats.last_error, sizeof self->stats.last_error, "%.120s", why);
        }
        pthread_mutex_unlock (&self->lock);
        if (ok) {
            if (*streak)
                mw_warn ("outbox_recovered", "sink=%s failed_attempts=%u url=%s", self->name, *streak,
                         self->url);
            *streak = 0;
            out = 0;
            break;
        }
        if (s_stopping (self))
            break;
        //  Logged when a streak of failures starts, not on every attempt.
        if ((*streak)++ == 0)
            mw_warn ("outbox_failing", "sink=%s id=%s reason=\"%s\" url=%s", self->name, id, why, self->url);
        if (permanent && ++refusals >= NODE_OUTBOX_REJECT_TRIES) {
            mw_error ("outbox_rejected", "sink=%s id=%s topic=%s reason=\"%s\" tries=%u", self->name, id,
                      e->topic, why, refusals);
            pthread_mutex_lock (&self->lock);
            self->stats.rejected++;
            pthread_mutex_unlock (&self->lock);
            out = 1;
            break;
        }
        uint32_t wait = node_outbox_backoff (*streak, self->retry_min_ms, self->retry_max_ms, &self->rng);
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        until.tv_sec += wait / 1000;
        until.tv_nsec += (long) (wait % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock (&self->lock);
        self->stats.retry_in_ms = wait;
        while (!self->stop && pthread_cond_timedwait (&self->wake, &self->lock, &until) != ETIMEDOUT)
            ;
        self->stats.retry_in_ms = 0;
        pthread_mutex_unlock (&self->lock);
    }
    free (body);
    return out;
}

static bool
s_wants (node_outbox_t *self, const char *topic)
{
    if (self->kind == NODE_OUTBOX_ENV)
        return !strcmp (topic, "env.report");
    return node_outbox_match (self->filter, topic);
}

static void *
s_run (void *arg)
{
    node_outbox_t *self = (node_outbox_t *) arg;
    CURL *curl = curl_easy_init ();
    if (!curl) {
        mw_error ("outbox_failed", "sink=%s reason=\"curl_easy_init\"", self->name);
        return NULL;
    }
    uint64_t cursor = self->cursor, written = cursor, written_ms = mw_now_ms ();
    uint32_t streak = 0;
    node_evlog_entry_t *ents[READ_BATCH];
    while (!s_stopping (self)) {
        node_evlog_wait (self->log, cursor, 500);
        if (s_stopping (self))
            break;
        int n = node_evlog_read (self->log, cursor, ents, READ_BATCH);
        if (n == NODE_EVLOG_GONE) {
            uint64_t oldest, last;
            node_evlog_bounds (self->log, &oldest, &last);
            uint64_t to = cursor + 1 < oldest ? oldest - 1 : last;
            mw_error ("outbox_gap",
                      "sink=%s lost=%" PRIu64 " from=%" PRIu64 " reason=\"the log's retention deleted "
                      "them before delivery (raise EVENTS_KEEP or EVENTS_KEEP_S)\"",
                      self->name, to > cursor ? to - cursor : 0, cursor + 1);
            pthread_mutex_lock (&self->lock);
            self->stats.gone += to > cursor ? to - cursor : 0;
            pthread_mutex_unlock (&self->lock);
            cursor = to;
            n = 0;
        }
        for (int i = 0; i < n; i++) {
            const node_evlog_entry_t *e = ents[i];
            if (s_wants (self, e->topic)) {
                if (s_deliver (self, curl, e, &streak) < 0)
                    break;   //  stopping: the cursor stays before it
                cursor = e->seq;
                //  Delivered: on disk before the next one, so a restart
                //  sends this one at most once more.
                if (s_cursor_write (self, cursor) == 0) {
                    written = cursor;
                    written_ms = mw_now_ms ();
                }
            }
            else
                cursor = e->seq;
        }
        if (n > 0)
            node_evlog_release (ents, (size_t) n);
        pthread_mutex_lock (&self->lock);
        self->stats.cursor = cursor;
        pthread_mutex_unlock (&self->lock);
        if (cursor != written && mw_now_ms () - written_ms >= CURSOR_WRITE_MS
            && s_cursor_write (self, cursor) == 0) {
            written = cursor;
            written_ms = mw_now_ms ();
        }
    }
    if (cursor != written)
        s_cursor_write (self, cursor);
    curl_easy_cleanup (curl);
    return NULL;
}

//  --------------------------------------------------------------------------

static void
s_curl_init (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
}

node_outbox_t *
node_outbox_new (const node_outbox_opts_t *o, char *err, size_t errlen)
{
    assert (o && o->log && o->name && o->state_dir);
    if (!o->url || (strncmp (o->url, "http://", 7) && strncmp (o->url, "https://", 8))) {
        snprintf (err, errlen, "%s: the URL must be http:// or https://, not '%.60s'", o->name,
                  o->url ? o->url : "");
        return NULL;
    }
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once (&once, s_curl_init);
    node_outbox_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    snprintf (self->name, sizeof self->name, "%s", o->name);
    self->kind = o->kind;
    self->url = strdup (o->url);
    self->filter = strdup (o->filter ? o->filter : "");
    self->node_id = strdup (o->node_id ? o->node_id : "");
    self->log = o->log;
    self->epoch = node_evlog_epoch (o->log);
    self->retry_min_ms = o->retry_min_ms ? o->retry_min_ms : 500;
    self->retry_max_ms = o->retry_max_ms ? o->retry_max_ms : 60000;
    if (self->retry_max_ms < self->retry_min_ms)
        self->retry_max_ms = self->retry_min_ms;
    self->timeout_ms = o->timeout_ms ? o->timeout_ms : 5000;
    randombytes_buf (&self->rng, sizeof self->rng);
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&self->wake, &ca);
    pthread_condattr_destroy (&ca);
    if (!self->url || !self->filter || !self->node_id) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    if (o->secret && *o->secret && s_secret_key (o->secret, self->key, &self->key_len) != 0) {
        snprintf (err, errlen, "%s: the secret must be whsec_ followed by the base64 of 1 to %d bytes",
                  o->name, SECRET_MAX_BYTES);
        goto fail;
    }
    char path[512];
    snprintf (path, sizeof path, "%s/state.db", o->state_dir);
    if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, self->db ? sqlite3_errmsg (self->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout (self->db, 5000);
    if (sqlite3_exec (
            self->db,
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
            "CREATE TABLE IF NOT EXISTS outbox_cursor (sink TEXT PRIMARY KEY, epoch INTEGER NOT NULL,"
            " seq INTEGER NOT NULL, updated_ms INTEGER NOT NULL);",
            NULL, NULL, NULL)
        != SQLITE_OK) {
        snprintf (err, errlen, "%s: %s", path, sqlite3_errmsg (self->db));
        goto fail;
    }
    //  Where to go on: the row's cursor; a row of an older log: its start;
    //  no row (a sink configured now): from now on, not the whole history.
    sqlite3_stmt *st = NULL;
    int found = 0;
    uint64_t epoch = 0, seq = 0;
    if (sqlite3_prepare_v2 (self->db, "SELECT epoch, seq FROM outbox_cursor WHERE sink=?", -1, &st, NULL)
        == SQLITE_OK) {
        sqlite3_bind_text (st, 1, self->name, -1, SQLITE_STATIC);
        if (sqlite3_step (st) == SQLITE_ROW) {
            found = 1;
            epoch = (uint64_t) sqlite3_column_int64 (st, 0);
            seq = (uint64_t) sqlite3_column_int64 (st, 1);
        }
    }
    sqlite3_finalize (st);
    uint64_t oldest, last;
    node_evlog_bounds (o->log, &oldest, &last);
    if (!found)
        self->cursor = last;
    else if (epoch != self->epoch) {
        mw_warn ("outbox_new_log",
                 "sink=%s old_epoch=%" PRIu64 " epoch=%" PRIu64 " reason=\"the state DB was "
                 "recreated: delivering the new log from its start\"",
                 self->name, epoch, self->epoch);
        self->cursor = 0;
    }
    else
        self->cursor = seq > last ? last : seq;
    if (!found || epoch != self->epoch)
        s_cursor_write (self, self->cursor);
    self->stats.cursor = self->cursor;
    if (pthread_create (&self->thread, NULL, s_run, self) != 0) {
        snprintf (err, errlen, "%s: cannot start the sender thread", o->name);
        goto fail;
    }
    self->started = true;
    mw_info ("outbox_started", "sink=%s url=%s cursor=%" PRIu64 " last=%" PRIu64 " signed=%d", self->name,
             self->url, self->cursor, last, self->key_len > 0);
    return self;
fail:
    node_outbox_destroy (&self);
    return NULL;
}

void
node_outbox_destroy (node_outbox_t **self_p)
{
    assert (self_p);
    node_outbox_t *self = *self_p;
    if (!self)
        return;
    if (self->started) {
        pthread_mutex_lock (&self->lock);
        self->stop = true;
        pthread_cond_broadcast (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->thread, NULL);
    }
    sqlite3_close (self->db);
    sodium_memzero (self->key, sizeof self->key);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self->url);
    free (self->filter);
    free (self->node_id);
    free (self);
    *self_p = NULL;
}

void
node_outbox_stats (node_outbox_t *self, node_outbox_stats_t *out)
{
    assert (self && out);
    pthread_mutex_lock (&self->lock);
    *out = self->stats;
    pthread_mutex_unlock (&self->lock);
}

json_object *
node_outbox_stats_json (node_outbox_t *self)
{
    node_outbox_stats_t s;
    node_outbox_stats (self, &s);
    uint64_t last = 0;
    node_evlog_bounds (self->log, NULL, &last);
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    mw_json_add (o, "sink", mw_json_str (self->name));
    mw_json_add (o, "url", mw_json_str (self->url));
    mw_json_add (o, "cursor", mw_json_u64 (s.cursor));
    mw_json_add (o, "behind", mw_json_u64 (last > s.cursor ? last - s.cursor : 0));
    mw_json_add (o, "delivered", mw_json_u64 (s.delivered));
    mw_json_add (o, "attempts", mw_json_u64 (s.attempts));
    mw_json_add (o, "failures", mw_json_u64 (s.failures));
    mw_json_add (o, "rejected", mw_json_u64 (s.rejected));
    mw_json_add (o, "gone", mw_json_u64 (s.gone));
    mw_json_add (o, "retry_in_ms", mw_json_u64 (s.retry_in_ms));
    mw_json_add (o, "last_status", mw_json_i64 (s.last_status));
    mw_json_add (o, "last_error", s.last_error[0] ? mw_json_str (s.last_error) : NULL);
    return o;
}

//  --------------------------------------------------------------------------
//  Selftest: a receiver on libmicrohttpd that fails on demand.

#include <microhttpd.h>

#define RX_MAX 256
typedef struct {
    pthread_mutex_t lock;
    int fail_next;   //  answer `fail_status` to this many requests
    unsigned fail_status;
    int n;
    char id[RX_MAX][96];
    char sig[RX_MAX][100];
    uint64_t ts[RX_MAX];
    char body[RX_MAX][512];
} rx_t;

typedef struct {
    char *buf;
    size_t len;
} rx_req_t;

static enum MHD_Result
s_rx (void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
      const char *data, size_t *size, void **con_cls)
{
    rx_t *rx = (rx_t *) cls;
    (void) url, (void) method, (void) version;
    rx_req_t *r = *con_cls;
    if (!r) {
        *con_cls = calloc (1, sizeof *r);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*size) {
        char *b = realloc (r->buf, r->len + *size + 1);
        if (!b)
            return MHD_NO;
        memcpy (b + r->len, data, *size);
        r->buf = b;
        r->len += *size;
        r->buf[r->len] = 0;
        *size = 0;
        return MHD_YES;
    }
    unsigned status = 200;
    pthread_mutex_lock (&rx->lock);
    if (rx->fail_next > 0) {
        rx->fail_next--;
        status = rx->fail_status;
    }
    else if (rx->n < RX_MAX) {
        const char *id = MHD_lookup_connection_value (c, MHD_HEADER_KIND, "webhook-id");
        const char *sig = MHD_lookup_connection_value (c, MHD_HEADER_KIND, "webhook-signature");
        const char *ts = MHD_lookup_connection_value (c, MHD_HEADER_KIND, "webhook-timestamp");
        snprintf (rx->id[rx->n], 96, "%s", id ? id : "");
        snprintf (rx->sig[rx->n], 100, "%s", sig ? sig : "");
        rx->ts[rx->n] = ts ? strtoull (ts, NULL, 10) : 0;
        snprintf (rx->body[rx->n], 512, "%s", r->buf ? r->buf : "");
        rx->n++;
    }
    pthread_mutex_unlock (&rx->lock);
    struct MHD_Response *resp = MHD_create_response_from_buffer (2, (void *) "ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response (c, status, resp);
    MHD_destroy_response (resp);
    return rc;
}

static void
s_rx_done (void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void) cls, (void) c, (void) toe;
    rx_req_t *r = *con_cls;
    if (r) {
        free (r->buf);
        free (r);
    }
    *con_cls = NULL;
}

static struct MHD_Daemon *
s_rx_start (rx_t *rx, int port)
{
    return MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, (uint16_t) port, NULL, NULL,
                             s_rx, rx, MHD_OPTION_NOTIFY_COMPLETED, s_rx_done, rx, MHD_OPTION_END);
}

static int
s_rx_count (rx_t *rx)
{
    pthread_mutex_lock (&rx->lock);
    int n = rx->n;
    pthread_mutex_unlock (&rx->lock);
    return n;
}

static bool
s_rx_wait (rx_t *rx, int n, int timeout_ms)
{
    uint64_t t0 = mw_now_ms ();
    while (s_rx_count (rx) < n && mw_now_ms () - t0 < (uint64_t) timeout_ms)
        usleep (10000);
    return s_rx_count (rx) >= n;
}

static void
s_t_event (node_evlog_t *log, const char *topic, const char *result)
{
    char json[256];
    int len = snprintf (json, sizeof json,
                        "{\"event\":\"%s\",\"node\":\"ab\",\"seq\":%" PRIu64
                        ",\"nid\":\"0x01\",\"date\":\"20261206\","
                        "\"time\":\"101500\",\"result\":\"%s\"}",
                        strchr (topic, '.') + 1, node_evlog_next_seq (log), result);
    node_evlog_append (log, topic, mw_wall_ms (), json, (size_t) len, NULL, 0);
}

int
node_outbox_test (bool verbose)
{
    int rc = 0;
    if (sodium_init () < 0)
        return -1;
    //  Filters.
    CHECK (node_outbox_match ("*", "job.done") && node_outbox_match ("", "x.y")
               && node_outbox_match (NULL, "x.y"),
           "match all");
    CHECK (node_outbox_match ("member.*, job.done", "member.join")
               && node_outbox_match ("member.*,job.done", "job.done")
               && !node_outbox_match ("member.*,job.done", "job.failed")
               && !node_outbox_match ("member.*", "members.join") && !node_outbox_match ("job.do", "job.done")
               && !node_outbox_match ("job.*", "job."),
           "match lists");
    //  The Standard Webhooks example: secret, id, timestamp, payload.
    char sig[100];
    const char *payload = "{\"test\": 2432232314}";
    CHECK (node_outbox_sign ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                             1614265330, payload, strlen (payload), sig, sizeof sig)
                   == 0
               && !strcmp (sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
           "signature: %s", sig);
    CHECK (!node_outbox_secret_ok ("MfKQ9r8G") && !node_outbox_secret_ok ("whsec_")
               && !node_outbox_secret_ok ("whsec_!!")
               && node_outbox_secret_ok ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
           "secret format");
    //  Backoff: doubling, capped, jittered within [b/2, b].
    uint64_t rng = 7;
    bool in_range = true;
    for (uint32_t f = 1; f < 40; f++) {
        uint32_t w = node_outbox_backoff (f, 500, 60000, &rng);
        uint64_t b = 500;
        for (uint32_t i = 1; i < f && b < 60000; i++)
            b *= 2;
        b = b > 60000 ? 60000 : b;
        in_range &= w >= b / 2 && w <= b;
    }
    CHECK (in_range, "backoff range");
    //  Bodies.
    char why[160];
    const char *ev =
        "{\"event\":\"report\",\"node\":\"ab\",\"nid\":\"0x01\",\"date\":\"20261206\",\"time\":\"101500\","
        "\"result\":\"4\"}";
    char *b = node_outbox_body (NODE_OUTBOX_ENV, "env.report", 0, ev, strlen (ev), why, sizeof why);
    CHECK (b && !strcmp (b, "{\"nid\":\"0x01\",\"date\":\"20261206\",\"time\":\"101500\",\"result\":\"4\"}"),
           "env body: %s", b ? b : why);
    free (b);
    b = node_outbox_body (NODE_OUTBOX_WEBHOOK, "env.report", 1765012345678, ev, strlen (ev), why, sizeof why);
    CHECK (
        b
            && strstr (
                   b,
                   "{\"type\":\"env.report\",\"timestamp\":\"2025-12-06T09:12:25.678Z\",\"data\":{\"event\":")
                   == b,
        "webhook body: %s", b ? b : why);
    free (b);
    CHECK (!node_outbox_body (NODE_OUTBOX_ENV, "env.report", 0, "{\"nid\":1}", 9, why, sizeof why)
               && strstr (why, "nid"),
           "env body without fields");
    CHECK (!node_outbox_body (NODE_OUTBOX_WEBHOOK, "x.y", 0, "[1", 2, why, sizeof why), "bad json");

    //  Live: a receiver that answers 500 three times, then takes everything.
    char dir[] = "/tmp/mw-outbox-XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    char err[256] = "";
    node_evlog_opts_t lo = {1000, 0, 0};
    node_evlog_t *log = node_evlog_open (dir, &lo, err, sizeof err);
    CHECK (log, "log: %s", err);
    rx_t *rx = calloc (1, sizeof *rx);
    if (!log || !rx) {
        free (rx);
        node_evlog_close (&log);
        return -1;
    }
    pthread_mutex_init (&rx->lock, NULL);
    rx->fail_next = 3;
    rx->fail_status = 500;
    struct MHD_Daemon *d = s_rx_start (rx, 0);
    const union MHD_DaemonInfo *info = d ? MHD_get_daemon_info (d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    int port = info ? info->port : 0;
    CHECK (d && port > 0, "receiver");
    char url[64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/hook", port);
    const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    node_outbox_opts_t o = {
        "webhook", NODE_OUTBOX_WEBHOOK, url, "env.*,member.join", secret, dir, log, "ab", 20, 100, 2000};
    node_outbox_t *ob = node_outbox_new (&o, err, sizeof err);
    CHECK (ob, "outbox: %s", err);
    node_outbox_stats_t st;
    memset (&st, 0, sizeof st);
    for (int i = 0; i < 10; i++)
        s_t_event (log, i % 2 ? "env.report" : "job.done", "4");   //  5 of 10 wanted
    CHECK (s_rx_wait (rx, 5, 5000), "5 deliveries after three 500s: %d", s_rx_count (rx));
    if (ob)
        node_outbox_stats (ob, &st);
    CHECK (ob && st.delivered == 5 && st.failures == 3, "stats: %" PRIu64 " delivered %" PRIu64 " failed",
           st.delivered, st.failures);
    //  In order, ids stable and distinct, signatures verify.
    uint64_t epoch = node_evlog_epoch (log);
    for (int i = 0; i < 5; i++) {
        char want[96];
        snprintf (want, sizeof want, "ab-%" PRIu64 "-%d", epoch, 2 * i + 2);
        CHECK (!strcmp (rx->id[i], want), "delivery %d id %s want %s", i, rx->id[i], want);
        char check[100];
        node_outbox_sign (secret, rx->id[i], rx->ts[i], rx->body[i], strlen (rx->body[i]), check,
                          sizeof check);
        CHECK (!strcmp (check, rx->sig[i]), "signature %d", i);
    }
    //  Receiver down: deliveries wait; the sink stops; the cursor is kept.
    MHD_stop_daemon (d);
    d = NULL;
    for (int i = 0; i < 3; i++)
        s_t_event (log, "member.join", "-");
    usleep (300000);
    if (ob)
        node_outbox_stats (ob, &st);
    CHECK (ob && st.failures > 3 && st.delivered == 5, "down: failures %" PRIu64, st.failures);
    node_outbox_destroy (&ob);
    CHECK (ob == NULL, "destroy nulls");
    d = s_rx_start (rx, port);
    CHECK (d, "receiver back on %d", port);
    ob = node_outbox_new (&o, err, sizeof err);
    CHECK (s_rx_wait (rx, 8, 5000), "the 3 after the restart: %d", s_rx_count (rx));
    usleep (200000);
    CHECK (s_rx_count (rx) == 8, "nothing delivered twice: %d", s_rx_count (rx));
    //  A receiver that refuses (400): skipped after a few tries, the next
    //  one goes through.
    pthread_mutex_lock (&rx->lock);
    rx->fail_next = NODE_OUTBOX_REJECT_TRIES;
    rx->fail_status = 400;
    pthread_mutex_unlock (&rx->lock);
    s_t_event (log, "env.report", "bad");
    s_t_event (log, "env.report", "good");
    CHECK (s_rx_wait (rx, 9, 5000) && strstr (rx->body[8], "good"), "after a refusal: %s", rx->body[8]);
    if (ob)
        node_outbox_stats (ob, &st);
    CHECK (ob && st.rejected == 1, "rejected %" PRIu64, st.rejected);
    if (verbose && ob)
        printf ("  %s\n", mw_json_text (node_outbox_stats_json (ob), false));
    node_outbox_destroy (&ob);
    //  The env sink: the seed's body, env.report only.
    snprintf (url, sizeof url, "http://127.0.0.1:%d/", port);
    node_outbox_opts_t eo = {"env", NODE_OUTBOX_ENV, url, NULL, NULL, dir, log, "ab", 20, 100, 2000};
    ob = node_outbox_new (&eo, err, sizeof err);
    s_t_event (log, "job.done", "x");
    s_t_event (log, "env.report", "9");
    CHECK (s_rx_wait (rx, 10, 5000)
               && !strcmp (rx->body[9], "{\"nid\":\"0x01\",\"date\":\"20261206\",\"time\":\"101500\","
                                        "\"result\":\"9\"}")
               && !rx->sig[9][0],
           "env delivery: %s", rx->body[9]);
    node_outbox_destroy (&ob);
    CHECK (!node_outbox_new (&(node_outbox_opts_t){"w", NODE_OUTBOX_WEBHOOK, "ftp://x", NULL, NULL, dir, log,
                                                   "ab", 0, 0, 0},
                             err, sizeof err),
           "ftp accepted");
    CHECK (!node_outbox_new (
               &(node_outbox_opts_t){"w", NODE_OUTBOX_WEBHOOK, url, NULL, "secret", dir, log, "ab", 0, 0, 0},
               err, sizeof err)
               && strstr (err, "whsec_"),
           "bad secret accepted");
    if (d)
        MHD_stop_daemon (d);
    pthread_mutex_destroy (&rx->lock);
    free (rx);
    node_evlog_close (&log);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    if (system (cmd) != 0)
        rc = -1;
    return rc;
}
