/*  =========================================================================
    node_events - the VMS event stream (see events.h, docs/EVENTS.md).
    ========================================================================= */
#include "node/events.h"
#include "common/json.h"
#include "common/log.h"
#include "common/selftest.h"

#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  The schema: every topic and its fields, in order, with their types.
//  docs/EVENTS.md documents exactly this (the selftest compares them).

static const char *s_common_fields = "event:string node:string ts_ms:integer epoch:integer seq:integer";

static const struct {
    const char *family;
    const char *events;   //  space-separated
    const char
        *fields;   //  name:type ..., type string|integer|number|boolean|array|object, "|null" if nullable
} s_schema[] = {
    {"member", "join suspect alive dead leave",
     "id:string name:string addr:string state:string incarnation:integer"},
    {"node", "started", "id:string name:string addr:string incarnation:integer"},
    {"coordinator", "elected lost step_down", "id:string reason:string term:integer rank:integer"},
    {"job", "handed_off fallback_vms redispatched escalated done failed precise escalation_failed",
     "job:string camera:string model:string path:string ran_on:string|null reason:string confidence:number "
     "boxes:integer total_ms:number queue_ms:number transfer_ms:number infer_ms:number late:boolean "
     "escalated:boolean attempts:integer camera_name:string|null capture_ms:integer|null width:integer "
     "height:integer detections:array"},
    {"camera", "online stalled offline",
     "camera:string name:string state:string reason:string mode:string width:integer height:integer "
     "reconnects:integer"},
    {"focus", "requested started ended",
     "focus:string origin:string origin_camera:string|null trigger:string lat:number lon:number "
     "radius_m:integer ttl_ms:integer created_ms:integer camera:string|null name:string|null "
     "distance_m:number|null"},
    {"server", "load", "queue:integer queue_max:integer workers:integer svc_ms:number"},
    {"env", "report", "nid:string result:string date:string time:string source:string"},
    {"pkg",
     "published fetch_started complete refused bad_piece failed repaired redeployed rolled_back started",
     "name:string version:string digest:string reason:string peer:string|null pieces:integer bytes:integer "
     "seconds:number"},
    {"deploy", "wave done stopped variant",
     "name:string version:string slot:string wave:integer waves:integer reason:string"},
    {"model", "tuned",
     "model:string action:string from:integer to:integer reason:string p90_ms:number miss_rate:number "
     "confidence:number escalation_rate:number samples:integer"},
};
#define N_SCHEMA (sizeof s_schema / sizeof s_schema[0])

struct _node_events_t {
    zsock_t *pub;   //  NULL: no PUB (EVENTS_PORT=0)
    node_evlog_t *log;
    uint64_t seq_mem;   //  without a log: the last seq given
    uint64_t pub_seq;   //  with a log: the last seq sent on the PUB
    uint64_t pub_skipped;
    //  Topics already reported as not matching the schema (log once each).
    char bad[8][64];
    int n_bad;
};

node_events_t *
node_events_new (const char *bind_ip, int port)
{
    return node_events_new_curve (bind_ip, port, NULL);
}

node_events_t *
node_events_new_curve (const char *bind_ip, int port, node_curve_t *curve)
{
    node_events_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (port == 0)
        return self;   //  the log only
    self->pub = zsock_new (ZMQ_PUB);
    if (!self->pub) {
        free (self);
        return NULL;
    }
    zsock_set_sndhwm (self->pub, 10000);
    //  What a subscriber sends us is (un)subscriptions: topic prefixes.  Cap
    //  them, or anyone on the network could make libzmq allocate whatever
    //  size a forged frame header claims.  (The cap applies to the
    //  handshake's commands too: a CURVE INITIATE is about 300 bytes.)
    zsock_set_maxmsgsize (self->pub, curve ? 1024 : 256);
    zsock_set_linger (self->pub, 0);
    //  A connection that never completes its handshake (or a CURVE one that
    //  the allow-list refuses) is dropped within 3 s.
    zmq_setsockopt (zsock_resolve (self->pub), ZMQ_HANDSHAKE_IVL, &(int){3000}, sizeof (int));
    if (curve && node_curve_server_apply (curve, self->pub) != 0) {
        mw_error ("events_curve_failed", "port=%d", port);
        zsock_destroy (&self->pub);
        free (self);
        return NULL;
    }
    const char *ip = bind_ip && *bind_ip ? bind_ip : "*";
    if (strchr (ip, ':'))
        zsock_set_ipv6 (self->pub, 1);
    int rc = strchr (ip, ':') ? zsock_bind (self->pub, "tcp://[%s]:%d", ip, port)
                              : zsock_bind (self->pub, "tcp://%s:%d", ip, port);
    if (rc < 0) {
        mw_error ("events_bind_failed", "ip=%s port=%d", ip, port);
        zsock_destroy (&self->pub);
        free (self);
        return NULL;
    }
    return self;
}

