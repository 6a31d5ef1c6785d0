#!/usr/bin/env bash
# Firmware made in the test instead of taken from tests/data (issue 5): a tiny Cortex-M image assembled and linked
# here with binutils-arm-none-eabi, written by objcopy as Intel HEX (gaps, segment and linear address records) and
# as a binary, signed in the MCUboot layout with keys from `openssl genpkey` (ECDSA P-256, Ed25519), and packed
# with a manifest.json and a ble_mesh_metadata.json into a dfu_application.zip. Every expected value comes from the
# ELF (objdump, readelf) or from OpenSSL, never from meshfleet's own code. Checked with `meshfleetctl package
# inspect` and POST /api/v1/firmware. Skips when binutils-arm-none-eabi is not installed (./quickstart test
# installs it).
#
# The image, linked by a script written here (link_image):
#   .text      vector table (initial SP, reset handler, NMI, HardFault) and a little code, at the region start
#   .rodata    after a deliberate gap (the next 4 KiB page), followed by the load image of .data (AT > FLASH)
#   .bss       NOLOAD: in neither file
#   .settings  64 KiB further on: another extended segment address record (type 02)
#   .storage   1 MiB further on. objcopy writes extended *linear* address records (type 04) only for addresses
#              above 0xFFFFF (binutils bfd/ihex.c; below that it writes type 02, as the nRF5 SDK files have), so
#              this segment is what makes them appear, mixed with the 02 records. The flash described (1.5 MiB)
#              is larger than an nRF52840's: the test is about the file formats, nothing runs the image.
# It is linked three times:
#   0x27000    the HEX checks: the application region of an nRF52840 with the S140 7.x SoftDevice, the region of
#              the legacy failure (../shared/reference/nrf5-mesh-legacy.md §4.1)
#   0x0        that failure: the same image linked for a chip without SoftDevice, refused against 0x27000
#   0xC200     the MCUboot checks: nRF Connect SDK's nRF52840 layout has the primary slot at 0xC000 after the
#              48 KiB MCUboot, and the application's vector table follows the 0x200-byte image header
#
# Signing is done with the openssl command and Perl's pack (perl-base is essential on Debian), not with a C
# helper: a second, independent writer of the MCUboot layout (tests/unit/test_mcuboot.c has the libcrypto one)
# made of the tools a user would sign with, so that a mistake shared by meshfleet's reader and a C writer cannot
# cancel out.
set -u
. "$(dirname "$0")/lib.sh"

MESHFLEETCTL="$MF_BUILDDIR/daemon/meshfleetctl"
[ -x "$MESHFLEETCTL" ] ||
	bail "MESHFLEETCTL='$MESHFLEETCTL' is not an executable: build it first (make daemon/meshfleetctl)"
for tool in openssl perl; do
	command -v "$tool" >/dev/null 2>&1 || bail "$tool is not installed (apt-get install $tool, or run ./quickstart test)"
done
for tool in arm-none-eabi-as arm-none-eabi-ld arm-none-eabi-objcopy arm-none-eabi-objdump arm-none-eabi-readelf; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		skip "firmware built in the test" \
			"$tool is not installed (apt-get install binutils-arm-none-eabi, or run ./quickstart test)"
		done_testing
	fi
done

W="$MF_TMP/work"
mkdir -p "$W"
REGION=0x27000                  # nRF52840 + S140 7.x application region
SLOT=0xC000                     # nRF Connect SDK nRF52840: primary MCUboot slot
HDR_SIZE=0x200                  # imgtool's default header size
ROM_FIXED=0x100                 # MCUboot IMAGE_F_ROM_FIXED (imgtool --rom-fixed)
VERSION=1.4.2+37
VERSION_FIELDS=(1 4 2 37)
COMPANY_ID=0x05F1               # not Nordic's 0x0059, so that a derived FWID shows where its company came from

# ctl ARG...: runs meshfleetctl, bounded; sets RC OUT ERR.
ctl() {
	local err_file="$MF_TMP/ctl.err"
	OUT=$(timeout 30 "$MESHFLEETCTL" "$@" 2>"$err_file")
	RC=$?
	ERR=$(cat "$err_file")
}

