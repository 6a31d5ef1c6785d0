#!/usr/bin/env bash
# Bad input on every door: bodies (POST and PATCH), addresses in the path and query parameters. Every case
# checks the exact status and error code, and that the node tables are byte-for-byte what they were.
set -u
. "$(dirname "$0")/lib.sh"

MAX_BODY=65536
cfg="$MF_TMP/bad-input.conf"
printf '[http]\nmax_body_bytes = %d\n' "$MAX_BODY" >"$cfg"
start_daemon --config "$cfg" || bail "meshfleetd did not start"

post_json /api/v1/nodes '[{"address":16,"uuid":"00112233445566778899aabbccddeeff","name":"sixteen","company_id":89,"product_id":1,"version_id":2,"firmware_id":"5900aa","tags":["a","b"]},{"address":17,"name":"seventeen"}]'
[ "$STATUS" = 201 ] || bail "cannot create the fixture nodes: $STATUS $BODY"

# check DESC STATUS CODE METHOD PATH [CURL ARGS...]: the request fails with STATUS and CODE, and the node tables
# are unchanged (still $SUM, which the few requests meant to succeed refresh).
SUM=$(db_checksum)
check() {
	local desc=$1 status=$2 code=$3
	shift 3
	local now
	req "$@"
	expect_error "$status" "$code" "$desc"
	now=$(db_checksum)
	is "$now" "$SUM" "$desc: database unchanged"
	SUM=$now        # one change is reported once, not again by every later case
}

# A rejected POST would have created node 300; a rejected PATCH would have renamed node 16.
post_bad() { # DESC STATUS CODE BODY [CURL ARGS...]
	local desc=$1 status=$2 code=$3 body=$4
	shift 4
	check "POST $desc" "$status" "$code" POST /api/v1/nodes -H 'Content-Type: application/json' --data-binary "$body" "$@"
}
patch_bad() { # DESC STATUS CODE BODY [CURL ARGS...]
	local desc=$1 status=$2 code=$3 body=$4
	shift 4
	check "PATCH $desc" "$status" "$code" PATCH /api/v1/nodes/16 -H 'Content-Type: application/json' --data-binary "$body" "$@"
}
# both DESC STATUS CODE FIELDS: FIELDS (JSON members, without braces) after a valid address or name.
both() {
	local change='"name":"changed"'
	[[ $4 == '"name"'* ]] && change='"version_id":7'
	post_bad "$1" "$2" "$3" "{\"address\":300,$4}"
	patch_bad "$1" "$2" "$3" "{$change,$4}"
}
# file_bad METHOD DESC STATUS CODE FILE [CURL ARGS...]: a body from a file (for bytes bash cannot hold).
file_bad() {
	local method=$1 desc=$2 status=$3 code=$4 file=$5 path=/api/v1/nodes
	shift 5
	[ "$method" = PATCH ] && path=/api/v1/nodes/16
	check "$method $desc" "$status" "$code" "$method" "$path" -H 'Content-Type: application/json' \
		--data-binary "@$file" "$@"
}

# --- malformed JSON ---
for body in '{"address":300' '{address:300}' "{'address':300}" '{"address":300,}' '[{"address":300},]' \
	'{"address":300} x' '{"address":300}{"address":301}' 'nul' '{"address":0300}' '{"address":+300}' \
	'{"address":300,"name":"unterminated}' '{"address":300,"name":"bad \q escape"}' '   ' "$(printf '\t\n')"; do
	post_bad "malformed '$body'" 400 invalid_json "$body"
done
for body in '{"name":"changed"' '{"name":"changed",}' '{"name":"changed"} []' '{"name":changed}' '{"name":"\x"}'; do
	patch_bad "malformed '$body'" 400 invalid_json "$body"
done

# --- empty body ---
post_bad "empty body" 400 invalid_json ''
patch_bad "empty body" 400 invalid_json ''