zsock_t *
node_events_sock (node_events_t *self)
{
    return self ? self->pub : NULL;
}

void
node_events_destroy (node_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy (&(*self_p)->pub);
    free (*self_p);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Building

static node_event_field_t *
s_field (node_event_t *ev, const char *key, node_ev_type_t type)
{
    assert (ev && key);
    //  The field lists are fixed in code (the schema): overflowing one is a bug.
    assert (ev->n < NODE_EVENT_MAX_FIELDS);
    node_event_field_t *f = &ev->f[ev->n++];
    memset (f, 0, sizeof *f);
    f->key = key;
    f->type = type;
    return f;
}

void
node_event_init (node_event_t *ev, const char *family, const char *name, const char *node_id)
{
    assert (ev && family && name);
    memset (ev, 0, sizeof *ev);
    snprintf (ev->family, sizeof ev->family, "%s", family);
    snprintf (ev->name, sizeof ev->name, "%s", name);
    node_event_str (ev, "event", ev->name);
    node_event_str (ev, "node", node_id ? node_id : "");
    node_event_int (ev, "ts_ms", (int64_t) mw_wall_ms ());
    node_event_int (ev, "epoch", 0);   //  set when published
    node_event_int (ev, "seq", 0);
}

void
node_event_str (node_event_t *ev, const char *key, const char *s)
{
    node_event_field_t *f = s_field (ev, key, s ? NODE_EV_STRING : NODE_EV_NULL);
    f->s = s;
}

void
node_event_int (node_event_t *ev, const char *key, int64_t v)
{
    s_field (ev, key, NODE_EV_INTEGER)->i = v;
}

void
node_event_num (node_event_t *ev, const char *key, double v, int decimals)
{
    node_event_field_t *f = s_field (ev, key, isfinite (v) ? NODE_EV_NUMBER : NODE_EV_NULL);
    f->d = v;
    f->decimals = decimals;
}

void
node_event_bool (node_event_t *ev, const char *key, bool v)
{
    s_field (ev, key, NODE_EV_BOOLEAN)->b = v;
}

void
node_event_value (node_event_t *ev, const char *key, json_object *v)
{
    s_field (ev, key, v ? NODE_EV_JSON : NODE_EV_NULL)->j = v;
}

//  --------------------------------------------------------------------------
//  The two serialisations

json_object *
node_event_json (const node_event_t *ev)
{
    assert (ev);
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    for (int i = 0; i < ev->n; i++) {
        const node_event_field_t *f = &ev->f[i];
        json_object *v = NULL;
        switch (f->type) {
        case NODE_EV_STRING: v = mw_json_str (f->s); break;
        case NODE_EV_INTEGER: v = mw_json_i64 (f->i); break;
        case NODE_EV_NUMBER: v = mw_json_num (f->d, f->decimals); break;
        case NODE_EV_BOOLEAN: v = mw_json_bool (f->b); break;
        case NODE_EV_NULL: v = NULL; break;
        case NODE_EV_JSON: v = json_object_get (f->j); break;
        }
        mw_json_add (o, f->key, v);
    }
    return o;
}

static void
s_pack_str (msgpack_packer *pk, const char *s)
{
    size_t n = strlen (s);
    msgpack_pack_str (pk, n);
    msgpack_pack_str_body (pk, s, n);
}

//  A json-c value as msgpack, the same structure (depth-bounded: events
//  are built here, never parsed from outside).
static int
s_pack_json (msgpack_packer *pk, json_object *v, int depth)
{
    if (depth > 16)
        return msgpack_pack_nil (pk);
    switch (json_object_get_type (v)) {
    case json_type_null: return msgpack_pack_nil (pk);
    case json_type_boolean:
        return json_object_get_boolean (v) ? msgpack_pack_true (pk) : msgpack_pack_false (pk);
    case json_type_int: return msgpack_pack_int64 (pk, json_object_get_int64 (v));
    case json_type_double: {
        //  The value as the JSON text shows it (mw_json_num's precision).
        const char *t = json_object_to_json_string_ext (v, JSON_C_TO_STRING_PLAIN);
        return msgpack_pack_double (pk, strtod (t, NULL) + 0.0);
    }
    case json_type_string: {
        s_pack_str (pk, json_object_get_string (v));
        return 0;
    }
    case json_type_array: {
        size_t n = json_object_array_length (v);
        int rc = msgpack_pack_array (pk, n);
        for (size_t i = 0; i < n; i++)
            rc |= s_pack_json (pk, json_object_array_get_idx (v, i), depth + 1);
        return rc;
    }
    case json_type_object: {
        int rc = msgpack_pack_map (pk, (size_t) json_object_object_length (v));
        json_object_object_foreach (v, key, val)
        {
            s_pack_str (pk, key);
            rc |= s_pack_json (pk, val, depth + 1);
        }
        return rc;
    }
    }
    return msgpack_pack_nil (pk);
}

int
node_event_msgpack (const node_event_t *ev, msgpack_sbuffer *out)
{
    assert (ev && out);
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, msgpack_sbuffer_write);
    int rc = msgpack_pack_map (&pk, (size_t) ev->n);
    for (int i = 0; i < ev->n; i++) {
        const node_event_field_t *f = &ev->f[i];
        s_pack_str (&pk, f->key);
        switch (f->type) {
        case NODE_EV_STRING: {
            //  The same text as the JSON frame: valid UTF-8 (msgpack's str
            //  type promises it).
            size_t cap = strlen (f->s) * 3 + 4;
            char *clean = malloc (cap);
            if (!clean)
                return -1;
            s_pack_str (&pk, mw_json_utf8 (f->s, clean, cap));
            free (clean);
            break;
        }
        case NODE_EV_INTEGER: rc |= msgpack_pack_int64 (&pk, f->i); break;
        case NODE_EV_NUMBER: {
            //  Rounded as in JSON, so both frames carry the same value.
            char text[64];
            snprintf (text, sizeof text, "%.*f", f->decimals, f->d);
            rc |= msgpack_pack_double (&pk, strtod (text, NULL) + 0.0);
            break;
        }
        case NODE_EV_BOOLEAN: rc |= f->b ? msgpack_pack_true (&pk) : msgpack_pack_false (&pk); break;
        case NODE_EV_NULL: rc |= msgpack_pack_nil (&pk); break;
        case NODE_EV_JSON: rc |= s_pack_json (&pk, f->j, 0); break;
        }
    }
    return rc ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  Schema check

static const char *s_field_type_name (const node_event_field_t *f);

static const char *
s_type_name (node_ev_type_t t)
{
    switch (t) {
    case NODE_EV_STRING: return "string";
    case NODE_EV_INTEGER: return "integer";
    case NODE_EV_NUMBER: return "number";
    case NODE_EV_BOOLEAN: return "boolean";
    case NODE_EV_NULL: return "null";
    case NODE_EV_JSON: return "json";
    }
    return "?";
}

//  A JSON field is an "array" or an "object" in the schema.
static const char *
s_field_type_name (const node_event_field_t *f)
{
    if (f->type == NODE_EV_JSON)
        return json_object_is_type (f->j, json_type_array) ? "array" : "object";
    return s_type_name (f->type);
}

//  Is `word` one of the space-separated words of `list`?
static bool
s_in_list (const char *list, const char *word)
{
    size_t n = strlen (word);
    for (const char *p = list; *p;) {
        const char *e = strchr (p, ' ');
        size_t len = e ? (size_t) (e - p) : strlen (p);
        if (len == n && !strncmp (p, word, n))
            return true;
        p += len;
        while (*p == ' ')
            p++;
    }
    return false;
}

//  Compare fields [from, ...) of ev with "name:type ..." in spec; advances *at.
static int
s_check_spec (const node_event_t *ev, int *at, const char *spec, char *why, size_t whylen)
{
    for (const char *p = spec; *p;) {
        const char *e = strchr (p, ' ');
        size_t len = e ? (size_t) (e - p) : strlen (p);
        char item[64];
        snprintf (item, sizeof item, "%.*s", (int) len, p);
        p += len;
        while (*p == ' ')
            p++;
        char *colon = strchr (item, ':');
        assert (colon);
        *colon = 0;
        const char *type = colon + 1;
        if (*at >= ev->n) {
            snprintf (why, whylen, "field %s missing", item);
            return -1;
        }
        const node_event_field_t *f = &ev->f[(*at)++];
        bool nullable = strstr (type, "|null") != NULL;
        if (strcmp (f->key, item) != 0) {
            snprintf (why, whylen, "field %d is %s, want %s", *at - 1, f->key, item);
            return -1;
        }
        size_t base = strcspn (type, "|");
        const char *have = s_field_type_name (f);
        bool ok = f->type == NODE_EV_NULL ? nullable : strlen (have) == base && !strncmp (type, have, base);
        if (!ok) {
            snprintf (why, whylen, "field %s is %s, want %s", f->key, have, type);
            return -1;
        }
    }
    return 0;
}

int
node_event_check (const node_event_t *ev, char *why, size_t whylen)
{
    assert (ev && why);
    for (size_t s = 0; s < N_SCHEMA; s++) {
        if (strcmp (s_schema[s].family, ev->family) || !s_in_list (s_schema[s].events, ev->name))
            continue;
        int at = 0;
        if (s_check_spec (ev, &at, s_common_fields, why, whylen)
            || s_check_spec (ev, &at, s_schema[s].fields, why, whylen))
            return -1;
        if (at != ev->n) {
            snprintf (why, whylen, "extra field %s", ev->f[at].key);
            return -1;
        }
        return 0;
    }
    snprintf (why, whylen, "unknown topic %s.%s", ev->family, ev->name);
    return -1;
}

//  --------------------------------------------------------------------------
//  Publishing

void
node_events_attach_log (node_events_t *self, node_evlog_t *log)
{
    assert (self);
    self->log = log;
    uint64_t last = 0;
    if (log)
        node_evlog_bounds (log, NULL, &last);
    self->pub_seq = last;   //  what was committed before us is not re-sent
}

node_evlog_t *
node_events_log (node_events_t *self)
{
    return self ? self->log : NULL;
}

static int
s_send_frames (node_events_t *self, const char *topic, const void *mp, size_t mp_len, const char *json,
               size_t json_len)
{
    if (!self->pub)
        return 0;
    int rc = 0;
    zmsg_t *m = zmsg_new ();
    zmsg_addstr (m, topic);
    zmsg_addmem (m, mp, mp_len);
    if (zmsg_send (&m, self->pub) != 0)
        rc = -1;
    zmsg_destroy (&m);
    char jtopic[72];
    snprintf (jtopic, sizeof jtopic, "json.%s", topic);
    m = zmsg_new ();
    zmsg_addstr (m, jtopic);
    zmsg_addmem (m, json, json_len);
    if (zmsg_send (&m, self->pub) != 0)
        rc = -1;
    zmsg_destroy (&m);
    return rc;
}

//  Committed events not yet on the PUB: send them (bounded per call, so a
//  burst does not hold the loop; the service is woken again).
static void
s_pump (node_events_t *self)
{
    if (!self->log)
        return;
    node_evlog_entry_t *ents[256];
    for (int round = 0; round < 16; round++) {
        int n = node_evlog_read (self->log, self->pub_seq, ents, 256);
        if (n == NODE_EVLOG_GONE) {
            //  Retention overtook the PUB (a log smaller than a burst): go
            //  on from the oldest kept.  Subscribers repair the gap by seq.
            uint64_t oldest;
            node_evlog_bounds (self->log, &oldest, NULL);
            self->pub_skipped += oldest - 1 - self->pub_seq;
            self->pub_seq = oldest - 1;
            continue;
        }
        if (n <= 0)
            return;
        for (int i = 0; i < n; i++) {
            const node_evlog_entry_t *e = ents[i];
            //  Read back from SQLite (the loop fell a whole ring behind):
            //  no msgpack twin kept, so not on the PUB.
            if (e->mp)
                s_send_frames (self, e->topic, e->mp, e->mp_len, e->json, e->json_len);
            else
                self->pub_skipped++;
            self->pub_seq = e->seq;
        }
        node_evlog_release (ents, (size_t) n);
    }
}

static int
s_svc_items (void *ctx, zmq_pollitem_t *items, int max)
{
    node_events_t *self = (node_events_t *) ctx;
    if (!self->log || !self->pub)
        return 0;
    if (max >= 1)
        items[0] = (zmq_pollitem_t){NULL, node_evlog_fd (self->log), ZMQ_POLLIN, 0};
    return 1;
}

static void
s_svc_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    node_events_t *self = (node_events_t *) ctx;
    (void) item, (void) now;
    node_evlog_fd_ack (self->log);
    s_pump (self);
}

