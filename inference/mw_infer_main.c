/*  mw-infer: a stand-alone `meshwatch infer` for tests and benchmarks, so
    that the inference tests do not depend on the node binary.  argv[0] is
    replaced by "infer" as node/main.c does. */
#include "inference/infer_cli.h"

int
main (int argc, char **argv)
{
    argv[0] = (char *) "infer";
    return mw_infer_cli_main (argc, argv);
}
