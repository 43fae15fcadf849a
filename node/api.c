/*  =========================================================================
    node_api - the HTTP JSON API on libmicrohttpd (see api.h, docs/API.md).

    Threads.  The HTTP thread (libmicrohttpd's, epoll) runs s_access and the
    event streams' readers; the loop runs the service (handlers, keep-alive
    pings); the event log's writer runs s_on_commit.  What they share lives
    under `lock`: the snapshots, the loop queue, the connections waiting for
    a commit, the streams waiting for events.  Locking order: `lock` before
    libmicrohttpd's own (a stream suspends itself while holding `lock`, so
    that a commit cannot slip between "nothing new" and "suspended");
    connections are resumed only after `lock` is released.

    A suspended connection is never closed by libmicrohttpd, so the pointers
    the loop and the writer hold stay valid until they resume it; at the end
    node_api_destroy resumes every one (answering 503 or ending the stream)
    before stopping the server, as libmicrohttpd requires.
    ========================================================================= */
#include "node/api.h"
#include "common/json.h"
#include "common/log.h"
#include "common/selftest.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOOP_QUEUE_MAX   256     //  requests waiting for the loop
#define PING_MS          15000   //  keep-alive comment on an idle stream
#define EVENTS_LIMIT_DEF 100
#define EVENTS_LIMIT_MAX 1000
#define SSE_BATCH        64
#define HEADER_POOL      32768   //  per connection: request line and headers

extern const char node_api_openapi_text[];   //  docs/openapi.json (api_openapi.c, generated)
extern const size_t node_api_openapi_len;

//  --------------------------------------------------------------------------
//  The route table: the contract with docs/openapi.json.

typedef enum { K_HEALTH, K_OPENAPI, K_DOC, K_EVENTS, K_STREAM, K_LOOP } kind_t;

typedef struct {
    const char *method;
    const char *pattern;   //  "{id}" matches one path segment
    kind_t kind;
    const char *doc;         //  K_DOC: the snapshot's name
    bool body;               //  takes a JSON body
    const char *unhandled;   //  K_LOOP: the 501 detail while no module handles it
} route_t;

#define CAMERAS_LATER "the camera registry (issue 13) is not in this build"
static const route_t s_routes[] = {
    {"GET", "/api/v1/health", K_HEALTH, NULL, false, NULL},
    {"GET", "/api/v1/openapi.json", K_OPENAPI, NULL, false, NULL},
    {"GET", "/api/v1/state", K_DOC, "state", false, NULL},
    {"GET", "/api/v1/boxes", K_DOC, "boxes", false, NULL},
    {"GET", "/api/v1/jobs", K_LOOP, NULL, false, "this box runs no jobs (JOB_PORT=0)"},
    {"GET", "/api/v1/events", K_EVENTS, NULL, false, NULL},
    {"GET", "/api/v1/events/stream", K_STREAM, NULL, false, NULL},
    {"POST", "/api/v1/env", K_LOOP, NULL, true, "environment reports are off on this box"},
    {"POST", "/api/v1/focus", K_LOOP, NULL, true, "focus (issue 13, scenario 4) is not in this build"},
    {"GET", "/api/v1/cameras", K_LOOP, NULL, false, CAMERAS_LATER},
    {"POST", "/api/v1/cameras", K_LOOP, NULL, true, CAMERAS_LATER},
    {"GET", "/api/v1/cameras/{id}", K_LOOP, NULL, false, CAMERAS_LATER},
    {"PUT", "/api/v1/cameras/{id}", K_LOOP, NULL, true, CAMERAS_LATER},
    {"DELETE", "/api/v1/cameras/{id}", K_LOOP, NULL, false, CAMERAS_LATER},
    {"GET", "/api/v1/cameras/{id}/latest.jpg", K_LOOP, NULL, false, CAMERAS_LATER},
};
#define N_ROUTES (sizeof s_routes / sizeof s_routes[0])

#define DOC_STATE 0
#define DOC_BOXES 1
#define N_DOCS    2

typedef struct {
    char *text;
    size_t len;
    char etag[40];
} doc_t;

typedef struct conn_s conn_t;
typedef struct sse_s sse_t;

struct _node_api_t {
    struct MHD_Daemon *daemon;
    node_api_opts_t o;
    char node_id[24];
    int port;
    bool tls;
    char *tls_cert, *tls_key;   //  PEM contents (libmicrohttpd keeps pointers)
    int qfd;                    //  eventfd: the loop queue has work
    struct {
        node_api_fn *fn;
        void *ctx;
    } handlers[N_ROUTES];
    char openapi_etag[40];
    uint64_t next_ping_ms;   //  loop thread
    int sse_count;           //  atomic
    pthread_mutex_t lock;
    //  guarded by lock
    bool stopping;
    doc_t docs[N_DOCS];
    conn_t *q_head, *q_tail;   //  for the loop
    size_t q_len;
    conn_t *awaiting;   //  replies waiting for a commit
    sse_t *waiters;     //  streams suspended until more events
    node_api_stats_t stats;
};

enum { L_NONE, L_QUEUED, L_AWAIT, L_DONE };

struct conn_s {
    node_api_t *api;
    struct MHD_Connection *mc;
    int route;
    char id[160];
    char method[8];
    char path[256];
    char *body;
    size_t body_len;
    bool too_big;
    bool answered;   //  a response is queued already
    bool read_only;
    char token[NODE_TOKEN_NAME_MAX + 1];
    int lstate;
    node_api_resp_t resp;
    json_object *jbody;
    conn_t *next;   //  loop queue or awaiting list
};

struct sse_s {
    node_api_t *api;
    struct MHD_Connection *mc;
    uint64_t cursor, epoch;
    char *buf;
    size_t len, off, cap;
    uint64_t last_write_ms;
    bool ping_due, end;
    sse_t *next;
};

//  --------------------------------------------------------------------------
//  Small helpers

static void
s_etag (const char *text, size_t len, char out[40])
{
    unsigned char h[16];
    crypto_generichash (h, sizeof h, (const unsigned char *) text, len, NULL, 0);
    out[0] = '"';
    sodium_bin2hex (out + 1, 33, h, sizeof h);
    out[33] = '"';
    out[34] = 0;
}

