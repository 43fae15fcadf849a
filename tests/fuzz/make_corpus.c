/*  =========================================================================
    make_corpus - writes the fuzz seed corpus from the protocol's definition
    (gossip/wire_def.h, through the codec): one valid plaintext message of
    every type (NN-<type>.msg), the same sealed with the fuzz test key
    (NN-<type>.env), and for every type one encoding per fault of
    gossip_wire_encode_fault at a rotating field (NN-<type>-<fault>.msg), so
    that the fuzzer starts from inputs that reach deep into the decoder,
    past the envelope, and into each of its error paths.  Envelopes are
    sealed for the fuzz receiver id on the type's plane (beacons unbound on
    the beacon plane, job types on the data plane, the rest on the mesh
    plane).  A new message type
    or field gets its seeds without an edit here.  Small on purpose (a few
    hundred bytes a file; nothing over run-fuzz.sh's -max_len).

    Built by `make check` (tests/fuzz/make_corpus); run from the repository
    root:
        build/tests/fuzz/make_corpus tests/fuzz/corpus/wire
    The sealed files change on every run (random nonces); that is fine.
    ========================================================================= */
#include "gossip/crypto.h"
#include "gossip/sign.h"
#include "gossip/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define SEED_MAX     8192   //  run-fuzz.sh's -max_len
//  The receiver the envelopes are sealed for (tests/fuzz/fuzz_wire.c too).
static const mw_id_t FUZZ_TO = {{0xf0, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}};

static int
s_write (const char *dir, int type, const char *suffix, const char *ext, const uint8_t *data, size_t len)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%02d-%s%s.%s", dir, type, gossip_wire_type_name (type), suffix, ext);
    FILE *f = fopen (path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite (data, 1, len, f);
    if (fclose (f) != 0 || n != len)
        return -1;
    printf ("%s (%zu bytes)\n", path, len);
    return 0;
}

//  One encoding of each fault for msg, at the first field (from a position
//  that rotates with the fault) where that fault can be made.
static int
s_faults (const char *dir, const mw_msg_t *msg)
{
    const mw_wire_msg_def_t *def = gossip_wire_def (msg->type);
    for (int fault = MW_WIRE_FAULT_DROP; fault < MW_WIRE_FAULT_COUNT; fault++) {
        //  Candidates: the whole message, magic/version/type, each body
        //  field and each field of a list's elements.
        const char *paths[64];
        char names[64][48];
        size_t n = 0;
        paths[n++] = NULL;
        paths[n++] = "magic";
        paths[n++] = "version";
        paths[n++] = "type";
        for (uint32_t i = 0; i < def->n_fields && n < 64; i++) {
            const mw_wire_field_t *f = &def->fields[i];
            snprintf (names[n], sizeof names[n], "%s", f->name);
            paths[n] = names[n];
            n++;
            for (uint32_t k = 0; f->kind == MW_WIRE_LIST && k < f->rec->n_fields && n < 64; k++) {
                snprintf (names[n], sizeof names[n], "%s.%s", f->name, f->rec->fields[k].name);
                paths[n] = names[n];
                n++;
            }
        }
        for (size_t k = 0; k < n; k++) {
            const char *path = paths[(k + (size_t) fault * 3 + msg->type) % n];
            uint8_t *plain = NULL;
            size_t len = 0;
            int rc = gossip_wire_encode_fault (msg, path, (mw_wire_fault_kind_t) fault, &plain, &len);
            if (rc == 0 && len <= SEED_MAX) {
                char suffix[80];
                snprintf (suffix, sizeof suffix, "-%s-%s",
                          gossip_wire_fault_name ((mw_wire_fault_kind_t) fault), path ? path : "message");
                rc = s_write (dir, msg->type, suffix, "msg", plain, len);
                free (plain);
                if (rc != 0)
                    return -1;
                break;
            }
            free (plain);
            if (rc != 0 && rc != MW_WIRE_ENOFAULT)
                return -1;
        }
    }
    return 0;
}