# hex_of FILE: the bytes of FILE as lowercase hex, one line.
hex_of() {
	od -An -v -tx1 "$1" | tr -d ' \n'
}

# conf NAME TEXT: writes TEXT (printf %b) to a file and prints its path.
conf() {
	local f="$MF_TMP/$1.conf"
	printf '%b' "$2" >"$f"
	printf '%s' "$f"
}

# upload FILE [QUERY]: POST /api/v1/firmware with FILE as the body.
upload() {
	req POST "/api/v1/firmware${2:-}" -H 'Content-Type: application/octet-stream' --data-binary "@$1"
}

stored_rows() {
	db_query "SELECT count(*) FROM firmware"
}

# refused DESC STATUS CODE REASON: the last response is this refusal, with the reason first, and no row was added.
refused() {
	expect_error "$2" "$3" "$1"
	like "$(json_value .error.message)" "^$4: " "$1: the message starts with the reason '$4'"
	is "$(stored_rows)" "$rows_before" "$1: nothing stored"
}

# --- the image --------------------------------------------------------------------------------------------

cat >"$W/image.s" <<'EOF'
	.syntax unified
	.cpu cortex-m4
	.thumb

	.section .vectors, "a"
	.word _estack
	.word reset_handler
	.word default_handler
	.word default_handler

	.text
	.thumb_func
	.global reset_handler
reset_handler:
	ldr r0, =_sdata
	ldr r1, =_edata
	ldr r2, =_sidata
1:	cmp r0, r1
	bhs 2f
	ldr r3, [r2], #4
	str r3, [r0], #4
	b 1b
2:	ldr r0, =settings
	ldr r0, [r0]
	ldr r1, =banner
	ldr r2, =storage
	b .
	.thumb_func
default_handler:
	b .

	.section .rodata
banner:	.asciz "meshfleet generated test image"

	.data
counter: .word 0x12345678, 0x9abcdef0

	.bss
scratch: .space 64

	.section .settings, "a"
settings: .word 0xcafef00d, 1, 2, 3
	.byte 0x42

	.section .storage, "a"
storage: .ascii "far"
EOF

# link_image ORIGIN: links image.o for a flash starting at ORIGIN into image-ORIGIN.elf, .hex and .bin.
link_image() {
	local origin=$1 base="$W/image-$1"
	cat >"$base.ld" <<EOF
MEMORY {
	FLASH (rx) : ORIGIN = $origin, LENGTH = 0x180000
	RAM (rwx) : ORIGIN = 0x20002000, LENGTH = 0x3E000
}
ENTRY(reset_handler)
SECTIONS {
	.text : { KEEP(*(.vectors)) *(.text*) } > FLASH
	.rodata ALIGN(0x1000) : { *(.rodata*) } > FLASH
	.data : { _sdata = .; *(.data*) . = ALIGN(4); _edata = .; } > RAM AT > FLASH
	_sidata = LOADADDR(.data);
	.bss (NOLOAD) : { *(.bss*) } > RAM
	.settings ORIGIN(FLASH) + 0x10000 + 0x404 : { KEEP(*(.settings)) } > FLASH
	.storage ORIGIN(FLASH) + 0x100000 + 0x10 : { KEEP(*(.storage)) } > FLASH
	_estack = ORIGIN(RAM) + LENGTH(RAM);
}
EOF
	arm-none-eabi-ld -T "$base.ld" -o "$base.elf" "$W/image.o" &&
		arm-none-eabi-objcopy -O ihex "$base.elf" "$base.hex" &&
		arm-none-eabi-objcopy -O binary --gap-fill 0xff "$base.elf" "$base.bin"
}

arm-none-eabi-as -o "$W/image.o" "$W/image.s" 2>"$MF_TMP/as.err" ||
	bail "arm-none-eabi-as failed: $(cat "$MF_TMP/as.err")"
for origin in "$REGION" 0x0 $((SLOT + HDR_SIZE)); do
	link_image "$origin" 2>"$MF_TMP/ld.err" || bail "linking at $origin failed: $(cat "$MF_TMP/ld.err")"
done
elf="$W/image-$REGION.elf"
hex="$W/image-$REGION.hex"
bin="$W/image-$REGION.bin"

