#!/usr/bin/env bash
# The small routes: health, metrics, 404/405, HEAD, and the dashboard's static files.
set -u
. "$(dirname "$0")/lib.sh"

version=$(sed -n 's/^AC_INIT(\[meshfleet\], *\[\([^]]*\)\].*/\1/p' "$MF_SRCDIR/configure.ac")

# A copy of the web root with traps in and around it: a file outside the root, a hidden file, a symlink out of
# the root, a directory and a file of an unknown type.
webroot="$MF_TMP/www/web"
mkdir -p "$webroot"
cp "$MF_SRCDIR"/web/index.html "$MF_SRCDIR"/web/app.js "$MF_SRCDIR"/web/style.css "$webroot/"
echo '<p>outside the web root</p>' >"$MF_TMP/www/secret.html"
echo 'hidden' >"$webroot/.hidden.js"
ln -s "$MF_SRCDIR/configure.ac" "$webroot/link.js"
ln -s "$MF_TMP/www/secret.html" "$webroot/escape.html"
mkdir "$webroot/dir.js"
echo 'text' >"$webroot/notes.txt"

start_daemon --web-root "$webroot" || bail "meshfleetd did not start"

# sorted_allow: the Allow header of the last response as a sorted, comma-separated list.
sorted_allow() {
	header Allow | tr ',' '\n' | tr -d ' ' | grep -v '^$' | sort | paste -sd, -
}

# --- health ---
req GET /api/v1/health
is "$STATUS" 200 "health: 200"
like "$(header Content-Type)" '^application/json' "health: Content-Type application/json"
json_is .status ok "health: status ok"
json_is .version "$version" "health: version"
json_is '.uptime_s | type == "number" and . >= 0 and floor == .' true "health: uptime_s is a whole number >= 0"
json_is .database.state ok "health: database.state ok"
json_is .database.schema_version "$(db_query "SELECT max(version) FROM schema_migrations")" "health: database.schema_version is the latest migration"
json_is .dongle.state not_configured "health: dongle not configured"
json_is .dongle.spec none "health: dongle spec none"
is "$(header Cache-Control)" no-store "health: Cache-Control no-store"

req GET '/api/v1/health?verbose=1'
expect_error 400 unknown_parameter "health with a query parameter"

# --- 404 and 405 ---
for path in /nope /api/v1 /api/v1/ /api/v2/health /api/v1/health/ /api/v1/nodes/ /api/v1/nodes/16/extra \
	/api/v1/nodes//16 /metrics/x /index.html /assets /assets/ /app.js \
	'/api/v1/health%00'; do
	req GET "$path"
	expect_error 404 not_found "GET $path"
	like "$(header Content-Type)" '^application/json' "GET $path: the 404 is JSON"
done

check_405() { # METHOD PATH ALLOW-SORTED
	req "$1" "$2"
	expect_error 405 method_not_allowed "$1 $2"
	is "$(sorted_allow)" "$3" "$1 $2: Allow header"
}
check_405 DELETE /api/v1/health GET,HEAD
check_405 POST /api/v1/health GET,HEAD
check_405 PUT /api/v1/nodes GET,HEAD,POST
check_405 DELETE /api/v1/nodes GET,HEAD,POST
check_405 POST /api/v1/nodes/16 DELETE,GET,HEAD,PATCH
check_405 PUT /api/v1/nodes/16 DELETE,GET,HEAD,PATCH
check_405 POST /metrics GET,HEAD
check_405 POST /api/v1/openapi.json GET,HEAD
check_405 POST / GET,HEAD
check_405 DELETE /assets/app.js GET,HEAD
# The method of a 405 is not checked against a route with the path's shape only: a bad address is still 405.
check_405 POST /api/v1/nodes/0 DELETE,GET,HEAD,PATCH

