/*  =========================================================================
    cam_decode - decoder backends (see cam_decode.h).
    ========================================================================= */
#include "camera/cam_decode.h"
#include "common/selftest.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _cam_decoder_t {
    AVCodecContext *ctx;
    char name[64];
};

//  A backend finds the libavcodec decoder for a codec id, or NULL.
typedef struct {
    const char *name;
    const AVCodec *(*find) (enum AVCodecID id);
} backend_t;

static const AVCodec *
s_find_cpu (enum AVCodecID id)
{
    //  The first registered decoder for the id is the software one in a
    //  stock build; skip hardware wrappers if a build lists them first.
    void *it = NULL;
    const AVCodec *c;
    while ((c = av_codec_iterate (&it)))
        if (av_codec_is_decoder (c) && c->id == id && !(c->capabilities & AV_CODEC_CAP_HARDWARE))
            return c;
    return avcodec_find_decoder (id);
}

static const AVCodec *
s_find_nvv4l2 (enum AVCodecID id)
{
    switch (id) {
    case AV_CODEC_ID_H264: return avcodec_find_decoder_by_name ("h264_nvv4l2dec");
    case AV_CODEC_ID_HEVC: return avcodec_find_decoder_by_name ("hevc_nvv4l2dec");
    default: return NULL;
    }
}

static const backend_t s_backends[] = {
    {"nvv4l2", s_find_nvv4l2},
    {"cpu", s_find_cpu},
};
#define N_BACKENDS (sizeof s_backends / sizeof s_backends[0])

bool
cam_decoder_known (const char *name)
{
    if (name && !strcmp (name, "auto"))
        return true;
    for (size_t i = 0; name && i < N_BACKENDS; i++)
        if (!strcmp (s_backends[i].name, name))
            return true;
    return false;
}

cam_decoder_t *
cam_decoder_open (const char *backend, const AVCodecParameters *par, int threads, char *err, size_t errlen)
{
    assert (backend && par && err);
    bool any = !strcmp (backend, "auto");
    const AVCodec *codec = NULL;
    const char *used = NULL;
    for (size_t i = 0; i < N_BACKENDS && !codec; i++)
        if (any || !strcmp (s_backends[i].name, backend)) {
            codec = s_backends[i].find (par->codec_id);
            used = s_backends[i].name;
        }
    if (!codec) {
        snprintf (err, errlen, "no %s decoder for %s in this FFmpeg", backend,
                  avcodec_get_name (par->codec_id));
        return NULL;
    }
    cam_decoder_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->ctx = avcodec_alloc_context3 (codec);
    int rc = self->ctx ? avcodec_parameters_to_context (self->ctx, par) : AVERROR (ENOMEM);
    if (rc >= 0) {
        self->ctx->thread_count = threads > 0 ? threads : 1;
        //  Frame threads add a frame of latency each; slices do not.
        self->ctx->thread_type = FF_THREAD_SLICE;
        rc = avcodec_open2 (self->ctx, codec, NULL);
    }
    if (rc < 0) {
        char e[AV_ERROR_MAX_STRING_SIZE];
        av_strerror (rc, e, sizeof e);
        snprintf (err, errlen, "cannot open the %s decoder %s: %s", used, codec->name, e);
        cam_decoder_close (&self);
        return NULL;
    }
    snprintf (self->name, sizeof self->name, "%s/%s", used, codec->name);
    return self;
}

void
cam_decoder_close (cam_decoder_t **self_p)
{
    assert (self_p);
    cam_decoder_t *self = *self_p;
    if (!self)
        return;
    avcodec_free_context (&self->ctx);
    free (self);
    *self_p = NULL;
}

const char *
cam_decoder_name (cam_decoder_t *self)
{
    return self->name;
}

void
cam_decoder_keyframes_only (cam_decoder_t *self, bool on)
{
    self->ctx->skip_frame = on ? AVDISCARD_NONKEY : AVDISCARD_DEFAULT;
}

int
cam_decoder_send (cam_decoder_t *self, const AVPacket *pkt)
{
    return avcodec_send_packet (self->ctx, pkt);
}

int
cam_decoder_receive (cam_decoder_t *self, AVFrame *frame)
{
    return avcodec_receive_frame (self->ctx, frame);
}

//  --------------------------------------------------------------------------
//  Selftest: the backends table, and a real H.264 decode of frames encoded
//  here with whatever H.264 encoder this FFmpeg has (libx264 on Debian).