static void
s_svc_tick (void *ctx, uint64_t now)
{
    node_events_t *self = (node_events_t *) ctx;
    (void) now;
    //  A pump cut short by its bound carries on here.
    if (self->log && self->pub)
        s_pump (self);
}

void
node_events_service (node_events_t *self, node_service_t *svc)
{
    assert (self && svc);
    *svc = (node_service_t){"events", self, s_svc_items, s_svc_readable, s_svc_tick, NULL, NULL};
}

int
node_events_publish (node_events_t *self, const node_event_t *ev)
{
    return node_events_publish_seq (self, ev, NULL);
}

int
node_events_publish_seq (node_events_t *self, const node_event_t *in, uint64_t *seq_out)
{
    if (seq_out)
        *seq_out = 0;
    if (!self)
        return 0;
    assert (in);
    //  The id: epoch and seq, fields 3 and 4 (node_event_init).
    node_event_t ev_copy = *in;
    node_event_t *ev = &ev_copy;
    assert (ev->n >= 5 && !strcmp (ev->f[3].key, "epoch") && !strcmp (ev->f[4].key, "seq"));
    uint64_t seq = self->log ? node_evlog_next_seq (self->log) : self->seq_mem + 1;
    ev->f[3].i = self->log ? (int64_t) node_evlog_epoch (self->log) : 0;
    ev->f[4].i = (int64_t) seq;
    char topic[64];
    snprintf (topic, sizeof topic, "%.23s.%.31s", ev->family, ev->name);
    char why[128];
    if (node_event_check (ev, why, sizeof why) != 0) {
        bool seen = false;
        for (int i = 0; i < self->n_bad; i++)
            seen |= !strcmp (self->bad[i], topic);
        if (!seen) {
            mw_error ("event_schema_mismatch", "topic=%s reason=\"%s\"", topic, why);
            if (self->n_bad < 8)
                snprintf (self->bad[self->n_bad++], sizeof self->bad[0], "%s", topic);
        }
    }
    int rc = 0;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    json_object *js = node_event_json (ev);
    if (node_event_msgpack (ev, &sbuf) != 0 || !js)
        rc = -1;
    else {
        const char *text = mw_json_text (js, false);
        if (self->log)
            //  Sent on the PUB by the service once committed.
            rc = node_evlog_append (self->log, topic, (uint64_t) ev->f[2].i, text, strlen (text), sbuf.data,
                                    sbuf.size);
        else {
            self->seq_mem = seq;
            rc = s_send_frames (self, topic, sbuf.data, sbuf.size, text, strlen (text));
        }
        if (rc == 0 && seq_out)
            *seq_out = seq;
    }
    json_object_put (js);
    msgpack_sbuffer_destroy (&sbuf);
    return rc;
}

