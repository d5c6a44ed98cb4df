/* Placeholder until this subcommand is built. */
#include "cli.h"
int cmd_node(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("not built yet");
    return EXIT_REFUSED;
}
