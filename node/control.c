/*  =========================================================================
    node_control - the control protocol, server and client (see control.h).
    ========================================================================= */
#include "node/control.h"
#include "common/json.h"
#include "common/log.h"
#include "common/selftest.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char verb[32];
    int frames;
    node_control_fn *fn;
    void *ctx;
} command_t;

struct _node_control_t {
    zsock_t *rep;
    char path[128];
    command_t cmd[NODE_CONTROL_MAX_COMMANDS];
    int n_cmd;
    uint64_t answered;
};

node_control_t *
node_control_new (const char *state_dir, int64_t max_msg, char *err, size_t errlen)
{
    assert (state_dir);
    node_control_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    //  sun_path holds 108 bytes; keep a margin for libzmq's own handling.
    if (strlen (state_dir) + strlen ("/control.sock") >= 100) {
        snprintf (err, errlen, "STATE_DIR is too long for a control socket path (%zu bytes)",
                  strlen (state_dir) + strlen ("/control.sock"));
        free (self);
        return NULL;
    }
    snprintf (self->path, sizeof self->path, "%s/control.sock", state_dir);
    unlink (self->path);   //  a stale socket from a killed daemon
    self->rep = zsock_new (ZMQ_REP);
    //  Limits and permissions before bind: a size limit set later does not
    //  apply, and the socket must never exist with looser permissions.
    if (self->rep)
        zsock_set_maxmsgsize (self->rep, (int) max_msg);
    mode_t old_mask = umask (0077);
    int rc = self->rep ? zsock_bind (self->rep, "ipc://%s", self->path) : -1;
    umask (old_mask);
    if (rc < 0) {
        snprintf (err, errlen, "cannot bind control socket %.100s", self->path);
        zsock_destroy (&self->rep);
        free (self);
        return NULL;
    }
    chmod (self->path, 0600);
    return self;
}

void
node_control_destroy (node_control_t **self_p)
{
    assert (self_p);
    node_control_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->rep);
    free (self);
    *self_p = NULL;
}

int
node_control_on (node_control_t *self, const char *verb, int frames, node_control_fn *fn, void *ctx)
{
    assert (self && verb && fn && frames >= 1);
    assert (strlen (verb) < sizeof self->cmd[0].verb && !strchr (verb, ' '));
    for (int i = 0; i < self->n_cmd; i++)
        if (!strcmp (self->cmd[i].verb, verb))
            return -1;
    if (self->n_cmd >= NODE_CONTROL_MAX_COMMANDS)
        return -1;
    command_t *c = &self->cmd[self->n_cmd++];
    snprintf (c->verb, sizeof c->verb, "%s", verb);
    c->frames = frames;
    c->fn = fn;
    c->ctx = ctx;
    return 0;
}

uint64_t
node_control_answered (node_control_t *self)
{
    assert (self);
    return self->answered;
}

json_object *
node_control_error (const char *code, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (detail, sizeof detail, fmt, ap);
    va_end (ap);
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    mw_json_add (o, "error", mw_json_str (code));
    mw_json_add (o, "detail", mw_json_str (detail));
    return o;
}

bool
node_control_is_error (json_object *reply)
{
    return mw_json_get (reply, "error") != NULL;
}

