/* ctl_network: meshfleetctl's REST commands on the network and the nodes (docs/meshfleetctl.md). */
#ifndef MESHFLEET_CTL_NETWORK_H
#define MESHFLEET_CTL_NETWORK_H

#include <stdbool.h>

#define CTL_EXIT_FAILED 1
#define CTL_EXIT_USAGE_ERROR 2

struct ctl_api {
	const char *url;                /* the daemon's base URL, e.g. http://127.0.0.1:8080 */
	bool json;                      /* print the API's JSON instead of lines for people */
	bool replace;                   /* network import --replace */
	bool wait;                      /* nodes refresh --wait */
};

/* @argv: the words after "network" / "nodes". Return the exit status. */
int ctl_network_main(const struct ctl_api *api, int argc, char **argv);
int ctl_nodes_main(const struct ctl_api *api, int argc, char **argv);

#endif
