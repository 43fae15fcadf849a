/*  =========================================================================
    node_evfollow - replay a box's events from a cursor, then follow them
    live (see evfollow.h).
    ========================================================================= */
#include "node/evfollow.h"
#include "common/json.h"
#include "common/log.h"
#include "common/selftest.h"
#include "node/cli_render.h"
#include "node/curve.h"
#include "node/evlog.h"

#include <czmq.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX     (64u << 20)   //  one page of events, at most
#define IDLE_POLL_MS 1000          //  a quiet PUB: ask the API this often

typedef struct {
    const node_evfollow_opts_t *o;
    CURL *curl;
    struct curl_slist *hdr;
    char *buf;
    size_t len;
    bool too_big;
    uint64_t epoch;   //  0: not known yet
    uint64_t last;    //  the last seq printed (or the cursor given)
    int64_t printed;
} follow_t;

static size_t
s_collect (char *p, size_t size, size_t n, void *cls)
{
    follow_t *f = (follow_t *) cls;
    size_t add = size * n;
    if (f->len + add > BODY_MAX) {
        f->too_big = true;
        return 0;
    }
    char *b = realloc (f->buf, f->len + add + 1);
    if (!b)
        return 0;
    memcpy (b + f->len, p, add);
    f->buf = b;
    f->len += add;
    f->buf[f->len] = 0;
    return add;
}

static bool
s_done (follow_t *f)
{
    return (f->o->stop && *f->o->stop) || (f->o->count >= 0 && f->printed >= f->o->count);
}

//  One event, on its own line.
static void
s_print (follow_t *f, json_object *ev, const char *topic)
{
    if (f->o->json)
        printf ("%s\n", mw_json_text (ev, false));
    else {
        char safe[2048];
        printf ("%-22s", topic);
        json_object_object_foreach (ev, k, v)
        {
            const char *text = json_object_is_type (v, json_type_string) ? json_object_get_string (v)
                                                                         : json_object_to_json_string (v);
            printf (" %s=%s", k, node_cli_safe (text, safe, sizeof safe));
        }
        printf ("\n");
    }
    fflush (stdout);
    f->printed++;
}

//  Events after f->last from the API, printed, until `upto` is printed
//  (0: until the log's end).  0, or the exit code when the API refused.
static int
s_fetch (follow_t *f, uint64_t upto, bool from_oldest)
{
    while (!s_done (f)) {
        char url[600];
        if (from_oldest)
            snprintf (url, sizeof url, "%s/api/v1/events?limit=1000", f->o->api);
        else if (f->epoch)
            snprintf (url, sizeof url, "%s/api/v1/events?after=%" PRIu64 "-%" PRIu64 "&limit=1000", f->o->api,
                      f->epoch, f->last);
        else
            snprintf (url, sizeof url, "%s/api/v1/events?after=%" PRIu64 "&limit=1000", f->o->api, f->last);
        from_oldest = false;
        f->len = 0;
        f->too_big = false;
        curl_easy_setopt (f->curl, CURLOPT_URL, url);
        CURLcode rc = curl_easy_perform (f->curl);
        long status = 0;
        curl_easy_getinfo (f->curl, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK) {
            fprintf (stderr, "meshwatch events: %s: %s\n", f->o->api,
                     f->too_big ? "a page larger than 64 MiB" : curl_easy_strerror (rc));
            return -1;   //  the box may be restarting: the caller tries again
        }
        char err[200];
        json_object *doc = f->buf ? mw_json_parse (f->buf, f->len, err, sizeof err) : NULL;
        if (status != 200) {
            fprintf (stderr, "meshwatch events: %s answered %ld: %s\n", f->o->api, status,
                     doc ? mw_json_get_str (doc, "detail", "") : "");
            json_object_put (doc);
            return status == 401 || status == 403 || status == 410 || status == 400 ? 1 : -1;
        }
        if (!doc) {
            fprintf (stderr, "meshwatch events: %s: unreadable answer: %s\n", f->o->api, err);
            return 1;
        }
        uint64_t epoch = mw_json_get_u64 (doc, "epoch", 0);
        if (f->epoch && epoch != f->epoch) {
            json_object_put (doc);
            return 1;   //  the server refuses foreign cursors (410): cannot happen
        }
        f->epoch = epoch;
        json_object *evs = mw_json_get (doc, "events");
        size_t n = evs && json_object_is_type (evs, json_type_array) ? json_object_array_length (evs) : 0;
        for (size_t i = 0; i < n && !s_done (f); i++) {
            json_object *rec = json_object_array_get_idx (evs, i);
            json_object *ev = mw_json_get (rec, "data");
            uint64_t seq = mw_json_get_u64 (ev, "seq", 0);
            if (!ev || seq <= f->last)
                continue;
            s_print (f, ev, mw_json_get_str (rec, "topic", "?"));
            f->last = seq;
        }
        bool more = mw_json_get_bool (doc, "more", false);
        json_object_put (doc);
        if (!more || n == 0 || (upto && f->last >= upto))
            break;
    }
    return 0;
}

