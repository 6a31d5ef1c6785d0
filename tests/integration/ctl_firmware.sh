#!/usr/bin/env bash
# meshfleetctl firmware import|list|show|delete against a daemon with trusted keys: every kind of image (MCUboot,
# Intel HEX with --region-start, raw with --version, dfu_application.zip), the same file twice, refusals with the
# daemon's reason, a list over several pages, show, delete, and bad inputs (files, option values, ids, tokens).
. "$(dirname "$0")/lib.sh"

MESHFLEETCTL="$MF_BUILDDIR/daemon/meshfleetctl"
[ -x "$MESHFLEETCTL" ] || bail "MESHFLEETCTL='$MESHFLEETCTL' is not an executable: build it first (make daemon/meshfleetctl)"
data="$MF_SRCDIR/tests/data"
rsa_key="$data/mcuboot/root-rsa-2048.pub.pem"
ec_key="$data/mcuboot/root-ec-p256.pub.pem"
ed_key="$data/mcuboot/root-ed25519.pub.pem"
img1="$data/mcuboot/ios-dm_nrf52840_smp_svr.1.0.0.signed.bin"
img1_sha=da9f7e051e606fcd257ccfa3c757d846d0fa620779a72aeeda1444c3da0c9363
hex="$data/nrf5-sdk-mesh/blinky_nrf52832_xxAA_s132_7.2.0.hex"           # 0x26000, 2416 bytes
hex_at_0="$data/nrf5-sdk-mesh/blinky_nrf52840_xxAA_s140_7.2.0.hex"      # linked at 0x0
light_zip="$data/ncs/mesh_light_1.0.0_thingy53_nrf5340.zip"             # no ble_mesh_metadata.json
light_sha=50345943485b56164aa930120f58da4db3a9e2cc910f19899c0dcf5b48d478ae
distr_zip="$data/ncs/dfu_distr_nrf54L_1.0.1.zip"                        # with ble_mesh_metadata.json
blinky_zip="$data/ncs/dfu_blinky_3.0.0.zip"                             # contradicts itself: refused
other_key_img="$data/mcuboot/smpclient_tfm_s_signed.bin"                # signed with root-ec-p256
ID_RE='[0-9a-f]{64}'

unset MESHFLEET_TOKEN MESHFLEET_URL

# ctl ARG...: runs meshfleetctl (bounded against a hang) on the running daemon, sets RC OUT ERR.
ctl() {
	local err_file="$MF_TMP/ctl.err"
	OUT=$(timeout 60 "$MESHFLEETCTL" --url "$BASE" "$@" 2>"$err_file")
	RC=$?
	ERR=$(cat "$err_file")
}

# ctl_ok DESC ARG...: a run that must succeed without a sanitizer report.
ctl_ok() {
	local desc=$1
	shift
	ctl "$@"
	is "$RC" 0 "$desc: exit 0"
	[ "$RC" = 0 ] || diag "stderr: $ERR"
	unlike "$ERR" 'Sanitizer|runtime error' "$desc: no sanitizer report on stderr"
}

# ctl_fails DESC STATUS ERE ARG...: a run that ends with STATUS and an error on stderr matching ERE.
ctl_fails() {
	local desc=$1 status=$2 re=$3
	shift 3
	ctl "$@"
	is "$RC" "$status" "$desc: exit $status"
	like "$ERR" "$re" "$desc: says why"
	unlike "$ERR" 'Sanitizer|runtime error' "$desc: no sanitizer report on stderr"
}

rows() {
	db_query "SELECT count(*) FROM firmware"
}

conf() {
	local f="$MF_TMP/$1.conf"
	printf '%b' "$2" >"$f"
	printf '%s' "$f"
}

# --- a daemon that trusts the three sample keys and also takes unsigned images (HEX, raw) ---
lax=$(conf lax "[firmware]\ntrusted_keys = $rsa_key, $ec_key, $ed_key\nrequire_signature = off\n")
start_daemon --config "$lax" || bail "meshfleetd did not start with $lax"
unset MESHFLEET_TOKEN
export MESHFLEET_TOKEN=$ADMIN_TOKEN

