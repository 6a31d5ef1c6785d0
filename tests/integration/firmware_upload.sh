#!/usr/bin/env bash
# POST /api/v1/firmware, the rest of issue 5: multipart/form-data uploads (curl -F) with their parameters as form
# fields, and every bad form; the firmware metadata derived from core_type / composition_hash / elements, or from
# a node's recorded composition (composition_from, against the simulated dongle); "firmware" events on import and
# delete; and the import off the loop thread: /api/v1/health answers while an 8 MiB import is held in its worker,
# and a stop waits for that import.
set -u
. "$(dirname "$0")/lib.sh"

SIM=${MESHFLEET_SIM:-$MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim}
data="$MF_SRCDIR/tests/data"
rsa_key="$data/mcuboot/root-rsa-2048.pub.pem"
img1="$data/mcuboot/ios-dm_nrf52840_smp_svr.1.0.0.signed.bin"
img1_sha=da9f7e051e606fcd257ccfa3c757d846d0fa620779a72aeeda1444c3da0c9363
light="$data/ncs/mesh_light_1.0.0_thingy53_nrf5340.zip"
light_app_sha=50345943485b56164aa930120f58da4db3a9e2cc910f19899c0dcf5b48d478ae
hex="$data/nrf5-sdk-mesh/blinky_nrf52832_xxAA_s132_7.2.0.hex"
_bg=()

_cleanup_bg() {
	local pid
	for pid in "${_bg[@]}"; do
		kill "$pid" 2>/dev/null
	done
}
# lib.sh's _cleanup takes the script's exit status from $?: keep it across ours.
trap '_s=$?; _cleanup_bg; (exit $_s); _cleanup' EXIT

# form [QUERY] CURL ARGS...: POST /api/v1/firmware as multipart/form-data (curl -F ...).
form() {
	local query=
	if [[ ${1:-} == \?* ]]; then
		query=$1
		shift
	fi
	req POST "/api/v1/firmware$query" "$@"
}

# raw_form BOUNDARY FILE [QUERY]: POST FILE as a multipart/form-data body with this boundary, byte for byte.
raw_form() {
	req POST "/api/v1/firmware${3:-}" -H "Content-Type: multipart/form-data; boundary=$1" --data-binary "@$2"
}

stored_rows() {
	db_query "SELECT count(*) FROM firmware"
}

# form_refused DESC STATUS CODE REASON: the last response is this refusal, and nothing was stored.
form_refused() {
	expect_error "$2" "$3" "$1"
	like "$(json_value .error.message)" "^$4: " "$1: the message starts with '$4'"
	is "$(stored_rows)" "$rows_before" "$1: nothing stored"
}

# wait_in FILE ERE: bounded wait until FILE has a line matching ERE.
wait_in() {
	local i
	for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
		grep -Eq -- "$2" "$1" && return 0
		sleep 0.05
	done
	return 1
}

# --- meshfleetctl package inspect derives the metadata the same way, offline ---
MESHFLEETCTL="$MF_BUILDDIR/daemon/meshfleetctl"
out=$("$MESHFLEETCTL" package inspect --json --composition-hash 0x7E567089 --elements 1 --core-type application \
	"$light" 2>"$MF_TMP/ctl.err")
is "$?" 0 "meshfleetctl package inspect with --composition-hash, --elements, --core-type"
is "$(jq -r .metadata <<<"$out")" 01000000000000002c9603018970567e0100 "... the metadata the API derives (below)"
is "$(jq -r .metadata_fields.elements <<<"$out")" 1 "... shown decoded"
"$MESHFLEETCTL" package inspect --elements 1 "$light" >/dev/null 2>"$MF_TMP/ctl.err"
is "$?" 2 "--elements without --composition-hash: usage error"
"$MESHFLEETCTL" package inspect --composition-hash 1 --elements 1 --core-type bogus "$light" >/dev/null \
	2>"$MF_TMP/ctl.err"
