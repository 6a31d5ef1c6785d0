#!/usr/bin/env bash
# HTTP benchmark of issue "Foundation" (make bench): meshfleetd with 10,000 nodes against the ceiling of its
# design (bare-mhd: libmicrohttpd on libuv answering the same bytes) and nginx serving the same bytes, all
# measured in one run with wrk. Prints requests/s, p99 latency and ratios to bare-mhd, meshfleetd's memory,
# and one verdict line per goal. Figures, not pass/fail: the exit status is 0 whenever the benchmark ran.
# README.md beside this file says how to read the table.
#
# Environment (make bench sets the first five):
#   MESHFLEETD, BARE_MHD   the programs under test (default: found on PATH)
#   MF_SRCDIR              the source tree (for messages only)
#   WRK, NGINX             wrk and nginx (default: found on PATH, nginx also in /usr/sbin)
#   BENCH_SECONDS          length of each wrk run (default 10)
#   BENCH_ROUNDS           rounds of runs, each target in turn; the table shows medians (default 1)
#   BENCH_NODES            nodes in the database (default 10000; at most 32767)
#   BENCH_KEEP=1           keep the temporary directory (logs, bodies, wrk outputs) and print its path
set -euo pipefail

readonly GOAL_RATIO=0.70
readonly GOAL_RSS_ANON_KIB=4096
readonly CONNECTIONS=32         # meshfleetd's default max_connections_per_ip is 32: more would be refused
readonly BATCH=1000             # nodes per POST (the API's maximum)

seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-1}
n_nodes=${BENCH_NODES:-10000}

