#!/usr/bin/env bash
# A campaign's preflight and estimate against meshfleet-sim with a scenario whose targets judge the metadata
# themselves: two reject it (faults.rejects_metadata), one announces a Composition Data change, one is 3 hops away.
# Refresh records each node's hop count (from the answers' TTL); POST .../preflight asks every pending target (202,
# one at a time, GET for the result, DELETE to cancel), the results show in GET .../targets and survive a restart,
# skip_rejected skips the two with reason preflight_rejected; GET .../estimate answers per wave with the hop counts
# and the Distributor's addressing; bad ids, bodies, states and roles are refused and change nothing.
. "$(dirname "$0")/lib.sh"
need_tools jq sqlite3

CTL=${MESHFLEETCTL:-$MF_BUILDDIR/daemon/meshfleetctl}
SIM=${MESHFLEET_SIM:-$MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim}
IMAGE_FWID=59000103000000000000         # 1.3.0+0 in the NCS layout

preflight_checksum() {
	printf '.dump campaign_preflight\n.dump campaign_targets\n' | sqlite3 -batch "$(db_file)" | sha256sum |
		cut -d' ' -f1
}

# wait_state PATH: bounded wait until PATH's .state is no longer running; leaves the answer in BODY.
wait_state() {
	local i
	for ((i = 0; i < 1200; i++)); do
		req GET "$1"
		[ "$(json_value .state)" = running ] || return 0
		sleep 0.05
	done
	return 1
}

scenario="$MF_TMP/preflight-scenario.json"
cat >"$scenario" <<'EOF'
{
  "description": "preflight: two nodes reject the metadata, one changes its composition, one is 3 hops away",
  "nodes": [
    { "name": "a", "address": "0x0100", "uuid": "6d657368-666c-6565-7400-000000000100", "fwid": "59000102000000000000", "hops": 1 },
    { "name": "b", "address": "0x0101", "uuid": "6d657368-666c-6565-7400-000000000101", "fwid": "59000102000000000000", "hops": 1,
      "faults": { "rejects_metadata": true } },
    { "name": "c", "address": "0x0102", "uuid": "6d657368-666c-6565-7400-000000000102", "fwid": "59000102000000000000", "hops": 2 },
    { "name": "d", "address": "0x0103", "uuid": "6d657368-666c-6565-7400-000000000103", "fwid": "59000102000000000000", "hops": 3,
      "target": { "effect": 1 } },
    { "name": "e", "address": "0x0104", "uuid": "6d657368-666c-6565-7400-000000000104", "fwid": "59000102000000000000", "hops": 1,
      "faults": { "rejects_metadata": true } },
    { "name": "f", "address": "0x0105", "uuid": "6d657368-666c-6565-7400-000000000105", "fwid": "59000102000000000000", "hops": 1 },
    { "name": "g", "address": "0x0106", "uuid": "6d657368-666c-6565-7400-000000000106", "fwid": "59000102000000000000", "hops": 2 },
    { "name": "h", "address": "0x0107", "uuid": "6d657368-666c-6565-7400-000000000107", "fwid": "59000102000000000000", "hops": 1 }
  ]
}
EOF
fleet="$MF_TMP/preflight-cdb.json"
if ! "$SIM" --scenario "$scenario" --export-cdb "$fleet" >"$MF_TMP/sim.out" 2>&1; then
	fail "meshfleet-sim --scenario --export-cdb" "$(cat "$MF_TMP/sim.out")"
	done_testing
fi
printf '[firmware]\nrequire_signature = off\n' >"$MF_TMP/lax.conf"
head -c 20000 /dev/urandom >"$MF_TMP/image.bin"

STATE=$(new_state_dir)
start_daemon_in "$STATE" --config "$MF_TMP/lax.conf" --dongle "sim:$scenario" || bail "meshfleetd did not start"
"$CTL" --url "$BASE" network import "$fleet" >/dev/null
is "$?" 0 "the scenario's network imports"
wait_for_log 'mesh: dongle configured as' || fail "the dongle is configured with the network"
req POST /api/v1/nodes/refresh
is "$STATUS" 202 "refresh the nodes"
wait_state /api/v1/nodes/refresh || fail "the refresh ends"
json_is .reachable 8 "every node answered"
is "$(db_query "SELECT group_concat(address || ':' || hops, ' ') FROM nodes ORDER BY address")" \
	"256:1 257:1 258:2 259:3 260:1 261:1 262:2 263:1" "refresh records each node's hops from its answers' TTL"