//  The same message signed as a real sender would (gossip/sign.h): each
//  record by its signer (its own key attached for alive/left), an election
//  message for the fuzz receiver, so that the fuzzer also starts from
//  inputs whose signatures verify (NN-<type>-signed.msg).
static int
s_signed (const char *dir, mw_msg_t *msg)
{
    if (!msg->updates && !gossip_sign_msg_needed (msg->type))
        return 0;
    gossip_identity_t who[4];
    for (int i = 0; i < 4; i++) {
        uint8_t seed[32] = {(uint8_t) (0x51 + i), (uint8_t) msg->type};
        if (gossip_identity_from_seed (seed, &who[i]) != 0)
            return -1;
    }
    for (uint32_t i = 0; msg->updates && i < msg->n_updates; i++) {
        mw_update_t *u = &msg->updates[i];
        const gossip_identity_t *me = &who[i % 3];
        u->state = (uint8_t) (i % MW_STATE_COUNT);
        u->id = me->id;
        if (u->state == MW_STATE_ALIVE || u->state == MW_STATE_LEFT) {
            u->from = me->id;
            memcpy (u->pk, me->pk, MW_PK_MAX);
            u->pk_len = MW_PK_MAX;
        }
        else {
            u->id = who[3].id;   //  a verdict on someone else, by `me`
            u->from = me->id;
            u->pk_len = 0;
        }
        if (gossip_sign_record (me, u) != 0)
            return -1;
    }
    if (gossip_sign_msg_needed (msg->type)) {
        msg->sender = who[0].id;
        if (gossip_sign_msg (&who[0], &FUZZ_TO, msg) != 0)
            return -1;
    }
    uint8_t *plain = NULL;
    size_t len = 0;
    int rc = gossip_wire_encode (msg, &plain, &len);
    if (rc == 0 && len <= SEED_MAX)
        rc = s_write (dir, msg->type, "-signed", "msg", plain, len);
    free (plain);
    return rc;
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
    int rc = 0;
    for (int type = 1; type <= MW_MSG_TYPE_MAX && rc == 0; type++) {
        //  Short strings, three list elements (two boxes' worth of a
        //  result, three updates), seeded values within every limit.
        mw_msg_t msg;
        rc = gossip_wire_msg_fill (&msg, type, 12, 3, 0x6d77 + (uint64_t) type);
        if (rc != 0)
            break;
        if (msg.job) {
            //  A model the fuzz target's runner has, so that a decoded job
            //  goes on into the job state machine rather than a refusal.
            snprintf (msg.job->model, sizeof msg.job->model, "tiny-face");
        }
        uint8_t *plain = NULL, *env = NULL;
        size_t plain_len = 0, env_len = 0;
        rc = gossip_wire_encode (&msg, &plain, &plain_len);
        if (rc == 0)
            rc = s_write (argv[1], type, "", "msg", plain, plain_len);
        if (rc == 0)
            rc = gossip_crypto_seal (ring, type == MW_MSG_BEACON ? NULL : &FUZZ_TO,
                                     type == MW_MSG_BEACON            ? MW_PLANE_BEACON
                                     : gossip_wire_is_job_type (type) ? MW_PLANE_DATA
                                                                      : MW_PLANE_MESH,
                                     plain, plain_len, &env, &env_len);
        if (rc == 0)
            rc = s_write (argv[1], type, "", "env", env, env_len);
        if (rc == 0)
            rc = s_faults (argv[1], &msg);
        if (rc == 0 && !msg.job)
            rc = s_signed (argv[1], &msg);
        free (plain);
        free (env);
        gossip_wire_msg_clear (&msg);
    }
    gossip_keyring_destroy (&ring);
    if (rc)
        fprintf (stderr, "make_corpus: failed (%d)\n", rc);
    return rc ? 1 : 0;
}
