/*  =========================================================================
    meshwatch - one binary, subcommands.

        meshwatch agent --config FILE [--key-name VALUE ...]   the daemon
        meshwatch members [--state-dir DIR] [--json]           this box's view
        meshwatch status  [--state-dir DIR] [--json]
        meshwatch leave   [--state-dir DIR] [--timeout-s S]    graceful leave
        meshwatch events  --connect tcp://HOST:PORT [--json]   follow the VMS stream
        meshwatch keygen                                       a new cluster key
        meshwatch infer   ...                                  run a face detector
        meshwatch camera  add|list|show|rm|assign ...          the camera registry
        meshwatch focus   --camera ID | --lat L --lon L, list  scenario 4
        ... (meshwatch --help lists them all)

    The CLI talks to the local agent over the owner-only control socket in
    STATE_DIR; it never touches the agent's files itself.

    Every subcommand parses its arguments with getopt_long through
    common/cliopt.h, and the rules are the same for all of them: `--help`
    or `-h` prints that subcommand's usage and does nothing else (no socket,
    no key, no file); an unknown option, a missing value, a stray argument
    or a bad number is an error, one line on stderr, exit 2.  A CLI that
    guesses talks to the wrong agent, or makes the right one leave.

    Exit codes: 0 ok, 1 the command failed (the agent said no, a job failed,
    the agent did not exit in time), 2 usage, 3 no agent running or it did
    not answer, 4 permission denied on the control socket.
    ========================================================================= */
#include "config.h"
#include "common/cliopt.h"
#include "common/log.h"
#include "common/loghup.h"
#include "common/sanitize.h"
#include "config/config.h"
#include "gossip/crypto.h"
#include "node/agent.h"
#include "node/analysis.h"
#include "node/cli_render.h"
#include "node/control.h"
#include "node/curve.h"
#include "node/deploy.h"
#include "node/evfollow.h"
#include "node/statelock.h"
#include "pkg/cli.h"

#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <msgpack.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

extern char **environ;
int mw_infer_cli_main (int argc, char **argv);
int mw_forecast_cli_main (int argc, char **argv);
int mw_simulate_cli_main (int argc, char **argv);

#define EXIT_USAGE    2
#define EXIT_NO_AGENT 3
#define EXIT_DENIED   4

//  Long-only options: values above any character (common/cliopt.h).
enum {
    OPT_STATE_DIR = 256,
    OPT_JSON,
    OPT_CONFIG,
    OPT_TIMEOUT_S,
    OPT_CONNECT,
    OPT_COUNT,
    OPT_SERVER_KEY,
    OPT_CLIENT_CERT,
    OPT_KEYGEN,
    OPT_CAMERA,
    OPT_IMAGE,
    OPT_MODEL,
    OPT_DEADLINE_MS,
    OPT_PRIORITY,
    OPT_WAIT_MS,
    OPT_BOX,
    OPT_ANY,
    OPT_LAT,
    OPT_LON,
    OPT_RADIUS_M,
    OPT_TTL_S,
    OPT_SINCE,
    OPT_API,
    OPT_TOKEN_FILE,
    OPT_INSECURE,
    OPT_CACERT,
    OPT_NAME,
    OPT_READ_ONLY,
    OPT_RESULT,
    OPT_KEY = 1000,   //  agent: OPT_KEY + i is config key i (--node-name ...)
};

#define MW_OPT_HELP                                                                                          \
    {                                                                                                        \
        "help", no_argument, NULL, 'h'                                                                       \
    }
#define MW_OPT_STATE_DIR                                                                                     \
    {                                                                                                        \
        "state-dir", required_argument, NULL, OPT_STATE_DIR                                                  \
    }
#define MW_OPT_JSON                                                                                          \
    {                                                                                                        \
        "json", no_argument, NULL, OPT_JSON                                                                  \
    }
#define MW_OPT_END                                                                                           \
    {                                                                                                        \
        NULL, 0, NULL, 0                                                                                     \
    }

#define STATE_DIR_HELP                                                                                       \
    "  --state-dir DIR  the agent's STATE_DIR (default $MESHWATCH_STATE_DIR, then /var/lib/meshwatch)\n"

//  The subcommands, in the order `meshwatch --help` lists them.  The
//  synopsis lines are what tests/cli/cli_help_lo.sh reads to find every
//  subcommand: each starts with two spaces and the name.
typedef struct {
    const char *name;
    const char *synopsis;
    int (*run) (int argc, char **argv);
} command_t;
static const command_t s_commands[];

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch COMMAND [options]   (meshwatch COMMAND --help for one command)\n\n");
    for (const command_t *c = s_commands; c->name; c++)
        fprintf (f, "  %-16s %s\n", c->name, c->synopsis);
    fprintf (f, "\nSTATE_DIR defaults to $MESHWATCH_STATE_DIR, then /var/lib/meshwatch.\n"
                "agent --help lists every config key.  Exit codes: 0 ok, 1 failed, 2 usage,\n"
                "3 no agent running (or not answering), 4 permission denied.\n");
}

//  The usual prologue: --help wins; then the parser.  NULL with *rc set
//  when the caller must return *rc at once.
static mw_cliopt_t *
s_parser (const char *cmd, int argc, char **argv, const struct option *opts, void (*usage) (FILE *), int *rc)
{
    if (mw_cliopt_wants_help (argc, argv)) {
        usage (stdout);
        *rc = 0;
        return NULL;
    }
    mw_cliopt_t *p = mw_cliopt_new (cmd, argc, argv, opts);
    if (!p)
        *rc = 1;
    return p;
}

static const char *
s_default_state_dir (void)
{
    const char *env = getenv ("MESHWATCH_STATE_DIR");
    return env && *env ? env : "/var/lib/meshwatch";
}

//  --------------------------------------------------------------------------
//  agent, analysis-server

static void
s_agent_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch agent [--config FILE] [--key-name VALUE ...]\n\n"
                "Runs the mesh daemon in the foreground.  --config defaults to $MESHWATCH_CONFIG.\n"
                "Every config key below is also a flag (--node-name edge-07 sets NODE_NAME);\n"
                "precedence: flag > env MESHWATCH_KEY > file > default.  One agent per STATE_DIR.\n"
                "SIGTERM/SIGINT: leave the mesh and exit; SIGHUP: reopen LOG_FILE.\n\n");
    mw_config_print_help ();
}

static void
s_server_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch analysis-server [--config FILE] [--key-name VALUE ...]\n\n"
                "Runs the VMS-side analysis server (needs CLUSTER_KEY, VMS_PORT, MODELS_DIR).\n"
                "It takes the same config keys and flags as the agent (meshwatch agent --help).\n"
                "SIGTERM/SIGINT: exit; SIGHUP: reopen LOG_FILE.\n");
}

//  The option table of the agent: --config, --help and one flag per config
//  key, made from the key table so that a new key is a new flag at once.
//  Freed with s_agent_opts_free.
static struct option *
s_agent_opts_new (void)
{
    size_t n = 0;
    while (mw_config_key_name (n))
        n++;
    struct option *opts = calloc (n + 3, sizeof *opts);
    if (!opts)
        return NULL;
    opts[0] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
    opts[1] = (struct option) MW_OPT_HELP;
    for (size_t i = 0; i < n; i++) {
        char *name = strdup (mw_config_key_name (i));
        if (!name) {
            for (size_t k = 0; k < i; k++)
                free ((char *) opts[2 + k].name);
            free (opts);
            return NULL;
        }
        for (char *c = name; *c; c++)
            *c = *c == '_' ? '-' : (char) tolower ((unsigned char) *c);
        opts[2 + i] = (struct option){name, required_argument, NULL, OPT_KEY + (int) i};
    }
    return opts;
}

