/*  =========================================================================
    node_deploy_cli - `meshwatch deploy | undeploy | deployments | rollout`:
    options parsed here (mw_cliopt: --help harmless, unknown flags exit 2),
    one control request to the local agent, its JSON reply printed as a
    table (or as it is with --json).  `deploy --wait-s S` follows the
    deployment until every target runs the version (exit 0), one fails or
    rolls back, or a rollout stops (exit 1), or S seconds pass (exit 1).
    ========================================================================= */
#include "common/cliopt.h"
#include "common/json.h"
#include "common/sanitize.h"
#include "node/control.h"
#include "node/deploy.h"
#include "scheduler/deploy_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    OPT_STATE_DIR = 256,
    OPT_JSON,
    OPT_TO,
    OPT_ALL,
    OPT_WHERE,
    OPT_SLOT,
    OPT_VARIANT_BY,
    OPT_WAVES,
    OPT_HEALTH_S,
    OPT_WAIT_S,
};

#define S_CALL_MS 5000

static const char *
s_state_dir (void)
{
    const char *env = getenv ("MESHWATCH_STATE_DIR");
    return env && *env ? env : "/var/lib/meshwatch";
}

static void
s_usage (const char *cmd, FILE *f)
{
    if (!strcmp (cmd, "deploy"))
        fprintf (
            f, "usage: meshwatch deploy NAME@VERSION (--to BOX,... | --all | --where name=GLOB) [--slot S]\n"
               "                        [--variant-by KEY] [--waves N --health-s S] [--wait-s S] [--json]\n\n"
               "Ask the coordinator to run package NAME@VERSION in slot S (default main) on the boxes\n"
               "named (node names or id prefixes), every box, or those whose name matches.  Each box\n"
               "fetches it through the mesh, checks it and starts it; the version it replaces stays as\n"
               "the fallback.  --waves N (2..8): a rollout - one canary box first, then the others in\n"
               "N-1 waves, each running --health-s seconds (default 30) before the next; a box that\n"
               "fails rolls every updated box back and stops the rollout.\n\n"
               "  --wait-s S       wait until every box runs it (exit 0) or one fails (exit 1)\n"
               "  --state-dir DIR  the agent's STATE_DIR (default $MESHWATCH_STATE_DIR, then "
               "/var/lib/meshwatch)\n"
               "  --json           print the agent's JSON document\n");
    else if (!strcmp (cmd, "undeploy"))
        fprintf (f,
                 "usage: meshwatch undeploy NAME [--slot S] [--to BOX,... | --where name=GLOB] [--json]\n\n"
                 "Stop running package NAME (in slot S, or every slot running it) on the boxes named, or on\n"
                 "every box.\n\n"
                 "  --state-dir DIR  the agent's STATE_DIR\n"
                 "  --json           print the agent's JSON document\n");
    else if (!strcmp (cmd, "deployments"))
        fprintf (f, "usage: meshwatch deployments [--state-dir DIR] [--json]\n\n"
                    "Desired and actual state per box and slot: package, version, state (pending, fetching,\n"
                    "starting, running, failed, rolled_back), the version running, restarts, last error.\n"
                    "The same on every box (the plan is replicated, every box reports to every box).\n");
    else
        fprintf (f, "usage: meshwatch rollout status [--state-dir DIR] [--json]\n\n"
                    "The rollouts in the plan: package, version, state (active, done, stopped), the wave\n"
                    "watched, and why a stopped one stopped.\n");
}

static int
s_call (const char *state_dir, const char *req, json_object **reply)
{
    char err[600];
    int rc = node_control_call_str (state_dir, req, S_CALL_MS, reply, err, sizeof err);
    //  A mesh that is still electing its coordinator: wait for it (15 s).
    for (int k = 0; k < 30 && rc == 1 && !strcmp (mw_json_get_str (*reply, "error", ""), "unavailable");
         k++) {
        json_object_put (*reply);
        *reply = NULL;
        usleep (500 * 1000);
        rc = node_control_call_str (state_dir, req, S_CALL_MS, reply, err, sizeof err);
    }
    if (rc == 3)
        fprintf (stderr, "%s\n", err);
    else if (rc == 1) {
        fprintf (stderr, "error: %s\n", mw_termv (mw_json_get_str (*reply, "detail", "?")));
        json_object_put (*reply);
        *reply = NULL;
    }
    return rc;
}

