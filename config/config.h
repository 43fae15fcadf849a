/*  =========================================================================
    mw_config - the agent's settings: KEY=VALUE files, environment, flags.

    The file format is the seed's Opt.Config: one KEY=VALUE per line, `#`
    starts a comment, blank lines are ignored, values may be quoted.  Every
    key is declared once in a table in config.c with its type, range and
    default, so a typo or a bad value is caught at start-up with the exact
    place: `FILE:LINE: reason` for the file, `env MESHWATCH_KEY: reason` and
    `--flag: reason` for the overrides.  Precedence: flag > env > file >
    default.
    ========================================================================= */
#ifndef MW_CONFIG_H_INCLUDED
#define MW_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _mw_config_t mw_config_t;

mw_config_t *mw_config_new (void);
void mw_config_destroy (mw_config_t **self_p);

//  Read a config file.  Returns 0, or -1 with "FILE:LINE: reason" in err.
int mw_config_load_file (mw_config_t *self, const char *path, char *err, size_t errlen);
//  Apply MESHWATCH_<KEY> variables from envp (NULL-terminated).  0/-1.
int mw_config_apply_env (mw_config_t *self, char **envp, char *err, size_t errlen);
//  Set one key from `origin` (a flag name, for messages).  0/-1.
int mw_config_set (mw_config_t *self, const char *key, const char *value, const char *origin, char *err,
                   size_t errlen);
//  Cross-key checks for running an agent (key present, address known...).
int mw_config_validate_agent (mw_config_t *self, char *err, size_t errlen);
//  The analysis server's needs: CLUSTER_KEY, VMS_PORT, MODELS_DIR.
int mw_config_validate_server (mw_config_t *self, char *err, size_t errlen);

//  Typed access.  Keys must be declared (asserts otherwise: API misuse).
const char *mw_config_str (mw_config_t *self, const char *key);   //  "" when empty
int64_t mw_config_int (mw_config_t *self, const char *key);       //  0 when unset
double mw_config_double (mw_config_t *self, const char *key);     //  T_FRAC; 0 when unset
bool mw_config_is_set (mw_config_t *self, const char *key);       //  set by file/env/flag
//  Split a comma-separated list value; returns count, fills up to max
//  pointers into a buffer owned by the config (valid until next call).
size_t mw_config_list (mw_config_t *self, const char *key, const char **items, size_t max);

//  Convert a flag like "--node-name" to "NODE_NAME" (static buffer-free:
//  writes into out).  Returns 0, -1 if it is not a declared key.
int mw_config_flag_to_key (const char *flag, char *out, size_t outlen);
//  Print every key with its default and help (for `meshwatch agent --help`).
void mw_config_print_help (void);

int mw_config_test (bool verbose);

#endif
