#include "cli/cli.h"

int main(int argc, char** argv) { return iolab::run_cli(argc, argv); }