static void
s_agent_opts_free (struct option **opts_p)
{
    struct option *opts = *opts_p;
    if (!opts)
        return;
    for (struct option *o = opts + 2; o->name; o++)
        free ((char *) o->name);
    free (opts);
    *opts_p = NULL;
}

//  Parse, load file then env then flags, validate.  0 with *cfg_p, or the
//  exit code (the message is printed).
static int
s_agent_config (const char *cmd, int argc, char **argv, bool server, mw_config_t **cfg_p)
{
    struct option *opts = s_agent_opts_new ();
    int *keys = calloc ((size_t) argc, sizeof *keys);
    const char **values = calloc ((size_t) argc, sizeof *values);
    char (*origins)[64] = calloc ((size_t) argc, sizeof *origins);
    mw_cliopt_t *p = opts ? mw_cliopt_new (cmd, argc, argv, opts) : NULL;
    mw_config_t *cfg = mw_config_new ();
    int rc = 1, n = 0, c;
    const char *config_path = getenv ("MESHWATCH_CONFIG");
    char err[512];
    if (!opts || !keys || !values || !origins || !p || !cfg)
        goto done;
    //  Flags are applied after the file and the environment: collect them.
    while ((c = mw_cliopt_next (p)) >= 0) {
        if (c == OPT_CONFIG)
            config_path = mw_cliopt_arg (p);
        else if (c >= OPT_KEY) {
            keys[n] = c - OPT_KEY;
            values[n] = mw_cliopt_arg (p);
            snprintf (origins[n], sizeof origins[n], "%s", mw_cliopt_name (p));
            n++;
        }
    }
    rc = EXIT_USAGE;
    if (c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0)
        goto done;
    if (config_path && mw_config_load_file (cfg, config_path, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        goto done;
    }
    if (mw_config_apply_env (cfg, environ, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (mw_config_set (cfg, mw_config_key_name ((size_t) keys[i]), values[i], origins[i], err, sizeof err)
            != 0) {
            fprintf (stderr, "%s\n", err);
            goto done;
        }
    if ((server ? mw_config_validate_server (cfg, err, sizeof err)
                : mw_config_validate_agent (cfg, err, sizeof err))
        != 0) {
        fprintf (stderr, "%s: %s\n", config_path ? config_path : cmd, err);
        goto done;
    }
    *cfg_p = cfg;
    cfg = NULL;
    rc = 0;
done:
    mw_config_destroy (&cfg);
    mw_cliopt_destroy (&p);
    s_agent_opts_free (&opts);
    free (keys);
    free (values);
    free (origins);
    return rc;
}

static int
s_cmd_agent_or_server (int argc, char **argv, bool server)
{
    const char *cmd = server ? "analysis-server" : "agent";
    if (mw_cliopt_wants_help (argc, argv)) {
        (server ? s_server_usage : s_agent_usage) (stdout);
        return 0;
    }
    //  From here on a SIGHUP (a logrotate that runs early) must not kill us.
    signal (SIGHUP, SIG_IGN);
    mw_config_t *cfg = NULL;
    int rc = s_agent_config (cmd, argc, argv, server, &cfg);
    if (rc != 0)
        return rc;
    const mw_settings_t *s = mw_config_settings (cfg);
    mw_log_set_level ((mw_log_level_t) mw_log_level_parse (s->log_level));
    //  One process per STATE_DIR, before anything in it is touched (node
    //  key, state DB, control socket): a second agent would take over the
    //  first one's identity, and peers would list the running box as left.
    char err[512];
    node_statelock_t *lock = node_statelock_new (s->state_dir, err, sizeof err);
    if (!lock) {
        fprintf (stderr, "meshwatch %s: %s\n", cmd, err);
        mw_config_destroy (&cfg);
        return 1;
    }
    if (*s->log_file && mw_log_set_file (s->log_file) != 0) {
        fprintf (stderr, "LOG_FILE=%s: cannot open for append\n", s->log_file);
        node_statelock_destroy (&lock);
        mw_config_destroy (&cfg);
        return 2;
    }
    //  SIGHUP reopens LOG_FILE (logrotate's postrotate).  Before the agent
    //  starts its threads: they inherit SIGHUP blocked (common/loghup.h).
    mw_loghup_t *hup = mw_loghup_new ();
    if (!hup)
        mw_warn ("sighup_off", "reason=\"cannot start the SIGHUP watcher: SIGHUP is ignored\"");
    rc = server ? node_analysis_run (cfg) : node_agent_run (cfg);
    mw_loghup_destroy (&hup);
    mw_config_destroy (&cfg);
    mw_log_set_file (NULL);
    //  The kernel would release it at exit too (and does on kill -9).
    node_statelock_destroy (&lock);
    return rc;
}

//  --------------------------------------------------------------------------
//  Control-socket clients

//  Can this process talk to the agent's control socket at all?  0 yes;
//  else one line on stderr and the exit code: no agent (no socket, or a
//  stale one nobody listens on) and permission denied (a non-root CLI
//  against a root agent) are different answers to the operator.
static int
s_control_probe (const char *path, const char *state_dir)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        int e = errno;
        if (e == EACCES) {
            fprintf (stderr, "permission denied: %s (STATE_DIR is owner-only: run as the agent's user)\n",
                     path);
            return EXIT_DENIED;
        }
        if (e == ENOENT || e == ENOTDIR)
            fprintf (stderr, "no agent at %s (is `meshwatch agent` running with STATE_DIR=%s?)\n", path,
                     state_dir);
        else
            fprintf (stderr, "cannot reach the agent at %s: %s\n", path, strerror (e));
        return EXIT_NO_AGENT;
    }
    struct sockaddr_un sa;
    memset (&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen (path) >= sizeof sa.sun_path)
        return 0;   //  zmq says what is wrong with it
    memcpy (sa.sun_path, path, strlen (path));
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int rc = connect (fd, (struct sockaddr *) &sa, sizeof sa);
    int e = errno;
    close (fd);
    if (rc == 0 || e == EAGAIN)   //  EAGAIN: a full backlog, a busy agent
        return 0;
    if (e == EACCES || e == EPERM) {
        fprintf (stderr,
                 "permission denied: %s (the control socket is owner-only: run as the agent's user)\n", path);
        return EXIT_DENIED;
    }
    if (e == ECONNREFUSED)
        fprintf (stderr, "no agent running at %s (a stale control socket: was the agent killed?)\n", path);
    else
        fprintf (stderr, "cannot reach the agent at %s: %s\n", path, strerror (e));
    return EXIT_NO_AGENT;
}

//  Send one request; print the reply (rendered by node/cli_render.c; as
//  the daemon's JSON document when the request ends in " --json").  Exit
//  code 0 ok, 1 agent error, 3 no agent answered, 4 permission denied.
static int
s_request (const char *state_dir, const char *request)
{
    char path[512];
    snprintf (path, sizeof path, "%s/control.sock", state_dir);
    int probe = s_control_probe (path, state_dir);
    if (probe != 0)
        return probe;
    char verb[256];
    snprintf (verb, sizeof verb, "%s", request);
    size_t n = strlen (verb);
    bool json = n >= 7 && !strcmp (verb + n - 7, " --json");
    if (json)
        verb[n - 7] = 0;
    return node_cli_request (state_dir, verb, json);
}

//  members, status, jobs: [--state-dir DIR] [--json], one request.
static const struct option s_query_opts[] = {MW_OPT_STATE_DIR, MW_OPT_JSON, MW_OPT_HELP, MW_OPT_END};

static int
s_query (const char *cmd, int argc, char **argv, void (*usage) (FILE *))
{
    int rc = 0, c;
    mw_cliopt_t *p = s_parser (cmd, argc, argv, s_query_opts, usage, &rc);
    if (!p)
        return rc;
    const char *state_dir = s_default_state_dir ();
    bool json = false;
    while ((c = mw_cliopt_next (p)) >= 0) {
        if (c == OPT_STATE_DIR)
            state_dir = mw_cliopt_arg (p);
        else if (c == OPT_JSON)
            json = true;
    }
    rc = c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0 ? EXIT_USAGE : 0;
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    char request[64];
    snprintf (request, sizeof request, "%s%s", cmd, json ? " --json" : "");
    return s_request (state_dir, request);
}

static void
s_members_usage (FILE *f)
{
    fprintf (f,
             "usage: meshwatch members [--state-dir DIR] [--json]\n\n"
             "The mesh as this box's agent sees it: one line per member (state, incarnation,\n"
             "address, forecasts, the coordinator); --json prints the agent's document.\n\n" STATE_DIR_HELP);
}

static void
s_status_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch status [--state-dir DIR] [--json]\n\n"
                "This agent's identity, incarnation, counters and health.\n\n" STATE_DIR_HELP);
}

