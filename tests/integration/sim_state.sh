#!/usr/bin/env bash
# The simulated nodes and the simulated dongle keep their flash across daemon restarts, as real ones do:
# meshfleetd runs meshfleet-sim with --fleet-state STATE_DIR/dongle-sim.fleet and --slot-file STATE_DIR/dongle-sim.slot.
# A refresh binds the Firmware Update Server of every DFU capable node; after a restart on the same state directory
# the bindings are still there: the state file lists them, a simulator started on it exports them, and a second
# refresh finds nothing to change (the file is not written again). Also meshfleet-sim --fleet-state on its own: a
# malformed file and another network's file are refused with exit status 2.
. "$(dirname "$0")/lib.sh"
need_tools jq

CTL=${MESHFLEETCTL:-$MF_BUILDDIR/daemon/meshfleetctl}
SIM=${MESHFLEET_SIM:-$MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim}
[ -x "$CTL" ] || bail "MESHFLEETCTL='$CTL' is not an executable"
[ -x "$SIM" ] || bail "MESHFLEET_SIM='$SIM' is not an executable"
cd "$MF_TMP" || bail "cd $MF_TMP"

fleet="$MF_TMP/fleet.json"
"$SIM" --generate 20 --seed 3 --export-cdb "$fleet" >sim.out 2>&1 || bail "meshfleet-sim --generate: $(cat sim.out)"
DFU_NODES='[.nodes[] | select([.elements[0].models[].modelId] | (index("1400") and index("1402")))]'
dfu=$(jq "$DFU_NODES | length" "$fleet")
ok "$(( dfu >= 10 ? 0 : 1 ))" "the generated fleet has DFU capable nodes ($dfu)"
BODY=$(cat "$fleet")
json_is "[$DFU_NODES[] | .elements[0].models[] | select(.modelId == \"1402\") | .bind | length] | add" 0 \
	"... none of them has its Firmware Update Server bound yet"

# refresh DESC BOUND: the daemon's refresh of every node, through meshfleetctl; BODY is its result. BOUND: how
# many App Binds it sends and gets confirmed (a binding the daemon has on record is not sent again, and if the
# node had lost it, its Information Get would go unanswered and the bind would be sent after all).
refresh() {
	wait_for_log 'mesh: dongle configured as' || fail "$1: the dongle is configured with the network"
	"$CTL" --url "$BASE" nodes refresh --wait --json >refresh.json 2>refresh.err
	is "$?" 0 "$1: meshfleetctl nodes refresh --wait"
	BODY=$(cat refresh.json)
	json_is .state done "$1: the refresh is done"
	json_is .reachable 20 "$1: every node answers"
	json_is .bound "$2" "$1: $2 Firmware Update Servers bound"
	json_is .firmware_read "$dfu" "$1: ... and tells its firmware ID"
	json_is .problems 0 "$1: no problem"
}

state=$(new_state_dir)
fleet_state="$state/dongle-sim.fleet"
if start_daemon_in "$state" --dongle "sim:$fleet"; then
	"$CTL" --url "$BASE" network import "$fleet" >/dev/null 2>import.err
	is "$?" 0 "the simulator's network imports"
	refresh "first run" "$dfu"
	stop_daemon_ok "first run"
fi

# what the simulated flash holds after the first run
[ -s "$fleet_state" ]
ok $? "the nodes' state is in STATE_DIR/dongle-sim.fleet"
is "$(stat -c %a "$fleet_state" 2>&1)" 600 "... for the owner only (it holds keys)"
BODY=$(cat "$fleet_state" 2>/dev/null)
json_is .format "meshfleet-sim fleet state" "... a fleet state file"
json_is '.nodes | length' 20 "... with the 20 nodes"
json_is '[.nodes[] | select(any(.models[]; .element == 0 and .model == "0x1402" and .bindings == [0]))] | length' \
	"$dfu" "... the Firmware Update Server of each DFU capable node bound to application key 0"
is "$(stat -c %s "$state/dongle-sim.slot" 2>&1)" 1048576 "the dongle's slot is in STATE_DIR/dongle-sim.slot"
[ -s "$state/dongle-sim.slot.state" ]
ok $? "... its records (the mesh sequence number) in STATE_DIR/dongle-sim.slot.state"
before=$(stat -c '%i %y' "$fleet_state")

# a simulator started on the state file has the bindings (its CDB export shows them; it does not run, so it
# writes no state)
"$SIM" --cdb "$fleet" --seed 3 --fleet-state "$fleet_state" --export-cdb again.json >sim.out 2>&1
is "$?" 0 "meshfleet-sim --cdb --fleet-state --export-cdb: exit 0"
like "$(cat sim.out)" "fleet state: 20 nodes restored from '$(re_quote "$fleet_state")'" "... it restores the 20 nodes"
BODY=$(cat again.json)
json_is "[$DFU_NODES[] | .elements[0].models[] | select(.modelId == \"1402\") | .bind] | unique" '[[0]]' \
	"... and its export has every Firmware Update Server bound"

# the second run: the same state directory, the simulator started again by the daemon
if start_daemon_in "$state" --dongle "sim:$fleet"; then
	refresh "after a restart" 0
	stop_daemon_ok "after a restart"
fi
is "$(stat -c '%i %y' "$fleet_state")" "$before" \
	"the second refresh changed no node (their bindings survived): the state file was not written again"

# the third run: the nodes lost their configuration (the state file is gone: as if reset to the CDB's state), while
# the daemon still has the bindings on record. Their Information Get goes unanswered, so the refresh binds again.
mv "$fleet_state" "$fleet_state.kept"
if start_daemon_in "$state" --dongle "sim:$fleet"; then
	refresh "nodes that lost their bindings" "$dfu"
	stop_daemon_ok "nodes that lost their bindings"
fi
mv "$fleet_state.kept" "$fleet_state"

# --- meshfleet-sim --fleet-state on its own: bad files. With --export-cdb and without --run it reads the state and
# exits, so a file it wrongly accepts fails a test instead of leaving a simulator running. ---
cp "$fleet_state" good.fleet
sed 's/"version":1/"version":7/' good.fleet >bad-version.fleet
"$SIM" --cdb "$fleet" --seed 3 --fleet-state bad-version.fleet --export-cdb out.json >sim.out 2>sim.err
is "$?" 2 "a fleet state of another version: exit 2"
like "$(cat sim.err)" "fleet state 'bad-version.fleet': \\\$\\.version: .*remove the file" "... saying why, and what to do"
printf '{"format": "meshfleet-sim fleet state", "version": 1,' >truncated.fleet
"$SIM" --cdb "$fleet" --seed 3 --fleet-state truncated.fleet --export-cdb out.json >sim.out 2>sim.err
is "$?" 2 "a truncated fleet state: exit 2"
like "$(cat sim.err)" "fleet state 'truncated.fleet': line 1" "... with the place"
"$SIM" --generate 20 --seed 4 --fleet-state good.fleet --export-cdb out.json >sim.out 2>sim.err
is "$?" 2 "the fleet state of another network (another seed, other keys): exit 2"
like "$(cat sim.err)" "another network's state" "... as another network's"
[ ! -e out.json ]
ok $? "... nothing exported after a refused fleet state"

done_testing
