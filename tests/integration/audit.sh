#!/usr/bin/env bash
# GET /api/v1/audit: mutating calls (successful, refused by a handler, refused before one, unrouted) are recorded
# with token, route, path, status and error code; GETs are not; pagination; filters; bad query parameters; a
# failing audit insert changes no answer and is counted and logged once.
set -u
. "$(dirname "$0")/lib.sh"

start_daemon || bail "meshfleetd did not start"

RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
[ -n "${ADMIN_TOKEN:-}" ] || bail "no STATE/admin.token: the daemon did not create its first admin token"
rows() { db_query 'SELECT count(*) FROM audit'; }

req GET /api/v1/audit
is "$STATUS" 200 "an empty log: 200"
json_is . '{"entries":[],"next_cursor":null}' "an empty log: no entries"

# --- a few calls: mutating ones of every kind, and GETs ---
post_json /api/v1/nodes '{"address":16}'
is "$STATUS" 201 "create a node: 201"
patch_json /api/v1/nodes/16 '{"name":"lamp"}'
is "$STATUS" 200 "patch it: 200"
post_json /api/v1/nodes '{"address":0}'
expect_error 400 invalid_field "a bad POST"
req DELETE /api/v1/nowhere
expect_error 404 not_found "DELETE on an unknown path"
req POST /api/v1/nodes -H 'Content-Type: text/plain' --data-binary '{"address":17}'
expect_error 415 unsupported_media_type "a POST refused before its handler"
req PUT /api/v1/nodes
expect_error 405 method_not_allowed "PUT on a path without PUT"
req DELETE '/api/v1/nodes/%01%C3%A9'
expect_error 400 invalid_address "DELETE with a control character and UTF-8 in the path"
req GET /api/v1/nodes
is "$STATUS" 200 "GET /api/v1/nodes: 200"
req GET /api/v1/nodes/16
is "$STATUS" 200 "GET /api/v1/nodes/16: 200"
req GET /api/v1/nodes/99
expect_error 404 not_found "GET of a missing node"
req HEAD /api/v1/nodes
is "$STATUS" 200 "HEAD /api/v1/nodes: 200"

req GET /api/v1/audit
is "$STATUS" 200 "GET /api/v1/audit: 200"
like "$(header Content-Type)" '^application/json' "GET /api/v1/audit: JSON"
json_is '.entries | length' 7 "seven mutating calls recorded, no GET or HEAD"
json_is '[.entries[] | [.method, .route, .path, .status, .outcome]]' \
	'[["DELETE","/api/v1/nodes/{addr}","/api/v1/nodes/%01%C3%A9",400,"invalid_address"],["PUT",null,"/api/v1/nodes",405,"method_not_allowed"],["POST","/api/v1/nodes","/api/v1/nodes",415,"unsupported_media_type"],["DELETE",null,"/api/v1/nowhere",404,"not_found"],["POST","/api/v1/nodes","/api/v1/nodes",400,"invalid_field"],["PATCH","/api/v1/nodes/{addr}","/api/v1/nodes/16",200,null],["POST","/api/v1/nodes","/api/v1/nodes",201,null]]' \
	"newest first: method, route pattern (null when none matched), path, status, error code"
json_is '[.entries[] | [.route == null, (.token | if . == null then null else .name end)]] | unique' \
	'[[false,"admin"],[true,null]]' "routed calls name req's admin token; unrouted ones none (never looked at)"
json_is '[.entries[].token.id // empty | type] | unique' '["number"]' "the token's id"
json_is '[.entries[].remote] | unique' '["127.0.0.1"]' "the client's address"
json_is "[.entries[].at | test(\"$RFC3339\")] | all" true "at is RFC 3339 UTC"
json_is '[.entries[] | (.at_ms | type) == "number" and .at_ms > 1700000000000] | all' true "at_ms: ms since the epoch"
json_is '[.entries[].id] == ([.entries[].id] | sort | reverse)' true "ids descend"
json_is '.next_cursor' null "one page: no next cursor"
json_is '.entries[0] | keys_unsorted' '["id","at","at_ms","token","method","route","path","status","remote","outcome"]' \
	"exactly the contract's fields"
