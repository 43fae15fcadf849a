/*  =========================================================================
    cam_ingest - RTSP ingest with FFmpeg (see cam_ingest.h, docs/CAMERAS.md).

    Threads: one per camera; it alone touches its FFmpeg contexts.  What
    the loop may read or set (mode, fps, stats) sits under the ingest's
    mutex; the stop flag and the read deadline are atomics, because the
    interrupt callback reads them from inside FFmpeg, many times a second.
    ========================================================================= */
#include "camera/cam_ingest.h"
#include "camera/cam_decode.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/selftest.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libavformat/avformat.h>
#include <libavutil/hwcontext.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

//  Frames of one camera waiting in the sink at most; and the share of the
//  sink that frames may fill (state notes keep the rest).
#define SINK_FRAMES_PER_CAMERA 2
#define SINK_FRAMES_MAX        (CAM_SINK_MAX - 64)
//  This many decode errors in a row end the session (a corrupt stream).
#define DECODE_ERRORS_MAX 100

//  --------------------------------------------------------------------------
//  The state machine

typedef struct {
    cam_state_t next;
    int act;
} cell_t;

#define DOWN (CAM_ACT_CLOSE | CAM_ACT_BACKOFF | CAM_ACT_OFFLINE)
#define SAME(s)                                                                                              \
    {                                                                                                        \
        s, 0                                                                                                 \
    }
//  [state][input]: FRAME, FAIL, WATCHDOG, RETRY, STOP.  SAME = not expected
//  there: nothing changes.  CAM_ACT_OFFLINE is a request: cam_fsm_step
//  drops it when this outage was already announced.
static const cell_t s_table[CAM_ST_COUNT][CAM_IN_COUNT] = {
    [CAM_ST_CONNECTING] = {{CAM_ST_STREAMING, CAM_ACT_ONLINE | CAM_ACT_HEALTHY},
                           {CAM_ST_BACKOFF, DOWN},
                           {CAM_ST_BACKOFF, DOWN},
                           SAME (CAM_ST_CONNECTING),
                           {CAM_ST_STOPPED, CAM_ACT_CLOSE}},
    [CAM_ST_STREAMING] = {SAME (CAM_ST_STREAMING),
                          {CAM_ST_BACKOFF, DOWN},
                          {CAM_ST_STALLED, CAM_ACT_STALLED},
                          SAME (CAM_ST_STREAMING),
                          {CAM_ST_STOPPED, CAM_ACT_CLOSE}},
    [CAM_ST_STALLED] = {{CAM_ST_STREAMING, CAM_ACT_ONLINE},
                        {CAM_ST_BACKOFF, DOWN},
                        {CAM_ST_BACKOFF, DOWN},
                        SAME (CAM_ST_STALLED),
                        {CAM_ST_STOPPED, CAM_ACT_CLOSE}},
    [CAM_ST_BACKOFF] = {SAME (CAM_ST_BACKOFF),
                        SAME (CAM_ST_BACKOFF),
                        SAME (CAM_ST_BACKOFF),
                        {CAM_ST_CONNECTING, CAM_ACT_CONNECT},
                        {CAM_ST_STOPPED, 0}},
    [CAM_ST_STOPPED] = {SAME (CAM_ST_STOPPED), SAME (CAM_ST_STOPPED), SAME (CAM_ST_STOPPED),
                        SAME (CAM_ST_STOPPED), SAME (CAM_ST_STOPPED)},
};

int
cam_fsm_step (cam_fsm_t *fsm, cam_input_t in)
{
    assert (fsm && fsm->state < CAM_ST_COUNT && in < CAM_IN_COUNT);
    cell_t c = s_table[fsm->state][in];
    int act = c.act;
    if (act & CAM_ACT_OFFLINE) {
        if (fsm->down_announced)
            act &= ~CAM_ACT_OFFLINE;
        fsm->down_announced = true;
    }
    if (act & CAM_ACT_ONLINE) {
        fsm->down_announced = false;
        fsm->ever_online = true;
    }
    if (act & CAM_ACT_HEALTHY)
        fsm->failures = 0;
    if (act & CAM_ACT_BACKOFF)
        fsm->failures++;
    fsm->state = c.next;
    return act;
}

const char *
cam_state_name (cam_state_t s)
{
    switch (s) {
    case CAM_ST_CONNECTING: return "connecting";
    case CAM_ST_STREAMING: return "streaming";
    case CAM_ST_STALLED: return "stalled";
    case CAM_ST_BACKOFF: return "backoff";
    case CAM_ST_STOPPED: return "stopped";
    case CAM_ST_COUNT: break;
    }
    return "unknown";
}

uint32_t
cam_backoff_ms (uint32_t failures, uint32_t min_ms, uint32_t max_ms, double r)
{
    double b = min_ms;
    for (uint32_t i = 1; i < failures && b < max_ms; i++)
        b *= 2;
    if (b > max_ms)
        b = max_ms;
    if (!(r >= 0 && r < 1))
        r = 0.5;
    return (uint32_t) (b * (0.8 + 0.4 * r));
}

//  --------------------------------------------------------------------------
//  The sink

struct _cam_sink_t {
    pthread_mutex_t lock;
    int efd;
    cam_note_t *ring;
    size_t head, n, frames;
};

