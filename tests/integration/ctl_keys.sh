#!/usr/bin/env bash
# meshfleetctl keys generate|show and package inspect, offline: file modes, the KEYHASHes and versions that
# ../shared/testdata/SOURCES.md gives for tests/data/mcuboot, the nRF5 SDK for Mesh HEX files against a region,
# refusals and usage errors.
. "$(dirname "$0")/lib.sh"

MESHFLEETCTL="$MF_BUILDDIR/daemon/meshfleetctl"
DATA="$MF_SRCDIR/tests/data"
command -v jq >/dev/null 2>&1 || bail "jq is not installed (apt-get install jq, or run ./quickstart)"
command -v openssl >/dev/null 2>&1 || bail "openssl is not installed (apt-get install openssl)"
[ -x "$MESHFLEETCTL" ] || bail "MESHFLEETCTL='$MESHFLEETCTL' is not an executable: build it first (make daemon/meshfleetctl)"

# ctl ARG...: runs meshfleetctl, bounded; sets RC OUT ERR.
ctl() {
	local err_file="$MF_TMP/ctl.err"
	OUT=$(timeout 30 "$MESHFLEETCTL" "$@" 2>"$err_file")
	RC=$?
	ERR=$(cat "$err_file")
}

clean_stderr() {
	unlike "$ERR" 'Sanitizer|runtime error|this is a bug' "$1: no sanitizer report or bug on stderr"
}

mode_of() { stat -c %a "$1"; }

# --- keys generate ---
for type in ecdsa-p256 ed25519; do
	key="$MF_TMP/$type.pem"
	OUT=$(umask 000; timeout 30 "$MESHFLEETCTL" keys generate --type "$type" "$key" 2>"$MF_TMP/ctl.err")
	RC=$?
	ERR=$(cat "$MF_TMP/ctl.err")
	is "$RC" 0 "generate $type: exit 0"
	is "$(mode_of "$key")" 600 "generate $type: mode 0600 even under umask 000"
	like "$(head -n 1 "$key")" '^-----BEGIN PRIVATE KEY-----$' "generate $type: PKCS#8 PEM"
	like "$OUT" "type        $type \\(private key\\)" "generate $type: prints the key's type"
	like "$ERR" "wrote '$(re_quote "$key")' \\($type private key, mode 0600\\)" "generate $type: says where it wrote"
	clean_stderr "generate $type"
	openssl pkey -in "$key" -noout 2>"$MF_TMP/openssl.err"
	ok $? "generate $type: openssl pkey accepts the file"
	expected_pub=$(openssl pkey -in "$key" -pubout 2>/dev/null)
	shown_pub=$(sed -n '/-----BEGIN PUBLIC KEY-----/,/-----END PUBLIC KEY-----/p' <<<"$OUT")
	is "$shown_pub" "$expected_pub" "generate $type: the printed public key is openssl's public part of the file"

	ctl keys show "$key"
	is "$RC" 0 "show generated $type: exit 0"
	is "$(sed -n '/-----BEGIN PUBLIC KEY-----/,/-----END PUBLIC KEY-----/p' <<<"$OUT")" "$expected_pub" \
		"show generated $type: same public PEM as openssl"

	ctl --json keys show "$key"
	BODY=$OUT
	json_is '.type' "$type" "show --json generated $type: type"
	json_is '.private' true "show --json generated $type: private"
	json_is '.public_key_pem' "$expected_pub" "show --json generated $type: public PEM"
	spki_sha256=$(openssl pkey -pubin -in <(printf '%s\n' "$expected_pub") -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)
	json_is '.keyhash.sha256' "$spki_sha256" "show --json generated $type: KEYHASH sha256 = SHA-256 of the SPKI DER"

	before=$(sha256sum <"$key")
	ctl keys generate --type "$type" "$key"
	is "$RC" 1 "generate $type over an existing file: exit 1"
	like "$ERR" 'exists: not overwriting a key file \(give --force' "generate $type over an existing file: says so"
	is "$(sha256sum <"$key")" "$before" "generate $type over an existing file: the file is unchanged"

	ctl keys generate --type "$type" --force "$key"
	is "$RC" 0 "generate $type --force: exit 0"
	isnt "$(sha256sum <"$key")" "$before" "generate $type --force: a new key replaced the old one"
	is "$(mode_of "$key")" 600 "generate $type --force: mode 0600"
	is "$(find "$MF_TMP" -name "$type.pem.tmp-*" | wc -l)" 0 "generate $type --force: no temporary file left"