is "$?" 2 "--core-type bogus: usage error"
like "$(cat "$MF_TMP/ctl.err")" "--core-type 'bogus'" "... naming the option"
out=$("$MESHFLEETCTL" package inspect "$data/ncs/dfu_distr_nrf54L_1.0.1.zip" 2>&1)
like "$out" "composition hash 0xBC0E8B45, 2 elements" "a package's own metadata is shown decoded"

fleet="$MF_TMP/fleet.json"
"$SIM" --generate 3 --seed 5 --export-cdb "$fleet" >"$MF_TMP/sim.out" 2>&1 ||
	bail "meshfleet-sim --generate: $(cat "$MF_TMP/sim.out")"
cfg="$MF_TMP/lax.conf"
printf '[firmware]\ntrusted_keys = %s\nrequire_signature = false\n' "$rsa_key" >"$cfg"
start_daemon --config "$cfg" --dongle "sim:$fleet" || bail "meshfleetd did not start"

# the event stream, from the start, read in the background
events="$MF_TMP/events"
curl -sS -N --max-time 300 -H "$(auth_header)" "$BASE/api/v1/events?types=firmware" >"$events" 2>"$events.err" &
_bg+=($!)
events_pid=$!
wait_in "$events" '^retry: ' || fail "the event stream starts" "$(cat "$events.err")"

# --- multipart/form-data ---
printf 'a raw image' >"$MF_TMP/raw.bin"
form -F "file=@$MF_TMP/raw.bin" -F format=raw -F version=1.2.3+4 -F company_id=0x1234
is "$STATUS" 201 "a form with a file part and text fields: 201"
json_is .kind raw "format from a form field"
json_is .version 1.2.3+4 "version from a form field"
json_is .firmware_id 34120102030004000000 "company_id from a form field"
json_is .size 11 "the file part's bytes"
raw_id=$(json_value .id)
is "$raw_id" "$(sha256sum <"$MF_TMP/raw.bin" | cut -d' ' -f1)" "the id is the file part's SHA-256"
cmp -s "$MF_TMP/raw.bin" "$STATE/firmware/$raw_id"
ok $? "the stored file is the file part, byte for byte"

form -F "file=@$img1;type=application/octet-stream"
is "$STATUS" 201 "an MCUboot image as a file part, no fields: 201"
json_is .id "$img1_sha" "its id"
json_is .signature_key "$rsa_key" "verified with the trusted key"

form '?format=raw&version=2.0' -F "file=@$MF_TMP/raw.bin;filename=other.bin" -F version=2.0 -F metadata=
is "$STATUS" 200 "a parameter given as query and form field with the same value; an empty field is absent"
json_is .id "$raw_id" "... the same bytes: the existing record"

printf 'another raw image' >"$MF_TMP/raw2.bin"
rows_before=$(stored_rows)
form '?version=1.0' -F "file=@$MF_TMP/raw2.bin" -F format=raw -F version=1.1
expect_error 400 invalid_parameter "query version=1.0, form version=1.1"
like "$(json_value .error.message)" "'version' is given as a query parameter \('1.0'\) and as a form field \('1.1'\)" \
	"the message names both values"

cp "$hex" "$MF_TMP/blinky.hex"
form -F "file=@$MF_TMP/blinky.hex" -F region_start=0x26000 -F version=1.0
is "$STATUS" 201 "a .hex file part without format: read as Intel HEX"
json_is .kind hex "kind hex"
cp "$hex" "$MF_TMP/blinky.bin"
form -F "file=@$MF_TMP/blinky.bin" -F region_start=0x26000 -F version=1.0
expect_error 422 unsupported_image "the same text named .bin: no format, the content alone decides"