say() { printf 'bench: %s\n' "$*"; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

[[ $seconds =~ ^[1-9][0-9]{0,3}$ ]] || die "BENCH_SECONDS='$seconds' is not a whole number of seconds (1..9999)"
[[ $rounds =~ ^[1-9]$ ]] || die "BENCH_ROUNDS='$rounds' is not a number of rounds (1..9)"
[[ $n_nodes =~ ^[1-9][0-9]{0,4}$ ]] && [ "$n_nodes" -le 32767 ] ||
	die "BENCH_NODES='$n_nodes' is not a node count (1..32767)"

# --- tools ---------------------------------------------------------------------------------------------------

# find_tool VALUE NAME...: VALUE when it is set, else the first NAME found on PATH (and in /usr/sbin, /sbin).
find_tool() {
	local value=$1 name
	shift
	if [ -n "$value" ]; then
		printf '%s\n' "$value"
		return 0
	fi
	for name in "$@"; do
		PATH=$PATH:/usr/sbin:/sbin command -v "$name" 2>/dev/null && return 0
	done
	return 0
}

MESHFLEETD=$(find_tool "${MESHFLEETD:-}" meshfleetd)
BARE_MHD=$(find_tool "${BARE_MHD:-}" bare-mhd)
WRK=$(find_tool "${WRK:-}" wrk)
NGINX=$(find_tool "${NGINX:-}" nginx)
CURL=$(find_tool "" curl)
src=${MF_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

[ -n "$MESHFLEETD" ] && [ -x "$MESHFLEETD" ] ||
	die "meshfleetd not found (MESHFLEETD='${MESHFLEETD}'): run 'make bench' in a build directory, or './quickstart bench' in $src"
[ -n "$BARE_MHD" ] && [ -x "$BARE_MHD" ] ||
	die "bare-mhd not found (BARE_MHD='${BARE_MHD}'): 'make bench' builds it (make tests/bench/bare-mhd)"
[ -n "$CURL" ] || die "curl not found: apt-get install curl (or ./quickstart bench)"
[ -n "$WRK" ] && [ -x "$WRK" ] ||
	die "wrk not found: run './quickstart bench' (installs it), or 'apt-get install wrk nginx-light'"
if [ -z "$NGINX" ] || [ ! -x "$NGINX" ]; then
	say "nginx not found: the nginx rows are skipped; run './quickstart bench' or 'apt-get install nginx-light' to get them"
	NGINX=
fi

# Two cores or more: the servers on CPU 0, wrk on CPU 1, so the load generator does not steal the server's core.
server_pin=()
wrk_pin=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]; then
	server_pin=(taskset -c 0)
	wrk_pin=(taskset -c 1)
	pinning="servers on CPU 0, wrk on CPU 1"
else
	pinning="not pinned (needs taskset and 2 CPUs): wrk and the server share the CPUs"
fi

# --- processes and clean-up ----------------------------------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/meshfleet-bench.XXXXXX")
pids=()

cleanup() {
	local pid i
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		# Bounded: meshfleetd finishes in-flight requests within 4 s.
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		say "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for DESCRIPTION PID COMMAND...: polls COMMAND for at most 10 s while PID lives.
wait_for() {
	local what=$1 pid=$2 i
	shift 2
	for ((i = 0; i < 200; i++)); do
		"$@" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	say "timed out after 10 s waiting for $what"
	return 1
}

# http_status URL: prints the status code of a GET (000 when the connection fails).
http_status() {
	"$CURL" -s -o /dev/null -w '%{http_code}' --max-time 5 -H "$auth" "$1" || true
}

# --- meshfleetd with the fleet -------------------------------------------------------------------------------

mkdir -p "$tmp/state" "$tmp/www" "$tmp/wrk"
say "meshfleetd: $MESHFLEETD"
"${server_pin[@]}" "$MESHFLEETD" --state-dir "$tmp/state" --listen 127.0.0.1:0 --web-root "$src/web" \
	--log-level warning 2>"$tmp/meshfleetd.log" &
mf_pid=$!
pids+=("$mf_pid")
wait_for "meshfleetd to write $tmp/state/http.port" "$mf_pid" test -s "$tmp/state/http.port" ||
	die "meshfleetd did not start; its log: $(cat "$tmp/meshfleetd.log")"
mf_port=$(<"$tmp/state/http.port")
mf="http://127.0.0.1:$mf_port"
# The first admin token, written before the listener opened. Every request of the benchmark sends it, to the
# other servers too (they ignore it), so that all compare the same request; health needs none but gets it alike.
[ -s "$tmp/state/admin.token" ] || die "meshfleetd wrote no $tmp/state/admin.token; its log: $(cat "$tmp/meshfleetd.log")"
auth="Authorization: Bearer $(<"$tmp/state/admin.token")"

# Deterministic, realistic nodes: three vendors, a handful of products, FWIDs of vendor + version bytes, and
# one to three tags from a small vocabulary (as a site would tag by building, floor and role).
make_batch() {
	awk -v first="$1" -v last="$2" 'BEGIN {
		srand(first);
		split("89 741 1119", cids, " ");
		split("lamp sensor switch plug relay", kinds, " ");
		split("building-a building-b building-c floor-1 floor-2 floor-3 lights sensors beta canary", tags, " ");
		printf "[";
		for (a = first; a <= last; a++) {
			cid = cids[1 + a % 3];
			fwid = sprintf("%02x%02x%02x%02x%04x", cid % 256, int(cid / 256), 1 + a % 4, a % 7, int(rand() * 65536));
			uuid = sprintf("%08x%04x4%03x%04x%012x", int(rand() * 4294967296), int(rand() * 65536),
				       int(rand() * 4096), 32768 + int(rand() * 16384), a);
			ntags = 1 + a % 3;
			t = "";
			for (i = 0; i < ntags; i++)
				t = t (i ? "," : "") "\"" tags[1 + (a * 7 + i * 3) % 10] "\"";
			printf "%s{\"address\":%d,\"uuid\":\"%s\",\"name\":\"%s-%c%d-%05d\",\"company_id\":%d," \
			       "\"product_id\":%d,\"version_id\":%d,\"firmware_id\":\"%s\",\"tags\":[%s]}",
			       (a > first ? "," : ""), a, uuid, kinds[1 + a % 5], 97 + a % 3, 1 + a % 3, a, cid,
			       1 + a % 8, 1 + a % 4, fwid, t;
		}
		printf "]";
	}'
}

say "inserting $n_nodes nodes in batches of $BATCH"
for ((first = 1; first <= n_nodes; first += BATCH)); do
	last=$((first + BATCH - 1))
	[ "$last" -le "$n_nodes" ] || last=$n_nodes
	make_batch "$first" "$last" >"$tmp/batch.json"
	code=$("$CURL" -s -o "$tmp/batch.out" -w '%{http_code}' --max-time 60 -H "$auth" -H 'Content-Type: application/json' \
		--data-binary @"$tmp/batch.json" "$mf/api/v1/nodes") || true
	[ "$code" = 201 ] || die "POST of nodes $first..$last answered $code: $(head -c 400 "$tmp/batch.out")"
done

# Walk the whole inventory once, as a dashboard would, so the memory figure includes serving it.
listed=0
cursor=
while :; do
	"$CURL" -sf --max-time 30 -H "$auth" -o "$tmp/page.json" "$mf/api/v1/nodes?limit=1000${cursor:+&cursor=$cursor}" ||
		die "GET /api/v1/nodes?limit=1000 failed"
	listed=$((listed + $(grep -o '"address":' "$tmp/page.json" | wc -l)))
	cursor=$(grep -o '"next_cursor":"[^"]*"' "$tmp/page.json" | cut -d'"' -f4 || true)
	[ -n "$cursor" ] || break
done
[ "$listed" -eq "$n_nodes" ] || die "listing returned $listed nodes, expected $n_nodes"

# proc_kib PID FIELD: a "FIELD: N kB" line of /proc/PID/status, in KiB.
proc_kib() {
	awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.2f MiB", k / 1024 }'; }

rss_anon=$(proc_kib "$mf_pid" RssAnon)
rss_file=$(proc_kib "$mf_pid" RssFile)
rss_shmem=$(proc_kib "$mf_pid" RssShmem)
vm_rss=$(proc_kib "$mf_pid" VmRSS)

# The exact bodies the other servers will answer with.
"$CURL" -sf --max-time 5 -o "$tmp/www/health.json" "$mf/api/v1/health" || die "GET /api/v1/health failed"
"$CURL" -sf --max-time 5 -H "$auth" -o "$tmp/www/nodes.json" "$mf/api/v1/nodes?limit=100" ||
	die "GET /api/v1/nodes?limit=100 failed"
health_bytes=$(wc -c <"$tmp/www/health.json")
nodes_bytes=$(wc -c <"$tmp/www/nodes.json")

# --- bare-mhd --------------------------------------------------------------------------------------------------

"${server_pin[@]}" "$BARE_MHD" 0 /api/v1/health="$tmp/www/health.json" /api/v1/nodes="$tmp/www/nodes.json" \
	>"$tmp/bare-mhd.out" 2>"$tmp/bare-mhd.log" &
bare_pid=$!
pids+=("$bare_pid")
wait_for "bare-mhd to listen" "$bare_pid" grep -q 'listening on' "$tmp/bare-mhd.out" ||
	die "bare-mhd did not start: $(cat "$tmp/bare-mhd.log")"
bare_port=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$tmp/bare-mhd.out")
bare="http://127.0.0.1:$bare_port"

# --- nginx ---------------------------------------------------------------------------------------------------

nginx_conf() {
	local port=$1 dir=$tmp/nginx module
	# A root master would hand its worker to "nobody", which cannot read the private temporary directory.
	[ "$(id -u)" -ne 0 ] || echo "user root;"
	cat <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	default_type application/json;
	server_tokens off;
	etag off;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_timeout 65;
	keepalive_requests 1000000;
	client_body_temp_path $dir/body;
EOF
	# The temp paths default to /var/lib/nginx; set those of the modules this nginx was built with.
	for module in proxy fastcgi uwsgi scgi; do
		grep -q -- "--without-http_${module}_module" "$dir/version" || echo "	${module}_temp_path $dir/$module;"
	done
	cat <<EOF
	server {
		listen 127.0.0.1:$port;
		root $tmp/www;
		add_header Cache-Control no-store;
		add_header X-Content-Type-Options nosniff;
		location = /api/v1/health { try_files /health.json =404; }
		location = /api/v1/nodes { try_files /nodes.json =404; }
		location / { return 404; }
	}
}
EOF
}

answers_200() { [ "$(http_status "$1")" = 200 ]; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

nginx_url=
if [ -n "$NGINX" ]; then
	mkdir -p "$tmp/nginx"
	"$NGINX" -V >"$tmp/nginx/version" 2>&1 || true
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000))
		port_in_use "$port" && continue
		nginx_conf "$port" >"$tmp/nginx/nginx.conf"
		if ! "$NGINX" -t -q -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" \
			>"$tmp/nginx/test.log" 2>&1; then
			say "nginx rejects the generated configuration, skipping it: $(cat "$tmp/nginx/test.log")"
			break
		fi
		"${server_pin[@]}" "$NGINX" -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" \
			>"$tmp/nginx/stdout.log" 2>&1 &
		nginx_pid=$!
		pids+=("$nginx_pid")
		if wait_for "nginx to listen" "$nginx_pid" answers_200 "http://127.0.0.1:$port/api/v1/health"; then
			nginx_url="http://127.0.0.1:$port"
			break
		fi
		# Most likely another program took the port between the check and the bind: try another.
		kill -TERM "$nginx_pid" 2>/dev/null || true
		wait "$nginx_pid" 2>/dev/null || true
	done
	[ -n "$nginx_url" ] || say "nginx did not start, skipping it; its log: $(tail -n 3 "$tmp/nginx/error.log" 2>/dev/null)"
