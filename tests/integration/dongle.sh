#!/usr/bin/env bash
# GET /api/v1/dongle and /api/v1/dongle/log, and the health's dongle state: without a dongle, and with a port
# that does not exist (the link keeps retrying and the API names the cause and the next step); dongle = sim, where
# the link waits for meshfleet-sim's "pty:" line (no "port missing" while it starts), and a simulator that exits
# before it is ready.
. "$(dirname "$0")/lib.sh"

if start_daemon; then
	req GET /api/v1/dongle
	is "$STATUS" 200 "no dongle: 200"
	json_is '.state' not_configured "no dongle: state not_configured"
	json_is '.spec' none "no dongle: spec none"
	req GET /api/v1/dongle/log
	is "$STATUS" 200 "no dongle: log 200"
	json_is '.lines | length' 0 "no dongle: no lines"
	req GET /api/v1/health
	json_is '.dongle.state' not_configured "no dongle: health says not_configured"
	req GET /metrics
	like "$BODY" $'\nmeshfleet_dongle_up 0' "no dongle: metrics say the link is down"
	unlike "$BODY" 'meshfleet_dongle_frames_in_total' "no dongle: no link counters"
	stop_daemon_ok "no dongle"
fi

missing="$MF_TMP/no-such-tty"
if start_daemon --dongle "$missing"; then
	req GET /api/v1/dongle
	is "$STATUS" 200 "missing port: 200"
	json_is '.spec' "$missing" "missing port: spec"
	json_is '.port' "$missing" "missing port: port"
	json_is '.diagnosis.code' port_missing "missing port: diagnosis code port_missing"
	like "$(jq -r '.diagnosis.message' <<<"$BODY")" 'does not exist.*plugged in' "missing port: the message says why and what to try"
	like "$(jq -r '.diagnosis.message' <<<"$BODY")" ' Retrying in [0-9.]+ s\.$' "missing port: and when the link tries again"
	like "$(jq -r '.state' <<<"$BODY")" '^(backoff|stopped|handshake)$' "missing port: the link waits to retry"
	req GET /api/v1/health
	json_is '.dongle.spec' "$missing" "missing port: health names the spec"
	req GET '/api/v1/dongle/log?limit=0'
	is "$STATUS" 400 "log limit=0: 400"
	json_is '.error.code' invalid_parameter "log limit=0: invalid_parameter"
	req GET '/api/v1/dongle/log?limit=257'
	is "$STATUS" 400 "log limit=257: 400"
	req GET '/api/v1/dongle/log?lines=3'
	json_is '.error.code' unknown_parameter "log: unknown parameter refused"
	req POST /api/v1/dongle -H 'Content-Type: application/json' -d '{}'
	is "$STATUS" 405 "POST /api/v1/dongle: 405"
	like "$(cat "$DAEMON_LOG")" '<4>meshfleetd: dongle: port missing' "missing port: logged once as a warning"
	stop_daemon_ok "missing port"
fi

# --- dongle = sim: meshfleetd starts meshfleet-sim on a pseudo-terminal and the link comes up ---
if start_daemon --dongle sim; then
	state=""
	for _ in $(seq 400); do     # readiness wait, bounded (20 s)
		req GET /api/v1/dongle
		state=$(jq -r .state <<<"$BODY")
		[ "$state" = up ] && break
		sleep 0.05
	done
	is "$state" up "sim: the link comes up"
	log=$(cat "$DAEMON_LOG")
	like "$log" "dongle sim: meshfleet-sim's pseudo-terminal /dev/[^ ]+ is ready" "sim: the daemon read the simulator's \"pty:\" line"
	unlike "$log" 'dongle: port missing' \
		"sim: no warning about a missing port while the simulator starts (the link waits for it)"
	like "$(jq -r '.firmware.features | join(",")' <<<"$BODY")" simulated "sim: HELLO says the dongle is simulated"
	json_is '.port' "$STATE/dongle-sim" "sim: the link opens the simulator's symlink in the state directory"
	req GET /api/v1/health
	json_is '.dongle.state' up "sim: health shows the link up"
	req GET /metrics
	like "$BODY" $'\nmeshfleet_dongle_up 1\n' "sim: metrics say the link is up"
	like "$BODY" $'\nmeshfleet_dongle_frames_in_total [1-9][0-9]*\n' "sim: metrics count frames from the dongle"
	like "$BODY" $'\nmeshfleet_dongle_crc_errors_total 0\n' "sim: no CRC errors on a clean link"
	sim_pid=$(pgrep -f -- "--link $STATE/dongle-sim" | head -n 1)
	ok_cmd=$([ -n "$sim_pid" ] && echo yes || echo no)
	is "$ok_cmd" yes "sim: meshfleet-sim runs as a child"
	stop_daemon_ok "sim"
	gone=no
	for _ in $(seq 200); do
		kill -0 "$sim_pid" 2>/dev/null || { gone=yes; break; }
		sleep 0.05
	done
	is "$gone" yes "sim: meshfleet-sim is gone after meshfleetd stopped"
fi

# --- a simulator that exits before its port is ready: the log says so, the API shows why the link is not up ---
bad="$MF_TMP/bad-scenario.json"
printf '{"nodes": [{"address": "not a number"}]}\n' >"$bad"
if start_daemon --dongle "sim:$bad"; then
	wait_for_log 'meshfleet-sim exited .* before its pseudo-terminal was ready'
	ok $? "exited sim: the daemon says the simulator exited before it was ready"
	like "$(cat "$DAEMON_LOG")" 'before its pseudo-terminal was ready: its messages are above.*restart meshfleetd' \
		"exited sim: and what to do"
	like "$(cat "$DAEMON_LOG")" "meshfleet-sim: scenario '$(re_quote "$bad")': " "exited sim: the simulator's own message is in the log"
	code=""
	for _ in $(seq 400); do     # readiness wait, bounded (20 s)
		req GET /api/v1/dongle
		code=$(jq -r '.diagnosis.code // empty' <<<"$BODY")
		[ -n "$code" ] && break
		sleep 0.05
	done
	is "$code" port_missing "exited sim: GET /api/v1/dongle says the port is missing"
	like "$(jq -r '.diagnosis.message' <<<"$BODY")" 'meshfleet-sim is unplugged or has stopped' \
		"exited sim: and that the simulator has stopped"
	stop_daemon_ok "exited sim"
fi

done_testing