# expected_segments ELF: what the HEX must hold, from the section headers alone: every section with contents
# that is loaded, at its load address (LMA); sections that touch are one segment. Prints one JSON array of
# {start, last, size, gap_before}.
expected_segments() {
	arm-none-eabi-objdump -h "$1" | perl -e '
		use strict;
		my (@sections, $size, $lma);
		while (<STDIN>) {
			if (/^\s*\d+\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s/) { ($size, $lma) = (hex $1, hex $2); next }
			push @sections, [$lma, $size] if /CONTENTS/ && /\bLOAD\b/ && $size > 0;
		}
		my @segments;
		for my $s (sort { $a->[0] <=> $b->[0] } @sections) {
			my $last = $segments[-1];
			if ($last && $s->[0] == $last->{end}) { $last->{end} += $s->[1]; next }
			push @segments, { start => $s->[0], end => $s->[0] + $s->[1], gap => $last ? $s->[0] - $last->{end} : 0 };
		}
		print "[", join(",", map { sprintf('\''{"start":%d,"last":%d,"size":%d,"gap_before":%d}'\'',
			$_->{start}, $_->{end} - 1, $_->{end} - $_->{start}, $_->{gap}) } @segments), "]\n";
	'
}

segments=$(expected_segments "$elf")
like "$segments" '^\[(\{[^}]*\},){3}\{[^}]*\}\]$' \
	"objdump -h: the image has 4 segments (text, rodata+data, settings, storage)"
seg_start=$(jq '.[0].start' <<<"$segments")
seg_last=$(jq '.[-1].last' <<<"$segments")
seg_data=$(jq '[.[].size] | add' <<<"$segments")
entry=$(($(arm-none-eabi-readelf -h "$elf" | sed -n "s/^ *Entry point address: *//p")))
is "$seg_start" $((REGION)) "the ELF's first loaded section is at the region start"
like "$(grep -c '^:02000002' "$hex") $(grep -c '^:02000004' "$hex")" '^[2-9] [1-9]$' \
	"objcopy wrote extended segment (02) and extended linear (04) address records"
is "$(stat -c %s "$bin")" $((seg_last - seg_start + 1)) "objcopy -O binary spans the first to the last loaded byte"

# --- meshfleetctl package inspect on the HEX ---------------------------------------------------------------

ctl package inspect "$hex" --region-start "$REGION" --json
is "$RC" 0 "inspect the HEX at its region: exit 0"
BODY=$OUT
json_is .valid true "inspect: valid"
json_is .format ihex "inspect: format ihex"
json_is .base "$seg_start" "inspect: base = the first section's LMA"
json_is .last "$seg_last" "inspect: last = the end of the last section"
json_is .size "$(stat -c %s "$bin")" "inspect: size = objcopy's binary"
json_is .data_bytes "$seg_data" "inspect: data bytes = the sum of the loaded sections"
json_is .gap_bytes $((seg_last - seg_start + 1 - seg_data)) "inspect: gap bytes = span - data"
json_is '[.segments[] | {start, last, size, gap_before}]' "$segments" "inspect: the segments and gaps of objdump -h"
json_is .start_address.address "$entry" "inspect: the start address record is the ELF's entry point"
json_is .vectors.reset "$entry" "inspect: the reset vector is the entry point (Thumb bit set)"
json_is .vectors.initial_sp $((0x20002000 + 0x3E000)) "inspect: initial SP = the end of RAM (_estack)"
json_is '[.vectors.sp_in_ram, .vectors.reset_in_image]' '[true,true]' "inspect: looks like a Cortex-M vector table"
json_is .region.ok true "inspect: starts at the region"

ctl package inspect "$W/image-0x0.hex" --region-start "$REGION"
is "$RC" 1 "inspect the image linked at 0x0 against $REGION: exit 1"
like "$ERR" "refused: the image starts at 0x00000000 but the application region starts at 0x00027000" \
	"inspect: the refusal names both addresses"
ctl package inspect "$W/image-0x0.hex" --region-start 0
is "$RC" 0 "the same file against region 0: exit 0 (only the region was wrong)"

# --- the MCUboot layout, signed with OpenSSL ---------------------------------------------------------------

