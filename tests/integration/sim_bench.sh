#!/usr/bin/env bash
# meshfleet-sim --bench on small scenarios (10 targets, 8 KiB): every target ends with its expected result (ok, or
# the reason of its fault), the report has its parts (virtual time, data phase, goodput, bound and ratio), the
# JSON report agrees, the same seed gives byte-identical output, the sequential baseline updates each target; bad
# scenarios and option combinations are refused with exit status 2. No absolute time anywhere: virtual time only.
. "$(dirname "$0")/lib.sh"
. "$MF_SRCDIR/tests/bench/dist_scenario.sh"

: "${MESHFLEET_SIM:=$MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim}"
[ -x "$MESHFLEET_SIM" ] || bail "MESHFLEET_SIM='$MESHFLEET_SIM' is not an executable"
cd "$MF_TMP" || bail "cd $MF_TMP"

# sim ARGS...: runs the simulator to its end; RC, OUT and ERR.
sim() {
	"$MESHFLEET_SIM" "$@" >sim.out 2>sim.err
	RC=$?
	OUT=$(cat sim.out)
	ERR=$(cat sim.err)
}

dist_scenario 10 8192 0 1 > ten.json
sim --bench ten.json --seed 3 --bench-out ten-report.json
is "$RC" 0 "--bench, 10 targets, 8 KiB: exit 0"
like "$OUT" "targets +10, push, group 0xc000, policy apply" "... the setup"
like "$OUT" "image +8192 bytes, blocks of [0-9]+ bytes \\([0-9]+ blocks\\), chunks of [0-9]+ bytes" "... the image"
like "$OUT" "virtual time +[0-9]+\\.[0-9]{3} s" "... the virtual time"
like "$OUT" "data phase +[0-9.]+ s \\([0-9.]+ %\\), control rounds" "... the data phase and the control share"
like "$OUT" "goodput +[0-9.]+ B/s in the data phase, [0-9.]+ B/s overall" "... the goodput"
like "$OUT" "outcomes +10 ok, 0 not ok: ok 10" "... every target ok"
like "$OUT" "bound +[0-9.]+ s \\((group|unicast): data [0-9.]+ s \\+ [0-9]+ rounds x [0-9.]+ s\\); ratio [0-9.]+" \
	"... the bound and the ratio"
like "$OUT" "phases +initiate [0-9.]+ s \\(1\\) caps [0-9.]+ s \\(1\\) xfer_start .* block_start [0-9.]+ s \\(2\\) chunks .* confirm" \
	"... the time per phase, with the messages of each"
like "$ERR" "wall time [0-9.]+ s, [0-9]+ x real time" "... wall time and speed on stderr"
unlike "$ERR" "WARNING|ERROR" "... no warnings"
BODY=$(cat ten-report.json)
json_is '.ok' 10 "JSON: 10 ok"
json_is '.targets' 10 "JSON: 10 targets"
json_is '.image_size' 8192 "JSON: the image size"
json_is '.bound.ratio >= 1' true "JSON: the ratio to the bound is at least 1"
json_is '.control_share > 0 and .control_share < 1' true "JSON: a control share between 0 and 1"
json_is '.phases.block_start.messages' 2 "JSON: one Block Start per block (2 blocks)"
json_is '([.phases[].s] | add) <= .virtual_s + 0.001' true "JSON: the phases add up to at most the virtual time"
json_is '.phases.chunks.s > .phases.verify.s' true "JSON: the chunks take longer than the verify round"
json_is '.wall.seconds >= 0' true "JSON: the wall time"
first=$OUT

sim --bench ten.json --seed 3
is "$OUT" "$first" "the same seed again: byte-identical output"
sim --bench ten.json --seed 4
isnt "$OUT" "$first" "another seed: other timings"

# one fault per kind of outcome the report counts
dist_scenario 10 8192 0 1 > faults.json
jq '.nodes[1].faults = { "rejects_metadata": true } | .nodes[2].faults = { "fails_verification": true }
	| .nodes[3].faults = { "keeps_old_firmware": true }' faults.json > faults2.json
sim --bench faults2.json --seed 3 --bench-out faults-report.json
is "$RC" 0 "--bench with faulty targets: exit 0 (the report says what failed)"
like "$OUT" "outcomes +7 ok, 3 not ok" "... 7 ok, 3 not"
like "$OUT" "0x0101 metadata_rejected" "... 0x0101 rejected the metadata"
like "$OUT" "0x0102 verification_failed" "... 0x0102 failed verification"
like "$OUT" "0x0103 wrong_firmware_after_apply" "... 0x0103 kept its old firmware"
BODY=$(cat faults-report.json)
json_is '[.failed[].address] | sort' '["0x0101","0x0102","0x0103"]' "JSON: the three failed targets"

dist_scenario 3 4096 0 1 '"sequential": true' > seq.json
sim --bench seq.json
is "$RC" 0 "--bench sequential: exit 0"
like "$OUT" "targets +3 one at a time \\(sequential unicast distributions\\)" "... one at a time"
like "$OUT" "outcomes +3 ok, 0 not ok" "... each target updated"

dist_scenario 3 4096 0 2 '"group": "unicast", "policy": "verify_only"' > verify.json
sim --bench verify.json
is "$RC" 0 "--bench verify_only by unicast over 2 hops: exit 0"
like "$OUT" "targets +3, push, unicast, policy verify_only" "... the setup"
like "$OUT" "outcomes +3 ok, 0 not ok: verified 3" "... each target verified (the run ends at VERIFIED)"

# bad input
sim --bench missing.json
is "$RC" 2 "--bench of a missing file: exit 2"
like "$ERR" "scenario 'missing.json': cannot open" "... says so"
jq '.bench.mode = "poll"' ten.json > bad.json
sim --bench bad.json
is "$RC" 2 "a bad bench object: exit 2"
like "$ERR" '\$\.bench\.mode: must be "push" or "pull"' "... with its JSON path"
jq '.radio = { "net_transmit_count": 9 }' ten.json > bad.json
sim --bench bad.json
is "$RC" 2 "a bad radio knob: exit 2"
like "$ERR" '\$\.radio\.net_transmit_count: ' "... with its JSON path"
jq '.nodes |= map(.dfu = false | del(.subscriptions))' ten.json > nodfu.json
sim --bench nodfu.json
is "$RC" 2 "a scenario without DFU-capable nodes: exit 2"
like "$ERR" "no DFU-capable node to update" "... says why"
sim --bench-out x.json
is "$RC" 2 "--bench-out without --bench: exit 2"
like "$ERR" "--bench-out goes with --bench" "... says so"
sim --bench ten.json --link dongle
is "$RC" 2 "--bench with --link: exit 2"
sim --bench ten.json --generate 5
is "$RC" 2 "--bench with --generate: exit 2"
sim --bench ten.json --bench-out /nonexistent/dir/r.json
is "$RC" 1 "a JSON report that cannot be written: exit 1"
like "$ERR" "cannot write '/nonexistent/dir/r.json'" "... says so"

done_testing
