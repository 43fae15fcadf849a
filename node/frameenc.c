/*  =========================================================================
    node_frameenc - JPEG encoding off the loop (see frameenc.h).

    Loop -> thread: a bounded list under a mutex and a condition variable.
    Thread -> loop: the result struct by value on an inproc PUSH/PULL pair;
    its JPEG pointer is the loop's once read.  Unread results are drained
    and freed by destroy, after the thread has stopped.
    ========================================================================= */
#include "node/frameenc.h"
#include "common/log.h"
#include "common/selftest.h"
#include "inference/image.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

typedef struct {
    uint64_t tag;
    uint8_t *ppm;
    size_t len;
} item_t;

struct _node_frameenc_t {
    int quality;
    size_t max;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    item_t *q;
    size_t head, n;
    size_t busy;
    zsock_t *pull, *push;
};

static double
s_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static void *
s_thread (void *arg)
{
    node_frameenc_t *self = (node_frameenc_t *) arg;
    tjhandle tj = tjInitCompress ();
    void *push = zsock_resolve (self->push);
    pthread_mutex_lock (&self->lock);
    while (true) {
        while (!self->stop && self->n == 0)
            pthread_cond_wait (&self->wake, &self->lock);
        if (self->stop)
            break;
        item_t it = self->q[self->head];
        self->head = (self->head + 1) % self->max;
        self->n--;
        self->busy = 1;
        pthread_mutex_unlock (&self->lock);

        node_frameenc_result_t r = {it.tag, -1, NULL, 0, 0};
        double t0 = s_ms ();
        const uint8_t *px;
        int w, h;
        char err[128];
        if (tj && mw_image_ppm_view (it.ppm, it.len, &px, &w, &h, err, sizeof err) == 0) {
            unsigned char *out = NULL;
            unsigned long olen = 0;
            if (tjCompress2 (tj, px, w, w * 3, h, TJPF_RGB, &out, &olen, TJSAMP_420, self->quality,
                             TJFLAG_FASTDCT)
                    == 0
                && olen > 0) {
                r.jpeg = malloc (olen);
                if (r.jpeg) {
                    memcpy (r.jpeg, out, olen);
                    r.len = olen;
                    r.status = 0;
                }
            }
            tjFree (out);
        }
        r.ms = s_ms () - t0;
        free (it.ppm);
        pthread_mutex_lock (&self->lock);
        self->busy = 0;
        pthread_mutex_unlock (&self->lock);
        if (zmq_send (push, &r, sizeof r, ZMQ_DONTWAIT) != (int) sizeof r) {
            mw_error ("frameenc_send_failed", "tag=%llu", (unsigned long long) r.tag);
            free (r.jpeg);
        }
        pthread_mutex_lock (&self->lock);
    }
    pthread_mutex_unlock (&self->lock);
    if (tj)
        tjDestroy (tj);
    return NULL;
}

node_frameenc_t *
node_frameenc_new (int quality, size_t max_pending)
{
    if (quality < 1 || quality > 100 || max_pending < 1)
        return NULL;
    node_frameenc_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->quality = quality;
    self->max = max_pending;
    self->q = calloc (max_pending, sizeof *self->q);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    char ep[64];
    snprintf (ep, sizeof ep, "inproc://mw-frameenc-%p", (void *) self);
    self->pull = zsock_new_pull (ep);
    self->push = zsock_new_push (ep);
    if (self->pull && self->push) {
        zsock_set_rcvhwm (self->pull, 0);
        zsock_set_sndhwm (self->push, 0);
    }
    if (!self->q || !self->pull || !self->push || pthread_create (&self->thread, NULL, s_thread, self) != 0) {
        node_frameenc_destroy (&self);
        return NULL;
    }
    self->started = true;
    return self;
}

void
node_frameenc_destroy (node_frameenc_t **self_p)
{
    assert (self_p);
    node_frameenc_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->stop = true;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
    if (self->started)
        pthread_join (self->thread, NULL);
    for (size_t i = 0; self->q && i < self->n; i++)
        free (self->q[(self->head + i) % self->max].ppm);
    node_frameenc_result_t r;
    while (self->pull && node_frameenc_recv (self, &r) == 1)
        free (r.jpeg);
    zsock_destroy (&self->push);
    zsock_destroy (&self->pull);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self->q);
    free (self);
    *self_p = NULL;
}

