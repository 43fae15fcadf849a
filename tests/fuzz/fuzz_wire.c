/*  =========================================================================
    fuzz_wire - libFuzzer target for everything a peer's bytes reach before
    they are trusted: gossip_crypto_open and gossip_wire_decode.

    Each input goes three ways:
      1. straight into the decoder (the plaintext parser is the big attack
         surface, and only authenticated bytes reach it in production, but a
         key holder gone bad, or a bug in the envelope, must not be able to
         crash the others);
      2. into gossip_crypto_open with a fixed test key, then the decoder
         (the seed corpus holds envelopes sealed with that key);
      3. sealed with the test key and opened again, which must give the
         input back.
    Whatever decodes must re-encode and decode to the same message: the
    decoder must never accept what the encoder would refuse.

    Built two ways:
      clang -fsanitize=fuzzer,address,undefined ...     (tests/fuzz/run-fuzz.sh)
      cc -DMW_FUZZ_REPLAY ...   a plain main () that runs every file of the
                                directories (or files) given through the same
                                entry, so `make check` replays the corpus
                                under ASan without libFuzzer.
    ========================================================================= */
#include "gossip/crypto.h"
#include "gossip/wire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Test key: bytes 0..31.  Also used by tests/fuzz/make_corpus.c.
#define FUZZ_KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gossip_keyring_t *s_keyring;

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
    if ((back.job != NULL) != gossip_wire_is_job_type (back.type)
        || (msg->job != NULL) != (back.job != NULL))
        abort ();
    if (back.job
        && (back.job->frame_len != msg->job->frame_len || back.job->n_boxes != msg->job->n_boxes
            || (back.job->frame
                && memcmp (back.job->frame, msg->job->frame, back.job->frame_len) != 0)))
        abort ();
    free (enc);
    free (enc2);
    gossip_wire_msg_clear (&back);
}

static void
s_decode (const uint8_t *data, size_t size)
{
    mw_msg_t msg;
    int rc = gossip_wire_decode (data, size, &msg);
    if (rc > 0 || rc < MW_WIRE_ENOMEM)
        abort ();
    if (rc == 0)
        s_roundtrip (&msg);
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
    if (gossip_crypto_open (s_keyring, data, size, &plain, &plain_len) == 0) {
        s_decode (plain, plain_len);
        free (plain);
    }

    uint8_t *env = NULL;
    size_t env_len = 0;
    if (size <= MW_JOB_MSG_MAX) {
        if (gossip_crypto_seal (s_keyring, data, size, &env, &env_len) != 0)
            abort ();
        if (gossip_crypto_open (s_keyring, env, env_len, &plain, &plain_len) != 0
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
