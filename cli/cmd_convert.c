#include "cli.h"
int cmd_convert(int argc, char **argv) { (void)argc; (void)argv; return cli_usage_error("not built yet"); }