done

ctl --json keys generate --type ed25519 "$MF_TMP/json.pem"
is "$RC" 0 "generate --json: exit 0"
BODY=$OUT
json_is '.raw_public_key | test("^[0-9a-f]{64}$")' true "generate --json: the raw Ed25519 public key"

# A key file behind a symlink is not followed: the link counts as an existing file.
ln -s "$MF_TMP/nowhere.pem" "$MF_TMP/link.pem"
ctl keys generate --type ecdsa-p256 "$MF_TMP/link.pem"
is "$RC" 1 "generate onto a dangling symlink: exit 1"
[ ! -e "$MF_TMP/nowhere.pem" ]
ok $? "generate onto a dangling symlink: nothing created through it"

# --- keys show: MCUboot's sample keys (SOURCES.md §1.1) ---
ctl keys show "$DATA/mcuboot/root-ec-p256.pub.pem"
is "$RC" 0 "show root-ec-p256: exit 0"
like "$OUT" 'type        ecdsa-p256 \(public key\)' "show root-ec-p256: type"
like "$OUT" 'KEYHASH     sha256 e30466f6b8470c1f29070b17f1e2d3e94d445e3f608087fdc711e4382bb538b6' \
	"show root-ec-p256: KEYHASH as in SOURCES.md"
like "$OUT" 'Qx          [0-9a-f]{64}'$'\n''Qy          [0-9a-f]{64}' "show root-ec-p256: Qx and Qy, 32 bytes each"
is "$(sed -n '/-----BEGIN/,/-----END/p' <<<"$OUT")" "$(cat "$DATA/mcuboot/root-ec-p256.pub.pem")" \
	"show root-ec-p256: the PEM as in the file"
# Qx||Qy are the uncompressed point after its 0x04 byte: the last 64 bytes of the SPKI DER, big-endian.
point=$(openssl pkey -pubin -in "$DATA/mcuboot/root-ec-p256.pub.pem" -outform DER | tail -c 64 | od -An -tx1 | tr -d ' \n')
ctl --json keys show "$DATA/mcuboot/root-ec-p256.pub.pem"
BODY=$OUT
json_is '.qx + .qy' "$point" "show --json root-ec-p256: Qx||Qy is the big-endian point of the SPKI"
json_is '.keyhash.sha256' e30466f6b8470c1f29070b17f1e2d3e94d445e3f608087fdc711e4382bb538b6 \
	"show --json root-ec-p256: KEYHASH"
json_is '.private' false "show --json root-ec-p256: a public key"

ctl --json keys show "$DATA/mcuboot/root-ed25519.pub.pem"
is "$RC" 0 "show root-ed25519: exit 0"
BODY=$OUT
json_is '.type' ed25519 "show --json root-ed25519: type"
json_is '.raw_public_key' d4b31ba49a3add3f825d10ca7f31b50b0de87f37ccc49f1a403a5c1320ffb4e0 \
	"show --json root-ed25519: raw public key as in SOURCES.md"
json_is '.keyhash.sha512' e3e129b49f1218e18e4614acb2523389c75852ebb98b4d2c6171a2fc65706ba3d1ddf85f52e71450c3e572e624695fafd41ce4d9354d6c2b19f7d6001a6ae8b0 \
	"show --json root-ed25519: SHA-512 KEYHASH as in SOURCES.md"
json_is '.keyhash.sha256' c1907fa4eac7fae3840a78902b6f0710b037e9968e5c6274a12a28790c7d4e3c \
	"show --json root-ed25519: SHA-256 KEYHASH as in SOURCES.md"

ctl --json keys show "$DATA/mcuboot/root-rsa-2048.pub.pem"
BODY=$OUT
json_is '.type + " " + .keyhash.sha256' "rsa-2048 fc5701dc6135e1323847bdc40f04d2e5bee5833b23c29f93593d00018cfa9994" \
	"show --json root-rsa-2048: KEYHASH of the PKCS#1 DER as in SOURCES.md"

