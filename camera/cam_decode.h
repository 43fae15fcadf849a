/*  =========================================================================
    cam_decode - the video decoder behind a small interface, so that the
    same ingest runs on a CPU (libavcodec's software decoders, the one
    tested here) and on a Jetson (the L4T FFmpeg's V4L2 hardware decoders,
    `h264_nvv4l2dec` / `hevc_nvv4l2dec`, which deliver NV12 frames that the
    ingest converts like any other pixel format).

        cam_decoder_t *d = cam_decoder_open ("auto", stream->codecpar, 1, err, sizeof err);
        cam_decoder_keyframes_only (d, true);      //  idle mode
        cam_decoder_send (d, pkt);
        while (cam_decoder_receive (d, frame) == 0) ...
        cam_decoder_close (&d);

    Backends: "cpu" (avcodec_find_decoder by codec id), "nvv4l2" (the
    hardware decoder by name; open fails when this FFmpeg has none), and
    "auto" (nvv4l2 when this FFmpeg has it, else cpu).  Adding one is a row
    in the table in cam_decode.c.
    ========================================================================= */
#ifndef CAM_DECODE_H_INCLUDED
#define CAM_DECODE_H_INCLUDED

#include <libavcodec/avcodec.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _cam_decoder_t cam_decoder_t;

//  Is `name` a backend ("auto", "cpu", "nvv4l2")?
bool cam_decoder_known (const char *name);
//  A decoder for the stream.  threads: libavcodec's decoding threads (1 =
//  none of its own).  NULL with the reason in err.
cam_decoder_t *cam_decoder_open (const char *backend, const AVCodecParameters *par, int threads, char *err,
                                 size_t errlen);
void cam_decoder_close (cam_decoder_t **self_p);
//  The backend and codec actually used ("cpu/h264").
const char *cam_decoder_name (cam_decoder_t *self);
//  Skip everything but keyframes before decoding (idle mode), or not.
void cam_decoder_keyframes_only (cam_decoder_t *self, bool on);
//  libavcodec's send/receive contract: 0, AVERROR(EAGAIN), AVERROR_EOF or
//  another negative AVERROR.
int cam_decoder_send (cam_decoder_t *self, const AVPacket *pkt);
int cam_decoder_receive (cam_decoder_t *self, AVFrame *frame);

int cam_decode_test (bool verbose);

#endif