# bad forms
rows_before=$(stored_rows)
req POST /api/v1/firmware -H 'Content-Type: multipart/form-data' --data-binary "@$MF_TMP/raw.bin"
form_refused "multipart/form-data without a boundary" 400 invalid_form no_boundary
form -F "file=@$MF_TMP/raw.bin" -F "file=@$MF_TMP/raw2.bin" -F format=raw -F version=1.0
form_refused "two file parts" 400 invalid_form two_files
form -F format=raw -F version=1.0
form_refused "no file part" 400 invalid_form no_file
form -F "file=@$MF_TMP/raw2.bin" -F format=raw -F version=1.0 -F colour=red
form_refused "an unknown field" 400 invalid_form unknown_field
form -F "image=@$MF_TMP/raw2.bin" -F format=raw -F version=1.0
form_refused "the file in a part not named file" 400 invalid_form unknown_field
form -F "file=@$MF_TMP/raw2.bin" -F format=raw -F version=1.0 -F format=hex
form_refused "a field given twice" 400 invalid_form repeated_field
form -F "file=@$MF_TMP/raw2.bin" -F format=raw -F version=1.0 -F "metadata=$(printf '%0514d' 0)"
form_refused "a field over 512 bytes" 400 invalid_form field_too_long
printf -- '--b0undary\r\nContent-Disposition: form-data; name="format"\r\n\r\nraw\r\n--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\nsome bytes' >"$MF_TMP/cut.body"
raw_form b0undary "$MF_TMP/cut.body" '?version=1.0'
form_refused "a body cut in the file part" 400 invalid_form malformed
printf -- '--b0undary\r\nContent-Disposition: form-data; name="format"\r\n\r\nraw\r\n--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\nsome bytes\r\n' >"$MF_TMP/nofinal.body"
raw_form b0undary "$MF_TMP/nofinal.body" '?version=1.0'
form_refused "a body without its closing boundary" 400 invalid_form malformed
printf -- '--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\nc29tZSBieXRlcw==\r\n--b0undary--\r\n' >"$MF_TMP/b64.body"
raw_form b0undary "$MF_TMP/b64.body" '?format=raw&version=1.0'
form_refused "a base64 part" 400 invalid_form transfer_encoding
printf -- '--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\nsome bytes\r\n--b0undary--\r\n' >"$MF_TMP/good.body"
raw_form b0undary "$MF_TMP/good.body" '?format=raw&version=1.0'
is "$STATUS" 201 "the same body, whole and without encoding: 201"
rows_before=$(stored_rows)
head -c $((8 * 1024 * 1024 + 1)) /dev/zero >"$MF_TMP/over.bin"
form -F "file=@$MF_TMP/over.bin" -F format=raw -F version=1.0
form_refused "a file part over 8 MiB" 413 payload_too_large file_too_large

# --- the metadata derived ---
form -F "file=@$light" -F core_type=application -F composition_hash=0x7E567089 -F elements=1
is "$STATUS" 201 "mesh_light (no ble_mesh_metadata.json) with core_type, composition_hash and elements"
json_is .id "$light_app_sha" "its application image"
json_is .metadata 01000000000000002c9603018970567e0100 "metadata: 1.0.0+0, 235052 bytes, application, hash, 1"
req GET "/api/v1/firmware/$light_app_sha"
json_is .metadata_fields.version 1.0.0+0 "GET shows it decoded: version"
json_is .metadata_fields.size 235052 "... size"
json_is .metadata_fields.core_type application "... core type"
json_is .metadata_fields.composition_hash 0x7E567089 "... composition hash"
json_is .metadata_fields.elements 1 "... elements"
req DELETE "/api/v1/firmware/$light_app_sha"
is "$STATUS" 204 "deleted again"

rows_before=$(stored_rows)
for q in 'core_type=bogus&composition_hash=1&elements=1' 'core_type=8&composition_hash=1&elements=1' \
	'composition_hash=1&elements=0' 'composition_hash=1&elements=256' 'composition_hash=xyz&elements=1' \
	'composition_hash=123456789&elements=1' 'composition_hash=1' 'core_type=network' 'elements=2' \
	'composition_hash=1&elements=1&metadata=0102' 'composition_from=2&composition_hash=1' \
	'composition_from=0' 'composition_from=0x8000' 'composition_from=abc' 'composition_from=0x7000'; do
	req POST "/api/v1/firmware?$q" -H 'Content-Type: application/octet-stream' --data-binary "@$light"
	expect_error 400 invalid_parameter "$q"