fi

# Every server must answer the same bytes, or the comparison means nothing.
check_same_bytes() {
	local server=$1 name=$2 what
	for what in health "nodes?limit=100"; do
		if ! "$CURL" -sf --max-time 5 -o "$tmp/check.json" "$server/api/v1/$what" ||
			! cmp -s "$tmp/check.json" "$tmp/www/${what%%\?*}.json"; then
			die "$name does not answer GET /api/v1/$what with the bytes captured from meshfleetd"
		fi
	done
}
check_same_bytes "$bare" bare-mhd
[ -z "$nginx_url" ] || check_same_bytes "$nginx_url" nginx

# --- wrk -------------------------------------------------------------------------------------------------------

# How much CPU other programs took during a run: the user + system time (own and of waited-for children) of
# every process but the server, this script and kernel threads (which carry our own network traffic), in ticks.
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
ncpu=$(nproc 2>/dev/null || echo 1)
other_ticks() {
	# cat skips processes that exit meanwhile, where awk would stop.
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v exclude=" $* " '{
		pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ");
		if (pid == 2 || f[2] == 2 || index(exclude, " " pid " ")) next;
		total += f[12] + f[13] + f[14] + f[15] }
		END { printf "%d\n", total }'
}
# children_of PID: the PIDs whose parent is PID (nginx's worker).
children_of() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$1" '{ pid = $1; sub(/^.*\) /, ""); if ($2 == p) print pid }'
}

