/* ctl_token: meshfleetctl token create|list|delete, the daemon's API tokens (docs/meshfleetctl.md, "token").
 *
 * `token create` works offline on the state dir's database (tokens.c, as the daemon's own code), with the daemon
 * stopped or running: SQLite in WAL mode lets two processes write, and the daemon's lock on the state dir is not
 * taken. That is how an operator gets an admin token when there is none at hand. With --url it asks the daemon
 * instead (POST /api/v1/tokens, admin role). `list` and `delete` always go through the REST API.
 */
#ifndef MESHFLEET_CTL_TOKEN_H
#define MESHFLEET_CTL_TOKEN_H

#include <stdbool.h>

#include "ctl_http.h"

struct ctl_token_options {
	bool json;
	const char *url;                        /* the daemon's base URL */
	bool url_given;                         /* --url on the command line: token create goes through the API */
	const char *role;                       /* --role; NULL when not given */
	const char *name;                       /* --name; NULL when not given */
	const struct ctl_http_auth *auth;       /* borrowed: the state dir (and the REST commands' token) */
};

/* @argv: the words after "token". Returns the exit status: 0, 1 (failed, reason on stderr), 2 (usage). */
int ctl_token_main(const struct ctl_token_options *options, int argc, char **argv);

#endif