# mcuboot_hashed OUT BODY LOAD_ADDR FLAGS VERSION: writes the part the image hash covers: the 32-byte header
# (bootutil/image.h: magic, load_addr, hdr_size, protect_tlv_size, img_size, flags, version major.minor.revision
# +build, pad), zeros up to HDR_SIZE as imgtool pads, then BODY.
mcuboot_hashed() {
	perl -e '
		use strict;
		my ($out, $body, $load, $flags, $ver, $hdr_size) = @ARGV;
		my @v = $ver =~ /^(\d+)\.(\d+)\.(\d+)\+(\d+)$/ or die "bad version $ver\n";
		open(my $in, "<:raw", $body) or die "$body: $!\n";
		my $data = do { local $/; <$in> };
		my $hdr = pack("V V v v V V C C v V V", 0x96f3b83d, hex($load), hex($hdr_size), 0, length($data),
			hex($flags), @v, 0);
		$hdr .= "\0" x (hex($hdr_size) - length($hdr));
		open(my $o, ">:raw", $out) or die "$out: $!\n";
		print $o $hdr, $data or die "$out: $!\n";
		close($o) or die "$out: $!\n";
	' "$1" "$2" "$3" "$4" "$5" "$HDR_SIZE"
}

# mcuboot_tlvs OUT HASHED SHA256 [KEYHASH SIG_TYPE SIG]: OUT = HASHED + the TLV area (magic 0x6907, total
# length) with the SHA-256 entry (0x10), then KEYHASH (0x01) and the signature as imgtool orders them.
mcuboot_tlvs() {
	perl -e '
		use strict;
		my ($out, $hashed, $hash, $keyhash, $sig_type, $sig) = @ARGV;
		sub slurp { open(my $f, "<:raw", $_[0]) or die "$_[0]: $!\n"; local $/; return scalar <$f>; }
		my $tlv = pack("v v", 0x10, 32) . slurp($hash);
		if (defined $sig) {
			my $s = slurp($sig);
			$tlv .= pack("v v", 0x01, 32) . slurp($keyhash) . pack("v v", hex($sig_type), length $s) . $s;
		}
		open(my $o, ">:raw", $out) or die "$out: $!\n";
		print $o slurp($hashed), pack("v v", 0x6907, 4 + length $tlv), $tlv or die "$out: $!\n";
		close($o) or die "$out: $!\n";
	' "$@"
}

# sign OUT KEY HASHED: signs HASHED's SHA-256 with the private KEY as MCUboot expects it: ECDSA P-256 (TLV 0x22)
# over the digest (DER), Ed25519 (0x24) over the 32 digest bytes as the message (docs/firmware.md, "Signature");
# KEYHASH = SHA-256 of the public key's SubjectPublicKeyInfo DER. Leaves OUT.sha256, OUT.keyhash, OUT.sig.
sign() {
	local out=$1 key=$2 hashed=$3 type
	openssl dgst -sha256 -binary -out "$out.sha256" "$hashed" &&
		openssl pkey -in "$key" -pubout -outform DER | openssl dgst -sha256 -binary -out "$out.keyhash" ||
		return 1
	case $(openssl pkey -in "$key" -noout -text | head -n 1) in
	*ED25519*)
		type=0x24
		openssl pkeyutl -sign -rawin -inkey "$key" -in "$out.sha256" -out "$out.sig" || return 1
		;;
	*)
		type=0x22
		openssl pkeyutl -sign -inkey "$key" -pkeyopt digest:sha256 -in "$out.sha256" -out "$out.sig" || return 1
		;;
	esac
	mcuboot_tlvs "$out" "$hashed" "$out.sha256" "$out.keyhash" "$type" "$out.sig"
}

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/ec.pem" 2>/dev/null &&
	openssl genpkey -algorithm ED25519 -out "$W/ed.pem" 2>/dev/null &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/other.pem" 2>/dev/null ||
	bail "openssl genpkey failed"
for k in ec ed other; do
	openssl pkey -in "$W/$k.pem" -pubout -out "$W/$k.pub.pem" || bail "openssl pkey -pubout $k failed"
done

