#!/usr/bin/env bash
# make bench-campaign: the benchmark of issue 7 ("Campaigns"). A 200-node campaign (a canary and 2 waves, policy
# immediate, a 64 KiB image, no faults, 0 % loss) run by meshfleetd against meshfleet-sim (dongle = sim:SCENARIO),
# at two simulator speeds. Prints, per run:
#   - per wave: targets, the radio model's bound (GET .../estimate, and the same model with the dongle's own SAR
#     settings from meshfleet-sim --bench of the same distribution alone, with that run's virtual time), the
#     distribution's time on the dongle's clock (virtual), the wave's time from preparing to done as measured here
#     (real time x speed), and their ratios;
#   - the daemon's CPU time per frame received from the dongle, beside its CPU per second at idle (with the same
#     polling as during the campaign) and the simulator's CPU;
#   - SQLite commits per second while a wave is transferring (median and max of 1-second windows) against the goal
#     of 2 per second;
#   - VmHWM and the largest VmRSS of meshfleetd and of meshfleet-sim during the campaign.
# Figures, not pass/fail; but it exits 1 when a campaign does not complete (or the daemon does not come up), so it
# never prints figures of a run that did not happen. tests/bench/README.md says how to read it.
#
# Environment (make bench-campaign sets the first four):
#   MESHFLEETD, MESHFLEETCTL, MESHFLEET_SIM   the programs     MF_SRCDIR   the source tree
#   BENCH_SPEEDS     simulator speeds (x real time), one run each (default "20 200")
#   BENCH_NODES      fleet size (default 200)              BENCH_IMAGE_KIB   raw image size (default 64)
#   BENCH_LOSS=RATE  also a run with this loss rate on every node (e.g. 0.05), at the first speed
#   BENCH_KEEP=1     keep the temporary directory (daemon logs, scenario, samples) and print its path
set -u

readonly GOAL_COMMITS_PER_S=2           # issue 7: at most 2 SQLite commits per second, steady, during transfer
readonly POLL_S=0.1                     # campaign polled this often: the resolution of the wave times (real s)
readonly SAMPLE_S=1                     # commits, frames and RSS sampled this often (real s)
readonly IDLE_S=3                       # real seconds of idle daemon CPU measured before each campaign
readonly CANARY=10                      # canary targets; then 2 waves of 50 % of the rest
readonly WAVE_PERCENT=50
# thresholds loose enough for a run with loss (BENCH_LOSS) to go on to the end: failures go into a retry wave
readonly SUCCESS_THRESHOLD=80
readonly ERROR_THRESHOLD=50
readonly MAX_ATTEMPTS=3
readonly READY_S=30                     # bound for the daemon to come up and for the network to be configured
# Bound on one campaign, in real seconds: this many times the radio model's bound (virtual s / speed), plus slack
# for subscriptions and uploads. A readiness wait, not a timing: a campaign that needs more is stuck.
readonly BOUND_FACTOR=20
readonly BOUND_SLACK_S=300
readonly OLD_FWID=59000100000000000000  # company 0x0059, version 1.0.0+0: every node before the campaign

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

: "${MF_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
MESHFLEETD=${MESHFLEETD:-$(command -v meshfleetd)}
MESHFLEETCTL=${MESHFLEETCTL:-$(command -v meshfleetctl)}
MESHFLEET_SIM=${MESHFLEET_SIM:-$(command -v meshfleet-sim)}
export MESHFLEET_SIM     # the daemon's dongle = sim starts this one
for prog in "$MESHFLEETD" "$MESHFLEETCTL" "$MESHFLEET_SIM"; do
	[ -n "$prog" ] && [ -x "$prog" ] ||
		die "a program is missing (MESHFLEETD='$MESHFLEETD', MESHFLEETCTL='$MESHFLEETCTL', MESHFLEET_SIM='$MESHFLEET_SIM'): run 'make bench-campaign' in a build directory"
done
. "$MF_SRCDIR/tests/bench/dist_scenario.sh"
for tool in curl jq sqlite3 awk; do
	command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install $tool)"
done

