#!/usr/bin/env bash
# The campaign engine end to end: meshfleetd drives meshfleet-sim's Distributor. 50 simulated nodes with 5% loss,
# two that reject the metadata, one that fails verification, one that keeps its old firmware after the apply; a
# campaign of a canary and 2 waves where each ends in the right state and reason and a retry wave takes the failed
# ones again; the error threshold pausing a campaign by itself; verify-only then POST .../apply; the simulated dongle
# rebooting mid-transfer (SIGUSR2: the wave goes again under a new id, every node updated once); cancel, with the
# nodes' FWIDs read back (a refresh) to show they are consistent. Small raw images and a fast simulator; every wait
# is a bounded readiness wait, never a time limit on the whole.
. "$(dirname "$0")/lib.sh"
need_tools jq sqlite3 curl

SIM=${MESHFLEET_SIM:-$MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim}
CTL=${MESHFLEETCTL:-$MF_BUILDDIR/daemon/meshfleetctl}
export MESHFLEET_SIM_SPEED=${MESHFLEET_SIM_SPEED:-200}
N=50
OLD_FWID=59000100000000000000           # company 0x0059, version 1.0.0+0

# --- the fleet: addresses 0x0100.. ---
addr() { fleet_addr "$1"; }
REJECT1=$(addr 7)
REJECT2=$(addr 23)
NOVERIFY=$(addr 31)
KEEPOLD=$(addr 44)
scenario="$MF_TMP/fleet-scenario.json"
fleet_scenario $N $OLD_FWID "campaign_run.sh: 50 nodes, 5% loss, four faulty" \
	'{"loss_rate":0.05,"target":{"verify_ms":100,"reboot_ms":500}}' \
	"{\"$REJECT1\":{\"rejects_metadata\":true},\"$REJECT2\":{\"rejects_metadata\":true},
	  \"$NOVERIFY\":{\"fails_verification\":true},\"$KEEPOLD\":{\"keeps_old_firmware\":true}}" >"$scenario"
ok $? "a scenario of $N nodes"
cdb="$MF_TMP/fleet-cdb.json"
if ! "$SIM" --scenario "$scenario" --export-cdb "$cdb" >"$MF_TMP/sim.out" 2>&1; then
	fail "meshfleet-sim --export-cdb" "$(cat "$MF_TMP/sim.out")"
	done_testing
fi

# campaign_json ID: GET /api/v1/campaigns/ID into BODY.
campaign_json() {
	req GET "/api/v1/campaigns/$1"
}

# wait_campaign ID STATE...: bounded wait until the campaign is in one of STATEs (BODY: the campaign).
wait_campaign() {
	local id=$1 i s w
	shift
	for ((i = 0; i < 2400; i++)); do
		campaign_json "$id"
		s=$(json_value .state)
		for w in "$@"; do
			[ "$s" = "$w" ] && return 0
		done
		sleep 0.05
	done
	diag "campaign $id stays '$s' ($(json_value .reason)); waited for: $*"
	return 1
}

# wait_waves ID STATE: bounded wait until some wave of campaign ID is in STATE.
wait_wave_state() {
	local i
	for ((i = 0; i < 2400; i++)); do
		campaign_json "$1"
		[ "$(jq -r --arg s "$2" '[.waves[] | select(.state == $s)] | length' <<<"$BODY")" -gt 0 ] && return 0
		sleep 0.05
	done
	return 1
}

# target_field ID ADDR FIELD: one field of one target of campaign ID.
target_field() {
	db_query "SELECT $3 FROM campaign_targets WHERE campaign_id = $1 AND address = $(($2))"
}

# import_image VERSION [BYTES]: a raw image (3000 bytes unless BYTES) with NCS metadata (the simulated nodes take
# their new FWID from its version); sets IMAGE (its id) and IMAGE_FWID.
import_image() {
	head -c "${2:-3000}" /dev/zero | tr '\0' "$(printf '\\%03o' $((65 + ${1%%.*})))" >"$MF_TMP/image-$1.bin"
	req POST /api/v1/firmware -F "file=@$MF_TMP/image-$1.bin" -F format=raw -F "version=$1" -F company_id=0x0059 \
		-F composition_hash=0x12345678 -F elements=1
	IMAGE=$(json_value .id)
	IMAGE_FWID=$(json_value .firmware_id)
	is "$STATUS/${#IMAGE}" 201/64 "image $1 imported ($IMAGE_FWID)"
	[ "$STATUS" = 201 ] || diag "$BODY"
}

