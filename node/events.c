/*  =========================================================================
    node_events - the VMS event stream (see events.h).
    ========================================================================= */
#include "node/events.h"
#include "common/log.h"
#include "common/strbuf.h"

#include <czmq.h>
#include <msgpack.h>
#include <string.h>

struct _node_events_t {
    zsock_t *pub;
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

static void
s_pack_str (msgpack_packer *pk, const char *s)
{
    size_t n = strlen (s);
    msgpack_pack_str (pk, n);
    msgpack_pack_str_body (pk, s, n);
}

int
node_events_publish (node_events_t *self, const char *family, const char *event, const char *node_id,
                     const char *const *kv, const node_events_int_t *ikv)
{
    if (!self)
        return 0;
    size_t nkv = 0, nikv = 0;
    while (kv && kv[nkv * 2])
        nkv++;
    while (ikv && ikv[nikv].key)
        nikv++;
    uint64_t ts = mw_wall_ms ();

    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3 + nkv + nikv);
    s_pack_str (&pk, "event");
    s_pack_str (&pk, event);
    s_pack_str (&pk, "node");
    s_pack_str (&pk, node_id ? node_id : "");
    s_pack_str (&pk, "ts_ms");
    msgpack_pack_uint64 (&pk, ts);

    mw_strbuf_t *js = mw_strbuf_new ();
    if (!js) {
        msgpack_sbuffer_destroy (&sbuf);
        return -1;
    }
    mw_strbuf_printf (js, "{\"event\":");
    mw_strbuf_json_str (js, event);
    mw_strbuf_printf (js, ",\"node\":");
    mw_strbuf_json_str (js, node_id ? node_id : "");
    mw_strbuf_printf (js, ",\"ts_ms\":%llu", (unsigned long long) ts);
    for (size_t i = 0; i < nkv; i++) {
        s_pack_str (&pk, kv[i * 2]);
        s_pack_str (&pk, kv[i * 2 + 1] ? kv[i * 2 + 1] : "");
        mw_strbuf_printf (js, ",");
        mw_strbuf_json_str (js, kv[i * 2]);
        mw_strbuf_printf (js, ":");
        mw_strbuf_json_str (js, kv[i * 2 + 1] ? kv[i * 2 + 1] : "");
    }
    for (size_t i = 0; i < nikv; i++) {
        s_pack_str (&pk, ikv[i].key);
        msgpack_pack_int64 (&pk, ikv[i].value);
        mw_strbuf_printf (js, ",");
        mw_strbuf_json_str (js, ikv[i].key);
        mw_strbuf_printf (js, ":%lld", (long long) ikv[i].value);
    }
    mw_strbuf_printf (js, "}");

    char topic[128];
    snprintf (topic, sizeof topic, "%s.%s", family, event);
    int rc = 0;
    zmsg_t *m = zmsg_new ();
    zmsg_addstr (m, topic);
    zmsg_addmem (m, sbuf.data, sbuf.size);
    if (zmsg_send (&m, self->pub) != 0)
        rc = -1;
    zmsg_destroy (&m);
    snprintf (topic, sizeof topic, "json.%s.%s", family, event);
    m = zmsg_new ();
    zmsg_addstr (m, topic);
    const char *text = mw_strbuf_str (js);
    zmsg_addstr (m, text ? text : "{}");
    if (zmsg_send (&m, self->pub) != 0)
        rc = -1;
    zmsg_destroy (&m);
    mw_strbuf_destroy (&js);
    msgpack_sbuffer_destroy (&sbuf);
    return rc;
}

int
node_events_test (bool verbose)
{
    int port = 30000 + (int) (getpid () % 20000);
    node_events_t *ev = node_events_new ("127.0.0.1", port);
    if (!ev)
        return -1;
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    zsock_t *sub = zsock_new_sub (ep, "json.member.");
    zsock_t *sub2 = zsock_new_sub (ep, "member.");
    zsock_set_rcvtimeo (sub, 2000);
    zsock_set_rcvtimeo (sub2, 2000);
    zclock_sleep (200);   //  slow joiner: let the subscriptions arrive
    const char *kv[] = {"id", "00112233aabbccdd", "name", "n\"1", NULL};
    node_events_int_t ikv[] = {{"incarnation", 3}, {NULL, 0}};
    node_events_publish (ev, "member", "join", "self", kv, ikv);
    char *topic = NULL, *json = NULL;
    int ok = zsock_recv (sub, "ss", &topic, &json) == 0 && topic && json
             && strcmp (topic, "json.member.join") == 0
             && strstr (json, "\"name\":\"n\\\"1\",\"incarnation\":3}") != NULL;
    if (verbose)
        printf ("events: %s %s\n", topic ? topic : "-", json ? json : "-");
    zstr_free (&topic);
    zstr_free (&json);
    zmsg_t *m = zmsg_recv (sub2);
    ok = ok && m && zmsg_size (m) == 2;
    if (ok) {
        char *t = zmsg_popstr (m);
        zframe_t *f = zmsg_pop (m);
        msgpack_unpacked up;
        msgpack_unpacked_init (&up);
        ok = strcmp (t, "member.join") == 0
             && msgpack_unpack_next (&up, (const char *) zframe_data (f), zframe_size (f), NULL)
                    == MSGPACK_UNPACK_SUCCESS
             && up.data.type == MSGPACK_OBJECT_MAP && up.data.via.map.size == 6;
        msgpack_unpacked_destroy (&up);
        zstr_free (&t);
        zframe_destroy (&f);
    }
    zmsg_destroy (&m);
    zsock_destroy (&sub);
    zsock_destroy (&sub2);
    node_events_destroy (&ev);
    return ok ? 0 : -1;
}