done
is "$(stored_rows)" "$rows_before" "bad metadata parameters: nothing stored"

# composition_from: a node's Composition Data page 0, as discovery recorded it
req POST /api/v1/network/import -H 'Content-Type: application/json' --data-binary "@$fleet"
is "$STATUS" 201 "the simulator's network imports"
addr=$(jq -r '.nodes[0].unicastAddress' "$fleet")
req POST "/api/v1/firmware?composition_from=0x$addr" -H 'Content-Type: application/octet-stream' --data-binary "@$light"
expect_error 400 invalid_parameter "composition_from a node never refreshed"
like "$(json_value .error.message)" "refresh it" "... the message says to refresh it"
wait_for_log 'mesh: dongle configured as' || fail "the dongle is configured with the network"
req POST /api/v1/nodes/refresh
is "$STATUS" 202 "a refresh starts"
for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
	req GET /api/v1/nodes/refresh
	[ "$(json_value .state)" = done ] && break
	sleep 0.05
done
json_is .state done "the refresh is done"
comp=$(db_query "SELECT hex(composition) FROM nodes WHERE address = $((16#$addr))")
elements=$(db_query "SELECT elements FROM nodes WHERE address = $((16#$addr))")
[ -n "$comp" ]
ok $? "node 0x$addr has its composition recorded"
# the hash computed here, independently: the low 4 bytes (LE) of AES-CMAC, zero key, over page 0
cmac=$(printf '%b' "$(sed 's/../\\x&/g' <<<"$comp")" | openssl mac -cipher AES-128-CBC -macopt hexkey:00000000000000000000000000000000 CMAC \
	2>/dev/null | tr '[:lower:]' '[:upper:]')
want_hash="0x${cmac:6:2}${cmac:4:2}${cmac:2:2}${cmac:0:2}"
form -F "file=@$light" -F "composition_from=0x$addr"
is "$STATUS" 201 "mesh_light with composition_from=0x$addr"
json_is .metadata_fields.composition_hash "$want_hash" "the node's composition hash (AES-CMAC of its page 0)"
json_is .metadata_fields.elements "$elements" "its element count"
json_is .metadata_fields.core_type application "core type application by default"

# --- events ---
wait_in "$events" "\"action\":\"imported\",\"id\":\"$light_app_sha\"" 
ok $? "an import is a firmware event"
req DELETE "/api/v1/firmware/$raw_id"
is "$STATUS" 204 "delete"
wait_in "$events" "\"action\":\"deleted\",\"id\":\"$raw_id\""
ok $? "a delete is a firmware event"
BODY=$(grep "\"action\":\"deleted\",\"id\":\"$raw_id\"" "$events" | sed 's/^data: //')
json_is .version 1.2.3+4 "... with its version"
json_is .firmware_id 34120102030004000000 "... its firmware ID"
json_is .size 11 "... its size"
json_is .imported_by admin "... and who imported it"
is "$(grep -c "\"action\":\"imported\",\"id\":\"$img1_sha\"" "$events")" 1 \
	"importing bytes already stored is no event"
is "$(grep -c '"action":"imported"' "$events")" "$(db_query "SELECT count(*) FROM events WHERE type = 'firmware' AND data LIKE '%\"imported\"%'")" \
	"the stream shows the stored import events"