# MCUboot image
ctl_ok "import an MCUboot image" firmware import "$img1"
like "$OUT" "^'$(re_quote "$img1")': imported"$'\n'"id +$img1_sha"$'\n' "MCUboot: says imported, then the id"
like "$OUT" $'\n''kind +mcuboot'$'\n''version +1\.0\.0\+0'$'\n''size +181972 bytes'$'\n''firmware ID +59000100000000000000'$'\n' \
	"MCUboot: kind, version, size, FWID"
like "$OUT" $'\n'"signed +yes, verified with the trusted key '$(re_quote "$rsa_key")'" "MCUboot: names the key that verified it"
like "$OUT" $'\n''metadata +none ' "MCUboot: no metadata"
like "$OUT" $'\n'"imported +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z by 'admin'" "MCUboot: when and by which token"
req GET "/api/v1/firmware/$img1_sha"
is "$STATUS" 200 "MCUboot: stored in the daemon"
cmp -s "$img1" "$STATE/firmware/$img1_sha"
ok $? "MCUboot: the stored file is the file, byte for byte"

# the same file twice
ctl_ok "import the same file again" firmware import "$img1"
like "$OUT" "^'$(re_quote "$img1")': already stored \(" "the same file: says already stored"
like "$OUT" "id +$img1_sha" "the same file: the stored record"
ctl_ok "import the same file again, --json" firmware import "$img1" --json
BODY=$OUT
json_is .created false "--json: created false for stored bytes"
json_is .id "$img1_sha" "--json: the API's record"
is "$(rows)" 1 "the same file twice: one row"

# Intel HEX: recognised by its name and first byte; --region-start and --version go with it
ctl_ok "import a HEX file" firmware import "$hex" --region-start 0x26000 --version 1.2.3+4
like "$OUT" $'\n''kind +hex'$'\n''version +1\.2\.3\+4'$'\n''size +2416 bytes'$'\n''firmware ID +59000102030004000000' \
	"HEX: the binary image with the given version ('+' reached the daemon)"
like "$OUT" $'\n''signed +no' "HEX: unsigned"
hex_id=$(grep -Eo "$ID_RE" <<<"$OUT" | head -n 1)
ctl_fails "a HEX file linked at 0x0 against 0x27000" 1 \
	"^meshfleetctl: '$(re_quote "$hex_at_0")': refused: wrong_region: .*0x00000000.*0x00027000.* \(wrong_region, HTTP 422\)$" \
	firmware import "$hex_at_0" --format hex --region-start 0x27000 --version 1.0.0
ctl_fails "a HEX file without --region-start" 1 "refused: region_start_required: .*\(invalid_parameter, HTTP 400\)" \
	firmware import "$hex" --version 1.0.0

# raw: --version, and --version before FILE works too
printf 'raw image bytes\n' >"$MF_TMP/app.bin"
ctl_ok "import a raw image" firmware import --version 3.0.0+1 "$MF_TMP/app.bin" --format raw --firmware-id E502AABBCC
like "$OUT" $'\n''kind +raw'$'\n''version +3\.0\.0\+1'$'\n''size +16 bytes'$'\n''firmware ID +e502aabbcc' \
	"raw: kind, the given version, size, the given FWID"
ctl_fails "raw without --version" 1 "refused: version_required: .*\(invalid_parameter, HTTP 400\)" \
	firmware import "$MF_TMP/app.bin" --format raw

# dfu_application.zip: metadata derived from the options, or from the package's ble_mesh_metadata.json
ctl_ok "import a dfu_application.zip" firmware import "$light_zip" --composition-hash 0x7E567089 --elements 3
like "$OUT" "^'$(re_quote "$light_zip")': imported"$'\n'"id +$light_sha" "zip: the application image's id"
like "$OUT" $'\n''metadata +01000000000000002c9603018970567e0300'$'\n'' +version 1\.0\.0\+0, 235052 bytes, core application, composition hash 0x7E567089, 3 elements' \
	"zip: the derived metadata, decoded"
ctl_ok "import a zip with ble_mesh_metadata.json, --json" firmware import "$distr_zip" --json
BODY=$OUT
json_is .created true "--json: created true for new bytes"
json_is .firmware_id 590001000100d2040000 "zip --json: the package's firmware ID"
json_is .metadata_fields.composition_hash 0xBC0E8B45 "zip --json: the package's metadata, decoded"
json_is .signature_key "$ed_key" "zip --json: verified with the Ed25519 key"
distr_id=$(json_value .id)

