/*  =========================================================================
    meshwatch - one binary, subcommands.

        meshwatch agent --config FILE [--key-name VALUE ...]   the daemon
        meshwatch members [--state-dir DIR] [--json]           this box's view
        meshwatch status  [--state-dir DIR] [--json]
        meshwatch leave   [--state-dir DIR]                    graceful leave
        meshwatch events  --connect tcp://HOST:PORT [--json]   follow the VMS stream
        meshwatch keygen                                       a new cluster key
        meshwatch infer   ...                                  run a face detector

    The CLI talks to the local agent over the owner-only control socket in
    STATE_DIR; it never touches the agent's files itself.
    ========================================================================= */
#include "config.h"
#include "common/log.h"
#include "common/sanitize.h"
#include "config/config.h"
#include "gossip/crypto.h"
#include "node/agent.h"
#include "node/analysis.h"

#include <czmq.h>
#include <errno.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

extern char **environ;
int mw_infer_cli_main (int argc, char **argv);
int mw_forecast_cli_main (int argc, char **argv);
int mw_simulate_cli_main (int argc, char **argv);

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch COMMAND [options]\n\n"
                "  agent --config FILE [--key-name VALUE ...]  run the mesh daemon\n"
                "  members [--state-dir DIR] [--json]         list the mesh as this box sees it\n"
                "  status  [--state-dir DIR] [--json]         this agent's state and counters\n"
                "  leave   [--state-dir DIR]                  leave the mesh gracefully and stop\n"
                "  events  --connect tcp://HOST:PORT [--json] print the event stream\n"
                "  keygen                                     print a new cluster key\n"
                "  infer   --model M --image FILE [...]       run a face detector (infer --help)\n"
                "  forecast --trace FILE.csv [--horizon S]    score the forecaster on a trace\n"
                "  load    QUEUE RATE [--state-dir DIR]       feed the scheduler inputs (queue, jobs/s)\n"
                "  submit  --camera ID --image FILE [--deadline-ms D] [--model M] [--priority P] [--json]\n"
                "                                             run one frame on the mesh, print the result\n"
                "  jobs    [--state-dir DIR] [--json]         recent jobs and where they ran\n"
                "  analysis-server --config FILE              the VMS-side analysis server (VMS_PORT)\n"
                "  simulate --nodes N --policy P --seed S     placement simulator (simulate --help)\n"
                "  version\n\n"
                "STATE_DIR defaults to $MESHWATCH_STATE_DIR, then /var/lib/meshwatch.\n"
                "agent --help lists every config key.\n");
}

//  --------------------------------------------------------------------------
//  agent

static int
s_cmd_agent_or_server (int argc, char **argv, bool server)
{
    const char *config_path = getenv ("MESHWATCH_CONFIG");
    mw_config_t *cfg = mw_config_new ();
    if (!cfg)
        return 1;
    char err[512];
    //  First pass: find --config; flags are applied after file and env.
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            printf ("usage: meshwatch agent --config FILE [--key-name VALUE ...]\n\n");
            mw_config_print_help ();
            mw_config_destroy (&cfg);
            return 0;
        }
        if (strcmp (argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf (stderr, "meshwatch agent: --config needs a file\n");
                mw_config_destroy (&cfg);
                return 2;
            }
            config_path = argv[++i];
        }
    }
    if (config_path && mw_config_load_file (cfg, config_path, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        mw_config_destroy (&cfg);
        return 2;
    }
    if (mw_config_apply_env (cfg, environ, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        mw_config_destroy (&cfg);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--config") == 0) {
            i++;
            continue;
        }
        char key[64];
        if (mw_config_flag_to_key (argv[i], key, sizeof key) != 0) {
            fprintf (stderr, "%s: unknown option (meshwatch agent --help lists the keys)\n", argv[i]);
            mw_config_destroy (&cfg);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf (stderr, "%s: needs a value\n", argv[i]);
            mw_config_destroy (&cfg);
            return 2;
        }
        if (mw_config_set (cfg, key, argv[i + 1], argv[i], err, sizeof err) != 0) {
            fprintf (stderr, "%s\n", err);
            mw_config_destroy (&cfg);
            return 2;
        }
        i++;
    }
    if ((server ? mw_config_validate_server (cfg, err, sizeof err)
                : mw_config_validate_agent (cfg, err, sizeof err))
        != 0) {
        fprintf (stderr, "%s: %s\n", config_path ? config_path : "meshwatch agent", err);
        mw_config_destroy (&cfg);
        return 2;
    }
    mw_log_set_level ((mw_log_level_t) mw_log_level_parse (mw_config_str (cfg, "LOG_LEVEL")));
    if (*mw_config_str (cfg, "LOG_FILE") && mw_log_set_file (mw_config_str (cfg, "LOG_FILE")) != 0) {
        fprintf (stderr, "LOG_FILE=%s: cannot open for append\n", mw_config_str (cfg, "LOG_FILE"));
        mw_config_destroy (&cfg);
        return 2;
    }
    int rc = server ? node_analysis_run (cfg) : node_agent_run (cfg);
    mw_config_destroy (&cfg);
    mw_log_set_file (NULL);
    return rc;
}

