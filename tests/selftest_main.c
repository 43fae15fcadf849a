/* Runner for one module's selftest.  Each module exposes
 *     int <prefix>_test (bool verbose);
 * returning 0 on success; the Makemodule.am builds one program per module
 * from this file with -DSELFTEST=<prefix>_test, so a broken module fails
 * its own test and nobody else's. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#ifndef SELFTEST
#error "build with -DSELFTEST=<module>_test"
#endif
#define MW_STR2(x) #x
#define MW_STR(x)  MW_STR2 (x)

int SELFTEST (bool verbose);

int
main (int argc, char **argv)
{
    bool verbose = argc > 1 && strcmp (argv[1], "-v") == 0;
    int rc = SELFTEST (verbose);
    printf ("%s: %s\n", MW_STR (SELFTEST), rc == 0 ? "OK" : "FAILED");
    return rc == 0 ? 0 : 1;
}
