/*  =========================================================================
    pkg_cli - `meshwatch pkg ...`: keys, building, publishing, fetching and
    inspecting packages (docs/PACKAGES.md).

    The commands work on STATE_DIR/pkg (pkg_catalog) directly, with or
    without a running agent; the agent notices what they commit (the
    catalog's data version) and does the mesh's part: announcing a
    publish, fetching what `fetch` asked for, reporting refusals as
    events.  Only `fetch` needs the agent.
    ========================================================================= */
#ifndef PKG_CLI_H_INCLUDED
#define PKG_CLI_H_INCLUDED

#include <stdbool.h>

//  argv[0] is "pkg".  Exit codes: 0 ok, 1 failed or refused, 2 usage,
//  3 no agent (fetch).
int pkg_cli_main (int argc, char **argv);

#endif