int
cam_decode_test (bool verbose)
{
    int rc = 0;
    char err[256];
    av_log_set_level (verbose ? AV_LOG_INFO : AV_LOG_ERROR);
    CHECK (cam_decoder_known ("auto") && cam_decoder_known ("cpu") && cam_decoder_known ("nvv4l2")
               && !cam_decoder_known ("gpu") && !cam_decoder_known (NULL),
           "known backends");
    AVCodecParameters *par = avcodec_parameters_alloc ();
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    par->width = 64;
    par->height = 48;
    cam_decoder_t *d = cam_decoder_open ("cpu", par, 1, err, sizeof err);
    CHECK (d && !strcmp (cam_decoder_name (d), "cpu/h264"), "cpu h264: %s", d ? cam_decoder_name (d) : err);
    //  Here (no Jetson FFmpeg) the hardware backend is missing, said so.
    cam_decoder_t *hw = cam_decoder_open ("nvv4l2", par, 1, err, sizeof err);
    CHECK (!hw && strstr (err, "no nvv4l2 decoder for h264"), "nvv4l2 here: %s", err);
    cam_decoder_close (&hw);
    cam_decoder_t *au = cam_decoder_open ("auto", par, 1, err, sizeof err);
    CHECK (au && strstr (cam_decoder_name (au), "/h264"), "auto: %s", au ? cam_decoder_name (au) : err);
    if (verbose && au)
        printf ("  auto picked %s\n", cam_decoder_name (au));
    cam_decoder_close (&au);
    par->codec_id = AV_CODEC_ID_NONE;
    CHECK (!cam_decoder_open ("cpu", par, 1, err, sizeof err), "no codec");

    //  Encode 10 frames (GOP 5) and decode them back, all and keyframes only.
    const AVCodec *enc = avcodec_find_encoder (AV_CODEC_ID_H264);
    if (!enc || !d) {
        printf ("  no H.264 encoder: decode round trip skipped\n");
        cam_decoder_close (&d);
        avcodec_parameters_free (&par);
        return rc;
    }
    AVCodecContext *ec = avcodec_alloc_context3 (enc);
    ec->width = 64;
    ec->height = 48;
    ec->pix_fmt = AV_PIX_FMT_YUV420P;
    ec->time_base = (AVRational){1, 25};
    ec->gop_size = 5;
    ec->max_b_frames = 0;
    CHECK (avcodec_open2 (ec, enc, NULL) == 0, "encoder");
    AVFrame *f = av_frame_alloc ();
    f->format = AV_PIX_FMT_YUV420P;
    f->width = 64;
    f->height = 48;
    av_frame_get_buffer (f, 0);
    AVPacket *pkts[32];
    int np = 0;
    AVPacket *p = av_packet_alloc ();
    for (int i = 0; i <= 10; i++) {
        if (i < 10) {
            av_frame_make_writable (f);
            for (int y = 0; y < 48; y++)
                memset (f->data[0] + y * f->linesize[0], (i * 20 + y) & 0xff, 64);
            memset (f->data[1], 128, (size_t) f->linesize[1] * 24);
            memset (f->data[2], 128, (size_t) f->linesize[2] * 24);
            f->pts = i;
        }
        avcodec_send_frame (ec, i < 10 ? f : NULL);
        while (avcodec_receive_packet (ec, p) == 0 && np < 32) {
            pkts[np++] = av_packet_clone (p);
            av_packet_unref (p);
        }
    }
    int all = 0, keys = 0;
    par->codec_id = AV_CODEC_ID_H264;
    for (int pass = 0; pass < 2; pass++) {
        cam_decoder_t *dd = cam_decoder_open ("cpu", par, 1, err, sizeof err);
        if (!dd)
            break;
        cam_decoder_keyframes_only (dd, pass == 1);
        AVFrame *out = av_frame_alloc ();
        int n = 0;
        for (int i = 0; i <= np; i++) {
            cam_decoder_send (dd, i < np ? pkts[i] : NULL);
            while (cam_decoder_receive (dd, out) == 0)
                n++;
        }
        av_frame_free (&out);
        cam_decoder_close (&dd);
        if (pass == 0)
            all = n;
        else
            keys = n;
    }
    CHECK (np == 10 && all == 10 && keys == 2, "decoded %d of %d packets, %d keyframes only (want 10, 2)",
           all, np, keys);
    for (int i = 0; i < np; i++)
        av_packet_free (&pkts[i]);
    av_packet_free (&p);
    av_frame_free (&f);
    avcodec_free_context (&ec);
    cam_decoder_close (&d);
    CHECK (d == NULL, "close nulls");
    avcodec_parameters_free (&par);
    return rc;
}