req GET "/api/v1/nodes?limit=100"
is "$(jq -r '[.nodes[] | "\(.address):\(.hops)"] | join(" ")' <<<"$BODY")" \
	"256:1 257:1 258:2 259:3 260:1 261:1 262:2 263:1" "GET /api/v1/nodes shows them"

req POST "/api/v1/firmware?format=raw&version=1.3.0&firmware_id=$IMAGE_FWID" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$MF_TMP/image.bin"
is "$STATUS" 201 "an unsigned raw image imports"
FW=$(json_value .id)
post_json /api/v1/campaigns "{\"name\":\"pf\",\"firmware\":\"$FW\",\"targets\":{\"filter\":{}},\"plan\":{\"canary\":2,\"size\":6}}"
is "$STATUS" 201 "a campaign of 8 targets: canary 2, then 6"
ID=$(json_value .id)

# --- estimate ---
req GET "/api/v1/campaigns/$ID/estimate"
is "$STATUS" 200 "GET .../estimate"
json_is .campaign "$ID" "... for the campaign"
json_is .image_size 20000 "... the image's size"
json_is .block_size 4096 "... Zephyr's default block size"
json_is .chunk_size 113 "... the largest chunk the default targets take"
json_is '.waves | length' 2 "... one entry per wave"
json_is '[.waves[].targets]' '[2,6]' "... with its targets"
json_is '.waves[0].mode' group "... the 2-target canary to the group (from 2 targets on)"
json_is '.waves[1].mode' group "... the 6-target wave to the group"
json_is '[.waves[].hops] | max' 3 "... the farthest target's recorded hops"
json_is '[.waves[].hops_unknown] | add' 0 "... no hop count unknown"
json_is '([.waves[].total_s] | add) - .total_s | fabs < 1e-6' true "total_s is the sum over the waves"
json_is '[.waves[] | (.data_phase_s + .control_s - .total_s | fabs < 1e-6)] | all' true \
	"each wave: data phase + control rounds"
json_is '.total_s > 0' true "a positive estimate"
json_is '.transfer.client_timeout_s' 120.7 "the client timeout at TTL 7, TimeoutBase 10"
like "$(json_value .bound)" 'radio-model.md' "the bound's reference"
like "$(jq -r '.assumptions | join(" | ")' <<<"$BODY")" 'Zephyr.*hops' "the assumptions listed"
req GET /api/v1/campaigns/abc/estimate
expect_error 400 invalid_parameter "estimate: a bad id"
req GET /api/v1/campaigns/0/estimate
expect_error 400 invalid_parameter "estimate: id 0"
req GET /api/v1/campaigns/999/estimate
expect_error 404 not_found "estimate: an unknown campaign"

# --- preflight: bad input changes nothing and starts nothing ---
before=$(preflight_checksum)
post_json /api/v1/campaigns/abc/preflight '{}'
expect_error 400 invalid_parameter "preflight: a bad id"
post_json /api/v1/campaigns/999/preflight '{}'
expect_error 404 not_found "preflight: an unknown campaign"
req POST "/api/v1/campaigns/$ID/preflight"
expect_error 415 unsupported_media_type "a POST without Content-Type: application/json"
post_json "/api/v1/campaigns/$ID/preflight" '{"skip_rejected":"yes"}'
expect_error 400 invalid_field "skip_rejected: a string"
post_json "/api/v1/campaigns/$ID/preflight" '{"skip":true}'
expect_error 400 unknown_field "an unknown field"
post_json "/api/v1/campaigns/$ID/preflight" '[true]'
expect_error 400 invalid_field "a body that is no object"
post_json "/api/v1/campaigns/$ID/preflight" '{"skip_rejected":'
expect_error 400 invalid_json "a body that is no JSON"
req GET /api/v1/campaigns/999/preflight
expect_error 404 not_found "GET preflight: an unknown campaign"
req DELETE "/api/v1/campaigns/$ID/preflight"
expect_error 404 not_found "DELETE preflight: none running"
is "$(preflight_checksum)" "$before" "bad requests change nothing"
req GET "/api/v1/campaigns/$ID/preflight"
is "$STATUS" 200 "GET .../preflight before any"
json_is .state idle "... idle"
json_is '.results | length' 0 "... no results"

