/*  =========================================================================
    node_metrics - Prometheus endpoint on libmicrohttpd (see metrics.h).
    ========================================================================= */
#include "node/metrics.h"
#include "common/selftest.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct _node_metrics_t {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    char *text;   //  the snapshot; guarded by lock
    size_t len;
    uint64_t scrapes;   //  guarded by lock
    int port;
};

static enum MHD_Result
s_reply (struct MHD_Connection *conn, unsigned int status, const char *body, size_t len, const char *ctype,
         bool allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer (len, (void *) body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (allow)
        MHD_add_response_header (r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response (conn, status, r);
    MHD_destroy_response (r);
    return rc;
}

static enum MHD_Result
s_handler (void *cls, struct MHD_Connection *conn, const char *url, const char *method, const char *version,
           const char *upload_data, size_t *upload_size, void **con_cls)
{
    node_metrics_t *self = (node_metrics_t *) cls;
    (void) version, (void) upload_data, (void) con_cls;
    if (*upload_size)   //  a body we did not ask for: drop it
        *upload_size = 0;
    if (strcmp (url, "/metrics") != 0) {
        static const char nf[] = "not found: try /metrics\n";
        return s_reply (conn, MHD_HTTP_NOT_FOUND, nf, sizeof nf - 1, "text/plain", false);
    }
    if (strcmp (method, MHD_HTTP_METHOD_GET) != 0 && strcmp (method, MHD_HTTP_METHOD_HEAD) != 0) {
        static const char na[] = "method not allowed\n";
        return s_reply (conn, MHD_HTTP_METHOD_NOT_ALLOWED, na, sizeof na - 1, "text/plain", true);
    }
    //  Copy under the lock, build the response outside it.
    pthread_mutex_lock (&self->lock);
    size_t len = self->len;
    char *copy = malloc (len ? len : 1);
    if (copy && len)
        memcpy (copy, self->text, len);
    if (copy)
        self->scrapes++;
    pthread_mutex_unlock (&self->lock);
    if (!copy) {
        static const char oom[] = "out of memory\n";
        return s_reply (conn, MHD_HTTP_SERVICE_UNAVAILABLE, oom, sizeof oom - 1, "text/plain", false);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer (len, copy, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free (copy);
        return MHD_NO;
    }
    MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
    enum MHD_Result rc = MHD_queue_response (conn, MHD_HTTP_OK, r);
    MHD_destroy_response (r);
    return rc;
}

node_metrics_t *
node_metrics_new (const char *ip, int port)
{
    assert (port >= 0 && port <= 65535);
    node_metrics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    self->text = strdup ("");
    struct sockaddr_storage ss;
    memset (&ss, 0, sizeof ss);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (ip && *ip && strchr (ip, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons ((uint16_t) port);
        if (inet_pton (AF_INET6, ip, &a6->sin6_addr) != 1)
            goto fail;
        flags |= MHD_USE_IPv6;
    }
    else {
        struct sockaddr_in *a4 = (struct sockaddr_in *) &ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons ((uint16_t) port);
        a4->sin_addr.s_addr = htonl (INADDR_ANY);
        if (ip && *ip && inet_pton (AF_INET, ip, &a4->sin_addr) != 1)
            goto fail;
    }
    if (!self->text)
        goto fail;
    self->daemon = MHD_start_daemon (
        flags, (uint16_t) port, NULL, NULL, s_handler, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 16384, MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 32,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) 16, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int) 10, MHD_OPTION_END);
    if (!self->daemon)
        goto fail;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info && info->port ? info->port : port;
    mw_info ("metrics_listening", "addr=%s port=%d", ip && *ip ? ip : "*", self->port);
    return self;
fail:
    mw_error ("metrics_failed", "addr=%s port=%d reason=\"cannot listen\"", ip && *ip ? ip : "*", port);
    node_metrics_destroy (&self);
    return NULL;
}

void
node_metrics_destroy (node_metrics_t **self_p)
{
    assert (self_p);
    node_metrics_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);   //  joins the server thread
    pthread_mutex_destroy (&self->lock);
    free (self->text);
    free (self);
    *self_p = NULL;
}

int
node_metrics_publish (node_metrics_t *self, const char *text, size_t len)
{
    assert (self);
    assert (text);
    char *copy = malloc (len + 1);
    if (!copy)
        return -1;
    memcpy (copy, text, len);
    copy[len] = 0;
    pthread_mutex_lock (&self->lock);
    char *old = self->text;
    self->text = copy;
    self->len = len;
    pthread_mutex_unlock (&self->lock);
    free (old);
    return 0;
}

int
node_metrics_port (node_metrics_t *self)
{
    assert (self);
    return self->port;
}

uint64_t
node_metrics_scrapes (node_metrics_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    uint64_t n = self->scrapes;
    pthread_mutex_unlock (&self->lock);
    return n;
}

//  --------------------------------------------------------------------------
//  Selftest: raw HTTP over loopback.

static int
s_http (int port, const char *request, size_t reqlen, char *resp, size_t cap)
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
    size_t off = 0;
    while (off < reqlen) {
        ssize_t n = send (fd, request + off, reqlen - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;   //  the server may close on an oversized header: read its answer
        off += (size_t) n;
    }
    size_t got = 0;
    ssize_t n;
    while (got + 1 < cap && (n = recv (fd, resp + got, cap - 1 - got, 0)) > 0)
        got += (size_t) n;
    resp[got] = 0;
    close (fd);
    return (int) got;
}

int
node_metrics_test (bool verbose)
{
    int rc = 0;
    node_metrics_t *m = node_metrics_new ("127.0.0.1", 0);
    CHECK (m, "new");
    if (!m)
        return -1;
    int port = node_metrics_port (m);
    CHECK (port > 0, "port");
    const char *snap = "# TYPE up gauge\nup 1\n";
    CHECK (node_metrics_publish (m, snap, strlen (snap)) == 0, "publish");
    char resp[8192];
    const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    s_http (port, get, strlen (get), resp, sizeof resp);
    CHECK (strncmp (resp, "HTTP/1.1 200", 12) == 0, "GET /metrics not 200");
    CHECK (strstr (resp, "version=0.0.4") && strstr (resp, "\r\n\r\n# TYPE up gauge\nup 1\n"), "body");
    const char *other = "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    s_http (port, other, strlen (other), resp, sizeof resp);
    CHECK (strncmp (resp, "HTTP/1.1 404", 12) == 0, "wrong path not 404");
    const char *post =
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    s_http (port, post, strlen (post), resp, sizeof resp);
    CHECK (strncmp (resp, "HTTP/1.1 405", 12) == 0, "POST not 405");
    //  A 64 KiB header: refused with an HTTP error, server still serves.
    size_t big = 65536 + 200;
    char *huge = malloc (big);
    if (huge) {
        int n = snprintf (huge, big, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
        memset (huge + n, 'a', 65536);
        memcpy (huge + n + 65536, "\r\nConnection: close\r\n\r\n", 24);
        s_http (port, huge, (size_t) n + 65536 + 23, resp, sizeof resp);
        CHECK (strncmp (resp, "HTTP/1.1 4", 10) == 0, "huge header: no 4xx");
        if (verbose)
            printf ("  huge header -> %.32s\n", resp);
        free (huge);
    }
    s_http (port, get, strlen (get), resp, sizeof resp);
    CHECK (strncmp (resp, "HTTP/1.1 200", 12) == 0, "not serving after the huge header");
    CHECK (node_metrics_scrapes (m) == 2, "scrape count");
    //  A second server on the same port: refused.
    node_metrics_t *m2 = node_metrics_new ("127.0.0.1", port);
    CHECK (m2 == NULL, "port bound twice");
    node_metrics_destroy (&m2);
    node_metrics_destroy (&m);
    CHECK (m == NULL, "destroy nulls");
    return rc;
}