ctl keys show "$DATA/nrf5-sdk-mesh/app_green_s132.hex"
is "$RC" 1 "show a file that is no key: exit 1"
like "$ERR" 'no PEM key in it' "show a file that is no key: says so"
ctl keys show "$MF_TMP/missing.pem"
is "$RC" 1 "show a missing file: exit 1"

# --- package inspect: the MCUboot images (SOURCES.md §1.2, §1.3, §3) ---
# file|key|version|wrong key
images="ios-dm_nrf52840_smp_svr.1.0.0.signed.bin|root-rsa-2048|1.0.0+0|root-rsa-3072
ios-dm_nrf52840_smp_svr.2.0.0.signed.bin|root-rsa-2048|2.0.0+0|root-ec-p256
ios-dm_nrf52840_smp_svr.3.0.0.signed.bin|root-rsa-2048|3.0.0+0|root-ec-p256
ios-dm_nrf52832_smp_svr.1.0.0.signed.bin|root-rsa-2048|1.0.0+0|root-ed25519
smpclient_hello_world.signed.bin|root-rsa-2048|0.0.0+0|root-ec-p384
smpclient_tfm_s_signed.bin|root-ec-p256|0.0.0+0|root-rsa-2048
ncs-mesh-dfu_target_nrf54L_1.0.signed.bin|root-ed25519|1.0.0+0|root-ec-p256"
while IFS='|' read -r file key version wrong; do
	ctl package inspect "$DATA/mcuboot/$file" --key "$DATA/mcuboot/$key.pub.pem"
	is "$RC" 0 "inspect $file with $key: exit 0"
	like "$OUT" "version        $(re_quote "$version")" "inspect $file: version $version"
	like "$OUT" "verified       yes, with '.*$key.pub.pem'" "inspect $file: verified with $key"
	clean_stderr "inspect $file"

	ctl package inspect --key "$DATA/mcuboot/$wrong.pub.pem" "$DATA/mcuboot/$file"
	is "$RC" 1 "inspect $file with $wrong: exit 1"
	like "$ERR" "refused: key_not_trusted: no trusted key matches the image's KEYHASH" \
		"inspect $file with $wrong: the reason on stderr"

	ctl package inspect "$DATA/mcuboot/$file"
	is "$RC" 0 "inspect $file without a key: exit 0 (structure and hash)"
	like "$OUT" 'verified       not checked \(no --key given\)' "inspect $file without a key: says the signature is unchecked"
done <<<"$images"

ctl --json package inspect "$DATA/mcuboot/smpclient_tfm_s_signed.bin" --key "$DATA/mcuboot/root-rsa-2048.pub.pem" \
	--key "$DATA/mcuboot/root-ec-p256.pub.pem"
is "$RC" 0 "inspect --json TF-M with two keys: exit 0"
BODY=$OUT
json_is '.format' mcuboot "inspect --json TF-M: format"
json_is '.valid' true "inspect --json TF-M: valid"
json_is '.verified' true "inspect --json TF-M: verified"
json_is '.key | endswith("root-ec-p256.pub.pem")' true "inspect --json TF-M: the matching key of the two"
json_is '.header_size' 1024 "inspect --json TF-M: header size"
json_is '.protected_tlv_size' 123 "inspect --json TF-M: protected TLVs"
json_is '.trailer_magic' true "inspect --json TF-M: trailer magic"
json_is '.hash.value' 26ad088c6dc8e4a2792ef6fbb16aeb524cf58396866f355c33bd7939182bc09d "inspect --json TF-M: image hash"
json_is '.hash.matches' true "inspect --json TF-M: hash matches"
json_is '.keyhash' e30466f6b8470c1f29070b17f1e2d3e94d445e3f608087fdc711e4382bb538b6 "inspect --json TF-M: KEYHASH"
json_is '.signature.type' ecdsa "inspect --json TF-M: signature type"