//  The reply to one request (never NULL unless out of memory).
static json_object *
s_dispatch (node_control_t *self, zmsg_t *req, uint64_t now)
{
    zframe_t *f = zmsg_first (req);
    size_t len = f ? zframe_size (f) : 0;
    if (!f || len == 0 || len > NODE_CONTROL_REQ_MAX)
        return node_control_error ("bad_request", "a request starts with one text frame of 1 to %d bytes",
                                   NODE_CONTROL_REQ_MAX);
    char text[NODE_CONTROL_REQ_MAX + 1];
    memcpy (text, zframe_data (f), len);
    text[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] < 0x20 || text[i] > 0x7e)
            return node_control_error ("bad_request", "the request text must be printable ASCII");
    //  "VERB ARGS": the verb is the first word.
    char *args = strchr (text, ' ');
    if (args) {
        *args++ = 0;
        while (*args == ' ')
            args++;
    }
    else
        args = text + len;
    //  Older CLIs asked for "members --json": the reply is JSON anyway.
    size_t alen = strlen (args);
    while (alen && args[alen - 1] == ' ')
        args[--alen] = 0;
    if (alen >= 6 && !strcmp (args + alen - 6, "--json") && (alen == 6 || args[alen - 7] == ' ')) {
        alen -= 6;
        args[alen] = 0;
        while (alen && args[alen - 1] == ' ')
            args[--alen] = 0;
    }
    for (int i = 0; i < self->n_cmd; i++) {
        command_t *c = &self->cmd[i];
        if (strcmp (c->verb, text) != 0)
            continue;
        if ((int) zmsg_size (req) != c->frames)
            return node_control_error ("bad_request", "%s takes %d frame%s, not %zu", c->verb, c->frames,
                                       c->frames == 1 ? "" : "s", zmsg_size (req));
        node_control_req_t r = {text, args, req, now};
        json_object *reply = c->fn (c->ctx, &r);
        return reply ? reply : node_control_error ("internal", "out of memory");
    }
    char known[NODE_CONTROL_MAX_COMMANDS * 34] = "";
    for (int i = 0; i < self->n_cmd; i++) {
        size_t k = strlen (known);
        snprintf (known + k, sizeof known - k, "%s%s", i ? ", " : "", self->cmd[i].verb);
    }
    return node_control_error ("unknown_request", "unknown request '%.64s' (this daemon answers: %s)", text,
                               known);
}

static int
s_pollitems (void *ctx, zmq_pollitem_t *items, int max)
{
    node_control_t *self = (node_control_t *) ctx;
    if (max >= 1)
        items[0] = (zmq_pollitem_t){zsock_resolve (self->rep), 0, ZMQ_POLLIN, 0};
    return 1;
}

static void
s_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    node_control_t *self = (node_control_t *) ctx;
    (void) item;
    //  REP: one request, one reply, then the next.  A few per turn, so a
    //  CLI in a loop cannot hold the other services' timers back.
    for (int n = 0; n < 8; n++) {
        zmsg_t *req = zmsg_recv_nowait (self->rep);
        if (!req)
            break;
        json_object *reply = s_dispatch (self, req, now);
        zmsg_destroy (&req);
        const char *text = reply ? mw_json_text (reply, false) : NULL;
        //  REP must always answer, or the socket would wedge.
        zstr_sendx (self->rep, !reply || node_control_is_error (reply) ? "error" : "ok",
                    text ? text : "{\"error\":\"internal\",\"detail\":\"out of memory\"}", NULL);
        json_object_put (reply);
        self->answered++;
    }
}

void
node_control_service (node_control_t *self, node_service_t *svc)
{
    assert (self && svc);
    memset (svc, 0, sizeof *svc);
    svc->name = "control";
    svc->ctx = self;
    svc->pollitems = s_pollitems;
    svc->readable = s_readable;
}

//  --------------------------------------------------------------------------
//  Client

int
node_control_call (const char *state_dir, zmsg_t **request_p, int timeout_ms, json_object **reply_p,
                   char *err, size_t errlen)
{
    assert (state_dir && request_p && *request_p && reply_p);
    *reply_p = NULL;
    *err = 0;
    char path[512];
    snprintf (path, sizeof path, "%s/control.sock", state_dir);
    if (access (path, F_OK) != 0) {
        snprintf (err, errlen, "no agent at %s (is `meshwatch agent` running with STATE_DIR=%s?)", path,
                  state_dir);
        zmsg_destroy (request_p);
        return 3;
    }
    zsock_t *req = zsock_new (ZMQ_REQ);
    if (!req) {
        snprintf (err, errlen, "cannot create a socket");
        zmsg_destroy (request_p);
        return 3;
    }
    zsock_set_linger (req, 0);
    zsock_set_rcvtimeo (req, timeout_ms);
    zsock_set_sndtimeo (req, timeout_ms);
    int rc = 3;
    zmsg_t *reply = NULL;
    if (zsock_connect (req, "ipc://%s", path) < 0 || zmsg_send (request_p, req) != 0)
        snprintf (err, errlen, "cannot reach the agent at %s", path);
    else if (!(reply = zmsg_recv (req)))
        snprintf (err, errlen, "the agent at %s did not answer within %d ms", path, timeout_ms);
    else if (zmsg_size (reply) != 2)
        snprintf (err, errlen, "the agent at %s sent a reply of %zu frames, not 2", path, zmsg_size (reply));
    else {
        zframe_t *status = zmsg_first (reply);
        zframe_t *body = zmsg_next (reply);
        char perr[128];
        json_object *doc =
            mw_json_parse ((const char *) zframe_data (body), zframe_size (body), perr, sizeof perr);
        bool ok = zframe_streq (status, "ok");
        if (!doc)
            snprintf (err, errlen, "the agent's reply is not JSON: %s", perr);
        else if (!ok && !zframe_streq (status, "error"))
            snprintf (err, errlen, "the agent's reply has an unknown status");
        else {
            *reply_p = doc;
            doc = NULL;
            rc = ok ? 0 : 1;
            if (!ok)
                snprintf (err, errlen, "%s", mw_json_get_str (*reply_p, "detail", "error"));
        }
        json_object_put (doc);
    }
    zmsg_destroy (request_p);
    zmsg_destroy (&reply);
    zsock_destroy (&req);
    return rc;
}

