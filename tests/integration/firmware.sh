#!/usr/bin/env bash
# The firmware store over HTTP: MCUboot images checked against [firmware] trusted_keys with require_signature on
# (each refusal with its reason, nothing stored), idempotent imports, list/get/delete, HEX and raw images with
# require_signature off, the body limit and the content type; a bad key file stops start-up.
set -u
. "$(dirname "$0")/lib.sh"

data="$MF_SRCDIR/tests/data"
rsa_key="$data/mcuboot/root-rsa-2048.pub.pem"
img1="$data/mcuboot/ios-dm_nrf52840_smp_svr.1.0.0.signed.bin"
img1_sha=da9f7e051e606fcd257ccfa3c757d846d0fa620779a72aeeda1444c3da0c9363
img2="$data/mcuboot/ios-dm_nrf52840_smp_svr.2.0.0.signed.bin"
img2_sha=00659bb484b9ac3ca60cc23c5472e4a192ca9755187d007f2575e459ccbc92d6
hash_only="$data/mcuboot/smpclient_zephyr_4.4.0_smp_server_0eae053d_qemu_cortex_m0_serial.signed.bin"
other_key_img="$data/mcuboot/smpclient_tfm_s_signed.bin"

# conf NAME TEXT: writes TEXT (printf %b) to a file and prints its path.
conf() {
	local f="$MF_TMP/$1.conf"
	printf '%b' "$2" >"$f"
	printf '%s' "$f"
}

# upload FILE [QUERY] [CURL ARGS...]: POST /api/v1/firmware with FILE as the body.
upload() {
	local file=$1 query=${2:-}
	shift 2 2>/dev/null || shift
	req POST "/api/v1/firmware$query" -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$@"
}

stored_files() {
	find "$STATE/firmware" -mindepth 1 | wc -l
}

stored_rows() {
	db_query "SELECT count(*) FROM firmware"
}

# refused DESC STATUS CODE REASON: the last response is this refusal, and nothing more is stored.
refused() {
	expect_error "$2" "$3" "$1"
	like "$(json_value .error.message)" "^$4: " "$1: the message starts with the reason '$4'"
	is "$(stored_files) $(stored_rows)" "$files_before $rows_before" "$1: nothing stored (files, rows)"
}

# --- a bad key file is a start-up error that names it ---
bad=$(conf bad-key "[firmware]\ntrusted_keys = $rsa_key, $MF_TMP/missing.pem\n")
run_meshfleetd --config "$bad" --state-dir "$MF_TMP/state-never" --listen 127.0.0.1:0
is "$RC" 1 "a missing trusted key file: exit status 1"
like "$ERR" "<3>meshfleetd: \[firmware\] trusted_keys: [^
]*$(re_quote "$MF_TMP/missing.pem")" "the error names the missing file"
notkey=$(conf not-a-key "[firmware]\ntrusted_keys = $img1\n")
run_meshfleetd --config "$notkey" --state-dir "$MF_TMP/state-never" --listen 127.0.0.1:0
is "$RC" 1 "a file that is not a key: exit status 1"
like "$ERR" "$(re_quote "$img1")" "the error names that file"

# --- require_signature = true (the default) with the RSA-2048 sample key ---
strict=$(conf strict "[firmware]\ntrusted_keys = $rsa_key\nrequire_signature = true\n")
start_daemon --config "$strict" || bail "meshfleetd did not start with $strict"

upload "$img1"
is "$STATUS" 201 "a signed image with the trusted key: 201"
json_is .id "$img1_sha" "the id is the file's SHA-256"
json_is .kind mcuboot "kind mcuboot"
json_is .size 181972 "size"
json_is .version "1.0.0+0" "version from the MCUboot header"
json_is .firmware_id 59000100000000000000 "FWID: company 0x0059 (LE) + 1.0.0+0"
json_is .signed true "signed"
json_is .signature_key "$rsa_key" "the verifying key"
json_is .imported_by admin "imported_by: the name of the token that imported it (the first admin token)"
is "$(header Location)" "/api/v1/firmware/$img1_sha" "Location of the new image"
cmp -s "$img1" "$STATE/firmware/$img1_sha"
ok $? "the file is stored as STATE_DIR/firmware/<sha256>, byte for byte"

upload "$img1"
is "$STATUS" 200 "the same bytes again: 200"
json_is .id "$img1_sha" "the same id"
is "$(stored_rows)" 1 "still one row"