static void
s_jobs_usage (FILE *f)
{
    fprintf (
        f,
        "usage: meshwatch jobs [--state-dir DIR] [--json]\n\n"
        "Live and recent jobs of this agent: where they ran, how long, escalated or not.\n\n" STATE_DIR_HELP);
}

static int
s_cmd_members (int argc, char **argv)
{
    return s_query ("members", argc, argv, s_members_usage);
}

static int
s_cmd_status (int argc, char **argv)
{
    return s_query ("status", argc, argv, s_status_usage);
}

static int
s_cmd_jobs (int argc, char **argv)
{
    return s_query ("jobs", argc, argv, s_jobs_usage);
}

//  --------------------------------------------------------------------------
//  leave: ask the agent to leave, then wait until it has exited, so that a
//  restart right after `meshwatch leave` finds its ports free.

static void
s_leave_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch leave [--state-dir DIR] [--timeout-s S]\n\n"
                "The agent tells its peers it leaves (they list it as left, not dead) and exits.\n"
                "Returns when the agent process has exited and its ports are free, or fails\n"
                "(exit 1) after --timeout-s seconds (default 10).\n\n" STATE_DIR_HELP
                "  --timeout-s S    how long to wait for the agent to exit, 1..3600\n");
}

//  True once PID is gone: no such process, or a zombie (its parent has not
//  reaped it, but it holds no file or port any more).
static bool
s_pid_gone (pid_t pid)
{
    if (kill (pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], buf[256] = "";
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return errno == ENOENT;
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = 0;
    //  "PID (comm) STATE ...": comm may hold spaces and parentheses.
    const char *rp = strrchr (buf, ')');
    return rp && (rp[1] == ' ') && (rp[2] == 'Z' || rp[2] == 'X');
}

static int
s_cmd_leave (int argc, char **argv)
{
    static const struct option opts[] = {
        MW_OPT_STATE_DIR, {"timeout-s", required_argument, NULL, OPT_TIMEOUT_S}, MW_OPT_HELP, MW_OPT_END};
    int rc = 0, c;
    mw_cliopt_t *p = s_parser ("leave", argc, argv, opts, s_leave_usage, &rc);
    if (!p)
        return rc;
    const char *state_dir = s_default_state_dir ();
    int64_t timeout_s = 10;
    while ((c = mw_cliopt_next (p)) >= 0) {
        if (c == OPT_STATE_DIR)
            state_dir = mw_cliopt_arg (p);
        else if (c == OPT_TIMEOUT_S && mw_cliopt_int (p, 1, 3600, &timeout_s) != 0)
            c = MW_CLIOPT_ERROR;
        if (c == MW_CLIOPT_ERROR)
            break;
    }
    rc = c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0 ? EXIT_USAGE : 0;
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    //  Which process holds STATE_DIR: the one we wait for.
    pid_t pid = node_statelock_holder (state_dir);
    rc = s_request (state_dir, "leave");
    if (rc != 0)
        return rc;
    uint64_t t0 = zclock_mono (), limit = (uint64_t) timeout_s * 1000;
    while (true) {
        //  Both: the lock is free (no agent owns STATE_DIR) and the process
        //  is gone (the kernel closed its sockets: the ports are free).
        pid_t holder = node_statelock_holder (state_dir);
        bool held = holder > 0 || (holder < 0 && errno == EBUSY);   //  EBUSY: held, PID unknown
        if (holder > 0 && pid <= 0)
            pid = holder;
        if (!held && (pid <= 0 || s_pid_gone (pid)))
            return 0;
        if (zclock_mono () - t0 >= limit)
            break;
        zclock_sleep (20);
    }
    fprintf (stderr,
             "meshwatch leave: the agent (PID %d) has not exited %lld s after it was asked to leave\n",
             (int) pid, (long long) timeout_s);
    return 1;
}

//  --------------------------------------------------------------------------
//  load QUEUE RATE

static void
s_load_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch load QUEUE RATE [--state-dir DIR]\n\n"
                "Feeds the scheduler's inputs by hand: the inference queue length (0..4294967295)\n"
                "and the job arrival rate in jobs per second (0 to below 1000000).\n\n" STATE_DIR_HELP);
}

static int
s_cmd_load (int argc, char **argv)
{
    static const struct option opts[] = {MW_OPT_STATE_DIR, MW_OPT_HELP, MW_OPT_END};
    int rc = 0, c, n = 0;
    mw_cliopt_t *p = s_parser ("load", argc, argv, opts, s_load_usage, &rc);
    if (!p)
        return rc;
    const char *state_dir = s_default_state_dir ();
    while ((c = mw_cliopt_next (p)) >= 0)
        if (c == OPT_STATE_DIR)
            state_dir = mw_cliopt_arg (p);
    char **rest = mw_cliopt_rest (p, &n);
    int64_t queue = 0;
    double rate = 0;
    if (c == MW_CLIOPT_ERROR)
        rc = EXIT_USAGE;
    else if (n < 2)
        rc = mw_cliopt_fail ("load", "needs QUEUE and RATE");
    else if (n > 2)
        rc = mw_cliopt_fail ("load", "unexpected argument '%.60s'", rest[2]);
    else if (mw_cliopt_parse_int (rest[0], 0, UINT32_MAX, &queue) != 0)
        rc = mw_cliopt_fail ("load", "QUEUE '%.40s' is not an integer in 0..%u", rest[0], UINT32_MAX);
    else if (mw_cliopt_parse_double (rest[1], 0, 999999.99, &rate) != 0)
        rc = mw_cliopt_fail ("load", "RATE '%.40s' is not a number in 0..999999.99", rest[1]);
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    //  The agent parses the text again (it checks every request itself).
    char request[64];
    snprintf (request, sizeof request, "load %lld %.20s", (long long) queue, rest[1]);
    return s_request (state_dir, request);
}