is "$(rows)" 7 "seven rows in the database"
is "$(db_query "SELECT count(*) FROM audit WHERE method IN ('GET', 'HEAD')")" 0 "no GET in the database"

# --- pagination ---
ids=()
cursor=
pages=0
while [ "$pages" -lt 10 ]; do
	req GET "/api/v1/audit?limit=3${cursor:+&cursor=$cursor}"
	[ "$STATUS" = 200 ] || break
	mapfile -t -O "${#ids[@]}" ids < <(json_value '.entries[].id')
	pages=$((pages + 1))
	cursor=$(json_value '.next_cursor // empty')
	[ -n "$cursor" ] || break
done
is "$pages" 3 "7 entries in pages of 3: 3 pages"
is "${#ids[@]}" 7 "every entry once"
is "$(printf '%s\n' "${ids[@]}" | sort -rn | uniq | tr '\n' ' ')" "$(printf '%s ' "${ids[@]}")" \
	"pages continue where the last ended, newest first"
req GET "/api/v1/audit?limit=7"
json_is '.next_cursor' null "limit = the number of entries: no next cursor"

# --- filters ---
req GET '/api/v1/audit?method=DELETE'
json_is '[.entries[].path]' '["/api/v1/nodes/%01%C3%A9","/api/v1/nowhere"]' "method=DELETE"
req GET '/api/v1/audit?method=POST&limit=1'
json_is '[.entries[].status]' '[415]' "method=POST&limit=1: the newest POST"
cursor=$(json_value .next_cursor)
req GET "/api/v1/audit?method=POST&limit=5&cursor=$cursor"
json_is '[.entries[].status]' '[400,201]' "method=POST, next page: the older POSTs"
req GET '/api/v1/audit?token=nobody'
json_is '.entries' '[]' "token=nobody: nothing"
req GET '/api/v1/audit?token=admin'
json_is '.entries | length' 5 "token=admin: the five routed calls"
req GET '/api/v1/audit?since=2000-01-01T00:00:00Z'
json_is '.entries | length' 7 "since 2000: all"
req GET '/api/v1/audit?until=2000-01-01T00:00:00%2B01:00'
json_is '.entries' '[]' "until 2000 (with an offset): nothing"
req GET '/api/v1/audit?since=2999-01-01T00:00:00Z'
json_is '.entries' '[]' "since 2999: nothing"
req GET '/api/v1/audit?limit=1'
first_at=$(json_value '.entries[0].at_ms')
since=$(date -u -d "@$(((first_at - 1000) / 1000))" +%Y-%m-%dT%H:%M:%SZ)
until=$(date -u -d "@$(((first_at + 2000) / 1000))" +%Y-%m-%dT%H:%M:%SZ)
req GET "/api/v1/audit?since=$since&until=$until&method=DELETE&limit=1"
json_is '[.entries[].path]' '["/api/v1/nodes/%01%C3%A9"]' "since, until, method and limit together"

# --- bad query parameters: each a clear 400, and none of them recorded (they are GETs) ---
for q in limit=0 limit=1001 limit=abc limit=-1 cursor=zz cursor=a cursor=a-1 cursor=n0010 cursor=a0 \
	cursor=A1 cursor=a12345678901234567 'token=bad%20name' "token=$(printf 'x%.0s' {1..65})" method=GET \
	method=post method=OPTIONS since=yesterday since=2026-11-23T20:00:00 since=1969-12-31T23:59:59Z \
	until=2026-02-30T00:00:00Z 'since=2026-11-23T20:00:00Z&until=2026-11-23T20:00:00Z' \
	'since=2026-11-23T20:00:01Z&until=2026-11-23T20:00:00Z'; do
	req GET "/api/v1/audit?$q"
	expect_error 400 invalid_parameter "?$q"
	like "$BODY" "\"message\":\"(limit|cursor|token|method|since|until)=" "?$q: the message names the parameter"
done
req GET '/api/v1/audit?foo=1'
expect_error 400 unknown_parameter "?foo=1"
req GET '/api/v1/audit?limit=1&limit=2'
expect_error 400 invalid_parameter "limit given twice"
req GET '/api/v1/audit?method='
expect_error 400 invalid_parameter "method without a value"
is "$(rows)" 7 "the refused GETs left no row"

