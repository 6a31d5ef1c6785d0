#!/usr/bin/env bash
# The OpenAPI document served at /api/v1/openapi.json against the daemon's real route table
# (meshfleetd --list-routes): both ways complete, and every error response uses the Error schema.
set -u
. "$(dirname "$0")/lib.sh"

version=$(sed -n 's/^AC_INIT(\[meshfleet\], *\[\([^]]*\)\].*/\1/p' "$MF_SRCDIR/configure.ac")

# The checks, as one jq program over {doc, routes}; prints one line per problem, nothing when all is well.
# routes: ["GET /api/v1/health", ...] as printed by --list-routes.
CHECK='
def methods: ["get","put","post","delete","options","head","patch","trace"];
def resolve($doc): if type == "object" and has("$ref") then
		(.["$ref"] | ltrimstr("#/") | split("/")) as $path | ($doc | getpath($path)) // {} else . end;
.doc as $doc | (.routes | map(split(" ") | {method: (.[0] | ascii_downcase), path: .[1]})) as $routes |
($routes[] | select(($doc.paths[.path][.method] | type) != "object")
	| "route \(.method | ascii_upcase) \(.path) is missing from the document"),
($doc.paths | to_entries[] | .key as $p | .value | keys[] | select(. as $m | methods | index($m)) as $m
	| select([$routes[] | select(.path == $p and (.method == $m or ($m == "head" and .method == "get")))]
		| length == 0)
	| "the document has \($m | ascii_upcase) \($p), which is not a route of meshfleetd"),
($doc.paths | to_entries[] | .key as $p | .value | to_entries[] | select(.key as $m | methods | index($m))
	| .key as $m | (.value.responses // {}) | to_entries[]
	| select(.key | test("^[45]") or . == "default") | .key as $s | .value | resolve($doc)
	| select((.content["application/json"].schema["$ref"] // "") != "#/components/schemas/Error")
	| "\($m | ascii_upcase) \($p) response \($s) does not use #/components/schemas/Error"),
($doc.paths | to_entries[] | .key as $p | .value | to_entries[] | select(.key as $m | methods | index($m))
	| select((.value.responses // {}) | length == 0)
	| "\(.key | ascii_upcase) \($p) has no responses")
'
# problems DOC_FILE ROUTES_TEXT
problems() {
	jq -rn --slurpfile doc "$1" --arg routes "$2" \
		"{doc: \$doc[0], routes: (\$routes | split(\"\\n\") | map(select(length > 0)))} | $CHECK" 2>&1 ||
		echo "(the check itself failed: jq status $?)"
}

run_meshfleetd --list-routes
is "$RC" 0 "--list-routes exits 0"
routes=$OUT
[ "$(wc -l <<<"$routes")" -ge 10 ]
ok $? "--list-routes lists at least the 10 routes of the contract"

start_daemon || bail "meshfleetd did not start"
req GET /api/v1/openapi.json
is "$STATUS" 200 "GET /api/v1/openapi.json: 200"
like "$(header Content-Type)" '^application/json' "GET /api/v1/openapi.json: application/json"
doc="$MF_TMP/openapi.json"
printf '%s' "$BODY" >"$doc"
jq -e 'type == "object"' "$doc" >/dev/null 2>&1
ok $? "the document parses as a JSON object"
json_is '.openapi | startswith("3.1")' true "openapi is 3.1.x"
json_is '.info.version' "$version" "info.version is the package version"
json_is '.components.schemas.Error.properties.error.required | sort' '["code","message"]' \
	"the Error schema requires code and message"
# Every error code the daemon's sources can answer with, and no other, is in the Error schema.
codes=$( (grep -ohzE 'http_reply_error\([^,]+,[[:space:]]*[0-9]+,[[:space:]]*"[a-z_]+"' "$MF_SRCDIR"/daemon/*.c |
	tr '\0' '\n' | grep -oE '"[a-z_]+"$'
	grep -ohE 'input_fail\([a-z]+, "[a-z_]+"' "$MF_SRCDIR"/daemon/*.c | grep -oE '"[a-z_]+"') |
	tr -d '"' | sort -u | jq -R . | jq -cs .)
like "$codes" '"internal_error"' "the sources' error codes are found"
json_is '.components.schemas.Error.properties.error.properties.code.enum | sort' "$codes" \
	"the Error schema lists exactly the error codes of the sources"
cmp -s <(jq -S . "$doc") <(jq -S . "$MF_SRCDIR/daemon/openapi.json")
ok $? "the served document is daemon/openapi.json"

found=$(problems "$doc" "$routes")
is "$found" "" "every route is in the document, every documented operation is a route, errors use Error"
while IFS= read -r route; do
	[ -n "$route" ] || continue
	method=$(tr '[:upper:]' '[:lower:]' <<<"${route%% *}")
	path=${route#* }
	jq -e --arg p "$path" --arg m "$method" '.paths[$p][$m] | type == "object"' "$doc" >/dev/null
	ok $? "documented: $route"
done <<<"$routes"

# The checker itself must catch a gap: drop one route, add an invented one, break one error response.
jq 'del(.paths["/api/v1/nodes/{addr}"].patch)' "$doc" >"$MF_TMP/missing.json"
like "$(problems "$MF_TMP/missing.json" "$routes")" 'route PATCH /api/v1/nodes/\{addr\} is missing from the document' \
	"self-check: a route missing from the document is reported"
jq '.paths["/api/v1/invented"] = {get: {responses: {"200": {description: "x"}}}}' "$doc" >"$MF_TMP/extra.json"
like "$(problems "$MF_TMP/extra.json" "$routes")" 'GET /api/v1/invented, which is not a route' \
	"self-check: a documented operation that is no route is reported"
jq '.paths["/api/v1/health"].get.responses["500"] = {description: "x", content: {"text/plain": {schema: {type: "string"}}}}' \
	"$doc" >"$MF_TMP/plain-error.json"
like "$(problems "$MF_TMP/plain-error.json" "$routes")" 'GET /api/v1/health response 500 does not use' \
	"self-check: an error response without the Error schema is reported"
jq '.components.responses.NotFound.content["application/json"].schema = {type: "object"}' "$doc" >"$MF_TMP/bad-ref.json"
like "$(problems "$MF_TMP/bad-ref.json" "$routes")" 'GET /api/v1/nodes/\{addr\} response 404 does not use' \
	"self-check: a shared response (\$ref) without the Error schema is reported"

stop_daemon_ok "openapi daemon"
done_testing
