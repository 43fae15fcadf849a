/*  =========================================================================
    node_cli - the CLI's side of the control protocol: ask the local daemon
    (node/control.h), then show its JSON reply - as is with --json, or
    rendered here as the human tables and lines (members with the
    coordinator mark, status, jobs, a submitted job's result).

    The daemon sends only JSON; every table is drawn on this side, from
    the parsed document (json_tokener; never by searching the text).
    Strings in a table may come from the wire (a peer's name, a camera
    id): control characters and invalid UTF-8 are shown escaped (\n,
    \x1b, ...), so a hostile name can never drive the terminal.
    ========================================================================= */
#ifndef NODE_CLI_RENDER_H_INCLUDED
#define NODE_CLI_RENDER_H_INCLUDED

#include "common/strbuf.h"

#include <json.h>
#include <stdbool.h>
#include <stddef.h>

//  Send `request` ("members", "status", "jobs", "load Q R", "leave", ...)
//  to the daemon in state_dir and print the reply on stdout (errors on
//  stderr; with json the error document goes to stdout too).  Returns the
//  exit code: 0 ok, 1 the daemon refused, 3 no daemon answered.
int node_cli_request (const char *state_dir, const char *request, bool json);

//  A request with one data frame (`camera-add` and its JSON document),
//  shown as node_cli_request shows its reply.
int node_cli_request_data (const char *state_dir, const char *verb, const void *data, size_t len, bool json);
//  `meshwatch submit`: one frame through the mesh, then poll `job ID` until
//  it ended (at most wait_ms; 0 = deadline + 5 s).  Exit code as above (1
//  also for a job that failed).
int node_cli_submit (const char *state_dir, const char *camera, const char *model, const char *deadline_ms,
                     const char *priority, const void *jpeg, size_t len, long wait_ms, bool json);

//  Render a reply for `verb` into out.  extra: a second document some
//  views use (members: the status, for the coordinator's term); may be NULL.
void node_cli_render (mw_strbuf_t *out, const char *verb, json_object *reply, json_object *extra);

//  `s` made safe for a terminal: control characters (C0, DEL, C1),
//  backslashes and invalid UTF-8 escaped; at most cap - 1 bytes, cut on a
//  character boundary.  Returns out.
char *node_cli_safe (const char *s, char *out, size_t cap);

int node_cli_render_test (bool verbose);

#endif