int
node_control_call_str (const char *state_dir, const char *request, int timeout_ms, json_object **reply_p,
                       char *err, size_t errlen)
{
    zmsg_t *m = zmsg_new ();
    if (!m) {
        snprintf (err, errlen, "out of memory");
        return 3;
    }
    zmsg_addstr (m, request);
    return node_control_call (state_dir, &m, timeout_ms, reply_p, err, errlen);
}

//  --------------------------------------------------------------------------
//  Selftest: a daemon thread running the control service in a loop.

typedef struct {
    node_loop_t *loop;
    int frames_seen;
} test_ctx_t;

static json_object *
s_echo (void *ctx, const node_control_req_t *req)
{
    (void) ctx;
    json_object *o = json_object_new_object ();
    mw_json_add (o, "verb", mw_json_str (req->verb));
    mw_json_add (o, "args", mw_json_str (req->args));
    return o;
}

static json_object *
s_frames (void *ctx, const node_control_req_t *req)
{
    test_ctx_t *t = (test_ctx_t *) ctx;
    zframe_t *f = zmsg_first (req->msg);
    f = zmsg_next (req->msg);
    f = zmsg_next (req->msg);
    t->frames_seen = (int) zmsg_size (req->msg);
    json_object *o = json_object_new_object ();
    mw_json_add (o, "bytes", mw_json_u64 (f ? zframe_size (f) : 0));
    return o;
}

static json_object *
s_refuse (void *ctx, const node_control_req_t *req)
{
    (void) ctx;
    return node_control_error ("refused", "no: %s", req->args);
}

static json_object *
s_nomem (void *ctx, const node_control_req_t *req)
{
    (void) ctx, (void) req;
    return NULL;
}

static json_object *
s_stop (void *ctx, const node_control_req_t *req)
{
    test_ctx_t *t = (test_ctx_t *) ctx;
    (void) req;
    node_loop_stop (t->loop);
    json_object *o = json_object_new_object ();
    mw_json_add (o, "stopping", mw_json_bool (true));
    return o;
}

static void *
s_daemon (void *arg)
{
    node_loop_run ((node_loop_t *) arg);
    return NULL;
}

