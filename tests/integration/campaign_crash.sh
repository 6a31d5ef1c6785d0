#!/usr/bin/env bash
# The crash loop of the campaign engine (issue 7, "Crash safety"): a 3-wave campaign (30 nodes: a canary of 5, then
# two waves of half the rest) runs once without interruption (the reference), then again from a fresh state and a
# fresh simulator while meshfleetd is SIGKILLed at CRASH_KILLS random moments (default 20) and started again each time
# on the same state directory, with one unplug/replug of the simulated dongle (SIGUSR1) in the middle of a transfer.
# The campaign must complete with the same final state and reason per node as the reference, no node may accept a
# Firmware Update Apply twice for one image (meshfleet-sim logs every apply), and `PRAGMA integrity_check` must be ok
# after every kill. Three faulty nodes give the failure reasons: one that rejects the metadata, one that fails
# verification, one that keeps its old firmware after the apply (the one a wrong engine would apply twice). No loss,
# so that both runs give every node the same result (with loss a node may time out in one run and not in the other).
#
# The kills: odd ones at random moments spread over the reference's duration, even ones right after the next
# transition of the campaign or a wave (so that the short states get kills too), and the second one at wave 1's
# pending -> preparing (the group job). Before each kill the daemon must still answer HTTP: a daemon whose loop got
# stuck is reported as such, with its log, and ends the loop. Each kill's moment and the wave state the database
# shows after it are diag lines, and a summary of the states hit.
#
# meshfleet-sim is started here, not by the daemon (--dongle sim:... makes it a child that dies with the daemon): like
# a real dongle it outlives every meshfleetd, which finds it through the link's symlink (--dongle PATH).
#
# Environment:
#   CRASH_SEED=N       the seed of the kill moments (default: $RANDOM, printed in a diag line to replay a failure)
#   CRASH_KILLS=N      kills per campaign (default 20)
#   CRASH_CAMPAIGNS=N  campaigns, one after the other, each with a new image (default 1); `make soak` raises both
#   CRASH_PREPARING_KILL=K  the kill that waits for wave 1's preparing (default 2; 0: none)
# Every wait is a bounded readiness wait, never a time limit on the whole.
. "$(dirname "$0")/lib.sh"
need_tools jq sqlite3 curl

SIM=${MESHFLEET_SIM:-$MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim}
CTL=${MESHFLEETCTL:-$MF_BUILDDIR/daemon/meshfleetctl}
# at 50 x the campaign lasts about 20 s: twice what 20 kills and their restarts take, so that all of them land
# while it runs, on a slower machine too
export MESHFLEET_SIM_SPEED=${MESHFLEET_SIM_SPEED:-50}
SEED=${CRASH_SEED:-$RANDOM}
KILLS=${CRASH_KILLS:-20}
CAMPAIGNS=${CRASH_CAMPAIGNS:-1}
[[ $SEED =~ ^[0-9]+$ && $KILLS =~ ^[0-9]+$ && $CAMPAIGNS =~ ^[1-9][0-9]*$ && ${CRASH_PREPARING_KILL:-0} =~ ^[0-9]+$ ]] ||
	bail "CRASH_SEED='$SEED', CRASH_KILLS='$KILLS', CRASH_CAMPAIGNS='$CAMPAIGNS', CRASH_PREPARING_KILL=" \
		"'${CRASH_PREPARING_KILL:-}': each must be a number (campaigns >= 1)"
RANDOM=$SEED
diag "crash seed $SEED: CRASH_SEED=$SEED replays these kill moments; $KILLS kill(s) in each of $CAMPAIGNS campaign(s)"

N=30
IMAGE_BYTES=49152                       # a transfer of a few seconds at this speed
OLD_FWID=59000100000000000000           # company 0x0059, version 1.0.0+0
POLL_S=0.05                             # the step of every bounded wait
WAIT_STEPS=1200                         # ... and its bound: 1 minute (a campaign takes about 8 s)
ANSWER_S=5                              # a living daemon answers GET /api/v1/health in this time
KILL_MIN_MS=50                          # the shortest life of a daemon between two kills
APPLY_LINE='Firmware Update Apply accepted'
TRIGGER_POLL_MS=5                       # a kill at a transition: the step of the wait for it ...
TRIGGER_JITTER_MS=20                    # ... and up to this much after it
PREPARING_KILL=${CRASH_PREPARING_KILL:-2} # the kill that waits for wave 1's preparing (first campaign; 0: none)

