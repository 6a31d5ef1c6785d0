/* ctl_campaign: `meshfleetctl campaign ...`, the campaigns over the REST API (docs/meshfleetctl.md, "Campaigns"):
 * create (from options or a JSON file), list, show, the actions, and watch (the event stream, with a progress bar
 * on a terminal). */
#ifndef MESHFLEET_CTL_CAMPAIGN_H
#define MESHFLEET_CTL_CAMPAIGN_H

#include "ctl_network.h"

/* @argv[0] is "campaign"; its own options follow the subcommand. Returns the exit status: 0, CTL_EXIT_FAILED
 * (the daemon refused, or watch saw the campaign end other than completed) or CTL_EXIT_USAGE_ERROR. */
int ctl_campaign_main(const struct ctl_api *api, int argc, char **argv);

#endif
