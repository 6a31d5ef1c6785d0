#!/usr/bin/env bash
# /api/v1/nodes: create (one, batch), get, list with pagination and filters, patch, delete, conflicts.
# Every write is checked in the database with sqlite3 too, not only through the API.
set -u
. "$(dirname "$0")/lib.sh"

start_daemon || bail "meshfleetd did not start"

count() { db_query 'SELECT count(*) FROM nodes'; }
RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

# --- create one ---
post_json /api/v1/nodes '{"address":16,"uuid":"00112233445566778899AABBCCDDEEFF","name":"Küche \u00e9","company_id":89,"product_id":"0x0102","version_id":3,"firmware_id":"5900ABCDEF01","tags":["lamp","floor-1","lamp","a.b:c_d-e"]}'
is "$STATUS" 201 "create one: 201"
is "$(header Location)" /api/v1/nodes/16 "create one: Location names the node"
like "$(header Content-Type)" '^application/json' "create one: JSON"
json_is '.nodes | length' 1 "create one: one node in the answer"
json_is '.nodes[0].address' 16 "create one: address"
json_is '.nodes[0].uuid' 00112233445566778899aabbccddeeff "create one: uuid in lower-case hex"
json_is '.nodes[0].name' 'Küche é' "create one: UTF-8 name (raw and \\u escaped)"
json_is '.nodes[0].company_id' 89 "create one: company_id"
json_is '.nodes[0].product_id' 258 "create one: product_id given as \"0x0102\""
json_is '.nodes[0].version_id' 3 "create one: version_id"
json_is '.nodes[0].firmware_id' 5900abcdef01 "create one: firmware_id in lower-case hex"
json_is '.nodes[0].tags' '["a.b:c_d-e","floor-1","lamp"]' "create one: tags sorted and distinct"
json_is '.nodes[0].last_seen' null "create one: last_seen null"
json_is ".nodes[0].created_at | test(\"$RFC3339\")" true "create one: created_at is RFC 3339 UTC"
json_is '.nodes[0].updated_at == .nodes[0].created_at' true "create one: updated_at = created_at"
json_is '.nodes[0] | keys_unsorted | sort' \
	'["address","company_id","created_at","dfu_capable","elements","firmware_id","hops","last_seen","name","product_id","provisioned","reachable","tags","updated_at","uuid","version_id"]' \
	"create one: exactly the contract's fields"
created=$(jq -cS '.nodes[0]' <<<"$BODY")
is "$(db_query "SELECT address, hex(uuid), name, company_id, product_id, version_id, hex(firmware_id), last_seen IS NULL FROM nodes")" \
	'16|00112233445566778899AABBCCDDEEFF|Küche é|89|258|3|5900ABCDEF01|1' "create one: the row in the database"
is "$(db_query "SELECT group_concat(tag, ' ') FROM (SELECT tag FROM node_tags WHERE address = 16 ORDER BY tag)")" \
	'a.b:c_d-e floor-1 lamp' "create one: the tags in the database"

for path in /api/v1/nodes/16 /api/v1/nodes/0x0010 /api/v1/nodes/0x10 /api/v1/nodes/0X0010; do
	req GET "$path"
	is "$STATUS" 200 "GET $path: 200"
	is "$(jq -cS 'del(.images)' <<<"$BODY")" "$created" "GET $path: the node as created"
	json_is .images '[]' "GET $path: and no firmware image known yet"
done

post_json /api/v1/nodes '{"address":17}'
is "$STATUS" 201 "create minimal: 201"
json_is '.nodes[0]|[.uuid,.name,.company_id,.product_id,.version_id,.firmware_id,.tags,.last_seen]' \
	'[null,"",null,null,null,null,[],null]' "create minimal: defaults"

post_json /api/v1/nodes '{"address":"0x0012","uuid":"A0B1C2D3-E4F5-0617-2839-4A5B6C7D8E9F","company_id":"89","firmware_id":"5900"}'
is "$STATUS" 201 "create with address \"0x0012\" and a dashed uuid: 201"
is "$(header Location)" /api/v1/nodes/18 "create with address \"0x0012\": Location /api/v1/nodes/18"
json_is '.nodes[0].uuid' a0b1c2d3e4f5061728394a5b6c7d8e9f "dashed uuid: stored as 32 hex digits"
is "$(db_query 'SELECT lower(hex(uuid)) FROM nodes WHERE address = 18')" a0b1c2d3e4f5061728394a5b6c7d8e9f \
	"dashed uuid: 16 bytes in the database"

for a in 1 32767; do
	post_json /api/v1/nodes "{\"address\":$a}"
	is "$STATUS" 201 "create at the unicast boundary $a: 201"