speeds=${BENCH_SPEEDS:-20 200}
n_nodes=${BENCH_NODES:-200}
image_kib=${BENCH_IMAGE_KIB:-64}
loss=${BENCH_LOSS:-}
for s in $speeds; do
	[[ $s =~ ^[1-9][0-9]{0,5}$ ]] || die "BENCH_SPEEDS='$speeds': '$s' is not a speed (1..999999)"
done
[[ $n_nodes =~ ^[1-9][0-9]{0,3}$ ]] && [ "$n_nodes" -gt "$CANARY" ] && [ "$n_nodes" -le 4096 ] ||
	die "BENCH_NODES='$n_nodes' is not a fleet size ($((CANARY + 1))..4096)"
[[ $image_kib =~ ^[1-9][0-9]{0,3}$ ]] && [ "$image_kib" -le 1000 ] ||
	die "BENCH_IMAGE_KIB='$image_kib' is not an image size (1..1000 KiB: the simulator's slot is 1 MiB)"
[ -z "$loss" ] || [[ $loss =~ ^0(\.[0-9]+)?$ ]] || die "BENCH_LOSS='$loss' is not a loss rate (0 .. 0.99)"
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/meshfleet-campaign-bench.XXXXXX") || die "mktemp failed"
daemon_pid=

stop_daemon() {
	local i
	[ -n "$daemon_pid" ] || return 0
	kill -TERM "$daemon_pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do     # bounded: the daemon stops within seconds
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}