//  --------------------------------------------------------------------------
//  submit: one frame through the mesh; waits for its result.

static char *
s_read_file (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek (f, 0, SEEK_END) == 0) {
        long n = ftell (f);
        if (n > 0 && n <= MW_FRAME_MAX && fseek (f, 0, SEEK_SET) == 0) {
            buf = malloc ((size_t) n);
            if (buf && fread (buf, 1, (size_t) n, f) != (size_t) n) {
                free (buf);
                buf = NULL;
            }
            *len = (size_t) n;
        }
        else if (n > MW_FRAME_MAX)
            *len = (size_t) n;
    }
    fclose (f);
    return buf;
}

static void
s_submit_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch submit --camera ID --image FILE [--deadline-ms D] [--model M]\n"
                "                        [--priority 0-9] [--wait-ms W] [--state-dir DIR] [--json]\n\n"
                "Runs one JPEG frame through the mesh (this box, a peer or the analysis server)\n"
                "and prints the result when the job has ended.\n\n"
                "  --camera ID      camera id of the frame\n"
                "  --image FILE     the JPEG (at most 4 MiB)\n"
                "  --model M        tiny-face (default) or ssd-mobilenet\n"
                "  --deadline-ms D  the job's deadline, 1..3600000 (default: the agent's DEADLINE_MS)\n"
                "  --priority P     0..9 (default 5)\n"
                "  --wait-ms W      give up waiting for the result after W ms (default deadline + 5 "
                "s)\n" STATE_DIR_HELP "  --json           print the job's JSON document\n");
}

static int
s_cmd_submit (int argc, char **argv)
{
    static const struct option opts[] = {{"camera", required_argument, NULL, OPT_CAMERA},
                                         {"image", required_argument, NULL, OPT_IMAGE},
                                         {"model", required_argument, NULL, OPT_MODEL},
                                         {"deadline-ms", required_argument, NULL, OPT_DEADLINE_MS},
                                         {"priority", required_argument, NULL, OPT_PRIORITY},
                                         {"wait-ms", required_argument, NULL, OPT_WAIT_MS},
                                         MW_OPT_STATE_DIR,
                                         MW_OPT_JSON,
                                         MW_OPT_HELP,
                                         MW_OPT_END};
    int prc = 0, c;   //  `rc` below is the job's
    mw_cliopt_t *p = s_parser ("submit", argc, argv, opts, s_submit_usage, &prc);
    if (!p)
        return prc;
    const char *camera = NULL, *image = NULL, *model = "tiny-face", *deadline = "", *prio = "5";
    const char *state_dir = s_default_state_dir ();
    bool json = false;
    long wait_ms = 0;
    int64_t v;
    while ((c = mw_cliopt_next (p)) >= 0) {
        switch (c) {
        case OPT_CAMERA: camera = mw_cliopt_arg (p); break;
        case OPT_IMAGE: image = mw_cliopt_arg (p); break;
        case OPT_MODEL: model = mw_cliopt_arg (p); break;
        case OPT_STATE_DIR: state_dir = mw_cliopt_arg (p); break;
        case OPT_JSON: json = true; break;
        //  The agent gets the text as given, checked here first.
        case OPT_DEADLINE_MS:
            deadline = mw_cliopt_arg (p);
            if (mw_cliopt_int (p, 1, 3600000, &v) != 0)
                c = MW_CLIOPT_ERROR;
            break;
        case OPT_PRIORITY:
            prio = mw_cliopt_arg (p);
            if (mw_cliopt_int (p, 0, 9, &v) != 0)
                c = MW_CLIOPT_ERROR;
            break;
        case OPT_WAIT_MS:
            if (mw_cliopt_int (p, 1, 86400000, &v) != 0)
                c = MW_CLIOPT_ERROR;
            wait_ms = (long) v;
            break;
        }
        if (c == MW_CLIOPT_ERROR)
            break;
    }
    prc = c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0 ? EXIT_USAGE : 0;
    mw_cliopt_destroy (&p);
    if (prc)
        return prc;
    if (!camera || !image)
        return mw_cliopt_fail ("submit", "--camera and --image are required");
    size_t len = 0;
    char *jpeg = s_read_file (image, &len);
    if (!jpeg) {
        if (len > MW_FRAME_MAX)
            fprintf (stderr, "%s: %zu bytes: frames are limited to %d bytes\n", image, len, MW_FRAME_MAX);
        else
            fprintf (stderr, "%s: cannot read: %s\n", image, strerror (errno));
        return 2;
    }
    char path[512];
    snprintf (path, sizeof path, "%s/control.sock", state_dir);
    int rc = s_control_probe (path, state_dir);
    if (rc == 0)
        rc = node_cli_submit (state_dir, camera, model, deadline, prio, jpeg, len, wait_ms, json);
    free (jpeg);
    return rc;
}

//  --------------------------------------------------------------------------
//  events

static void
s_print_mp_object (const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR: {
        //  Names and camera ids come from the wire: never raw to a terminal.
        char raw[512], safe[2048];
        snprintf (raw, sizeof raw, "%.*s", (int) o->via.str.size, o->via.str.ptr);
        printf ("%s", node_cli_safe (raw, safe, sizeof safe));
        break;
    }
    case MSGPACK_OBJECT_POSITIVE_INTEGER: printf ("%llu", (unsigned long long) o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: printf ("%lld", (long long) o->via.i64); break;
    default: msgpack_object_print (stdout, *o);
    }
}

static volatile sig_atomic_t s_events_stop = 0;
static void
s_events_signal (int sig)
{
    (void) sig;
    s_events_stop = 1;
}

static void
s_events_usage (FILE *f)
{
    fprintf (f,
             "usage: meshwatch events --connect tcp://HOST:PORT [--json] [--count N]\n"
             "                        [--server-key FILE|Z85 --client-cert FILE]\n"
             "                        [--since CURSOR --api URL [--token-file FILE] [--cacert FILE]]\n"
             "       meshwatch events --keygen FILE\n\n"
             "Prints an agent's (or the analysis server's) event stream, the one the VMS reads:\n"
             "decoded msgpack events, or the JSON family with --json.  Stops after N events.\n"
             "A stream beyond loopback speaks CURVE (EVENTS_BIND=mesh): --server-key is the box's\n"
             "events certificate (STATE_DIR/events.cert) or its Z85 key, --client-cert a key pair\n"
             "the box lists in EVENTS_CURVE_CLIENTS.  --keygen FILE writes such a pair: FILE\n"
             "(public) and FILE_secret (mode 0600, stays on the reader).\n\n"
             "  --since CURSOR   first replay what came after CURSOR (an event's id EPOCH-SEQ, or\n"
             "                   its seq), then follow live: every event once, in order, no gap\n"
             "  --api URL        the box's HTTP API (http(s)://HOST:API_PORT), where the replay comes from\n"
             "  --token-file F   the API token (default: $MESHWATCH_TOKEN)\n"
             "  --cacert FILE    https: the certificate to trust (--insecure: any)\n");
}