int
node_evfollow_run (const node_evfollow_opts_t *o)
{
    uint64_t epoch = 0, seq = 0;
    if (!o->since || node_evlog_cursor_parse (o->since, &epoch, &seq) != 0) {
        fprintf (stderr,
                 "meshwatch events: --since '%.40s' is not a cursor: SEQ or EPOCH-SEQ (an event's id)\n",
                 o->since ? o->since : "");
        return 2;
    }
    if (!o->api || (strncmp (o->api, "http://", 7) && strncmp (o->api, "https://", 8))) {
        fprintf (stderr, "meshwatch events: --since needs --api http://HOST:API_PORT (the box's API)\n");
        return 2;
    }
    if (!o->token || !*o->token) {
        fprintf (stderr, "meshwatch events: --since needs a token: MESHWATCH_TOKEN or --token-file\n");
        return 2;
    }
    follow_t f;
    memset (&f, 0, sizeof f);
    f.o = o;
    f.epoch = epoch;
    f.last = seq;
    curl_global_init (CURL_GLOBAL_DEFAULT);
    f.curl = curl_easy_init ();
    char auth[256];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", o->token);
    f.hdr = curl_slist_append (NULL, auth);
    zsock_t *sub = zsock_new (ZMQ_SUB);
    int rc = 0;
    char cerr[512] = "";
    if (sub && o->server_key
        && node_curve_client_apply (sub, o->server_key, o->client_cert, cerr, sizeof cerr) != 0) {
        fprintf (stderr, "meshwatch events: %s\n", cerr);
        rc = 1;
        goto done;
    }
    if (!f.curl || !f.hdr || !sub || zsock_connect (sub, "%s", o->endpoint) < 0) {
        fprintf (stderr, "%s: cannot connect\n", o->endpoint);
        rc = 1;
        goto done;
    }
    curl_easy_setopt (f.curl, CURLOPT_HTTPHEADER, f.hdr);
    curl_easy_setopt (f.curl, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (f.curl, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt (f.curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt (f.curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt (f.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (f.curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (o->insecure) {
        curl_easy_setopt (f.curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt (f.curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (o->cacert)
        curl_easy_setopt (f.curl, CURLOPT_CAINFO, o->cacert);
    //  Subscribe first: whatever is committed from now on arrives live or
    //  is in the replay (or both: seq sorts it out).
    zsock_set_subscribe (sub, "json.");
    zsock_set_rcvhwm (sub, 100000);
    zsock_set_rcvtimeo (sub, 200);
    int r = s_fetch (&f, 0, false);
    if (r > 0) {
        rc = r;
        goto done;
    }
    uint64_t quiet_since = mw_now_ms ();
    while (!s_done (&f)) {
        zmsg_t *m = zmsg_recv (sub);
        if (!m) {
            if (mw_now_ms () - quiet_since >= IDLE_POLL_MS) {
                r = s_fetch (&f, 0, false);
                if (r > 0) {
                    rc = r;
                    break;
                }
                quiet_since = mw_now_ms ();
            }
            continue;
        }
        char *topic = zmsg_popstr (m);
        zframe_t *body = zmsg_pop (m);
        zmsg_destroy (&m);
        char err[200];
        json_object *ev =
            body ? mw_json_parse ((const char *) zframe_data (body), zframe_size (body), err, sizeof err)
                 : NULL;
        uint64_t e = mw_json_get_u64 (ev, "epoch", 0), s = mw_json_get_u64 (ev, "seq", 0);
        if (ev && s) {
            quiet_since = mw_now_ms ();
            if (f.epoch && e != f.epoch) {
                fprintf (stderr,
                         "meshwatch events: the box's event log is new (epoch %" PRIu64 ", was %" PRIu64
                         "): following it from its start\n",
                         e, f.epoch);
                f.epoch = e;
                f.last = 0;
                r = s_fetch (&f, s - 1, true);
            }
            else if (s > f.last + 1) {
                if (!f.epoch)
                    f.epoch = e;
                r = s_fetch (&f, s - 1, false);   //  the gap first
            }
            else
                r = 0;
            if (r > 0) {
                rc = r;
                json_object_put (ev);
                zstr_free (&topic);
                zframe_destroy (&body);
                break;
            }
            //  In order only: a gap the API could not fill (yet) is filled
            //  by the next poll, and this event with it.
            if (s == f.last + 1 && !s_done (&f)) {
                s_print (&f, ev, topic && !strncmp (topic, "json.", 5) ? topic + 5 : "?");
                f.last = s;
            }
        }
        json_object_put (ev);
        zstr_free (&topic);
        zframe_destroy (&body);
    }
done:
    zsock_destroy (&sub);
    curl_slist_free_all (f.hdr);
    if (f.curl)
        curl_easy_cleanup (f.curl);
    free (f.buf);
    return rc;
}

int
node_evfollow_test (bool verbose)
{
    int rc = 0;
    node_evfollow_opts_t o = {
        "tcp://127.0.0.1:1", "ftp://x", "t", "5", false, false, NULL, NULL, NULL, -1, NULL};
    CHECK (node_evfollow_run (&o) == 2, "ftp api accepted");
    o.api = "http://127.0.0.1:1";
    o.since = "x-1";
    CHECK (node_evfollow_run (&o) == 2, "bad cursor accepted");
    o.since = "5";
    o.token = "";
    CHECK (node_evfollow_run (&o) == 2, "no token accepted");
    if (verbose)
        printf ("  arguments checked (the live path: tests/node/vms_replay_lo.sh)\n");
    return rc;
}
