/*  =========================================================================
    mw_config - the agent's settings (see config.h).

    One table declares every key.  A value is checked when it is set, not
    when it is first used, so that a wrong value stops the agent at start-up
    with the line it came from instead of misbehaving an hour later.
    ========================================================================= */
#include "config/config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum {
    T_STR,         //  free text up to `max` bytes
    T_NAME,        //  [A-Za-z0-9._-], 1..max
    T_INT,         //  integer in [min, max]
    T_KEY,         //  base64 of 32 bytes
    T_KEYLIST,     //  comma-separated T_KEY
    T_HOSTPORTS,   //  comma-separated host:port
    T_IFACE,       //  network interface name
    T_IP,          //  IPv4 or IPv6 literal
    T_LEVEL,       //  log level
    T_PATH,        //  file system path
    T_URL,         //  http(s)://host[:port][/path] or a bare host
    T_SECLIST,     //  1 or 2 comma-separated integers in [min, max], increasing
    T_FRAC,        //  a decimal number in [0, 1]
    T_BAND,        //  "LO,HI": two decimals in [0, 1], LO < HI; or empty
    T_CHOICE,      //  one of the '|'-separated words in `choices`
    T_SOURCE,      //  dir:PATH[:FPS] (a folder of JPEGs replayed at FPS frames a second)
} key_type_t;

typedef struct {
    const char *key;
    key_type_t type;
    int64_t min, max;   //  T_INT range; T_STR/T_NAME/T_PATH max length in max
    const char *dflt;   //  NULL = empty
    const char *help;
    const char *choices;   //  T_CHOICE: "a|b|c"
} key_spec_t;

//  The table and the key indices come from config/keys.def (one line per
//  key); T_##TYPE maps its TYPE column onto key_type_t.
enum {
#define MW_KEY(KEY, field, type, min, max, dflt, choices, help) K_##KEY,
#include "config/keys.def"
#undef MW_KEY
};

static const key_spec_t s_keys[] = {
#define MW_KEY(KEY, field, type, min, max, dflt, choices, help)                                              \
    {#KEY, T_##type, min, max, dflt, help, choices},
#include "config/keys.def"
#undef MW_KEY
};
#define N_KEYS (sizeof s_keys / sizeof s_keys[0])

//  By name, for the cross-key checks here (code outside config/ reads
//  mw_config_settings, so that a misspelt key does not compile).
static const char *mw_config_str (mw_config_t *self, const char *key);
static int64_t mw_config_int (mw_config_t *self, const char *key);
static bool mw_config_is_set (mw_config_t *self, const char *key);

struct _mw_config_t {
    char *value[N_KEYS];   //  NULL = default
    int line[N_KEYS];      //  file line that set it (duplicates check)
    char *list_buf;        //  for mw_config_split
    char default_name[65];
    mw_settings_t settings;   //  typed view of value[], see s_fill
    bool dirty;               //  a value changed since s_fill
};

static int
s_find (const char *key)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp (s_keys[i].key, key) == 0)
            return (int) i;
    return -1;
}

mw_config_t *
mw_config_new (void)
{
    mw_config_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->dirty = true;
    if (gethostname (self->default_name, sizeof self->default_name - 1) != 0 || !*self->default_name)
        strcpy (self->default_name, "node");
    //  Host names may hold characters NODE_NAME does not allow.
    for (char *p = self->default_name; *p; p++)
        if (!isalnum ((unsigned char) *p) && *p != '.' && *p != '_' && *p != '-')
            *p = '-';
    return self;
}

void
mw_config_destroy (mw_config_t **self_p)
{
    assert (self_p);
    mw_config_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < N_KEYS; i++)
        free (self->value[i]);
    free (self->list_buf);
    free (self);
    *self_p = NULL;
}

static bool
s_key_ok (const char *b64, size_t len)
{
    unsigned char key[64];
    size_t bin_len = 0;
    const char *end = NULL;
    if (len == 0 || len > 88)
        return false;
    if (sodium_base642bin (key, sizeof key, b64, len, NULL, &bin_len, &end, sodium_base64_VARIANT_ORIGINAL)
        != 0)
        return false;
    return end == b64 + len && bin_len == 32;
}

static bool
s_int_parse (const char *v, int64_t *out)
{
    if (!*v)
        return false;
    char *end = NULL;
    errno = 0;
    long long n = strtoll (v, &end, 10);
    if (errno || *end)
        return false;
    *out = n;
    return true;
}