# --- preflight, reporting only (an empty JSON body is {}) ---
# The simulated dongle is held (SIGSTOP) while both requests are made, so that the first is certainly still
# running when the second arrives; the link's retransmissions outlast the hold by far (docs/protocol.md 4.2).
sim_pid=$(pgrep -P "$DAEMON_PID" meshfleet-sim | head -n 1)
[ -n "$sim_pid" ] && kill -STOP "$sim_pid"
req POST "/api/v1/campaigns/$ID/preflight" -H 'Content-Type: application/json'
is "$STATUS" 202 "POST .../preflight: 202"
like "$(header Location)" "/api/v1/campaigns/$ID/preflight" "... with its Location"
json_is .state running "... running"
post_json "/api/v1/campaigns/$ID/preflight" '{}'
expect_error 409 preflight_running "a second one while it runs"
[ -n "$sim_pid" ] && kill -CONT "$sim_pid"
isnt "$sim_pid" "" "the simulated dongle's process was found (and held)"
wait_state "/api/v1/campaigns/$ID/preflight" || fail "the preflight ends"
json_is .state done "the preflight is done"
json_is .total 8 "8 nodes asked"
json_is .counts.success 6 "6 accept the image"
json_is .counts.metadata_check_failed 2 "2 reject it"
json_is '[.results[] | select(.status == "metadata_check_failed") | .address]' '[257,260]' "... the two rejecting"
json_is '[.results[] | select(.rejects) | .address]' '[257,260]' "... marked as rejecting"
json_is '.results[] | select(.address == 259) | .effect' composition_change "the composition change announced"
json_is '.results[] | select(.address == 256) | .effect' no_change "... and no change elsewhere"
json_is .skipped 0 "nothing skipped without skip_rejected"
req GET "/api/v1/campaigns/$ID/targets"
json_is '[.targets[] | select(.preflight.status == "metadata_check_failed") | .address]' '[257,260]' \
	"GET .../targets shows each target's preflight"
json_is '[.targets[] | select(.state == "pending")] | length' 8 "every target still pending"

# --- the results survive a restart; skip_rejected skips the rejecting nodes ---
stop_daemon_ok
start_daemon_in "$STATE" --config "$MF_TMP/lax.conf" --dongle "sim:$scenario" ||
	bail "meshfleetd did not start again"
req GET "/api/v1/campaigns/$ID/preflight"
json_is .counts.metadata_check_failed 2 "after a restart: the stored results"
wait_for_log 'mesh: dongle configured as' || fail "the dongle is configured again"
post_json "/api/v1/campaigns/$ID/preflight" '{"skip_rejected":true}'
is "$STATUS" 202 "POST .../preflight with skip_rejected"
wait_state "/api/v1/campaigns/$ID/preflight" || fail "the preflight ends"
json_is .skipped 2 "2 skipped"
json_is .skip_rejected true "... as asked"
req GET "/api/v1/campaigns/$ID/targets?state=skipped"
json_is '[.targets[] | .address]' '[257,260]' "the rejecting nodes are skipped"
json_is '[.targets[] | .reason] | unique' '["preflight_rejected"]' "... with reason preflight_rejected"
req GET "/api/v1/campaigns/$ID/estimate"
json_is '[.waves[].targets] | add' 6 "the estimate leaves the skipped targets out"
post_json "/api/v1/campaigns/$ID/preflight" '{}'
is "$STATUS" 202 "a third preflight: the 6 pending targets"
wait_state "/api/v1/campaigns/$ID/preflight" || fail "the preflight ends"
json_is .total 6 "... 6 asked"
json_is .counts.metadata_check_failed 2 "... the skipped targets' results are kept"

# --- roles, and a campaign that has ended ---
post_json /api/v1/tokens '{"name":"pf-viewer","role":"viewer"}'
viewer=$(json_value .token)
AUTH_TOKEN=$viewer post_json "/api/v1/campaigns/$ID/preflight" '{}'
is "$STATUS" 403 "a viewer cannot start a preflight"
AUTH_TOKEN=$viewer req GET "/api/v1/campaigns/$ID/estimate"
is "$STATUS" 200 "a viewer reads the estimate"
AUTH_TOKEN=$viewer req GET "/api/v1/campaigns/$ID/preflight"
is "$STATUS" 200 "... and the preflight"
req POST "/api/v1/campaigns/$ID/cancel"
is "$STATUS" 200 "cancel the campaign"
post_json "/api/v1/campaigns/$ID/preflight" '{}'
expect_error 409 invalid_state "no preflight of a cancelled campaign"
json_is .error.state cancelled "... naming its state"

stop_daemon_ok
done_testing