# A private key (what keys generate writes) is accepted as --key.
ctl package inspect --key "$MF_TMP/ecdsa-p256.pem" "$DATA/mcuboot/smpclient_tfm_s_signed.bin"
is "$RC" 1 "inspect with a generated private key: exit 1 (another key)"
like "$ERR" 'key_not_trusted' "inspect with a generated private key: the key was loaded, the image not signed with it"

unsigned="$DATA/mcuboot/smpclient_zephyr_f33aa2bc4a43_smp_server_27c54835_mps2_an385_serial_recovery.signed.bin"
ctl package inspect "$unsigned"
is "$RC" 0 "inspect hash-only image without a key: exit 0"
like "$OUT" 'flags          0x00000020 \(RAM_LOAD\)' "inspect hash-only image: RAM_LOAD flag"
like "$OUT" 'load address   0x20240000' "inspect hash-only image: load address"
ctl package inspect "$unsigned" --key "$DATA/mcuboot/root-ec-p256.pub.pem"
is "$RC" 1 "inspect hash-only image with a key: exit 1"
like "$ERR" 'refused: no_signature' "inspect hash-only image with a key: no_signature"

# One flipped bit in the body: the hash no longer matches.
bad="$MF_TMP/flipped.bin"
cp "$DATA/mcuboot/smpclient_hello_world.signed.bin" "$bad"
printf '\x55' | dd of="$bad" bs=1 seek=4096 conv=notrunc status=none
ctl package inspect "$bad" --key "$DATA/mcuboot/root-rsa-2048.pub.pem"
is "$RC" 1 "inspect a changed image: exit 1"
like "$ERR" 'refused: hash_mismatch' "inspect a changed image: hash_mismatch"
like "$OUT" 'image hash     sha256 [0-9a-f]{64} \(MISMATCH\)' "inspect a changed image: the hash line says so"

# --- package inspect: Intel HEX (SOURCES.md §4) ---
linked0="$DATA/nrf5-sdk-mesh/blinky_nrf52840_xxAA_s140_7.2.0.hex"
ctl package inspect "$linked0"
is "$RC" 0 "inspect HEX linked at 0x0 without a region: exit 0"
like "$OUT" 'range          0x00000000-0x000006F7, 1784 bytes' "inspect HEX linked at 0x0: range"
like "$OUT" 'start address  0x000002B5 \(start segment address 0000:02B5\)' "inspect HEX linked at 0x0: start address"
like "$OUT" 'initial SP 0x20040000' "inspect HEX linked at 0x0: vector hint"
ctl package inspect "$linked0" --region-start 0x27000
is "$RC" 1 "inspect HEX linked at 0x0 against 0x27000: exit 1"
like "$ERR" 'the image starts at 0x00000000 but the application region starts at 0x00027000' \
	"inspect HEX linked at 0x0 against 0x27000: the addresses on stderr"

gap="$DATA/nrf5-sdk-mesh/blinky_nrf52840_xxAA_s140_6.1.1.hex"
ctl package inspect --region-start 0x26000 "$gap"
is "$RC" 0 "inspect HEX with a gap at its region: exit 0"
like "$OUT" 'segments       2' "inspect HEX with a gap: two segments"
like "$OUT" 'after a gap of 2 bytes' "inspect HEX with a gap: the gap"
ctl --json package inspect --region-start 0x26000 "$gap"
BODY=$OUT
json_is '[.format, .valid, .base, .gap_bytes, (.segments | length), .region.ok, .start_address.address]' \
	'["ihex",true,155648,2,2,true,156533]' "inspect --json HEX with a gap"

ctl --json package inspect --region-start 0x27000 "$DATA/nrf5-sdk-mesh/blinky_nrf52832_xxAA_s132_7.2.0.hex"
is "$RC" 1 "inspect --json S132 HEX against 0x27000: exit 1"
BODY=$OUT
json_is '.region.ok' false "inspect --json S132 HEX against 0x27000: region refused"
json_is '.message | test("starts at 0x00026000")' true "inspect --json S132 HEX against 0x27000: message with addresses"

printf ':10000000FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF01\n:00000001FF\n' >"$MF_TMP/badsum.hex"
ctl package inspect "$MF_TMP/badsum.hex"
is "$RC" 1 "inspect HEX with a bad checksum: exit 1"
like "$ERR" 'line 1: bad checksum' "inspect HEX with a bad checksum: line and reason"

