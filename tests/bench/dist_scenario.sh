# dist_scenario N IMAGE_SIZE LOSS HOPS [BENCH_FIELDS [NODE_FIELDS [RADIO_FIELDS]]]: prints a meshfleet-sim scenario with N update
# targets (addresses from 0x0100), each LOSS and HOPS, their BLOB Transfer and Firmware Update Servers subscribed
# to the group 0xC000 (and every model bound to the learned application key, the scenario default), and a "bench"
# object with IMAGE_SIZE and the extra BENCH_FIELDS (JSON members, e.g. '"sequential": true'). NODE_FIELDS are added
# to every node; RADIO_FIELDS (e.g. '"relays_per_level": 8') make a "radio" object. Sourced by tests/bench/dist_bench.sh and tests/integration/sim_bench.sh.
dist_scenario() {
	local n=$1 image=$2 loss=$3 hops=$4 bench=${5:-} node=${6:-} radio=${7:-} i sep=''

	printf '{ "description": "%s update targets, %s bytes, loss %s, %s hops",\n' "$n" "$image" "$loss" "$hops"
	[ -n "$radio" ] && printf '  "radio": { %s },\n' "$radio"
	printf '  "bench": { "image_size": %s%s },\n  "nodes": [\n' "$image" "${bench:+, $bench}"
	for ((i = 0; i < n; i++)); do
		printf '%s    { "address": %d, "uuid": "6d657368666c656574%014x", "fwid": "59000100000000000000", ' \
			"$sep" $((0x0100 + i)) $((0x0100 + i))
		printf '"hops": %s, "loss_rate": %s%s, "subscriptions": [ { "model": "0x1400", "address": "0xC000" }, ' \
			"$hops" "$loss" "${node:+, $node}"
		printf '{ "model": "0x1402", "address": "0xC000" } ] }'
		sep=$',\n'
	done
	printf '\n  ]\n}\n'
}