cam_sink_t *
cam_sink_new (void)
{
    cam_sink_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ring = calloc (CAM_SINK_MAX, sizeof *self->ring);
    self->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!self->ring || self->efd < 0) {
        if (self->efd >= 0)
            close (self->efd);
        free (self->ring);
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
cam_sink_destroy (cam_sink_t **self_p)
{
    assert (self_p);
    cam_sink_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++)
        free (self->ring[(self->head + i) % CAM_SINK_MAX].ppm);
    close (self->efd);
    pthread_mutex_destroy (&self->lock);
    free (self->ring);
    free (self);
    *self_p = NULL;
}

int
cam_sink_fd (cam_sink_t *self)
{
    return self->efd;
}

size_t
cam_sink_size (cam_sink_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->n;
    pthread_mutex_unlock (&self->lock);
    return n;
}

//  Queue a note (taken on success).  -1 when it does not fit: a frame when
//  its camera already has SINK_FRAMES_PER_CAMERA waiting or frames fill
//  their share; anything when the sink is full.
static int
s_sink_push (cam_sink_t *self, const cam_note_t *note)
{
    pthread_mutex_lock (&self->lock);
    bool ok = self->n < CAM_SINK_MAX;
    if (ok && note->kind == CAM_NOTE_FRAME) {
        size_t mine = 0;
        for (size_t i = 0; i < self->n; i++) {
            const cam_note_t *q = &self->ring[(self->head + i) % CAM_SINK_MAX];
            mine += q->kind == CAM_NOTE_FRAME && q->slot == note->slot && q->gen == note->gen;
        }
        ok = mine < SINK_FRAMES_PER_CAMERA && self->frames < SINK_FRAMES_MAX;
    }
    if (ok) {
        self->ring[(self->head + self->n) % CAM_SINK_MAX] = *note;
        self->n++;
        self->frames += note->kind == CAM_NOTE_FRAME;
    }
    pthread_mutex_unlock (&self->lock);
    if (ok) {
        uint64_t one = 1;
        if (write (self->efd, &one, sizeof one) < 0) {
            //  EAGAIN: the counter is at its maximum, the loop is awake anyway.
        }
    }
    return ok ? 0 : -1;
}

int
cam_sink_pop (cam_sink_t *self, cam_note_t *out)
{
    uint64_t v;
    if (read (self->efd, &v, sizeof v) < 0) {
        //  EAGAIN: nothing signalled since the last read; the queue decides.
    }
    pthread_mutex_lock (&self->lock);
    int got = self->n > 0;
    if (got) {
        *out = self->ring[self->head];
        memset (&self->ring[self->head], 0, sizeof *out);
        self->head = (self->head + 1) % CAM_SINK_MAX;
        self->n--;
        self->frames -= out->kind == CAM_NOTE_FRAME;
    }
    pthread_mutex_unlock (&self->lock);
    return got;
}

//  --------------------------------------------------------------------------
//  The ingest

struct _cam_ingest_t {
    cam_ingest_cfg_t cfg;
    char id[CAM_ID_MAX + 1];
    char url[CAM_URL_MAX + 1];
    char decoder_name[16];
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_bool stop;
    _Atomic uint64_t deadline_ms;   //  the interrupt callback's deadline (monotonic)
    //  under lock
    cam_mode_t want_mode;
    double want_fps;
    cam_ingest_stats_t st;
    //  the thread's own
    cam_fsm_t fsm;
    AVFormatContext *fmt;
    cam_decoder_t *dec;
    int stream;
    AVRational tb;
    struct SwsContext *sws;
    AVPacket *pkt;
    AVFrame *frame, *swframe;
    cam_mode_t mode;
    double fps;
    bool wait_key;
    double next_due;   //  stream seconds; NAN = deliver the next frame
    uint64_t last_frame_ms, stalled_ms, last_key_ms;
    double keyint_ms;
    int decode_errors;
    bool keys_flagged;   //  this session's demuxer marks keyframe packets
    bool refused;        //  the last failure was a refused / unreachable port
    struct sockaddr_storage probe_addr;
    socklen_t probe_len;
    uint64_t rng;
    char reason[96];
};

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

//  FFmpeg's own messages: at LOG_LEVEL=debug only, one line each, control
//  bytes replaced (a hostile server's text can reach them).
static void
s_av_log (void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > AV_LOG_WARNING || mw_log_get_level () > MW_LOG_DEBUG)
        return;
    char line[512];
    int print_prefix = 1;
    av_log_format_line2 (avcl, level, fmt, vl, line, sizeof line, &print_prefix);
    for (char *p = line; *p; p++)
        if ((unsigned char) *p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f)
            *p = ' ';
    mw_debug ("ffmpeg", "level=%d msg=\"%s\"", level, line);
}

static void
s_init_once (void)
{
    avformat_network_init ();
    av_log_set_callback (s_av_log);
}

void
cam_ingest_cfg_defaults (cam_ingest_cfg_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->mode = CAM_MODE_NORMAL;
    cfg->fps = 5;
    cfg->max_side = 1280;
    cfg->stall_ms = 4000;
    cfg->connect_timeout_ms = 5000;
    cfg->backoff_min_ms = 500;
    cfg->backoff_max_ms = 30000;
    cfg->probe_ms = 500;
    cfg->decoder = "auto";
    cfg->decode_threads = 1;
}

//  This thread's CPU time: what decoding costs, apart from the rest.
static uint64_t
s_thread_cpu_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static int
s_interrupt (void *opaque)
{
    cam_ingest_t *self = (cam_ingest_t *) opaque;
    return atomic_load (&self->stop) || mw_now_ms () > atomic_load (&self->deadline_ms);
}

