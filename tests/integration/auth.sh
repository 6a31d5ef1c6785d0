#!/bin/bash
# Authentication: the first admin token's file, 401 on every non-public route (taken from the route table and the
# OpenAPI document, not listed by hand), 403 by role, the tokens API and its bad input, the token in the events
# query, the throttle of wrong tokens (and a held-back 401 at shutdown), and a database restored without an admin.
set -u
. "$(dirname "$0")/lib.sh"

start_daemon || bail "meshfleetd did not start"

# --- the first admin token ---
[ -n "$ADMIN_TOKEN" ]
ok $? "the first start wrote STATE/admin.token"
like "$ADMIN_TOKEN" '^mft_[0-9a-f]{64}$' "admin.token holds a token: mft_ and 64 hex digits"
is "$(stat -c %a "$STATE/admin.token")" 600 "admin.token is readable by the daemon's user only"
like "$(cat "$DAEMON_LOG")" "<5>meshfleetd: created the first admin token: $(re_quote "$STATE/admin.token") \(readable by this user only\)" \
	"the log says where the token is, at notice level"
grep -qF "${ADMIN_TOKEN#mft_}" "$DAEMON_LOG"
isnt $? 0 "the log never holds the secret"

# --- every route but the public ones needs a token ---
run_meshfleetd --list-routes
routes=$OUT
req GET /api/v1/openapi.json
doc=$BODY
public=$(jq -r '.paths | to_entries[] | .key as $p | .value | to_entries[]
	| select(.value | type == "object" and has("security") and .security == []) | "\(.key | ascii_upcase) \($p)"' \
	<<<"$doc" | sort)
is "$public" "$(printf 'GET /\nGET /api/v1/health\nGET /assets/{file}')" \
	"the document marks exactly health and the dashboard's files as public"
n_checked=0
while IFS= read -r route; do
	[ -n "$route" ] || continue
	method=${route%% *}
	path=${route#* }
	# {addr} and {id} as values that would pass their checks: the 401 must come first anyway.
	concrete=$(sed -e 's/{addr}/16/g; s/{id}/1/g; s/{file}/app.js/g; s/{[a-z_]*}/x/g' <<<"$path")
	if grep -qxF "$route" <<<"$public"; then
		req_noauth "$method" "$concrete"
		isnt "$STATUS" 401 "public $route: answered without a token"
		continue
	fi
	n_checked=$((n_checked + 1))
	if [ "$method" = GET ]; then
		req_noauth GET "$concrete"
	else
		req_noauth "$method" "$concrete" -H 'Content-Type: application/json' --data-binary '{}'
	fi
	expect_error 401 unauthorized "$route without a token"
	is "$(header WWW-Authenticate)" 'Bearer realm="meshfleet"' "$route without a token: WWW-Authenticate"
done <<<"$routes"
[ "$n_checked" -ge 20 ]
ok $? "401 checked on $n_checked routes of the table"

req_noauth GET /api/v1/nodes -H 'Authorization: Basic YWRtaW46YWRtaW4='
expect_error 401 unauthorized "Basic instead of Bearer"
req_noauth GET /api/v1/nodes -H 'Authorization: Bearer'
expect_error 401 unauthorized "Bearer without a token"
AUTH_TOKEN=mft_not-a-token req GET /api/v1/nodes
expect_error 401 unauthorized "a malformed token"
last_digit=0
[ "${ADMIN_TOKEN: -1}" = 0 ] && last_digit=1
AUTH_TOKEN="${ADMIN_TOKEN%?}$last_digit" req GET /api/v1/nodes
expect_error 401 unauthorized "the admin token with its last digit changed"
req_noauth GET /api/v1/nodes -H "Authorization: bearer $ADMIN_TOKEN"
is "$STATUS" 200 "the scheme name is case-insensitive"

# --- the tokens API and its bad input ---
post_json /api/v1/tokens '{"name":"viewer1","role":"viewer"}'
is "$STATUS" 201 "POST /api/v1/tokens: 201"
json_is '.name' viewer1 "the new token's name"
json_is '.role' viewer "its role"
json_is '.created_by' admin "created by the admin token"
json_is '.last_used' null "never used"
json_is '.token | test("^mft_[0-9a-f]{64}$")' true "the secret, shown once"
VIEWER=$(json_value .token)
VIEWER_ID=$(json_value .id)
post_json /api/v1/tokens '{"name":"operator1","role":"operator"}'
OPERATOR=$(json_value .token)
is "$(db_query "SELECT count(*) FROM tokens WHERE secret_sha256 = '$(printf '%s' "$VIEWER" | sha256sum | cut -d' ' -f1)'")" 1 \
	"the database holds the SHA-256 of the token"
is "$(db_query "SELECT count(*) FROM tokens WHERE instr(secret_sha256 || name || created_by, '${VIEWER#mft_}') > 0")" 0 \
	"and never the token itself"

post_json /api/v1/tokens '{"name":"viewer1","role":"admin"}'
expect_error 409 conflict "a taken name"
post_json /api/v1/tokens '{"name":"x","role":"viewer"'
expect_error 400 invalid_json "bad JSON"
post_json /api/v1/tokens '["x"]'
expect_error 400 invalid_field "an array"
post_json /api/v1/tokens '{"name":"x","role":"viewer","admin":true}'
expect_error 400 unknown_field "an unknown field"
post_json /api/v1/tokens '{"name":7,"role":"viewer"}'
expect_error 400 invalid_field "a name that is a number"
post_json /api/v1/tokens '{"name":"two words","role":"viewer"}'
expect_error 400 invalid_field "a name with a space"
post_json /api/v1/tokens "{\"name\":\"$(printf 'n%.0s' {1..65})\",\"role\":\"viewer\"}"
expect_error 400 invalid_field "a name of 65 characters"
post_json /api/v1/tokens '{"name":"","role":"viewer"}'
expect_error 400 invalid_field "an empty name"
post_json /api/v1/tokens '{"name":"x","role":"root"}'
expect_error 400 invalid_field "an unknown role"
post_json /api/v1/tokens '{"name":"x","role":3}'
expect_error 400 invalid_field "a role that is a number"
post_json /api/v1/tokens '{"name":"x"}'
expect_error 400 invalid_field "no role"
post_json /api/v1/tokens '{"role":"viewer"}'
expect_error 400 invalid_field "no name"
req POST /api/v1/tokens -H 'Content-Type: text/plain' --data-binary '{"name":"x","role":"viewer"}'
expect_error 415 unsupported_media_type "not JSON"

req GET /api/v1/tokens
is "$STATUS" 200 "GET /api/v1/tokens: 200"
json_is '[.tokens[].name]' '["admin","viewer1","operator1"]' "lists every token in id order"
json_is '[.tokens[] | has("token")] | any' false "never a secret"
json_is '[.tokens[] | .created_at | test("^[0-9-]{10}T")] | all' true "creation times"
json_is '.tokens[0].last_used | type' string "the admin token's use is recorded"
req GET '/api/v1/tokens?limit=2'
json_is '.tokens | length' 2 "limit=2: a page of 2"
cursor=$(json_value .next_cursor)
req GET "/api/v1/tokens?limit=2&cursor=$cursor"
json_is '[.tokens[].name]' '["operator1"]' "the next page"
json_is '.next_cursor' null "is the last"
req GET '/api/v1/tokens?cursor=zz'
expect_error 400 invalid_parameter "a bad cursor"
req GET '/api/v1/tokens?limit=0'
expect_error 400 invalid_parameter "limit=0"
req GET '/api/v1/tokens?secret=1'
expect_error 400 unknown_parameter "an unknown query parameter"
req DELETE /api/v1/tokens/abc
expect_error 400 invalid_parameter "DELETE with a bad id"
req DELETE /api/v1/tokens/0
expect_error 400 invalid_parameter "DELETE id 0"
req DELETE /api/v1/tokens/99999
expect_error 404 not_found "DELETE an unknown id"

# --- roles ---
AUTH_TOKEN=$VIEWER req GET /api/v1/nodes
is "$STATUS" 200 "viewer: GET /api/v1/nodes"
AUTH_TOKEN=$VIEWER req GET /metrics
is "$STATUS" 200 "viewer: GET /metrics"
AUTH_TOKEN=$VIEWER post_json /api/v1/nodes '{"address":16}'
expect_error 403 forbidden "viewer: POST /api/v1/nodes"
like "$BODY" "needs the operator role; this token \('viewer1'\) is a viewer" "the 403 names the role needed and the token's"
is "$(db_query 'SELECT count(*) FROM nodes')" 0 "and changed nothing"
AUTH_TOKEN=$VIEWER req GET /api/v1/network/export
expect_error 403 forbidden "viewer: GET /api/v1/network/export (it holds keys)"
AUTH_TOKEN=$VIEWER req GET /api/v1/tokens
expect_error 403 forbidden "viewer: GET /api/v1/tokens"
AUTH_TOKEN=$OPERATOR post_json /api/v1/nodes '{"address":16}'
is "$STATUS" 201 "operator: POST /api/v1/nodes"
AUTH_TOKEN=$OPERATOR post_json /api/v1/tokens '{"name":"mine","role":"admin"}'
expect_error 403 forbidden "operator: POST /api/v1/tokens"
like "$BODY" "needs the admin role; this token \('operator1'\) is an operator" "the 403 of an operator"
AUTH_TOKEN=$OPERATOR req DELETE "/api/v1/tokens/$VIEWER_ID"
expect_error 403 forbidden "operator: DELETE /api/v1/tokens/ID"
AUTH_TOKEN=$OPERATOR req GET /api/v1/network/export
expect_error 403 forbidden "operator: GET /api/v1/network/export"
req DELETE /api/v1/nodes/16
is "$STATUS" 204 "admin: DELETE /api/v1/nodes/16"

# --- the events stream takes the token in its query (EventSource sends no headers) ---
req_noauth GET "/api/v1/events?access_token=$VIEWER&since=x"
expect_error 400 invalid_parameter "events: the query's token is taken (then since=x is refused)"
req_noauth GET "/api/v1/events?access_token=mft_nothing"
expect_error 401 unauthorized "events: a wrong token in the query"
req_noauth GET "/api/v1/nodes?access_token=$VIEWER"
expect_error 401 unauthorized "another route does not take the token from its query"

# --- deleting tokens ---
req DELETE "/api/v1/tokens/$VIEWER_ID"
is "$STATUS" 204 "the viewer token is deleted"
AUTH_TOKEN=$VIEWER req GET /api/v1/nodes
expect_error 401 unauthorized "and no longer accepted"
admin_id=$(db_query "SELECT id FROM tokens WHERE name = 'admin'")
req DELETE "/api/v1/tokens/$admin_id"
expect_error 409 conflict "the last admin token is not deleted"
like "$BODY" 'last admin token' "the 409 says why"
post_json /api/v1/tokens '{"name":"admin2","role":"admin"}'
ADMIN2=$(json_value .token)
req DELETE "/api/v1/tokens/$admin_id"
is "$STATUS" 204 "with another admin, a request deletes the token it came with"
req GET /api/v1/nodes
expect_error 401 unauthorized "which is not accepted afterwards"
AUTH_TOKEN=$ADMIN2

# --- a database restored without an admin token: a new one, the file replaced ---
stop_daemon_ok "auth daemon"
old_admin=$ADMIN_TOKEN
db_query "DELETE FROM tokens WHERE role = 3"
start_daemon_in "$STATE" || bail "meshfleetd did not start again"
isnt "$ADMIN_TOKEN" "$old_admin" "no admin in the database: a new admin token"
is "$(stat -c %a "$STATE/admin.token")" 600 "the replaced file is readable by the daemon's user only"
req GET /api/v1/tokens
is "$STATUS" 200 "the new admin token works"
json_is '[.tokens[] | select(.role == "admin") | .name]' '["admin"]' "named admin"
AUTH_TOKEN=$old_admin req GET /api/v1/nodes
expect_error 401 unauthorized "the old file's token does not"
stop_daemon_ok "auth daemon, restarted"
start_daemon_in "$STATE" || bail "meshfleetd did not start a third time"
is "$(log_count 'created the first admin token')" 0 "with an admin token, a start creates none"
stop_daemon_ok "auth daemon, third start"

# --- the throttle: wrong tokens from one address are slowed after the 5th ---
# A daemon of its own: the wrong tokens above count too.
start_daemon || bail "meshfleetd did not start for the throttle"
failures0=$(metric meshfleet_http_auth_failures_total)
delayed0=$(metric meshfleet_http_auth_delayed_total)
times=()
for i in 1 2 3 4 5 6 7 8; do
	t=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Bearer mft_wrong$i" \
		--max-time "$CURL_TIMEOUT_S" "$BASE/api/v1/nodes")
	[ "${t%% *}" = 401 ] || fail "wrong token $i: 401" "got: $t"
	times+=("${t#* }")
done
is "$(metric meshfleet_http_auth_failures_total)" "$((failures0 + 8))" "metrics: 8 more auth failures"
is "$(metric meshfleet_http_auth_delayed_total)" "$((delayed0 + 3))" "metrics: the 6th to 8th were delayed"
# The 8th waited 1 s (250 ms doubled twice); the first five were answered at once: compare within this run.
slowest_free=$(printf '%s\n' "${times[@]:0:5}" | sort -g | tail -n 1)
awk -v a="${times[7]}" -v b="$slowest_free" 'BEGIN { exit !(a > 4 * b) }'
ok $? "the 8th wrong token's 401 took over 4 times as long as the slowest of the first five (${times[7]} s vs $slowest_free s)"
req GET /api/v1/nodes
is "$STATUS" 200 "a valid token from the same address still gets in"

# A held-back 401 goes out at shutdown at once (the 9th would wait 2 s).
curl -sS -o "$MF_TMP/held.out" -w '%{http_code}' -H 'Authorization: Bearer mft_wrong9' --max-time "$CURL_TIMEOUT_S" \
	"$BASE/api/v1/nodes" >"$MF_TMP/held.status" 2>/dev/null &
held_pid=$!
for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
	[ "$(metric meshfleet_http_auth_delayed_total)" = "$((delayed0 + 4))" ] && break
	sleep 0.05
done
stop_daemon_ok "auth daemon, a 401 held back"
wait "$held_pid"
is "$(cat "$MF_TMP/held.status")" 401 "the held-back request got its 401 at shutdown"

done_testing
