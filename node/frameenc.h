/*  =========================================================================
    node_frameenc - raw camera frames to JPEG, off the event loop.

    A camera's frame stays raw RGB (a P6 PPM) on its own box: the local
    runner reads the pixels directly.  Only when the hand-off sends it to a
    peer or to the analysis server does it need to be small, and JPEG
    encoding a 720p frame costs ~5-10 ms of CPU: more than the loop may
    spend on one message.  This module owns one thread that encodes with
    libturbojpeg and returns the JPEG through an inproc socket the loop
    polls, as the runner returns its completions:

        node_frameenc_t *e = node_frameenc_new (90, 32);
        node_frameenc_submit (e, tag, &ppm, len);   //  takes the frame
        ...   //  node_frameenc_sock (e) readable:
        node_frameenc_result_t r;
        while (node_frameenc_recv (e, &r) == 1)
            send (r.tag, r.jpeg, r.len), free (r.jpeg);

    The queue is bounded: submit refuses (-1) when `max_pending` frames
    wait, and the caller's own timeouts take over (a hand-off that never
    reaches its runner is placed again).
    ========================================================================= */
#ifndef NODE_FRAMEENC_H_INCLUDED
#define NODE_FRAMEENC_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _node_frameenc_t node_frameenc_t;

//  quality 1..100; max_pending >= 1.  NULL on failure.
node_frameenc_t *node_frameenc_new (int quality, size_t max_pending);
//  Stop and join the thread; frames waiting and unread results are freed.
void node_frameenc_destroy (node_frameenc_t **self_p);
//  Encode *ppm_p (a P6 PPM, malloc'ed): taken and nulled on success (0);
//  left with the caller when the queue is full or the arguments are bad (-1).
int node_frameenc_submit (node_frameenc_t *self, uint64_t tag, uint8_t **ppm_p, size_t len);

typedef struct {
    uint64_t tag;
    int status;      //  0 ok, -1 failed (not a P6 frame, encoder error)
    uint8_t *jpeg;   //  malloc'ed, the caller's (NULL when failed)
    size_t len;
    double ms;   //  encoding time
} node_frameenc_result_t;

zsock_t *node_frameenc_sock (node_frameenc_t *self);
//  1 with a result, 0 when none is ready.  Never blocks.
int node_frameenc_recv (node_frameenc_t *self, node_frameenc_result_t *out);
//  Frames waiting or being encoded.
size_t node_frameenc_pending (node_frameenc_t *self);

int node_frameenc_test (bool verbose);

#endif