static void
s_set_reason (cam_ingest_t *self, const char *what, int averr)
{
    if (averr) {
        char e[AV_ERROR_MAX_STRING_SIZE];
        av_strerror (averr, e, sizeof e);
        snprintf (self->reason, sizeof self->reason, "%.40s: %.50s", what, e);
    }
    else
        snprintf (self->reason, sizeof self->reason, "%.95s", what);
}

static void
s_close_stream (cam_ingest_t *self)
{
    cam_decoder_close (&self->dec);
    if (self->fmt)
        avformat_close_input (&self->fmt);
    self->stream = -1;
}

//  Apply one input, tell the loop about a change, do what the table says.
static void
s_input (cam_ingest_t *self, cam_input_t in)
{
    cam_state_t prev = self->fsm.state;
    int act = cam_fsm_step (&self->fsm, in);
    if (act & CAM_ACT_CLOSE)
        s_close_stream (self);
    uint64_t now = mw_now_ms ();
    if (self->fsm.state == CAM_ST_STALLED && prev != CAM_ST_STALLED)
        self->stalled_ms = now;
    pthread_mutex_lock (&self->lock);
    self->st.state = self->fsm.state;
    if (prev != self->fsm.state)
        self->st.state_since_ms = now;
    if ((act & CAM_ACT_CONNECT) && self->fsm.ever_online)
        self->st.reconnects++;
    if (act & CAM_ACT_BACKOFF)
        self->st.failures_total++;
    if (act & (CAM_ACT_BACKOFF | CAM_ACT_STALLED))
        snprintf (self->st.reason, sizeof self->st.reason, "%s", self->reason);
    pthread_mutex_unlock (&self->lock);
    if (prev == self->fsm.state && !act)
        return;
    cam_note_t note;
    memset (&note, 0, sizeof note);
    note.kind = CAM_NOTE_STATE;
    note.slot = self->cfg.slot;
    note.gen = self->cfg.gen;
    note.state = self->fsm.state;
    note.prev = prev;
    note.actions = act;
    snprintf (note.reason, sizeof note.reason, "%s",
              act & CAM_ACT_ONLINE ? (prev == CAM_ST_STALLED ? "recovered" : "first_frame") : self->reason);
    if (s_sink_push (self->cfg.sink, &note) != 0)
        mw_warn ("camera_note_dropped", "camera=%s state=%s reason=\"sink full\"", self->id,
                 cam_state_name (note.state));
}