static void
s_print_deployments (json_object *o)
{
    printf ("coordinator %s   plan %s\n", mw_termv (mw_json_get_str (o, "coordinator", "-")),
            mw_termv (mw_json_get_str (o, "plan_digest", "")));
    printf ("%-16s %-12s %-8s %-22s %-12s %-12s %-8s %s\n", "BOX", "NAME", "SLOT", "PACKAGE", "STATE",
            "RUNNING", "RESTARTS", "ERROR");
    json_object *arr;
    if (json_object_object_get_ex (o, "deployments", &arr))
        for (size_t i = 0; i < json_object_array_length (arr); i++) {
            json_object *r = json_object_array_get_idx (arr, i), *a = NULL;
            json_object_object_get_ex (r, "actual", &a);
            char pk[96];
            snprintf (pk, sizeof pk, "%s@%s", mw_json_get_str (r, "package", ""),
                      mw_json_get_str (r, "version", ""));
            printf ("%-16s %-12.12s %-8.8s %-22.22s %-12s %-12.12s %-8lld %s\n",
                    mw_termv (mw_json_get_str (r, "box", "")), mw_termv (mw_json_get_str (r, "name", "")),
                    mw_termv (mw_json_get_str (r, "slot", "")), mw_termv (pk),
                    mw_termv (mw_json_get_str (a, "state", "")), mw_termv (mw_json_get_str (a, "active", "")),
                    (long long) mw_json_get_int (a, "restarts", 0),
                    mw_termv (mw_json_get_str (a, "error", "")));
        }
}

static void
s_print_rollouts (json_object *o)
{
    json_object *arr;
    printf ("%-22s %-8s %-8s %-6s %s\n", "PACKAGE", "SLOT", "STATE", "WAVE", "REASON");
    if (json_object_object_get_ex (o, "rollouts", &arr))
        for (size_t i = 0; i < json_object_array_length (arr); i++) {
            json_object *r = json_object_array_get_idx (arr, i);
            char pk[96], wv[48];
            snprintf (pk, sizeof pk, "%s@%s", mw_json_get_str (r, "package", ""),
                      mw_json_get_str (r, "version", ""));
            snprintf (wv, sizeof wv, "%lld/%lld", (long long) mw_json_get_int (r, "wave", 0) + 1,
                      (long long) mw_json_get_int (r, "waves", 0));
            printf ("%-22.22s %-8.8s %-8s %-6s %s\n", mw_termv (pk),
                    mw_termv (mw_json_get_str (r, "slot", "")), mw_termv (mw_json_get_str (r, "state", "")),
                    wv, mw_termv (mw_json_get_str (r, "reason", "")));
        }
}

static uint64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

