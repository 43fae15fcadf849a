/*  =========================================================================
    node_curve - CURVE server and client set-up for the event stream (see
    curve.h).
    ========================================================================= */
#include "node/curve.h"
#include "common/log.h"
#include "config/config.h"
#include "gossip/guard.h"
#include "node/events.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZAP_DOMAIN "meshwatch-events"
#define ZERO_KEY   "0000000000000000000000000000000000000000"

struct _node_curve_t {
    zcert_t *cert;
    zactor_t *auth;
};

static int
s_err (char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (err && errlen)
        snprintf (err, errlen, fmt, a, b ? b : "");
    return -1;
}

static void
s_fsync_path (const char *path, int flags)
{
    int fd = open (path, flags | O_CLOEXEC);
    if (fd >= 0) {
        fsync (fd);
        close (fd);
    }
}

static bool
s_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

//  Save a key pair as `path` + path_secret: temporary names, fsync, then
//  rename, secret first, so that a public file never exists without its
//  secret half and no half-written file ever carries the final name.
static int
s_save_pair (zcert_t *cert, const char *path, char *err, size_t errlen)
{
    char tmp[1024], tmp_s[1040], fin_s[1040];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    snprintf (tmp_s, sizeof tmp_s, "%s_secret", tmp);
    snprintf (fin_s, sizeof fin_s, "%s_secret", path);
    if (strlen (path) > 900)
        return s_err (err, errlen, "%s: path too long%s", path, NULL);
    if (zcert_save (cert, tmp) != 0) {
        unlink (tmp);
        unlink (tmp_s);
        return s_err (err, errlen, "%s: cannot write (%s)", path, strerror (errno));
    }
    chmod (tmp_s, 0600);
    s_fsync_path (tmp_s, O_RDONLY);
    s_fsync_path (tmp, O_RDONLY);
    if (rename (tmp_s, fin_s) != 0 || rename (tmp, path) != 0) {
        unlink (tmp);
        unlink (tmp_s);
        return s_err (err, errlen, "%s: rename failed (%s)", path, strerror (errno));
    }
    char dir[1024];
    snprintf (dir, sizeof dir, "%s", path);
    char *slash = strrchr (dir, '/');
    if (slash) {
        *slash = 0;
        s_fsync_path (*dir ? dir : "/", O_RDONLY | O_DIRECTORY);
    }
    return 0;
}

//  A certificate with its secret half, or NULL (reason in err).
static zcert_t *
s_load_secret (const char *path, const char *what, char *err, size_t errlen)
{
    zcert_t *cert = zcert_load (path);
    if (!cert) {
        s_err (err, errlen, "%s '%s': not found or not a certificate", what, path);
        return NULL;
    }
    if (streq (zcert_secret_txt (cert), ZERO_KEY)) {
        zcert_destroy (&cert);
        s_err (err, errlen, "%s '%s': no secret key (FILE_secret missing or corrupt)", what, path);
        return NULL;
    }
    return cert;
}

node_curve_t *
node_curve_server_new (const char *cert_path, const char *const *clients, size_t n_clients,
                       const char *allow_dir, char *err, size_t errlen)
{
    node_curve_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (s_exists (cert_path)) {
        //  An existing certificate that does not load is an operator's
        //  problem to look at (subscribers hold its public key): never
        //  replace it silently.
        self->cert = s_load_secret (cert_path, "events certificate", err, errlen);
        if (!self->cert) {
            node_curve_destroy (&self);
            return NULL;
        }
    }
    else {
        self->cert = zcert_new ();
        if (!self->cert || s_save_pair (self->cert, cert_path, err, errlen) != 0) {
            node_curve_destroy (&self);
            return NULL;
        }
        mw_info ("events_cert_created", "path=%s public=%s", cert_path, zcert_public_txt (self->cert));
    }
    //  The allow-list: exactly the listed clients, as zauth reads them (a
    //  folder of public certificates), rebuilt at every start.
    if (mkdir (allow_dir, 0700) != 0 && errno != EEXIST) {
        s_err (err, errlen, "%s: %s", allow_dir, strerror (errno));
        node_curve_destroy (&self);
        return NULL;
    }
    chmod (allow_dir, 0700);
    DIR *d = opendir (allow_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir (d)))
            if (e->d_name[0] != '.') {
                char p[1200];
                snprintf (p, sizeof p, "%s/%s", allow_dir, e->d_name);
                unlink (p);
            }
        closedir (d);
    }
    for (size_t i = 0; i < n_clients; i++) {
        zcert_t *c = zcert_load (clients[i]);
        if (!c || streq (zcert_public_txt (c), ZERO_KEY)) {
            zcert_destroy (&c);
            s_err (err, errlen, "EVENTS_CURVE_CLIENTS: '%s' is not a certificate%s", clients[i], NULL);
            node_curve_destroy (&self);
            return NULL;
        }
        char p[1200];
        snprintf (p, sizeof p, "%s/client-%zu.cert", allow_dir, i);
        int rc = zcert_save_public (c, p);
        zcert_destroy (&c);
        if (rc != 0) {
            s_err (err, errlen, "%s: cannot write (%s)", p, strerror (errno));
            node_curve_destroy (&self);
            return NULL;
        }
    }
    self->auth = zactor_new (zauth, NULL);
    if (!self->auth || zstr_sendx (self->auth, "CURVE", allow_dir, NULL) != 0
        || zsock_wait (self->auth) != 0) {
        s_err (err, errlen, "cannot start the ZAP handler for %s%s", allow_dir, NULL);
        node_curve_destroy (&self);
        return NULL;
    }
    return self;
}