cleanup() {
	stop_daemon
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		say "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers -------------------------------------------------------------------------------------------------

# api METHOD PATH [CURL ARGS...]: the body on stdout; fails unless the status is 2xx.
api() {
	local method=$1 path=$2
	shift 2
	curl -sS --fail-with-body --max-time 30 -X "$method" -H "Authorization: Bearer $token" "$@" "$base$path"
}

# metric TEXT NAME: one unlabelled sample of a /metrics text.
metric() {
	awk -v k="$2" '$1 == k { print $2; exit }' <<<"$1"
}

# cpu_s PID: the CPU time PID has used, in seconds: /proc/PID/schedstat's first field (ns, exact), else utime +
# stime of /proc/PID/stat (fields 14 and 15, in clock ticks of 10 ms); 0 when the process is gone.
cpu_s() {
	local stat
	if read -r stat _ </proc/"$1"/schedstat 2>/dev/null; then
		awk -v ns="$stat" 'BEGIN { printf "%.9f\n", ns / 1e9 }'
		return
	fi
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	stat=${stat##*) }
	awk -v hz="$clk_tck" '{ print ($12 + $13) / hz }' <<<"$stat"
}

# proc_kib PID FIELD: a "FIELD: N kB" line of /proc/PID/status, in KiB (0 when the process is gone).
proc_kib() {
	awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null ||
		echo 0
}

# calc EXPR [VAR=VALUE...]: awk arithmetic, printed as awk prints it.
calc() {
	local expr=$1 a
	local -a vars=()
	shift
	for a in "$@"; do
		vars+=(-v "$a")
	done
	awk "${vars[@]}" "BEGIN { print $expr }" 2>/dev/null || echo -
}

# fmt PRINTF-FORMAT VALUE: VALUE formatted, or "-" when it is not a number.
fmt() {
	if [[ $2 =~ ^-?[0-9]+(\.[0-9]*)?(e[+-]?[0-9]+)?$ ]]; then
		LC_ALL=C printf "$1" "$2"
	else
		echo -
	fi
}

# add A B: A + B, "-" when either is not a number (a figure missing from a sum makes the sum missing).
add() {
	awk -v a="$1" -v b="$2" \
		'BEGIN { if (a !~ /^-?[0-9.e+-]+$/ || b !~ /^-?[0-9.e+-]+$/ || a == "-" || b == "-") print "-"; else print a + b }'
}

# ratio A B [FORMAT]: A / B, "-" when either is not a number or B is 0.
ratio() {
	awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" \
		'BEGIN { if (a !~ /^[0-9.e+-]+$/ || b !~ /^[0-9.e+-]+$/ || b == 0) print "-"; else printf f, a / b }'
}

# wait_until DESCRIPTION COMMAND...: polls COMMAND for at most READY_S while the daemon lives.
wait_until() {
	local what=$1 i
	shift
	for ((i = 0; i < READY_S * 20; i++)); do
		"$@" && return 0
		kill -0 "$daemon_pid" 2>/dev/null || { say "meshfleetd exited while waiting for $what"; return 1; }
		sleep 0.05
	done
	say "$what: not after $READY_S s"
	return 1
}

# get FILE JQ: a figure of a meshfleet-sim --bench JSON report, or "-" when there is none.
get() {
	[ -s "$1" ] && jq -r "$2" "$1" 2>/dev/null || echo -
}

# alone_of N LOSS TIMEOUT_BASE: the same distribution (N targets at one hop, the image's size, LOSS) alone, in
# meshfleet-sim --bench's virtual time: no daemon, no pty, no wall clock. Its report also holds the bound with the
# dongle's own SAR settings. Sets alone_json to the report (once per N and LOSS; empty file when it failed).
alone_of() {
	alone_json="$tmp/alone-$1-$2.json"
	[ -e "$alone_json" ] && return 0
	dist_scenario "$1" $((image_kib * 1024)) "$2" 1 "\"timeout_base\": $3" >"$tmp/alone-$1-$2.scenario.json"
	if ! "$MESHFLEET_SIM" --bench "$tmp/alone-$1-$2.scenario.json" --bench-out "$alone_json" \
		>"$tmp/alone-$1-$2.txt" 2>"$tmp/alone-$1-$2.err"; then
		say "meshfleet-sim --bench of $1 targets failed: $(tail -n 3 "$tmp/alone-$1-$2.err")"
		: >"$alone_json"
	fi
}

row_format='%-5s %-7s %7s %9s %8s %8s %8s %8s %10s %8s %8s %6s\n'

# --- the fleet, the image --------------------------------------------------------------------------------------

# scenario RATE: N uniform DFU-capable nodes from 0x0100 at one hop, on OLD_FWID, with loss RATE.
scenario() {
	jq -n --argjson n "$n_nodes" --arg fwid "$OLD_FWID" --argjson loss "$1" '
		def hex4: . as $v | [range(3; -1; -1) | ($v / pow(16; .) | floor) % 16] |
			map("0123456789abcdef"[.:.+1]) | join("");
		{ description: "campaign_bench.sh: \($n) nodes, loss \($loss), no faults",
		  nodes: [range(0; $n) | . as $i |
			{ name: ("node-" + ($i | tostring)), address: ("0x" + ((256 + $i) | hex4 | ascii_upcase)),
			  uuid: ("6d657368666c65657400" + "0000" + ((256 + $i) | hex4) + "0000"),
			  fwid: $fwid, loss_rate: $loss } ] }'
}

head -c $((image_kib * 1024)) /dev/urandom >"$tmp/image.bin" || die "could not write the image"

# --- one run ---------------------------------------------------------------------------------------------------

# run NAME SPEED LOSS: one campaign; its figures in $tmp/NAME.*; prints its part of the report. Returns 1 when the
# campaign does not complete.
run() {
	local name=$1 speed=$2 rate=$3 dir="$tmp/$1"
	mkdir -p "$dir/state"
	scenario "$rate" >"$dir/scenario.json" || { say "$name: jq could not write the scenario"; return 1; }
	"$MESHFLEET_SIM" --scenario "$dir/scenario.json" --export-cdb "$dir/cdb.json" >"$dir/export.out" 2>&1 ||
		{ say "$name: meshfleet-sim --export-cdb: $(tail -n 3 "$dir/export.out")"; return 1; }
	printf '[firmware]\nrequire_signature = false\n' >"$dir/meshfleetd.conf"

	say "$name: $n_nodes nodes, ${image_kib} KiB, loss $rate, simulator at ${speed} x real time"
	MESHFLEET_SIM_SPEED=$speed "$MESHFLEETD" --state-dir "$dir/state" --listen 127.0.0.1:0 \
		--config "$dir/meshfleetd.conf" --dongle "sim:$dir/scenario.json" </dev/null >"$dir/daemon.log" 2>&1 &
	daemon_pid=$!
	wait_until "meshfleetd's port" test -s "$dir/state/http.port" || return 1
	port=$(tr -dc 0-9 <"$dir/state/http.port")
	base="http://127.0.0.1:$port"
	token=$(cat "$dir/state/admin.token")
	MESHFLEET_TOKEN=$token "$MESHFLEETCTL" --url "$base" network import "$dir/cdb.json" >"$dir/import.out" 2>&1 ||
		{ say "$name: network import: $(cat "$dir/import.out")"; return 1; }
	wait_until "the dongle configured with the network" grep -q 'mesh: dongle configured as' "$dir/daemon.log" ||
		return 1
	sim_pid=$(pgrep -P "$daemon_pid" | head -n 1)
	[ -n "$sim_pid" ] || { say "$name: meshfleet-sim is not running under meshfleetd"; return 1; }

	local body image_id cid
	body=$(api POST /api/v1/firmware -F "file=@$tmp/image.bin" -F format=raw -F version=2.0.0 \
		-F company_id=0x0059 -F composition_hash=0x12345678 -F elements=1) ||
		{ say "$name: image import: $body"; return 1; }
	image_id=$(jq -r .id <<<"$body")
	body=$(api POST /api/v1/campaigns -H 'Content-Type: application/json' --data-binary "{\"name\":\"bench\",
		\"firmware\":\"$image_id\",\"targets\":{\"filter\":{}},\"plan\":{\"canary\":$CANARY,
		\"percent\":$WAVE_PERCENT},\"apply\":{\"policy\":\"immediate\"},\"success_threshold\":$SUCCESS_THRESHOLD,
		\"error_threshold\":$ERROR_THRESHOLD,\"max_attempts\":$MAX_ATTEMPTS}") ||
		{ say "$name: campaign create: $body"; return 1; }
	cid=$(jq -r .id <<<"$body")
	api GET "/api/v1/campaigns/$cid/estimate" >"$dir/estimate.json" ||
		{ say "$name: estimate: $(cat "$dir/estimate.json")"; return 1; }
	local bound_s limit_s
	bound_s=$(jq .total_s "$dir/estimate.json")
	limit_s=$(calc "int(b * f / s + slack)" b="$bound_s" f=$BOUND_FACTOR s="$speed" slack=$BOUND_SLACK_S)

	# The daemon's CPU at idle, with the same polling as during the campaign: what the campaign adds is the rest.
	local c0 t0 state metrics now last_sample
	c0=$(cpu_s "$daemon_pid")
	t0=$EPOCHREALTIME
	while [ "$(calc "n - t" n="$EPOCHREALTIME" t="$t0" | cut -d. -f1)" -lt "$IDLE_S" ]; do
		api GET "/api/v1/campaigns/$cid" >/dev/null
		sleep "$POLL_S"
	done
	idle_cpu_per_s=$(calc "(c1 - c0) / (t1 - t0)" c1="$(cpu_s "$daemon_pid")" c0="$c0" t1="$EPOCHREALTIME" t0="$t0")

	metrics=$(api GET /metrics)
	local frames0 commits0 dcpu0 scpu0 start_t
	frames0=$(metric "$metrics" meshfleet_dongle_frames_in_total)
	commits0=$(metric "$metrics" meshfleet_db_commits_total)
	dcpu0=$(cpu_s "$daemon_pid")
	scpu0=$(cpu_s "$sim_pid")
	start_t=$EPOCHREALTIME
	api POST "/api/v1/campaigns/$cid/start" >/dev/null || { say "$name: the campaign does not start"; return 1; }

	# Poll: the wave states every POLL_S, each change logged with its real time and the commit counter (waves.log);
	# commits, frames and RSS every SAMPLE_S (samples.log), a 1-second window of commits counting when the same wave
	# was transferring at both of its ends (windows.log).
	local prev_waves="" waves prev_t prev_commits commits xfer prev_xfer=none elapsed
	local rss_d=0 rss_s=0 v
	printf '%s %s %s\n' "$start_t" "$commits0" "start" >"$dir/waves.log"
	: >"$dir/windows.log"
	: >"$dir/samples.log"
	prev_t=$start_t
	prev_commits=$commits0
	last_sample=$start_t
	while :; do
		now=$EPOCHREALTIME
		body=$(api GET "/api/v1/campaigns/$cid") || { say "$name: GET campaign: $body"; return 1; }
		state=$(jq -r '.state' <<<"$body")
		waves=$(jq -r '[.waves[] | "\(.index):\(.kind):\(.state)"] | join(" ")' <<<"$body")
		if [ "$waves" != "$prev_waves" ]; then
			metrics=$(api GET /metrics)
			printf '%s %s %s\n' "$now" "$(metric "$metrics" meshfleet_db_commits_total)" "$waves" >>"$dir/waves.log"
			prev_waves=$waves
		fi
		if [ "$(calc "((n - l) >= d)" n="$now" l="$last_sample" d="$SAMPLE_S")" = 1 ]; then
			metrics=$(api GET /metrics)
			commits=$(metric "$metrics" meshfleet_db_commits_total)
			xfer=none
			[[ " $waves " =~ \ ([0-9]+):[a-z]+:transferring\  ]] && xfer=${BASH_REMATCH[1]}
			[ "$xfer" != none ] && [ "$xfer" = "$prev_xfer" ] &&
				printf '%s\n' "$(calc "(c - p) / (n - t)" c="$commits" p="$prev_commits" n="$now" t="$prev_t")" \
					>>"$dir/windows.log"
			printf '%s %s %s %s\n' "$now" "$commits" "$(metric "$metrics" meshfleet_dongle_frames_in_total)" \
				"$waves" >>"$dir/samples.log"
			prev_xfer=$xfer
			prev_commits=$commits
			prev_t=$now
			last_sample=$now
			v=$(proc_kib "$daemon_pid" VmRSS)
			[ "$v" -gt "$rss_d" ] && rss_d=$v
			v=$(proc_kib "$sim_pid" VmRSS)
			[ "$v" -gt "$rss_s" ] && rss_s=$v
		fi
		case $state in
		completed) break ;;
		failed | cancelled | paused)
			say "$name: the campaign ended '$state': $(jq -r '.reason // ""' <<<"$body")"
			return 1 ;;
		esac
		elapsed=$(calc "int(n - t)" n="$now" t="$start_t")
		if [ "$elapsed" -gt "$limit_s" ]; then
			say "$name: the campaign is still '$state' after $elapsed s (bound ${bound_s} s virtual at ${speed} x:" \
				"$limit_s s allowed); waves: $waves"
			return 1
		fi
		kill -0 "$daemon_pid" 2>/dev/null || { say "$name: meshfleetd exited"; return 1; }
		sleep "$POLL_S"
	done
	local end_t
	end_t=$EPOCHREALTIME
	local dcpu1 scpu1 frames1 frames_out hwm_d hwm_s
	dcpu1=$(cpu_s "$daemon_pid")
	scpu1=$(cpu_s "$sim_pid")
	hwm_d=$(proc_kib "$daemon_pid" VmHWM)
	hwm_s=$(proc_kib "$sim_pid" VmHWM)
	metrics=$(api GET /metrics)
	frames1=$(metric "$metrics" meshfleet_dongle_frames_in_total)
	commits=$(metric "$metrics" meshfleet_db_commits_total)
	printf '%s %s end\n' "$end_t" "$commits" >>"$dir/waves.log"
	frames_out=$(metric "$metrics" meshfleet_dongle_frames_out_total)
	# the final estimate: the waves as run (a retry wave included), each with the targets it took
	api GET "/api/v1/campaigns/$cid/estimate" >"$dir/estimate.json" || { say "$name: estimate"; return 1; }
	body=$(api GET "/api/v1/campaigns/$cid")
	local ok_targets
	ok_targets=$(jq -r '.counts.succeeded // 0' <<<"$body")
	sqlite3 -readonly "$dir/state/meshfleet.db" \
		"SELECT idx, distribution_id FROM campaign_waves WHERE campaign_id = $cid ORDER BY idx" \
		>"$dir/dist_ids" 2>/dev/null || : >"$dir/dist_ids"
	# the dongle's own log (its clock: virtual ms) for the time it waited for DIST_APPLY in each wave
	api GET /api/v1/dongle/log >"$dir/dongle_log.json" 2>/dev/null || echo '{"lines": []}' >"$dir/dongle_log.json"
	stop_daemon

	# --- the report of this run ---
	local campaign_s campaign_v total_est total_bound=0 total_alone=0 total_dongle=0 total_wave=0 tb
	campaign_s=$(calc "e - s" e="$end_t" s="$start_t")
	campaign_v=$(calc "c * s" c="$campaign_s" s="$speed")
	total_est=$(jq .total_s "$dir/estimate.json")
	tb=$(jq .transfer.timeout_base "$dir/estimate.json")
	printf '\n%s: %s nodes, %s KiB image, loss %s, speed %s x; %s of %s targets succeeded (virtual seconds)\n' \
		"$name" "$n_nodes" "$image_kib" "$rate" "$speed" "$ok_targets" "$(jq -r .total <<<"$body")"
	printf "  $row_format" wave kind targets estimate bound alone dongle "x bound" "apply wait" wave "x bound" "x est"
	local idx kind targets est did dongle_ms dongle_s w0 w1 wave_s bound alone apply_wait total_wait=0
	while IFS=$'\t' read -r idx kind targets est; do
		did=$(awk -F'|' -v w="$idx" '$1 == w { print $2 }' "$dir/dist_ids")
		dongle_ms=
		[ -n "$did" ] && dongle_ms=$(grep -Eo "distribution $did: [0-9]+ of [0-9]+ targets updated in [0-9]+ ms" \
			"$dir/daemon.log" | tail -n 1 | awk '{ print $(NF - 1) }')
		dongle_s=-
		[ -n "$dongle_ms" ] && dongle_s=$(calc "m / 1000" m="$dongle_ms")
		# the wave's real time from the first poll that saw it leave pending to the first that saw it done
		w0=$(awk -v w="$idx" '{ for (i = 3; i <= NF; i++) { split($i, f, ":");
			if (f[1] == w && f[3] != "pending") { print $1; exit } } }' "$dir/waves.log")
		w1=$(awk -v w="$idx" '{ for (i = 3; i <= NF; i++) { split($i, f, ":");
			if (f[1] == w && f[3] == "done") { print $1; exit } } }' "$dir/waves.log")
		wave_s=-
		[ -n "$w0" ] && [ -n "$w1" ] && wave_s=$(calc "(b - a) * s" a="$w0" b="$w1" s="$speed")
		# from the dongle's VERIFIED to its RUNNING again on our DIST_APPLY: the engine's part inside the distribution
		apply_wait=-
		[ -n "$did" ] && apply_wait=$(jq -r --arg d "distribution $did: " '
			[.lines[] | select(.text | startswith($d))] as $l |
			([$l[] | select(.text | endswith("RUNNING -> VERIFIED")) | .uptime_ms] | first) as $v |
			([$l[] | select(.text | endswith("VERIFIED -> RUNNING")) | .uptime_ms] | first) as $a |
			if $v and $a then ($a - $v) / 1000 else "-" end' "$dir/dongle_log.json" 2>/dev/null)
		alone_of "$targets" "$rate" "$tb"
		bound=$(get "$alone_json" '.bound.total_s // "-"')
		alone=$(get "$alone_json" '.virtual_s')
		printf "  $row_format" "$idx" "$kind" "$targets" "$(fmt %.1f "$est")" "$(fmt %.1f "$bound")" \
			"$(fmt %.1f "$alone")" "$(fmt %.1f "$dongle_s")" "$(ratio "$dongle_s" "$bound")" \
			"$(fmt %.1f "$apply_wait")" "$(fmt %.1f "$wave_s")" "$(ratio "$wave_s" "$bound")" "$(ratio "$wave_s" "$est")"
		total_bound=$(add "$total_bound" "$bound")
		total_alone=$(add "$total_alone" "$alone")
		total_dongle=$(add "$total_dongle" "$dongle_s")
		total_wait=$(add "$total_wait" "${apply_wait:--}")
		total_wave=$(add "$total_wave" "$wave_s")
	done < <(jq -r '.waves[] | [.wave, .kind, .targets, .total_s] | @tsv' "$dir/estimate.json")
	printf "  $row_format" all "" "$(jq '[.waves[].targets] | add' "$dir/estimate.json")" "$(fmt %.1f "$total_est")" \
		"$(fmt %.1f "$total_bound")" "$(fmt %.1f "$total_alone")" "$(fmt %.1f "$total_dongle")" \
		"$(ratio "$total_dongle" "$total_bound")" "$(fmt %.1f "$total_wait")" "$(fmt %.1f "$total_wave")" "$(ratio "$total_wave" "$total_bound")" \
		"$(ratio "$total_wave" "$total_est")"
	printf '  campaign: start to completed %s s real = %s s virtual at %s x: %s x the bound, %s x the estimate;\n' \
		"$(fmt %.1f "$campaign_s")" "$(fmt %.1f "$campaign_v")" "$speed" "$(ratio "$campaign_v" "$total_bound")" \
		"$(ratio "$campaign_v" "$total_est")"
	printf '    in the waves outside the distributions %s s, between the waves %s s (virtual)\n' \
		"$(fmt %.1f "$(calc "w - d" w="$total_wave" d="$total_dongle")")" \
		"$(fmt %.1f "$(calc "c - w" c="$campaign_v" w="$total_wave")")"

	local frames dcpu_s scpu_s idle_part
	frames=$((frames1 - frames0))
	dcpu_s=$(calc "b - a" a="$dcpu0" b="$dcpu1")
	scpu_s=$(calc "b - a" a="$scpu0" b="$scpu1")
	idle_part=$(calc "i * c" i="$idle_cpu_per_s" c="$campaign_s")
	local us_frame us_frame_net
	us_frame=$(calc "c * 1e6 / f" c="$dcpu_s" f="$frames")
	us_frame_net=$(calc "(c - i) * 1e6 / f" c="$dcpu_s" i="$idle_part" f="$frames")
	printf '  daemon CPU: %s s for %s frames received from the dongle (%s sent): %s us per frame received;\n' \
		"$(fmt %.2f "$dcpu_s")" "$frames" "$((frames_out))" "$(fmt %.1f "$us_frame")"
	printf '    at idle with the same polling %s ms per s, so %s s of it: %s us per frame without that\n' \
		"$(fmt %.2f "$(calc "i * 1000" i="$idle_cpu_per_s")")" "$(fmt %.2f "$idle_part")" \
		"$(fmt %.1f "$us_frame_net")"
	printf '  simulator CPU: %s s (%s x the daemon'"'"'s); share of one CPU over the campaign: daemon %s %%, simulator %s %%\n' \
		"$(fmt %.2f "$scpu_s")" "$(ratio "$scpu_s" "$dcpu_s")" \
		"$(fmt %.1f "$(calc "d * 100 / c" d="$dcpu_s" c="$campaign_s")")" \
		"$(fmt %.1f "$(calc "d * 100 / c" d="$scpu_s" c="$campaign_s")")"
	local n_windows median max
	n_windows=$(wc -l <"$dir/windows.log")
	median=$(sort -g "$dir/windows.log" | awk '{ v[NR] = $1 } END { if (NR == 0) print "-";
		else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	max=$(sort -g "$dir/windows.log" | tail -n 1)
	printf '  SQLite commits while a wave transfers: median %s/s, max %s/s over %s windows of %s s (real time); goal <= %s/s:\n' \
		"$(fmt %.2f "$median")" "$(fmt %.2f "${max:--}")" "$n_windows" "$SAMPLE_S" "$GOAL_COMMITS_PER_S"
	printf '    median %s, max %s x the goal; %s commits in the whole campaign\n' \
		"$(ratio "$median" "$GOAL_COMMITS_PER_S")" "$(ratio "${max:--}" "$GOAL_COMMITS_PER_S")" \
		"$((commits - commits0))"
	# the commits of each interval between two observed changes, by the state of the wave in progress then
	printf '  commits by wave state (all waves): %s\n' "$(awk '
		function phase(    i, f) {
			for (i = 3; i <= NF; i++) {
				if (split($i, f, ":") == 3 && f[3] != "pending" && f[3] != "done")
					return f[3]
			}
			return $3 == "start" ? "starting" : "between waves"
		}
		NR > 1 { c[p] += $2 - c0; t[p] += $1 - t0 }
		{ p = phase(); c0 = $2; t0 = $1; if (!(p in seen)) { seen[p] = 1; order[++n] = p } }
		END {
			for (i = 1; i <= n; i++)
				if (order[i] in c)
					printf "%s%s %d in %.1f s", (i > 1 ? ", " : ""), order[i], c[order[i]], t[order[i]]
		}' "$dir/waves.log")"
	printf '  memory: meshfleetd VmHWM %s MiB, VmRSS up to %s MiB; meshfleet-sim VmHWM %s MiB, VmRSS up to %s MiB\n' \
		"$(fmt %.2f "$(calc "k / 1024" k="$hwm_d")")" "$(fmt %.2f "$(calc "k / 1024" k="$rss_d")")" \
		"$(fmt %.2f "$(calc "k / 1024" k="$hwm_s")")" "$(fmt %.2f "$(calc "k / 1024" k="$rss_s")")"
	[ "$rate" = 0 ] && fits+=("$speed $campaign_v $total_bound $total_alone")
	summary+=("$(printf "$summary_format" "$name" "$speed" "$(ratio "$total_alone" "$total_bound")" \
		"$(ratio "$total_dongle" "$total_bound")" "$(ratio "$total_wave" "$total_bound")" \
		"$(ratio "$campaign_v" "$total_bound")" "$(ratio "$campaign_v" "$total_est")" "$(fmt %.1f "$us_frame")" \
		"$(fmt %.2f "$median")" "$(fmt %.2f "${max:--}")" "$(fmt %.1f "$(calc "k / 1024" k="$hwm_d")")" \
		"$(fmt %.1f "$(calc "k / 1024" k="$hwm_s")")")")
	return 0
}

summary=()
fits=()         # "speed campaign_virtual_s bound_s alone_s" of each run at 0 % loss
summary_format='%-12s %6s %7s %7s %7s %9s %7s %9s %9s %7s %8s %8s'
say "a campaign of $n_nodes nodes ($CANARY canary, then 2 waves of $WAVE_PERCENT %), $image_kib KiB, at ${speeds// /, } x real time"
status=0
for s in $speeds; do
	run "speed$s" "$s" 0 || { status=1; stop_daemon; say "speed$s: the campaign did not complete: no figures for it"; }
done
if [ -n "$loss" ]; then
	first=${speeds%% *}
	run "loss$loss" "$first" "$loss" || { status=1; stop_daemon; say "loss$loss: the campaign did not complete"; }
fi
if [ ${#summary[@]} -gt 0 ]; then
	printf '\nsummary (ratios to the bound with the dongle'"'"'s SAR settings, and to GET .../estimate):\n'
	printf "$summary_format\n" run speed alone dongle waves campaign "x est" "us/frame" "commits/s" max \
		"HWM MiB" "sim MiB"
	printf '%s\n' "${summary[@]}"
	if [ ${#fits[@]} -ge 2 ]; then
		# The daemon's steps run in real time, so in virtual time they grow with the speed: campaign = a + b x speed.
		# Through the first two runs, at speed 1: what the campaign would take on a real mesh.
		read -r s1 v1 bound alone1 <<<"${fits[0]}"
		read -r s2 v2 _ _ <<<"${fits[1]}"
		if [ "$s1" != "$s2" ]; then
			v=$(calc "v1 + (v2 - v1) / (s2 - s1) * (1 - s1)" v1="$v1" v2="$v2" s1="$s1" s2="$s2")
			printf 'at speed 1 (campaign time linear in the speed, through the %s x and %s x runs): %s s, %s x the bound, %s x the distributions alone\n' \
				"$s1" "$s2" "$(fmt %.0f "$v")" "$(ratio "$v" "$bound")" "$(ratio "$v" "$alone1")"
		fi
	fi
	printf 'goal (issue 7): <= %s SQLite commits per second, steady, during transfer: the commits/s columns (median, max)\n' \
		"$GOAL_COMMITS_PER_S"
fi
exit "$status"