done
req GET /api/v1/nodes/0x7fff
is "$STATUS" 200 "GET /api/v1/nodes/0x7fff: 200"
json_is .address 32767 "GET /api/v1/nodes/0x7fff: address 32767"
name64=$(printf 'é%.0s' {1..32})
post_json /api/v1/nodes "{\"address\":2,\"name\":\"$name64\"}"
is "$STATUS" 201 "create with a 64-byte UTF-8 name: 201"
json_is '.nodes[0].name' "$name64" "64-byte name kept whole"
is "$(count)" 6 "six nodes in the database"

# --- batch ---
post_json /api/v1/nodes '[{"address":100,"tags":["t"]},{"address":"0x0065","name":"b"},{"address":99,"uuid":"ffeeddccbbaa99887766554433221100"}]'
is "$STATUS" 201 "create a batch of 3: 201"
json_is '[.nodes[].address]' '[100,101,99]' "batch: the nodes in request order"
is "$(db_query 'SELECT group_concat(address) FROM (SELECT address FROM nodes WHERE address IN (99,100,101) ORDER BY address)')" \
	'99,100,101' "batch: all three in the database"
post_json /api/v1/nodes '[{"address":102}]'
is "$STATUS" 201 "batch of one: 201"
json_is '.nodes|length' 1 "batch of one: one node"

# --- conflicts: 409 and nothing changes ---
sum=$(db_checksum)
post_json /api/v1/nodes '{"address":16,"name":"again"}'
expect_error 409 conflict "create at an existing address"
like "$(json_value .error.message)" '0x0010' "conflict on address: the message names the address"
is "$(db_checksum)" "$sum" "create at an existing address: database unchanged"
post_json /api/v1/nodes '{"address":"0x10"}'
expect_error 409 conflict "create at an existing address given as hex"
post_json /api/v1/nodes '{"address":200,"uuid":"00112233-4455-6677-8899-aabbccddeeff"}'
expect_error 409 conflict "create with the uuid of another node"
like "$(json_value .error.message)" 'uuid' "conflict on uuid: the message says uuid"
is "$(db_checksum)" "$sum" "create with a taken uuid: database unchanged"
post_json /api/v1/nodes '[{"address":201},{"address":202},{"address":16},{"address":203}]'
expect_error 409 conflict "batch with one existing address"
like "$(json_value .error.message)" '^nodes\[2\]: ' "batch conflict: the message starts with the path nodes[2] (contract)"
is "$(db_checksum)" "$sum" "batch with one existing address: nothing stored"
post_json /api/v1/nodes '[{"address":201},{"address":202,"uuid":"ffeeddcc-bbaa-9988-7766-554433221100"}]'
expect_error 409 conflict "batch with a taken uuid"
is "$(db_checksum)" "$sum" "batch with a taken uuid: nothing stored"
post_json /api/v1/nodes '[{"address":201},{"address":202},{"address":"0x00c9"}]'
expect_error 409 conflict "batch repeating an address"
is "$(db_checksum)" "$sum" "batch repeating an address: nothing stored"
post_json /api/v1/nodes '[{"address":201,"uuid":"0123456789abcdef0123456789abcdef"},{"address":202,"uuid":"01234567-89AB-CDEF-0123-456789ABCDEF"}]'
expect_error 409 conflict "batch repeating a uuid (two spellings)"
is "$(db_checksum)" "$sum" "batch repeating a uuid: nothing stored"
post_json /api/v1/nodes '[{"address":201},{"address":202},{"address":203,"uuid":"xyz"},{"address":204}]'
expect_error 400 invalid_field "batch with one bad node"
like "$(json_value .error.message)" '^nodes\[2\]\.uuid: ' "batch with one bad node: the message starts with the path nodes[2].uuid (contract)"
is "$(db_checksum)" "$sum" "batch with one bad node: nothing stored"
is "$(db_query 'SELECT count(*) FROM nodes WHERE address BETWEEN 200 AND 204')" 0 "no node 200..204 in the database"

# --- a fleet for the list tests ---
fleet=$(jq -nc '[range(0; 40) as $i | {
	address: (1024 + $i * 3),
	company_id: (if $i % 4 == 3 then null elif $i % 2 == 0 then 89 else 2 end),
	product_id: ($i % 3),
	firmware_id: (if $i % 5 == 0 then "5900aabb" elif $i % 5 == 1 then "590001" else null end),
	tags: ([if $i % 2 == 0 then "even" else "odd" end] + (if $i % 7 == 0 then ["seven"] else [] end))
}]')
post_json /api/v1/nodes "$fleet"
is "$STATUS" 201 "create a fleet of 40: 201"
is "$(count)" 50 "fifty nodes in the database"