# create BODY: POST /api/v1/campaigns, then start; sets CID.
create() {
	post_json /api/v1/campaigns "$1"
	CID=$(json_value .id)
	is "$STATUS" 201 "campaign '$(jq -r .name <<<"$1")' created"
	req POST "/api/v1/campaigns/$CID/start"
	is "$STATUS" 200 "and started"
}

# raw test images carry no signature: the test's configuration relaxes the policy
conf="$MF_TMP/meshfleetd.conf"
printf '[firmware]\nrequire_signature = false\n' >"$conf"
if start_daemon --config "$conf" --dongle "sim:$scenario"; then
	"$CTL" --url "$BASE" network import "$cdb" >/dev/null
	is "$?" 0 "the simulator's network imports"
	wait_for_log 'mesh: dongle configured as' || fail "the dongle is configured with the network"
	import_image 2.0.0

	# --- bad input ---
	req POST /api/v1/campaigns/999/start
	expect_error 404 not_found "starting a campaign that does not exist"

	# --- canary + 2 waves, faulty nodes, retry ---
	create "{\"name\":\"rollout\",\"firmware\":\"$IMAGE\",\"targets\":{\"filter\":{}},
		\"plan\":{\"canary\":5,\"percent\":50},\"success_threshold\":80,\"error_threshold\":20,
		\"max_attempts\":2,\"transfer\":{\"timeout_base\":0,\"ttl\":5}}"
	rollout=$CID
	campaign_json $rollout
	is "$(jq '[.waves[] | select(.kind != "retry")] | length' <<<"$BODY")" 3 "a canary and 2 waves"
	is "$(jq -r '[.state, (.eta.s | type), (.eta.later_waves_s > 0), (.eta.at | type)] | join(" ")' <<<"$BODY")" \
		"running number true string" "a running campaign has an ETA: seconds, the later waves' share, a time"
	like "$("$CTL" --url "$BASE" campaign show $rollout 2>&1)" \
		$'\nETA [0-9]+(s|m[0-9]{2}s|h[0-9]{2}m), at 20[0-9-]+T[0-9:]+Z \(from (the radio model|this campaign)' \
		"meshfleetctl campaign show prints it"
	if wait_campaign $rollout completed paused; then
		json_is .state completed "the rollout completes (reason: $(json_value .reason))"
		json_is .eta null "and has no ETA any more"
	else
		fail "the rollout ends"
	fi
	diag "$(db_query "SELECT wave, state, coalesce(reason, ''), count(*) FROM campaign_targets WHERE campaign_id =
		$rollout GROUP BY 1, 2, 3" | tr '\n' ' ')"
	is "$(target_field $rollout "$REJECT1" state)/$(target_field $rollout "$REJECT1" reason)" \
		failed/metadata_rejected "a node that rejects the metadata: failed, metadata_rejected"
	is "$(target_field $rollout "$REJECT2" state)/$(target_field $rollout "$REJECT2" reason)" \
		failed/metadata_rejected "the other one too"
	is "$(target_field $rollout "$NOVERIFY" state)/$(target_field $rollout "$NOVERIFY" reason)" \
		failed/verification_failed "a node that fails verification: failed, verification_failed"
	is "$(target_field $rollout "$KEEPOLD" state)/$(target_field $rollout "$KEEPOLD" reason)" \
		failed/wrong_firmware_after_apply "a node that keeps its old firmware: failed, wrong_firmware_after_apply"
	is "$(target_field $rollout "$REJECT1" attempts)" 2 "retry took the failed nodes again (2 attempts)"
	is "$(target_field $rollout "$REJECT1" last_result)" metadata_rejected "with the first result kept"
	is "$(db_query "SELECT count(*) FROM campaign_waves WHERE campaign_id = $rollout AND kind = 'retry'")" 1 \
		"one retry wave"
	is "$(db_query "SELECT count(*) FROM campaign_targets WHERE campaign_id = $rollout AND state = 'succeeded'")" \
		$((N - 4)) "the other $((N - 4)) nodes succeeded"
	is "$(db_query "SELECT count(*) FROM campaign_waves WHERE campaign_id = $rollout AND distribution_id IS NULL")" \
		0 "every wave recorded its distribution id"
	like "$(metric meshfleet_db_commits_total)" '^[0-9]+$' "meshfleet_db_commits_total is exported"

	# --- the error threshold, mid-wave: three faulty nodes again, with a new image large enough that the two
	# metadata rejections (at the start) come long before the end of the transfer ---
	import_image 6.0.0 196608
	create "{\"name\":\"threshold\",\"firmware\":\"$IMAGE\",\"targets\":{\"nodes\":[\"$REJECT1\",\"$REJECT2\",
		\"$NOVERIFY\",\"$(addr 1)\",\"$(addr 2)\",\"$(addr 3)\"]},\"plan\":{\"canary\":0,\"size\":3},
		\"success_threshold\":0,\"error_threshold\":30,\"max_attempts\":1,\"transfer\":{\"timeout_base\":0,\"ttl\":5}}"
	if wait_campaign $CID paused completed; then
		json_is .state paused "the wave's failures cross 30%: the campaign pauses by itself"
		json_is .reason 'error threshold crossed: 2 of 6 targets failed (33%), above the error threshold of 30%' \
			"the reason names the threshold and the figures: the two rejections, as they came"
		is "$(db_query "SELECT count(*) FROM campaign_waves WHERE campaign_id = $CID AND state = 'transferring'")" 1 \
			"in the middle of a wave's transfer"
	else
		fail "the threshold campaign pauses"
	fi
	req POST "/api/v1/campaigns/$CID/cancel"
	is "$STATUS" 200 "cancelled"

	# --- verify-only, then apply ---
	import_image 3.0.0
	create "{\"name\":\"verify-only\",\"firmware\":\"$IMAGE\",\"targets\":{\"nodes\":[\"$(addr 10)\",\"$(addr 11)\",
		\"$(addr 12)\",\"$(addr 13)\",\"$(addr 14)\",\"$(addr 15)\"]},\"plan\":{\"canary\":0,\"percent\":100},
		\"apply\":{\"policy\":\"verify_only\"},\"transfer\":{\"timeout_base\":0,\"ttl\":5}}"
	verify=$CID
	if wait_wave_state $verify verified; then
		pass "the wave stops in verified"
		is "$(db_query "SELECT count(*) FROM campaign_targets WHERE campaign_id = $verify AND state = 'verified'")" 6 \
			"its 6 targets verified"
		is "$(db_query "SELECT count(*) FROM campaign_targets WHERE campaign_id = $verify AND apply_sent_at IS NOT NULL")" \
			0 "nothing applied yet"
		req POST "/api/v1/campaigns/$verify/apply"
		is "$STATUS" 200 "POST .../apply"
		wait_campaign $verify completed
		json_is .state completed "the campaign completes after the apply"
		is "$(db_query "SELECT count(*) FROM campaign_targets WHERE campaign_id = $verify AND state = 'succeeded'")" 6 \
			"the 6 nodes run the new firmware"
	else
		fail "the verify-only wave stops in verified"
	fi

	# --- the dongle reboots mid-transfer: the wave is issued again, nothing applied twice ---
	import_image 5.0.0 196608
	create "{\"name\":\"reboot\",\"firmware\":\"$IMAGE\",\"targets\":{\"nodes\":[\"$(addr 30)\",\"$(addr 32)\",
		\"$(addr 33)\",\"$(addr 34)\",\"$(addr 35)\",\"$(addr 36)\"]},\"plan\":{\"canary\":0,\"percent\":100},
		\"transfer\":{\"timeout_base\":0,\"ttl\":5}}"
	reboot=$CID
	sim_pid=$(pgrep -P "$DAEMON_PID" | head -n 1)
	if [ -n "$sim_pid" ] && wait_for_log "campaign $reboot wave 0: distribution [0-9]* started"; then
		kill -USR2 "$sim_pid"
		wait_for_log "campaign $reboot wave 0: the dongle lost distribution" ||
			fail "the engine sees that the rebooted dongle lost the distribution"
		wait_campaign $reboot completed
		json_is .state completed "after the reboot the wave went again and the campaign completes"
		is "$(db_query "SELECT count(*) FROM campaign_targets WHERE campaign_id = $reboot AND state = 'succeeded'
			AND attempts = 1")" 6 "every node succeeded, in its first attempt"
		is "$(db_query "SELECT count(DISTINCT distribution_id) FROM campaign_waves WHERE campaign_id = $reboot")" 1 \
			"the wave holds its new distribution id"
	else
		fail "the reboot campaign starts its distribution (simulator pid '$sim_pid')"
	fi

	# --- cancel mid-transfer: nodes consistent (an image large enough for the cancel to find it transferring) ---
	import_image 4.0.0 196608
	create "{\"name\":\"cancelled\",\"firmware\":\"$IMAGE\",\"targets\":{\"nodes\":[\"$(addr 20)\",\"$(addr 21)\",
		\"$(addr 22)\",\"$(addr 24)\",\"$(addr 25)\",\"$(addr 26)\"]},\"plan\":{\"canary\":0,\"percent\":100},
		\"transfer\":{\"timeout_base\":0,\"ttl\":5}}"
	cancelled=$CID
	if wait_for_log "campaign $cancelled wave 0: distribution [0-9]* started"; then
		req POST "/api/v1/campaigns/$cancelled/cancel"
		is "$STATUS" 200 "cancel during the transfer"
		wait_for_log "DIST_CANCEL of distribution" || fail "the engine cancels the distribution"
		campaign_json $cancelled
		json_is .state cancelled "the campaign is cancelled"
		is "$(db_query "SELECT count(*) FROM campaign_targets WHERE campaign_id = $cancelled AND state NOT IN
			('cancelled', 'succeeded', 'failed')")" 0 "every target ended"
		post_json /api/v1/nodes/refresh '{}'
		for ((i = 0; i < 2400; i++)); do
			req GET /api/v1/nodes/refresh
			[ "$(json_value .state)" = running ] || break
			sleep 0.05
		done
		bad=$(db_query "SELECT count(*) FROM campaign_targets t JOIN nodes n ON n.address = t.address WHERE
			t.campaign_id = $cancelled AND ((t.state = 'cancelled' AND hex(n.firmware_id) = '${IMAGE_FWID^^}')
			OR (t.state = 'succeeded' AND hex(n.firmware_id) != '${IMAGE_FWID^^}'))")
		is "$(db_query "SELECT count(*) FROM campaign_targets t JOIN nodes n ON n.address = t.address WHERE
			t.campaign_id = $cancelled AND n.firmware_id IS NOT NULL AND n.last_seen > 0")" 6 \
			"the refresh read the 6 nodes' FWIDs back"
		ok "$([ "$(db_query "SELECT count(*) FROM campaign_targets WHERE campaign_id = $cancelled AND
			state = 'cancelled'")" -gt 0 ]; echo $?)" "some targets were cancelled before their apply"
		is "$bad" 0 "read back: cancelled nodes kept their firmware, succeeded ones run the new one"
	else
		fail "the cancel campaign transfers"
	fi

	# --- group subscriptions: each wave unsubscribed the earlier waves' nodes; ended campaigns leave none ---
	like "$(grep -c 'wave 1: unsubscribing 5 node(s) outside the wave' "$DAEMON_LOG")" '^1$' \
		"the rollout's wave 1 first unsubscribed the canary's 5 nodes from the group"
	left="SELECT count(*) FROM group_members m JOIN campaigns c ON c.group_address = m.group_address JOIN
		campaign_targets t ON t.campaign_id = c.id AND t.address = m.address"
	for ((i = 0; i < 2400; i++)); do
		[ "$(db_query "$left")" = 0 ] && break
		sleep 0.05
	done
	is "$(db_query "$left")" 0 "once every campaign ended, no target stays in a campaign's group"
	stop_daemon_ok
fi
done_testing