# --- HEAD on every GET route ---
req GET /api/v1/openapi.json
openapi_len=${#BODY}
openapi_bytes=$(curl -sS -H "$(auth_header)" "$BASE/api/v1/openapi.json" | wc -c)
for path in /api/v1/health /api/v1/nodes /api/v1/openapi.json /metrics / /assets/app.js; do
	req HEAD "$path"
	is "$STATUS" 200 "HEAD $path: 200"
	# "|END" marks the end of what was received (command substitution would eat trailing newlines).
	raw=$(raw_http "HEAD $path HTTP/1.1\r\nHost: 127.0.0.1\r\n$(auth_header)\r\nConnection: close\r\n\r\n"
		printf '|END')
	like "$raw" '^HTTP/1\.1 200 ' "HEAD $path (raw): status line 200"
	is "${raw#*$'\r\n\r\n'}" "|END" "HEAD $path (raw): nothing after the headers"
done
req HEAD /api/v1/openapi.json
is "$(header Content-Length)" "$openapi_bytes" "HEAD /api/v1/openapi.json: Content-Length of the GET body"
like "$(header Content-Type)" '^application/json' "HEAD /api/v1/openapi.json: the GET's Content-Type"
req HEAD /api/v1/nodes/16
is "$STATUS" 404 "HEAD /api/v1/nodes/16 (unknown node): 404"
req HEAD /api/v1/nodes/0
is "$STATUS" 400 "HEAD /api/v1/nodes/0 (bad address): 400"
[ "$openapi_len" -gt 0 ]
ok $? "GET /api/v1/openapi.json has a body"

# --- static files ---
req GET /
is "$STATUS" 200 "GET /: 200"
like "$(header Content-Type)" '^text/html' "GET /: text/html"
cmp -s "$MF_TMP/body" "$MF_SRCDIR/web/index.html"
ok $? "GET /: the body is web/index.html"
is "$(header X-Content-Type-Options)" nosniff "GET /: X-Content-Type-Options nosniff"

for f in index.html:text/html app.js:text/javascript style.css:text/css; do
	name=${f%%:*} type=${f#*:}
	req GET "/assets/$name"
	is "$STATUS" 200 "GET /assets/$name: 200"
	like "$(header Content-Type)" "^$type" "GET /assets/$name: $type"
	cmp -s "$MF_TMP/body" "$MF_SRCDIR/web/$name"
	ok $? "GET /assets/$name: the body is web/$name"
done

for path in '/assets/..%2Fconfigure.ac' '/assets/..%2Fsecret.html' '/assets/%2e%2e%2Fsecret.html' \
	'/assets/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd' '/assets/../secret.html' '/assets/..' \
	'/assets/.hidden.js' '/assets/.hidden' '/assets/link.js' '/assets/escape.html' '/assets/dir.js' \
	'/assets/notes.txt' '/assets/missing.js' '/assets/app.js%00.html' '/assets/app.js%2F' \
	'/assets/%2Fetc%2Fpasswd' '/assets/app%20.js'; do
	req GET "$path"
	expect_error 404 not_found "GET $path"
	unlike "$BODY" 'outside the web root|AC_INIT|root:' "GET $path: no file content leaks"
done

# --- metrics ---
TOTAL=meshfleet_http_requests_total
health_200="$TOTAL{route=\"/api/v1/health\",method=\"GET\",status=\"200\"}"
node_404="$TOTAL{route=\"/api/v1/nodes/{addr}\",method=\"GET\",status=\"404\"}"
node_400="$TOTAL{route=\"/api/v1/nodes/{addr}\",method=\"GET\",status=\"400\"}"
nodes_201="$TOTAL{route=\"/api/v1/nodes\",method=\"POST\",status=\"201\"}"
node_204="$TOTAL{route=\"/api/v1/nodes/{addr}\",method=\"DELETE\",status=\"204\"}"
health_head="$TOTAL{route=\"/api/v1/health\",method=\"HEAD\",status=\"200\"}"

req GET /metrics
is "$STATUS" 200 "metrics: 200"
like "$(header Content-Type)" '^text/plain; version=0\.0\.4' "metrics: Content-Type text/plain; version=0.0.4"
metrics=$BODY
bad=$(grep -Ev '^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? \+Inf$' <<<"$metrics")
is "$bad" "" "metrics: every line is a comment or 'name{labels} value' (text format 0.0.4)"
for t in 'meshfleet_http_requests_total counter' 'meshfleet_http_request_duration_seconds histogram' \
	'meshfleet_nodes gauge' 'meshfleet_db_errors_total counter' 'meshfleet_uptime_seconds gauge' \
	'meshfleet_build_info gauge'; do
	grep -qxF "# TYPE $t" <<<"$metrics"
	ok $? "metrics: # TYPE $t"
done
is "$(metric "meshfleet_build_info{version=\"$version\"}")" 1 "metrics: meshfleet_build_info{version=\"$version\"} 1"
is "$(metric meshfleet_db_errors_total)" 0 "metrics: meshfleet_db_errors_total 0"
like "$(metric meshfleet_uptime_seconds)" '^[0-9]+$' "metrics: meshfleet_uptime_seconds is a count of seconds"
is "$(metric meshfleet_nodes)" 0 "metrics: meshfleet_nodes 0 on an empty database"

before=$(metric "$health_200")
like "$before" '^[0-9]+$' "metrics: GET /api/v1/health 200 is counted"
for _ in 1 2 3; do req GET /api/v1/health; done
is "$(metric "$health_200")" $((before + 3)) "metrics: three more GET /api/v1/health add 3"

before=$(metric "$health_head")
req HEAD /api/v1/health
is "$(metric "$health_head")" $((${before:-0} + 1)) "metrics: HEAD is counted with method=\"HEAD\""

before=$(metric "$node_404")
req GET /api/v1/nodes/4660
is "$STATUS" 404 "GET of an unknown node: 404"
is "$(metric "$node_404")" $((${before:-0} + 1)) "metrics: the 404 is counted under route=\"/api/v1/nodes/{addr}\""
before=$(metric "$node_400")
req GET /api/v1/nodes/0x8000
is "$(metric "$node_400")" $((${before:-0} + 1)) "metrics: a 400 is counted with status=\"400\""

post_json /api/v1/nodes '[{"address":1},{"address":2},{"address":3}]'
is "$STATUS" 201 "three nodes created"
is "$(metric "$nodes_201")" 1 "metrics: POST /api/v1/nodes 201 counted once"
is "$(metric meshfleet_nodes)" 3 "metrics: meshfleet_nodes follows the inventory (3)"
req DELETE /api/v1/nodes/2
is "$STATUS" 204 "node deleted"
is "$(metric "$node_204")" 1 "metrics: DELETE 204 counted"
is "$(metric meshfleet_nodes)" 2 "metrics: meshfleet_nodes follows a delete (2)"

# The histogram of one route: the contract's buckets in order, cumulative, +Inf = _count = requests of the route.
req GET /metrics
metrics=$BODY
route='/api/v1/health'
buckets=$(grep -F "meshfleet_http_request_duration_seconds_bucket{route=\"$route\"," <<<"$metrics")
les=$(sed -n 's/.*le="\([^"]*\)".*/\1/p' <<<"$buckets" | paste -sd' ' -)
is "$les" "0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 +Inf" "metrics: histogram buckets of $route"
counts=$(awk '{ print $2 }' <<<"$buckets")
is "$(sort -n <<<"$counts" | paste -sd' ' -)" "$(paste -sd' ' - <<<"$counts")" "metrics: the buckets are cumulative"
inf=$(tail -n 1 <<<"$counts")
is "$(metric "meshfleet_http_request_duration_seconds_count{route=\"$route\"}")" "$inf" \
	"metrics: _count equals the +Inf bucket"
route_total=$(grep -F "$TOTAL{route=\"$route\"," <<<"$metrics" | awk '{ n += $2 } END { print n + 0 }')
is "$inf" "$route_total" "metrics: the histogram counts every request of $route"
like "$(metric "meshfleet_http_request_duration_seconds_sum{route=\"$route\"}")" '^[0-9]+(\.[0-9]+)?$' \
	"metrics: _sum is a number of seconds"

stop_daemon_ok "api_basic daemon"
done_testing