//  --------------------------------------------------------------------------
//  Selftest

//  docs/EVENTS.md (MW_SRCDIR) against the schema table: every topic of the
//  table documented with the same fields in the same order and types, and
//  no documented topic the table lacks.  The document's rules: a line
//  "Topics: `a.b`, `a.c`" opens a section; the rows "| `name` | type |"
//  that follow are its fields; "Topics: `*`" holds the fields common to
//  every event.
static int
s_check_doc (bool verbose)
{
    int rc = 0;
    const char *srcdir = getenv ("MW_SRCDIR");
    char path[512];
    snprintf (path, sizeof path, "%s/docs/EVENTS.md", srcdir && *srcdir ? srcdir : ".");
    FILE *f = fopen (path, "r");
    CHECK (f, "cannot open %s (set MW_SRCDIR)", path);
    if (!f)
        return rc;
    //  Per documented section: its topics and its "name:type ..." spec.
    char topics[16][512], spec[16][1024];
    int n = -1;
    char line[1024];
    while (fgets (line, sizeof line, f)) {
        if (!strncmp (line, "Topics:", 7)) {
            if (++n >= 16)
                break;
            topics[n][0] = spec[n][0] = 0;
            for (char *p = strchr (line, '`'); p; p = strchr (p, '`')) {
                char *e = strchr (p + 1, '`');
                if (!e)
                    break;
                size_t len = strlen (topics[n]);
                snprintf (topics[n] + len, sizeof topics[n] - len, "%s%.*s", len ? " " : "",
                          (int) (e - p - 1), p + 1);
                p = e + 1;
            }
        }
        else if (n >= 0 && n < 16 && !strncmp (line, "| `", 3)) {
            //  | `name` | type | ...: the type cell up to " |", its
            //  markdown escapes ("string\|null") removed.
            char name[64], type[64] = "";
            const char *cell = strstr (line + 3, "` | ");
            if (cell && sscanf (line, "| `%63[^`]`", name) == 1) {
                size_t t = 0;
                for (const char *p = cell + 4; *p && strncmp (p, " |", 2) && t + 1 < sizeof type; p++)
                    if (*p != '\\')
                        type[t++] = *p;
                type[t] = 0;
                size_t len = strlen (spec[n]);
                snprintf (spec[n] + len, sizeof spec[n] - len, "%s%s:%s", len ? " " : "", name, type);
            }
        }
    }
    fclose (f);
    CHECK (n >= 0 && n < 16, "%s: no or too many Topics: sections", path);
    if (n < 0 || n >= 16)
        return rc;
    int common = -1;
    for (int i = 0; i <= n; i++)
        if (!strcmp (topics[i], "*"))
            common = i;
    CHECK (common >= 0 && !strcmp (spec[common], s_common_fields), "common fields: doc '%s' code '%s'",
           common >= 0 ? spec[common] : "-", s_common_fields);
    for (size_t s = 0; s < N_SCHEMA; s++) {
        //  Each of the family's topics appears in exactly one section whose
        //  spec is the family's.
        char evs[256];
        snprintf (evs, sizeof evs, "%s", s_schema[s].events);
        for (char *save = NULL, *e = strtok_r (evs, " ", &save); e; e = strtok_r (NULL, " ", &save)) {
            char topic[64];
            snprintf (topic, sizeof topic, "%s.%s", s_schema[s].family, e);
            int found = 0;
            for (int i = 0; i <= n; i++)
                if (s_in_list (topics[i], topic)) {
                    found++;
                    CHECK (!strcmp (spec[i], s_schema[s].fields), "%s: doc '%s' code '%s'", topic, spec[i],
                           s_schema[s].fields);
                }
            CHECK (found == 1, "%s documented %d times", topic, found);
            if (verbose && found == 1)
                printf ("  %s: documented\n", topic);
        }
    }
    //  And nothing documented that the code does not publish.
    for (int i = 0; i <= n; i++) {
        if (i == common)
            continue;
        char tl[sizeof topics[0]];
        memcpy (tl, topics[i], sizeof tl);
        for (char *save = NULL, *t = strtok_r (tl, " ", &save); t; t = strtok_r (NULL, " ", &save)) {
            char fam[32] = "";
            const char *dot = strchr (t, '.');
            snprintf (fam, sizeof fam, "%.*s", dot ? (int) (dot - t) : 0, t);
            bool known = false;
            for (size_t s = 0; s < N_SCHEMA; s++)
                known |= dot && !strcmp (s_schema[s].family, fam) && s_in_list (s_schema[s].events, dot + 1);
            CHECK (known, "%s documented but not in the schema", t);
        }
    }
    return rc;
}