int
node_control_test (bool verbose)
{
    int rc = 0;
    char dir[] = "/tmp/mw-control-XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    char err[512];
    node_control_t *ctl = node_control_new (dir, 64 * 1024, err, sizeof err);
    CHECK (ctl, "new: %s", err);
    if (!ctl)
        return -1;
    char path[600];
    snprintf (path, sizeof path, "%s/control.sock", dir);
    struct stat st;
    CHECK (stat (path, &st) == 0 && (st.st_mode & 0777) == 0600, "socket mode %o", st.st_mode & 0777);
    test_ctx_t t = {node_loop_new (50), 0};
    CHECK (node_control_on (ctl, "echo", 1, s_echo, &t) == 0, "on echo");
    CHECK (node_control_on (ctl, "echo", 1, s_echo, &t) == -1, "verb registered twice");
    node_control_on (ctl, "frames", 3, s_frames, &t);
    node_control_on (ctl, "refuse", 1, s_refuse, &t);
    node_control_on (ctl, "nomem", 1, s_nomem, &t);
    node_control_on (ctl, "stop", 1, s_stop, &t);
    node_service_t svc;
    node_control_service (ctl, &svc);
    node_loop_add (t.loop, &svc);
    pthread_t th;
    pthread_create (&th, NULL, s_daemon, t.loop);

    json_object *r = NULL;
    CHECK (node_control_call_str (dir, "echo  a \"b\" }{ ", 2000, &r, err, sizeof err) == 0
               && !strcmp (mw_json_get_str (r, "verb", ""), "echo")
               && !strcmp (mw_json_get_str (r, "args", ""), "a \"b\" }{"),
           "echo: %s", err);
    json_object_put (r);
    CHECK (node_control_call_str (dir, "echo x --json", 2000, &r, err, sizeof err) == 0
               && !strcmp (mw_json_get_str (r, "args", "?"), "x"),
           "--json stripped");
    json_object_put (r);
    CHECK (node_control_call_str (dir, "echo --jsonx", 2000, &r, err, sizeof err) == 0
               && !strcmp (mw_json_get_str (r, "args", "?"), "--jsonx"),
           "--jsonx kept");
    json_object_put (r);
    CHECK (node_control_call_str (dir, "bogus 1", 2000, &r, err, sizeof err) == 1
               && !strcmp (mw_json_get_str (r, "error", ""), "unknown_request")
               && strstr (err, "echo, frames"),
           "unknown: %s", err);
    json_object_put (r);
    CHECK (node_control_call_str (dir, "refuse why", 2000, &r, err, sizeof err) == 1
               && !strcmp (mw_json_get_str (r, "error", ""), "refused") && !strcmp (err, "no: why"),
           "refused: %s", err);
    json_object_put (r);
    CHECK (node_control_call_str (dir, "nomem", 2000, &r, err, sizeof err) == 1
               && !strcmp (mw_json_get_str (r, "error", ""), "internal"),
           "NULL reply");
    json_object_put (r);
    const char *bad[] = {"", "echo \n", "echo \x7f", "ech\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK (node_control_call_str (dir, bad[i], 2000, &r, err, sizeof err) == 1
                   && !strcmp (mw_json_get_str (r, "error", ""), "bad_request"),
               "bad request %zu accepted: %s", i, err);
        json_object_put (r);
    }
    char big[400];
    memset (big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK (node_control_call_str (dir, big, 2000, &r, err, sizeof err) == 1, "400-byte request accepted");
    json_object_put (r);
    //  Multi-frame: exactly the registered count.
    zmsg_t *m = zmsg_new ();
    zmsg_addstr (m, "frames");
    zmsg_addstr (m, "x");
    zmsg_addmem (m, "12345", 5);
    CHECK (node_control_call (dir, &m, 2000, &r, err, sizeof err) == 0 && mw_json_get_int (r, "bytes", 0) == 5
               && t.frames_seen == 3 && m == NULL,
           "3 frames: %s", err);
    json_object_put (r);
    m = zmsg_new ();
    zmsg_addstr (m, "echo");
    zmsg_addstr (m, "extra");
    CHECK (node_control_call (dir, &m, 2000, &r, err, sizeof err) == 1 && strstr (err, "takes 1 frame"),
           "extra frame: %s", err);
    json_object_put (r);
    //  Over the size limit: libzmq drops the connection; no answer, and the
    //  daemon keeps serving.
    m = zmsg_new ();
    zmsg_addstr (m, "frames");
    zmsg_addstr (m, "x");
    char *huge = calloc (1, 128 * 1024);
    zmsg_addmem (m, huge, 128 * 1024);
    free (huge);
    CHECK (node_control_call (dir, &m, 500, &r, err, sizeof err) == 3, "oversize answered");
    json_object_put (r);
    CHECK (node_control_call_str (dir, "echo still", 2000, &r, err, sizeof err) == 0,
           "serving after oversize");
    json_object_put (r);
    if (verbose)
        printf ("  answered %llu requests\n", (unsigned long long) node_control_answered (ctl));
    CHECK (node_control_call_str (dir, "stop", 2000, &r, err, sizeof err) == 0, "stop");
    json_object_put (r);
    pthread_join (th, NULL);
    //  A daemon that is gone: rc 3 with a reason.
    node_control_destroy (&ctl);
    CHECK (ctl == NULL, "destroy nulls");
    unlink (path);
    CHECK (node_control_call_str (dir, "echo", 500, &r, err, sizeof err) == 3 && strstr (err, "no agent at"),
           "no daemon: %s", err);
    node_loop_destroy (&t.loop);
    rmdir (dir);
    //  A state dir too long for a socket path is refused with the reason.
    char longdir[200];
    memset (longdir, 'd', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = 0;
    CHECK (node_control_new (longdir, 1024, err, sizeof err) == NULL && strstr (err, "too long"), "long dir");
    return rc;
}