static int
s_cmd_events (int argc, char **argv)
{
    static const struct option opts[] = {{"connect", required_argument, NULL, OPT_CONNECT},
                                         {"count", required_argument, NULL, OPT_COUNT},
                                         {"server-key", required_argument, NULL, OPT_SERVER_KEY},
                                         {"client-cert", required_argument, NULL, OPT_CLIENT_CERT},
                                         {"keygen", required_argument, NULL, OPT_KEYGEN},
                                         {"since", required_argument, NULL, OPT_SINCE},
                                         {"api", required_argument, NULL, OPT_API},
                                         {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
                                         {"cacert", required_argument, NULL, OPT_CACERT},
                                         {"insecure", no_argument, NULL, OPT_INSECURE},
                                         MW_OPT_JSON,
                                         MW_OPT_HELP,
                                         MW_OPT_END};
    int rc = 0, c;
    mw_cliopt_t *p = s_parser ("events", argc, argv, opts, s_events_usage, &rc);
    if (!p)
        return rc;
    const char *endpoint = NULL, *server_key = NULL, *client_cert = NULL, *keygen = NULL;
    const char *since = NULL, *api = NULL, *token_file = NULL, *cacert = NULL;
    int64_t max_events = -1;
    bool json = false, insecure = false;
    while ((c = mw_cliopt_next (p)) >= 0) {
        if (c == OPT_CONNECT)
            endpoint = mw_cliopt_arg (p);
        else if (c == OPT_SERVER_KEY)
            server_key = mw_cliopt_arg (p);
        else if (c == OPT_CLIENT_CERT)
            client_cert = mw_cliopt_arg (p);
        else if (c == OPT_KEYGEN)
            keygen = mw_cliopt_arg (p);
        else if (c == OPT_JSON)
            json = true;
        else if (c == OPT_SINCE)
            since = mw_cliopt_arg (p);
        else if (c == OPT_API)
            api = mw_cliopt_arg (p);
        else if (c == OPT_TOKEN_FILE)
            token_file = mw_cliopt_arg (p);
        else if (c == OPT_CACERT)
            cacert = mw_cliopt_arg (p);
        else if (c == OPT_INSECURE)
            insecure = true;
        else if (c == OPT_COUNT && mw_cliopt_int (p, 1, INT64_MAX, &max_events) != 0)
            break;
    }
    rc = c != MW_CLIOPT_END || mw_cliopt_no_rest (p) != 0 ? EXIT_USAGE : 0;
    //  The strings point into argv: still valid after the parser goes.
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    if (keygen) {
        //  A reader's key pair: FILE (public: list it in the box's
        //  EVENTS_CURVE_CLIENTS) and FILE_secret (keep it on the reader).
        char err[512] = "";
        if (node_curve_keygen (keygen, err, sizeof err) != 0) {
            fprintf (stderr, "meshwatch events --keygen: %s\n", err);
            return 1;
        }
        printf ("%s (public) and %s_secret written\n", keygen, keygen);
        return 0;
    }
    if (!endpoint)
        return mw_cliopt_fail ("events", "--connect tcp://HOST:PORT is required");
    if (!server_key != !client_cert)
        return mw_cliopt_fail ("events", "--server-key and --client-cert go together (CURVE)");
    if (!since && (api || token_file || cacert || insecure))
        return mw_cliopt_fail ("events", "--api, --token-file, --cacert and --insecure go with --since");
    zsys_handler_set (NULL);
    signal (SIGINT, s_events_signal);
    signal (SIGTERM, s_events_signal);
    if (since) {
        //  The token from a file or the environment, never the command line
        //  (ps would show it).
        char token[256] = "";
        if (token_file) {
            FILE *tf = fopen (token_file, "r");
            if (!tf || !fgets (token, sizeof token, tf)) {
                fprintf (stderr, "%s: cannot read the token: %s\n", token_file, strerror (errno));
                if (tf)
                    fclose (tf);
                return 2;
            }
            fclose (tf);
            token[strcspn (token, "\r\n")] = 0;
        }
        else if (getenv ("MESHWATCH_TOKEN"))
            snprintf (token, sizeof token, "%s", getenv ("MESHWATCH_TOKEN"));
        setvbuf (stdout, NULL, _IOLBF, 0);
        node_evfollow_opts_t fo = {endpoint, api,        token,       since,      json,          insecure,
                                   cacert,   server_key, client_cert, max_events, &s_events_stop};
        return node_evfollow_run (&fo);
    }
    zsock_t *sub = zsock_new (ZMQ_SUB);
    char cerr[512] = "";
    if (sub && server_key && node_curve_client_apply (sub, server_key, client_cert, cerr, sizeof cerr) != 0) {
        fprintf (stderr, "meshwatch events: %s\n", cerr);
        zsock_destroy (&sub);
        return 1;
    }
    if (!sub || zsock_connect (sub, "%s", endpoint) < 0) {
        fprintf (stderr, "%s: cannot connect\n", endpoint);
        zsock_destroy (&sub);
        return 1;
    }
    //  --json: the JSON family as is; otherwise decode the msgpack family,
    //  so both encodings are exercised by people who use this tool.
    if (json)
        zsock_set_subscribe (sub, "json.");
    else {
        const char *families[] = {"member.", "node.", "coordinator.", "job.", "server.", "env.", NULL};
        for (int i = 0; families[i]; i++)
            zsock_set_subscribe (sub, families[i]);
    }
    zsock_set_rcvtimeo (sub, 200);
    long seen = 0;
    setvbuf (stdout, NULL, _IOLBF, 0);
    while (!s_events_stop && (max_events < 0 || seen < max_events)) {
        zmsg_t *m = zmsg_recv (sub);
        if (!m)
            continue;
        char *topic = zmsg_popstr (m);
        zframe_t *body = zmsg_pop (m);
        if (topic && body) {
            if (json)
                printf ("%.*s\n", (int) zframe_size (body), (const char *) zframe_data (body));
            else {
                msgpack_unpacked up;
                msgpack_unpacked_init (&up);
                if (msgpack_unpack_next (&up, (const char *) zframe_data (body), zframe_size (body), NULL)
                        == MSGPACK_UNPACK_SUCCESS
                    && up.data.type == MSGPACK_OBJECT_MAP) {
                    printf ("%-22s", topic);
                    for (uint32_t k = 0; k < up.data.via.map.size; k++) {
                        const msgpack_object_kv *kv = &up.data.via.map.ptr[k];
                        printf (" ");
                        s_print_mp_object (&kv->key);
                        printf ("=");
                        s_print_mp_object (&kv->val);
                    }
                    printf ("\n");
                }
                else
                    fprintf (stderr, "%s: undecodable event\n", topic);
                msgpack_unpacked_destroy (&up);
            }
            seen++;
        }
        zstr_free (&topic);
        zframe_destroy (&body);
        zmsg_destroy (&m);
    }
    zsock_destroy (&sub);
    return 0;
}

//  --------------------------------------------------------------------------
//  token, env: the VMS interface's local administration (node/vms.h)

static void
s_token_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch token create --name NAME [--read-only] [--state-dir DIR] [--json]\n"
                "       meshwatch token list [--state-dir DIR] [--json]\n"
                "       meshwatch token revoke --name NAME [--state-dir DIR]\n\n"
                "Bearer tokens for the agent's HTTP API (API_PORT).  create prints the token once:\n"
                "the box keeps only its hash.  A read-only token may only GET.  revoke: refused\n"
                "from then on.\n\n" STATE_DIR_HELP "  --json           print the agent's JSON document\n");
}

