/*  =========================================================================
    fuzz_wire - libFuzzer target for everything a peer's bytes reach before
    they are trusted: gossip_crypto_open and gossip_wire_decode, then the
    node-key signature checks (gossip/sign.h) on what decoded.

    Each input goes three ways:
      1. straight into the decoder (the plaintext parser is the big attack
         surface, and only authenticated bytes reach it in production, but a
         key holder gone bad, or a bug in the envelope, must not be able to
         crash the others);
      2. into gossip_crypto_open with a fixed test key and receiver id, on
         each plane, then the decoder (the seed corpus holds envelopes
         sealed with that key for that id);
      3. sealed with the test key and opened again, which must give the
         input back.
    Whatever decodes must re-encode and decode to the same message: the
    decoder must never accept what the encoder would refuse.  A decoded job
    message then goes on, as a peer's would, into the job state machine
    (scheduler/handoff.c) of an edge box and of an analysis server, with
    timers run far past every deadline: nothing a peer sends may crash it
    or leak.

    Built two ways:
      clang -fsanitize=fuzzer,address,undefined ...     (tests/fuzz/run-fuzz.sh)
      cc -DMW_FUZZ_REPLAY ...   a plain main () that runs every file of the
                                directories (or files) given through the same
                                entry, so `make check` replays the corpus
                                under ASan without libFuzzer.
    ========================================================================= */
#include "gossip/crypto.h"
#include "gossip/sign.h"
#include "gossip/wire.h"
#include "node/msgmap.h"
#include "scheduler/handoff.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Test key: bytes 0..31.  Also used by tests/fuzz/make_corpus.c.
#define FUZZ_KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
//  Receiver id of the corpus envelopes.  Also in tests/fuzz/make_corpus.c.
static const mw_id_t FUZZ_TO = {{0xf0, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}};

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gossip_keyring_t *s_keyring;

//  The state machine's world, all of it fake and silent: sends succeed,
//  the runner finishes at once (with a result) so that both sides run.
static int
s_fz_send (void *ctx, const char *addr, const handoff_msg_t *msg)
{
    (void) ctx, (void) addr, (void) msg;
    return 0;
}
static uint64_t s_fz_tag;
static bool s_fz_started;
static int
s_fz_start (void *ctx, uint64_t tag, const char *model, const uint8_t *frame, size_t len)
{
    (void) ctx, (void) model, (void) frame, (void) len;
    s_fz_tag = tag;
    s_fz_started = true;
    return 0;
}
static bool
s_fz_has_model (void *ctx, const char *model)
{
    (void) ctx;
    return strcmp (model, "tiny-face") == 0 || strcmp (model, "ssd-mobilenet") == 0;
}
static double
s_fz_svc (void *ctx, const char *model)
{
    (void) ctx, (void) model;
    return 10;
}

static void
s_handoff (const mw_msg_t *msg)
{
    static const mw_id_t self_id = {{1, 2, 3, 4, 5, 6, 7, 8}};
    handoff_ops_t ops = {s_fz_send, s_fz_start, s_fz_has_model, s_fz_svc, NULL, NULL};
    for (int server = 0; server < 2; server++) {
        handoff_cfg_t cfg;
        handoff_cfg_defaults (&cfg);
        cfg.server = server;
        cfg.has_server = !server;
        sched_handoff_t *h = sched_handoff_new (&cfg, &self_id, "tcp://10.0.0.1:7948", &ops);
        if (!h)
            abort ();
        if (!server) {
            sched_handoff_set_server (h, "tcp://10.0.0.9:8080");
            //  An origin job with the message's id, so that REPLY and RESULT
            //  for it reach the origin's code paths.
            uint8_t *frame = (uint8_t *) malloc (16);
            if (frame && msg->job) {
                memset (frame, 0xff, 16);
                sched_handoff_submit (h, &msg->job->id, "cam", "nope", 500, 1, &frame, 16, 1000, NULL, 0);
            }
            free (frame);
        }
        s_fz_started = false;
        //  What the daemon hands the state machine (node/jobs.c).
        handoff_msg_t hm;
        bool is_job = node_msgmap_handoff_from_wire (msg, &hm) == 0;
        for (uint64_t t = 1000; t < 20000; t += 1000) {
            if (is_job)
                sched_handoff_handle (h, &hm, t);
            sched_handoff_tick (h, t);
            if (s_fz_started) {
                mw_wire_box_t box = {1, 2, 3, 4, 5};
                handoff_local_result_t r = {0, NULL, 64, 48, 3.0, 1, &box, 5};
                sched_handoff_local_done (h, s_fz_tag, &r, t);
                s_fz_started = false;
            }
        }
        sched_handoff_destroy (&h);
    }
}

//  A mismatch of the round-trip property is a bug: abort so that the
//  fuzzer records the input.
static void
s_roundtrip (const mw_msg_t *msg)
{
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    if (gossip_wire_encode (msg, &enc, &enc_len) != 0)
        abort ();
    mw_msg_t back;
    if (gossip_wire_decode (enc, enc_len, &back) != 0)
        abort ();
    uint8_t *enc2 = NULL;
    size_t enc2_len = 0;
    if (gossip_wire_encode (&back, &enc2, &enc2_len) != 0)
        abort ();
    //  Canonical encoding: the second encoding is byte for byte the first.
    if (enc_len != enc2_len || memcmp (enc, enc2, enc_len) != 0)
        abort ();
    if (back.type != msg->type || back.n_updates != msg->n_updates || back.seq != msg->seq)
        abort ();
    //  A job body exactly where the type says, with what it owns intact.
    if ((back.job != NULL) != gossip_wire_is_job_type (back.type) || (msg->job != NULL) != (back.job != NULL))
        abort ();
    if (back.job
        && (back.job->frame_len != msg->job->frame_len || back.job->n_boxes != msg->job->n_boxes
            || (back.job->frame && memcmp (back.job->frame, msg->job->frame, back.job->frame_len) != 0)))
        abort ();
    free (enc);
    free (enc2);
    gossip_wire_msg_clear (&back);
}

