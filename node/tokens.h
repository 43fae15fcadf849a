/*  =========================================================================
    node_tokens - the bearer tokens of the HTTP API.

    `meshwatch token create --name vms1 [--read-only]` makes a token: 32
    random bytes, printed once as "mwt_" + base64url (43 characters).  The
    box keeps only its BLAKE2b-256 hash (a token is a high-entropy secret,
    not a password: a fast hash is enough, and nothing on disk lets anyone
    rebuild it), with the name, the read-only flag and the creation time,
    in the state DB (table api_tokens).  `token revoke NAME` marks it
    revoked (kept for `token list`, refused from then on); `token create`
    of a revoked name replaces it.

    Threads: create, revoke and list run on the loop (the control socket),
    and write synchronously (rare, local admin actions); check runs on the
    HTTP server's thread, against an in-memory copy under a mutex, and
    compares hashes in constant time.  At most NODE_TOKENS_MAX tokens.
    ========================================================================= */
#ifndef NODE_TOKENS_H_INCLUDED
#define NODE_TOKENS_H_INCLUDED

#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _node_tokens_t node_tokens_t;

#define NODE_TOKENS_MAX      256
#define NODE_TOKEN_NAME_MAX  64
#define NODE_TOKEN_TEXT_SIZE 48   //  "mwt_" + 43 + NUL

//  Open the table in STATE_DIR/state.db and load it.  NULL with the reason.
node_tokens_t *node_tokens_open (const char *state_dir, char *err, size_t errlen);
void node_tokens_close (node_tokens_t **self_p);

//  A new token for NAME (letters, digits, '.', '_', '-'; 1..64): its text in
//  token (NODE_TOKEN_TEXT_SIZE bytes), on disk (hash only) when this
//  returns 0.  -1 with the reason: bad name, name in use, table full, disk.
int node_tokens_create (node_tokens_t *self, const char *name, bool read_only, char *token, char *err,
                        size_t errlen);
//  0 revoked, 1 no such (live) token, -1 disk error.
int node_tokens_revoke (node_tokens_t *self, const char *name);
//  [{name, read_only, created_ms, revoked_ms|null, last_used_ms|null}]
json_object *node_tokens_list_json (node_tokens_t *self);

//  Any thread.  0 when `token` is a live token (its name and flag out), -1
//  otherwise.  Notes the use (last_used_ms, in memory).
int node_tokens_check (node_tokens_t *self, const char *token, char *name, size_t namelen, bool *read_only);
//  Live (not revoked) tokens.
size_t node_tokens_count (node_tokens_t *self);

//  Is this a valid token name?
bool node_tokens_name_ok (const char *name);

int node_tokens_test (bool verbose);

#endif