//  --------------------------------------------------------------------------
//  Control-socket clients

static const char *
s_state_dir (int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp (argv[i], "--state-dir") == 0)
            return argv[i + 1];
    const char *env = getenv ("MESHWATCH_STATE_DIR");
    return env && *env ? env : "/var/lib/meshwatch";
}

static bool
s_has_flag (int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], flag) == 0)
            return true;
    return false;
}

//  Send one request; print the reply.  Exit code 0 ok, 1 agent error, 3 no
//  agent answered.
static int
s_request (const char *state_dir, const char *request)
{
    char path[512];
    snprintf (path, sizeof path, "%s/control.sock", state_dir);
    if (access (path, F_OK) != 0) {
        fprintf (stderr, "no agent at %s (is `meshwatch agent` running with STATE_DIR=%s?)\n", path,
                 state_dir);
        return 3;
    }
    zsock_t *req = zsock_new (ZMQ_REQ);
    if (!req)
        return 3;
    zsock_set_linger (req, 0);
    zsock_set_rcvtimeo (req, 2000);
    zsock_set_sndtimeo (req, 2000);
    if (zsock_connect (req, "ipc://%s", path) < 0 || zstr_send (req, request) != 0) {
        fprintf (stderr, "cannot reach the agent at %s\n", path);
        zsock_destroy (&req);
        return 3;
    }
    char *status = NULL, *body = NULL;
    int rc = 3;
    if (zsock_recv (req, "ss", &status, &body) == 0 && status && body) {
        fputs (body, stdout);
        size_t n = strlen (body);
        if (n && body[n - 1] != '\n')
            fputc ('\n', stdout);
        rc = strcmp (status, "ok") == 0 ? 0 : 1;
    }
    else
        fprintf (stderr, "the agent at %s did not answer within 2 s\n", path);
    zstr_free (&status);
    zstr_free (&body);
    zsock_destroy (&req);
    return rc;
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

static int
s_cmd_submit (int argc, char **argv)
{
    const char *camera = NULL, *image = NULL, *model = "tiny-face", *deadline = "", *prio = "5";
    long wait_ms = 0;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp (argv[i], "--camera"))
            camera = argv[++i];
        else if (!strcmp (argv[i], "--image"))
            image = argv[++i];
        else if (!strcmp (argv[i], "--model"))
            model = argv[++i];
        else if (!strcmp (argv[i], "--deadline-ms"))
            deadline = argv[++i];
        else if (!strcmp (argv[i], "--priority"))
            prio = argv[++i];
        else if (!strcmp (argv[i], "--wait-ms"))
            wait_ms = atol (argv[++i]);
    }
    bool json = s_has_flag (argc, argv, "--json");
    if (!camera || !image) {
        fprintf (stderr,
                 "usage: meshwatch submit --camera ID --image FILE [--deadline-ms D] [--model M]\n"
                 "                        [--priority 0-9] [--wait-ms W] [--state-dir DIR] [--json]\n");
        return 2;
    }
    size_t len = 0;
    char *jpeg = s_read_file (image, &len);
    if (!jpeg) {
        if (len > MW_FRAME_MAX)
            fprintf (stderr, "%s: %zu bytes: frames are limited to %d bytes\n", image, len, MW_FRAME_MAX);
        else
            fprintf (stderr, "%s: cannot read: %s\n", image, strerror (errno));
        return 2;
    }
    const char *state_dir = s_state_dir (argc, argv);
    char path[512];
    snprintf (path, sizeof path, "%s/control.sock", state_dir);
    if (access (path, F_OK) != 0) {
        fprintf (stderr, "no agent at %s\n", path);
        free (jpeg);
        return 3;
    }
    zsock_t *req = zsock_new (ZMQ_REQ);
    if (!req) {
        free (jpeg);
        return 3;
    }
    zsock_set_linger (req, 0);
    zsock_set_rcvtimeo (req, 2000);
    zsock_set_sndtimeo (req, 2000);
    int rc = 3;
    char *status = NULL, *body = NULL;
    zmsg_t *m = zmsg_new ();
    zmsg_addstr (m, "submit");
    zmsg_addstr (m, camera);
    zmsg_addstr (m, model);
    zmsg_addstr (m, deadline);
    zmsg_addstr (m, prio);
    zmsg_addmem (m, jpeg, len);
    free (jpeg);
    if (zsock_connect (req, "ipc://%s", path) < 0 || zmsg_send (&m, req) != 0
        || zsock_recv (req, "ss", &status, &body) != 0 || !status || !body) {
        fprintf (stderr, "the agent at %s did not answer\n", path);
        zmsg_destroy (&m);
        zsock_destroy (&req);
        return 3;
    }
    if (strcmp (status, "ok") != 0) {
        if (json) {
            printf ("{\"state\":\"refused\",\"reason\":\"");
            for (char *p = body; *p && *p != '\n'; p++)
                printf (*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
            printf ("\"}\n");
        }
        else
            fprintf (stderr, "refused: %s", body);
        zstr_free (&status);
        zstr_free (&body);
        zsock_destroy (&req);
        return 1;
    }
    char id[40];
    snprintf (id, sizeof id, "%.32s", body);
    zstr_free (&status);
    zstr_free (&body);
    //  Poll the job until it ended (the agent's REP must never wait for a
    //  job, so the CLI does).  The job itself times out on the agent; the
    //  bound here is only for an agent that vanished.
    long limit = wait_ms > 0 ? wait_ms : (*deadline ? atol (deadline) : 1000) + 5000;
    uint64_t t0 = zclock_mono ();
    char request[64];
    snprintf (request, sizeof request, "job %s", id);
    while ((long) (zclock_mono () - t0) < limit) {
        if (zstr_send (req, request) != 0 || zsock_recv (req, "ss", &status, &body) != 0 || !status || !body)
            break;
        bool ended = strstr (body, "\"state\":\"done\"") || strstr (body, "\"state\":\"failed\"");
        if (ended) {
            if (json)
                fputs (body, stdout);
            else {
                //  A short human line from the JSON fields.
                char state[16] = "", path_s[16] = "", ran[20] = "", reason[120] = "";
                const char *p;
                if ((p = strstr (body, "\"state\":\"")))
                    sscanf (p + 9, "%15[^\"]", state);
                if ((p = strstr (body, "\"path\":\"")))
                    sscanf (p + 8, "%15[^\"]", path_s);
                if ((p = strstr (body, "\"ran_on\":\"")))
                    sscanf (p + 10, "%19[^\"]", ran);
                if ((p = strstr (body, "\"reason\":\"")))
                    sscanf (p + 10, "%119[^\"]", reason);
                double total = 0, conf = 0;
                int boxes = 0;
                if ((p = strstr (body, "\"total_ms\":")))
                    total = atof (p + 11);
                if ((p = strstr (body, "\"boxes\":")))
                    boxes = atoi (p + 8);
                if ((p = strstr (body, "\"confidence\":")))
                    conf = atof (p + 13);
                printf ("job %s %s", id, state);
                if (!strcmp (state, "done"))
                    printf (" on %s (%s) in %.1f ms: %d detections, confidence %.3f%s\n", *ran ? ran : "?",
                            path_s, total, boxes, conf,
                            strstr (body, "\"escalated\":true") ? ", escalated" : "");
                else
                    printf (": %s\n", reason);
            }
            rc = strstr (body, "\"state\":\"done\"") ? 0 : 1;
            zstr_free (&status);
            zstr_free (&body);
            break;
        }
        zstr_free (&status);
        zstr_free (&body);
        zclock_sleep (10);
    }
    if (rc == 3)
        fprintf (stderr, "job %s: no result within %ld ms\n", id, limit);
    zsock_destroy (&req);
    return rc;
}

