/* ibex: one command, many subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand commands[] = {
    {"info", cmd_info, "describe scans: grid, spacing, valid area, heights, metadata"},
    {"convert", cmd_convert, "convert between X3P and PNG; crop, resample, set metadata"},
    {"render", cmd_render, "draw a surface as a colour-mapped or shaded PNG"},
    {"compare", cmd_compare, "compare two cartridge cases or two bullets: scores and verdict"},
    {"ingest", cmd_ingest, "add scans to an HDF5 reference library"},
    {"synth", cmd_synth, "generate synthetic casings or bullets with ground truth"},
    {"export", cmd_export, "write a library specimen as a signed exchange package (X3P)"},
    {"import", cmd_import, "verify signed exchange packages and add them to a library"},
    {"bench", cmd_bench, "benchmarks: accuracy (ROC, AUC, error rates) and speed reports"},
#if IBEX_HAVE_NODE
    {"node", cmd_node, "network node: keygen, serve, push, pull, query"},
#endif
    {"wisdom", cmd_wisdom, "plan the FFT transforms once per machine (pinned plans)"},
    {"index", cmd_index, "build the stage-1 search index of a library (incremental)"},
    {"query", cmd_query, "rank a library's specimens against query scans (stage 1 + CMC)"},
#if IBEX_HAVE_WORKBENCH
    {"serve", cmd_serve, "the examiner workbench in a browser, over a library"},
#endif
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "Usage: ibex COMMAND [OPTIONS] [ARGS]\n\n"
               "IBEX, the Interoperable Ballistic EXchange engine %s: compares firearm\n"
               "toolmarks (cartridge cases and bullets) in open formats.\n\nCommands:\n",
            IBEX_VERSION_STRING);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'ibex COMMAND --help' describes one command.\n"
               "Exit status: 0 success, 1 input refused or check failed, 2 usage error.\n"
               "Data: $IBEX_DATA, else ../shared/datasets/real beside the checkout.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            for (size_t i = 0; i < N_COMMANDS; i++)
                if (!strcmp(commands[i].name, argv[2])) {
                    char *sub[] = {argv[2], (char *)"--help", NULL};
                    static char prog[64];
                    snprintf(prog, sizeof prog, "ibex %s", argv[2]);
                    cli_prog = prog;
                    return commands[i].run(2, sub);
                }
        }
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "--version")) {
        printf("ibex %s (features:%s%s%s%s)\n", IBEX_VERSION_STRING, IBEX_HAVE_HDF5 ? " hdf5" : "",
               IBEX_HAVE_NODE ? " node" : "", IBEX_HAVE_WORKBENCH ? " workbench" : "",
               IBEX_HAVE_PLOTS ? " plots" : "");
        return EXIT_OK;
    }
    /* Pinned FFT plans for every command (cheap: the file is read when a plan is needed);
     * without a usable path the plans are FFTW_ESTIMATE, as IBEX_FFT_WISDOM=off asks. */
    ibex_fft_wisdom_open(NULL, NULL);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0) continue;
        static char prog[64];
        snprintf(prog, sizeof prog, "ibex %s", name);
        cli_prog = prog;
        return commands[i].run(argc - 1, argv + 1);
    }
#if !IBEX_HAVE_NODE
    if (!strcmp(name, "node")) {
        fprintf(stderr, "ibex node: this ibex was built without the network node (-Dnode=disabled)\n");
        return EXIT_USAGE;
    }
#endif
#if !IBEX_HAVE_WORKBENCH
    if (!strcmp(name, "serve")) {
        fprintf(stderr, "ibex serve: this ibex was built without the workbench (it needs the node feature)\n");
        return EXIT_USAGE;
    }
#endif
    fprintf(stderr, "ibex: unknown command '%s'\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