# --- garbage, empty, zip ---
{ printf 'not firmware\n'; head -c 4096 /dev/urandom; } >"$MF_TMP/garbage.bin"
ctl package inspect "$MF_TMP/garbage.bin"
is "$RC" 1 "inspect garbage: exit 1"
like "$ERR" 'neither an MCUboot image .* nor an Intel HEX file' "inspect garbage: says what it is not"
clean_stderr "inspect garbage"
: >"$MF_TMP/empty.bin"
ctl package inspect "$MF_TMP/empty.bin"
is "$RC" 1 "inspect an empty file: exit 1"
printf 'PK\003\004rest' >"$MF_TMP/a.zip"
ctl --json package inspect "$MF_TMP/a.zip"
is "$RC" 1 "inspect a broken zip: exit 1"
BODY=$OUT
json_is '.format' zip "inspect --json a broken zip: format zip"

# --- nRF Connect SDK packages (dfu_application.zip) ---
NCS="$DATA/ncs"
ctl package inspect "$NCS/mesh_light_1.0.0_thingy53_nrf5340.zip" --key "$DATA/mcuboot/root-rsa-2048.pub.pem"
is "$RC" 0 "inspect the mesh_light 1.0.0 package with its key: exit 0"
like "$OUT" "firmware ID    59000100000000000000 \\(derived" "... its firmware ID, derived from the version"
like "$OUT" "net_core_app_update.bin" "... both images of the manifest"
like "$OUT" "verified +yes" "... the application image verifies"
clean_stderr "inspect mesh_light"
ctl package inspect "$NCS/mesh_light_1.0.0_thingy53_nrf5340.zip" --key "$DATA/mcuboot/root-ec-p256.pub.pem"
is "$RC" 1 "... and with a wrong key: exit 1"
like "$ERR" "key_not_trusted|not trusted" "... the key is not trusted"
ctl --json package inspect "$NCS/dfu_distr_nrf54L_1.0.1.zip"
is "$RC" 0 "inspect the distributor 1.0.1+1234 package: exit 0"
BODY=$OUT
json_is .firmware_id 590001000100d2040000 "... its firmware ID from ble_mesh_metadata.json"
json_is .firmware_id_from_metadata_file true "... said to come from the metadata file"
ctl package inspect "$NCS/dfu_blinky_3.0.0.zip"
is "$RC" 1 "inspect the self-contradicting blinky package: exit 1"
like "$ERR" 'version 3.0.0\+0 but its MCUboot header says 2.0.0\+0' "... with both versions"
ctl package inspect "$MF_TMP/missing.bin"
is "$RC" 1 "inspect a missing file: exit 1"

# --- usage errors ---
ctl keys
is "$RC" 2 "keys without a command: exit 2"
ctl keys generate "$MF_TMP/notype.pem"
is "$RC" 2 "keys generate without --type: exit 2"
[ ! -e "$MF_TMP/notype.pem" ]
ok $? "keys generate without --type: no file"
ctl keys generate --type rsa-2048 "$MF_TMP/rsa.pem"
is "$RC" 2 "keys generate --type rsa-2048: exit 2"
ctl keys show
is "$RC" 2 "keys show without FILE: exit 2"
ctl package inspect
is "$RC" 2 "package inspect without FILE: exit 2"
ctl package frob "$linked0"
is "$RC" 2 "package frob: exit 2"
ctl package inspect "$linked0" --region-start 0x1zz
is "$RC" 2 "--region-start 0x1zz: exit 2"
ctl package inspect "$linked0" --region-start 0x100000000
is "$RC" 2 "--region-start past 32 bits: exit 2"
ctl package inspect "$linked0" --no-such-option
is "$RC" 2 "package inspect with an unknown option: exit 2"
ctl package inspect "$DATA/mcuboot/smpclient_hello_world.signed.bin" --key "$MF_TMP/missing.pem"
is "$RC" 1 "--key of a missing file: exit 1"
like "$ERR" "--key: cannot open '.*missing.pem'" "--key of a missing file: names it"

done_testing