body="$W/image-$((SLOT + HDR_SIZE)).bin"
body_size=$(stat -c %s "$body")
mcuboot_hashed "$W/fixed.hashed" "$body" "$SLOT" "$ROM_FIXED" "$VERSION" || bail "packing the header failed"
mcuboot_hashed "$W/plain.hashed" "$body" 0 0 "$VERSION" || bail "packing the header failed"
sign "$W/ecdsa.bin" "$W/ec.pem" "$W/fixed.hashed" || bail "signing with ECDSA P-256 failed"
sign "$W/ed25519.bin" "$W/ed.pem" "$W/plain.hashed" || bail "signing with Ed25519 failed"
sign "$W/other.bin" "$W/other.pem" "$W/fixed.hashed" || bail "signing with the other key failed"
# plain.hashed is what ed25519.bin was made of, so its SHA-256 is already there
mcuboot_tlvs "$W/unsigned.bin" "$W/plain.hashed" "$W/ed25519.bin.sha256" || bail "packing the unsigned image failed"
is "$(cmp "$W/ecdsa.bin" "$W/other.bin" 2>&1 | grep -c differ)" 1 "the image signed by the other key differs"

# flip_bit FILE OFFSET: flips bit 3 of the byte at OFFSET in place.
flip_bit() {
	perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die "$ARGV[0]: $!\n"; seek($f, $ARGV[1], 0);
		read($f, my $b, 1) == 1 or die "$ARGV[0]: short\n"; seek($f, $ARGV[1], 0); print $f chr(ord($b) ^ 0x08);
		close($f) or die "$ARGV[0]: $!\n"' "$1" "$2"
}

# one bit of the body (in the reset handler) flipped, the TLVs unchanged: the hash no longer matches
cp "$W/ecdsa.bin" "$W/flipped.bin"
flip_bit "$W/flipped.bin" $((HDR_SIZE + 0x20)) || bail "flipping a bit failed"
# the same bit flipped and the hash written anew, the signature kept: only the signature can tell
cp "$W/fixed.hashed" "$W/forged.hashed"
flip_bit "$W/forged.hashed" $((HDR_SIZE + 0x20)) || bail "flipping a bit failed"
openssl dgst -sha256 -binary -out "$W/forged.sha256" "$W/forged.hashed" &&
	mcuboot_tlvs "$W/forged.bin" "$W/forged.hashed" "$W/forged.sha256" "$W/ecdsa.bin.keyhash" 0x22 "$W/ecdsa.bin.sig" ||
	bail "packing the forged image failed"

# inspect_signed FILE PUB SIG_TYPE LOAD FLAGS: meshfleetctl package inspect --key PUB says what was packed.
inspect_signed() {
	local file=$1 pub=$2 sig_type=$3 load=$4 flags=$5 name
	name=$(basename "$file")
	ctl package inspect "$file" --key "$pub" --json
	is "$RC" 0 "inspect $name --key: exit 0"
	BODY=$OUT
	json_is '[.valid, .verified, .key]' "[true,true,\"$pub\"]" "$name: valid, verified with the key"
	json_is .format mcuboot "$name: format mcuboot"
	json_is .version "$VERSION" "$name: version"
	json_is .header_size $((HDR_SIZE)) "$name: header size"
	json_is .image_size "$body_size" "$name: image size = objcopy's binary"
	json_is .protected_tlv_size 0 "$name: no protected TLVs"
	json_is .load_address $((load)) "$name: load address"
	json_is .flags $((flags)) "$name: flags"
	json_is .tlv_end "$(stat -c %s "$file")" "$name: the image ends at the end of the file"
	json_is '[.tlv_count, .padding]' '[3,0]' "$name: 3 TLVs, no padding"
	json_is '[.hash.type, .hash.value, .hash.matches]' "[\"sha256\",\"$(hex_of "$file.sha256")\",true]" \
		"$name: the image hash is openssl dgst's over header + body"
	json_is .keyhash "$(hex_of "$file.keyhash")" "$name: KEYHASH = SHA-256 of the key's DER"
	json_is '[.signature.type, .signature.length]' "[\"$sig_type\",$(stat -c %s "$file.sig")]" "$name: signature"
}
inspect_signed "$W/ecdsa.bin" "$W/ec.pub.pem" ecdsa "$SLOT" "$ROM_FIXED"
json_is .flag_names '["ROM_FIXED"]' "ecdsa.bin: flag ROM_FIXED"
inspect_signed "$W/ed25519.bin" "$W/ed.pub.pem" ed25519 0 0