# --- wrong types and bad values, field by field ---
for v in '"abc"' true false 1.5 300.0 '[]' '{}' null '"0x"' '"0x12g"' '" 300"' '"300 "' '""' '1e2'; do
	post_bad "address $v" 400 invalid_field "{\"address\":$v}"
done
for v in 0 -1 32768 65535 65536 -32768 '"0"' '"0x0000"' '"0x8000"' '"0xffff"' '"32768"' '"-1"' -0 \
	'"99999999999999999999999"'; do
	post_bad "address $v (out of range)" 400 invalid_field "{\"address\":$v}"
done
post_bad "without address" 400 missing_field '{"name":"no address"}'
post_bad "{} (no address)" 400 missing_field '{}'
post_bad "batch, one node without address" 400 missing_field '[{"address":300},{"name":"x"}]'

for v in 123 true '[]' '{}' '"xyz"' '"00112233445566778899aabbccddee"' '"00112233445566778899aabbccddeeff00"' \
	'"0011223344556677889 9aabbccddeeff"' '"g0112233445566778899aabbccddeeff"' '"0011-2233-4455-6677-8899-aabbccddeeff"' \
	'"00112233-44556677-8899-aabb-ccddeeff"' '"00112233-4455-6677-8899-aabbccddeef-"' '"{00112233-4455-6677-8899-aabbccddeeff}"' \
	'""'; do
	both "uuid $v" 400 invalid_field "\"uuid\":$v"
done

name65=$(printf 'x%.0s' {1..65})
name33e=$(printf 'é%.0s' {1..33})
for v in 1 true '[]' '{}' "\"$name65\"" "\"$name33e\"" '"tab\there"' '"new\nline"' '"\u0001"' '"del\u007f"'; do
	both "name $(_clip "$v" | cut -c1-20)" 400 invalid_field "\"name\":$v"
done
# A raw control character is not JSON at all.
both "name with a raw control character" 400 invalid_json "\"name\":\"raw$(printf '\x02')ctl\""

for f in company_id product_id version_id; do
	for v in '"abc"' true 1.5 '[]' '{}' -1 65536 '"0x10000"' '"-1"' '"65536"' '""' '"0x"' 1e3; do
		both "$f $v" 400 invalid_field "\"$f\":$v"
	done
done

fw109=$(printf 'ab%.0s' {1..109})
for v in 1 true '[]' '{}' '"abc"' '"zz"' '"ab"' '""' "\"$fw109\"" '"59 00"' '"0x5900"' '"5900aag0"'; do
	both "firmware_id $(_clip "$v" | cut -c1-24)" 400 invalid_field "\"firmware_id\":$v"
done

tag33=$(printf 't%.0s' {1..33})
tags17=$(jq -nc '[range(0; 17) | "t\(.)"]')
for v in '"a"' 1 '{}' null '[1]' '[null]' '[""]' '["has space"]' "[\"$tag33\"]" "$tags17" '["a/b"]' '["é"]' \
	'["a",["b"]]' '["ok","bad,tag"]'; do
	both "tags $(_clip "$v" | cut -c1-30)" 400 invalid_field "\"tags\":$v"
done

# --- unknown and read-only fields ---
both "unknown field colour" 400 unknown_field '"colour":"red"'
both "unknown field Name (case)" 400 unknown_field '"Name":"x"'
both "unknown field ''" 400 unknown_field '"":1'
for f in last_seen created_at updated_at; do
	both "read-only $f" 400 invalid_field "\"$f\":\"2026-01-01T00:00:00Z\""
	both "read-only $f null" 400 invalid_field "\"$f\":null"
done
for f in elements provisioned dfu_capable reachable hops; do
	both "read-only $f" 400 invalid_field "\"$f\":1"
done
patch_bad "address (read-only on PATCH)" 400 invalid_field '{"name":"changed","address":16}'
patch_bad "address to another value" 400 invalid_field '{"name":"changed","address":18}'