//  Follow a deploy: 0 every target runs it, 1 failed / stopped / timeout.
static int
s_wait (const char *state_dir, json_object *sub, const char *slot, long wait_s, bool rollout, bool quiet)
{
    const char *pkg = mw_json_get_str (sub, "package", ""), *ver = mw_json_get_str (sub, "version", "");
    json_object *boxes = NULL;
    json_object_object_get_ex (sub, "boxes", &boxes);
    size_t want = boxes ? json_object_array_length (boxes) : 0;
    uint64_t end = s_mono_ms () + (uint64_t) wait_s * 1000;
    bool tty = isatty (2) && !quiet;
    size_t last = (size_t) -1;
    while (s_mono_ms () < end) {
        json_object *o = NULL;
        int rc = s_call (state_dir, "deployments", &o);
        if (rc == 1)
            return 1;
        if (rc != 0) {
            //  A busy agent (hashing a big package): ask again until the deadline.
            usleep (300 * 1000);
            continue;
        }
        size_t running = 0;
        const char *bad = NULL;
        char why[200] = "";
        json_object *arr, *ro;
        if (rollout && json_object_object_get_ex (o, "rollouts", &ro))
            for (size_t i = 0; i < json_object_array_length (ro); i++) {
                json_object *r = json_object_array_get_idx (ro, i);
                if (strcmp (mw_json_get_str (r, "package", ""), pkg)
                    || strcmp (mw_json_get_str (r, "version", ""), ver)
                    || strcmp (mw_json_get_str (r, "slot", ""), slot))
                    continue;
                if (!strcmp (mw_json_get_str (r, "state", ""), "stopped")) {
                    bad = "rollout stopped";
                    snprintf (why, sizeof why, "%s", mw_json_get_str (r, "reason", ""));
                }
                else if (!strcmp (mw_json_get_str (r, "state", ""), "done"))
                    running = want;
            }
        if (!rollout && json_object_object_get_ex (o, "deployments", &arr))
            for (size_t i = 0; i < json_object_array_length (arr) && !bad; i++) {
                json_object *r = json_object_array_get_idx (arr, i), *a = NULL;
                json_object_object_get_ex (r, "actual", &a);
                if (strcmp (mw_json_get_str (r, "package", ""), pkg)
                    || strcmp (mw_json_get_str (r, "slot", ""), slot))
                    continue;
                bool mine = false;
                for (size_t k = 0; k < want; k++)
                    mine |= !strcmp (json_object_get_string (json_object_array_get_idx (boxes, k)),
                                     mw_json_get_str (r, "box", ""));
                if (!mine || strcmp (mw_json_get_str (r, "version", ""), ver))
                    continue;
                const char *st = mw_json_get_str (a, "state", "");
                if (!strcmp (st, "running") && !strcmp (mw_json_get_str (a, "active", ""), ver))
                    running++;
                else if (!strcmp (st, "failed") || !strcmp (st, "rolled_back")) {
                    bad = st;
                    snprintf (why, sizeof why, "box %s: %s", mw_json_get_str (r, "name", ""),
                              mw_json_get_str (a, "error", ""));
                }
            }
        json_object_put (o);
        if (tty && running != last)
            fprintf (stderr, "\r%s@%s: %zu of %zu boxes running", pkg, ver, running, want);
        last = running;
        if (bad) {
            if (tty)
                fprintf (stderr, "\n");
            fprintf (stderr, "%s@%s: %s: %s\n", mw_termv (pkg), mw_termv (ver), bad, mw_termv (why));
            return 1;
        }
        if (running >= want) {
            if (tty)
                fprintf (stderr, "\n");
            return 0;
        }
        usleep (300 * 1000);
    }
    if (tty)
        fprintf (stderr, "\n");
    fprintf (stderr, "%s@%s: not running everywhere after %ld s\n", mw_termv (pkg), mw_termv (ver), wait_s);
    return 1;
}