files_before=$(stored_files)
rows_before=$(stored_rows)
upload "$hash_only"
refused "a hash-only image" 422 untrusted_image no_signature
upload "$other_key_img"
refused "an image signed with another key" 422 untrusted_image key_not_trusted
cp "$img2" "$MF_TMP/flipped.bin"
printf '\x55' | dd of="$MF_TMP/flipped.bin" bs=1 seek=4096 conv=notrunc status=none
upload "$MF_TMP/flipped.bin"
refused "an image with a changed byte" 422 invalid_image hash_mismatch
head -c 2000 "$img2" >"$MF_TMP/truncated.bin"
upload "$MF_TMP/truncated.bin"
refused "a truncated image" 422 invalid_image truncated
printf 'not firmware' >"$MF_TMP/text.bin"
upload "$MF_TMP/text.bin"
refused "no MCUboot magic and no format" 422 unsupported_image unknown_format
upload "$data/nrf5-sdk-mesh/blinky_nrf52832_xxAA_s132_7.2.0.hex" '?format=hex&region_start=0x26000&version=1.0.0'
refused "a HEX image while signatures are required" 422 untrusted_image no_signature
upload "$img2" '?version=2.0.0'
refused "a version for an MCUboot image" 400 invalid_parameter version_given

# nRF Connect SDK packages: the application image is stored, with the package's firmware ID
upload "$data/ncs/dfu_blinky_3.0.0.zip"
expect_error 422 invalid_package "a package that contradicts itself"
like "$(json_value .error.message)" 'version 3.0.0\+0 but its MCUboot header says 2.0.0\+0' \
	"a package that contradicts itself: both versions named"
is "$(stored_files) $(stored_rows)" "$files_before $rows_before" "a package that contradicts itself: nothing stored"
printf 'PK\003\004 not really a zip' >"$MF_TMP/broken.zip"
upload "$MF_TMP/broken.zip"
expect_error 422 invalid_package "a broken zip"
upload "$img2" '?format=zip'
expect_error 422 invalid_package "format=zip with an image that is no zip"
upload "$data/ncs/mesh_light_1.0.0_thingy53_nrf5340.zip"
is "$STATUS" 201 "the mesh_light 1.0.0 package, signed with the trusted key: 201"
json_is .kind mcuboot "... its application image is stored"
json_is .version "1.0.0+0" "... version 1.0.0+0"
json_is .firmware_id 59000100000000000000 "... the package's firmware ID"
json_is .signature_key "$rsa_key" "... verified with the trusted key"
# the SHA-256 of app_update.bin in that zip (tests/data/ncs/README.md)
json_is .id 50345943485b56164aa930120f58da4db3a9e2cc910f19899c0dcf5b48d478ae "... its id is app_update.bin's SHA-256"
pkg_id=$(json_value .id)
is "$(sha256sum "$STATE/firmware/$pkg_id" | cut -d' ' -f1)" "$pkg_id" "... and the stored file has that hash"
req DELETE "/api/v1/firmware/$pkg_id"
is "$STATUS" 204 "... and deleted again"

upload "$img2" '?format=tar'
expect_error 400 invalid_parameter "format=tar"
upload "$img2" '?company_id=70000'
expect_error 400 invalid_parameter "company_id over 0xFFFF"
upload "$img2" '?firmware_id=59'
expect_error 400 invalid_parameter "a 1-byte firmware_id"
upload "$img2" '?firmware_id=5900&company_id=1'
expect_error 400 invalid_parameter "firmware_id and company_id together"
upload "$img2" '?bogus=1'
expect_error 400 unknown_parameter "an unknown parameter"
req POST /api/v1/firmware -H 'Content-Type: application/json' --data-binary "@$img2"
expect_error 415 unsupported_media_type "Content-Type application/json"
head -c $((8 * 1024 * 1024 + 1)) /dev/zero >"$MF_TMP/big.bin"
upload "$MF_TMP/big.bin"
expect_error 413 payload_too_large "a body over 8 MiB"
is "$(stored_files) $(stored_rows)" "$files_before $rows_before" "no rejected request stored anything"

upload "$img2" '?company_id=0x1234&metadata=0a0b0c'
is "$STATUS" 201 "a second image with company_id and metadata: 201"
json_is .firmware_id 34120200000000000000 "FWID with company 0x1234"
json_is .metadata 0a0b0c "metadata as given"

