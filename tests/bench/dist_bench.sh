#!/usr/bin/env bash
# make bench-dist: one distribution of 100 kB and 300 kB to 1, 10, 100 and 1,000 targets with meshfleet-sim --bench
# (virtual time, Zephyr's radio defaults, one hop), each beside the legacy baseline measured in the same run (one
# unicast distribution per target, one after the other: "sequential": true); then 100 targets at 5 % and 20 % loss
# and over 3 hops with relays. Prints a table: virtual minutes, the ratio to radio_bound() for the same parameters,
# the ratio to 1 target, the speed-up over the sequential baseline, the control-round share, the simulator's speed;
# then the issue's goals against the figures. Figures, not pass/fail (tests/bench/README.md).
#
# Every cell uses the daemon's campaign default TimeoutBase 10 (BENCH_TIMEOUT_BASE=N for another) and, over 3 hops,
# one relay per 16 targets per level (relays_of). The report gives the time per phase (JSON "phases").
#
# BENCH_FULL=1 adds the 1,000 x 300 kB cells (and its sequential baseline: 1,000 distributions); BENCH_OUT=DIR keeps
# the scenarios and JSON reports (default: a temporary directory, removed). BENCH_SEED=N (default 1).
set -u
: "${MESHFLEET_SIM:?set MESHFLEET_SIM to the meshfleet-sim binary}"
: "${MF_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$MF_SRCDIR/tests/bench/dist_scenario.sh"
command -v jq >/dev/null || { echo "dist_bench.sh needs jq"; exit 1; }

seed=${BENCH_SEED:-1}
if [ -n "${BENCH_OUT:-}" ]; then
	out=$BENCH_OUT
	mkdir -p "$out" || exit 1
else
	out=$(mktemp -d) || exit 1
	trap 'rm -rf "$out"' EXIT
fi

# The host's campaign default TimeoutBase (daemon: 10, client timeout 120 s + 100 ms x TTL), not the scenario's 2:
# the bench measures what a campaign does.
timeout_base=${BENCH_TIMEOUT_BASE:-10}

# relays_of N HOPS: relay advertisers per level of a multi-hop cell: one relay per 16 targets (every target sits at
# the last level; a building with 1,000 nodes has dozens of relays per floor, not one), at most 64; 1 at one hop.
relays_of() {
	local n=$1 hops=$2 r

	[ "$hops" -le 1 ] && { echo 1; return; }
	r=$(( (n + 15) / 16 ))
	[ "$r" -gt 64 ] && r=64
	echo "$r"
}

# cell NAME N IMAGE LOSS HOPS [BENCH_FIELDS]: runs one --bench; its report in $out/NAME.json. Returns its status.
cell() {
	local name=$1 n=$2 image=$3 loss=$4 hops=$5 fields="\"timeout_base\": $timeout_base${6:+, $6}"

	dist_scenario "$n" "$image" "$loss" "$hops" "$fields" "" "\"relays_per_level\": $(relays_of "$n" "$hops")" \
		> "$out/$name.scenario.json"
	if ! "$MESHFLEET_SIM" --bench "$out/$name.scenario.json" --seed "$seed" --bench-out "$out/$name.json" \
		> "$out/$name.txt" 2> "$out/$name.err"; then
		echo "meshfleet-sim --bench failed for $name: $(tail -n 3 "$out/$name.err")" >&2
		rm -f "$out/$name.json"
		return 1
	fi
}

# get NAME JQ: a figure of a report, or "-" when the cell did not run
get() {
	[ -f "$out/$1.json" ] && jq -r "$2" "$out/$1.json" || echo -
}