int
node_deploy_cli_main (int argc, char **argv)
{
    const char *cmd = argv[0];
    if (mw_cliopt_wants_help (argc, argv)) {
        s_usage (cmd, stdout);
        return 0;
    }
    static const struct option deploy_opts[] = {{"to", required_argument, NULL, OPT_TO},
                                                {"all", no_argument, NULL, OPT_ALL},
                                                {"where", required_argument, NULL, OPT_WHERE},
                                                {"slot", required_argument, NULL, OPT_SLOT},
                                                {"variant-by", required_argument, NULL, OPT_VARIANT_BY},
                                                {"waves", required_argument, NULL, OPT_WAVES},
                                                {"health-s", required_argument, NULL, OPT_HEALTH_S},
                                                {"wait-s", required_argument, NULL, OPT_WAIT_S},
                                                {"state-dir", required_argument, NULL, OPT_STATE_DIR},
                                                {"json", no_argument, NULL, OPT_JSON},
                                                {"help", no_argument, NULL, 'h'},
                                                {NULL, 0, NULL, 0}};
    static const struct option query_opts[] = {{"state-dir", required_argument, NULL, OPT_STATE_DIR},
                                               {"json", no_argument, NULL, OPT_JSON},
                                               {"help", no_argument, NULL, 'h'},
                                               {NULL, 0, NULL, 0}};
    bool is_deploy = !strcmp (cmd, "deploy"), is_undeploy = !strcmp (cmd, "undeploy");
    mw_cliopt_t *p = mw_cliopt_new (cmd, argc, argv, (is_deploy || is_undeploy) ? deploy_opts : query_opts);
    if (!p)
        return 1;
    const char *state_dir = s_state_dir (), *to = NULL, *where = NULL, *slot = NULL, *vb = NULL;
    bool json = false, all = false;
    int64_t waves = 0, health_s = 30, wait_s = 0;
    int c, rc = 0;
    while ((c = mw_cliopt_next (p)) >= 0) {
        switch (c) {
        case OPT_STATE_DIR: state_dir = mw_cliopt_arg (p); break;
        case OPT_JSON: json = true; break;
        case OPT_TO: to = mw_cliopt_arg (p); break;
        case OPT_ALL: all = true; break;
        case OPT_WHERE: where = mw_cliopt_arg (p); break;
        case OPT_SLOT: slot = mw_cliopt_arg (p); break;
        case OPT_VARIANT_BY: vb = mw_cliopt_arg (p); break;
        case OPT_WAVES:
            if (mw_cliopt_int (p, 1, DEPLOY_WAVES_MAX, &waves) != 0)
                c = MW_CLIOPT_ERROR;
            break;
        case OPT_HEALTH_S:
            if (mw_cliopt_int (p, 1, 86400, &health_s) != 0)
                c = MW_CLIOPT_ERROR;
            break;
        case OPT_WAIT_S:
            if (mw_cliopt_int (p, 1, 86400, &wait_s) != 0)
                c = MW_CLIOPT_ERROR;
            break;
        default: break;
        }
        if (c == MW_CLIOPT_ERROR)
            break;
    }
    int n = 0;
    char **rest = mw_cliopt_rest (p, &n);
    char req[NODE_CONTROL_REQ_MAX + 1];
    if (c == MW_CLIOPT_ERROR)
        rc = 2;
    else if (is_deploy || is_undeploy) {
        int targets = (to != NULL) + all + (where != NULL);
        if (n != 1)
            rc = mw_cliopt_fail (cmd, "needs %s", is_deploy ? "NAME@VERSION" : "NAME");
        else if (is_deploy && targets != 1)
            rc = mw_cliopt_fail (cmd, "needs one of --to, --all, --where");
        else if (is_deploy && !strchr (rest[0], '@'))
            rc = mw_cliopt_fail (cmd, "needs NAME@VERSION, not '%.60s'", rest[0]);
        else if (where && strncmp (where, "name=", 5))
            rc = mw_cliopt_fail (cmd, "--where knows name=GLOB");
        else if ((to && strchr (to, ' ')) || (where && strchr (where, ' ')) || strchr (rest[0], ' ')
                 || (slot && strchr (slot, ' ')) || (vb && strchr (vb, ' ')))
            rc = mw_cliopt_fail (cmd, "no spaces in names");
        else {
            int k =
                snprintf (req, sizeof req, "%s pkg=%s to=%s%s%s%s%s%s%s waves=%d health_s=%d", cmd, rest[0],
                          all  ? "all"
                          : to ? to
                               : "",
                          where ? " where=" : "", where ? where : "", slot ? " slot=" : "", slot ? slot : "",
                          vb ? " variant_by=" : "", vb ? vb : "", (int) waves, (int) health_s);
            if (k >= (int) sizeof req)
                rc = mw_cliopt_fail (cmd, "the request is too long (%d bytes; at most %d)", k,
                                     NODE_CONTROL_REQ_MAX);
        }
    }
    else if (!strcmp (cmd, "rollout")) {
        if (n != 1 || strcmp (rest[0], "status"))
            rc = mw_cliopt_fail (cmd, "needs the action: status");
        snprintf (req, sizeof req, "rollout");
    }
    else {
        if (mw_cliopt_no_rest (p) != 0)
            rc = 2;
        snprintf (req, sizeof req, "deployments");
    }
    mw_cliopt_destroy (&p);
    if (rc)
        return rc;
    json_object *o = NULL;
    rc = s_call (state_dir, req, &o);
    if (rc != 0)
        return rc;
    if (json)
        printf ("%s\n", mw_json_text (o, true));
    else if (is_deploy || is_undeploy) {
        json_object *b = NULL;
        json_object_object_get_ex (o, "boxes", &b);
        printf ("%s %s to %zu boxes (coordinator %s)\n", is_deploy ? "deploy" : "undeploy",
                mw_termv (mw_json_get_str (o, "package", "")), b ? json_object_array_length (b) : 0,
                mw_termv (mw_json_get_str (o, "coordinator", "")));
    }
    else if (!strcmp (cmd, "rollout"))
        s_print_rollouts (o);
    else
        s_print_deployments (o);
    if (is_deploy && wait_s > 0)
        rc = s_wait (state_dir, o, slot ? slot : "main", (long) wait_s, waves >= 2, json);
    json_object_put (o);
    return rc;
}