# --- list, get, delete ---
req GET /api/v1/firmware
is "$STATUS" 200 "list: 200"
json_is '[.firmware[].id]' "[\"$img1_sha\",\"$img2_sha\"]" "list: both, in import order"
json_is .next_cursor null "list: no next page"
req GET '/api/v1/firmware?limit=1'
json_is '.firmware | length' 1 "limit=1: one"
cursor=$(json_value .next_cursor)
isnt "$cursor" null "limit=1: a next cursor"
req GET "/api/v1/firmware?limit=1&cursor=$cursor"
json_is '[.firmware[].id]' "[\"$img2_sha\"]" "the next page holds the second"
json_is .next_cursor null "and is the last"
req GET '/api/v1/firmware?cursor=nonsense'
expect_error 400 invalid_parameter "a bad cursor"
req GET '/api/v1/firmware?limit=0'
expect_error 400 invalid_parameter "limit=0"

req GET "/api/v1/firmware/$img1_sha"
is "$STATUS" 200 "get: 200"
json_is .version "1.0.0+0" "get: the record"
req GET "/api/v1/firmware/${img1_sha^^}"
json_is .id "$img1_sha" "get: an id in upper case is the same id"
req GET /api/v1/firmware/0000000000000000000000000000000000000000000000000000000000000000
expect_error 404 not_found "get: an unknown id"
req GET /api/v1/firmware/abc
expect_error 400 invalid_parameter "get: not an id"

req DELETE "/api/v1/firmware/$img1_sha"
is "$STATUS" 204 "delete: 204"
[ -e "$STATE/firmware/$img1_sha" ]
is $? 1 "delete: the file is gone"
is "$(db_query "SELECT count(*) FROM firmware WHERE id = '$img1_sha'")" 0 "delete: the row is gone"
req DELETE "/api/v1/firmware/$img1_sha"
expect_error 404 not_found "delete again"
req GET "/api/v1/firmware/$img2_sha"
is "$STATUS" 200 "the other image stays"
stop_daemon_ok "require_signature = true"

# --- require_signature = false: HEX, raw, unsigned MCUboot ---
lax=$(conf lax "[firmware]\nrequire_signature = off\n")
start_daemon --config "$lax" || bail "meshfleetd did not start with $lax"
upload "$data/nrf5-sdk-mesh/blinky_nrf52832_xxAA_s132_7.2.0.hex" '?format=hex&region_start=0x26000&version=1.2.3%2B4'
is "$STATUS" 201 "HEX at its region start 0x26000: 201"
json_is .kind hex "kind hex"
json_is .size 2416 "stored as the 2416-byte binary image"
json_is .firmware_id 59000102030004000000 "FWID from the given version"
json_is .signed false "unsigned"
hex_id=$(json_value .id)
is "$(sha256sum <"$STATE/firmware/$hex_id" | cut -d' ' -f1)" "$hex_id" "the stored binary hashes to its id"
files_before=$(stored_files)
rows_before=$(stored_rows)
upload "$data/nrf5-sdk-mesh/blinky_nrf52840_xxAA_s140_7.2.0.hex" '?format=hex&region_start=0x27000&version=1.0.0'
refused "the HEX linked at 0x0 against 0x27000" 422 wrong_region wrong_region
like "$(json_value .error.message)" '0x00000000.*0x00027000' "the message names both addresses"
upload "$data/nrf5-sdk-mesh/blinky_nrf52832_xxAA_s132_7.2.0.hex" '?format=hex&version=1.0.0'
refused "HEX without region_start" 400 invalid_parameter region_start_required
printf ':0400000001020304F0\n' >"$MF_TMP/bad.hex"
upload "$MF_TMP/bad.hex" '?format=hex&region_start=0&version=1'
refused "a HEX file with a bad checksum" 422 invalid_hex invalid_hex
upload "$MF_TMP/text.bin" '?format=raw'
refused "raw without version" 400 invalid_parameter version_required
upload "$MF_TMP/text.bin" '?format=raw&version=3&firmware_id=e502aabbcc'
is "$STATUS" 201 "raw with a version and an explicit FWID: 201"
json_is .kind raw "kind raw"
json_is .firmware_id e502aabbcc "the FWID as given"
upload "$hash_only"
is "$STATUS" 201 "a hash-only MCUboot image is accepted without require_signature"
json_is .signed false "and recorded as unsigned"
json_is .signature_key null "with no key"
stop_daemon_ok "require_signature = false"

done_testing