//  A tiny msgpack reader for the test: the map's value of `key`.
static const msgpack_object *
s_mp_get (const msgpack_object *map, const char *key)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen (key)
            && !memcmp (kv->key.via.str.ptr, key, kv->key.via.str.size))
            return &kv->val;
    }
    return NULL;
}

int
node_events_test (bool verbose)
{
    int rc = s_check_doc (verbose);

    //  Built once, serialised twice: same keys, order, values and types.
    node_event_t ev;
    const char *hostile = "cam \"7\"\\\n}{\xff";
    node_event_init (&ev, "job", "done", "abcd");
    node_event_str (&ev, "job", "0011");
    node_event_str (&ev, "camera", hostile);
    node_event_str (&ev, "model", "tiny-face");
    node_event_str (&ev, "path", "local");
    node_event_str (&ev, "ran_on", NULL);
    node_event_str (&ev, "reason", "");
    node_event_num (&ev, "confidence", 0.81249, 3);
    node_event_int (&ev, "boxes", 3);
    node_event_num (&ev, "total_ms", 12.345, 1);
    node_event_num (&ev, "queue_ms", 0, 1);
    node_event_num (&ev, "transfer_ms", NAN, 1);   //  -> null (schema mismatch)
    node_event_num (&ev, "infer_ms", 10, 1);
    node_event_bool (&ev, "late", false);
    node_event_bool (&ev, "escalated", true);
    node_event_int (&ev, "attempts", 1);
    node_event_str (&ev, "camera_name", "gate");
    node_event_int (&ev, "capture_ms", 1700000000123);
    node_event_int (&ev, "width", 1920);
    node_event_int (&ev, "height", 1080);
    //  A nested array of objects: the detections.
    json_object *dets = json_object_new_array ();
    json_object *d0 = json_object_new_object ();
    mw_json_add (d0, "class", mw_json_str ("face"));
    mw_json_add (d0, "score", mw_json_num (0.97349, 4));
    json_object_array_add (dets, d0);
    node_event_value (&ev, "detections", dets);
    char why[128];
    CHECK (node_event_check (&ev, why, sizeof why) == -1 && strstr (why, "transfer_ms"), "NaN: %s", why);
    ev.n -= 10;
    node_event_num (&ev, "transfer_ms", 1.25, 1);
    node_event_num (&ev, "infer_ms", 10, 1);
    node_event_bool (&ev, "late", false);
    node_event_bool (&ev, "escalated", true);
    node_event_int (&ev, "attempts", 1);
    node_event_str (&ev, "camera_name", "gate");
    node_event_str (&ev, "capture_ms", NULL);
    node_event_int (&ev, "width", 1920);
    node_event_int (&ev, "height", 1080);
    node_event_value (&ev, "detections", dets);
    CHECK (node_event_check (&ev, why, sizeof why) == 0, "schema: %s", why);
    json_object *js = node_event_json (&ev);
    const char *text = mw_json_text (js, false);
    char err[128];
    json_object *back = mw_json_parse (text, strlen (text), err, sizeof err);
    CHECK (back, "JSON: %s: %s", err, text);
    CHECK (!strcmp (mw_json_get_str (back, "camera", ""), "cam \"7\"\\\n}{\xef\xbf\xbd"),
           "camera round trip");
    CHECK (mw_json_get_bool (back, "escalated", false) && mw_json_is_null (back, "ran_on"), "bool, null");
    CHECK (json_object_is_type (mw_json_get (back, "confidence"), json_type_double)
               && mw_json_get_num (back, "confidence", 0) == 0.812,
           "confidence is a number");
    if (verbose)
        printf ("  %s\n", text);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK (node_event_msgpack (&ev, &sb) == 0, "msgpack");
    msgpack_unpacked up;
    msgpack_unpacked_init (&up);
    int ok = msgpack_unpack_next (&up, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS
             && up.data.type == MSGPACK_OBJECT_MAP && (int) up.data.via.map.size == ev.n;
    CHECK (ok, "msgpack map of %d", ev.n);
    if (ok) {
        //  Every key in the same order as the JSON object, same values.
        int i = 0;
        json_object_object_foreach (back, key, val)
        {
            const msgpack_object_kv *kv = &up.data.via.map.ptr[i++];
            CHECK (kv->key.via.str.size == strlen (key) && !memcmp (kv->key.via.str.ptr, key, strlen (key)),
                   "key %d: %s", i, key);
            switch (json_object_get_type (val)) {
            case json_type_string:
                CHECK (
                    kv->val.type == MSGPACK_OBJECT_STR
                        && kv->val.via.str.size == strlen (json_object_get_string (val))
                        && !memcmp (kv->val.via.str.ptr, json_object_get_string (val), kv->val.via.str.size),
                    "%s: string", key);
                break;
            case json_type_int:
                CHECK ((kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER
                        && kv->val.via.u64 == (uint64_t) json_object_get_int64 (val))
                           || (kv->val.type == MSGPACK_OBJECT_NEGATIVE_INTEGER
                               && kv->val.via.i64 == json_object_get_int64 (val)),
                       "%s: integer", key);
                break;
            case json_type_double:
                CHECK (kv->val.type == MSGPACK_OBJECT_FLOAT64
                           && kv->val.via.f64 == json_object_get_double (val),
                       "%s: number %g vs %g", key, kv->val.via.f64, json_object_get_double (val));
                break;
            case json_type_boolean:
                CHECK (kv->val.type == MSGPACK_OBJECT_BOOLEAN
                           && kv->val.via.boolean == (bool) json_object_get_boolean (val),
                       "%s: boolean", key);
                break;
            case json_type_null: CHECK (kv->val.type == MSGPACK_OBJECT_NIL, "%s: nil", key); break;
            case json_type_array: {
                //  The same structure: an array of one map whose score is
                //  the JSON text's number.
                bool same = kv->val.type == MSGPACK_OBJECT_ARRAY
                            && kv->val.via.array.size == json_object_array_length (val);
                const msgpack_object *m0 = same && kv->val.via.array.size ? &kv->val.via.array.ptr[0] : NULL;
                const msgpack_object *sc = m0 ? s_mp_get (m0, "score") : NULL;
                CHECK (same && sc && sc->type == MSGPACK_OBJECT_FLOAT64 && sc->via.f64 == 0.9735, "%s: array",
                       key);
                break;
            }
            default: CHECK (false, "%s: unexpected type", key);
            }
        }
        const msgpack_object *c = s_mp_get (&up.data, "confidence");
        CHECK (c && c->type == MSGPACK_OBJECT_FLOAT64 && c->via.f64 == 0.812, "msgpack confidence");
    }
    msgpack_unpacked_destroy (&up);
    msgpack_sbuffer_destroy (&sb);
    json_object_put (back);
    json_object_put (js);
    json_object_put (dets);

    //  Schema misuse is reported: wrong order, wrong type, unknown topic.
    node_event_init (&ev, "member", "join", "abcd");
    node_event_str (&ev, "name", "n1");
    CHECK (node_event_check (&ev, why, sizeof why) == -1, "wrong order accepted");
    node_event_init (&ev, "member", "join", "abcd");
    node_event_str (&ev, "id", "x");
    node_event_str (&ev, "name", "n");
    node_event_str (&ev, "addr", "a");
    node_event_str (&ev, "state", "alive");
    node_event_str (&ev, "incarnation", "3");
    CHECK (node_event_check (&ev, why, sizeof why) == -1 && strstr (why, "incarnation"), "type: %s", why);
    node_event_init (&ev, "member", "exploded", "abcd");
    CHECK (node_event_check (&ev, why, sizeof why) == -1 && strstr (why, "unknown"), "topic: %s", why);

    //  Over a real PUB: both topics arrive with the same data.
    int port = 26400 + (int) (getpid () % 2000);   //  below the ephemeral ports (32768+)
    node_events_t *pub = node_events_new ("127.0.0.1", port);
    CHECK (pub, "bind %d", port);
    if (!pub)
        return -1;
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    zsock_t *sub = zsock_new_sub (ep, "json.member.");
    zsock_t *sub2 = zsock_new_sub (ep, "member.");
    zsock_set_rcvtimeo (sub, 2000);
    zsock_set_rcvtimeo (sub2, 2000);
    zclock_sleep (200);   //  slow joiner: let the subscriptions arrive
    node_event_init (&ev, "member", "join", "self");
    node_event_str (&ev, "id", "00112233aabbccdd");
    node_event_str (&ev, "name", "n\"1");
    node_event_str (&ev, "addr", "tcp://127.0.0.1:1");
    node_event_str (&ev, "state", "alive");
    node_event_int (&ev, "incarnation", 3);
    CHECK (node_event_check (&ev, why, sizeof why) == 0, "member.join: %s", why);
    node_events_publish (pub, &ev);
    char *topic = NULL, *json = NULL;
    CHECK (zsock_recv (sub, "ss", &topic, &json) == 0 && topic && json && !strcmp (topic, "json.member.join")
               && strstr (json, "\"name\":\"n\\\"1\",\"addr\":\"tcp://127.0.0.1:1\"")
               && strstr (json, "\"incarnation\":3}"),
           "json frame: %s", json ? json : "-");
    zstr_free (&topic);
    zstr_free (&json);
    zmsg_t *m = zmsg_recv (sub2);
    CHECK (m && zmsg_size (m) == 2, "msgpack message");
    if (m && zmsg_size (m) == 2) {
        char *t = zmsg_popstr (m);
        zframe_t *fr = zmsg_pop (m);
        msgpack_unpacked_init (&up);
        CHECK (!strcmp (t, "member.join")
                   && msgpack_unpack_next (&up, (const char *) zframe_data (fr), zframe_size (fr), NULL)
                          == MSGPACK_UNPACK_SUCCESS
                   && up.data.type == MSGPACK_OBJECT_MAP && up.data.via.map.size == 10,
               "msgpack frame");
        msgpack_unpacked_destroy (&up);
        zstr_free (&t);
        zframe_destroy (&fr);
    }
    zmsg_destroy (&m);

    //  With a log: numbered 1, 2, 3 in the log's epoch; nothing on the PUB
    //  until committed and pumped by the loop service.
    char dir[] = "/tmp/mw-events-XXXXXX";
    node_evlog_t *log = NULL;
    if (mkdtemp (dir)) {
        node_evlog_opts_t o = {100, 0, 0};
        log = node_evlog_open (dir, &o, why, sizeof why);
    }
    CHECK (log, "evlog: %s", why);
    if (log) {
        node_events_attach_log (pub, log);
        node_service_t svc;
        node_events_service (pub, &svc);
        for (int i = 1; i <= 3; i++) {
            uint64_t seq = 0;
            CHECK (node_events_publish_seq (pub, &ev, &seq) == 0 && seq == (uint64_t) i, "logged seq %d", i);
        }
        zsock_set_rcvtimeo (sub, 100);
        char *t = NULL, *j = NULL;
        //  (Nothing can arrive before the pump below: only it sends.)
        CHECK (zsock_recv (sub, "ss", &t, &j) != 0, "sent before commit");
        zstr_free (&t);
        zstr_free (&j);
        CHECK (node_evlog_flush (log, 5000) == 0, "flush");
        zmq_pollitem_t item;
        CHECK (svc.pollitems (svc.ctx, &item, 1) == 1 && item.fd == node_evlog_fd (log),
               "service polls the log");
        svc.readable (svc.ctx, &item, 0);
        zsock_set_rcvtimeo (sub, 2000);
        char want[64];
        for (int i = 1; i <= 3; i++) {
            snprintf (want, sizeof want, "\"epoch\":%llu,\"seq\":%d,",
                      (unsigned long long) node_evlog_epoch (log), i);
            CHECK (zsock_recv (sub, "ss", &t, &j) == 0 && j && strstr (j, want), "committed event %d: %s", i,
                   j ? j : "-");
            zstr_free (&t);
            zstr_free (&j);
        }
        node_events_attach_log (pub, NULL);
        node_evlog_close (&log);
        char cmd[128];
        snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
        if (system (cmd) != 0)
            rc = -1;
    }
    //  No PUB (port 0): an object that logs only.
    node_events_t *quiet = node_events_new (NULL, 0);
    CHECK (quiet && node_events_publish (quiet, &ev) == 0, "port 0");
    node_events_destroy (&quiet);
    zsock_destroy (&sub);
    zsock_destroy (&sub2);
    node_events_destroy (&pub);
    return rc;
}