//  Check one value against its spec; on error, write the reason.
static int
s_check (const key_spec_t *spec, const char *v, char *why, size_t whylen)
{
    size_t len = strlen (v);
    switch (spec->type) {
    case T_STR:
    case T_PATH:
        if ((int64_t) len > spec->max) {
            snprintf (why, whylen, "%s is longer than %lld bytes", spec->key, (long long) spec->max);
            return -1;
        }
        return 0;
    case T_NAME:
        if (len == 0 || (int64_t) len > spec->max) {
            snprintf (why, whylen, "%s must be 1 to %lld characters", spec->key, (long long) spec->max);
            return -1;
        }
        for (const char *p = v; *p; p++)
            if (!isalnum ((unsigned char) *p) && *p != '.' && *p != '_' && *p != '-') {
                snprintf (why, whylen, "%s may only hold letters, digits, '.', '_' and '-'", spec->key);
                return -1;
            }
        return 0;
    case T_INT: {
        int64_t n;
        if (!s_int_parse (v, &n)) {
            snprintf (why, whylen, "%s must be an integer, not '%.40s'", spec->key, v);
            return -1;
        }
        if (n < spec->min || n > spec->max) {
            snprintf (why, whylen, "%s=%lld is out of range %lld..%lld", spec->key, (long long) n,
                      (long long) spec->min, (long long) spec->max);
            return -1;
        }
        return 0;
    }
    case T_KEY:
        if (len == 0)
            return 0;
        if (!s_key_ok (v, len)) {
            snprintf (why, whylen, "%s must be the base64 of exactly 32 bytes (meshwatch keygen)", spec->key);
            return -1;
        }
        return 0;
    case T_KEYLIST:
    case T_HOSTPORTS: {
        const char *p = v;
        while (*p) {
            const char *comma = strchr (p, ',');
            size_t n = comma ? (size_t) (comma - p) : strlen (p);
            while (n && isspace ((unsigned char) *p)) {
                p++;
                n--;
            }
            while (n && isspace ((unsigned char) p[n - 1]))
                n--;
            if (n == 0) {
                snprintf (why, whylen, "%s has an empty item", spec->key);
                return -1;
            }
            if (spec->type == T_KEYLIST && !s_key_ok (p, n)) {
                snprintf (why, whylen, "%s: item '%.*s' is not the base64 of 32 bytes", spec->key,
                          (int) (n > 20 ? 20 : n), p);
                return -1;
            }
            if (spec->type == T_HOSTPORTS) {
                const char *colon = memrchr (p, ':', n);
                int64_t port;
                char pbuf[8];
                size_t plen = colon ? n - (size_t) (colon - p) - 1 : 0;
                if (!colon || colon == p || plen == 0 || plen >= sizeof pbuf) {
                    snprintf (why, whylen, "%s: item '%.*s' is not host:port", spec->key,
                              (int) (n > 60 ? 60 : n), p);
                    return -1;
                }
                memcpy (pbuf, colon + 1, plen);
                pbuf[plen] = 0;
                if (!s_int_parse (pbuf, &port) || port < 1 || port > 65535) {
                    snprintf (why, whylen, "%s: item '%.*s' has a bad port", spec->key,
                              (int) (n > 60 ? 60 : n), p);
                    return -1;
                }
                if ((size_t) (colon - p) > 80) {
                    snprintf (why, whylen, "%s: host name too long", spec->key);
                    return -1;
                }
            }
            if (!comma)
                break;
            p = comma + 1;
            if (!*p) {
                snprintf (why, whylen, "%s ends with a comma", spec->key);
                return -1;
            }
        }
        return 0;
    }
    case T_IFACE:
        if (len >= IF_NAMESIZE) {
            snprintf (why, whylen, "%s: interface names are at most %d characters", spec->key,
                      IF_NAMESIZE - 1);
            return -1;
        }
        for (const char *p = v; *p; p++)
            if (isspace ((unsigned char) *p) || *p == '/') {
                snprintf (why, whylen, "%s: '%s' is not an interface name", spec->key, v);
                return -1;
            }
        return 0;
    case T_IP: {
        unsigned char buf[16];
        if (len && inet_pton (AF_INET, v, buf) != 1 && inet_pton (AF_INET6, v, buf) != 1) {
            snprintf (why, whylen, "%s: '%.60s' is not an IPv4 or IPv6 address", spec->key, v);
            return -1;
        }
        return 0;
    }
    case T_LEVEL:
        if (strcmp (v, "debug") && strcmp (v, "info") && strcmp (v, "warn") && strcmp (v, "error")) {
            snprintf (why, whylen, "%s must be debug, info, warn or error", spec->key);
            return -1;
        }
        return 0;
    case T_URL:
        if (len > 200) {
            snprintf (why, whylen, "%s is longer than 200 bytes", spec->key);
            return -1;
        }
        for (const char *p = v; *p; p++)
            if (isspace ((unsigned char) *p) || (unsigned char) *p < 32) {
                snprintf (why, whylen, "%s must not contain spaces", spec->key);
                return -1;
            }
        if (len && strstr (v, "://") && strncmp (v, "http://", 7) && strncmp (v, "https://", 8)
            && strncmp (v, "tcp://", 6)) {
            snprintf (why, whylen, "%s: only http://, https:// or tcp:// URLs (or a bare host)", spec->key);
            return -1;
        }
        return 0;
    case T_FRAC: {
        char *end = NULL;
        double x = strtod (v, &end);
        if (!len || *end || !(x >= 0 && x <= 1)) {
            snprintf (why, whylen, "%s must be a number between 0 and 1, not '%.40s'", spec->key, v);
            return -1;
        }
        return 0;
    }
    case T_BAND: {
        if (!len)
            return 0;
        char *end = NULL;
        double lo = strtod (v, &end), hi = -1;
        if (*end == ',')
            hi = strtod (end + 1, &end);
        if (*end || !(lo >= 0 && lo <= 1) || !(hi >= 0 && hi <= 1) || lo >= hi) {
            snprintf (why, whylen, "%s must be LO,HI with 0 <= LO < HI <= 1, e.g. 0.3,0.6", spec->key);
            return -1;
        }
        return 0;
    }
    case T_CHOICE: {
        const char *c = spec->choices;
        while (c && *c) {
            const char *bar = strchr (c, '|');
            size_t n = bar ? (size_t) (bar - c) : strlen (c);
            if (n == len && !strncmp (c, v, n))
                return 0;
            c = bar ? bar + 1 : NULL;
        }
        snprintf (why, whylen, "%s must be one of %s, not '%.40s'", spec->key, spec->choices, v);
        return -1;
    }
    case T_SOURCE: {
        if (!len)
            return 0;
        if (strncmp (v, "dir:", 4) || len == 4 || len > 220) {
            snprintf (why, whylen, "%s must be dir:PATH[:FPS] (RTSP sources come later)", spec->key);
            return -1;
        }
        const char *colon = strrchr (v + 4, ':');
        if (colon) {
            char *end = NULL;
            double fps = strtod (colon + 1, &end);
            if (colon == v + 4 || *end || !(fps > 0 && fps <= 1000)) {
                snprintf (why, whylen, "%s: FPS must be a number in (0, 1000]", spec->key);
                return -1;
            }
        }
        return 0;
    }
    case T_SECLIST: {
        //  The gossiped digest has two horizon slots.
        const char *p = v;
        int64_t prev = 0;
        int n = 0;
        while (true) {
            char *end = NULL;
            errno = 0;
            long long x = strtoll (p, &end, 10);
            if (end == p || errno || x < spec->min || x > spec->max || x <= prev || ++n > 2) {
                snprintf (why, whylen,
                          "%s must be one or two increasing integers in %lld..%lld, "
                          "e.g. 5,30",
                          spec->key, (long long) spec->min, (long long) spec->max);
                return -1;
            }
            prev = x;
            p = end;
            if (!*p)
                return 0;
            if (*p != ',' || !p[1]) {
                snprintf (why, whylen,
                          "%s must be one or two increasing integers in %lld..%lld, "
                          "e.g. 5,30",
                          spec->key, (long long) spec->min, (long long) spec->max);
                return -1;
            }
            p++;
        }
    }
    }
    return 0;
}