ctl package inspect "$W/other.bin" --key "$W/ec.pub.pem"
is "$RC" 1 "inspect, signed by another key: exit 1"
like "$ERR" "refused: key_not_trusted" "inspect, signed by another key: key_not_trusted"
ctl package inspect "$W/flipped.bin" --key "$W/ec.pub.pem"
like "$RC $ERR" "^1 .*refused: hash_mismatch" "inspect, a flipped body bit: exit 1, hash_mismatch"
ctl package inspect "$W/forged.bin" --key "$W/ec.pub.pem"
like "$RC $ERR" "^1 .*refused: bad_signature" "inspect, a flipped bit with its hash redone: exit 1, bad_signature"
ctl package inspect "$W/unsigned.bin" --key "$W/ec.pub.pem"
like "$RC $ERR" "^1 .*refused: no_signature" "inspect, unsigned with --key: exit 1, no_signature"
ctl package inspect "$W/unsigned.bin"
is "$RC" 0 "inspect, unsigned without --key: exit 0"

# --- dfu_application.zip: manifest.json and ble_mesh_metadata.json computed here ---------------------------

# le NUMBER BYTES: a number as BYTES little-endian bytes in hex.
le() {
	local v=$(($1)) i out=
	for ((i = 0; i < $2; i++)); do
		out+=$(printf '%02x' $(((v >> (8 * i)) & 0xff)))
	done
	printf '%s' "$out"
}

# composition_hash JSON: the low 4 bytes (little endian) of AES-CMAC with an all-zero key over Composition Data
# Page 0 built from composition_data as docs/firmware.md gives it (vendor models as their 32-bit value, LE).
composition_hash() {
	jq -r '.cid, .pid, .vid, .crpl, .features, (.elements[] | "E", .location, (.sig_models | length),
		(.vendor_models | length), (.sig_models[] | "S\(.)"), (.vendor_models[] | "V\(.)"))' <<<"$1" |
		perl -e 'my @f = map { chomp; $_ } <STDIN>; my $o = pack("v5", splice(@f, 0, 5));
			while (@f) { my $t = shift @f; if ($t eq "E") { $o .= pack("vCC", splice(@f, 0, 3)) }
				elsif ($t =~ /^S(\d+)$/) { $o .= pack("v", $1) } elsif ($t =~ /^V(\d+)$/) { $o .= pack("V", $1) } }
			binmode STDOUT; print $o' >"$W/composition.bin" || return 1
	openssl mac -cipher AES-128-CBC -macopt hexkey:00000000000000000000000000000000 -in "$W/composition.bin" CMAC |
		perl -ne 'print hex(substr($_, 6, 2) . substr($_, 4, 2) . substr($_, 2, 2) . substr($_, 0, 2))'
}

# The computation checked first on the published NCS 2.9 distributor (tests/data/ncs: 0xBC0E8B45).
distributor=$(unzip -p "$MF_SRCDIR/tests/data/ncs/dfu_distr_nrf54L_1.0.1.zip" ble_mesh_metadata.json 2>/dev/null)
if [ -n "$distributor" ]; then
	is "$(composition_hash "$(jq -c .composition_data <<<"$distributor")")" $((0xBC0E8B45)) \
		"the test's composition hash reproduces the NCS distributor's"
else
	skip "the test's composition hash reproduces the NCS distributor's" "unzip is not installed"
fi

composition=$(jq -cn --argjson cid $((COMPANY_ID)) '{cid: $cid, pid: 4660, vid: 1, crpl: 16, features: 3,
	elements: [{location: 256, sig_models: [0, 2, 4096, 4098], vendor_models: [5832718]},
		{location: 257, sig_models: [4096], vendor_models: []}]}')