static int
s_cmd_token (int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, NULL, OPT_NAME},
                                         {"read-only", no_argument, NULL, OPT_READ_ONLY},
                                         MW_OPT_STATE_DIR,
                                         MW_OPT_JSON,
                                         MW_OPT_HELP,
                                         MW_OPT_END};
    int rc = 0, c, n = 0;
    mw_cliopt_t *p = s_parser ("token", argc, argv, opts, s_token_usage, &rc);
    if (!p)
        return rc;
    const char *state_dir = s_default_state_dir (), *name = NULL;
    bool json = false, ro = false;
    while ((c = mw_cliopt_next (p)) >= 0) {
        if (c == OPT_NAME)
            name = mw_cliopt_arg (p);
        else if (c == OPT_READ_ONLY)
            ro = true;
        else if (c == OPT_STATE_DIR)
            state_dir = mw_cliopt_arg (p);
        else if (c == OPT_JSON)
            json = true;
    }
    char **rest = mw_cliopt_rest (p, &n);
    const char *action = n >= 1 ? rest[0] : NULL;
    char request[160] = "";
    if (c == MW_CLIOPT_ERROR)
        rc = EXIT_USAGE;
    else if (!action)
        rc = mw_cliopt_fail ("token", "needs an action: create, list or revoke");
    else if (n > 1)
        rc = mw_cliopt_fail ("token", "unexpected argument '%.60s'", rest[1]);
    else if (!strcmp (action, "create") || !strcmp (action, "revoke")) {
        if (!name)
            rc = mw_cliopt_fail ("token", "%s needs --name NAME", action);
        else if (strlen (name) > 64
                 || strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
                        != strlen (name))
            rc = mw_cliopt_fail ("token", "--name: 1 to 64 letters, digits, '.', '_' or '-'");
        else if (ro && strcmp (action, "create"))
            rc = mw_cliopt_fail ("token", "--read-only goes with create");
        else
            snprintf (request, sizeof request, "token_%s %s%s", action, name, ro ? " ro" : "");
    }
    else if (!strcmp (action, "list")) {
        if (name || ro)
            rc = mw_cliopt_fail ("token", "list takes no --name or --read-only");
        else
            snprintf (request, sizeof request, "token_list");
    }
    else
        rc = mw_cliopt_fail ("token", "unknown action '%.40s' (create, list or revoke)", action);
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    if (json)
        strncat (request, " --json", sizeof request - strlen (request) - 1);
    return s_request (state_dir, request);
}

static void
s_env_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch env report --result R [--state-dir DIR] [--json]\n\n"
                "Reports this box's environment-information result (the seed's code, e.g. 4): logged as\n"
                "an env.report event and POSTed to the VMS (VMS_URL:VMS_ENV_PORT) as\n"
                "{\"nid\",\"date\",\"time\",\"result\"}, retried until it arrives.\n\n" STATE_DIR_HELP
                "  --result R       the result code, 1 to 4 digits\n"
                "  --json           print the agent's JSON document\n");
}

static int
s_cmd_env (int argc, char **argv)
{
    static const struct option opts[] = {{"result", required_argument, NULL, OPT_RESULT},
                                         MW_OPT_STATE_DIR,
                                         MW_OPT_JSON,
                                         MW_OPT_HELP,
                                         MW_OPT_END};
    int rc = 0, c, n = 0;
    mw_cliopt_t *p = s_parser ("env", argc, argv, opts, s_env_usage, &rc);
    if (!p)
        return rc;
    const char *state_dir = s_default_state_dir (), *result = NULL;
    bool json = false;
    int64_t v;
    while ((c = mw_cliopt_next (p)) >= 0) {
        if (c == OPT_RESULT) {
            result = mw_cliopt_arg (p);
            if (strlen (result) > 4 || mw_cliopt_int (p, 0, 9999, &v) != 0)
                c = MW_CLIOPT_ERROR;
        }
        else if (c == OPT_STATE_DIR)
            state_dir = mw_cliopt_arg (p);
        else if (c == OPT_JSON)
            json = true;
        if (c == MW_CLIOPT_ERROR)
            break;
    }
    char **rest = mw_cliopt_rest (p, &n);
    if (c == MW_CLIOPT_ERROR)
        rc = EXIT_USAGE;
    else if (n < 1 || strcmp (rest[0], "report"))
        rc = mw_cliopt_fail ("env", "needs the action: report");
    else if (n > 1)
        rc = mw_cliopt_fail ("env", "unexpected argument '%.60s'", rest[1]);
    else if (!result)
        rc = mw_cliopt_fail ("env", "report needs --result R");
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    char request[64];
    snprintf (request, sizeof request, "env_report %s%s", result, json ? " --json" : "");
    return s_request (state_dir, request);
}

//  --------------------------------------------------------------------------
//  keygen, version, help; the other libraries' subcommands

static void
s_keygen_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch keygen\n\n"
                "Prints a new random cluster key (base64 of 32 bytes) for CLUSTER_KEY.\n"
                "Make one per site and give the same key to every box of the mesh.\n");
}

static int
s_cmd_keygen (int argc, char **argv)
{
    static const struct option opts[] = {MW_OPT_HELP, MW_OPT_END};
    int rc = 0, c;
    mw_cliopt_t *p = s_parser ("keygen", argc, argv, opts, s_keygen_usage, &rc);
    if (!p)
        return rc;
    while ((c = mw_cliopt_next (p)) >= 0)
        ;
    rc = c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0 ? EXIT_USAGE : 0;
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    char key[64];
    gossip_key_generate (key);
    printf ("%s\n", key);
    return 0;
}

static void
s_version_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch version\n\nPrints the version and the wire protocol version.\n");
}

static int
s_cmd_version (int argc, char **argv)
{
    static const struct option opts[] = {MW_OPT_HELP, MW_OPT_END};
    int rc = 0, c;
    mw_cliopt_t *p = s_parser ("version", argc, argv, opts, s_version_usage, &rc);
    if (!p)
        return rc;
    while ((c = mw_cliopt_next (p)) >= 0)
        ;
    rc = c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0 ? EXIT_USAGE : 0;
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    printf ("meshwatch %s (protocol %d)\n", PACKAGE_VERSION, MW_WIRE_VERSION);
    return 0;
}

static void
s_help_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch help [COMMAND]\n\nLists the commands, or shows one command's help.\n");
}

static int
s_cmd_help (int argc, char **argv)
{
    static const struct option opts[] = {MW_OPT_HELP, MW_OPT_END};
    int rc = 0, c, n = 0;
    mw_cliopt_t *p = s_parser ("help", argc, argv, opts, s_help_usage, &rc);
    if (!p)
        return rc;
    while ((c = mw_cliopt_next (p)) >= 0)
        ;
    char **rest = mw_cliopt_rest (p, &n);
    const char *topic = n == 1 ? rest[0] : NULL;
    if (c == MW_CLIOPT_ERROR)
        rc = EXIT_USAGE;
    else if (n > 1)
        rc = mw_cliopt_fail ("help", "unexpected argument '%.60s'", rest[1]);
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    if (!topic) {
        s_usage (stdout);
        return 0;
    }
    for (const command_t *cmd = s_commands; cmd->name; cmd++)
        if (strcmp (cmd->name, topic) == 0) {
            //  The command's own --help: nothing else runs.
            char *help_argv[] = {(char *) cmd->name, "--help", NULL};
            return cmd->run (2, help_argv);
        }
    return mw_cliopt_fail ("help", "unknown command '%.60s'", topic);
}

static int
s_cmd_agent (int argc, char **argv)
{
    return s_cmd_agent_or_server (argc, argv, false);
}