# --- the import runs off the loop thread ---
# The store's file of the next image is made a named pipe: the worker that checks whether the bytes are stored
# already opens it and waits there until a writer comes and goes. Meanwhile /api/v1/health must answer.
head -c $((8 * 1024 * 1024)) /dev/urandom >"$MF_TMP/big.bin"
big_sha=$(sha256sum <"$MF_TMP/big.bin" | cut -d' ' -f1)
mkfifo "$STATE/firmware/$big_sha" "$MF_TMP/release"
# the holder: opens the pipe for writing (which waits for the worker to open it for reading), says so, and keeps
# it open until told to let go
( exec 3>"$STATE/firmware/$big_sha"; : >"$MF_TMP/worker-in"; read -r _ <"$MF_TMP/release"; exec 3>&- ) &
holder=$!
_bg+=("$holder")
curl -sS --max-time 300 -H "$(auth_header)" -o "$MF_TMP/big.out" -w '%{http_code}' \
	-H 'Content-Type: application/octet-stream' --data-binary "@$MF_TMP/big.bin" \
	"$BASE/api/v1/firmware?format=raw&version=9.0" >"$MF_TMP/big.status" 2>"$MF_TMP/big.err" &
upload=$!
_bg+=("$upload")
for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
	[ -e "$MF_TMP/worker-in" ] && break
	sleep 0.05
done
[ -e "$MF_TMP/worker-in" ]
ok $? "the 8 MiB import reached its worker (it opened the store's file)"
req_noauth GET /api/v1/health
is "$STATUS" 200 "/api/v1/health answers while the import is held in its worker"
_alive "$upload" && [ ! -s "$MF_TMP/big.status" ]
ok $? "... and the import has not answered yet: health came first"
echo go >"$MF_TMP/release"
wait "$holder"
wait_exit "$upload"
is "$(cat "$MF_TMP/big.status")" 201 "released, the 8 MiB import answers 201"
is "$(jq -r .id "$MF_TMP/big.out")" "$big_sha" "... with its id"
[ -f "$STATE/firmware/$big_sha" ] && [ ! -p "$STATE/firmware/$big_sha" ] &&
	cmp -s "$MF_TMP/big.bin" "$STATE/firmware/$big_sha"
ok $? "the pipe was replaced by the image's file (temporary file, rename)"
is "$(find "$STATE/firmware" -name '.tmp-*' | wc -l)" 0 "no temporary file left"

# a stop while an import is held in its worker waits for it
head -c $((1024 * 1024)) /dev/urandom >"$MF_TMP/late.bin"
late_sha=$(sha256sum <"$MF_TMP/late.bin" | cut -d' ' -f1)
rm -f "$MF_TMP/worker-in"
mkfifo "$STATE/firmware/$late_sha"
( exec 3>"$STATE/firmware/$late_sha"; : >"$MF_TMP/worker-in"; read -r _ <"$MF_TMP/release"; exec 3>&- ) &
holder=$!
_bg+=("$holder")
curl -sS --max-time 300 -H "$(auth_header)" -o /dev/null -H 'Content-Type: application/octet-stream' \
	--data-binary "@$MF_TMP/late.bin" "$BASE/api/v1/firmware?format=raw&version=9.1" >/dev/null 2>&1 &
_bg+=($!)
for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
	[ -e "$MF_TMP/worker-in" ] && break
	sleep 0.05
done
[ -e "$MF_TMP/worker-in" ]
ok $? "a second import reached its worker"
kill -TERM "$DAEMON_PID"
wait_for_log ': stopping'
ok $? "SIGTERM: the daemon is stopping"
_alive "$DAEMON_PID"
ok $? "... and still runs: the import is not done"
echo go >"$MF_TMP/release"
wait "$holder"
stop_daemon_ok "stopped during an import"
like "$(cat "$DAEMON_LOG")" "firmware $late_sha imported by 'admin'" "the held import finished before the exit"
is "$(db_query "SELECT count(*) FROM firmware WHERE id = '$late_sha'")" 1 "... and is recorded"
unlike "$(cat "$DAEMON_LOG")" "handles still open|imports under way" "the loop closed cleanly"
kill "$events_pid" 2>/dev/null

done_testing