# --- a failing insert changes no answer; it is counted and logged once per interval ---
is "$(metric meshfleet_audit_write_errors_total)" 0 "no audit write error yet"
db_query "CREATE TRIGGER audit_fail BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'test: no room'); END"
post_json /api/v1/nodes '{"address":20}'
is "$STATUS" 201 "with the audit failing, a POST still answers 201"
json_is '.nodes[0].address' 20 "... with the node"
is "$(db_query 'SELECT count(*) FROM nodes WHERE address = 20')" 1 "... and the node is stored"
req DELETE /api/v1/nodes/20
is "$STATUS" 204 "a second call: 204"
is "$(metric meshfleet_audit_write_errors_total)" 2 "both failures counted in /metrics"
is "$(log_count "^<3>meshfleetd: audit: cannot record POST '/api/v1/nodes'")" 1 "the first failure is logged"
is "$(log_count 'audit: cannot record')" 1 "the second is not (rate-limited)"
db_query "DROP TRIGGER audit_fail"
req DELETE /api/v1/nodes/16
is "$STATUS" 204 "after the fault: DELETE 204"
req GET '/api/v1/audit?limit=1'
json_is '.entries[0] | [.method, .path, .status]' '["DELETE","/api/v1/nodes/16",204]' "recorded again"
is "$(rows)" 8 "eight rows: the two failed inserts left nothing"

# --- tokens: a 401 has no token; a 403 names the token that was refused; only admins read the log ---
AUTH_TOKEN= post_json /api/v1/nodes '{"address":30}'
expect_error 401 unauthorized "a POST without a token"
AUTH_TOKEN=mft_0000000000000000000000000000000000000000000000000000000000000000 req DELETE /api/v1/nodes/16
expect_error 401 unauthorized "a DELETE with an unknown token"
post_json /api/v1/tokens '{"name":"viewer-1","role":"viewer"}'
is "$STATUS" 201 "create a viewer token: 201"
viewer=$(json_value .token)
AUTH_TOKEN=$viewer post_json /api/v1/nodes '{"address":31}'
expect_error 403 forbidden "a POST with a viewer token"
AUTH_TOKEN=$viewer req GET /api/v1/audit
expect_error 403 forbidden "a viewer reads the audit log"
AUTH_TOKEN= req GET /api/v1/audit
expect_error 401 unauthorized "the audit log without a token"
req GET '/api/v1/audit?limit=4'
json_is '[.entries[] | [.method, .route, .status, .outcome, (.token | if . == null then null else .name end)]]' \
	'[["POST","/api/v1/nodes",403,"forbidden","viewer-1"],["POST","/api/v1/tokens",201,null,"admin"],["DELETE","/api/v1/nodes/{addr}",401,"unauthorized",null],["POST","/api/v1/nodes",401,"unauthorized",null]]' \
	"401s without a token, the 403 with the viewer's, the token's creation with the admin's"
req GET '/api/v1/audit?token=viewer-1'
json_is '[.entries[].status]' '[403]' "token=viewer-1: its refused POST"
is "$(db_query 'SELECT count(*) FROM nodes WHERE address IN (30, 31)')" 0 "the refused calls created nothing"
is "$(rows)" 12 "twelve rows"

stop_daemon_ok

# --- the log survives a restart, and a long path is cut ---
start_daemon_in "$STATE" || bail "meshfleetd did not start again"
req GET '/api/v1/audit?limit=1'
json_is '.entries[0] | [.path, .status]' '["/api/v1/nodes",403]' "after a restart: the rows are still there"
req POST "/api/v1/$(printf 'a%.0s' {1..2000})"
expect_error 404 not_found "POST on a 2000-character path"
req GET '/api/v1/audit?limit=1'
json_is '.entries[0].path | length' 511 "a long path is stored cut to 511 bytes"
json_is '.entries[0].path | endswith("...")' true "... ending with ..."
stop_daemon_ok "meshfleetd after the restart"

done_testing