# --- duplicate keys ---
post_bad "duplicate key address" 400 invalid_json '{"address":300,"address":301}'
post_bad "duplicate key name" 400 invalid_json '{"address":300,"name":"a","name":"b"}'
post_bad "duplicate key in a batch element" 400 invalid_json '[{"address":300},{"address":301,"tags":[],"tags":["x"]}]'
patch_bad "duplicate key name" 400 invalid_json '{"name":"changed","name":"changed"}'
patch_bad "duplicate key tags" 400 invalid_json '{"name":"changed","tags":["a"],"tags":["b"]}'

# --- nesting depth ---
nest() { # DEPTH INNER: INNER inside DEPTH-1 arrays
	local open close
	open=$(printf '[%.0s' $(seq 1 $(($1 - 1))))
	close=$(printf ']%.0s' $(seq 1 $(($1 - 1))))
	printf '%s%s%s' "$open" "$2" "$close"
}
post_bad "node object at depth 32 (deep but within the limit)" 400 invalid_field "$(nest 32 '{"address":300}')"
post_bad "node object at depth 33" 400 invalid_json "$(nest 33 '{"address":300}')"
post_bad "10000 nested arrays" 400 invalid_json "$(nest 10000 '[]')"
post_bad "10000 nested objects" 400 invalid_json "$(printf '{"a":%.0s' {1..5000})1$(printf '}%.0s' {1..5000})"
patch_bad "tags nested 33 deep" 400 invalid_json "{\"name\":\"changed\",\"tags\":$(nest 32 '["a"]')}"
patch_bad "tags nested 32 deep" 400 invalid_field "{\"name\":\"changed\",\"tags\":$(nest 31 '["a"]')}"
# Brackets inside strings are not nesting.
brackets=$(printf '[%.0s' {1..40})
post_json /api/v1/nodes "{\"address\":301,\"name\":\"$brackets\\\"{{{{\"}"
is "$STATUS" 201 "POST with 40 '[' and an escaped quote inside a string: 201 (strings do not nest)"
req DELETE /api/v1/nodes/301
is "$STATUS" 204 "node 301 deleted again"