sizes="102400 307200"
counts="1 10 100 1000"
rows=()
echo "meshfleet-sim --bench, seed $seed, Zephyr radio defaults; running the matrix..." >&2
for image in $sizes; do
	for n in $counts; do
		name="n${n}_${image}"
		if [ "$n" = 1000 ] && [ "$image" = 307200 ] && [ "${BENCH_FULL:-0}" != 1 ]; then
			rows+=("$name|$n|$image|0|1|skipped (BENCH_FULL=1)")
			continue
		fi
		cell "$name" "$n" "$image" 0 1
		cell "${name}_seq" "$n" "$image" 0 1 '"sequential": true'
		rows+=("$name|$n|$image|0|1|")
	done
done
for loss in 0.05 0.2; do
	for n in 100 1000; do
		name="n${n}_102400_loss${loss}"
		cell "$name" "$n" 102400 "$loss" 1
		rows+=("$name|$n|102400|$loss|1|")
	done
done
for n in 100 1000; do
	name="n${n}_102400_hops3"
	cell "$name" "$n" 102400 0 3
	cell "${name}_seq" "$n" 102400 0 3 '"sequential": true'
	rows+=("$name|$n|102400|0|3|")
done

printf '\n%-6s %-7s %-5s %-4s %9s %9s %8s %8s %10s %8s %8s %9s %10s\n' targets image loss hops "virt min" \
	"bound min" "x bound" "x 1 tgt" "seq min" "speed-up" "control" "ok" "x real"
for row in "${rows[@]}"; do
	IFS='|' read -r name n image loss hops note <<< "$row"
	if [ -n "$note" ]; then
		printf '%-6s %-7s %-5s %-4s %s\n' "$n" "$((image / 1024))kB" "$loss" "$hops" "$note"
		continue
	fi
	one="n1_${image}"   # the ratio to 1 target: the same image, one hop
	v=$(get "$name" '.virtual_s')
	one_v=$(get "$one" '.virtual_s')
	seq_v=$(get "${name}_seq" '.virtual_s')
	printf '%-6s %-7s %-5s %-4s %9s %9s %8s %8s %10s %8s %8s %9s %10s\n' "$n" "$((image / 1024))kB" "$loss" "$hops" \
		"$(get "$name" '(.virtual_s / 60 * 100 | round) / 100')" \
		"$(get "$name" '(.bound.total_s // 0) / 60 * 100 | round / 100')" \
		"$(get "$name" '.bound.ratio // "-" | if type == "number" then (. * 1000 | round) / 1000 else . end')" \
		"$(awk -v a="$v" -v b="$one_v" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f", a / b }')" \
		"$(awk -v a="$seq_v" 'BEGIN { if (a == "-") print "-"; else printf "%.1f", a / 60 }')" \
		"$(awk -v a="$seq_v" -v b="$v" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.1f", a / b }')" \
		"$(get "$name" '(.control_share * 1000 | round) / 10 | tostring + " %"')" \
		"$(get "$name" '"\(.ok)/\(.targets)"')" \
		"$(get "$name" '.wall.speed | round')"
done

echo
echo "Goals (issue 6):"
ratio1000=$(awk -v a="$(get n1000_102400 .virtual_s)" -v b="$(get n1_102400 .virtual_s)" \
	'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.3f", a / b }')
echo "  1,000 targets <= 1.3 x the time of 1 target (100 kB): $ratio1000"
for image in $sizes; do
	for n in $counts; do
		r=$(get "n${n}_${image}" '.bound.ratio // "-"')
		[ "$r" = - ] && continue
		echo "  <= 1.25 x the bound at 0 % loss, $n targets x $((image / 1024)) kB: $(printf '%.3f' "$r")"
	done
done
for n in 100 1000; do
	echo "  every reachable target finishes at 20 % loss, $n targets:" \
		"$(get "n${n}_102400_loss0.2" '"\(.ok) of \(.targets) ok"')"
done
echo "  simulator >= 1,000 x real time for 100 targets: $(get n100_102400 '.wall.speed | round') x (this build)"
[ -n "${BENCH_OUT:-}" ] && echo "Reports and scenarios: $out"
exit 0
