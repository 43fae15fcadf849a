/*  =========================================================================
    node_usage - the seed's usage POST, on a thread (see usage.h).

    Backoff: after k consecutive failures the next attempt waits
    min (60 s, interval * 2^k).  A success resets it.  Failures are logged
    once when they start and once when they end, not on every attempt, so
    a receiver that is down for a day does not fill the log.
    ========================================================================= */
#include "node/usage.h"
#include "common/selftest.h"
#include "common/log.h"
#include "common/json.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MAX_S 60

struct _node_usage_t {
    char *url;
    char *username;
    uint32_t interval_s, timeout_ms;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    //  guarded by lock
    bool stop, have_values;
    double cpu, mem;
    node_usage_stats_t stats;
};

char *
node_usage_body (const char *username, double cpu, double mem)
{
    if (!(cpu >= 0))
        cpu = 0;
    if (!(mem >= 0))
        mem = 0;
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    mw_json_add (o, "code", mw_json_str ("0000"));
    mw_json_add (o, "message", mw_json_str ("처리성공"));
    mw_json_add (o, "username", mw_json_str (username));
    mw_json_add (o, "cpu", mw_json_num (cpu > 100 ? 100 : cpu, 1));
    mw_json_add (o, "memory", mw_json_num (mem > 100 ? 100 : mem, 1));
    const char *text = mw_json_text (o, false);
    char *body = text ? strdup (text) : NULL;
    json_object_put (o);
    return body;
}

//  Abort a transfer as soon as we are told to stop.
static int
s_progress (void *cls, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    node_usage_t *self = (node_usage_t *) cls;
    (void) a, (void) b, (void) c, (void) d;
    pthread_mutex_lock (&self->lock);
    bool stop = self->stop;
    pthread_mutex_unlock (&self->lock);
    return stop ? 1 : 0;
}

static size_t
s_discard (char *p, size_t size, size_t n, void *cls)
{
    (void) p, (void) cls;
    return size * n;
}

//  One POST.  0 on a 2xx answer.
static int
s_post (node_usage_t *self, CURL *curl, const char *body, char *why, size_t whylen)
{
    struct curl_slist *hdr = curl_slist_append (NULL, "Content-Type: application/json; charset=utf-8");
    curl_easy_reset (curl);
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
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "meshwatch");
    CURLcode rc = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (hdr);
    if (rc != CURLE_OK) {
        snprintf (why, whylen, "%s", curl_easy_strerror (rc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf (why, whylen, "HTTP %ld", status);
        return -1;
    }
    return 0;
}

static void *
s_run (void *arg)
{
    node_usage_t *self = (node_usage_t *) arg;
    CURL *curl = curl_easy_init ();
    if (!curl) {
        mw_error ("usage_failed", "reason=\"curl_easy_init\"");
        return NULL;
    }
    uint32_t fails = 0;
    uint32_t delay_s = 0;
    pthread_mutex_lock (&self->lock);
    while (!self->stop) {
        //  Wait for the next slot (or the first values).
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        until.tv_sec += delay_s;
        while (!self->stop && (delay_s > 0 || !self->have_values)) {
            int r = pthread_cond_timedwait (&self->wake, &self->lock, &until);
            if (r == ETIMEDOUT)
                break;
        }
        if (self->stop)
            break;
        if (!self->have_values) {
            delay_s = 0;
            continue;
        }
        char *body = node_usage_body (self->username, self->cpu, self->mem);
        pthread_mutex_unlock (&self->lock);
        char why[256] = "out of memory";
        int rc = body ? s_post (self, curl, body, why, sizeof why) : -1;
        free (body);
        pthread_mutex_lock (&self->lock);
        if (rc == 0) {
            if (fails)
                mw_info ("usage_post_recovered", "url=%s after=%u", self->url, fails);
            fails = 0;
            self->stats.posts_ok++;
            delay_s = self->interval_s;
        }
        else {
            if (fails == 0 && !self->stop)
                mw_warn ("usage_post_failed", "url=%s reason=\"%s\"", self->url, why);
            fails++;
            self->stats.posts_failed++;
            uint64_t d = (uint64_t) self->interval_s << (fails < 16 ? fails : 16);
            delay_s = d > BACKOFF_MAX_S ? BACKOFF_MAX_S : (uint32_t) d;
        }
        self->stats.backoff_s = delay_s;
    }
    pthread_mutex_unlock (&self->lock);
    curl_easy_cleanup (curl);
    return NULL;
}

//  libcurl's global set-up is not thread-safe: once, from the agent's thread.
static void
s_curl_init (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
}

node_usage_t *
node_usage_new (const char *url, const char *username, uint32_t interval_s, uint32_t timeout_ms)
{
    if (!url || !*url || !username || interval_s == 0 || timeout_ms == 0)
        return NULL;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once (&once, s_curl_init);
    node_usage_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->url = strdup (url);
    self->username = strdup (username);
    self->interval_s = interval_s;
    self->timeout_ms = timeout_ms;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&self->wake, &ca);
    pthread_condattr_destroy (&ca);
    if (!self->url || !self->username || pthread_create (&self->thread, NULL, s_run, self) != 0) {
        mw_error ("usage_failed", "reason=\"cannot start the poster thread\"");
        node_usage_destroy (&self);
        return NULL;
    }
    self->started = true;
    mw_info ("usage_started", "url=%s interval=%u timeout_ms=%u", url, interval_s, timeout_ms);
    return self;
}

