#!/usr/bin/env bash
# meshfleet-sim's fleets as Mesh Configuration Databases, through the binary: --generate with --export-cdb is a
# one-shot command whose output depends on the seed alone; an export read back with --cdb exports the same bytes;
# the public CDB samples load; a bad CDB is refused with its JSON path and exit status 2; conflicting options too;
# --export-cdb with --run writes the file and then runs.
. "$(dirname "$0")/lib.sh"

: "${MESHFLEET_SIM:=$MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim}"
[ -x "$MESHFLEET_SIM" ] || bail "MESHFLEET_SIM='$MESHFLEET_SIM' is not an executable"
samples="$MF_SRCDIR/../shared/testdata/mesh-cdb"
cd "$MF_TMP" || bail "cd $MF_TMP"

# sim ARGS...: runs the simulator to its end; RC, OUT and ERR as run_meshfleetd sets them.
sim() {
	"$MESHFLEET_SIM" "$@" >sim.out 2>sim.err
	RC=$?
	OUT=$(cat sim.out)
	ERR=$(cat sim.err)
}

sim --generate 50 --seed 1 --export-cdb a.json
is "$RC" 0 "--generate 50 --seed 1 --export-cdb: exit 0"
is "$OUT" "" "... nothing on stdout (no pty: it does not run)"
like "$ERR" "the CDB of the 50 nodes is in 'a.json'" "... says where the file is"
is "$(stat -c %a a.json)" 600 "... the file, which holds the keys, is for its owner only"
BODY=$(cat a.json)
json_is '.nodes | length' 50 "... 50 nodes"
json_is '[.nodes[] | select(.name | test("^switch-"))] | length' 2 "... two switches"
json_is '[.nodes[].elements[0].models[] | select(.modelId == "1402")] | length' 48 \
	"... 48 nodes with a Firmware Update Server"
json_is '[.nodes[].elements[].models[] | select(.modelId == "1402" or .modelId == "1400") | .bind + .subscribe
	| length] | add' 0 "... the DFU models neither bound nor subscribed"
json_is '[.nodes[] | .appKeys | length] | unique' '[1]' "... every node holds the application key"

sim --generate 50 --seed 1 --export-cdb b.json
cmp -s a.json b.json
ok $? "the same seed again: a byte-identical file"
sim --generate 50 --seed 2 --export-cdb c.json
! cmp -s a.json c.json
ok $? "another seed: another file"

sim --cdb a.json --seed 1 --export-cdb d.json
is "$RC" 0 "--cdb of the export, --export-cdb: exit 0"
cmp -s a.json d.json
ok $? "... the same file again"

sim --export-cdb builtin.json
is "$RC" 0 "the built-in fleet's export: exit 0"
BODY=$(cat builtin.json)
json_is '.nodes | length' 5 "... its five nodes"
json_is '.appKeys | length' 1 "... an application key (the scenario names none: from the seed)"

for f in coral_Sample1_brian_and_mary.json coral_Sample2.json; do
	if [ -f "$samples/$f" ]; then
		sim --cdb "$samples/$f" --export-cdb "out-$f"
		is "$RC" 0 "the public sample $f loads and exports"
	else
		skip "the public sample $f" "not in $samples"
	fi
done

cat >bad.json <<'EOF'
{ "$schema": "http://json-schema.org/draft-04/schema#",
  "id": "https://www.bluetooth.com/specifications/specs/mesh-cdb-1-0-1-schema.json#", "version": "1.0.1",
  "meshUUID": "EEA2AF76-3EAB-49A7-8C2A-11E4B93406EC", "meshName": "bad", "timestamp": "2024-01-01T00:00:00Z",
  "netKeys": [ { "name": "n", "index": 0, "key": "0011", "phase": 0, "minSecurity": "secure",
                 "timestamp": "2024-01-01T00:00:00Z" } ],
  "appKeys": [], "provisioners": [], "nodes": [], "groups": [], "scenes": [] }
EOF
sim --cdb bad.json
is "$RC" 2 "a CDB with a short network key: exit 2"
like "$ERR" 'bad\.json.*\$\.netKeys\[0\]\.key' "... the message names the file and the JSON path"
sim --cdb missing.json
is "$RC" 2 "a missing CDB file: exit 2"
sim --cdb a.json --generate 3
is "$RC" 2 "--cdb and --generate together: exit 2"
like "$ERR" "one fleet at a time" "... says why"
sim --loss 0.1
is "$RC" 2 "--loss without --cdb or --generate: exit 2"
sim --generate 0
is "$RC" 2 "--generate 0: exit 2"

# --run: the file first, then the simulator runs (and prints its pty line)
"$MESHFLEET_SIM" --generate 5 --seed 3 --export-cdb run.json --run >run.out 2>run.err &
pid=$!
for _ in $(seq 1 100); do
	grep -q '^pty: ' run.out 2>/dev/null && break
	sleep 0.1
done
like "$(cat run.out)" '^pty: /dev/' "--export-cdb with --run: it runs"
[ -s run.json ]
ok $? "... after writing the file"
kill -TERM "$pid"
wait "$pid"
is "$?" 0 "... and stops on SIGTERM with exit 0"

done_testing