void
node_curve_destroy (node_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    node_curve_t *self = *self_p;
    zactor_destroy (&self->auth);
    zcert_destroy (&self->cert);
    free (self);
    *self_p = NULL;
}

int
node_curve_server_apply (node_curve_t *self, zsock_t *sock)
{
    zcert_apply (self->cert, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, ZAP_DOMAIN);
    return zsock_curve_server (sock) == 1 ? 0 : -1;
}

const char *
node_curve_public_txt (node_curve_t *self)
{
    return zcert_public_txt (self->cert);
}

int
node_curve_client_apply (zsock_t *sock, const char *server_key, const char *client_cert, char *err,
                         size_t errlen)
{
    if (!server_key || !client_cert)
        return s_err (err, errlen, "CURVE needs a server key and a client certificate%s%s", "", NULL);
    char key[41] = "";
    uint8_t bin[32];
    if (strlen (server_key) == 40 && zmq_z85_decode (bin, server_key))
        snprintf (key, sizeof key, "%s", server_key);
    else {
        zcert_t *s = zcert_load (server_key);
        if (!s)
            return s_err (err, errlen, "server key '%s': not a Z85 key nor a certificate file%s", server_key,
                          NULL);
        snprintf (key, sizeof key, "%s", zcert_public_txt (s));
        zcert_destroy (&s);
    }
    zcert_t *c = s_load_secret (client_cert, "client certificate", err, errlen);
    if (!c)
        return -1;
    zcert_apply (c, sock);
    zsock_set_curve_serverkey (sock, key);
    zcert_destroy (&c);
    return 0;
}

node_events_t *
node_curve_open_events (mw_config_t *cfg, const char *mesh_ip, int port, gossip_guard_t *guard,
                        node_curve_t **curve, char *err, size_t errlen)
{
    *curve = NULL;
    const mw_settings_t *st = mw_config_settings (cfg);
    bool mesh = streq (st->events_bind, "mesh");
    const char *state_dir = st->state_dir;
    const char *clients[16];
    size_t n = mw_config_split (cfg, st->events_curve_clients, clients, 16);
    if (mesh && (n == 0 || !mesh_ip || !*mesh_ip)) {
        snprintf (err, errlen, "%s",
                  n == 0
                      ? "EVENTS_BIND=mesh needs EVENTS_CURVE_CLIENTS: a remote subscriber must authenticate "
                        "(meshwatch events --keygen FILE makes a VMS key pair)"
                      : "EVENTS_BIND=mesh needs MESH_ADDR (or MESH_INTERFACE)");
        return NULL;
    }
    if (n) {
        char cert[512], allow[512];
        const char *c = st->events_curve_cert;
        if (*c)
            snprintf (cert, sizeof cert, "%s", c);
        else
            snprintf (cert, sizeof cert, "%s/events.cert", state_dir);
        snprintf (allow, sizeof allow, "%s/events-clients", state_dir);
        *curve = node_curve_server_new (cert, clients, n, allow, err, errlen);
        if (!*curve)
            return NULL;
        mw_info ("events_curve", "cert=%s public=%s clients=%zu", cert, node_curve_public_txt (*curve), n);
    }
    node_events_t *ev = node_events_new_curve (mesh ? mesh_ip : "127.0.0.1", port, *curve);
    if (!ev) {
        snprintf (err, errlen, "cannot listen on EVENTS_PORT=%d", port);
        node_curve_destroy (curve);
        return NULL;
    }
    //  Subscribers never send a message, so none is ever "trusted": a few
    //  per address, a few dozen in all.
    gossip_guard_rules_t rules = {"events", 4, 32, 32, 0, true};
    if (guard && gossip_guard_watch (guard, node_events_sock (ev), &rules) < 0) {
        snprintf (err, errlen, "cannot watch EVENTS_PORT=%d", port);
        node_events_destroy (&ev);
        node_curve_destroy (curve);
        return NULL;
    }
    return ev;
}

int
node_curve_keygen (const char *path, char *err, size_t errlen)
{
    if (s_exists (path))
        return s_err (err, errlen, "%s exists: not overwritten%s", path, NULL);
    zcert_t *c = zcert_new ();
    int rc = c ? s_save_pair (c, path, err, errlen) : -1;
    zcert_destroy (&c);
    return rc;
}

