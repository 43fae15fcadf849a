/*  =========================================================================
    mw_config - the agent's settings: KEY=VALUE files, environment, flags.

    The file format is the seed's Opt.Config: one KEY=VALUE per line, `#`
    starts a comment, blank lines are ignored, values may be quoted.  Every
    key is declared once in a table in config.c with its type, range and
    default, so a typo or a bad value is caught at start-up with the exact
    place: `FILE:LINE: reason` for the file, `env MESHWATCH_KEY: reason` and
    `--flag: reason` for the overrides.  Precedence: flag > env > file >
    default.

    Code reads the settings typed, through mw_config_settings: one field
    per key, generated from config/keys.def, so `s->mesh_port` is an
    int64_t and a misspelt key is a compile error, not a runtime assert.
    ========================================================================= */
#ifndef MW_CONFIG_H_INCLUDED
#define MW_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _mw_config_t mw_config_t;

//  C type of each TYPE column of keys.def.
#define MW_CONFIG_CTYPE_INT       int64_t
#define MW_CONFIG_CTYPE_FRAC      double
#define MW_CONFIG_CTYPE_STR       const char *
#define MW_CONFIG_CTYPE_NAME      const char *
#define MW_CONFIG_CTYPE_KEY       const char *
#define MW_CONFIG_CTYPE_KEYLIST   const char *
#define MW_CONFIG_CTYPE_HOSTPORTS const char *
#define MW_CONFIG_CTYPE_IFACE     const char *
#define MW_CONFIG_CTYPE_IP        const char *
#define MW_CONFIG_CTYPE_LEVEL     const char *
#define MW_CONFIG_CTYPE_PATH      const char *
#define MW_CONFIG_CTYPE_URL       const char *
#define MW_CONFIG_CTYPE_SECLIST   const char *
#define MW_CONFIG_CTYPE_BAND      const char *
#define MW_CONFIG_CTYPE_CHOICE    const char *
#define MW_CONFIG_CTYPE_SOURCE    const char *
#define MW_CONFIG_CTYPE_RULE      const char *

//  Every key, typed: INT keys are int64_t (0 when unset without default),
//  FRAC keys double, the others strings, never NULL ("" when empty; lists
//  stay comma-separated: mw_config_split).  set.field says whether file,
//  env or a flag set the key (false: it has its default).
typedef struct {
#define MW_KEY(KEY, field, type, min, max, dflt, choices, help) MW_CONFIG_CTYPE_##type field;
#include "config/keys.def"
#undef MW_KEY
    struct {
#define MW_KEY(KEY, field, type, min, max, dflt, choices, help) bool field;
#include "config/keys.def"
#undef MW_KEY
    } set;
} mw_settings_t;

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

//  The settings, typed (see mw_settings_t).  The struct and its strings
//  belong to the config and stay valid until it is destroyed or the key is
//  set again.
const mw_settings_t *mw_config_settings (mw_config_t *self);
//  Split a comma-separated value (e.g. s->join) into up to max trimmed,
//  non-empty items; returns the count.  The items point into a buffer of
//  the config, valid until the next split.
size_t mw_config_split (mw_config_t *self, const char *value, const char **items, size_t max);
//  Name of key `index` (0, 1, ... in keys.def order); NULL past the last.
const char *mw_config_key_name (size_t index);

//  Convert a flag like "--node-name" to "NODE_NAME" (static buffer-free:
//  writes into out).  Returns 0, -1 if it is not a declared key.
int mw_config_flag_to_key (const char *flag, char *out, size_t outlen);
//  Print every key with its default and help (for `meshwatch agent --help`).
void mw_config_print_help (void);

int mw_config_test (bool verbose);

#endif