//  --------------------------------------------------------------------------
//  events

static void
s_print_mp_object (const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR: {
        //  Names, camera ids, reasons: from other boxes, so escaped for the terminal.
        char safe[1024];
        printf ("%s", mw_sanitize (safe, sizeof safe, o->via.str.ptr, o->via.str.size, MW_SANITIZE_LOG));
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

static int
s_cmd_events (int argc, char **argv)
{
    const char *endpoint = NULL;
    long max_events = -1;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp (argv[i], "--connect") == 0)
            endpoint = argv[i + 1];
        if (strcmp (argv[i], "--count") == 0)
            max_events = atol (argv[i + 1]);
    }
    if (!endpoint) {
        fprintf (stderr, "usage: meshwatch events --connect tcp://HOST:PORT [--json] [--count N]\n");
        return 2;
    }
    bool json = s_has_flag (argc, argv, "--json");
    zsys_handler_set (NULL);
    signal (SIGINT, s_events_signal);
    signal (SIGTERM, s_events_signal);
    zsock_t *sub = zsock_new (ZMQ_SUB);
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
        const char *families[] = {"member.", "node.", "coordinator.", "job.", NULL};
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

int
main (int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return 2;
    }
    if (sodium_init () < 0) {
        fprintf (stderr, "libsodium failed to initialise\n");
        return 1;
    }
    //  czmq prints its own log lines to stderr by default; ours are enough.
    zsys_set_logstream (NULL);
    zsys_set_logsystem (false);
    const char *cmd = argv[1];
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    if (strcmp (cmd, "agent") == 0)
        return s_cmd_agent_or_server (sub_argc, sub_argv, false);
    if (strcmp (cmd, "analysis-server") == 0)
        return s_cmd_agent_or_server (sub_argc, sub_argv, true);
    if (strcmp (cmd, "submit") == 0)
        return s_cmd_submit (sub_argc, sub_argv);
    if (strcmp (cmd, "jobs") == 0)
        return s_request (s_state_dir (sub_argc, sub_argv),
                          s_has_flag (sub_argc, sub_argv, "--json") ? "jobs --json" : "jobs");
    if (strcmp (cmd, "members") == 0 || strcmp (cmd, "status") == 0) {
        char request[64];
        snprintf (request, sizeof request, "%s%s", cmd,
                  s_has_flag (sub_argc, sub_argv, "--json") ? " --json" : "");
        return s_request (s_state_dir (sub_argc, sub_argv), request);
    }
    if (strcmp (cmd, "leave") == 0)
        return s_request (s_state_dir (sub_argc, sub_argv), "leave");
    if (strcmp (cmd, "events") == 0)
        return s_cmd_events (sub_argc, sub_argv);
    if (strcmp (cmd, "keygen") == 0) {
        char key[64];
        gossip_key_generate (key);
        printf ("%s\n", key);
        return 0;
    }
    if (strcmp (cmd, "infer") == 0)
        return mw_infer_cli_main (sub_argc, sub_argv);
    if (strcmp (cmd, "forecast") == 0)
        return mw_forecast_cli_main (sub_argc, sub_argv);
    if (strcmp (cmd, "simulate") == 0)
        return mw_simulate_cli_main (sub_argc, sub_argv);
    if (strcmp (cmd, "load") == 0 && sub_argc >= 3) {
        char request[64];
        snprintf (request, sizeof request, "load %.20s %.20s", sub_argv[1], sub_argv[2]);
        return s_request (s_state_dir (sub_argc, sub_argv), request);
    }
    if (strcmp (cmd, "version") == 0 || strcmp (cmd, "--version") == 0) {
        printf ("meshwatch %s (protocol %d)\n", PACKAGE_VERSION, MW_WIRE_VERSION);
        return 0;
    }
    if (strcmp (cmd, "help") == 0 || strcmp (cmd, "--help") == 0 || strcmp (cmd, "-h") == 0) {
        s_usage (stdout);
        return 0;
    }
    fprintf (stderr, "meshwatch: unknown command '%s'\n", cmd);
    s_usage (stderr);
    return 2;
}