//  --------------------------------------------------------------------------
//  Selftest: a CURVE PUB with one allowed client; that client receives,
//  another key pair and a plain (keyless) subscriber receive nothing.

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf (stderr, "node_curve_test: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

int
node_curve_test (bool verbose)
{
    char dir[] = "/tmp/mw-curve-XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    char srv[256], ok_c[256], bad_c[256], allow[256], err[512] = "", cmd[300];
    snprintf (srv, sizeof srv, "%s/events.cert", dir);
    snprintf (ok_c, sizeof ok_c, "%s/vms.cert", dir);
    snprintf (bad_c, sizeof bad_c, "%s/other.cert", dir);
    snprintf (allow, sizeof allow, "%s/allow", dir);
    node_curve_t *cv = NULL;
    zsock_t *pub = NULL, *s_ok = NULL, *s_bad = NULL, *s_plain = NULL;
    CHECK (node_curve_keygen (ok_c, err, sizeof err) == 0);
    CHECK (node_curve_keygen (bad_c, err, sizeof err) == 0);
    CHECK (node_curve_keygen (ok_c, err, sizeof err) == -1);   //  never overwritten
    {
        struct stat st;
        char sec[300];
        snprintf (sec, sizeof sec, "%s_secret", ok_c);
        CHECK (stat (sec, &st) == 0 && (st.st_mode & 077) == 0);
    }
    //  A missing client file is refused with a reason.
    const char *missing[] = {"/nonexistent/vms.cert"};
    CHECK (node_curve_server_new (srv, missing, 1, allow, err, sizeof err) == NULL
           && strstr (err, "/nonexistent"));
    const char *clients[] = {ok_c};
    //  Created, then reloaded: the same certificate.  (One server at a
    //  time: zauth binds the process's one ZAP endpoint.)
    char first[41];
    cv = node_curve_server_new (srv, clients, 1, allow, err, sizeof err);
    CHECK (cv);
    CHECK (strlen (node_curve_public_txt (cv)) == 40);
    snprintf (first, sizeof first, "%s", node_curve_public_txt (cv));
    node_curve_destroy (&cv);
    cv = node_curve_server_new (srv, clients, 1, allow, err, sizeof err);
    CHECK (cv && streq (node_curve_public_txt (cv), first));
    pub = zsock_new (ZMQ_PUB);
    zsock_set_maxmsgsize (pub, 1024);   //  as the event stream's (node/events.c)
    CHECK (pub && node_curve_server_apply (cv, pub) == 0);
    CHECK (zsock_bind (pub, "tcp://127.0.0.1:*") > 0);
    const char *ep = zsock_endpoint (pub);
    s_ok = zsock_new (ZMQ_SUB);
    s_bad = zsock_new (ZMQ_SUB);
    s_plain = zsock_new (ZMQ_SUB);
    CHECK (s_ok && s_bad && s_plain);
    CHECK (node_curve_client_apply (s_ok, srv, ok_c, err, sizeof err) == 0);
    CHECK (node_curve_client_apply (s_bad, node_curve_public_txt (cv), bad_c, err, sizeof err) == 0);
    CHECK (node_curve_client_apply (s_bad, "nonsense", bad_c, err, sizeof err) == -1);
    CHECK (node_curve_client_apply (s_bad, srv, srv, err, sizeof err) == 0);   //  any cert with a secret
    CHECK (node_curve_client_apply (s_bad, srv, bad_c, err, sizeof err) == 0);
    zsock_t *subs[] = {s_ok, s_bad, s_plain};
    for (int i = 0; i < 3; i++) {
        zsock_set_subscribe (subs[i], "");
        zsock_set_rcvtimeo (subs[i], 100);
        CHECK (zsock_connect (subs[i], "%s", ep) == 0);
    }
    int got[3] = {0, 0, 0};
    for (int round = 0; round < 30; round++) {
        zstr_send (pub, "event");
        for (int i = 0; i < 3; i++) {
            char *s = zstr_recv (subs[i]);
            got[i] += s != NULL;
            zstr_free (&s);
        }
    }
    if (verbose)
        printf ("curve: allowed client got %d, other key %d, keyless %d\n", got[0], got[1], got[2]);
    CHECK (got[0] > 0 && got[1] == 0 && got[2] == 0);
    zsock_destroy (&s_ok);
    zsock_destroy (&s_bad);
    zsock_destroy (&s_plain);
    zsock_destroy (&pub);
    node_curve_destroy (&cv);
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system (cmd) == 0 ? 0 : -1;

fail:
    fprintf (stderr, "node_curve_test: last error: %s\n", err);
    zsock_destroy (&s_ok);
    zsock_destroy (&s_bad);
    zsock_destroy (&s_plain);
    zsock_destroy (&pub);
    node_curve_destroy (&cv);
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system (cmd) != 0)
        return -1;
    return -1;
}