all=$(db_query 'SELECT group_concat(address) FROM (SELECT address FROM nodes ORDER BY address)')
req GET /api/v1/nodes
is "$STATUS" 200 "list: 200"
json_is '[.nodes[].address] | join(",")' "$all" "list: every node, by address"
json_is .next_cursor null "list: next_cursor null when all fit"
json_is '.nodes[] | select(.address == 16) | .tags | join(" ")' 'a.b:c_d-e floor-1 lamp' "list: nodes carry their tags"
req GET '/api/v1/nodes?limit=1000'
json_is '.nodes | length' 50 "list limit=1000: all 50"

# walk QUERY LIMIT: follows next_cursor; sets WALK (addresses, comma-separated) and WALK_OK (pages well-formed).
walk() {
	local query=$1 limit=$2 cursor='' pages=0 n addrs
	WALK='' WALK_OK=1
	while :; do
		req GET "/api/v1/nodes?limit=$limit${query:+&$query}${cursor:+&cursor=$cursor}"
		[ "$STATUS" = 200 ] || { WALK_OK=0; diag "page $pages: status $STATUS $BODY"; return; }
		IFS='|' read -r n addrs cursor < <(jq -r '[(.nodes | length | tostring),
			([.nodes[].address | tostring] | join(",")), (.next_cursor // "")] | join("|")' <<<"$BODY")
		WALK+=$addrs
		pages=$((pages + 1))
		if [ -z "$cursor" ]; then
			[ "$n" -le "$limit" ] || WALK_OK=0
			break
		fi
		[ "$n" = "$limit" ] || { WALK_OK=0; diag "page $pages: $n nodes with a next_cursor"; }
		WALK+=,
		[ "$pages" -le 1000 ] || { WALK_OK=0; return; }
	done
	WALK=${WALK%,}
}
walk '' 7
is "$WALK" "$all" "pagination, limit=7: every node exactly once, in order"
is "$WALK_OK" 1 "pagination, limit=7: full pages until the last, next_cursor null at the end"
walk '' 1
is "$WALK" "$all" "pagination, limit=1: every node exactly once, in order"
walk '' 10
is "$WALK" "$all" "pagination, limit=10 (a divisor of 50): every node once"
is "$WALK_OK" 1 "pagination, limit=10: no empty page after the last full one"
req GET '/api/v1/nodes?limit=50'
json_is .next_cursor null "limit = number of nodes: next_cursor null"
req GET '/api/v1/nodes?limit=49'
json_is '.next_cursor | type' string "limit = number of nodes - 1: a next_cursor"
req GET "/api/v1/nodes?limit=49&cursor=$(json_value .next_cursor)"
json_is '[.nodes[].address]' "[$(db_query 'SELECT max(address) FROM nodes')]" "the last page holds the last node"
json_is .next_cursor null "the last page: next_cursor null"

# check_filter QUERY SQL-WHERE DESC: the list with QUERY equals the nodes the SQL condition selects, in order.
check_filter() {
	local want
	want=$(db_query "SELECT group_concat(address) FROM (SELECT address FROM nodes n WHERE $2 ORDER BY address)")
	req GET "/api/v1/nodes?$1"
	is "$STATUS" 200 "filter $3: 200"
	json_is '[.nodes[].address] | join(",")' "$want" "filter $3: exactly the matching nodes"
	[ -n "$want" ] || fail "filter $3: the fixture has matching nodes"
}
check_filter 'firmware_id=5900aabb' "hex(firmware_id) = '5900AABB'" "firmware_id"
check_filter 'firmware_id=5900AABB' "hex(firmware_id) = '5900AABB'" "firmware_id in upper case"
check_filter 'firmware_id=590001' "hex(firmware_id) = '590001'" "firmware_id (another)"
check_filter 'company_id=89' 'company_id = 89' "company_id decimal"
check_filter 'company_id=0x0059' 'company_id = 89' "company_id 0x-hex"
check_filter 'company_id=0x2' 'company_id = 2' "company_id=0x2"
check_filter 'product_id=1' 'product_id = 1' "product_id"
check_filter 'product_id=0x0000' 'product_id = 0' "product_id=0x0000"
check_filter 'tag=seven' "EXISTS (SELECT 1 FROM node_tags t WHERE t.address = n.address AND t.tag = 'seven')" "tag"
check_filter 'tag=lamp' "EXISTS (SELECT 1 FROM node_tags t WHERE t.address = n.address AND t.tag = 'lamp')" "tag=lamp"
check_filter 'company_id=89&tag=seven' \
	"company_id = 89 AND EXISTS (SELECT 1 FROM node_tags t WHERE t.address = n.address AND t.tag = 'seven')" \
	"company_id + tag"
check_filter 'company_id=2&product_id=1&firmware_id=590001' \
	"company_id = 2 AND product_id = 1 AND hex(firmware_id) = '590001'" "company_id + product_id + firmware_id"
check_filter 'tag=even&product_id=0&limit=1000' \
	"product_id = 0 AND EXISTS (SELECT 1 FROM node_tags t WHERE t.address = n.address AND t.tag = 'even')" \
	"tag + product_id + limit"
for q in 'tag=nosuchtag' 'company_id=65535' 'firmware_id=ffff' 'company_id=89&tag=odd'; do
	req GET "/api/v1/nodes?$q"
	is "$STATUS" 200 "filter $q (no match): 200"
	json_is . '{"nodes":[],"next_cursor":null}' "filter $q (no match): empty list, next_cursor null"
done
want=$(db_query "SELECT group_concat(address) FROM (SELECT address FROM nodes WHERE company_id = 89 ORDER BY address)")
walk 'company_id=89' 3
is "$WALK" "$want" "pagination with a filter, limit=3: every matching node once, in order"
is "$WALK_OK" 1 "pagination with a filter: pages well-formed"

# --- patch ---
req GET /api/v1/nodes/17
before=$BODY
created_at=$(json_value .created_at)
patch_json /api/v1/nodes/17 '{}'
is "$STATUS" 200 "patch {}: 200"
is "$(jq -cS . <<<"$BODY")" "$(jq -cS . <<<"$before")" "patch {}: node unchanged"

patch_json /api/v1/nodes/17 '{"name":"hall"}'
is "$STATUS" 200 "patch name: 200"
json_is .name hall "patch name: answer"
json_is .created_at "$created_at" "patch: created_at unchanged"
json_is ".updated_at | test(\"$RFC3339\")" true "patch: updated_at is RFC 3339"
json_is ".updated_at >= \"$created_at\"" true "patch: updated_at not before created_at"
is "$(db_query 'SELECT name FROM nodes WHERE address = 17')" hall "patch name: database"
patched=$(jq -cS . <<<"$BODY")
req GET /api/v1/nodes/17
is "$(jq -cS . <<<"$BODY")" "$patched" "patch: GET returns what PATCH answered"

patch_json /api/v1/nodes/17 '{"name":null}'
json_is .name "" "patch name null: cleared to \"\""
is "$(db_query "SELECT name = '' FROM nodes WHERE address = 17")" 1 "patch name null: database"

patch_json /api/v1/nodes/0x11 '{"uuid":"DEADBEEF-0000-1111-2222-333344445555"}'
is "$STATUS" 200 "patch uuid (dashed, via hex address): 200"
json_is .uuid deadbeef000011112222333344445555 "patch uuid: answer"
is "$(db_query 'SELECT lower(hex(uuid)) FROM nodes WHERE address = 17')" deadbeef000011112222333344445555 "patch uuid: database"
patch_json /api/v1/nodes/17 '{"uuid":null}'
json_is .uuid null "patch uuid null: cleared"
is "$(db_query 'SELECT uuid IS NULL FROM nodes WHERE address = 17')" 1 "patch uuid null: database"

patch_json /api/v1/nodes/17 '{"company_id":65535,"product_id":"0xffff","version_id":0}'
json_is '[.company_id,.product_id,.version_id]' '[65535,65535,0]' "patch ids: answer"
is "$(db_query 'SELECT company_id, product_id, version_id FROM nodes WHERE address = 17')" '65535|65535|0' "patch ids: database"
for f in company_id product_id version_id; do
	patch_json /api/v1/nodes/17 "{\"$f\":null}"
	json_is ".$f" null "patch $f null: cleared"
	is "$(db_query "SELECT $f IS NULL FROM nodes WHERE address = 17")" 1 "patch $f null: database"
done

fwid=$(printf 'ab%.0s' {1..108})
patch_json /api/v1/nodes/17 "{\"firmware_id\":\"$fwid\"}"
json_is .firmware_id "$fwid" "patch firmware_id (108 bytes): answer"
is "$(db_query 'SELECT length(firmware_id) FROM nodes WHERE address = 17')" 108 "patch firmware_id: 108 bytes in the database"
patch_json /api/v1/nodes/17 '{"firmware_id":null}'
json_is .firmware_id null "patch firmware_id null: cleared"
is "$(db_query 'SELECT firmware_id IS NULL FROM nodes WHERE address = 17')" 1 "patch firmware_id null: database"

patch_json /api/v1/nodes/16 '{"tags":["z","y","z"]}'
json_is .tags '["y","z"]' "patch tags: replaced, sorted, distinct"
is "$(db_query "SELECT group_concat(tag, ' ') FROM (SELECT tag FROM node_tags WHERE address = 16 ORDER BY tag)")" 'y z' \
	"patch tags: the old tags are gone from the database"
tags16=$(jq -nc '[range(0; 16) | "t\(.)"]')
patch_json /api/v1/nodes/16 "{\"tags\":$tags16}"
json_is '.tags | length' 16 "patch 16 tags (the maximum): 200"
patch_json /api/v1/nodes/16 '{"tags":[]}'
json_is .tags '[]' "patch tags []: no tags"
is "$(db_query 'SELECT count(*) FROM node_tags WHERE address = 16')" 0 "patch tags []: none in the database"
json_is .name 'Küche é' "patch tags: other fields untouched"
json_is .firmware_id 5900abcdef01 "patch tags: firmware_id untouched"

req PATCH /api/v1/nodes/16 -H 'Content-Type: application/merge-patch+json' --data-binary '{"name":"merge"}'
is "$STATUS" 200 "patch with application/merge-patch+json: 200"
json_is .name merge "patch with merge-patch+json: applied"
req PATCH /api/v1/nodes/16 -H 'Content-Type: application/json; charset=utf-8' --data-binary '{"name":"charset"}'
is "$STATUS" 200 "patch with application/json; charset=utf-8: 200"

patch_json /api/v1/nodes/16 '{"name":"all","uuid":"00000000000000000000000000000001","company_id":1,"product_id":2,"version_id":3,"firmware_id":"0100","tags":["only"]}'
is "$STATUS" 200 "patch every field at once: 200"
is "$(db_query "SELECT name, lower(hex(uuid)), company_id, product_id, version_id, hex(firmware_id), (SELECT group_concat(tag) FROM node_tags WHERE address = 16) FROM nodes WHERE address = 16")" \
	'all|00000000000000000000000000000001|1|2|3|0100|only' "patch every field: database"

patch_json /api/v1/nodes/16 '{"uuid":"00000000000000000000000000000001"}'
is "$STATUS" 200 "patch a node to its own uuid: 200"
sum=$(db_checksum)
patch_json /api/v1/nodes/17 '{"uuid":"00000000-0000-0000-0000-000000000001"}'
expect_error 409 conflict "patch to another node's uuid"
is "$(db_checksum)" "$sum" "patch to another node's uuid: database unchanged"
patch_json /api/v1/nodes/4660 '{"name":"x"}'
expect_error 404 not_found "patch an unknown node"
is "$(db_checksum)" "$sum" "patch an unknown node: database unchanged"

# --- delete ---
n=$(count)
req DELETE /api/v1/nodes/0x0010
is "$STATUS" 204 "delete (hex address): 204"
is "$BODY" "" "delete: no body"
is "$(count)" $((n - 1)) "delete: one node fewer in the database"
req DELETE /api/v1/nodes/100
is "$STATUS" 204 "delete a tagged node: 204"
is "$(db_query 'SELECT count(*) FROM node_tags WHERE address = 100')" 0 "delete: its tags are gone too"
req GET /api/v1/nodes/16
expect_error 404 not_found "GET after delete"
req DELETE /api/v1/nodes/16
expect_error 404 not_found "delete again"
patch_json /api/v1/nodes/16 '{"name":"x"}'
expect_error 404 not_found "patch after delete"
post_json /api/v1/nodes '{"address":16,"uuid":"00000000000000000000000000000001"}'
is "$STATUS" 201 "the address and uuid of a deleted node can be used again"

# --- the largest batch ---
big=$(jq -nc '[range(0; 1000) | {address: (20000 + .), name: "n\(.)"}]')
post_json /api/v1/nodes "$big"
is "$STATUS" 201 "batch of 1000 nodes (the maximum): 201"
json_is '.nodes | length' 1000 "batch of 1000: all in the answer"
is "$(db_query 'SELECT count(*) FROM nodes WHERE address BETWEEN 20000 AND 20999')" 1000 "batch of 1000: all in the database"
all=$(db_query 'SELECT group_concat(address) FROM (SELECT address FROM nodes ORDER BY address)')
walk '' 1000
is "$WALK" "$all" "pagination, limit=1000 over $(count) nodes: every node once, in order"
is "$WALK_OK" 1 "pagination, limit=1000: pages well-formed"

stop_daemon_ok "api_nodes daemon"
done_testing