# --- the fleet: addresses 0x0100.. ---
addr() { fleet_addr "$1"; }
REJECT=$(addr 7)
NOVERIFY=$(addr 16)
KEEPOLD=$(addr 25)
scenario="$MF_TMP/fleet-scenario.json"
fleet_scenario $N $OLD_FWID "campaign_crash.sh: 30 nodes, three faulty" '{"target":{"verify_ms":2000,"reboot_ms":2000}}' \
	"{\"$REJECT\":{\"rejects_metadata\":true},\"$NOVERIFY\":{\"fails_verification\":true},
	  \"$KEEPOLD\":{\"keeps_old_firmware\":true}}" >"$scenario"
ok $? "a scenario of $N nodes"
cdb="$MF_TMP/fleet-cdb.json"
if ! "$SIM" --scenario "$scenario" --export-cdb "$cdb" >"$MF_TMP/sim.out" 2>&1; then
	fail "meshfleet-sim --export-cdb" "$(cat "$MF_TMP/sim.out")"
	done_testing
fi
# raw test images carry no signature: the test's configuration relaxes the policy
conf="$MF_TMP/meshfleetd.conf"
printf '[firmware]\nrequire_signature = false\n' >"$conf"

# now_ms: the wall clock in ms (for the figures in diag lines only).
now_ms() {
	local t=$EPOCHREALTIME
	printf '%d' $((${t%.*} * 1000 + 10#${t#*.} / 1000))
}

# start_sim DIR: meshfleet-sim on the link DIR/dongle with its flash (the nodes' configuration, the slot) in DIR and its
# log at info level (the apply lines) in DIR/sim.log; waits for its "pty:" line. Sets SIM_PID.
start_sim() {
	local dir=$1
	: >"$dir/sim.out"
	"$SIM" --scenario "$scenario" --link "$dir/dongle" --fleet-state "$dir/dongle.fleet" \
		--slot-file "$dir/dongle.slot" --syslog-prefix </dev/null >"$dir/sim.out" 2>"$dir/sim.log" &
	SIM_PID=$!
	kill_at_exit "$SIM_PID"
	wait_sim_pty "$dir" 1
}

# wait_sim_pty DIR COUNT: bounded wait until the simulator of DIR printed COUNT "pty:" lines (one per (re)plug).
wait_sim_pty() {
	local i
	for ((i = 0; i < WAIT_STEPS; i++)); do
		[ "$(grep -c '^pty: ' "$1/sim.out")" -ge "$2" ] && return 0
		_alive "$SIM_PID" || break
		sleep "$POLL_S"
	done
	fail "meshfleet-sim prints its pty line (#$2)" "$(tail -n 5 "$1/sim.log")"
	return 1
}

# stop_sim: SIGTERM to the simulator, which exits 0.
stop_sim() {
	kill -TERM "$SIM_PID"
	wait_exit "$SIM_PID"
	is "$EXIT_STATUS" 0 "meshfleet-sim exits 0 on SIGTERM"
}

# start_daemon_on DIR [STATE]: meshfleetd on the dongle DIR/dongle, on a fresh state directory or on STATE (a restart).
start_daemon_on() {
	local dir=$1
	if [ $# -gt 1 ]; then
		start_daemon_in "$2" --config "$conf" --dongle "$dir/dongle"
	else
		start_daemon --config "$conf" --dongle "$dir/dongle"
	fi
}

# campaign_state ID: the campaign's state, from the database.
campaign_state() {
	db_query "SELECT state FROM campaigns WHERE id = $1"
}

# wait_campaign ID STATE...: bounded wait until the campaign is in one of STATEs.
wait_campaign() {
	local id=$1 i s w
	shift
	for ((i = 0; i < WAIT_STEPS; i++)); do
		s=$(campaign_state "$id")
		for w in "$@"; do
			[ "$s" = "$w" ] && return 0
		done
		sleep "$POLL_S"
	done
	diag "campaign $id stays '$s' ($(db_query "SELECT reason FROM campaigns WHERE id = $id")); waited for: $*"
	return 1
}

# wave_now ID: where campaign ID stands: "wave W STATE" for the wave that holds the dongle, else the campaign's state
# and "between waves" (or "completed", ...).
wave_now() {
	local w s
	w=$(db_query "SELECT 'wave ' || idx || ' ' || state FROM campaign_waves WHERE campaign_id = $1 AND state NOT IN
		('pending', 'done', 'cancelled') ORDER BY idx LIMIT 1")
	if [ -n "$w" ]; then
		printf '%s' "$w"
	else
		s=$(campaign_state "$1")
		[ "$s" = running ] && s="running, between waves"
		printf '%s' "$s"
	fi
}

# answers: true when the daemon answers GET /api/v1/health within ANSWER_S (its loop runs).
answers() {
	curl -sS -o /dev/null --max-time "$ANSWER_S" "$BASE/api/v1/health" 2>/dev/null
}

# results ID: every target of campaign ID, one line each: address, state, reason.
results() {
	db_query "SELECT printf('0x%04X %s %s', address, state, coalesce(reason, '-')) FROM campaign_targets WHERE
		campaign_id = $1 ORDER BY address"
}

# applies DIR: the applies meshfleet-sim of DIR accepted, one line per node and version with its count (> 1: twice).
applies() {
	grep -F "$APPLY_LINE" "$1/sim.log" | sed -E 's/.* node (0x[0-9a-f]{4}) .* applying (version [^ ]+) .*/\1 \2/' |
		sort | uniq -c | awk '{ print $2, $3, $4, $1 }'
}

# import_image VERSION: a raw image of IMAGE_BYTES with NCS metadata (the simulated nodes take their new FWID from
# its version); sets IMAGE (its id).
import_image() {
	head -c "$IMAGE_BYTES" /dev/zero | tr '\0' "$(printf '\\%03o' $((65 + ${1%%.*} % 60)))" >"$MF_TMP/image-$1.bin"
	req POST /api/v1/firmware -F "file=@$MF_TMP/image-$1.bin" -F format=raw -F "version=$1" -F company_id=0x0059 \
		-F composition_hash=0x12345678 -F elements=1
	IMAGE=$(json_value .id)
	is "$STATUS/${#IMAGE}" 201/64 "image $1 imported"
	[ "$STATUS" = 201 ] || diag "$BODY"
}

# create NAME: a campaign of the image IMAGE to every node, started; sets CID. A canary of 5. One attempt per node
# (a retry wave would apply the node that keeps its old firmware again, rightly); thresholds that never pause it, so
# that the campaign runs its 3 waves whatever the canary holds.
create() {
	post_json /api/v1/campaigns "{\"name\":\"$1\",\"firmware\":\"$IMAGE\",\"targets\":{\"filter\":{}},
		\"plan\":{\"canary\":5,\"percent\":50},\"success_threshold\":0,\"error_threshold\":100,
		\"max_attempts\":1,\"transfer\":{\"timeout_base\":2,\"ttl\":5}}"
	CID=$(json_value .id)
	is "$STATUS" 201 "campaign '$1' created"
	req POST "/api/v1/campaigns/$CID/start"
	is "$STATUS" 200 "and started"
}

# setup DIR: a fresh simulator in DIR and a fresh daemon on it, with the simulator's network imported.
setup() {
	mkdir -p "$1"
	start_sim "$1" || return 1
	start_daemon_on "$1" || return 1
	"$CTL" --url "$BASE" network import "$cdb" >/dev/null
	is "$?" 0 "the simulator's network imports"
	wait_for_log 'mesh: dongle configured as' || { fail "the dongle is configured with the network"; return 1; }
}

# kill_moment ID K: waits for the K-th kill's moment and sets HOW (a diag text): a random delay of KILL_MIN_MS up to
# 1/(2 KILLS) of the reference's duration of the campaign (REF_MS_NOW), so that it lands anywhere in a state (mostly in
# a transfer, where the time goes); an even kill comes earlier if the campaign or one of its waves makes a transition
# first, 0..TRIGGER_JITTER_MS after it, so that kills also land in the short states (preparing, verifying, verified,
# applying, confirming) and right after a transition was written. When the last two kills found the same wave
# preparing (STALLED), this life first waits for a transition (bounded by REF_MS_NOW): quick kills must not hold the
# campaign there (a restart in preparing begins the group jobs again). The PREPARING_KILL-th kill of the first
# campaign waits for wave 1's preparing.
kill_moment() {
	local id=$1 k=$2 delay before i steps line pattern
	pattern="campaign $id( wave [0-9]+|) [^:]*: [a-z]+ -> [a-z]+"
	if [ -n "$STALLED" ]; then
		before=$(log_count "$pattern")
		for ((i = 0; i < REF_MS_NOW / TRIGGER_POLL_MS; i++)); do
			[ "$(log_count "$pattern")" -gt "$before" ] && break
			sleep "0.$(printf '%03d' "$TRIGGER_POLL_MS")"
		done
	fi
	delay=$((KILL_MIN_MS + (RANDOM * 32768 + RANDOM) % (REF_MS_NOW / (KILLS > 0 ? 2 * KILLS : 1) + 1)))
	HOW="after $delay ms${STALLED:+ (and a transition: two kills had found the wave preparing)}"
	if ((k % 2)); then
		sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
		return
	fi
	steps=$((delay / TRIGGER_POLL_MS))
	if [ "$k" = "$PREPARING_KILL" ] && [ "$c" = 1 ]; then
		# wave 1's preparing (the group jobs; the slot check), a state of about 100 ms that a random moment
		# rarely finds: waited for (bounded by the reference's time), then a kill at once
		pattern="campaign $id wave 1: pending -> preparing"
		steps=$((REF_MS_NOW / TRIGGER_POLL_MS))
	fi
	before=$(log_count "$pattern")
	for ((i = 0; i < steps; i++)); do
		if [ "$(log_count "$pattern")" -gt "$before" ]; then
			delay=$((RANDOM % (TRIGGER_JITTER_MS + 1)))
			line=$(grep -E "$pattern" "$DAEMON_LOG" | tail -n 1)
			HOW="$delay ms after '${line#*meshfleetd: }'"
			sleep "0.$(printf '%03d' "$delay")"
			return
		fi
		sleep "0.$(printf '%03d' "$TRIGGER_POLL_MS")"
	done
}

# unplug_mid_transfer: once wave 1 of the current campaign is transferring (bounded wait), the simulated dongle is
# unplugged (SIGUSR1) and plugged in again on a new pty behind the link's symlink; the daemon waits for it, and the
# next kill may come while it is still out. Sets UNPLUGGED.
unplug_mid_transfer() {
	local i
	for ((i = 0; i < WAIT_STEPS; i++)); do
		[ "$(wave_now "$CID")" = "wave 1 transferring" ] && break
		sleep "$POLL_S"
	done
	[ "$(wave_now "$CID")" = "wave 1 transferring" ] || return 0
	UNPLUGGED="after kill $kills, $(wave_now "$CID")"
	kill -USR1 "$SIM_PID"
	wait_sim_pty "$crash" 2 && pass "the dongle is plugged in again (a new pty behind the link)"
}

# --- the reference: the campaigns without interruption ---
ref="$MF_TMP/ref"
declare -a REF_MS
if ! setup "$ref"; then
	done_testing
fi
for ((c = 1; c <= CAMPAIGNS; c++)); do
	import_image $((c + 1)).0.0
	t0=$(now_ms)
	create "reference-$c"
	if wait_campaign "$CID" completed; then
		REF_MS[c]=$(($(now_ms) - t0))
		pass "reference campaign $c completes in one go ($((REF_MS[c])) ms)"
	else
		fail "reference campaign $c completes" "$(results "$CID" | grep -v succeeded)"
		done_testing
	fi
	is "$(db_query "SELECT count(*) FROM campaign_waves WHERE campaign_id = $CID")" 3 "a canary and 2 waves"
	results "$CID" >"$ref/results.$c"
done
is "$(grep -c succeeded "$ref/results.1")" $((N - 3)) "reference: the $((N - 3)) sound nodes succeeded"
is "$(grep -E "^($REJECT|$NOVERIFY|$KEEPOLD) " "$ref/results.1" | tr '\n' ' ')" \
	"$REJECT failed metadata_rejected $NOVERIFY failed verification_failed $KEEPOLD failed wrong_firmware_after_apply " \
	"reference: the faulty nodes fail with their reasons"
applies "$ref" >"$ref/applies"
is "$(awk '$4 > 1' "$ref/applies")" "" "reference: no node applied twice"
stop_daemon_ok "meshfleetd (reference)"
stop_sim

# --- the crash loop ---
crash="$MF_TMP/crash"
if ! setup "$crash"; then
	done_testing
fi
crash_state=$STATE
declare -A COVERAGE
kills=0
bad_integrity=0
RESTART_MS=0
UNPLUGGED=
STALLED=
last_where=
unplug_tried=
unplug_after=$PREPARING_KILL
((unplug_after > 0)) || unplug_after=$((KILLS / 2))
stuck=
for ((c = 1; c <= CAMPAIGNS; c++)); do
	import_image $((c + 1)).0.0
	create "crash-$c"
	REF_MS_NOW=${REF_MS[c]}
	for ((k = 1; k <= KILLS; k++)); do
		# the unplug: in the first campaign, in the daemon life after the kill in wave 1's preparing (or after
		# the middle kill), while wave 1 transfers
		if [ "$c" = 1 ] && [ -z "$unplug_tried" ] && [ "$kills" -ge "$unplug_after" ] && [ "$kills" -gt 0 ]; then
			unplug_tried=1
			unplug_mid_transfer
		fi
		kill_moment "$CID" "$k"
		t0=$(now_ms)
		# A daemon that lives is killed; one that stopped answering (its loop stuck) is a finding of its own.
		if ! answers; then
			fail "meshfleetd answers before kill $k (campaign $c, $(wave_now "$CID"))" \
				"started after kill $kills; stuck since; the last lines of its log:" \
				"$(grep -v 'sent unknown' "$DAEMON_LOG" | tail -n 8)" \
				"$(log_count .) lines in its log; $(log_count 'waiting for') 'waiting for' notices"
			stop_daemon KILL
			start_daemon_on "$crash" "$crash_state" || bail "meshfleetd does not start again"
			stuck="the daemon got stuck after kill $kills"
			break 2
		fi
		stop_daemon KILL
		kills=$((kills + 1))
		where=$(wave_now "$CID")
		# preparing is the daemon's own work (group jobs, the upload), which a restart begins again: the
		# dongle's transfer goes on while the daemon is down
		STALLED=
		[ "$where" = "$last_where" ] && [[ $where == *preparing ]] && STALLED=1
		last_where=$where
		COVERAGE[$where]=$((${COVERAGE[$where]:-0} + 1))
		diag "kill $kills (campaign $c): $HOW; the database says: $where"
		check=$(sqlite3 -batch "$(db_file)" 'PRAGMA integrity_check' 2>&1)
		if [ "$check" != ok ]; then
			bad_integrity=$((bad_integrity + 1))
			diag "kill $kills: integrity_check: $check"
		fi
		t1=$(now_ms)
		start_daemon_on "$crash" "$crash_state" || bail "meshfleetd does not start again after kill $kills"
		RESTART_MS=$((RESTART_MS + $(now_ms) - t1))
		[ "$where" = completed ] && break
	done
	if wait_campaign "$CID" completed; then
		pass "crash campaign $c completes"
	else
		fail "crash campaign $c completes" "$(results "$CID" | grep -v succeeded)"
	fi
	results "$CID" >"$crash/results.$c"
	is "$(cat "$crash/results.$c")" "$(cat "$ref/results.$c")" \
		"campaign $c: every node ends in the state and with the reason of the reference"
done
if [ -n "$stuck" ]; then
	skip "the dongle was unplugged mid-transfer" "$stuck"
else
	isnt "$UNPLUGGED" "" "the dongle was unplugged mid-transfer (${UNPLUGGED:-never: wave 1 was not seen transferring})"
fi
is "$bad_integrity" 0 "PRAGMA integrity_check is ok after each of the $kills kills"
diag "the daemon started again in $((RESTART_MS / (kills > 0 ? kills : 1))) ms on average"
diag "kills by where they hit (from the database): $(for w in "${!COVERAGE[@]}"; do
	printf '%s: %d; ' "$w" "${COVERAGE[$w]}"; done)"
ok "$([ "${COVERAGE[completed]:-0}" -le "$CAMPAIGNS" ]; echo $?)" \
	"the kills came while the campaigns ran (at most one per campaign after its end)"
[ -n "$stuck" ] || is "$kills" $((KILLS * CAMPAIGNS)) "every one of the $KILLS kills of each campaign came before it ended"
applies "$crash" >"$crash/applies"
if [ -n "$stuck" ]; then
	skip "no node accepted an apply twice for one image" "$stuck: the campaign did not end"
else
	is "$(awk '$4 > 1' "$crash/applies")" "" "no node accepted an apply twice for one image"
fi
if [ -n "$stuck" ]; then
	skip "the applies per node and version are the reference's" "$stuck: the campaign did not end"
else
	is "$(cat "$crash/applies")" "$(cat "$ref/applies")" \
		"the applies per node and version are the reference's: the kills added none"
fi
stop_daemon_ok "meshfleetd (after the crash loop)"
stop_sim
done_testing