# --- body size ---
pad_to() { # SIZE JSON: JSON padded with spaces to SIZE bytes
	printf '%s%*s' "$2" $(($1 - ${#2})) ''
}
big="$MF_TMP/big.json"
pad_to $((MAX_BODY + 1)) '{"address":300}' >"$big"
file_bad POST "body of max_body_bytes + 1 (Content-Length)" 413 payload_too_large "$big"
file_bad POST "body of max_body_bytes + 1 (chunked)" 413 payload_too_large "$big" -H 'Transfer-Encoding: chunked'
file_bad PATCH "body of max_body_bytes + 1 (Content-Length)" 413 payload_too_large "$big"
file_bad PATCH "body of max_body_bytes + 1 (chunked)" 413 payload_too_large "$big" -H 'Transfer-Encoding: chunked'
pad_to $((4 * MAX_BODY)) '{"address":300}' >"$big"
file_bad POST "body of 4 x max_body_bytes (chunked)" 413 payload_too_large "$big" -H 'Transfer-Encoding: chunked'
check "POST announcing 1 GB in Content-Length" 413 payload_too_large POST /api/v1/nodes \
	-H 'Content-Type: application/json' -H 'Content-Length: 1000000000' -H 'Expect: 100-continue' --data-binary '{"address":300}'
pad_to "$MAX_BODY" '{"address":302}' >"$big"
req POST /api/v1/nodes -H 'Content-Type: application/json' --data-binary "@$big"
is "$STATUS" 201 "POST of exactly max_body_bytes: 201"
req POST /api/v1/nodes -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary '{"address":303}'
is "$STATUS" 201 "POST of a small chunked body: 201"
req GET /api/v1/health
is "$STATUS" 200 "the daemon still serves after the oversize bodies"
req DELETE /api/v1/nodes/302
req DELETE /api/v1/nodes/303
is "$(db_checksum)" "$SUM" "nodes 302 and 303 deleted again: the tables are as before"

# --- content type ---
for ct in '' 'text/plain' 'application/xml' 'application/jsonx' 'application/json-seq' 'json' \
	'application/x-www-form-urlencoded' 'multipart/form-data; boundary=x' 'application/merge-patch+json'; do
	check "POST with Content-Type '$ct'" 415 unsupported_media_type POST /api/v1/nodes \
		-H "Content-Type: $ct" --data-binary '{"address":300}'
done
check "POST without Content-Type" 415 unsupported_media_type POST /api/v1/nodes -H 'Content-Type:' \
	--data-binary '{"address":300}'
for ct in '' 'text/plain' 'application/merge-patch' 'text/json'; do
	check "PATCH with Content-Type '$ct'" 415 unsupported_media_type PATCH /api/v1/nodes/16 \
		-H "Content-Type: $ct" --data-binary '{"name":"changed"}'
done
check "PATCH without Content-Type" 415 unsupported_media_type PATCH /api/v1/nodes/16 -H 'Content-Type:' \
	--data-binary '{"name":"changed"}'

# --- encoding ---
bin="$MF_TMP/bin.json"
for bytes in '\xff\xfe' '\xc0\xaf' '\xed\xa0\x80' '\xe2\x82' '\x80' '\xf8\x88\x80\x80\x80'; do
	printf '{"address":300,"name":"a%bb"}' "$bytes" >"$bin"
	file_bad POST "invalid UTF-8 ($bytes) in a string" 400 invalid_json "$bin"
	printf '{"name":"a%bb"}' "$bytes" >"$bin"
	file_bad PATCH "invalid UTF-8 ($bytes) in a string" 400 invalid_json "$bin"
done
printf '{"address":300,"name":"a\0b"}' >"$bin"
file_bad POST "a raw NUL byte in a string" 400 invalid_json "$bin"
printf '{"address":300}\0' >"$bin"
file_bad POST "a NUL byte after the document" 400 invalid_json "$bin"
printf '\xef\xbb\xbf{"address":300}' >"$bin"
file_bad POST "a UTF-8 byte order mark" 400 invalid_json "$bin"
both 'NUL escape \u0000 in a string' 400 invalid_json '"uuid":"0011\u0000"'
both 'NUL escape \u0000 in the name' 400 invalid_json '"name":"a\u0000b"'
both 'lone surrogate \ud800' 400 invalid_json '"name":"\ud800"'
post_bad 'NUL escape in a key' 400 invalid_json '{"address":300,"na\u0000me":"x"}'

# --- numbers ---
post_bad "address 1e400" 400 invalid_json '{"address":1e400}'
both "company_id 1e400" 400 invalid_json '"company_id":1e400'
both "company_id -1e400" 400 invalid_json '"company_id":-1e400'
post_bad "address 9223372036854775808 (beyond int64)" 400 invalid_json '{"address":9223372036854775808}'
both "version_id 9223372036854775807" 400 invalid_field '"version_id":9223372036854775807'
both "version_id -9223372036854775808" 400 invalid_field '"version_id":-9223372036854775808'
post_bad "address -0" 400 invalid_field '{"address":-0}'
post_bad "address 16.0" 400 invalid_field '{"address":16.0}'
post_bad "address 1E1" 400 invalid_field '{"address":1E1}'
both "company_id NaN" 400 invalid_json '"company_id":NaN'
both "company_id Infinity" 400 invalid_json '"company_id":Infinity'
both "company_id 0x10 (not JSON)" 400 invalid_json '"company_id":0x10'

# --- document shapes ---
for body in 1 '"x"' null true '[1]' '[null]' '[[]]' '["address"]' '[{"address":300},2]'; do
	post_bad "body $body" 400 invalid_field "$body"
done
post_bad "empty array" 400 invalid_field '[]'
post_bad "array of 1001 nodes" 400 invalid_field "$(jq -nc '[range(0; 1001) | {address: (1000 + .)}]')"
is "$(db_query 'SELECT count(*) FROM nodes WHERE address >= 1000')" 0 "the 1001-node array stored nothing"
for body in '[]' '[{"name":"changed"}]' 1 '"x"' null; do
	patch_bad "body $body" 400 invalid_field "$body"
done

# --- query parameters ---
for q in limit=0 limit=1001 limit=abc limit=-1 limit=1.5 limit= 'limit=%20' limit=99999999999999999999999 \
	cursor=abc cursor=n12345 cursor=n00zz cursor=n001 cursor= cursor=N0010 'cursor=n%2000' \
	firmware_id=abc firmware_id=zz firmware_id=00 "firmware_id=$fw109" firmware_id= firmware_id=0x5900 \
	'tag=has%20space' tag= "tag=$tag33" tag=a%2Fb tag=%C3%A9 'tag=a,b' tag=a%00b \
	company_id=65536 company_id=-1 company_id=abc company_id= company_id=0x10000 product_id=1.5 product_id=65536 \
	'limit=1&limit=2' 'tag=a&tag=b' 'company_id=1&company_id=1' 'cursor=n0010&cursor=n0010' 'limit'; do
	check "GET /api/v1/nodes?$(_clip "$q" | cut -c1-40)" 400 invalid_parameter GET "/api/v1/nodes?$q"
done
for q in foo=1 LIMIT=5 'limit=5&foo=1' 'Tag=a' 'address=16' '=1'; do
	check "GET /api/v1/nodes?$q" 400 unknown_parameter GET "/api/v1/nodes?$q"
done
check "GET /api/v1/nodes/16?limit=1" 400 unknown_parameter GET '/api/v1/nodes/16?limit=1'
check "POST /api/v1/nodes?limit=1" 400 unknown_parameter POST '/api/v1/nodes?limit=1' \
	-H 'Content-Type: application/json' --data-binary '{"address":300}'
check "PATCH /api/v1/nodes/16?force=1" 400 unknown_parameter PATCH '/api/v1/nodes/16?force=1' \
	-H 'Content-Type: application/json' --data-binary '{"name":"changed"}'
check "DELETE /api/v1/nodes/16?force=1" 400 unknown_parameter DELETE '/api/v1/nodes/16?force=1'

is "$(db_query 'SELECT name FROM nodes WHERE address = 16')" sixteen "node 16 was never changed"
is "$(db_query 'SELECT count(*) FROM nodes WHERE address = 300')" 0 "node 300 was never created"

# --- addresses in the path (last: a bug here could delete node 16) ---
long=$(printf '1%.0s' {1..100})
for a in 0 32768 0x8000 0x0000 0xffff 0xC000 65535 99999999999999999999 abc -1 +1 1.0 0x 0xg1 '%201' '1%20' \
	"$long" '16;1' '%00' '0x10%00' 1e1; do
	check "GET /api/v1/nodes/$(_clip "$a" | cut -c1-24)" 400 invalid_address GET "/api/v1/nodes/$a"
	check "DELETE /api/v1/nodes/$(_clip "$a" | cut -c1-24)" 400 invalid_address DELETE "/api/v1/nodes/$a"
	check "PATCH /api/v1/nodes/$(_clip "$a" | cut -c1-24)" 400 invalid_address PATCH "/api/v1/nodes/$a" \
		-H 'Content-Type: application/json' --data-binary '{"name":"changed"}'
done

# --- after all that ---
is "$(db_query 'PRAGMA integrity_check')" ok "the database passes integrity_check"
req GET /api/v1/health
json_is .database.state ok "health: the database is still ok"
is "$(metric meshfleet_db_errors_total)" 0 "no database error was counted"
stop_daemon_ok "api_bad_input daemon"
done_testing
