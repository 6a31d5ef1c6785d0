#!/usr/bin/env bash
# GET /api/v1/events: the Server-Sent Events stream while a refresh runs against the simulated dongle; replay with
# Last-Event-ID, the types filter, bad input, the stream limit, and a prompt stop with streams open.
. "$(dirname "$0")/lib.sh"

SIM=${MESHFLEET_SIM:-$MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim}
_streams=()

# stream_start FILE [CURL ARGS...] [PATH]: reads GET /api/v1/events (or PATH) into FILE in the background (curl's
# --max-time is a safety bound only); STREAM_PID is its pid. Waits until the stream has started.
stream_start() {
	local file=$1 path=/api/v1/events i
	shift
	if [ $# -gt 0 ] && [[ ${!#} == /* ]]; then
		path=${!#}
		set -- "${@:1:$#-1}"
	fi
	: >"$file"
	curl -sS -N --max-time 120 -H "$(auth_header)" "$@" "$BASE$path" >"$file" 2>"$file.err" &
	STREAM_PID=$!
	_streams+=("$STREAM_PID")
	for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
		grep -q '^retry: ' "$file" && return 0
		sleep 0.05
	done
	return 1
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

# wait_streams N: bounded wait until the daemon counts N open streams (closed ones are noticed within a second).
wait_streams() {
	local i
	for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
		[ "$(metric meshfleet_event_streams)" = "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

stream_stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

ids() {
	sed -n 's/^id: //p' "$1" | tr '\n' ' '
}

_cleanup_streams() {
	local pid
	for pid in "${_streams[@]}"; do
		kill "$pid" 2>/dev/null
	done
}
# lib.sh's _cleanup takes the script's exit status from $?: keep it across ours.
trap '_s=$?; _cleanup_streams; (exit $_s); _cleanup' EXIT

# A refresh of 60 nodes over the simulator's radio model takes a minute or two of mesh time (one advertiser on the
# dongle, SAR, relays): the simulator meshfleetd starts runs 50 x faster than real time.
export MESHFLEET_SIM_SPEED=50
fleet="$MF_TMP/fleet.json"
"$SIM" --generate 60 --seed 3 --export-cdb "$fleet" >"$MF_TMP/sim.out" 2>&1 ||
	bail "meshfleet-sim --generate: $(cat "$MF_TMP/sim.out")"

start_daemon --dongle "sim:$fleet" || bail "meshfleetd did not start"

req GET /api/v1/events -H 'Last-Event-ID: abc'
expect_error 400 invalid_parameter "a bad Last-Event-ID"
req GET '/api/v1/events?since=-1'
expect_error 400 invalid_parameter "a bad since"
req GET '/api/v1/events?types=refresh,bogus'
expect_error 400 invalid_parameter "an unknown type"

stream_start "$MF_TMP/s1" || fail "the first stream starts" "$(cat "$MF_TMP/s1.err")"
s1=$STREAM_PID
req POST /api/v1/network/import -H 'Content-Type: application/json' --data-binary "@$fleet"
is "$STATUS" 201 "the simulator's network imports"
wait_in "$MF_TMP/s1" '^event: network$'
ok $? "the import is an event"
like "$(cat "$MF_TMP/s1")" '"action":"imported","nodes_added":60' "with its counts"
unlike "$(cat "$MF_TMP/s1")" "$(jq -r '.netKeys[0].key' "$fleet")" "and no key"
wait_for_log 'mesh: dongle configured as' || fail "the dongle is configured with the network"
req POST /api/v1/nodes/refresh
is "$STATUS" 202 "a refresh starts"
wait_in "$MF_TMP/s1" '"phase":"done"'
ok $? "the stream gets the refresh's final event"
stream_stop "$s1"
out=$(cat "$MF_TMP/s1")
like "$out" $'^retry: 3000\n\n' "the stream starts with retry:"
refresh=$(grep '^data: ' "$MF_TMP/s1" | sed 's/^data: //' | jq -c 'select(.phase != null)')
is "$(jq -r .phase <<<"$refresh" | head -n 1)" started "the first refresh event is started"
BODY=$(tail -n 1 <<<"$refresh")
json_is .state done "the last refresh event: state done"
json_is .total 60 "with the counts"
json_is '.reachable + .unreachable' 60 "every node counted"
json_is .done 60 "all done"
all=$(ids "$MF_TMP/s1")
read -r -a idv <<<"$all"
seq_ok=0
for ((i = 1; i < ${#idv[@]}; i++)); do
	[ "${idv[i]}" -eq $((idv[i - 1] + 1)) ] || seq_ok=1
done
ok "$seq_ok" "the ids increase by one (${all})"
[ "${#idv[@]}" -ge 3 ]
ok $? "at least the import, started and done"
is "$(db_query 'SELECT max(id) FROM events')" "${idv[-1]}" "the events are stored"
is "$(grep -c '^event: ' "$MF_TMP/s1")" "${#idv[@]}" "each event has a type"

# Reconnect after the second event: exactly what came after it.
last=${idv[-1]}
stream_start "$MF_TMP/s2" -H "Last-Event-ID: ${idv[1]}" || fail "the replaying stream starts"
wait_in "$MF_TMP/s2" "^id: $last\$"
ok $? "the replay reaches the newest event"
stream_stop "$STREAM_PID"
is "$(ids "$MF_TMP/s2")" "$(printf '%s ' "${idv[@]:2}")" "Last-Event-ID: exactly the missed events"
# ?since= works too, and the header wins over it.
stream_start "$MF_TMP/s3" -H "Last-Event-ID: $((last - 1))" "/api/v1/events?since=0" || fail "since+header starts"
wait_in "$MF_TMP/s3" "^id: $last\$"
stream_stop "$STREAM_PID"
is "$(ids "$MF_TMP/s3")" "$last " "the header wins over since"

# The types filter, from the start.
stream_start "$MF_TMP/s4" "/api/v1/events?since=0&types=refresh" || fail "the filtered stream starts"
wait_in "$MF_TMP/s4" '"phase":"done"'
stream_stop "$STREAM_PID"
is "$(sort -u <(sed -n 's/^event: //p' "$MF_TMP/s4"))" refresh "types=refresh: only refresh events"
is "$(grep -c '^id: ' "$MF_TMP/s4")" "$(grep -c '^event: refresh' "$MF_TMP/s1")" "and all of them"

# The stream limit: 16 open, the 17th is refused.
wait_streams 0
ok $? "the daemon notices the clients that left"
pids=()
for ((n = 0; n < 16; n++)); do
	stream_start "$MF_TMP/many.$n" || fail "stream $n starts"
	pids+=("$STREAM_PID")
done
req GET /api/v1/events
expect_error 503 too_many_streams "a 17th stream"
is "$(metric meshfleet_event_streams)" 16 "metrics: 16 streams"
stream_stop "${pids[0]}"
wait_streams 15
ok $? "a closed stream frees its place"
stream_start "$MF_TMP/again" || fail "and another client gets it"
pids[0]=$STREAM_PID
# A network import that changes something reaches every stream.
jq 'del(.nodes[-1])' "$fleet" >"$MF_TMP/fewer.json"
req POST /api/v1/network/import -H 'Content-Type: application/json' --data-binary "@$MF_TMP/fewer.json"
wait_in "$MF_TMP/many.15" '"action":"updated"'
ok $? "the open streams get the next event"

# Stopping with streams open: they end cleanly and the daemon does not wait for its grace period.
last_pid=${pids[0]}
stop_daemon_ok "events"
ok "$(grep -c 'still in flight after' "$DAEMON_LOG")" "no stream held the daemon until its grace period ran out"
wait "$last_pid"
is "$?" 0 "the stream's curl ends cleanly at shutdown"
ended=0
for pid in "${pids[@]:1}"; do
	wait "$pid" || ended=1
done
ok "$ended" "every stream ends cleanly"

done_testing