int
mw_config_set (mw_config_t *self, const char *key, const char *value, const char *origin, char *err,
               size_t errlen)
{
    assert (self && key && value);
    int i = s_find (key);
    if (i < 0) {
        snprintf (err, errlen, "%s: unknown key '%.60s'", origin ? origin : key, key);
        return -1;
    }
    char why[256];
    if (s_check (&s_keys[i], value, why, sizeof why) != 0) {
        snprintf (err, errlen, "%s: %s", origin ? origin : key, why);
        return -1;
    }
    char *copy = strdup (value);
    if (!copy) {
        snprintf (err, errlen, "%s: out of memory", origin ? origin : key);
        return -1;
    }
    free (self->value[i]);
    self->value[i] = copy;
    self->dirty = true;
    return 0;
}

//  Strip surrounding spaces in place; returns the new start.
static char *
s_trim (char *s)
{
    while (isspace ((unsigned char) *s))
        s++;
    char *e = s + strlen (s);
    while (e > s && isspace ((unsigned char) e[-1]))
        *--e = 0;
    return s;
}

int
mw_config_load_file (mw_config_t *self, const char *path, char *err, size_t errlen)
{
    assert (self && path);
    FILE *f = fopen (path, "r");
    if (!f) {
        snprintf (err, errlen, "%s:0: cannot open: %s", path, strerror (errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (fgets (line, sizeof line, f)) {
        lineno++;
        size_t n = strlen (line);
        if (n == sizeof line - 1 && line[n - 1] != '\n' && !feof (f)) {
            snprintf (err, errlen, "%s:%d: line longer than %zu bytes", path, lineno, sizeof line - 2);
            rc = -1;
            break;
        }
        char *s = s_trim (line);
        if (*s == 0 || *s == '#')
            continue;
        char *eq = strchr (s, '=');
        if (!eq) {
            snprintf (err, errlen, "%s:%d: expected KEY=VALUE", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = s_trim (s);
        char *value = s_trim (eq + 1);
        //  A trailing comment after spaces, as in the seed's files.
        char *hash = strstr (value, " #");
        if (hash && *value != '"' && *value != '\'') {
            *hash = 0;
            value = s_trim (value);
        }
        size_t vl = strlen (value);
        if (vl >= 2 && (value[0] == '"' || value[0] == '\'')) {
            if (value[vl - 1] != value[0]) {
                snprintf (err, errlen, "%s:%d: unterminated quote", path, lineno);
                rc = -1;
                break;
            }
            value[vl - 1] = 0;
            value++;
        }
        if (*key == 0) {
            snprintf (err, errlen, "%s:%d: empty key", path, lineno);
            rc = -1;
            break;
        }
        int i = s_find (key);
        if (i < 0) {
            snprintf (err, errlen, "%s:%d: unknown key '%.60s'", path, lineno, key);
            rc = -1;
            break;
        }
        if (self->line[i]) {
            snprintf (err, errlen, "%s:%d: %s is already set on line %d", path, lineno, key, self->line[i]);
            rc = -1;
            break;
        }
        char origin[300];
        snprintf (origin, sizeof origin, "%s:%d", path, lineno);
        if (mw_config_set (self, key, value, origin, err, errlen) != 0) {
            rc = -1;
            break;
        }
        self->line[i] = lineno;
    }
    if (rc == 0 && ferror (f)) {
        snprintf (err, errlen, "%s:%d: read error", path, lineno);
        rc = -1;
    }
    fclose (f);
    return rc;
}

int
mw_config_apply_env (mw_config_t *self, char **envp, char *err, size_t errlen)
{
    assert (self);
    for (char **e = envp; e && *e; e++) {
        if (strncmp (*e, "MESHWATCH_", 10) != 0)
            continue;
        const char *kv = *e + 10;
        const char *eq = strchr (kv, '=');
        if (!eq)
            continue;
        char key[64];
        size_t kl = (size_t) (eq - kv);
        if (kl == 0 || kl >= sizeof key)
            continue;
        memcpy (key, kv, kl);
        key[kl] = 0;
        //  Variables the CLI itself reads are not config keys.
        if (strcmp (key, "BIN") == 0 || strcmp (key, "CONFIG") == 0)
            continue;
        char origin[96];
        snprintf (origin, sizeof origin, "env MESHWATCH_%s", key);
        if (mw_config_set (self, key, eq + 1, origin, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int
mw_config_validate_server (mw_config_t *self, char *err, size_t errlen)
{
    if (!*mw_config_str (self, "CLUSTER_KEY")) {
        snprintf (err, errlen, "CLUSTER_KEY is required: the analysis server speaks the mesh protocol");
        return -1;
    }
    if (mw_config_int (self, "VMS_PORT") <= 0) {
        snprintf (err, errlen, "VMS_PORT is required: the analysis server listens there");
        return -1;
    }
    if (!*mw_config_str (self, "MODELS_DIR")) {
        snprintf (err, errlen, "MODELS_DIR is required: the analysis server runs the models");
        return -1;
    }
    if (mw_config_int (self, "EVENTS_PORT") == mw_config_int (self, "VMS_PORT")) {
        snprintf (err, errlen, "EVENTS_PORT and VMS_PORT must differ");
        return -1;
    }
    int64_t metp = mw_config_int (self, "METRICS_PORT");
    if (metp && (metp == mw_config_int (self, "VMS_PORT") || metp == mw_config_int (self, "EVENTS_PORT"))) {
        snprintf (err, errlen, "METRICS_PORT must differ from VMS_PORT and EVENTS_PORT (%lld)",
                  (long long) metp);
        return -1;
    }
    return 0;
}

int
mw_config_validate_agent (mw_config_t *self, char *err, size_t errlen)
{
    if (!*mw_config_str (self, "CLUSTER_KEY")) {
        snprintf (err, errlen, "CLUSTER_KEY is required (generate one with: meshwatch keygen)");
        return -1;
    }
    if (!*mw_config_str (self, "MESH_INTERFACE") && !*mw_config_str (self, "MESH_ADDR")) {
        snprintf (err, errlen, "set MESH_INTERFACE (LAN with beacons) or MESH_ADDR (JOIN seeds only)");
        return -1;
    }
    if (mw_config_int (self, "COLLECT_INTERVAL_MS") == 0
        && (mw_config_int (self, "METRICS_PORT") > 0 || *mw_config_str (self, "USAGE_URL"))) {
        snprintf (err, errlen, "METRICS_PORT and USAGE_URL need COLLECT_INTERVAL_MS > 0");
        return -1;
    }
    //  One without the other silently meant "no analysis server": no
    //  overflow, no escalation, and nothing said.  VMS_URL is the VMS's
    //  host for two services: the analysis server (VMS_PORT) and the
    //  environment-info POST (VMS_ENV_PORT); a host with neither port, or a
    //  port with no host, serves nothing.
    bool url = *mw_config_str (self, "VMS_URL"), port = mw_config_int (self, "VMS_PORT") > 0,
         env_port = mw_config_int (self, "VMS_ENV_PORT") > 0;
    if (url && !port && !env_port) {
        snprintf (err, errlen,
                  "VMS_URL is set but VMS_PORT is not: the analysis server is VMS_URL (its host) and "
                  "VMS_PORT (its port); set both, or neither (or VMS_ENV_PORT for the environment-info "
                  "POST alone)");
        return -1;
    }
    if (!url && (port || env_port)) {
        snprintf (err, errlen,
                  "%s is set but VMS_URL is not: VMS_URL is the VMS's host; set both, or neither",
                  port ? "VMS_PORT" : "VMS_ENV_PORT");
        return -1;
    }
    int64_t mp = mw_config_int (self, "MESH_PORT"), ep = mw_config_int (self, "EVENTS_PORT");
    if (mp == ep) {
        snprintf (err, errlen, "MESH_PORT and EVENTS_PORT must differ (both %lld)", (long long) mp);
        return -1;
    }
    int64_t jp = mw_config_is_set (self, "JOB_PORT") ? mw_config_int (self, "JOB_PORT") : mp + 2;
    if (jp && (jp == mp || jp == ep || jp == mw_config_int (self, "METRICS_PORT"))) {
        snprintf (err, errlen,
                  "JOB_PORT=%lld (default MESH_PORT + 2) clashes with another port; set JOB_PORT",
                  (long long) jp);
        return -1;
    }
    int64_t metp = mw_config_int (self, "METRICS_PORT");
    if (metp && (metp == mp || metp == ep)) {
        snprintf (err, errlen, "METRICS_PORT must differ from MESH_PORT and EVENTS_PORT (%lld)",
                  (long long) metp);
        return -1;
    }
    //  The VMS interface: its port, TLS as a pair, where env reports go.
    int64_t ap = mw_config_int (self, "API_PORT");
    if (ap && (ap == mp || ap == ep || ap == jp || ap == metp)) {
        snprintf (err, errlen, "API_PORT=%lld clashes with MESH_PORT, EVENTS_PORT, JOB_PORT or METRICS_PORT",
                  (long long) ap);
        return -1;
    }
    if (!*mw_config_str (self, "API_TLS_CERT") != !*mw_config_str (self, "API_TLS_KEY")) {
        snprintf (err, errlen, "API_TLS_CERT and API_TLS_KEY go together");
        return -1;
    }
    if (mw_config_int (self, "VMS_ENV_PORT") && !*mw_config_str (self, "VMS_URL")) {
        snprintf (err, errlen, "VMS_ENV_PORT needs VMS_URL (the VMS host)");
        return -1;
    }
    //  A lease must survive at least one lost heartbeat.
    if (2 * mw_config_int (self, "HEARTBEAT_INTERVAL_MS") > mw_config_int (self, "ELECTION_TIMEOUT_MS")) {
        snprintf (err, errlen, "HEARTBEAT_INTERVAL_MS=%lld must be at most half ELECTION_TIMEOUT_MS=%lld",
                  (long long) mw_config_int (self, "HEARTBEAT_INTERVAL_MS"),
                  (long long) mw_config_int (self, "ELECTION_TIMEOUT_MS"));
        return -1;
    }
    return 0;
}

//  The value of key i as text: set, else default, else "".
static const char *
s_str (mw_config_t *self, int i)
{
    if (self->value[i])
        return self->value[i];
    if (s_keys[i].dflt)
        return s_keys[i].dflt;
    if (i == K_NODE_NAME)
        return self->default_name;
    return "";
}

static int64_t
s_int (mw_config_t *self, int i)
{
    int64_t n = 0;
    const char *v = s_str (self, i);
    if (*v && !s_int_parse (v, &n))
        n = 0;
    return n;
}

//  One getter per TYPE column of keys.def (values were checked when set).
#define S_GET_INT(self, i)       s_int (self, i)
#define S_GET_FRAC(self, i)      strtod (s_str (self, i), NULL)
#define S_GET_STR(self, i)       s_str (self, i)
#define S_GET_NAME(self, i)      s_str (self, i)
#define S_GET_KEY(self, i)       s_str (self, i)
#define S_GET_KEYLIST(self, i)   s_str (self, i)
#define S_GET_HOSTPORTS(self, i) s_str (self, i)
#define S_GET_IFACE(self, i)     s_str (self, i)
#define S_GET_IP(self, i)        s_str (self, i)
#define S_GET_LEVEL(self, i)     s_str (self, i)
#define S_GET_PATH(self, i)      s_str (self, i)
#define S_GET_URL(self, i)       s_str (self, i)
#define S_GET_SECLIST(self, i)   s_str (self, i)
#define S_GET_BAND(self, i)      s_str (self, i)
#define S_GET_CHOICE(self, i)    s_str (self, i)
#define S_GET_SOURCE(self, i)    s_str (self, i)

static void
s_fill (mw_config_t *self)
{
    mw_settings_t *s = &self->settings;
#define MW_KEY(KEY, field, type, min, max, dflt, choices, help)                                              \
    s->field = S_GET_##type (self, K_##KEY);                                                                 \
    s->set.field = self->value[K_##KEY] != NULL;
#include "config/keys.def"
#undef MW_KEY
    self->dirty = false;
}

const mw_settings_t *
mw_config_settings (mw_config_t *self)
{
    assert (self);
    if (self->dirty)
        s_fill (self);
    return &self->settings;
}

const char *
mw_config_key_name (size_t index)
{
    return index < N_KEYS ? s_keys[index].key : NULL;
}

static const char *
mw_config_str (mw_config_t *self, const char *key)
{
    int i = s_find (key);
    assert (i >= 0);
    return s_str (self, i);
}

static int64_t
mw_config_int (mw_config_t *self, const char *key)
{
    int i = s_find (key);
    assert (i >= 0);
    return s_int (self, i);
}

static bool
mw_config_is_set (mw_config_t *self, const char *key)
{
    int i = s_find (key);
    assert (i >= 0);
    return self->value[i] != NULL;
}

size_t
mw_config_split (mw_config_t *self, const char *value, const char **items, size_t max)
{
    assert (self && value);
    //  Copy first: `value` may point into the old buffer.
    char *copy = strdup (value);
    free (self->list_buf);
    self->list_buf = copy;
    if (!self->list_buf)
        return 0;
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r (self->list_buf, ",", &save); tok && n < max;
         tok = strtok_r (NULL, ",", &save)) {
        tok = s_trim (tok);
        if (*tok)
            items[n++] = tok;
    }
    return n;
}

int
mw_config_flag_to_key (const char *flag, char *out, size_t outlen)
{
    if (strncmp (flag, "--", 2) != 0)
        return -1;
    flag += 2;
    size_t n = strlen (flag);
    if (n == 0 || n >= outlen)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = flag[i] == '-' ? '_' : (char) toupper ((unsigned char) flag[i]);
    return s_find (out) >= 0 ? 0 : -1;
}

void
mw_config_print_help (void)
{
    printf ("Config keys (file KEY=VALUE, env MESHWATCH_KEY, or flag --key-name VALUE):\n");
    for (size_t i = 0; i < N_KEYS; i++)
        printf ("  %-22s %-20s %s\n", s_keys[i].key, s_keys[i].dflt ? s_keys[i].dflt : "", s_keys[i].help);
}

//  --------------------------------------------------------------------------
//  Selftest

static int
s_expect_file_error (const char *text, const char *expect, bool verbose)
{
    char path[] = "/tmp/mw-config-test-XXXXXX";
    int fd = mkstemp (path);
    if (fd < 0)
        return -1;
    if (write (fd, text, strlen (text)) != (ssize_t) strlen (text)) {
        close (fd);
        unlink (path);
        return -1;
    }
    close (fd);
    mw_config_t *c = mw_config_new ();
    char err[512] = "";
    int rc = mw_config_load_file (c, path, err, sizeof err);
    mw_config_destroy (&c);
    char want[600];
    snprintf (want, sizeof want, "%s:%s", path, expect);
    unlink (path);
    if (verbose)
        printf ("  error: %s\n", err);
    if (expect == NULL)
        return rc == 0 ? 0 : -1;
    return (rc == -1 && strncmp (err, want, strlen (want)) == 0) ? 0 : -1;
}

int
mw_config_test (bool verbose)
{
    const char *key = "q6LrVUuY3Hj3jmyWLMHLDkCzzr1Vu3wVp5hHbq/4ud0=";
    char good[1024];
    snprintf (good, sizeof good,
              "# seed style\nCLUSTER_NAME=site-a\nCLUSTER_KEY=%s\n\nNODE_NAME = \"edge-01\"\n"
              "MESH_PORT=7000 # trailing comment\nJOIN=10.0.0.1:7946, host-b:7946\n"
              "VMS_URL=http://10.0.0.9\nVMS_PORT=8080\n",
              key);
    if (s_expect_file_error (good, NULL, verbose))
        return -1;
    struct {
        const char *text, *expect;
    } bad[] = {
        {"A=1\n", "1: unknown key 'A'"},
        {"\n\nMESH_PORT=70000\n", "3: MESH_PORT=70000 is out of range 1..65535"},
        {"MESH_PORT=x\n", "1: MESH_PORT must be an integer"},
        {"CLUSTER_KEY=abc\n", "1: CLUSTER_KEY must be the base64 of exactly 32 bytes"},
        {"NODE_NAME\n", "1: expected KEY=VALUE"},
        {"MESH_PORT=1\nMESH_PORT=2\n", "2: MESH_PORT is already set on line 1"},
        {"JOIN=a:1,b\n", "1: JOIN: item 'b' is not host:port"},
        {"JOIN=a:1,\n", "1: JOIN ends with a comma"},
        {"MESH_ADDR=1.2.3\n", "1: MESH_ADDR: '1.2.3' is not an IPv4 or IPv6 address"},
        {"LOG_LEVEL=loud\n", "1: LOG_LEVEL must be debug, info, warn or error"},
        {"NODE_NAME=\"a b\n", "1: unterminated quote"},
        {"NODE_NAME=bad name\n", "1: NODE_NAME may only hold"},
        {"VMS_URL=ftp://x\n", "1: VMS_URL: only http://"},
        {"FORECAST_HORIZONS_S=30,5\n", "1: FORECAST_HORIZONS_S must be one or two increasing"},
        {"ESCALATE_BELOW=1.5\n", "1: ESCALATE_BELOW must be a number between 0 and 1"},
        {"ESCALATE_BELOW=half\n", "1: ESCALATE_BELOW must be a number between 0 and 1"},
        {"ESCALATE_BAND=0.6,0.3\n", "1: ESCALATE_BAND must be LO,HI"},
        {"PLACEMENT_POLICY=best\n", "1: PLACEMENT_POLICY must be one of local|reactive|random|forecast"},
        {"SOURCE=rtsp://cam/1\n", "1: SOURCE must be dir:PATH[:FPS]"},
        {"SOURCE=dir:/x:0\n", "1: SOURCE: FPS must be"},
        {"INFER_WORKERS=99\n", "1: INFER_WORKERS=99 is out of range"},
        {"FORECAST_HORIZONS_S=5,30,60\n", "1: FORECAST_HORIZONS_S must be one or two increasing"},
        {"FORECAST_HORIZONS_S=5,\n", "1: FORECAST_HORIZONS_S must be one or two increasing"},
        {"USAGE_INTERVAL=0\n", "1: USAGE_INTERVAL=0 is out of range 1..86400"},
        {"COLLECT_INTERVAL_MS=-1\n", "1: COLLECT_INTERVAL_MS=-1 is out of range 0..60000"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (s_expect_file_error (bad[i].text, bad[i].expect, verbose)) {
            printf ("config case %zu failed (expected %s)\n", i, bad[i].expect);
            return -1;
        }
    //  Precedence: env over file defaults, flag over env.
    mw_config_t *c = mw_config_new ();
    char err[256];
    char *envp[] = {"MESHWATCH_MESH_PORT=7100", "PATH=/bin", "MESHWATCH_NODE_NAME=from-env", NULL};
    if (mw_config_apply_env (c, envp, err, sizeof err) || mw_config_int (c, "MESH_PORT") != 7100)
        return -1;
    char k[64];
    if (mw_config_flag_to_key ("--node-name", k, sizeof k) || strcmp (k, "NODE_NAME"))
        return -1;
    if (mw_config_set (c, k, "from-flag", "--node-name", err, sizeof err)
        || strcmp (mw_config_str (c, "NODE_NAME"), "from-flag"))
        return -1;
    if (mw_config_flag_to_key ("--bogus", k, sizeof k) == 0)
        return -1;
    char *bad_env[] = {"MESHWATCH_EVENTS_PORT=-1", NULL};
    if (mw_config_apply_env (c, bad_env, err, sizeof err) == 0
        || strncmp (err, "env MESHWATCH_EVENTS_PORT: ", 27))
        return -1;
    if (mw_config_validate_agent (c, err, sizeof err) == 0)   //  no key
        return -1;
    mw_config_set (c, "CLUSTER_KEY", key, "t", err, sizeof err);
    mw_config_set (c, "MESH_ADDR", "127.0.0.1", "t", err, sizeof err);
    if (mw_config_validate_agent (c, err, sizeof err) != 0)
        return -1;
    //  VMS_URL and VMS_PORT: both or neither, and the error names both.
    mw_config_t *v = mw_config_new ();
    mw_config_set (v, "CLUSTER_KEY", key, "t", err, sizeof err);
    mw_config_set (v, "MESH_ADDR", "127.0.0.1", "t", err, sizeof err);
    mw_config_set (v, "VMS_URL", "http://10.0.0.9", "t", err, sizeof err);
    bool vms_ok = mw_config_validate_agent (v, err, sizeof err) != 0 && strstr (err, "VMS_URL")
                  && strstr (err, "VMS_PORT");
    mw_config_set (v, "VMS_PORT", "8080", "t", err, sizeof err);
    vms_ok = vms_ok && mw_config_validate_agent (v, err, sizeof err) == 0;
    mw_config_set (v, "VMS_URL", "", "t", err, sizeof err);
    vms_ok = vms_ok && mw_config_validate_agent (v, err, sizeof err) != 0 && strstr (err, "VMS_URL");
    mw_config_destroy (&v);
    if (!vms_ok)
        return -1;
    mw_config_set (c, "JOIN", "127.0.0.1:1,127.0.0.1:2", "t", err, sizeof err);
    const char *items[4];
    if (mw_config_split (c, mw_config_str (c, "JOIN"), items, 4) != 2 || strcmp (items[1], "127.0.0.1:2"))
        return -1;
    if (strcmp (mw_config_str (c, "STATE_DIR"), "/var/lib/meshwatch") || mw_config_is_set (c, "VMS_URL"))
        return -1;
    //  Typed settings: values, defaults, set flags, and a later set seen.
    const mw_settings_t *s = mw_config_settings (c);
    if (s->mesh_port != 7100 || !s->set.mesh_port || s->events_port != 7947 || s->set.events_port
        || strcmp (s->node_name, "from-flag") || strcmp (s->state_dir, "/var/lib/meshwatch") || *s->vms_url
        || s->set.vms_url || s->min_score != 0.3 || s->set.job_port || s->job_port != 0)
        return -1;
    mw_config_set (c, "JOB_PORT", "0", "t", err, sizeof err);
    mw_config_set (c, "ESCALATE_BELOW", "0.25", "t", err, sizeof err);
    s = mw_config_settings (c);
    if (!s->set.job_port || s->job_port != 0 || s->escalate_below != 0.25)
        return -1;
    if (mw_config_split (c, s->join, items, 4) != 2 || strcmp (items[0], "127.0.0.1:1")
        || mw_config_split (c, " a , ,b,", items, 1) != 1 || strcmp (items[0], "a"))
        return -1;
    //  keys.def: every field is its key in lower case (the flag and the
    //  field must not drift apart), and the names are unique.
    static const char *const names[][2] = {
#define MW_KEY(KEY, field, type, min, max, dflt, choices, help) {#KEY, #field},
#include "config/keys.def"
#undef MW_KEY
    };
    for (size_t i = 0; i < N_KEYS; i++) {
        const char *k = names[i][0], *f = names[i][1];
        if (strlen (k) != strlen (f) || s_find (k) != (int) i || strcmp (mw_config_key_name (i), k)) {
            printf ("keys.def: %s is not unique or its field is %s\n", k, f);
            return -1;
        }
        for (size_t j = 0; k[j]; j++)
            if (tolower ((unsigned char) k[j]) != f[j]) {
                printf ("keys.def: the field of %s must be its name in lower case, not %s\n", k, f);
                return -1;
            }
    }
    if (mw_config_key_name (N_KEYS) != NULL)
        return -1;
    mw_config_destroy (&c);
    return c == NULL ? 0 : -1;
}