//  The node-key signature checks (gossip/sign.h) on what a peer sent: a
//  record's canonical bytes are built from its decoded fields, a message's
//  by re-encoding it; neither may crash on any decoded input.  Checked
//  under a fixed key (nothing verifies, which is the point: the paths up
//  to the verification run) and under the record's own carried key.
static void
s_signatures (const mw_msg_t *msg)
{
    static const uint8_t pk[GOSSIP_PK_LEN] = {1};
    if (gossip_sign_msg_needed (msg->type) && gossip_sign_msg_verify (pk, &FUZZ_TO, msg))
        abort ();   //  a signature under a key nobody holds
    uint32_t n = msg->n_updates < MW_MAX_MEMBERS ? msg->n_updates : MW_MAX_MEMBERS;
    for (uint32_t i = 0; msg->updates && i < n; i++) {
        const mw_update_t *u = &msg->updates[i];
        (void) gossip_sign_record_signer (u);
        if (gossip_sign_record_verify (pk, u))
            abort ();
        if (gossip_sign_pk_ok (u->pk, u->pk_len, &u->id))
            (void) gossip_sign_record_verify (u->pk, u);   //  (the -signed seeds verify here)
    }
}

static void
s_decode (const uint8_t *data, size_t size)
{
    mw_msg_t msg;
    int rc = gossip_wire_decode (data, size, &msg);
    if (rc > 0 || rc < MW_WIRE_ENOMEM)
        abort ();
    if (rc == 0) {
        s_roundtrip (&msg);
        s_signatures (&msg);
        if (msg.job)
            s_handoff (&msg);
    }
    else if (msg.updates || msg.n_updates || msg.job)
        abort ();   //  a failed decode leaves nothing behind
    gossip_wire_msg_clear (&msg);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_keyring) {
        s_keyring = gossip_keyring_new (FUZZ_KEY_B64);
        if (!s_keyring)
            abort ();
    }
    s_decode (data, size);

    uint8_t *plain = NULL;
    size_t plain_len = 0;
    for (uint8_t plane = MW_PLANE_MESH; plane <= MW_PLANE_BEACON; plane++)
        if (gossip_crypto_open (s_keyring, &FUZZ_TO, plane, data, size, &plain, &plain_len, NULL) == 0) {
            s_decode (plain, plain_len);
            free (plain);
        }

    uint8_t *env = NULL;
    size_t env_len = 0;
    if (size <= MW_JOB_MSG_MAX) {
        if (gossip_crypto_seal (s_keyring, &FUZZ_TO, MW_PLANE_MESH, data, size, &env, &env_len) != 0)
            abort ();
        if (gossip_crypto_open (s_keyring, &FUZZ_TO, MW_PLANE_MESH, env, env_len, &plain, &plain_len, NULL)
                != 0
            || plain_len != size || (size && memcmp (plain, data, size) != 0))
            abort ();
        free (plain);
        free (env);
    }
    return 0;
}

#ifdef MW_FUZZ_REPLAY
#include <dirent.h>
#include <sys/stat.h>

static int
s_run_file (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        fprintf (stderr, "fuzz_wire_replay: cannot open %s\n", path);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nbuf = (uint8_t *) realloc (buf, cap);
            if (!nbuf) {
                free (buf);
                fclose (f);
                return -1;
            }
            buf = nbuf;
        }
        size_t n = fread (buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose (f);
    //  An exact-size copy, so the sanitizer sees a read one past the end.
    uint8_t *exact = (uint8_t *) malloc (len ? len : 1);
    if (!exact) {
        free (buf);
        return -1;
    }
    memcpy (exact, buf, len);
    free (buf);
    LLVMFuzzerTestOneInput (exact, len);
    free (exact);
    return 0;
}

int
main (int argc, char **argv)
{
    int files = 0, errors = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat (argv[i], &st) != 0) {
            fprintf (stderr, "fuzz_wire_replay: %s: not found\n", argv[i]);
            errors++;
            continue;
        }
        if (!S_ISDIR (st.st_mode)) {
            errors += s_run_file (argv[i]) != 0;
            files++;
            continue;
        }
        DIR *dir = opendir (argv[i]);
        if (!dir) {
            errors++;
            continue;
        }
        struct dirent *ent;
        while ((ent = readdir (dir))) {
            if (ent->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf (path, sizeof path, "%s/%s", argv[i], ent->d_name);
            if (stat (path, &st) != 0 || !S_ISREG (st.st_mode))
                continue;
            errors += s_run_file (path) != 0;
            files++;
        }
        closedir (dir);
    }
    gossip_keyring_destroy (&s_keyring);
    printf ("fuzz_wire_replay: %d inputs, %d errors\n", files, errors);
    return errors || files == 0 ? 1 : 0;
}
#endif