# refusals: the daemon's reason and message, nothing stored
rows_before=$(rows)
ctl_fails "a package that contradicts itself" 1 \
	"^meshfleetctl: '$(re_quote "$blinky_zip")': refused: .*3\.0\.0\+0.*2\.0\.0\+0.* \(invalid_package, HTTP 422\)$" \
	firmware import "$blinky_zip"
cp "$img1" "$MF_TMP/flipped.bin"
printf '\x55' | dd of="$MF_TMP/flipped.bin" bs=1 seek=1000 conv=notrunc status=none
ctl_fails "an MCUboot image with a changed byte" 1 "refused: hash_mismatch: .*\(invalid_image, HTTP 422\)" \
	firmware import "$MF_TMP/flipped.bin"
: >"$MF_TMP/empty.bin"
ctl_fails "an empty file" 1 "refused: empty: .*\(unsupported_image, HTTP 422\)" firmware import "$MF_TMP/empty.bin"
ctl_fails "composition_from a node the daemon does not know" 1 \
	"refused: composition_from=0x0100: no node 0x0100 \(invalid_parameter, HTTP 400\)" \
	firmware import "$img1" --composition-from 0x0100
is "$(rows)" "$rows_before" "refusals store nothing"

# --- bad inputs refused before anything is sent ---
ctl_fails "a missing file" 1 "^meshfleetctl: cannot open '$(re_quote "$MF_TMP/nope.bin")': No such file or directory$" \
	firmware import "$MF_TMP/nope.bin"
ctl_fails "a directory" 1 "'$(re_quote "$MF_TMP")' is a directory, not a firmware file" firmware import "$MF_TMP"
truncate -s $((8 * 1024 * 1024 + 1)) "$MF_TMP/huge.bin"
ctl_fails "a file over 8 MiB" 1 "'$(re_quote "$MF_TMP/huge.bin")' is 8388609 bytes, over the daemon's limit of 8388608 bytes" \
	firmware import "$MF_TMP/huge.bin" --format raw --version 1