static int
s_cmd_server (int argc, char **argv)
{
    return s_cmd_agent_or_server (argc, argv, true);
}

//  --------------------------------------------------------------------------
//  camera: the mesh-wide registry (docs/CAMERAS.md)

static void
s_camera_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch camera add --json FILE|-  [--state-dir DIR]\n"
                "       meshwatch camera list [--json]       [--state-dir DIR]\n"
                "       meshwatch camera show ID [--json]    [--state-dir DIR]\n"
                "       meshwatch camera rm ID [--json]      [--state-dir DIR]\n"
                "       meshwatch camera assign ID --box NAME | --any [--json] [--state-dir DIR]\n\n"
                "The camera registry, replicated to every box of the mesh.  `add` takes the\n"
                "camera's JSON document (the seed's format: name, type, gps.latitude/longitude,\n"
                "ip, url, isSupportAnnalysis or isSupportAnalysis; optional id, heading_deg,\n"
                "fov_deg, box, fps, mode) from FILE or stdin (-), adds it or replaces the camera\n"
                "of the same id, and prints it; a bad document is refused with the field named.\n"
                "`list` shows every camera and where it is analysed; `show` one camera with its\n"
                "ingest state; `rm` removes one; `assign` names the box that analyses it\n"
                "(--any lets the mesh place it).\n\n" STATE_DIR_HELP
                "  --json           add: the document follows; else print the agent's JSON\n"
                "  --box NAME       assign: the box's NODE_NAME\n"
                "  --any            assign: no box named; the mesh places the camera\n");
}

//  The document for `camera add`: FILE or stdin ("-"), at most a little
//  more than a camera document may be (the agent names the limit).
static char *
s_read_doc (const char *path, size_t *len)
{
    FILE *f = strcmp (path, "-") ? fopen (path, "rb") : stdin;
    if (!f)
        return NULL;
    size_t cap = 4 * 4096 + 2, n = 0;
    char *buf = malloc (cap);
    if (buf)
        n = fread (buf, 1, cap - 1, f);
    if (buf)
        buf[n] = 0;
    if (f != stdin)
        fclose (f);
    *len = n;
    return buf;
}

static int
s_cmd_camera (int argc, char **argv)
{
    static const struct option opts[] = {{"box", required_argument, NULL, OPT_BOX},
                                         {"any", no_argument, NULL, OPT_ANY},
                                         MW_OPT_STATE_DIR,
                                         MW_OPT_JSON,
                                         MW_OPT_HELP,
                                         MW_OPT_END};
    int rc = 0, c, n = 0;
    mw_cliopt_t *p = s_parser ("camera", argc, argv, opts, s_camera_usage, &rc);
    if (!p)
        return rc;
    const char *state_dir = s_default_state_dir (), *box = NULL;
    bool json = false, any = false;
    while ((c = mw_cliopt_next (p)) >= 0) {
        if (c == OPT_STATE_DIR)
            state_dir = mw_cliopt_arg (p);
        else if (c == OPT_JSON)
            json = true;
        else if (c == OPT_BOX)
            box = mw_cliopt_arg (p);
        else if (c == OPT_ANY)
            any = true;
    }
    char **rest = mw_cliopt_rest (p, &n);
    const char *verb = n > 0 ? rest[0] : "";
    const char *arg = n > 1 ? rest[1] : NULL;
    int want = !strcmp (verb, "list") ? 1 : 2;
    char request[NODE_CONTROL_REQ_MAX + 1] = "";
    char *doc = NULL;
    size_t len = 0;
    if (c == MW_CLIOPT_ERROR)
        rc = EXIT_USAGE;
    else if (!n)
        rc = mw_cliopt_fail ("camera", "needs one of add, list, show, rm, assign");
    else if (strcmp (verb, "add") && strcmp (verb, "list") && strcmp (verb, "show") && strcmp (verb, "rm")
             && strcmp (verb, "assign"))
        rc = mw_cliopt_fail ("camera", "unknown verb '%.40s' (add, list, show, rm, assign)", verb);
    else if (n < want)
        rc = mw_cliopt_fail ("camera", "%s needs %s", verb,
                             !strcmp (verb, "add") ? "a FILE (or - for stdin)" : "an ID");
    else if (n > want)
        rc = mw_cliopt_fail ("camera", "unexpected argument '%.60s'", rest[want]);
    else if ((box || any) && strcmp (verb, "assign"))
        rc = mw_cliopt_fail ("camera", "--box and --any are for assign");
    else if (!strcmp (verb, "assign") && !box == !any)
        rc = mw_cliopt_fail ("camera", "assign needs --box NAME or --any");
    else if (arg && strcmp (verb, "add") && strlen (arg) > 64)
        rc = mw_cliopt_fail ("camera", "ID '%.40s...' is longer than 64 characters", arg);
    else if (box && (strlen (box) > MW_NAME_MAX || strchr (box, ' ')))
        rc = mw_cliopt_fail ("camera", "--box: a NODE_NAME of at most %d characters, no spaces", MW_NAME_MAX);
    else if (!strcmp (verb, "add") && !(doc = s_read_doc (arg, &len))) {
        fprintf (stderr, "meshwatch camera: %s: cannot read: %s\n", arg, strerror (errno));
        rc = EXIT_USAGE;
    }
    if (!strcmp (verb, "list"))
        snprintf (request, sizeof request, "cameras");
    else if (!strcmp (verb, "show") && arg)
        snprintf (request, sizeof request, "camera %s", arg);
    else if (!strcmp (verb, "rm") && arg)
        snprintf (request, sizeof request, "camera-rm %s", arg);
    else if (!strcmp (verb, "assign") && arg)
        snprintf (request, sizeof request, "camera-assign %s%s%s", arg, box && *box ? " " : "",
                  box ? box : "");
    mw_cliopt_destroy (&p);
    if (rc) {
        free (doc);
        return rc;
    }
    char path[512];
    snprintf (path, sizeof path, "%s/control.sock", state_dir);
    rc = s_control_probe (path, state_dir);
    if (rc == 0)
        rc = doc ? node_cli_request_data (state_dir, "camera-add", doc, len, false)
                 : node_cli_request (state_dir, request, json);
    free (doc);
    return rc;
}

//  --------------------------------------------------------------------------
//  focus: scenario 4 by hand

static void
s_focus_usage (FILE *f)
{
    fprintf (f,
             "usage: meshwatch focus --camera ID [--radius-m R] [--ttl-s T] [--json] [--state-dir DIR]\n"
             "       meshwatch focus --lat L --lon L [--radius-m R] [--ttl-s T] [--json] [--state-dir DIR]\n"
             "       meshwatch focus list [--json] [--state-dir DIR]\n\n"
             "Makes the cameras around a point concentrate on it (scenario 4): every box\n"
             "switches its cameras within the radius (and looking that way, where their\n"
             "heading is known) to focus mode - every frame, the precise model where there\n"
             "is room, higher priority - for the ttl.  A focus already running nearby is\n"
             "refreshed instead.  `list` shows the running focuses and this box's cameras.\n\n"
             "  --camera ID      the event is at this registry camera's position\n"
             "  --lat L --lon L  or at this point (degrees)\n"
             "  --radius-m R     1..50000 (default: the agent's FOCUS_RADIUS_M)\n"
             "  --ttl-s T        1..3600 (default: the agent's FOCUS_TTL_S)\n" STATE_DIR_HELP
             "  --json           print the agent's JSON document\n");
}

