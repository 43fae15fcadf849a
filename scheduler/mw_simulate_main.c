/* Stand-alone `meshwatch simulate` for the tests and the benchmark; the
 * daemon's node/main.c calls the same mw_simulate_cli_main (). */
int mw_simulate_cli_main (int argc, char **argv);

int
main (int argc, char **argv)
{
    return mw_simulate_cli_main (argc, argv);
}