//  Where to probe: the URL's host when it is an IP literal, and its port
//  (554 for rtsp, 322 for rtsps).  Host names are not resolved here: a
//  DNS lookup cannot be interrupted.
static void
s_probe_target (cam_ingest_t *self)
{
    self->probe_len = 0;
    const char *h = strstr (self->url, "://");
    if (!h)
        return;
    int port = strncasecmp (self->url, "rtsps", 5) == 0 ? 322 : 554;
    h += 3;
    const char *end = h + strcspn (h, "/?#");
    for (const char *p = h; p < end; p++)
        if (*p == '@')
            h = p + 1;
    char host[128];
    const char *pe = NULL;
    size_t n;
    if (*h == '[') {
        const char *rb = memchr (h, ']', (size_t) (end - h));
        if (!rb)
            return;
        n = (size_t) (rb - h - 1);
        if (n >= sizeof host)
            return;
        memcpy (host, h + 1, n);
        pe = rb + 1;
    }
    else {
        const char *c = memchr (h, ':', (size_t) (end - h));
        n = (size_t) ((c ? c : end) - h);
        if (n >= sizeof host)
            return;
        memcpy (host, h, n);
        pe = c ? c : end;
    }
    host[n] = 0;
    if (pe < end && *pe == ':')
        port = atoi (pe + 1);
    if (port <= 0 || port > 65535)
        return;
    struct sockaddr_in *a4 = (struct sockaddr_in *) &self->probe_addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &self->probe_addr;
    memset (&self->probe_addr, 0, sizeof self->probe_addr);
    if (inet_pton (AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons ((uint16_t) port);
        self->probe_len = sizeof *a4;
    }
    else if (inet_pton (AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons ((uint16_t) port);
        self->probe_len = sizeof *a6;
    }
}

//  Does the camera's port accept a TCP connection now (within 300 ms)?
static bool
s_probe (cam_ingest_t *self)
{
    if (!self->probe_len)
        return false;
    int fd = socket (self->probe_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool open = false;
    int rc = connect (fd, (struct sockaddr *) &self->probe_addr, self->probe_len);
    if (rc == 0)
        open = true;
    else if (errno == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll (&p, 1, 300) == 1) {
            int e = 0;
            socklen_t l = sizeof e;
            open = getsockopt (fd, SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e == 0;
        }
    }
    close (fd);
    return open;
}

//  Sleep until `until` (monotonic ms) or stop; false when stopped.
static bool
s_sleep_until (cam_ingest_t *self, uint64_t until)
{
    pthread_mutex_lock (&self->lock);
    while (!atomic_load (&self->stop)) {
        uint64_t now = mw_now_ms ();
        if (now >= until)
            break;
        struct timespec ts;
        clock_gettime (CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t) ts.tv_nsec + (until - now) * 1000000ull;
        ts.tv_sec += (time_t) (ns / 1000000000ull);
        ts.tv_nsec = (long) (ns % 1000000000ull);
        pthread_cond_timedwait (&self->wake, &self->lock, &ts);
    }
    pthread_mutex_unlock (&self->lock);
    return !atomic_load (&self->stop);
}

static void
s_backoff (cam_ingest_t *self)
{
    double r = (double) (mw_splitmix64 (&self->rng) >> 11) / 9007199254740992.0;
    uint32_t wait =
        cam_backoff_ms (self->fsm.failures, self->cfg.backoff_min_ms, self->cfg.backoff_max_ms, r);
    uint64_t until = mw_now_ms () + wait;
    mw_debug ("camera_backoff", "camera=%s ms=%u failures=%u reason=\"%s\"", self->id, wait,
              self->fsm.failures, self->reason);
    bool probe = self->refused && self->cfg.probe_ms > 0 && self->probe_len > 0;
    while (!atomic_load (&self->stop) && mw_now_ms () < until) {
        uint64_t next = probe ? mw_now_ms () + self->cfg.probe_ms : until;
        if (!s_sleep_until (self, next < until ? next : until))
            return;
        if (probe && mw_now_ms () < until && s_probe (self)) {
            mw_debug ("camera_port_open", "camera=%s", self->id);
            break;
        }
    }
    if (!atomic_load (&self->stop))
        s_input (self, CAM_IN_RETRY);
}

//  The frame as a P6 PPM, scaled to fit max_side (and the 4 MiB frame
//  limit), to the sink.
static void
s_deliver (cam_ingest_t *self, AVFrame *f, bool key)
{
    AVFrame *src = f;
    if (f->hw_frames_ctx) {
        av_frame_unref (self->swframe);
        if (av_hwframe_transfer_data (self->swframe, f, 0) < 0)
            return;
        src = self->swframe;
    }
    int w = src->width, h = src->height;
    if (w <= 0 || h <= 0)
        return;
    double s = 1.0;
    int longest = w > h ? w : h;
    if ((uint32_t) longest > self->cfg.max_side)
        s = (double) self->cfg.max_side / longest;
    int dw = (int) lround (w * s), dh = (int) lround (h * s);
    while ((size_t) dw * (size_t) dh * 3 + 32 > MW_FRAME_MAX) {
        dw = dw * 9 / 10;
        dh = dh * 9 / 10;
    }
    if (dw < 1 || dh < 1)
        return;
    self->sws = sws_getCachedContext (self->sws, w, h, (enum AVPixelFormat) src->format, dw, dh,
                                      AV_PIX_FMT_RGB24, SWS_FAST_BILINEAR, NULL, NULL, NULL);
    if (!self->sws)
        return;
    char hdr[32];
    int hl = snprintf (hdr, sizeof hdr, "P6\n%d %d\n255\n", dw, dh);
    size_t len = (size_t) hl + (size_t) dw * (size_t) dh * 3;
    //  libswscale's SIMD paths may store a few bytes past the last pixel
    //  (valgrind caught it on a hostile camera's 16-pixel-wide frames): pad.
    uint8_t *ppm = malloc (len + 64);
    if (!ppm)
        return;
    memcpy (ppm, hdr, (size_t) hl);
    uint8_t *dst[4] = {ppm + hl, NULL, NULL, NULL};
    int dst_stride[4] = {dw * 3, 0, 0, 0};
    sws_scale (self->sws, (const uint8_t *const *) src->data, src->linesize, 0, h, dst, dst_stride);
    cam_note_t note;
    memset (&note, 0, sizeof note);
    note.kind = CAM_NOTE_FRAME;
    note.slot = self->cfg.slot;
    note.gen = self->cfg.gen;
    note.ppm = ppm;
    note.len = len;
    note.width = (uint32_t) dw;
    note.height = (uint32_t) dh;
    note.src_width = (uint32_t) w;
    note.src_height = (uint32_t) h;
    //  The box's wall clock at decoding: a camera's own clock (RTCP) is
    //  too often wrong to stamp evidence with.
    note.capture_ms = mw_wall_ms ();
    note.keyframe = key;
    note.mode = self->mode;
    bool ok = s_sink_push (self->cfg.sink, &note) == 0;
    if (!ok)
        free (ppm);
    pthread_mutex_lock (&self->lock);
    if (ok)
        self->st.frames_delivered++;
    else
        self->st.frames_dropped++;
    pthread_mutex_unlock (&self->lock);
}

//  A decoded frame: the watchdog, the keyframe interval, the rate.
static void
s_on_frame (cam_ingest_t *self, AVFrame *f)
{
    uint64_t now = mw_now_ms ();
    self->last_frame_ms = now;
    bool key = f->key_frame || f->pict_type == AV_PICTURE_TYPE_I;
    if (key) {
        if (self->last_key_ms && now > self->last_key_ms) {
            double k = (double) (now - self->last_key_ms);
            self->keyint_ms = self->keyint_ms > 0 ? self->keyint_ms * 0.7 + k * 0.3 : k;
        }
        self->last_key_ms = now;
    }
    pthread_mutex_lock (&self->lock);
    self->st.frames_decoded++;
    self->st.last_frame_ms = now;
    self->st.width = (uint32_t) f->width;
    self->st.height = (uint32_t) f->height;
    self->st.keyint_ms = self->keyint_ms;
    pthread_mutex_unlock (&self->lock);
    if (self->wait_key) {
        if (!key)
            return;
        self->wait_key = false;
    }
    double t = (double) now / 1000.0;
    if (f->best_effort_timestamp != AV_NOPTS_VALUE && self->tb.den > 0)
        t = (double) f->best_effort_timestamp * av_q2d (self->tb);
    bool deliver = true;
    if (self->mode != CAM_MODE_FOCUS) {
        double period = 1.0 / (self->fps > 0 ? self->fps : 1);
        if (isnan (self->next_due) || t < self->next_due - 2.0 || t - self->next_due > 1.0 + period)
            self->next_due = t;   //  first frame, or the timestamps jumped: start over
        deliver = t + period * 1e-3 >= self->next_due;
        if (deliver)
            self->next_due += period;
    }
    if (deliver)
        s_deliver (self, f, key);
}

//  Mode and fps as the loop set them; switching decoding modes.
static void
s_apply_mode (cam_ingest_t *self)
{
    pthread_mutex_lock (&self->lock);
    cam_mode_t m = self->want_mode;
    double fps = self->want_fps;
    self->st.mode = m;
    pthread_mutex_unlock (&self->lock);
    self->fps = fps;
    if (m == self->mode)
        return;
    if (self->dec && (m == CAM_MODE_IDLE) != (self->mode == CAM_MODE_IDLE))
        cam_decoder_keyframes_only (self->dec, m == CAM_MODE_IDLE);
    //  Leaving idle, the frames after the next keyframe are whole again.
    if (self->mode == CAM_MODE_IDLE)
        self->wait_key = true;
    self->mode = m;
    self->next_due = NAN;
}

//  One packet: read, decode.  Returns FRAME when a frame was decoded,
//  COUNT ("nothing yet") when not, or FAIL / WATCHDOG.
static cam_input_t
s_read_one (cam_ingest_t *self, uint64_t deadline)
{
    atomic_store (&self->deadline_ms, deadline);
    s_apply_mode (self);
    int rc = av_read_frame (self->fmt, self->pkt);
    if (atomic_load (&self->stop))
        return CAM_IN_STOP;
    //  Past the deadline, even a packet is no sign of life: interrupting
    //  the RTSP demuxer makes it hand out what it held back (the last
    //  partial frame), which would restart the watchdog of a frozen camera.
    if (rc == AVERROR_EXIT || mw_now_ms () > deadline) {
        av_packet_unref (self->pkt);
        s_set_reason (self, self->fsm.state == CAM_ST_CONNECTING ? "timeout: no frame" : "no frames", 0);
        return CAM_IN_WATCHDOG;
    }
    if (rc == AVERROR_EOF) {
        s_set_reason (self, "stream ended", 0);
        return CAM_IN_FAIL;
    }
    if (rc < 0) {
        s_set_reason (self, "read", rc);
        self->refused = rc == AVERROR (ECONNREFUSED) || rc == AVERROR (ECONNRESET);
        return CAM_IN_FAIL;
    }
    cam_input_t out = CAM_IN_COUNT;
    if (self->pkt->stream_index == self->stream) {
        pthread_mutex_lock (&self->lock);
        self->st.packets++;
        self->st.bytes += (uint64_t) self->pkt->size;
        pthread_mutex_unlock (&self->lock);
        //  Idle: a packet the demuxer marks as not a keyframe never reaches
        //  the decoder (skip_frame would discard it after parsing it).  Only
        //  once the stream has shown it marks keyframes at all.
        bool key = (self->pkt->flags & AV_PKT_FLAG_KEY) != 0;
        self->keys_flagged |= key;
        if (self->mode == CAM_MODE_IDLE && self->keys_flagged && !key) {
            av_packet_unref (self->pkt);
            return CAM_IN_COUNT;
        }
        uint64_t c0 = s_thread_cpu_ns ();
        rc = cam_decoder_send (self->dec, self->pkt);
        uint64_t spent = s_thread_cpu_ns () - c0;
        if (rc < 0 && rc != AVERROR (EAGAIN)) {
            if (++self->decode_errors >= DECODE_ERRORS_MAX) {
                s_set_reason (self, "decode", rc);
                av_packet_unref (self->pkt);
                return CAM_IN_FAIL;
            }
        }
        while (true) {
            c0 = s_thread_cpu_ns ();
            int got = cam_decoder_receive (self->dec, self->frame);
            spent += s_thread_cpu_ns () - c0;
            if (got != 0)
                break;
            self->decode_errors = 0;
            s_on_frame (self, self->frame);
            av_frame_unref (self->frame);
            out = CAM_IN_FRAME;
        }
        pthread_mutex_lock (&self->lock);
        self->st.decode_cpu_ns += spent;
        pthread_mutex_unlock (&self->lock);
    }
    av_packet_unref (self->pkt);
    if (out == CAM_IN_COUNT && mw_now_ms () > deadline) {
        s_set_reason (self, self->fsm.state == CAM_ST_CONNECTING ? "timeout: no frame" : "no frames", 0);
        return CAM_IN_WATCHDOG;
    }
    return out;
}

//  Open the stream and decode up to its first frame.  FRAME, FAIL,
//  WATCHDOG or STOP.
static cam_input_t
s_connect (cam_ingest_t *self)
{
    uint64_t deadline = mw_now_ms () + self->cfg.connect_timeout_ms;
    atomic_store (&self->deadline_ms, deadline);
    self->refused = false;
    self->fmt = avformat_alloc_context ();
    if (!self->fmt) {
        s_set_reason (self, "out of memory", 0);
        return CAM_IN_FAIL;
    }
    self->fmt->interrupt_callback.callback = s_interrupt;
    self->fmt->interrupt_callback.opaque = self;
    AVDictionary *opts = NULL;
    av_dict_set (&opts, "rtsp_transport", "tcp", 0);
    av_dict_set (&opts, "allowed_media_types", "video", 0);
    av_dict_set (&opts, "probesize", "1000000", 0);
    av_dict_set (&opts, "analyzeduration", "1000000", 0);
    av_dict_set (&opts, "max_delay", "500000", 0);
    int rc = avformat_open_input (&self->fmt, self->url, NULL, &opts);
    av_dict_free (&opts);
    if (atomic_load (&self->stop))
        return CAM_IN_STOP;
    if (rc < 0) {
        //  avformat_open_input freed the context.
        self->refused = rc == AVERROR (ECONNREFUSED) || rc == AVERROR (EHOSTUNREACH)
                        || rc == AVERROR (ENETUNREACH) || rc == AVERROR (ECONNRESET);
        if (rc == AVERROR_EXIT || mw_now_ms () > deadline)
            s_set_reason (self, "connect: timeout", 0);
        else
            s_set_reason (self, "connect", rc);
        return CAM_IN_FAIL;
    }
    //  RTSP's SDP names the codec (and carries H.264's parameter sets):
    //  then the decoder can start on the first packet, and probing the
    //  stream first would cost up to `analyzeduration` (a second) of every
    //  (re)connection.  Probe only when the SDP left the codec open.
    bool known = false;
    for (unsigned i = 0; i < self->fmt->nb_streams; i++)
        known |= self->fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO
                 && self->fmt->streams[i]->codecpar->codec_id != AV_CODEC_ID_NONE;
    if (!known && (rc = avformat_find_stream_info (self->fmt, NULL)) < 0) {
        s_set_reason (self, "stream info", rc == AVERROR_EXIT ? AVERROR (ETIMEDOUT) : rc);
        return CAM_IN_FAIL;
    }
    self->stream = av_find_best_stream (self->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (self->stream < 0) {
        s_set_reason (self, "no video stream", 0);
        return CAM_IN_FAIL;
    }
    for (unsigned i = 0; i < self->fmt->nb_streams; i++)
        if ((int) i != self->stream)
            self->fmt->streams[i]->discard = AVDISCARD_ALL;
    AVStream *st = self->fmt->streams[self->stream];
    self->tb = st->time_base;
    char err[160];
    self->dec =
        cam_decoder_open (self->decoder_name, st->codecpar, self->cfg.decode_threads, err, sizeof err);
    if (!self->dec) {
        s_set_reason (self, err, 0);
        return CAM_IN_FAIL;
    }
    pthread_mutex_lock (&self->lock);
    snprintf (self->st.decoder, sizeof self->st.decoder, "%s", cam_decoder_name (self->dec));
    pthread_mutex_unlock (&self->lock);
    //  A new session: the mode as wanted now, from its first keyframe.
    s_apply_mode (self);
    cam_decoder_keyframes_only (self->dec, self->mode == CAM_MODE_IDLE);
    self->wait_key = false;
    self->next_due = NAN;
    self->decode_errors = 0;
    self->keys_flagged = false;
    while (true) {
        cam_input_t in = s_read_one (self, deadline);
        if (in != CAM_IN_COUNT)
            return in;
    }
}

static void *
s_thread (void *arg)
{
    cam_ingest_t *self = (cam_ingest_t *) arg;
    char name[16];
    snprintf (name, sizeof name, "cam:%.11s", self->id);
    pthread_setname_np (pthread_self (), name);
    while (!atomic_load (&self->stop)) {
        cam_input_t in;
        switch (self->fsm.state) {
        case CAM_ST_CONNECTING: in = s_connect (self); break;
        case CAM_ST_STREAMING:
        case CAM_ST_STALLED: {
            //  The watchdog: streaming, STALL_MS after the last frame (idle
            //  mode: at least two keyframe intervals); stalled, STALL_MS more.
            uint64_t wd = self->cfg.stall_ms;
            if (self->mode == CAM_MODE_IDLE && self->keyint_ms * 2 + 1000 > wd)
                wd = (uint64_t) (self->keyint_ms * 2 + 1000);
            uint64_t deadline = self->fsm.state == CAM_ST_STREAMING ? self->last_frame_ms + wd
                                                                    : self->stalled_ms + self->cfg.stall_ms;
            in = s_read_one (self, deadline);
            break;
        }
        case CAM_ST_BACKOFF: s_backoff (self); continue;
        default: in = CAM_IN_STOP; break;
        }
        if (in == CAM_IN_STOP || atomic_load (&self->stop))
            break;
        if (in != CAM_IN_COUNT)
            s_input (self, in);
        if (self->fsm.state == CAM_ST_BACKOFF)
            s_close_stream (self);
    }
    s_close_stream (self);
    pthread_mutex_lock (&self->lock);
    self->st.state = CAM_ST_STOPPED;
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

cam_ingest_t *
cam_ingest_new (const cam_ingest_cfg_t *cfg, char *err, size_t errlen)
{
    assert (cfg && err);
    pthread_once (&s_once, s_init_once);
    if (!cfg->sink || !cfg->id || !cfg->url || !cam_decoder_known (cfg->decoder) || !(cfg->fps > 0)
        || cfg->max_side < 16 || cfg->stall_ms < 100 || cfg->connect_timeout_ms < 100
        || cfg->backoff_min_ms < 1 || cfg->backoff_max_ms < cfg->backoff_min_ms) {
        snprintf (err, errlen, "bad ingest settings");
        return NULL;
    }
    cam_ingest_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    snprintf (self->id, sizeof self->id, "%s", cfg->id);
    snprintf (self->url, sizeof self->url, "%s", cfg->url);
    snprintf (self->decoder_name, sizeof self->decoder_name, "%s", cfg->decoder);
    self->cfg.id = self->id;
    self->cfg.url = self->url;
    self->cfg.decoder = self->decoder_name;
    self->stream = -1;
    self->mode = cfg->mode;
    self->want_mode = cfg->mode;
    self->fps = self->want_fps = cfg->fps;
    self->next_due = NAN;
    self->rng = cfg->seed ^ (uint64_t) (uintptr_t) self;
    self->fsm.state = CAM_ST_CONNECTING;
    self->st.state = CAM_ST_CONNECTING;
    self->st.mode = cfg->mode;
    self->st.state_since_ms = mw_now_ms ();
    atomic_init (&self->stop, false);
    atomic_init (&self->deadline_ms, UINT64_MAX);
    s_probe_target (self);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    self->pkt = av_packet_alloc ();
    self->frame = av_frame_alloc ();
    self->swframe = av_frame_alloc ();
    if (!self->pkt || !self->frame || !self->swframe
        || pthread_create (&self->thread, NULL, s_thread, self) != 0) {
        snprintf (err, errlen, "cannot start the camera thread");
        cam_ingest_destroy (&self);
        return NULL;
    }
    self->started = true;
    return self;
}

void
cam_ingest_destroy (cam_ingest_t **self_p)
{
    assert (self_p);
    cam_ingest_t *self = *self_p;
    if (!self)
        return;
    atomic_store (&self->stop, true);
    pthread_mutex_lock (&self->lock);
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
    if (self->started)
        pthread_join (self->thread, NULL);
    s_close_stream (self);
    sws_freeContext (self->sws);
    av_packet_free (&self->pkt);
    av_frame_free (&self->frame);
    av_frame_free (&self->swframe);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

void
cam_ingest_set_mode (cam_ingest_t *self, cam_mode_t mode)
{
    pthread_mutex_lock (&self->lock);
    self->want_mode = mode;
    pthread_mutex_unlock (&self->lock);
}

void
cam_ingest_set_fps (cam_ingest_t *self, double fps)
{
    if (!(fps > 0))
        return;
    pthread_mutex_lock (&self->lock);
    self->want_fps = fps;
    pthread_mutex_unlock (&self->lock);
}

void
cam_ingest_stats (cam_ingest_t *self, cam_ingest_stats_t *out)
{
    pthread_mutex_lock (&self->lock);
    *out = self->st;
    pthread_mutex_unlock (&self->lock);
    out->thread_cpu_ns = 0;
    clockid_t cid;
    struct timespec ts;
    if (self->started && pthread_getcpuclockid (self->thread, &cid) == 0 && clock_gettime (cid, &ts) == 0)
        out->thread_cpu_ns = (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

//  --------------------------------------------------------------------------
//  Selftest: the table, the back-off, the sink, and a camera that does not
//  exist (refused, backing off, stopped at once).  Real streams are the
//  scenario tests' (tests/camera/).

int
cam_ingest_test (bool verbose)
{
    int rc = 0;
    //  A camera's life through the table.
    cam_fsm_t m = {CAM_ST_CONNECTING, false, false, 0};
    int a = cam_fsm_step (&m, CAM_IN_FAIL);
    CHECK (m.state == CAM_ST_BACKOFF && (a & CAM_ACT_OFFLINE) && (a & CAM_ACT_BACKOFF) && m.failures == 1,
           "first failure: offline once");
    a = cam_fsm_step (&m, CAM_IN_RETRY);
    CHECK (m.state == CAM_ST_CONNECTING && a == CAM_ACT_CONNECT, "retry");
    a = cam_fsm_step (&m, CAM_IN_WATCHDOG);
    CHECK (m.state == CAM_ST_BACKOFF && !(a & CAM_ACT_OFFLINE) && m.failures == 2,
           "second failure: no repeat");
    cam_fsm_step (&m, CAM_IN_RETRY);
    a = cam_fsm_step (&m, CAM_IN_FRAME);
    CHECK (m.state == CAM_ST_STREAMING && (a & CAM_ACT_ONLINE) && m.failures == 0 && m.ever_online, "online");
    CHECK (cam_fsm_step (&m, CAM_IN_FRAME) == 0 && m.state == CAM_ST_STREAMING, "frames: nothing to say");
    CHECK (cam_fsm_step (&m, CAM_IN_RETRY) == 0 && m.state == CAM_ST_STREAMING, "unexpected input ignored");
    a = cam_fsm_step (&m, CAM_IN_WATCHDOG);
    CHECK (m.state == CAM_ST_STALLED && a == CAM_ACT_STALLED, "stalled");
    a = cam_fsm_step (&m, CAM_IN_FRAME);
    CHECK (m.state == CAM_ST_STREAMING && (a & CAM_ACT_ONLINE), "recovered");
    cam_fsm_step (&m, CAM_IN_WATCHDOG);
    a = cam_fsm_step (&m, CAM_IN_WATCHDOG);
    CHECK (m.state == CAM_ST_BACKOFF && (a & CAM_ACT_OFFLINE) && (a & CAM_ACT_CLOSE), "stalled too long");
    a = cam_fsm_step (&m, CAM_IN_STOP);
    CHECK (m.state == CAM_ST_STOPPED && cam_fsm_step (&m, CAM_IN_RETRY) == 0, "stopped for good");
    for (int s = 0; s < CAM_ST_COUNT; s++)
        CHECK (strcmp (cam_state_name ((cam_state_t) s), "unknown"), "state name %d", s);

    //  Back-off: 0.5, 1, 2, 4 ... 30 s, +-20 %.
    CHECK (cam_backoff_ms (1, 500, 30000, 0.5) == 500 && cam_backoff_ms (2, 500, 30000, 0.5) == 1000
               && cam_backoff_ms (7, 500, 30000, 0.5) == 30000
               && cam_backoff_ms (100, 500, 30000, 0.5) == 30000,
           "doubling to the cap");
    CHECK (cam_backoff_ms (1, 500, 30000, 0) == 400 && cam_backoff_ms (1, 500, 30000, 0.999) >= 599
               && cam_backoff_ms (100, 500, 30000, 0.999) < 36000,
           "jitter bounds");

    //  The sink: two frames per camera, state notes always.
    cam_sink_t *sink = cam_sink_new ();
    CHECK (sink, "sink");
    if (!sink)
        return -1;
    cam_note_t n;
    memset (&n, 0, sizeof n);
    n.kind = CAM_NOTE_FRAME;
    n.slot = 3;
    int pushed = 0;
    for (int i = 0; i < 4; i++) {
        n.ppm = malloc (8);
        if (s_sink_push (sink, &n) == 0)
            pushed++;
        else
            free (n.ppm);
    }
    n.slot = 4;
    n.ppm = malloc (8);
    pushed += s_sink_push (sink, &n) == 0;
    n.kind = CAM_NOTE_STATE;
    n.ppm = NULL;
    pushed += s_sink_push (sink, &n) == 0;
    CHECK (pushed == 4 && cam_sink_size (sink) == 4, "sink bound per camera: %d", pushed);
    struct pollfd p = {cam_sink_fd (sink), POLLIN, 0};
    CHECK (poll (&p, 1, 0) == 1, "eventfd readable");
    cam_note_t out;
    int popped = 0;
    while (cam_sink_pop (sink, &out) == 1) {
        free (out.ppm);
        popped++;
    }
    CHECK (popped == 4 && poll (&p, 1, 0) == 0, "drained: %d", popped);
    n.kind = CAM_NOTE_FRAME;
    n.ppm = malloc (8);
    CHECK (s_sink_push (sink, &n) == 0, "left in the sink: freed by destroy");

    //  A camera nobody serves: refused, offline, backing off, probing; it
    //  stops at once when destroyed.
    cam_ingest_cfg_t cfg;
    cam_ingest_cfg_defaults (&cfg);
    cfg.id = "nobody";
    cfg.url = "rtsp://127.0.0.1:9/axis-media/media.amp";
    cfg.sink = sink;
    cfg.slot = 7;
    char err[128];
    cam_ingest_t *ing = cam_ingest_new (&cfg, err, sizeof err);
    CHECK (ing, "ingest: %s", err);
    bool offline = false;
    for (int i = 0; ing && i < 100 && !offline; i++) {
        usleep (20000);
        while (cam_sink_pop (sink, &out) == 1) {
            if (out.kind == CAM_NOTE_STATE && out.slot == 7 && (out.actions & CAM_ACT_OFFLINE))
                offline = strstr (out.reason, "connect") != NULL;
            free (out.ppm);
        }
    }
    CHECK (offline, "refused camera announced offline");
    cam_ingest_stats_t st;
    if (ing) {
        cam_ingest_stats (ing, &st);
        CHECK (st.state == CAM_ST_BACKOFF || st.state == CAM_ST_CONNECTING, "state %s",
               cam_state_name (st.state));
        if (verbose)
            printf ("  nobody: %s (%s), cpu %.1f ms\n", cam_state_name (st.state), st.reason,
                    st.thread_cpu_ns / 1e6);
    }
    uint64_t t0 = mw_now_ms ();
    cam_ingest_destroy (&ing);
    CHECK (ing == NULL && mw_now_ms () - t0 < 1000, "destroy within a second (%llu ms)",
           (unsigned long long) (mw_now_ms () - t0));
    //  A real stream when the caller has one (tests/camera/ingest_lo.sh):
    //  3 s at fps 5 from a 25 fps stream give 15 frames (first after connect).
    const char *url = getenv ("MW_TEST_RTSP_URL");
    if (url && *url) {
        cfg.url = url;
        cfg.id = "real";
        cfg.slot = 8;
        ing = cam_ingest_new (&cfg, err, sizeof err);
        uint64_t first = 0, t_end = mw_now_ms () + 10000;
        int frames = 0;
        while (ing && mw_now_ms () < t_end && (!first || mw_now_ms () < first + 3000)) {
            usleep (10000);
            while (cam_sink_pop (sink, &out) == 1) {
                if (out.kind == CAM_NOTE_FRAME && out.slot == 8) {
                    if (!first)
                        first = mw_now_ms ();
                    frames++;
                    CHECK (out.len == 15 + (size_t) out.width * out.height * 3 || out.width >= 1000,
                           "ppm size");
                }
                free (out.ppm);
            }
        }
        cam_ingest_stats (ing, &st);
        if (verbose)
            printf ("  %s: %d frames in 3 s, state %s, decoded %llu, %ux%u %s, cpu %.1f ms\n", url, frames,
                    cam_state_name (st.state), (unsigned long long) st.frames_decoded, st.width, st.height,
                    st.decoder, st.thread_cpu_ns / 1e6);
        //  By the stream's clock: every fifth frame of a 25 fps stream (the
        //  first burst after connecting is the server's buffer, not more).
        long want = (long) (st.frames_decoded + 4) / 5;
        CHECK (frames >= 14 && labs (frames - want) <= 1, "%d frames delivered of %llu decoded at fps 5",
               frames, (unsigned long long) st.frames_decoded);
        cam_ingest_destroy (&ing);
    }
    cfg.fps = 0;
    CHECK (!cam_ingest_new (&cfg, err, sizeof err), "bad settings refused");
    cam_sink_destroy (&sink);
    CHECK (sink == NULL, "sink destroy nulls");
    return rc;
}