# run_wrk NAME URL SERVER_PID...: runs wrk, leaves its output in $tmp/wrk/NAME and prints
# "REQ_PER_S P99_MS OTHER_PERCENT", the last being the share of all CPUs that neither wrk nor the server used.
run_wrk() {
	local name=$1 url=$2 out=$tmp/wrk/$1 self=$BASHPID o0 o1
	shift 2
	# This subshell waits for wrk, so wrk's time shows in its children's time: leave it out too.
	o0=$(other_ticks "$@" $$ "$self")
	"${wrk_pin[@]}" "$WRK" -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency -H "$auth" "$url" >"$out" 2>&1 ||
		die "wrk failed against $url: $(tail -n 5 "$out")"
	o1=$(other_ticks "$@" $$ "$self")
	awk -v other=$((o1 - o0)) -v total=$((seconds * hz * ncpu)) '
		/^Requests\/sec:/ { rps = $2 }
		$1 == "99%" {
			v = $2; unit = v; sub(/^[0-9.]+/, "", unit); v += 0;
			if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000; else if (unit == "m") v *= 60000;
			p99 = v
		}
		END {
			if (rps == "" || p99 == "") exit 1;
			printf "%s %.3f %.0f\n", rps, p99, (other > 0 ? 100 * other / total : 0)
		}' "$out" || die "cannot read requests/s and the 99% latency in wrk's output of $name: $(cat "$out")"
}

# wrk_notes NAME: socket errors and non-2xx answers worth a line under the table, from every round.
wrk_notes() {
	local out
	for out in "$tmp/wrk/$1"-*; do
		grep -E 'Socket errors|Non-2xx' "$out" | sed "s/^ */  note: ${out##*/}: /" || true
	done
}

check_daemon_alive() {
	kill -0 "$mf_pid" 2>/dev/null || die "meshfleetd died during the benchmark; its log: $(tail -n 20 "$tmp/meshfleetd.log")"
	local code
	code=$(http_status "$mf/api/v1/nodes?limit=1")
	[ "$code" = 200 ] || die "meshfleetd answers GET /api/v1/nodes?limit=1 with $code after a wrk run"
}

declare -A rps p99 other
targets=(bare-mhd meshfleetd)
[ -z "$nginx_url" ] || targets+=(nginx)
declare -A base=([bare-mhd]=$bare [meshfleetd]=$mf [nginx]=$nginx_url)
declare -A server_pids=([bare-mhd]=$bare_pid [meshfleetd]=$mf_pid)
[ -z "$nginx_url" ] || server_pids[nginx]="$nginx_pid $(children_of "$nginx_pid" | tr '\n' ' ')"
urls=(health nodes)
declare -A path=([health]=/api/v1/health [nodes]="/api/v1/nodes?limit=100")