comp_hash=$(composition_hash "$composition")
like "$comp_hash" '^[0-9]+$' "composition hash computed"
image_size=$(stat -c %s "$W/ecdsa.bin")
version_bytes=$(le "${VERSION_FIELDS[0]}" 1)$(le "${VERSION_FIELDS[1]}" 1)
version_bytes+=$(le "${VERSION_FIELDS[2]}" 2)$(le "${VERSION_FIELDS[3]}" 4)
exp_fwid=$(le "$COMPANY_ID" 2)$version_bytes
# version, image size (u24), core type 1 (application), composition hash, 2 elements
exp_metadata=$version_bytes$(le "$image_size" 3)01$(le "$comp_hash" 4)$(le 2 2)

# metadata [JQ_FILTER]: ble_mesh_metadata.json for ecdsa.bin as NCS writes it, changed by JQ_FILTER.
metadata() {
	jq -n --argjson comp "$composition" --argjson hash "$comp_hash" --argjson size "$image_size" \
		--arg enc "$exp_metadata" --arg fwid "$exp_fwid" \
		--argjson v "$(printf '[%s,%s,%s,%s]' "${VERSION_FIELDS[@]}")" '{
		sign_version: {major: $v[0], minor: $v[1], revision: $v[2], build_number: $v[3]},
		binary_size: $size, core_type: 1, composition_data: $comp, composition_hash: $hash,
		encoded_metadata: $enc, firmware_id: $fwid} | '"${1:-.}"
}

