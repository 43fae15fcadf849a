/*  =========================================================================
    make_corpus - writes the fuzz seed corpus: one valid plaintext message
    of every type (NN-<type>.msg) and the same sealed with the fuzz test key
    (NN-<type>.env, for the fuzz receiver id on the type's plane: beacons
    unbound on the beacon plane, job types on the data plane, the rest on
    the mesh plane), so the fuzzer starts from inputs that reach deep into
    the decoder and past the envelope.  Small on purpose (a few KB in all).

    Build and run from the repository root:
        cc -std=gnu11 -D_GNU_SOURCE -I. tests/fuzz/make_corpus.c gossip/wire.c \
           gossip/crypto.c common/log.c -lmsgpackc -lsodium -lpthread -o /tmp/make_corpus
        /tmp/make_corpus tests/fuzz/corpus/wire
    The sealed files change on every run (random nonces); that is fine.
    ========================================================================= */
#include "gossip/crypto.h"
#include "gossip/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
//  The receiver the envelopes are sealed for (tests/fuzz/fuzz_wire.c too).
static const mw_id_t FUZZ_TO = {{0xf0, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}};

static int
s_write (const char *dir, int type, const char *ext, const uint8_t *data, size_t len)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%02d-%s.%s", dir, type, gossip_wire_type_name (type), ext);
    FILE *f = fopen (path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite (data, 1, len, f);
    if (fclose (f) != 0 || n != len)
        return -1;
    printf ("%s (%zu bytes)\n", path, len);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: make_corpus DIR\n");
        return 1;
    }
    gossip_keyring_t *ring = gossip_keyring_new (FUZZ_KEY_B64);
    if (!ring)
        return 1;
    mw_update_t updates[3];
    memset (updates, 0, sizeof updates);
    for (int i = 0; i < 3; i++) {
        mw_update_t *u = &updates[i];
        for (int k = 0; k < MW_ID_LEN; k++) {
            u->id.b[k] = (uint8_t) (0x10 * i + k);
            u->from.b[k] = (uint8_t) (0xa0 + k);
        }
        snprintf (u->name, sizeof u->name, "cam-%d", i);
        snprintf (u->addr, sizeof u->addr, "tcp://10.0.0.%d:5670", 10 + i);
        u->state = (uint8_t) (i % MW_STATE_COUNT);
        u->incarnation = 1000u * (unsigned) i + 1;
        u->digest_len = (uint16_t) (i * 4);
        for (int k = 0; k < u->digest_len; k++)
            u->digest[k] = (uint8_t) (k * 17);
    }
    //  Job bodies: a small fake JPEG keeps the JOB seed under run-fuzz.sh's
    //  -max_len; the 4 MiB case is the wire selftest's.
    uint8_t frame[200];
    for (size_t k = 0; k < sizeof frame; k++)
        frame[k] = (uint8_t) (k * 37);
    frame[0] = 0xff, frame[1] = 0xd8, frame[2] = 0xff;   //  JPEG SOI
    mw_wire_box_t boxes[3] = {{100000, 200000, 50000, 80000, 910000},
                              {0, 0, MW_FIXED_ONE, MW_FIXED_ONE, 420000},
                              {999999, 1, 1, 999999, MW_FIXED_ONE}};
    int rc = 0;
    for (int type = 1; type <= MW_MSG_TYPE_MAX && rc == 0; type++) {
        mw_msg_t msg;
        memset (&msg, 0, sizeof msg);
        msg.type = (uint8_t) type;
        for (int k = 0; k < MW_ID_LEN; k++)
            msg.sender.b[k] = (uint8_t) (0xf0 + k);
        msg.session = 1700000000000ULL;
        msg.seq = 42;
        msg.ts_ms = 1700000012345ULL;
        switch (type) {
        case MW_MSG_BEACON:
            strcpy (msg.cluster, "site-a");
            strcpy (msg.name, "cam-0");
            strcpy (msg.addr, "tcp://10.0.0.10:5670");
            break;
        case MW_MSG_PING:
        case MW_MSG_PING_REQ:
            msg.probe = 7;
            msg.target = updates[1].id;
            strcpy (msg.addr, "tcp://10.0.0.10:5670");
            if (type == MW_MSG_PING_REQ)
                strcpy (msg.target_addr, "tcp://[fd00::11]:5670");
            break;
        case MW_MSG_ACK:
        case MW_MSG_NACK: msg.probe = 70000; break;
        case MW_MSG_PUSH_PULL: msg.join = 1; break;
        case MW_MSG_HEARTBEAT:
            msg.term = 7;
            msg.lease_ms = 400;
            msg.rank = 1100;
            break;
        case MW_MSG_VOTE_REQ:
            msg.term = 8;
            msg.pre = 1;
            msg.rank = 1100;
            break;
        case MW_MSG_VOTE:
            msg.term = 8;
            msg.granted = 1;
            msg.coordinator = updates[2].id;
            msg.rank = 1100;   //  the ballot granted: (8, 1100, updates[1])
            msg.ballot = updates[1].id;
            break;
        default: break;
        }
        //  Election messages carry no updates (the decoder refuses them).
        if (type != MW_MSG_BEACON && type < MW_MSG_HEARTBEAT) {
            msg.updates = updates;
            msg.n_updates = type >= MW_MSG_PUSH_PULL ? 3 : 2;
        }
        mw_job_t job;
        memset (&job, 0, sizeof job);
        if (gossip_wire_is_job_type (type)) {
            for (int k = 0; k < MW_JOBID_LEN; k++)
                job.id.b[k] = (uint8_t) (0x30 + k);
            strcpy (job.model, "tiny-face");
            job.deadline_ms = 800;
            job.priority = 5;
            if (type == MW_MSG_JOB_OFFER || type == MW_MSG_JOB)
                strcpy (msg.addr, "tcp://10.0.0.10:5680");   //  reply-to
            if (type == MW_MSG_JOB_OFFER)
                job.frame_len = 48000;
            if (type == MW_MSG_JOB) {
                strcpy (job.camera, "cam-0/front");
                job.frame = frame;
                job.frame_len = sizeof frame;
            }
            if (type == MW_MSG_JOB_REPLY) {
                job.status = 0;
                job.wait_ms = 350;
                strcpy (job.reason, "queue full");
            }
            if (type == MW_MSG_JOB_RESULT) {
                job.kind = MW_JOB_KIND_ESCALATE;
                job.queue_ms = 12;
                job.infer_ms = 85;
                job.width = 1280;
                job.height = 720;
                job.confidence = 590000;
                job.boxes = boxes;
                job.n_boxes = 3;
            }
            msg.job = &job;
        }
        uint8_t *plain = NULL, *env = NULL;
        size_t plain_len = 0, env_len = 0;
        rc = gossip_wire_encode (&msg, &plain, &plain_len);
        if (rc == 0)
            rc = s_write (argv[1], type, "msg", plain, plain_len);
        if (rc == 0)
            rc = gossip_crypto_seal (ring, type == MW_MSG_BEACON ? NULL : &FUZZ_TO,
                                     type == MW_MSG_BEACON            ? MW_PLANE_BEACON
                                     : gossip_wire_is_job_type (type) ? MW_PLANE_DATA
                                                                      : MW_PLANE_MESH,
                                     plain, plain_len, &env, &env_len);
        if (rc == 0)
            rc = s_write (argv[1], type, "env", env, env_len);
        free (plain);
        free (env);
    }
    gossip_keyring_destroy (&ring);
    if (rc)
        fprintf (stderr, "make_corpus: failed (%d)\n", rc);
    return rc ? 1 : 0;
}