static int
s_cmd_focus (int argc, char **argv)
{
    static const struct option opts[] = {{"camera", required_argument, NULL, OPT_CAMERA},
                                         {"lat", required_argument, NULL, OPT_LAT},
                                         {"lon", required_argument, NULL, OPT_LON},
                                         {"radius-m", required_argument, NULL, OPT_RADIUS_M},
                                         {"ttl-s", required_argument, NULL, OPT_TTL_S},
                                         MW_OPT_STATE_DIR,
                                         MW_OPT_JSON,
                                         MW_OPT_HELP,
                                         MW_OPT_END};
    int rc = 0, c, n = 0;
    mw_cliopt_t *p = s_parser ("focus", argc, argv, opts, s_focus_usage, &rc);
    if (!p)
        return rc;
    const char *state_dir = s_default_state_dir (), *camera = NULL;
    bool json = false, has_lat = false, has_lon = false;
    double lat = 0, lon = 0;
    int64_t radius = 0, ttl = 0;
    while ((c = mw_cliopt_next (p)) >= 0) {
        if (c == OPT_STATE_DIR)
            state_dir = mw_cliopt_arg (p);
        else if (c == OPT_JSON)
            json = true;
        else if (c == OPT_CAMERA)
            camera = mw_cliopt_arg (p);
        else if (c == OPT_LAT && (has_lat = true) && mw_cliopt_double (p, -90, 90, &lat) != 0)
            c = MW_CLIOPT_ERROR;
        else if (c == OPT_LON && (has_lon = true) && mw_cliopt_double (p, -180, 180, &lon) != 0)
            c = MW_CLIOPT_ERROR;
        else if (c == OPT_RADIUS_M && mw_cliopt_int (p, 1, 50000, &radius) != 0)
            c = MW_CLIOPT_ERROR;
        else if (c == OPT_TTL_S && mw_cliopt_int (p, 1, 3600, &ttl) != 0)
            c = MW_CLIOPT_ERROR;
        if (c == MW_CLIOPT_ERROR)
            break;
    }
    char **rest = mw_cliopt_rest (p, &n);
    bool list = n == 1 && !strcmp (rest[0], "list");
    char request[NODE_CONTROL_REQ_MAX + 1];
    if (c == MW_CLIOPT_ERROR)
        rc = EXIT_USAGE;
    else if (n > 1 || (n == 1 && !list))
        rc = mw_cliopt_fail ("focus", "unexpected argument '%.60s'", rest[n > 1 && list ? 1 : 0]);
    else if (list && (camera || has_lat || has_lon || radius || ttl))
        rc = mw_cliopt_fail ("focus", "list takes no --camera, --lat, --lon, --radius-m or --ttl-s");
    else if (!list && camera && (has_lat || has_lon))
        rc = mw_cliopt_fail ("focus", "--camera or --lat/--lon, not both");
    else if (!list && !camera && !(has_lat && has_lon))
        rc = mw_cliopt_fail ("focus", "needs --camera ID, or --lat and --lon (or: focus list)");
    else if (camera && (strlen (camera) > 64 || strchr (camera, ' ')))
        rc = mw_cliopt_fail ("focus", "--camera: an id of at most 64 characters, no spaces");
    if (list)
        snprintf (request, sizeof request, "focuses");
    else if (camera)
        snprintf (request, sizeof request, "focus camera=%s radius_m=%lld ttl_s=%lld", camera,
                  (long long) radius, (long long) ttl);
    else
        snprintf (request, sizeof request, "focus lat=%.7f lon=%.7f radius_m=%lld ttl_s=%lld", lat, lon,
                  (long long) radius, (long long) ttl);
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    char path[512];
    snprintf (path, sizeof path, "%s/control.sock", state_dir);
    rc = s_control_probe (path, state_dir);
    return rc ? rc : node_cli_request (state_dir, request, json);
}

static const command_t s_commands[] = {
    {"agent", "[--config FILE] [--key-name VALUE ...]  run the mesh daemon", s_cmd_agent},
    {"members", "[--state-dir DIR] [--json]   list the mesh as this box sees it", s_cmd_members},
    {"status", "[--state-dir DIR] [--json]   this agent's state and counters", s_cmd_status},
    {"leave", "[--state-dir DIR] [--timeout-s S]   leave the mesh; returns when the agent has exited",
     s_cmd_leave},
    {"events",
     "--connect tcp://HOST:PORT [--json] [--count N] [CURVE] [--since CURSOR --api URL]   print the event "
     "stream",
     s_cmd_events},
    {"token", "create|list|revoke [--name NAME] [--read-only]   HTTP API tokens", s_cmd_token},
    {"env", "report --result R   an environment-information result, to the VMS", s_cmd_env},
    {"keygen", "print a new cluster key", s_cmd_keygen},
    {"infer", "--model M --image FILE [...]   run a face detector", mw_infer_cli_main},
    {"forecast", "--trace FILE.csv [--horizon S]   score the forecaster on a trace", mw_forecast_cli_main},
    {"load", "QUEUE RATE [--state-dir DIR]   feed the scheduler inputs (queue, jobs/s)", s_cmd_load},
    {"submit", "--camera ID --image FILE [...]   run one frame on the mesh, print the result", s_cmd_submit},
    {"jobs", "[--state-dir DIR] [--json]   recent jobs and where they ran", s_cmd_jobs},
    {"camera", "add|list|show|rm|assign ...   the mesh-wide camera registry", s_cmd_camera},
    {"focus", "--camera ID | --lat L --lon L | list   scenario 4: cameras around a point focus", s_cmd_focus},
    {"analysis-server", "[--config FILE]   the VMS-side analysis server (VMS_PORT)", s_cmd_server},
    {"simulate", "--nodes N --policy P --seed S [...]   placement simulator", mw_simulate_cli_main},
    {"pkg", "keygen|build|import|publish|fetch|list|show|path|verify|rm|export   AI packages", pkg_cli_main},
    {"deploy", "NAME@VERSION (--to BOX,... | --all | --where name=GLOB) [...]   run a package on boxes",
     node_deploy_cli_main},
    {"undeploy", "NAME [--slot S] [--to BOX,...]   stop running a package", node_deploy_cli_main},
    {"deployments", "[--state-dir DIR] [--json]   desired and actual state per box and slot",
     node_deploy_cli_main},
    {"rollout", "status [--json]   rollouts: waves, health, stopped ones", node_deploy_cli_main},
    {"version", "print the version", s_cmd_version},
    {"help", "[COMMAND]   this list, or one command's help", s_cmd_help},
    {NULL, NULL, NULL}};

//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp (cmd, "--help") == 0 || strcmp (cmd, "-h") == 0) {
        s_usage (stdout);
        return 0;
    }
    if (strcmp (cmd, "--version") == 0)
        cmd = "version";
    if (sodium_init () < 0) {
        fprintf (stderr, "libsodium failed to initialise\n");
        return 1;
    }
    //  czmq prints its own log lines to stderr by default; ours are enough.
    zsys_set_logstream (NULL);
    zsys_set_logsystem (false);
    for (const command_t *c = s_commands; c->name; c++)
        if (strcmp (cmd, c->name) == 0)
            return c->run (argc - 1, argv + 1);
    fprintf (stderr, "meshwatch: unknown command '%.60s' (meshwatch --help lists them)\n", cmd);
    return EXIT_USAGE;
}