//  Does If-None-Match (a list of ETags, W/ allowed, or *) match etag?
bool
node_api_etag_match (const char *inm, const char *etag)
{
    if (!inm || !etag || !*etag)
        return false;
    size_t el = strlen (etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (*p == '*')
            return true;
        if (!strncmp (p, "W/", 2))
            p += 2;
        if (!strncmp (p, etag, el))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

static enum MHD_Result
s_send (conn_t *c, unsigned status, const void *body, size_t len, const char *ctype,
        enum MHD_ResponseMemoryMode mode, const char *etag, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer (len, (void *) body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free ((void *) body);
        return MHD_NO;
    }
    if (ctype)
        MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (etag && *etag) {
        MHD_add_response_header (r, MHD_HTTP_HEADER_ETAG, etag);
        MHD_add_response_header (r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    }
    else
        MHD_add_response_header (r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header (r, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header (r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"meshwatch\"");
    enum MHD_Result rc = MHD_queue_response (c->mc, status, r);
    MHD_destroy_response (r);
    c->answered = true;
    return rc;
}

static enum MHD_Result
s_send_json (conn_t *c, unsigned status, json_object *doc, const char *allow)
{
    const char *text =
        doc ? mw_json_text (doc, false) : "{\"error\":\"internal\",\"detail\":\"out of memory\"}";
    enum MHD_Result rc = s_send (c, doc ? status : 500, text, strlen (text), "application/json",
                                 MHD_RESPMEM_MUST_COPY, NULL, allow);
    json_object_put (doc);
    return rc;
}

static json_object *
s_error_doc (const char *code, const char *fmt, va_list ap)
{
    char detail[512];
    vsnprintf (detail, sizeof detail, fmt, ap);
    json_object *o = json_object_new_object ();
    if (o) {
        mw_json_add (o, "error", mw_json_str (code));
        mw_json_add (o, "detail", mw_json_str (detail));
    }
    return o;
}

static enum MHD_Result s_send_error (conn_t *c, unsigned status, const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static enum MHD_Result
s_send_error (conn_t *c, unsigned status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    json_object *o = s_error_doc (code, fmt, ap);
    va_end (ap);
    return s_send_json (c, status, o, NULL);
}

void
node_api_resp_error (node_api_resp_t *resp, unsigned status, const char *code, const char *fmt, ...)
{
    assert (resp);
    va_list ap;
    va_start (ap, fmt);
    json_object_put (resp->json);
    resp->json = s_error_doc (code, fmt, ap);
    va_end (ap);
    resp->status = status;
}

//  A 200 JSON or text document for a GET, with its ETag and If-None-Match.
static enum MHD_Result
s_send_doc (conn_t *c, const char *text, size_t len, const char *etag, const char *ctype, bool copy)
{
    const char *inm = MHD_lookup_connection_value (c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (node_api_etag_match (inm, etag)) {
        pthread_mutex_lock (&c->api->lock);
        c->api->stats.not_modified++;
        pthread_mutex_unlock (&c->api->lock);
        if (!copy)
            free ((void *) text);
        return s_send (c, MHD_HTTP_NOT_MODIFIED, "", 0, NULL, MHD_RESPMEM_PERSISTENT, etag, NULL);
    }
    return s_send (c, MHD_HTTP_OK, text, len, ctype, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_MUST_FREE,
                   etag, NULL);
}

//  --------------------------------------------------------------------------
//  Routing

//  Does path match pattern?  The {id} segment is copied to id.
static bool
s_path_match (const char *pattern, const char *path, char *id, size_t idlen)
{
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (!strncmp (p, "{id}", 4)) {
            const char *end = strchr (u, '/');
            size_t n = end ? (size_t) (end - u) : strlen (u);
            if (n == 0 || n >= idlen)
                return false;
            memcpy (id, u, n);
            id[n] = 0;
            u += n;
            p += 4;
            continue;
        }
        if (*p != *u)
            return false;
        p++, u++;
    }
    return *p == 0 && *u == 0;
}

//  The route for METHOD PATH: its index, or -1 (404) / -2 (405, with the
//  methods the path has in allow).
int
node_api_route_find (const char *method, const char *path, char *id, size_t idlen, char *allow,
                     size_t allowlen)
{
    bool path_known = false;
    allow[0] = 0;
    for (size_t i = 0; i < N_ROUTES; i++) {
        char tmp[160] = "";
        if (!s_path_match (s_routes[i].pattern, path, tmp, sizeof tmp))
            continue;
        path_known = true;
        size_t l = strlen (allow);
        snprintf (allow + l, allowlen - l, "%s%s", l ? ", " : "", s_routes[i].method);
        if (!strcmp (s_routes[i].method, method)) {
            snprintf (id, idlen, "%s", tmp);
            return (int) i;
        }
    }
    return path_known ? -2 : -1;
}

const char *
node_api_route_name (size_t i, char *buf, size_t len)
{
    if (i >= N_ROUTES)
        return NULL;
    snprintf (buf, len, "%s %s", s_routes[i].method, s_routes[i].pattern);
    return buf;
}

const char *
node_api_openapi (size_t *len)
{
    if (len)
        *len = node_api_openapi_len;
    return node_api_openapi_text;
}

int
node_api_handle (node_api_t *self, const char *method, const char *pattern, node_api_fn *fn, void *ctx)
{
    assert (self && method && pattern);
    for (size_t i = 0; i < N_ROUTES; i++)
        if (s_routes[i].kind == K_LOOP && !strcmp (s_routes[i].method, method)
            && !strcmp (s_routes[i].pattern, pattern)) {
            pthread_mutex_lock (&self->lock);
            self->handlers[i].fn = fn;
            self->handlers[i].ctx = ctx;
            pthread_mutex_unlock (&self->lock);
            return 0;
        }
    mw_error ("api_no_route", "method=%s pattern=%s reason=\"not in the route table (docs/openapi.json)\"",
              method, pattern);
    return -1;
}

//  --------------------------------------------------------------------------
//  Snapshots

int
node_api_set_doc (node_api_t *self, const char *name, json_object *doc)
{
    assert (self && name);
    int which = !strcmp (name, "state") ? DOC_STATE : !strcmp (name, "boxes") ? DOC_BOXES : -1;
    assert (which >= 0);
    if (!doc)
        return -1;
    const char *text = mw_json_text (doc, false);
    size_t len = strlen (text);
    pthread_mutex_lock (&self->lock);
    doc_t *d = &self->docs[which];
    bool same = d->text && d->len == len && !memcmp (d->text, text, len);
    pthread_mutex_unlock (&self->lock);
    if (same) {
        json_object_put (doc);
        return 0;
    }
    char *copy = malloc (len + 1);
    if (!copy) {
        json_object_put (doc);
        return -1;
    }
    memcpy (copy, text, len + 1);
    char etag[40];
    s_etag (copy, len, etag);
    json_object_put (doc);
    pthread_mutex_lock (&self->lock);
    char *old = d->text;
    d->text = copy;
    d->len = len;
    memcpy (d->etag, etag, sizeof etag);
    pthread_mutex_unlock (&self->lock);
    free (old);
    return 0;
}

static enum MHD_Result
s_serve_doc (conn_t *c, const char *name)
{
    node_api_t *self = c->api;
    int which = !strcmp (name, "state") ? DOC_STATE : DOC_BOXES;
    const char *inm = MHD_lookup_connection_value (c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    pthread_mutex_lock (&self->lock);
    doc_t *d = &self->docs[which];
    if (!d->text) {
        pthread_mutex_unlock (&self->lock);
        return s_send_error (c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                             "the agent is starting: try again");
    }
    char etag[40];
    memcpy (etag, d->etag, sizeof etag);
    //  304: a compare under the lock, no copy.
    if (node_api_etag_match (inm, etag)) {
        self->stats.not_modified++;
        pthread_mutex_unlock (&self->lock);
        return s_send (c, MHD_HTTP_NOT_MODIFIED, "", 0, NULL, MHD_RESPMEM_PERSISTENT, etag, NULL);
    }
    char *copy = malloc (d->len + 1);
    size_t len = d->len;
    if (copy)
        memcpy (copy, d->text, len + 1);
    pthread_mutex_unlock (&self->lock);
    if (!copy)
        return s_send_error (c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory");
    return s_send (c, MHD_HTTP_OK, copy, len, "application/json", MHD_RESPMEM_MUST_FREE, etag, NULL);
}

//  --------------------------------------------------------------------------
//  Events: the list and the stream

//  A cursor (query or Last-Event-ID): "EPOCH-SEQ" or "SEQ".  0 with *seq; or
//  the status to answer (400 unreadable, 410 another epoch or too old).
static unsigned
s_cursor (node_api_t *self, const char *text, uint64_t *seq, char *why, size_t whylen)
{
    uint64_t epoch = 0, s = 0, oldest = 0, last = 0;
    if (node_evlog_cursor_parse (text, &epoch, &s) != 0) {
        snprintf (why, whylen, "'%.40s' is not a cursor: EPOCH-SEQ (an event's id) or SEQ", text);
        return MHD_HTTP_BAD_REQUEST;
    }
    uint64_t mine = node_evlog_epoch (self->o.log);
    node_evlog_bounds (self->o.log, &oldest, &last);
    if (epoch && epoch != mine) {
        snprintf (why, whylen,
                  "the event log was recreated (epoch %" PRIu64 ", cursor's %" PRIu64
                  "): re-list from the start",
                  mine, epoch);
        return MHD_HTTP_GONE;
    }
    if (s + 1 < oldest || s > last) {
        snprintf (why, whylen,
                  "events after %" PRIu64 " are no longer kept (oldest %" PRIu64 ", last %" PRIu64
                  "): re-list",
                  s, oldest, last);
        return MHD_HTTP_GONE;
    }
    *seq = s;
    return 0;
}

//  A JSON object's text with `inner` spliced in as the value of "events"
//  (the event texts are json-c's own output, read back from the log).
static enum MHD_Result
s_serve_events (conn_t *c)
{
    node_api_t *self = c->api;
    if (!self->o.log)
        return s_send_error (c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "this box keeps no event log");
    const char *after_txt = MHD_lookup_connection_value (c->mc, MHD_GET_ARGUMENT_KIND, "after");
    const char *limit_txt = MHD_lookup_connection_value (c->mc, MHD_GET_ARGUMENT_KIND, "limit");
    uint64_t after = 0, oldest = 0, last = 0;
    long limit = EVENTS_LIMIT_DEF;
    if (limit_txt) {
        char *end = NULL;
        errno = 0;
        limit = strtol (limit_txt, &end, 10);
        if (errno || !*limit_txt || *end || limit < 1 || limit > EVENTS_LIMIT_MAX)
            return s_send_error (c, MHD_HTTP_BAD_REQUEST, "bad_request", "limit must be an integer in 1..%d",
                                 EVENTS_LIMIT_MAX);
    }
    char why[256];
    if (after_txt) {
        unsigned st = s_cursor (self, after_txt, &after, why, sizeof why);
        if (st)
            return s_send_error (c, st, st == MHD_HTTP_GONE ? "gone" : "bad_request", "after: %s", why);
    }
    else {
        node_evlog_bounds (self->o.log, &oldest, NULL);
        after = oldest - 1;   //  the whole log
    }
    node_evlog_entry_t **ents = calloc ((size_t) limit, sizeof *ents);
    if (!ents)
        return s_send_error (c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory");
    int n = node_evlog_read (self->o.log, after, ents, (size_t) limit);
    if (n == NODE_EVLOG_GONE) {
        free (ents);
        return s_send_error (c, MHD_HTTP_GONE, "gone", "events after %" PRIu64 " are no longer kept: re-list",
                             after);
    }
    if (n < 0) {
        free (ents);
        return s_send_error (c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "cannot read the event log");
    }
    node_evlog_bounds (self->o.log, &oldest, &last);
    uint64_t epoch = node_evlog_epoch (self->o.log);
    uint64_t next = n > 0 ? ents[n - 1]->seq : after;
    json_object *head = json_object_new_object ();
    char cur[48];
    snprintf (cur, sizeof cur, "%" PRIu64 "-%" PRIu64, epoch, next);
    mw_json_add (head, "node", mw_json_str (self->node_id));
    mw_json_add (head, "epoch", mw_json_u64 (epoch));
    mw_json_add (head, "oldest", mw_json_u64 (oldest));
    mw_json_add (head, "last", mw_json_u64 (last));
    mw_json_add (head, "next", mw_json_str (cur));
    mw_json_add (head, "more", mw_json_bool (next < last));
    const char *htext = head ? mw_json_text (head, false) : NULL;
    //  Each record: {"id":"E-S","topic":"a.b"} from json-c, with
    //  ,"data":<the event> spliced in before its closing brace.
    size_t total = (htext ? strlen (htext) : 0) + 16;
    for (int i = 0; i < n; i++)
        total += ents[i]->json_len + strlen (ents[i]->topic) + 96;
    char *out = htext ? malloc (total) : NULL;
    size_t len = 0;
    json_object *rec = json_object_new_object ();
    if (out && rec) {
        //  {"node":...,"more":false} -> {"node":...,"more":false,"events":[...]}
        size_t hl = strlen (htext);
        memcpy (out, htext, hl - 1);
        len = hl - 1;
        memcpy (out + len, ",\"events\":[", 11);
        len += 11;
        for (int i = 0; i < n; i++) {
            snprintf (cur, sizeof cur, "%" PRIu64 "-%" PRIu64, epoch, ents[i]->seq);
            json_object_object_add (rec, "id", json_object_new_string (cur));
            json_object_object_add (rec, "topic", mw_json_str (ents[i]->topic));
            const char *rt = mw_json_text (rec, false);
            size_t rl = strlen (rt);
            if (i)
                out[len++] = ',';
            memcpy (out + len, rt, rl - 1);
            len += rl - 1;
            memcpy (out + len, ",\"data\":", 8);
            len += 8;
            memcpy (out + len, ents[i]->json, ents[i]->json_len);
            len += ents[i]->json_len;
            out[len++] = '}';
        }
        memcpy (out + len, "]}", 3);
        len += 2;
    }
    else {
        free (out);
        out = NULL;
    }
    json_object_put (rec);
    json_object_put (head);
    node_evlog_release (ents, n > 0 ? (size_t) n : 0);
    free (ents);
    if (!out)
        return s_send_error (c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory");
    pthread_mutex_lock (&self->lock);
    self->stats.events_served += (uint64_t) n;
    pthread_mutex_unlock (&self->lock);
    return s_send (c, MHD_HTTP_OK, out, len, "application/json", MHD_RESPMEM_MUST_FREE, NULL, NULL);
}

static int
s_sse_append (sse_t *s, const char *a, size_t alen)
{
    if (s->len + alen > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + alen)
            cap *= 2;
        char *b = realloc (s->buf, cap);
        if (!b)
            return -1;
        s->buf = b;
        s->cap = cap;
    }
    memcpy (s->buf + s->len, a, alen);
    s->len += alen;
    return 0;
}

//  The next events after the cursor as SSE records: `id:` (EPOCH-SEQ, what
//  Last-Event-ID sends back), `event:` (the topic), `data:` (the JSON).
static int
s_sse_fill (sse_t *s)
{
    node_evlog_entry_t *ents[SSE_BATCH];
    int n = node_evlog_read (s->api->o.log, s->cursor, ents, SSE_BATCH);
    if (n <= 0)
        return n;
    for (int i = 0; i < n; i++) {
        char head[160];
        int hl = snprintf (head, sizeof head, "id: %" PRIu64 "-%" PRIu64 "\nevent: %s\ndata: ", s->epoch,
                           ents[i]->seq, ents[i]->topic);
        if (s_sse_append (s, head, (size_t) hl) || s_sse_append (s, ents[i]->json, ents[i]->json_len)
            || s_sse_append (s, "\n\n", 2)) {
            n = i;   //  out of memory: what fits is sent, the rest next time
            break;
        }
        s->cursor = ents[i]->seq;
    }
    node_evlog_release (ents, (size_t) (n > 0 ? n : 0));
    pthread_mutex_lock (&s->api->lock);
    s->api->stats.events_served += (uint64_t) n;
    pthread_mutex_unlock (&s->api->lock);
    return n;
}

static ssize_t
s_sse_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_t *s = (sse_t *) cls;
    node_api_t *self = s->api;
    (void) pos;
    while (s->off == s->len) {
        s->off = s->len = 0;
        if (s->end)
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock (&self->lock);
        bool stopping = self->stopping;
        pthread_mutex_unlock (&self->lock);
        if (stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;
        int n = s_sse_fill (s);
        uint64_t now = mw_now_ms ();
        if (n == NODE_EVLOG_GONE || n < 0) {
            //  A reader slower than the retention (or a broken log): say so
            //  and end; reconnecting with Last-Event-ID gets the 410.
            const char *gone =
                "event: gone\ndata: {\"error\":\"gone\",\"detail\":\"the stream fell behind the "
                "log's retention: re-list\"}\n\n";
            s_sse_append (s, gone, strlen (gone));
            s->end = true;
            break;
        }
        if (n > 0)
            break;
        if (s->ping_due || now - s->last_write_ms >= PING_MS) {
            s->ping_due = false;
            s_sse_append (s, ": keep-alive\n\n", 15);
            break;
        }
        //  Nothing new: sleep until the writer commits (s_on_commit) or the
        //  loop's ping.  Checked and suspended under the lock.
        uint64_t last = 0;
        pthread_mutex_lock (&self->lock);
        node_evlog_bounds (self->o.log, NULL, &last);
        if (last > s->cursor || self->stopping) {
            pthread_mutex_unlock (&self->lock);
            continue;
        }
        s->next = self->waiters;
        self->waiters = s;
        MHD_suspend_connection (s->mc);
        pthread_mutex_unlock (&self->lock);
        return 0;
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy (buf, s->buf + s->off, n);
    s->off += n;
    s->last_write_ms = mw_now_ms ();
    return (ssize_t) n;
}

static void
s_sse_free (void *cls)
{
    sse_t *s = (sse_t *) cls;
    __atomic_sub_fetch (&s->api->sse_count, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_lock (&s->api->lock);
    s->api->stats.sse_open--;
    pthread_mutex_unlock (&s->api->lock);
    free (s->buf);
    free (s);
}

static enum MHD_Result
s_serve_stream (conn_t *c)
{
    node_api_t *self = c->api;
    if (!self->o.log)
        return s_send_error (c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "this box keeps no event log");
    //  Where to start: Last-Event-ID (a reconnecting EventSource), else
    //  ?after=, else from now on.
    const char *lei = MHD_lookup_connection_value (c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_LAST_EVENT_ID);
    const char *after = MHD_lookup_connection_value (c->mc, MHD_GET_ARGUMENT_KIND, "after");
    const char *from = lei && *lei ? lei : after;
    uint64_t cursor = 0;
    char why[256];
    if (from) {
        unsigned st = s_cursor (self, from, &cursor, why, sizeof why);
        if (st)
            return s_send_error (c, st, st == MHD_HTTP_GONE ? "gone" : "bad_request", "%s: %s",
                                 lei && *lei ? "Last-Event-ID" : "after", why);
    }
    else
        node_evlog_bounds (self->o.log, NULL, &cursor);
    if (__atomic_add_fetch (&self->sse_count, 1, __ATOMIC_ACQ_REL) > (int) self->o.sse_max) {
        __atomic_sub_fetch (&self->sse_count, 1, __ATOMIC_ACQ_REL);
        return s_send_error (c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                             "%u event streams are open already", self->o.sse_max);
    }
    sse_t *s = calloc (1, sizeof *s);
    if (!s) {
        __atomic_sub_fetch (&self->sse_count, 1, __ATOMIC_ACQ_REL);
        return s_send_error (c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "out of memory");
    }
    s->api = self;
    s->mc = c->mc;
    s->cursor = cursor;
    s->epoch = node_evlog_epoch (self->o.log);
    s->last_write_ms = mw_now_ms ();
    char hello[160];
    int hl =
        snprintf (hello, sizeof hello, "retry: 2000\n: meshwatch %s events after %" PRIu64 "-%" PRIu64 "\n\n",
                  self->node_id, s->epoch, cursor);
    s_sse_append (s, hello, (size_t) hl);
    struct MHD_Response *r =
        MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 32 * 1024, s_sse_read, s, s_sse_free);
    if (!r) {
        free (s->buf);
        free (s);
        __atomic_sub_fetch (&self->sse_count, 1, __ATOMIC_ACQ_REL);
        return MHD_NO;
    }
    pthread_mutex_lock (&self->lock);
    self->stats.sse_open++;
    self->stats.sse_total++;
    pthread_mutex_unlock (&self->lock);
    MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header (r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (r, "X-Accel-Buffering", "no");
    enum MHD_Result rc = MHD_queue_response (c->mc, MHD_HTTP_OK, r);
    MHD_destroy_response (r);
    c->answered = true;
    return rc;
}

//  The writer committed: wake the streams and the replies that waited
//  (resumed after the lock is released).
static void
s_on_commit (void *ctx, uint64_t last)
{
    node_api_t *self = (node_api_t *) ctx;
    pthread_mutex_lock (&self->lock);
    size_t n = 0;
    for (sse_t *s = self->waiters; s; s = s->next)
        n++;
    for (conn_t *c = self->awaiting; c; c = c->next)
        n++;
    struct MHD_Connection **wake = n ? malloc (n * sizeof *wake) : NULL;
    n = 0;
    if (wake) {
        for (sse_t *s = self->waiters; s; s = s->next)
            wake[n++] = s->mc;
        self->waiters = NULL;
        for (conn_t **pp = &self->awaiting; *pp;) {
            conn_t *c = *pp;
            if (c->resp.wait_seq <= last) {
                *pp = c->next;
                c->lstate = L_DONE;
                wake[n++] = c->mc;
            }
            else
                pp = &c->next;
        }
    }
    pthread_mutex_unlock (&self->lock);
    //  (Out of memory: the streams wake at the next ping, the replies at
    //  the next commit.)
    for (size_t i = 0; i < n; i++)
        MHD_resume_connection (wake[i]);
    free (wake);
}

//  --------------------------------------------------------------------------
//  Handlers on the loop

static enum MHD_Result
s_queue_loop (conn_t *c)
{
    node_api_t *self = c->api;
    const route_t *r = &s_routes[c->route];
    if (r->body) {
        const char *ct = MHD_lookup_connection_value (c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (ct && strncasecmp (ct, "application/json", 16) != 0)
            return s_send_error (c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                                 "the body must be application/json, not %.60s", ct);
        if (!c->body_len)
            return s_send_error (c, MHD_HTTP_BAD_REQUEST, "bad_request", "a JSON body is required");
        char err[200];
        c->jbody = mw_json_parse (c->body, c->body_len, err, sizeof err);
        if (!c->jbody)
            return s_send_error (c, MHD_HTTP_BAD_REQUEST, "bad_request", "the body is not valid JSON: %s",
                                 err);
        if (!json_object_is_type (c->jbody, json_type_object))
            return s_send_error (c, MHD_HTTP_BAD_REQUEST, "bad_request", "the body must be a JSON object");
    }
    pthread_mutex_lock (&self->lock);
    bool handled = self->handlers[c->route].fn != NULL;
    bool full = self->q_len >= LOOP_QUEUE_MAX;
    bool stopping = self->stopping;
    if (handled && !full && !stopping) {
        c->lstate = L_QUEUED;
        c->next = NULL;
        if (self->q_tail)
            self->q_tail->next = c;
        else
            self->q_head = c;
        self->q_tail = c;
        self->q_len++;
        self->stats.loop_calls++;
        MHD_suspend_connection (c->mc);
    }
    else if (full)
        self->stats.loop_queue_full++;
    pthread_mutex_unlock (&self->lock);
    if (!handled)
        return s_send_error (c, MHD_HTTP_NOT_IMPLEMENTED, "not_implemented", "%s", r->unhandled);
    if (full || stopping)
        return s_send_error (c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "the agent is busy: try again");
    uint64_t one = 1;
    if (write (self->qfd, &one, sizeof one) < 0 && errno != EAGAIN)
        mw_debug ("api_qfd", "reason=\"%s\"", strerror (errno));
    return MHD_YES;
}

static enum MHD_Result
s_reply_loop (conn_t *c)
{
    node_api_resp_t *r = &c->resp;
    unsigned status = r->status ? r->status : MHD_HTTP_OK;
    if (r->data) {
        void *data = r->data;
        r->data = NULL;
        const char *ctype = r->content_type[0] ? r->content_type : "application/octet-stream";
        if (status == MHD_HTTP_OK && !strcmp (c->method, "GET")) {
            char etag[40];
            s_etag (data, r->len, etag);
            return s_send_doc (c, data, r->len, etag, ctype, false);
        }
        return s_send (c, status, data, r->len, ctype, MHD_RESPMEM_MUST_FREE, NULL, NULL);
    }
    json_object *doc = r->json;
    r->json = NULL;
    if (!doc)
        return s_send_error (c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "the handler gave no reply");
    if (status == MHD_HTTP_OK && !strcmp (c->method, "GET")) {
        const char *text = mw_json_text (doc, false);
        char etag[40];
        s_etag (text, strlen (text), etag);
        enum MHD_Result rc = s_send_doc (c, text, strlen (text), etag, "application/json", true);
        json_object_put (doc);
        return rc;
    }
    return s_send_json (c, status, doc, NULL);
}

static int
s_svc_items (void *ctx, zmq_pollitem_t *items, int max)
{
    node_api_t *self = (node_api_t *) ctx;
    if (max >= 1)
        items[0] = (zmq_pollitem_t){NULL, self->qfd, ZMQ_POLLIN, 0};
    return 1;
}

static void
s_svc_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    node_api_t *self = (node_api_t *) ctx;
    (void) item;
    uint64_t v;
    if (read (self->qfd, &v, sizeof v) < 0 && errno != EAGAIN)
        mw_debug ("api_qfd", "reason=\"%s\"", strerror (errno));
    //  A bounded batch per turn; the rest re-arms the fd.
    for (int i = 0; i < 64; i++) {
        pthread_mutex_lock (&self->lock);
        conn_t *c = self->q_head;
        if (c) {
            self->q_head = c->next;
            if (!self->q_head)
                self->q_tail = NULL;
            self->q_len--;
        }
        node_api_fn *fn = c ? self->handlers[c->route].fn : NULL;
        void *fctx = c ? self->handlers[c->route].ctx : NULL;
        bool more = self->q_head != NULL;
        pthread_mutex_unlock (&self->lock);
        if (!c)
            return;
        node_api_req_t req = {c->method, c->path, c->id[0] ? c->id : NULL, c->jbody, c->token, now};
        memset (&c->resp, 0, sizeof c->resp);
        fn (fctx, &req, &c->resp);
        uint64_t last = 0;
        if (c->resp.wait_seq && self->o.log)
            node_evlog_bounds (self->o.log, NULL, &last);
        pthread_mutex_lock (&self->lock);
        if (c->resp.wait_seq && self->o.log && last < c->resp.wait_seq && !self->stopping) {
            //  Durable replies: resumed by s_on_commit.
            c->lstate = L_AWAIT;
            c->next = self->awaiting;
            self->awaiting = c;
            c = NULL;
        }
        else
            c->lstate = L_DONE;
        pthread_mutex_unlock (&self->lock);
        if (c)
            MHD_resume_connection (c->mc);
        if (i == 63 && more) {
            uint64_t one = 1;
            if (write (self->qfd, &one, sizeof one) < 0)
                mw_debug ("api_qfd", "reason=\"%s\"", strerror (errno));
        }
    }
}

static void
s_svc_tick (void *ctx, uint64_t now)
{
    node_api_t *self = (node_api_t *) ctx;
    if (now < self->next_ping_ms)
        return;
    self->next_ping_ms = now + PING_MS;
    //  Idle streams write a keep-alive comment: proxies keep them open, and
    //  a client that went away is noticed (a suspended connection is not).
    struct MHD_Connection *wake[512];
    size_t n = 0;
    pthread_mutex_lock (&self->lock);
    while (self->waiters && n < 512) {
        sse_t *s = self->waiters;
        self->waiters = s->next;
        s->ping_due = true;
        wake[n++] = s->mc;
    }
    pthread_mutex_unlock (&self->lock);
    for (size_t i = 0; i < n; i++)
        MHD_resume_connection (wake[i]);
}

static uint64_t
s_svc_wakeup (void *ctx, uint64_t now)
{
    node_api_t *self = (node_api_t *) ctx;
    (void) now;
    return self->next_ping_ms;
}

void
node_api_service (node_api_t *self, node_service_t *svc)
{
    assert (self && svc);
    self->next_ping_ms = mw_now_ms () + PING_MS;
    *svc = (node_service_t){"api", self, s_svc_items, s_svc_readable, s_svc_tick, s_svc_wakeup, NULL};
}

//  --------------------------------------------------------------------------
//  The access handler

static bool
s_auth (conn_t *c, bool allow_query)
{
    node_api_t *self = c->api;
    const char *h = MHD_lookup_connection_value (c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *tok = NULL;
    if (h && !strncasecmp (h, "Bearer ", 7)) {
        tok = h + 7;
        while (*tok == ' ')
            tok++;
    }
    //  A browser's EventSource cannot set headers: the stream also takes
    //  ?access_token= (it may then end up in proxy logs: prefer the header).
    if (!tok && allow_query)
        tok = MHD_lookup_connection_value (c->mc, MHD_GET_ARGUMENT_KIND, "access_token");
    return tok && node_tokens_check (self->o.tokens, tok, c->token, sizeof c->token, &c->read_only) == 0;
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *mc, const char *url, const char *method, const char *version,
          const char *upload_data, size_t *upload_size, void **con_cls)
{
    node_api_t *self = (node_api_t *) cls;
    (void) version;
    conn_t *c = (conn_t *) *con_cls;
    if (!c) {
        c = calloc (1, sizeof *c);
        if (!c)
            return MHD_NO;
        *con_cls = c;
        c->api = self;
        c->mc = mc;
        snprintf (c->method, sizeof c->method, "%s", method);
        snprintf (c->path, sizeof c->path, "%s", url);
        pthread_mutex_lock (&self->lock);
        self->stats.requests++;
        pthread_mutex_unlock (&self->lock);
        char allow[64];
        c->route = strlen (url) >= sizeof c->path
                       ? -1
                       : node_api_route_find (method, url, c->id, sizeof c->id, allow, sizeof allow);
        if (c->route == -1)
            return s_send_error (c, MHD_HTTP_NOT_FOUND, "not_found",
                                 "no such route: %.100s (GET /api/v1/openapi.json "
                                 "lists them)",
                                 url);
        if (c->route == -2) {
            c->route = -1;
            json_object *o = json_object_new_object ();
            mw_json_add (o, "error", mw_json_str ("method_not_allowed"));
            char d[128];
            snprintf (d, sizeof d, "%.10s is not allowed here; allowed: %s", method, allow);
            mw_json_add (o, "detail", mw_json_str (d));
            return s_send_json (c, MHD_HTTP_METHOD_NOT_ALLOWED, o, allow);
        }
        const route_t *r = &s_routes[c->route];
        if (r->kind != K_HEALTH) {
            if (!s_auth (c, r->kind == K_STREAM)) {
                pthread_mutex_lock (&self->lock);
                self->stats.unauthorized++;
                pthread_mutex_unlock (&self->lock);
                return s_send_error (c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                                     "a valid bearer token is required (meshwatch token create)");
            }
            if (c->read_only && strcmp (method, "GET") && strcmp (method, "HEAD")) {
                pthread_mutex_lock (&self->lock);
                self->stats.forbidden++;
                pthread_mutex_unlock (&self->lock);
                return s_send_error (c, MHD_HTTP_FORBIDDEN, "forbidden", "token '%s' is read-only", c->token);
            }
        }
        const char *cl = MHD_lookup_connection_value (mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull (cl, NULL, 10) > self->o.max_body)
            return s_send_error (c, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
                                 "the body is larger than %zu bytes (API_MAX_BODY)", self->o.max_body);
        return MHD_YES;
    }
    if (*upload_size) {
        //  The body, bounded (a chunked one has no Content-Length to check).
        if (!c->answered && !c->too_big) {
            if (c->body_len + *upload_size > self->o.max_body)
                c->too_big = true;
            else {
                char *b = realloc (c->body, c->body_len + *upload_size + 1);
                if (!b)
                    c->too_big = true;
                else {
                    memcpy (b + c->body_len, upload_data, *upload_size);
                    c->body = b;
                    c->body_len += *upload_size;
                    c->body[c->body_len] = 0;
                }
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (c->answered)
        return MHD_YES;
    if (c->too_big)
        return s_send_error (c, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
                             "the body is larger than %zu bytes (API_MAX_BODY)", self->o.max_body);
    const route_t *r = &s_routes[c->route];
    switch (r->kind) {
    case K_HEALTH: {
        json_object *o = json_object_new_object ();
        mw_json_add (o, "status", mw_json_str ("ok"));
        mw_json_add (o, "node", mw_json_str (self->node_id));
        return s_send_json (c, MHD_HTTP_OK, o, NULL);
    }
    case K_OPENAPI:
        return s_send_doc (c, node_api_openapi_text, node_api_openapi_len, self->openapi_etag,
                           "application/json", true);
    case K_DOC: return s_serve_doc (c, r->doc);
    case K_EVENTS: return s_serve_events (c);
    case K_STREAM: return s_serve_stream (c);
    case K_LOOP:
        if (c->lstate == L_NONE)
            return s_queue_loop (c);
        if (c->lstate == L_DONE)
            return s_reply_loop (c);
        return MHD_YES;   //  still with the loop
    }
    return MHD_NO;
}

static void
s_completed (void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void) cls, (void) mc, (void) toe;
    conn_t *c = (conn_t *) *con_cls;
    if (!c)
        return;
    //  Never queued or awaiting here: a suspended connection does not end.
    free (c->body);
    json_object_put (c->jbody);
    json_object_put (c->resp.json);
    free (c->resp.data);
    free (c);
    *con_cls = NULL;
}

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char line[256];
    vsnprintf (line, sizeof line, fmt, ap);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '"')
            *p = ' ';
    mw_debug ("api_http", "msg=\"%s\"", line);
}

static char *
s_read_pem (const char *path, char *err, size_t errlen)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        return NULL;
    }
    char *buf = malloc (65537);
    size_t n = buf ? fread (buf, 1, 65536, f) : 0;
    fclose (f);
    if (!buf || n == 0 || n == 65536) {
        snprintf (err, errlen, "%s: empty, unreadable or larger than 64 KiB", path);
        free (buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

node_api_t *
node_api_new (const node_api_opts_t *opts, char *err, size_t errlen)
{
    assert (opts && opts->tokens);
    node_api_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->o = *opts;
    self->qfd = -1;
    if (!self->o.max_connections)
        self->o.max_connections = 4096;
    if (!self->o.max_per_ip)
        self->o.max_per_ip = 256;
    if (!self->o.timeout_s)
        self->o.timeout_s = 15;
    if (!self->o.sse_max)
        self->o.sse_max = 64;
    if (!self->o.max_body)
        self->o.max_body = 65536;
    snprintf (self->node_id, sizeof self->node_id, "%s", opts->node_id ? opts->node_id : "");
    pthread_mutex_init (&self->lock, NULL);
    s_etag (node_api_openapi_text, node_api_openapi_len, self->openapi_etag);
    self->qfd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->qfd < 0) {
        snprintf (err, errlen, "eventfd: %s", strerror (errno));
        goto fail;
    }
    //  Each connection is a descriptor: make room for the configured cap
    //  where the hard limit allows (never above 65536: the connection
    //  guard's table covers descriptors up to the soft limit, and the agent
    //  raised that already), and keep the API to a quarter of what there is,
    //  so that a flood of API clients cannot starve the mesh's listeners.
    struct rlimit rl;
    rlim_t want = (rlim_t) self->o.max_connections + 512;
    if (want > 65536)
        want = 65536;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit (RLIMIT_NOFILE, &rl);
    }
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
        && self->o.max_connections > rl.rlim_cur / 4) {
        unsigned cap = rl.rlim_cur / 4 > 16 ? (unsigned) (rl.rlim_cur / 4) : 16;
        mw_warn ("api_fd_limit",
                 "nofile=%llu connections=%u reason=\"API_MAX_CONNECTIONS=%u is more than a quarter of the "
                 "descriptor limit: raise the hard limit (ulimit -Hn)\"",
                 (unsigned long long) rl.rlim_cur, cap, self->o.max_connections);
        self->o.max_connections = cap;
    }
    if (self->o.max_per_ip > self->o.max_connections)
        self->o.max_per_ip = self->o.max_connections;
    struct sockaddr_storage ss;
    memset (&ss, 0, sizeof ss);
    unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    const char *ip = opts->bind_ip && *opts->bind_ip ? opts->bind_ip : NULL;
    if (ip && strchr (ip, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons ((uint16_t) opts->port);
        if (inet_pton (AF_INET6, ip, &a6->sin6_addr) != 1) {
            snprintf (err, errlen, "API address %s is not an IP", ip);
            goto fail;
        }
        flags |= MHD_USE_IPv6;
    }
    else {
        struct sockaddr_in *a4 = (struct sockaddr_in *) &ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons ((uint16_t) opts->port);
        a4->sin_addr.s_addr = htonl (INADDR_ANY);
        if (ip && inet_pton (AF_INET, ip, &a4->sin_addr) != 1) {
            snprintf (err, errlen, "API address %s is not an IP", ip);
            goto fail;
        }
    }
    if (opts->tls_cert && *opts->tls_cert) {
        if (MHD_is_feature_supported (MHD_FEATURE_TLS) != MHD_YES) {
            snprintf (err, errlen, "this libmicrohttpd has no TLS: API_TLS_CERT cannot be used");
            goto fail;
        }
        self->tls_cert = s_read_pem (opts->tls_cert, err, errlen);
        self->tls_key = self->tls_cert ? s_read_pem (opts->tls_key ? opts->tls_key : "", err, errlen) : NULL;
        if (!self->tls_key)
            goto fail;
        flags |= MHD_USE_TLS;
        self->tls = true;
    }
    if (self->tls)
        self->daemon = MHD_start_daemon (
            flags, (uint16_t) opts->port, NULL, NULL, s_access, self, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *) &ss, MHD_OPTION_HTTPS_MEM_CERT, self->tls_cert, MHD_OPTION_HTTPS_MEM_KEY,
            self->tls_key, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) HEADER_POOL,
            MHD_OPTION_CONNECTION_LIMIT, self->o.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            self->o.max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, self->o.timeout_s,
            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 1024, MHD_OPTION_NOTIFY_COMPLETED, s_completed,
            self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self, MHD_OPTION_END);
    else
        self->daemon = MHD_start_daemon (
            flags, (uint16_t) opts->port, NULL, NULL, s_access, self, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *) &ss, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) HEADER_POOL,
            MHD_OPTION_CONNECTION_LIMIT, self->o.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            self->o.max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, self->o.timeout_s,
            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 1024, MHD_OPTION_NOTIFY_COMPLETED, s_completed,
            self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self, MHD_OPTION_END);
    if (!self->daemon) {
        snprintf (err, errlen, "cannot listen on %s:%d for the API (port in use, or bad TLS files?)",
                  ip ? ip : "*", opts->port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info && info->port ? info->port : opts->port;
    if (opts->log)
        node_evlog_on_commit (opts->log, s_on_commit, self);
    mw_info ("api_listening", "addr=%s port=%d tls=%d", ip ? ip : "*", self->port, self->tls);
    return self;
fail:
    node_api_destroy (&self);
    return NULL;
}

void
node_api_destroy (node_api_t **self_p)
{
    assert (self_p);
    node_api_t *self = *self_p;
    if (!self)
        return;
    if (self->o.log)
        node_evlog_on_commit (self->o.log, NULL, NULL);
    if (self->daemon) {
        //  Everything suspended is resumed: queued requests answer 503,
        //  streams end.  libmicrohttpd must not stop with any suspended.
        pthread_mutex_lock (&self->lock);
        self->stopping = true;
        size_t n = 0;
        for (conn_t *c = self->q_head; c; c = c->next)
            n++;
        for (conn_t *c = self->awaiting; c; c = c->next)
            n++;
        for (sse_t *s = self->waiters; s; s = s->next)
            n++;
        struct MHD_Connection **wake = calloc (n ? n : 1, sizeof *wake);
        n = 0;
        for (conn_t *c = self->q_head; c && wake; c = c->next) {
            node_api_resp_error (&c->resp, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                                 "the agent is stopping");
            c->lstate = L_DONE;
            wake[n++] = c->mc;
        }
        for (conn_t *c = self->awaiting; c && wake; c = c->next) {
            //  The reply was ready; only its commit is uncertain now.
            c->lstate = L_DONE;
            wake[n++] = c->mc;
        }
        for (sse_t *s = self->waiters; s && wake; s = s->next)
            wake[n++] = s->mc;
        self->q_head = self->q_tail = NULL;
        self->q_len = 0;
        self->awaiting = NULL;
        self->waiters = NULL;
        pthread_mutex_unlock (&self->lock);
        for (size_t i = 0; i < n; i++)
            MHD_resume_connection (wake[i]);
        free (wake);
        //  Let the server thread answer them, then stop it.
        MHD_quiesce_daemon (self->daemon);
        usleep (20000);
        MHD_stop_daemon (self->daemon);
    }
    if (self->qfd >= 0)
        close (self->qfd);
    for (int i = 0; i < N_DOCS; i++)
        free (self->docs[i].text);
    free (self->tls_cert);
    free (self->tls_key);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
node_api_port (node_api_t *self)
{
    assert (self);
    return self->port;
}

bool
node_api_tls (node_api_t *self)
{
    assert (self);
    return self->tls;
}

void
node_api_stats (node_api_t *self, node_api_stats_t *out)
{
    assert (self && out);
    pthread_mutex_lock (&self->lock);
    *out = self->stats;
    pthread_mutex_unlock (&self->lock);
}

//  --------------------------------------------------------------------------
//  Selftest: a real server on loopback, a loop on its own thread.

#include <czmq.h>
#include <poll.h>

static int
s_t_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (connect (fd, (struct sockaddr *) &a, sizeof a) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

//  One request (Connection: close), the whole answer into resp.
static int
s_t_http (int port, const char *req, size_t reqlen, char *resp, size_t cap)
{
    resp[0] = 0;
    int fd = s_t_connect (port);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < reqlen) {
        ssize_t n = send (fd, req + off, reqlen - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t) n;
    }
    size_t got = 0;
    ssize_t n;
    while (got + 1 < cap && (n = recv (fd, resp + got, cap - 1 - got, 0)) > 0)
        got += (size_t) n;
    resp[got] = 0;
    close (fd);
    return atoi (resp + 9 < resp + got ? resp + 9 : "0");
}

static int
s_t_req (int port, const char *method, const char *path, const char *token, const char *extra,
         const char *body, char *resp, size_t cap)
{
    char req[4096];
    int n = snprintf (req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n", method, path);
    if (token)
        n += snprintf (req + n, sizeof req - (size_t) n, "Authorization: Bearer %s\r\n", token);
    if (extra)
        n += snprintf (req + n, sizeof req - (size_t) n, "%s", extra);
    if (body)
        n += snprintf (req + n, sizeof req - (size_t) n,
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen (body));
    n += snprintf (req + n, sizeof req - (size_t) n, "\r\n%s", body ? body : "");
    return s_t_http (port, req, (size_t) n, resp, cap);
}

//  Read from a stream until `want` appears (or timeout_ms); the text so far
//  in buf.
static bool
s_t_until (int fd, char *buf, size_t cap, size_t *got, const char *want, int timeout_ms)
{
    uint64_t t0 = mw_now_ms ();
    while (!strstr (buf, want) && mw_now_ms () - t0 < (uint64_t) timeout_ms && *got + 1 < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll (&p, 1, 50) <= 0)
            continue;
        ssize_t n = recv (fd, buf + *got, cap - 1 - *got, 0);
        if (n <= 0)
            break;
        *got += (size_t) n;
        buf[*got] = 0;
    }
    return strstr (buf, want) != NULL;
}

typedef struct {
    node_evlog_t *log;
    int calls;
} t_env_t;

//  A stand-in for the agent's env handler: log an event, reply when durable.
static void
s_t_env (void *ctx, const node_api_req_t *req, node_api_resp_t *resp)
{
    t_env_t *t = (t_env_t *) ctx;
    t->calls++;
    const char *result = mw_json_get_str (req->body, "result", NULL);
    if (!result) {
        node_api_resp_error (resp, 400, "bad_request", "result is required");
        return;
    }
    uint64_t seq = node_evlog_next_seq (t->log);
    json_object *ev = json_object_new_object ();
    mw_json_add (ev, "event", mw_json_str ("report"));
    mw_json_add (ev, "seq", mw_json_u64 (seq));
    mw_json_add (ev, "result", mw_json_str (result));
    const char *json = mw_json_text (ev, false);
    node_evlog_append (t->log, "env.report", mw_wall_ms (), json, strlen (json), "\x80", 1);
    json_object_put (ev);
    resp->status = 202;
    resp->json = json_object_new_object ();
    mw_json_add (resp->json, "seq", mw_json_u64 (seq));
    resp->wait_seq = seq;
}

static void
s_t_jobs (void *ctx, const node_api_req_t *req, node_api_resp_t *resp)
{
    (void) ctx, (void) req;
    resp->json = json_object_new_array ();
}

static void *
s_t_loop (void *arg)
{
    node_loop_run ((node_loop_t *) arg);
    return NULL;
}

//  Every route of the table is in the OpenAPI document with its method,
//  and the document has no route the table lacks.
static int
s_t_routes_vs_doc (bool verbose)
{
    int rc = 0;
    size_t len;
    const char *text = node_api_openapi (&len);
    char err[200];
    json_object *doc = mw_json_parse (text, len, err, sizeof err);
    CHECK (doc, "docs/openapi.json does not parse: %s", err);
    json_object *paths = mw_json_get (doc, "paths");
    CHECK (paths && !strncmp (mw_json_get_str (doc, "openapi", ""), "3.", 2), "not OpenAPI 3");
    size_t documented = 0;
    if (paths) {
        json_object_object_foreach (paths, path, item)
        {
            json_object_object_foreach (item, m, op)
            {
                (void) op;
                if (!strcmp (m, "parameters"))
                    continue;
                documented++;
                bool found = false;
                for (size_t i = 0; i < N_ROUTES; i++)
                    found |= !strcasecmp (s_routes[i].method, m) && !strcmp (s_routes[i].pattern, path);
                CHECK (found, "documented %s %s is not served", m, path);
            }
        }
    }
    char lower[8];
    for (size_t i = 0; i < N_ROUTES; i++) {
        size_t k = 0;
        for (; s_routes[i].method[k] && k + 1 < sizeof lower; k++)
            lower[k] = (char) tolower ((unsigned char) s_routes[i].method[k]);
        lower[k] = 0;
        json_object *item = paths ? mw_json_get (paths, s_routes[i].pattern) : NULL;
        CHECK (item && mw_json_get (item, lower), "served %s %s is not in docs/openapi.json",
               s_routes[i].method, s_routes[i].pattern);
    }
    CHECK (documented == N_ROUTES, "%zu documented operations, %zu routes", documented, (size_t) N_ROUTES);
    if (verbose)
        printf ("  %zu routes, all in docs/openapi.json\n", (size_t) N_ROUTES);
    json_object_put (doc);
    return rc;
}

int
node_api_test (bool verbose)
{
    int rc = s_t_routes_vs_doc (verbose);
    if (sodium_init () < 0)
        return -1;
    char dir[] = "/tmp/mw-api-XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    char err[256] = "", rw[NODE_TOKEN_TEXT_SIZE], ro[NODE_TOKEN_TEXT_SIZE], gone[NODE_TOKEN_TEXT_SIZE];
    node_tokens_t *tokens = node_tokens_open (dir, err, sizeof err);
    node_evlog_opts_t lo = {1000, 0, 0};
    node_evlog_t *log = tokens ? node_evlog_open (dir, &lo, err, sizeof err) : NULL;
    CHECK (log, "set-up: %s", err);
    if (!log) {
        node_tokens_close (&tokens);
        return -1;
    }
    node_tokens_create (tokens, "rw", false, rw, err, sizeof err);
    node_tokens_create (tokens, "ro", true, ro, err, sizeof err);
    node_tokens_create (tokens, "gone", false, gone, err, sizeof err);
    node_tokens_revoke (tokens, "gone");
    node_api_opts_t o = {"127.0.0.1", 0, NULL, NULL, 64, 64, 5, 2, 1024, log, tokens, "00112233aabbccdd"};
    node_api_t *api = node_api_new (&o, err, sizeof err);
    CHECK (api, "new: %s", err);
    if (!api) {
        node_evlog_close (&log);
        node_tokens_close (&tokens);
        return -1;
    }
    t_env_t env = {log, 0};
    CHECK (node_api_handle (api, "POST", "/api/v1/env", s_t_env, &env) == 0, "handle env");
    CHECK (node_api_handle (api, "GET", "/api/v1/jobs", s_t_jobs, NULL) == 0, "handle jobs");
    CHECK (node_api_handle (api, "GET", "/api/v1/nothing", s_t_jobs, NULL) == -1, "a route not in the table");
    node_loop_t *loop = node_loop_new (50);
    node_service_t svc;
    node_api_service (api, &svc);
    node_loop_add (loop, &svc);
    volatile sig_atomic_t stop = 0;
    node_loop_watch (loop, &stop);
    pthread_t th;
    pthread_create (&th, NULL, s_t_loop, loop);
    int port = node_api_port (api);
    static char resp[65536];

    //  Health is open; everything else needs a live token.
    CHECK (s_t_req (port, "GET", "/api/v1/health", NULL, NULL, NULL, resp, sizeof resp) == 200
               && strstr (resp, "\"status\":\"ok\""),
           "health: %.80s", resp);
    CHECK (s_t_req (port, "GET", "/api/v1/state", NULL, NULL, NULL, resp, sizeof resp) == 401
               && strstr (resp, "WWW-Authenticate: Bearer") && strstr (resp, "\"error\":\"unauthorized\""),
           "no token: %.200s", resp);
    CHECK (s_t_req (port, "GET", "/api/v1/state", gone, NULL, NULL, resp, sizeof resp) == 401,
           "revoked token");
    CHECK (s_t_req (port, "GET", "/api/v1/state", "mwt_forged", NULL, NULL, resp, sizeof resp) == 401,
           "forged");
    CHECK (s_t_req (port, "GET", "/api/v1/state", rw, NULL, NULL, resp, sizeof resp) == 503,
           "no snapshot yet");
    //  Snapshots, ETag, If-None-Match.
    json_object *doc = json_object_new_object ();
    mw_json_add (doc, "members", json_object_new_array ());
    node_api_set_doc (api, "state", doc);
    CHECK (s_t_req (port, "GET", "/api/v1/state", ro, NULL, NULL, resp, sizeof resp) == 200
               && strstr (resp, "{\"members\":[]}"),
           "state: %.300s", resp);
    char etag[40] = "";
    const char *et = strstr (resp, "ETag: ");
    if (et)
        snprintf (etag, sizeof etag, "%.34s", et + 6);
    char inm[80];
    snprintf (inm, sizeof inm, "If-None-Match: %s\r\n", etag);
    CHECK (s_t_req (port, "GET", "/api/v1/state", ro, inm, NULL, resp, sizeof resp) == 304, "304: %.100s",
           resp);
    doc = json_object_new_object ();
    mw_json_add (doc, "members", json_object_new_array ());
    node_api_set_doc (api, "state", doc);   //  the same text: the same ETag
    CHECK (s_t_req (port, "GET", "/api/v1/state", ro, inm, NULL, resp, sizeof resp) == 304,
           "same doc, new etag");
    doc = json_object_new_object ();
    mw_json_add (doc, "members", mw_json_u64 (1));
    node_api_set_doc (api, "state", doc);
    CHECK (s_t_req (port, "GET", "/api/v1/state", ro, inm, NULL, resp, sizeof resp) == 200,
           "changed doc: 304");
    //  Routing errors as JSON.
    CHECK (s_t_req (port, "GET", "/api/v1/nope", rw, NULL, NULL, resp, sizeof resp) == 404
               && strstr (resp, "\"error\":\"not_found\""),
           "404");
    CHECK (s_t_req (port, "DELETE", "/api/v1/state", rw, NULL, NULL, resp, sizeof resp) == 405
               && strstr (resp, "Allow: GET"),
           "405: %.200s", resp);
    CHECK (s_t_req (port, "GET", "/api/v1/cameras/cam7", rw, NULL, NULL, resp, sizeof resp) == 501
               && strstr (resp, "\"error\":\"not_implemented\""),
           "501: %.300s", resp);
    CHECK (s_t_req (port, "GET", "/api/v1/jobs", rw, NULL, NULL, resp, sizeof resp) == 200
               && strstr (resp, "\r\n\r\n[]"),
           "jobs via the loop: %.300s", resp);
    //  Writes: read-only refused, bad bodies named, sizes bounded.
    CHECK (s_t_req (port, "POST", "/api/v1/env", ro, NULL, "{\"result\":\"4\"}", resp, sizeof resp) == 403
               && strstr (resp, "read-only"),
           "read-only POST");
    CHECK (s_t_req (port, "POST", "/api/v1/env", rw, NULL, "{\"result\":\"4\",}", resp, sizeof resp) == 400
               && strstr (resp, "not valid JSON"),
           "malformed: %.300s", resp);
    CHECK (s_t_req (port, "POST", "/api/v1/env", rw, NULL, "[1]", resp, sizeof resp) == 400, "not an object");
    CHECK (s_t_req (port, "POST", "/api/v1/env", rw, "Content-Type: text/plain\r\n", NULL, resp, sizeof resp)
                   == 400
               || strstr (resp, "415"),
           "no body");
    char big[2100];
    memset (big, ' ', sizeof big - 1);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    big[sizeof big - 1] = 0;
    CHECK (s_t_req (port, "POST", "/api/v1/env", rw, NULL, big, resp, sizeof resp) == 413
               && strstr (resp, "payload_too_large"),
           "oversized: %.200s", resp);
    //  A chunked body has no Content-Length: cut while it arrives.
    char chunked[4096];
    int cn =
        snprintf (chunked, sizeof chunked,
                  "POST /api/v1/env HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer %s\r\n"
                  "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
                  rw, (unsigned) strlen (big), big);
    CHECK (s_t_http (port, chunked, (size_t) cn, resp, sizeof resp) == 413, "chunked oversized: %.100s",
           resp);
    int calls0 = env.calls;
    CHECK (s_t_req (port, "POST", "/api/v1/env", rw, NULL, "{\"result\":\"4\"}", resp, sizeof resp) == 202
               && strstr (resp, "\"seq\":1"),
           "env: %.300s", resp);
    CHECK (env.calls == calls0 + 1, "the handler ran once");
    uint64_t last = 0;
    node_evlog_bounds (log, NULL, &last);
    CHECK (last >= 1, "202 before the commit");
    //  Events: list, cursors.
    uint64_t epoch = node_evlog_epoch (log);
    CHECK (s_t_req (port, "GET", "/api/v1/events", ro, NULL, NULL, resp, sizeof resp) == 200
               && strstr (
                   resp,
                   "\"topic\":\"env.report\",\"data\":{\"event\":\"report\",\"seq\":1,\"result\":\"4\"}}]}")
               && strstr (resp, "\"more\":false"),
           "events: %.400s", resp);
    char path[128];
    snprintf (path, sizeof path, "/api/v1/events?after=%" PRIu64 "-1", epoch + 1);
    CHECK (s_t_req (port, "GET", path, ro, NULL, NULL, resp, sizeof resp) == 410
               && strstr (resp, "\"error\":\"gone\""),
           "other epoch: %.300s", resp);
    CHECK (s_t_req (port, "GET", "/api/v1/events?after=x", ro, NULL, NULL, resp, sizeof resp) == 400,
           "bad cursor");
    CHECK (s_t_req (port, "GET", "/api/v1/events?after=99", ro, NULL, NULL, resp, sizeof resp) == 410,
           "future cursor");
    CHECK (s_t_req (port, "GET", "/api/v1/events?limit=0", ro, NULL, NULL, resp, sizeof resp) == 400,
           "limit 0");
    //  The stream: from a cursor, then live (woken by the commit).
    int fd = s_t_connect (port);
    char req[512];
    int rl = snprintf (req, sizeof req,
                       "GET /api/v1/events/stream?after=%" PRIu64
                       "-0 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n\r\n",
                       epoch, ro);
    send (fd, req, (size_t) rl, MSG_NOSIGNAL);
    static char sbuf[65536];
    size_t got = 0;
    sbuf[0] = 0;
    char want[96];
    snprintf (want, sizeof want, "id: %" PRIu64 "-1\nevent: env.report\ndata: {", epoch);
    CHECK (s_t_until (fd, sbuf, sizeof sbuf, &got, want, 3000) && strstr (sbuf, "text/event-stream"),
           "stream replay: %.300s", sbuf);
    uint64_t t0 = mw_now_ms ();
    CHECK (s_t_req (port, "POST", "/api/v1/env", rw, NULL, "{\"result\":\"7\"}", resp, sizeof resp) == 202,
           "env 2");
    snprintf (want, sizeof want, "id: %" PRIu64 "-2\nevent: env.report\n", epoch);
    CHECK (s_t_until (fd, sbuf, sizeof sbuf, &got, want, 3000), "stream live: %.400s", sbuf);
    if (verbose)
        printf ("  POST to stream: %llu ms\n", (unsigned long long) (mw_now_ms () - t0));
    //  Resume by Last-Event-ID: the next event only.
    int fd2 = s_t_connect (port);
    rl = snprintf (req, sizeof req,
                   "GET /api/v1/events/stream HTTP/1.1\r\nHost: t\r\nLast-Event-ID: %" PRIu64 "-1\r\n"
                   "Authorization: Bearer %s\r\n\r\n",
                   epoch, rw);
    send (fd2, req, (size_t) rl, MSG_NOSIGNAL);
    static char sbuf2[65536];
    size_t got2 = 0;
    sbuf2[0] = 0;
    CHECK (s_t_until (fd2, sbuf2, sizeof sbuf2, &got2, want, 3000), "resume: %.300s", sbuf2);
    snprintf (want, sizeof want, "id: %" PRIu64 "-1\n", epoch);
    CHECK (!strstr (sbuf2, want), "resume repeated the event it had");
    //  Two streams are the cap (API_SSE_MAX=2 here).
    CHECK (s_t_req (port, "GET", "/api/v1/events/stream", rw, NULL, NULL, resp, sizeof resp) == 503,
           "3rd stream");
    //  A 40 KiB header: refused, the server goes on.
    size_t hb = 40 * 1024 + 256;
    char *huge = malloc (hb);
    if (huge) {
        int n = snprintf (huge, hb, "GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Big: ");
        memset (huge + n, 'a', 40 * 1024);
        memcpy (huge + n + 40 * 1024, "\r\nConnection: close\r\n\r\n", 24);
        int st = s_t_http (port, huge, (size_t) n + 40 * 1024 + 23, resp, sizeof resp);
        CHECK (st == 431 || st == 413 || st == 400 || st == 0, "huge header: %d", st);
        free (huge);
    }
    CHECK (s_t_req (port, "GET", "/api/v1/health", NULL, NULL, NULL, resp, sizeof resp) == 200, "after huge");
    node_api_stats_t as;
    node_api_stats (api, &as);
    CHECK (as.unauthorized >= 3 && as.forbidden == 1 && as.not_modified >= 2 && as.sse_open == 2,
           "stats %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64, as.unauthorized, as.forbidden,
           as.not_modified, as.sse_open);

    //  Retention overtakes old cursors: 410 for the list and the stream.
    //  (No POST is in flight: this thread may append in the loop's stead.)
    for (int i = 0; i < 1200; i++)
        node_evlog_append (log, "env.report", mw_wall_ms (), "{\"event\":\"report\"}", 18, NULL, 0);
    node_evlog_flush (log, 5000);
    uint64_t oldest = 0;
    for (int i = 0; i < 200 && oldest <= 2; i++) {
        node_evlog_bounds (log, &oldest, NULL);
        usleep (10000);
    }
    snprintf (path, sizeof path, "/api/v1/events?after=%" PRIu64 "-1", epoch);
    CHECK (oldest > 2 && s_t_req (port, "GET", path, ro, NULL, NULL, resp, sizeof resp) == 410
               && strstr (resp, "no longer kept"),
           "pruned cursor: %.300s", resp);
    char lei[96];
    snprintf (lei, sizeof lei, "Last-Event-ID: %" PRIu64 "-1\r\n", epoch);
    CHECK (s_t_req (port, "GET", "/api/v1/events/stream", ro, lei, NULL, resp, sizeof resp) == 410,
           "pruned Last-Event-ID: %.300s", resp);
    //  Stop with both streams open (one suspended): they end, nothing hangs.
    stop = 1;
    pthread_join (th, NULL);
    node_api_destroy (&api);
    CHECK (api == NULL, "destroy nulls");
    close (fd);
    close (fd2);
    node_loop_destroy (&loop);
    node_evlog_close (&log);
    node_tokens_close (&tokens);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    if (system (cmd) != 0)
        rc = -1;
    return rc;
}