int
node_frameenc_submit (node_frameenc_t *self, uint64_t tag, uint8_t **ppm_p, size_t len)
{
    assert (self && ppm_p);
    if (!*ppm_p || len == 0)
        return -1;
    pthread_mutex_lock (&self->lock);
    int rc = -1;
    if (self->n < self->max) {
        self->q[(self->head + self->n) % self->max] = (item_t){tag, *ppm_p, len};
        self->n++;
        *ppm_p = NULL;
        pthread_cond_signal (&self->wake);
        rc = 0;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

zsock_t *
node_frameenc_sock (node_frameenc_t *self)
{
    return self->pull;
}

int
node_frameenc_recv (node_frameenc_t *self, node_frameenc_result_t *out)
{
    return zmq_recv (zsock_resolve (self->pull), out, sizeof *out, ZMQ_DONTWAIT) == (int) sizeof *out ? 1 : 0;
}

size_t
node_frameenc_pending (node_frameenc_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->n + self->busy;
    pthread_mutex_unlock (&self->lock);
    return n;
}

//  --------------------------------------------------------------------------
//  Selftest: a gradient frame round-trips through JPEG close to itself; a
//  non-PPM fails; the queue is bounded; destroy frees what is left.

static uint8_t *
s_test_ppm (int w, int h, size_t *len)
{
    char hdr[32];
    int hl = snprintf (hdr, sizeof hdr, "P6\n%d %d\n255\n", w, h);
    *len = (size_t) hl + (size_t) w * h * 3;
    uint8_t *p = malloc (*len);
    memcpy (p, hdr, (size_t) hl);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + hl + ((size_t) y * w + x) * 3;
            q[0] = (uint8_t) (x * 255 / w);
            q[1] = (uint8_t) (y * 255 / h);
            q[2] = 128;
        }
    return p;
}

int
node_frameenc_test (bool verbose)
{
    int rc = 0;
    node_frameenc_t *e = node_frameenc_new (90, 2);
    CHECK (e && !node_frameenc_new (0, 1) && !node_frameenc_new (90, 0), "new");
    if (!e)
        return -1;
    size_t len;
    uint8_t *ppm = s_test_ppm (320, 240, &len);
    CHECK (node_frameenc_submit (e, 7, &ppm, len) == 0 && ppm == NULL, "submit takes the frame");
    uint8_t *junk = malloc (16);
    memcpy (junk, "not a frame at all", 16);
    CHECK (node_frameenc_submit (e, 8, &junk, 16) == 0, "submit junk");
    node_frameenc_result_t r[2];
    int got = 0;
    zpoller_t *poller = zpoller_new (node_frameenc_sock (e), NULL);
    for (int i = 0; i < 50 && got < 2; i++)
        if (zpoller_wait (poller, 100))
            while (got < 2 && node_frameenc_recv (e, &r[got]) == 1)
                got++;
    zpoller_destroy (&poller);
    CHECK (got == 2, "two results");
    for (int i = 0; i < got; i++) {
        if (r[i].tag == 7) {
            char err[128];
            mw_image_t *img = r[i].jpeg ? mw_image_decode (r[i].jpeg, r[i].len, err, sizeof err) : NULL;
            CHECK (r[i].status == 0 && img && mw_image_width (img) == 320 && mw_image_height (img) == 240,
                   "jpeg decodes: %s", img ? "" : err);
            if (img) {
                int worst = 0;
                const uint8_t *d = mw_image_data (img);
                for (int y = 8; y < 232; y++)
                    for (int x = 8; x < 312; x++) {
                        int want = x * 255 / 320, have = d[((size_t) y * 320 + x) * 3];
                        if (abs (want - have) > worst)
                            worst = abs (want - have);
                    }
                CHECK (worst <= 8, "jpeg close to the frame (worst %d levels)", worst);
                if (verbose)
                    printf ("  320x240 -> %zu bytes in %.2f ms, worst %d levels\n", r[i].len, r[i].ms, worst);
            }
            mw_image_destroy (&img);
        }
        else
            CHECK (r[i].tag == 8 && r[i].status == -1 && !r[i].jpeg, "junk fails");
        free (r[i].jpeg);
    }
    //  Bounded: two waiting at most (the thread may hold one).
    int accepted = 0;
    uint8_t *big[6];
    size_t blen[6];
    for (int i = 0; i < 6; i++)
        big[i] = s_test_ppm (1280, 720, &blen[i]);
    for (int i = 0; i < 6; i++) {
        if (node_frameenc_submit (e, 100 + (uint64_t) i, &big[i], blen[i]) == 0)
            accepted++;
        else
            free (big[i]);
    }
    CHECK (accepted >= 2 && accepted <= 3, "bounded queue: %d accepted", accepted);
    node_frameenc_destroy (&e);
    CHECK (e == NULL, "destroy nulls");
    return rc;
}