void
node_usage_destroy (node_usage_t **self_p)
{
    assert (self_p);
    node_usage_t *self = *self_p;
    if (!self)
        return;
    if (self->started) {
        pthread_mutex_lock (&self->lock);
        self->stop = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->thread, NULL);
    }
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self->url);
    free (self->username);
    free (self);
    *self_p = NULL;
}

void
node_usage_set (node_usage_t *self, double cpu_pct, double mem_pct)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    bool first = !self->have_values;
    self->cpu = cpu_pct;
    self->mem = mem_pct;
    self->have_values = true;
    if (first)
        pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
}

void
node_usage_stats (node_usage_t *self, node_usage_stats_t *out)
{
    assert (self);
    assert (out);
    pthread_mutex_lock (&self->lock);
    *out = self->stats;
    pthread_mutex_unlock (&self->lock);
}

int
node_usage_test (bool verbose)
{
    int rc = 0;
    char *b = node_usage_body ("edge-\"7\"", 12.345, 150);
    CHECK (b
               && strcmp (b, "{\"code\":\"0000\",\"message\":\"처리성공\",\"username\":\"edge-\\\"7\\\"\","
                             "\"cpu\":12.3,\"memory\":100.0}")
                      == 0,
           "body");
    if (verbose && b)
        printf ("  %s\n", b);
    free (b);
    CHECK (node_usage_new ("", "n", 10, 1000) == NULL, "empty url accepted");
    CHECK (node_usage_new ("http://x", "n", 0, 1000) == NULL, "interval 0 accepted");
    //  Nothing listens on port 1: fails fast, backs off, stops at once.
    node_usage_t *u = node_usage_new ("http://127.0.0.1:1/usage", "n1", 1, 500);
    CHECK (u, "new");
    if (u) {
        node_usage_set (u, 10, 20);
        node_usage_stats_t st = {0};
        for (int i = 0; i < 50 && st.posts_failed == 0; i++) {
            struct timespec ts = {0, 20000000};
            nanosleep (&ts, NULL);
            node_usage_stats (u, &st);
        }
        CHECK (st.posts_failed == 1 && st.posts_ok == 0 && st.backoff_s == 2, "failure and backoff");
        struct timespec t0, t1;
        clock_gettime (CLOCK_MONOTONIC, &t0);
        node_usage_destroy (&u);
        clock_gettime (CLOCK_MONOTONIC, &t1);
        double took = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        CHECK (took < 0.5, "destroy did not return at once");
        CHECK (u == NULL, "destroy nulls");
    }
    return rc;
}