# make_zip NAME METADATA_FILTER [MANIFEST_FILTER]: NAME.zip with app_update.bin (ecdsa.bin), manifest.json and,
# unless METADATA_FILTER is "none", ble_mesh_metadata.json.
make_zip() {
	local dir="$W/zip-$1"
	rm -rf "$dir" "$W/$1.zip"
	mkdir -p "$dir"
	cp "$W/ecdsa.bin" "$dir/app_update.bin"
	jq -n --arg v "$VERSION" --argjson size "$image_size" --argjson load $((SLOT)) '{
		"format-version": 1, time: 1700000000, name: "app_update",
		files: [{type: "application", board: "nrf52840dk", soc: "nrf52840", load_address: $load,
			image_index: "0", slot_index_primary: "1", slot_index_secondary: "2",
			version_MCUBOOT: $v, size: $size, file: "app_update.bin", modtime: 1700000000}]} | '"${3:-.}" \
		>"$dir/manifest.json" || return 1
	if [ "$2" != none ]; then
		metadata "$2" >"$dir/ble_mesh_metadata.json" || return 1
	fi
	(cd "$dir" && zip -q -X "$W/$1.zip" ./*)
}

have_zip=0
command -v zip >/dev/null 2>&1 && have_zip=1
if [ "$have_zip" = 1 ]; then
	make_zip full . &&
		make_zip derived 'del(.encoded_metadata, .firmware_id)' &&
		make_zip bad-hash ".composition_hash = $(((comp_hash + 1) & 0xffffffff))" &&
		make_zip bad-size ".binary_size = $((image_size - 1))" &&
		make_zip bad-version . '.files[0].version_MCUBOOT = "1.4.2+38"' || bail "zip failed"
fi

# --- the daemon: require_signature = true, trusting the ECDSA and the Ed25519 key ---------------------------

strict=$(conf strict "[firmware]\ntrusted_keys = $W/ec.pub.pem, $W/ed.pub.pem\nrequire_signature = true\n")
start_daemon --config "$strict" || bail "meshfleetd did not start with $strict"

upload "$W/ecdsa.bin"
is "$STATUS" 201 "POST the ECDSA-signed image: 201"
json_is .id "$(sha256sum "$W/ecdsa.bin" | cut -d' ' -f1)" "its id is the file's SHA-256"
json_is '[.kind, .version, .size, .signed]' "[\"mcuboot\",\"$VERSION\",$image_size,true]" "kind, version, size, signed"
json_is .signature_key "$W/ec.pub.pem" "verified with the ECDSA key"
json_is .firmware_id "$(le 0x0059 2)${exp_fwid:4}" "FWID: company 0x0059 + the header's version"
ecdsa_id=$(json_value .id)
cmp -s "$W/ecdsa.bin" "$STATE/firmware/$ecdsa_id"
ok $? "stored byte for byte"

upload "$W/ed25519.bin"
is "$STATUS" 201 "POST the Ed25519-signed image: 201"
json_is .signature_key "$W/ed.pub.pem" "verified with the Ed25519 key"
json_is .version "$VERSION" "version"

rows_before=$(stored_rows)
upload "$W/other.bin"
refused "an image signed by a key that is not trusted" 422 untrusted_image key_not_trusted
upload "$W/flipped.bin"
refused "one bit of the body flipped" 422 invalid_image hash_mismatch
upload "$W/forged.bin"
refused "one bit flipped and the hash redone" 422 untrusted_image bad_signature
upload "$W/unsigned.bin"
refused "an unsigned image with require_signature" 422 untrusted_image no_signature
upload "$hex" "?format=hex&region_start=$REGION&version=1.0.0"
refused "the HEX with require_signature" 422 untrusted_image no_signature

if [ "$have_zip" = 1 ]; then
	req DELETE "/api/v1/firmware/$ecdsa_id"
	is "$STATUS" 204 "the loose image deleted, so that the package's FWID is not the first import's"
	rows_before=$(stored_rows)
	for bad in bad-hash bad-size bad-version; do
		upload "$W/$bad.zip"
		expect_error 422 invalid_package "the package with $bad"
		is "$(stored_rows)" "$rows_before" "the package with $bad: nothing stored"
	done
	upload "$W/bad-hash.zip"
	like "$(json_value .error.message)" "composition" "bad-hash: the message names the composition"
	upload "$W/bad-version.zip"
	like "$(json_value .error.message)" '1\.4\.2\+38.*1\.4\.2\+37' "bad-version: both versions named"

	upload "$W/full.zip"
	is "$STATUS" 201 "POST the dfu_application.zip: 201"
	json_is .id "$ecdsa_id" "its application image is stored under its SHA-256"
	json_is .firmware_id "$exp_fwid" "FWID as computed here (company $COMPANY_ID + version)"
	json_is .metadata "$exp_metadata" "metadata as computed here (version, size, core, composition hash, 2 elements)"
	json_is .signature_key "$W/ec.pub.pem" "the package's image verified with the ECDSA key"
	cmp -s "$W/ecdsa.bin" "$STATE/firmware/$ecdsa_id"
	ok $? "the package's image stored byte for byte"
	req DELETE "/api/v1/firmware/$ecdsa_id"
	upload "$W/derived.zip"
	is "$STATUS" 201 "POST the zip whose metadata has no encoded_metadata or firmware_id: 201"
	json_is .firmware_id "$exp_fwid" "the derived FWID equals the one computed here"
	json_is .metadata "$exp_metadata" "the derived metadata equals the one computed here"
else
	skip "dfu_application.zip built in the test" "zip is not installed (apt-get install zip, or run ./quickstart test)"
fi
stop_daemon_ok "require_signature = true"

# --- require_signature = false: the HEX and the unsigned image ----------------------------------------------

lax=$(conf lax "[firmware]\nrequire_signature = false\n")
start_daemon --config "$lax" || bail "meshfleetd did not start with $lax"
upload "$hex" "?format=hex&region_start=$REGION&version=${VERSION/+/%2B}"
is "$STATUS" 201 "POST the HEX at its region: 201"
json_is .size "$(stat -c %s "$bin")" "stored size = objcopy's binary"
hex_id=$(json_value .id)
if cmp "$bin" "$STATE/firmware/$hex_id" >"$MF_TMP/cmp.out" 2>&1; then
	pass "the stored image equals objcopy -O binary --gap-fill 0xff byte for byte"
else
	fail "the stored image equals objcopy -O binary --gap-fill 0xff byte for byte" "$(head -c 300 "$MF_TMP/cmp.out")"
fi
rows_before=$(stored_rows)
upload "$W/image-0x0.hex" "?format=hex&region_start=$REGION&version=${VERSION/+/%2B}"
refused "the image linked at 0x0 against $REGION" 422 wrong_region wrong_region
like "$(json_value .error.message)" '0x00000000.*0x00027000' "the message names both addresses"
upload "$W/unsigned.bin"
is "$STATUS" 201 "the unsigned image without require_signature: 201"
json_is '[.signed, .signature_key, .version]' "[false,null,\"$VERSION\"]" "recorded unsigned, with its version"
stop_daemon_ok "require_signature = false"

done_testing