printf 'secret image\n' >"$MF_TMP/closed.bin"
chmod 600 "$MF_TMP/closed.bin"
as_user=()
[ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1 && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
if [ "$(id -u)" != 0 ]; then
	chmod 000 "$MF_TMP/closed.bin"
	ctl_fails "an unreadable file" 1 "cannot open '$(re_quote "$MF_TMP/closed.bin")': Permission denied" \
		firmware import "$MF_TMP/closed.bin" --format raw --version 1
elif [ ${#as_user[@]} = 0 ]; then
	skip "an unreadable file" "root reads every file, and setpriv (util-linux) is missing to run as nobody"
elif ! "${as_user[@]}" test -x "$MESHFLEETCTL"; then
	skip "an unreadable file" "user nobody cannot run $MESHFLEETCTL (a closed build directory)"
else
	chmod 711 "$MF_TMP"
	OUT=$(timeout 60 "${as_user[@]}" "$MESHFLEETCTL" --url "$BASE" firmware import "$MF_TMP/closed.bin" \
		--format raw --version 1 2>"$MF_TMP/ctl-nobody.err")
	RC=$?
	is "$RC" 1 "an unreadable file (as user nobody): exit 1"
	like "$(cat "$MF_TMP/ctl-nobody.err")" "cannot open '$(re_quote "$MF_TMP/closed.bin")': Permission denied" \
		"an unreadable file: says why"
	chmod 700 "$MF_TMP"
fi

# option values: each a usage error (exit 2), with the option and what it takes
audit_posts() {
	db_query "SELECT count(*) FROM audit WHERE method = 'POST'"
}
posts_before=$(audit_posts)
bad_option() {
	local desc=$1 re=$2
	shift 2
	ctl firmware import "$img1" "$@"
	is "$RC" 2 "$desc: exit 2"
	like "$ERR" "$re" "$desc: names the option and what it takes"
}
bad_option "--format elf" "--format 'elf': expected mcuboot, hex, raw or zip" --format elf
bad_option "--version 1.2.3.4" "--version '1\.2\.3\.4': expected MAJOR\.MINOR\.REVISION\+BUILD" --version 1.2.3.4
bad_option "--version 256" "--version '256': expected" --version 256
bad_option "--region-start 0x1g" "--region-start '0x1g': expected an address" --region-start 0x1g
bad_option "--region-start beyond 32 bits" "--region-start '0x100000000'" --region-start 0x100000000
bad_option "--company-id 0x10000" "--company-id '0x10000': expected 0 \.\. 0xFFFF" --company-id 0x10000
bad_option "--firmware-id with an odd digit count" "--firmware-id 'abc': expected 2 to 108 bytes in hex" --firmware-id abc
bad_option "--firmware-id of one byte" "--firmware-id '59': expected 2 to 108 bytes" --firmware-id 59
bad_option "--firmware-id not hex" "--firmware-id 'zz00'" --firmware-id zz00
bad_option "--metadata empty" "--metadata '': expected 1 to 255 bytes in hex" --metadata ''
bad_option "--metadata over 255 bytes" "--metadata '0{512}': expected 1 to 255 bytes" --metadata "$(printf '0%.0s' {1..512})"
bad_option "--core-type bogus" "--core-type 'bogus': expected application, network, application_blob or a number 0 \.\. 7" \
	--core-type bogus --composition-hash 1 --elements 1
bad_option "--composition-hash xyz" "--composition-hash 'xyz': expected up to 8 hex digits" --composition-hash xyz --elements 1
bad_option "--elements 0" "--elements '0': expected 1 \.\. 255" --composition-hash 1 --elements 0
bad_option "--elements 256" "--elements '256': expected 1 \.\. 255" --composition-hash 1 --elements 256
bad_option "--composition-from 0x8000" "--composition-from '0x8000': expected a node's unicast address" --composition-from 0x8000
bad_option "--company-id with --firmware-id" "give --company-id or --firmware-id, not both" --company-id 89 --firmware-id 5900
bad_option "--metadata with --composition-hash" "give --metadata .* or the options to derive it from" \
	--metadata 00 --composition-hash 1 --elements 1
bad_option "--composition-hash without --elements" "derived from --composition-hash and --elements together" --composition-hash 1
bad_option "--elements without --composition-hash" "derived from --composition-hash and --elements together" --elements 2
bad_option "--core-type alone" "--core-type needs --composition-hash and --elements, or --composition-from" --core-type network
bad_option "--composition-hash with --composition-from" "give --composition-hash or --composition-from, not both" \
	--composition-hash 1 --composition-from 0x100
bad_option "--composition-from with --elements" "--composition-from gives the element count: leave out --elements" \
	--composition-from 0x100 --elements 2
is "$(rows)" "$rows_before" "bad option values store nothing"
is "$(audit_posts)" "$posts_before" "bad option values send no request (the audit log has no new POST)"

ctl firmware import "$img1" --version
is "$RC" 2 "--version without a value after firmware import: exit 2"
like "$ERR" "--version needs a value" "--version without a value: says so"
ctl --version
is "$RC" 0 "meshfleetctl --version (no command): exit 0"
like "$OUT" '^meshfleetctl [0-9]+\.[0-9]+\.[0-9]+$' "meshfleetctl --version (no command): still prints its own version"

# words
ctl --help
like "$OUT" $'\n''  firmware import FILE .*  firmware list .*  firmware show ID .*  firmware delete ID' \
	"--help: names the firmware commands"
ctl firmware import
is "$RC" 2 "firmware import without FILE: exit 2"
like "$ERR" "no FILE given" "without FILE: says so"
ctl firmware import "$img1" "$hex"
is "$RC" 2 "two files: exit 2"
like "$ERR" "one FILE at a time" "two files: says so"
ctl firmware frobnicate
is "$RC" 2 "an unknown subcommand: exit 2"
like "$ERR" "usage: firmware import FILE" "an unknown subcommand: the usage"
ctl firmware
is "$RC" 2 "no subcommand: exit 2"

# --- list across pages (the daemon's page is 100 images) ---
for i in $(seq 1 101); do
	printf 'page test image %d\n' "$i" >"$MF_TMP/page.bin"
	req POST "/api/v1/firmware?format=raw&version=9.9.$i" -H 'Content-Type: application/octet-stream' \
		--data-binary "@$MF_TMP/page.bin"
	[ "$STATUS" = 201 ] || { fail "import page test image $i" "got $STATUS: $BODY"; break; }
done
total=$(rows)
req GET "/api/v1/firmware"
isnt "$(json_value .next_cursor)" null "the store holds more than one page ($total images)"
ctl_ok "firmware list" firmware list
is "$(grep -Ec "^$ID_RE " <<<"$OUT")" "$total" "list: one line per stored image, from every page"
like "$OUT" '^ID +KIND +VERSION +SIZE +IMPORTED +SIGNED +FIRMWARE ID'$'\n' "list: a header for people"
like "$OUT" $'\n'"$img1_sha +mcuboot +1\.0\.0\+0 +181972 +[0-9T:Z-]+ +yes +59000100000000000000"$'\n' "list: the MCUboot image's line"
like "$OUT" $'\n'"$total images$" "list: the count last"
ctl_ok "firmware list --json" firmware list --json
BODY=$OUT
json_is '.firmware | length' "$total" "list --json: every image"
json_is '[.firmware[].id] | unique | length' "$total" "list --json: no image twice"
json_is '.firmware[0].id' "$img1_sha" "list --json: in import order, the API's objects"

# --- show ---
ctl_ok "firmware show" firmware show "$light_sha"
like "$OUT" "^id +$light_sha"$'\n''kind +mcuboot' "show: the record for people"
like "$OUT" 'composition hash 0x7E567089, 3 elements' "show: the metadata decoded"
ctl_ok "firmware show, id in upper case" firmware show "${light_sha^^}"
like "$OUT" "^id +$light_sha" "show: an id in upper case is the same id"
ctl_ok "firmware show --json" firmware show "$distr_id" --json
req GET "/api/v1/firmware/$distr_id"
is "$(jq -S . <<<"$OUT")" "$(jq -S . <<<"$BODY")" "show --json: the API's object"
ctl_fails "show an unknown id" 1 "^meshfleetctl: no firmware 0{64} \(HTTP 404\)$" firmware show "$(printf '0%.0s' {1..64})"
ctl_fails "show an id prefix" 2 "firmware show 'da9f7e05': expected the image's id, its SHA-256 in 64 hex digits" firmware show da9f7e05
ctl_fails "show an id that is not hex" 2 "expected the image's id" firmware show "$(printf 'g%.0s' {1..64})"

# --- delete ---
ctl_ok "firmware delete" firmware delete "$hex_id"
is "$OUT" "deleted firmware $hex_id" "delete: says what it deleted"
req GET "/api/v1/firmware/$hex_id"
is "$STATUS" 404 "delete: the image is gone"
[ ! -e "$STATE/firmware/$hex_id" ]
ok $? "delete: its file is gone"
ctl_fails "delete it again" 1 "no firmware $hex_id \(HTTP 404\)" firmware delete "$hex_id"
ctl_ok "firmware delete --json" firmware delete "$light_sha" --json
is "$OUT" "{\"id\":\"$light_sha\",\"deleted\":true}" "delete --json: one object"
ctl_fails "delete an id that is not one" 2 "firmware delete 'xyz': expected the image's id" firmware delete xyz

# --- tokens: none, a viewer's, a wrong one ---
empty_state=$(new_state_dir)
MESHFLEET_TOKEN='' ctl_fails "import without a token" 1 \
	"'$(re_quote "$img1")': not imported: the daemon wants a token: .*\(HTTP 401\); give one with --token" \
	--state-dir "$empty_state" firmware import "$img1"
MESHFLEET_TOKEN='' ctl_fails "list without a token" 1 "the daemon wants a token: .*\(HTTP 401\)" \
	--state-dir "$empty_state" firmware list
post_json /api/v1/tokens '{"name":"watcher","role":"viewer"}'
is "$STATUS" 201 "a viewer token for the next checks"
viewer=$(json_value .token)
rows_before=$(rows)
MESHFLEET_TOKEN=$viewer ctl_fails "import with a viewer token" 1 \
	"not imported: the daemon refused the token from \\\$MESHFLEET_TOKEN: POST /api/v1/firmware needs the operator role; this token \('watcher'\) is a viewer.*\(HTTP 403\)" \
	firmware import "$MF_TMP/app.bin" --format raw --version 7
is "$(rows)" "$rows_before" "a viewer's import stores nothing"
MESHFLEET_TOKEN=$viewer ctl_ok "list with a viewer token" firmware list
MESHFLEET_TOKEN=$viewer ctl_ok "show with a viewer token" firmware show "$img1_sha"
MESHFLEET_TOKEN=$viewer ctl_fails "delete with a viewer token" 1 "DELETE /api/v1/firmware/\{id\} needs the operator role.*\(HTTP 403\)" \
	firmware delete "$img1_sha"
ctl_fails "import with a wrong token" 1 "the daemon refused the token from --token: the token is not valid.*\(HTTP 401\)" \
	--token "mft_$(printf '0%.0s' {1..64})" firmware import "$img1"
unlike "$ERR" "$viewer|$ADMIN_TOKEN" "the refusals never show a token"

# --- an 8 MiB image goes through, streamed: meshfleetctl's memory does not grow with the file ---
head -c $((8 * 1024 * 1024)) /dev/urandom >"$MF_TMP/big.bin"
ctl_ok "import an 8 MiB raw image" firmware import "$MF_TMP/big.bin" --format raw --version 1.0.0
like "$OUT" $'\n''size +8388608 bytes' "the 8 MiB image: stored whole"
if [ -x /usr/bin/time ]; then
	printf 'x' >"$MF_TMP/tiny.bin"
	/usr/bin/time -f '%M' -o "$MF_TMP/rss.small" "$MESHFLEETCTL" --url "$BASE" firmware import "$MF_TMP/tiny.bin" \
		--format raw --version 1 >/dev/null 2>&1
	/usr/bin/time -f '%M' -o "$MF_TMP/rss.big" "$MESHFLEETCTL" --url "$BASE" firmware import "$MF_TMP/big.bin" \
		--format raw --version 1 >/dev/null 2>&1
	small_kb=$(tail -n 1 "$MF_TMP/rss.small")
	big_kb=$(tail -n 1 "$MF_TMP/rss.big")
	# Loaded whole, the file alone would add 8192 KiB; streamed, the difference is libcurl's buffers.
	if [ -n "$small_kb" ] && [ -n "$big_kb" ] && [ $((big_kb - small_kb)) -lt 4096 ]; then
		pass "the 8 MiB import is streamed: peak memory ${big_kb} KiB against ${small_kb} KiB for 1 byte"
	else
		fail "the 8 MiB import is streamed" "peak memory: ${big_kb:-?} KiB for 8 MiB, ${small_kb:-?} KiB for 1 byte"
	fi
else
	skip "the 8 MiB import is streamed" "/usr/bin/time (package time) is missing to measure the peak memory"
fi

# --- no daemon there ---
stop_daemon_ok "the daemon with trusted keys, signatures not required"
ctl_fails "no daemon at the URL" 1 "'$(re_quote "$img1")': cannot connect to $(re_quote "$BASE"): is meshfleetd running\?" \
	firmware import "$img1"

# --- a strict daemon (the default require_signature = true) that trusts the RSA key only ---
strict=$(conf strict "[firmware]\ntrusted_keys = $rsa_key\n")
start_daemon --config "$strict" || bail "meshfleetd did not start with $strict"
export MESHFLEET_TOKEN=$ADMIN_TOKEN
ctl_ok "strict: an image signed by the trusted key" firmware import "$img1"
ctl_fails "strict: an image signed by another key" 1 \
	"^meshfleetctl: '$(re_quote "$other_key_img")': refused: key_not_trusted: .* \(untrusted_image, HTTP 422\)$" \
	firmware import "$other_key_img"
ctl_fails "strict: a raw image" 1 "refused: no_signature: .*\(untrusted_image, HTTP 422\)" \
	firmware import "$MF_TMP/app.bin" --format raw --version 1
is "$(rows)" 1 "strict: only the trusted image stored"
stop_daemon_ok "the strict daemon"

done_testing