# median: the middle of the numbers on stdin (the mean of the two middle ones for an even count).
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

say "wrk: $WRK -t1 -c$CONNECTIONS -d${seconds}s --latency, $rounds round(s); $pinning"
say "bodies: health $health_bytes bytes, nodes?limit=100 $nodes_bytes bytes (captured from meshfleetd)"
: >"$tmp/results"
for ((round = 1; round <= rounds; round++)); do
	for u in "${urls[@]}"; do
		for t in "${targets[@]}"; do
			if [ "$rounds" -eq 1 ]; then
				say "running $t ${path[$u]}"
			else
				say "running $t ${path[$u]} (round $round of $rounds)"
			fi
			# shellcheck disable=SC2086 # a list of PIDs
			result=$(run_wrk "$t-$u-$round" "${base[$t]}${path[$u]}" ${server_pids[$t]})
			echo "$t $u $result" >>"$tmp/results"
			[ "$t" != meshfleetd ] || check_daemon_alive
		done
	done
done
# Several rounds: the median req/s and p99 of each cell, and the worst interference.
for u in "${urls[@]}"; do
	for t in "${targets[@]}"; do
		rps[$t,$u]=$(awk -v t="$t" -v u="$u" '$1 == t && $2 == u { print $3 }' "$tmp/results" | median)
		p99[$t,$u]=$(awk -v t="$t" -v u="$u" '$1 == t && $2 == u { print $4 }' "$tmp/results" | median)
		other[$t,$u]=$(awk -v t="$t" -v u="$u" '$1 == t && $2 == u { print $5 }' "$tmp/results" | sort -n | tail -n 1)
	done
done

after_anon=$(proc_kib "$mf_pid" RssAnon)
after_rss=$(proc_kib "$mf_pid" VmRSS)
after_hwm=$(proc_kib "$mf_pid" VmHWM)

# --- report ----------------------------------------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

echo
printf '%-11s %-28s %10s %9s %12s %10s %8s\n' target url "req/s" "p99 ms" "req/s ratio" "p99 ratio" "other%"
noisy=0
for u in "${urls[@]}"; do
	for t in "${targets[@]}"; do
		printf '%-11s %-28s %10.0f %9.3f %12s %10s %8s\n' "$t" "GET ${path[$u]}" "${rps[$t,$u]}" "${p99[$t,$u]}" \
			"$(ratio "${rps[$t,$u]}" "${rps[bare-mhd,$u]}")" "$(ratio "${p99[$t,$u]}" "${p99[bare-mhd,$u]}")" \
			"${other[$t,$u]}"
		[ "${other[$t,$u]}" -le 5 ] || noisy=1
	done
done
for u in "${urls[@]}"; do
	for t in "${targets[@]}"; do
		wrk_notes "$t-$u"
	done
done
echo "(ratios are to bare-mhd in this run: req/s higher is better, p99 lower is better; the health body holds"
echo " uptime_s, so the other servers answer a snapshot of it, which costs them nothing meshfleetd pays;"
echo " other% is the share of all $ncpu CPUs that programs other than wrk and the server used during the run;"
echo " with BENCH_ROUNDS > 1: medians of the rounds, and the largest other%)"
[ "$noisy" = 0 ] ||
	echo "warning: other programs used more than 5% of the CPUs during some runs: those figures are noisy; run again"
echo
echo "memory: meshfleetd with $n_nodes nodes, after listing them all: RssAnon $(mib "$rss_anon"), VmRSS $(mib "$vm_rss")" \
	"(RssFile $(mib "$rss_file"), RssShmem $(mib "$rss_shmem"))"
echo "memory: meshfleetd after the wrk runs: RssAnon $(mib "$after_anon"), VmRSS $(mib "$after_rss"), VmHWM $(mib "$after_hwm")"
echo
for u in "${urls[@]}"; do
	r=$(ratio "${rps[meshfleetd,$u]}" "${rps[bare-mhd,$u]}")
	verdict=$(awk -v r="$r" -v g="$GOAL_RATIO" 'BEGIN { print (r + 0 >= g) ? "met" : "not met" }')
	echo "goal: $u ratio >= $GOAL_RATIO: $r ($verdict)"
done
verdict=$(awk -v k="$rss_anon" -v g="$GOAL_RSS_ANON_KIB" 'BEGIN { print (k <= g) ? "met" : "not met" }')
echo "goal: RssAnon <= 4 MiB with $n_nodes nodes after listing them: $(mib "$rss_anon") ($verdict)"
