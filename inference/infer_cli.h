/*  =========================================================================
    mw_infer_cli - `meshwatch infer ...`: run a face detector on one image.
    ========================================================================= */
#ifndef MW_INFER_CLI_H_INCLUDED
#define MW_INFER_CLI_H_INCLUDED

//  argv[0] = "infer".  Returns the process exit code: 0 ok, 1 runtime
//  error (bad image, missing models...), 2 usage error.
int mw_infer_cli_main (int argc, char **argv);

#endif
