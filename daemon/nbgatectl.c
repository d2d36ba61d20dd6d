/* main.c: nbgatectl placeholder. */
#include "config.h"
#include "daemon/daemon.h"
int main(void) { return 0; }
