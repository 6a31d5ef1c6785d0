# tests/integration/lib.sh: sourced by every integration script. TAP output, a meshfleetd per test on
# 127.0.0.1 with port 0, an HTTP client (curl) and database access (sqlite3).
#
# Environment (set by `make check`; guessed from this file's location when run by hand):
#   MESHFLEETD   the daemon binary          MF_SRCDIR   top of the source tree
#   MF_BUILDDIR  top of the build tree      MF_KEEP=1   keep the temporary directory for a post-mortem
# Set by a script that runs the daemon with HTTPS (https.sh): HTTPS_CACERT=FILE makes BASE https:// and has req
# and metric trust the CA certificate in FILE.
#
# Variables the helpers set:
#   STATE DAEMON_PID DAEMON_LOG PORT BASE   the running daemon (start_daemon)
#   ADMIN_TOKEN                             its first admin token (STATE/admin.token), also exported as
#                                           MESHFLEET_TOKEN for meshfleetctl
#   AUTH_TOKEN                              the token req sends (set to ADMIN_TOKEN by start_daemon); change it,
#                                           or send none with `AUTH_TOKEN= req ...` or req_noauth
#   STATUS BODY HEADERS                     the last response (req): status, body, path of the header dump
#   RC OUT ERR                              the last foreground run (run_meshfleetd)
# shellcheck shell=bash

set -u

_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${MF_SRCDIR:=$(cd "$_lib_dir/../.." && pwd)}"
: "${MF_BUILDDIR:=$PWD}"
: "${MESHFLEETD:=$MF_BUILDDIR/daemon/meshfleetd}"
export MF_SRCDIR MF_BUILDDIR MESHFLEETD
# Same sanitizer settings as `make check`, also when a script runs by hand.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# A test daemon must never talk to a systemd that happens to run the test suite.
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID LISTEN_FDS LISTEN_PID

READY_TIMEOUT_S=20      # bound for start-up and for stopping; a readiness wait, not a timing assertion
CURL_TIMEOUT_S=30

_t_n=0
_t_failed=0
_t_done=0
_daemon_pids=()
_daemon_logs=()

MF_TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshfleet-it.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }

# --- TAP --------------------------------------------------------------------------------------------------

# diag LINE...: each argument (and each line of it) as a TAP comment.
diag() {
	local arg line
	for arg in "$@"; do
		while IFS= read -r line; do
			printf '#   %s\n' "$line"
		done <<<"$arg"
	done
}

pass() {
	_t_n=$((_t_n + 1))
	printf 'ok %d - %s\n' "$_t_n" "$1"
}

# fail DESC [DIAGNOSTIC...]
fail() {
	_t_n=$((_t_n + 1))
	_t_failed=$((_t_failed + 1))
	printf 'not ok %d - %s\n' "$_t_n" "$1"
	shift
	[ $# -gt 0 ] && diag "$@"
	return 0
}

# skip DESC REASON
skip() {
	_t_n=$((_t_n + 1))
	printf 'ok %d - %s # SKIP %s\n' "$_t_n" "$1" "$2"
}

bail() {
	printf 'Bail out! %s\n' "$*"
	_dump_logs
	exit 1
}

# ok CONDITION-STATUS DESC: `ok $? "desc"` or `cmd; ok $? desc`
ok() {
	if [ "$1" -eq 0 ]; then pass "$2"; else fail "$2" "command status: $1"; fi
}

# is GOT EXPECTED DESC
is() {
	if [ "$1" == "$2" ]; then
		pass "$3"
	else
		fail "$3" "got: '$1'" "expected: '$2'"
	fi
}

# isnt GOT UNEXPECTED DESC
isnt() {
	if [ "$1" != "$2" ]; then
		pass "$3"
	else
		fail "$3" "got: '$1'" "expected anything else"
	fi
}

# like GOT ERE DESC  (bash regular expression; '.' also matches a newline)
like() {
	if [[ $1 =~ $2 ]]; then
		pass "$3"
	else
		fail "$3" "got: '$(_clip "$1")'" "expected to match: /$2/"
	fi
}

# unlike GOT ERE DESC
unlike() {
	if [[ $1 =~ $2 ]]; then
		fail "$3" "got: '$(_clip "$1")'" "expected not to match: /$2/ (matched '${BASH_REMATCH[0]}')"
	else
		pass "$3"
	fi
}

# json_is JQ_EXPR EXPECTED [DESC]: the expression on $BODY, strings raw, everything else as compact JSON.
json_is() {
	local got
	got=$(jq -rc "$1" <<<"$BODY" 2>&1) || got="(jq failed: $got)"
	if [ "$got" == "$2" ]; then
		pass "${3:-$1 is $2}"
	else
		fail "${3:-$1 is $2}" "got: '$(_clip "$got")'" "expected: '$2'" "body: $(_clip "$BODY")"
	fi
}

# json_value JQ_EXPR: prints the value of the expression on $BODY (raw strings).
json_value() {
	jq -rc "$1" <<<"$BODY" 2>/dev/null
}

_clip() {
	local s=$1
	if [ ${#s} -gt 600 ]; then
		printf '%s... [%d bytes]' "${s:0:600}" ${#s}
	else
		printf '%s' "$s"
	fi
}

# On failure: the tail of every daemon log that holds a warning, an error or a sanitizer report, and of the last.
_dump_logs() {
	local log last=
	[ ${#_daemon_logs[@]} -gt 0 ] && last=${_daemon_logs[-1]}
	for log in "${_daemon_logs[@]}"; do
		[ -s "$log" ] || continue
		if [ "$log" = "$last" ] || grep -Eq '^<[0-4]>|Sanitizer|runtime error' "$log"; then
			printf '# --- last lines of %s\n' "$log"
			tail -n 20 "$log" | sed 's/^/#   /'
		fi
	done
}

done_testing() {
	_t_done=1
	printf '1..%d\n' "$_t_n"
	if [ "$_t_n" -eq 0 ]; then
		echo "# no test ran"
		exit 1
	fi
	if [ "$_t_failed" -gt 0 ]; then
		echo "# $_t_failed of $_t_n failed"
		_dump_logs
		exit 1
	fi
	exit 0
}

_cleanup() {
	local status=$? pid
	for pid in "${_daemon_pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ "${MF_KEEP:-0}" = 1 ]; then
		echo "# kept $MF_TMP"
	else
		chmod -R u+rwX "$MF_TMP" 2>/dev/null
		rm -rf "$MF_TMP"
	fi
	if [ "$_t_done" = 0 ] && [ "$status" = 0 ]; then
		echo "# the script ended without done_testing"
		exit 1
	fi
	exit "$status"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ------------------------------------------------------------------------------------------------

need_tools() {
	local t
	for t in curl jq sqlite3 "$@"; do
		command -v "$t" >/dev/null 2>&1 || bail "$t is not installed (apt-get install $t, or run ./quickstart)"
	done
	[ -x "$MESHFLEETD" ] || bail "MESHFLEETD='$MESHFLEETD' is not an executable: build it first (make daemon/meshfleetd)"
}
need_tools

# --- the daemon -------------------------------------------------------------------------------------------

# new_state_dir: prints the path of a new, empty state directory.
new_state_dir() {
	mktemp -d "$MF_TMP/state.XXXXXX"
}

# True while PID is running (a zombie counts as gone).
_alive() {
	local stat
	[ -r "/proc/$1/stat" ] || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}

# start_daemon_in DIR [ARGS...]: starts meshfleetd on DIR (kept as is, e.g. for a restart) with ARGS, then waits
# until it has written DIR/http.port. Unless ARGS say otherwise it gets --listen 127.0.0.1:0 (not even that
# when MF_NO_LISTEN=1, for a listen address from a config file), --web-root SRCDIR/web and --config /dev/null
# (so an installed SYSCONFDIR/meshfleet/meshfleetd.conf cannot change what a test sees).
# Sets STATE, DAEMON_PID, DAEMON_LOG, PORT and BASE. Returns 1 (and reports a failed test) when it does not come up.
start_daemon_in() {
	local dir=$1 i a
	local has_listen=${MF_NO_LISTEN:-0} has_web=0 has_config=0
	shift
	for a in "$@"; do
		case $a in
		--listen | --listen=* | -l*) has_listen=1 ;;
		--web-root | --web-root=* | -w*) has_web=1 ;;
		--config | --config=* | -c*) has_config=1 ;;
		esac
	done
	local -a defaults=()
	[ "$has_listen" = 1 ] || defaults+=(--listen 127.0.0.1:0)
	[ "$has_web" = 1 ] || defaults+=(--web-root "$MF_SRCDIR/web")
	[ "$has_config" = 1 ] || defaults+=(--config /dev/null)
	STATE=$dir
	rm -f "$STATE/http.port"
	DAEMON_LOG=$(mktemp "$MF_TMP/daemon.XXXXXX.log")
	_daemon_logs+=("$DAEMON_LOG")
	"$MESHFLEETD" --state-dir "$STATE" "${defaults[@]}" "$@" </dev/null >>"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	_daemon_pids+=("$DAEMON_PID")
	for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
		if [ -s "$STATE/http.port" ]; then
			PORT=$(cat "$STATE/http.port")
			PORT=${PORT//[!0-9]/}
			BASE="http${HTTPS_CACERT:+s}://127.0.0.1:$PORT"
			# Written before the listener opened (the daemon's first start); kept by later starts.
			ADMIN_TOKEN=$(cat "$STATE/admin.token" 2>/dev/null)
			AUTH_TOKEN=$ADMIN_TOKEN
			MESHFLEET_TOKEN=$ADMIN_TOKEN
			export ADMIN_TOKEN MESHFLEET_TOKEN
			return 0
		fi
		_alive "$DAEMON_PID" || break
		sleep 0.05
	done
	if _alive "$DAEMON_PID"; then
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		fail "meshfleetd starts (args: $*)" "no $STATE/http.port after ${READY_TIMEOUT_S} s" \
			"log: $(cat "$DAEMON_LOG")"
	else
		wait "$DAEMON_PID"
		fail "meshfleetd starts (args: $*)" "it exited with status $?" "log: $(cat "$DAEMON_LOG")"
	fi
	return 1
}

# kill_at_exit PID: SIGKILL PID at the end of the script as the daemons are, for a helper process the script
# started in the background (e.g. a meshfleet-sim that outlives the daemons: campaign_crash.sh).
kill_at_exit() {
	_daemon_pids+=("$1")
}

# start_daemon [ARGS...]: start_daemon_in on a fresh state directory.
start_daemon() {
	start_daemon_in "$(new_state_dir)" "$@"
}

# wait_exit PID: waits (bounded) for PID, a child of this shell, to end. Sets EXIT_STATUS to its exit status, or
# to "timeout" after SIGKILLing it.
wait_exit() {
	local pid=$1 i
	for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
		_alive "$pid" || break
		sleep 0.05
	done
	if _alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		EXIT_STATUS=timeout
		return
	fi
	wait "$pid" 2>/dev/null        # no "Killed" chatter from bash in the TAP stream
	EXIT_STATUS=$?
}

# stop_daemon [SIGNAL]: sends SIGNAL (default TERM) to the daemon and waits for it to exit. Sets and returns
# DAEMON_STATUS (its exit status, or 255 after a timeout, which is reported as a failed test).
stop_daemon() {
	local sig=${1:-TERM}
	# bash reports a job killed by a signal on stderr, which would land in the TAP stream.
	{
		kill -"$sig" "$DAEMON_PID"
		wait_exit "$DAEMON_PID"
	} 2>/dev/null
	if [ "$EXIT_STATUS" = timeout ]; then
		fail "meshfleetd exits after SIG$sig within ${READY_TIMEOUT_S} s" "it had to be killed"
		DAEMON_STATUS=255
	else
		DAEMON_STATUS=$EXIT_STATUS
	fi
	return "$DAEMON_STATUS"
}

# no_sanitizer_report LOGFILE DESC
no_sanitizer_report() {
	local text
	text=$(cat "$1")
	unlike "$text" 'ERROR: AddressSanitizer|LeakSanitizer|runtime error|UndefinedBehaviorSanitizer' "$2"
}

# stop_daemon_ok [DESC]: SIGTERM, exit status 0, and a log without sanitizer reports.
stop_daemon_ok() {
	local desc=${1:-meshfleetd}
	stop_daemon TERM
	is "$DAEMON_STATUS" 0 "$desc: exits 0 on SIGTERM"
	no_sanitizer_report "$DAEMON_LOG" "$desc: no sanitizer report in the log"
	# meshfleet-sim, the daemon's child with dongle = sim, writes to the same stderr with the same prefix.
	is "$(grep -Ev '^<[0-7]>meshfleet(d|-sim): ' "$DAEMON_LOG" | head -n 5)" "" \
		"$desc: every log line starts with a syslog priority prefix"
}

# run_meshfleetd ARGS...: runs meshfleetd in the foreground (bounded: a daemon that unexpectedly starts is
# killed after READY_TIMEOUT_S, RC=124). Sets RC, OUT (stdout) and ERR (stderr).
run_meshfleetd() {
	local out err
	out=$(mktemp "$MF_TMP/out.XXXXXX")
	err=$(mktemp "$MF_TMP/err.XXXXXX")
	timeout -s KILL "$READY_TIMEOUT_S" "$MESHFLEETD" "$@" </dev/null >"$out" 2>"$err"
	RC=$?
	[ "$RC" = 137 ] && RC=124
	OUT=$(cat "$out")
	ERR=$(cat "$err")
}

# wait_for_log ERE [COUNT]: bounded wait until at least COUNT (default 1) lines of the daemon's log match ERE;
# returns 1 if that never happens.
wait_for_log() {
	local want=${2:-1} i
	for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
		[ "$(grep -Ec -- "$1" "$DAEMON_LOG")" -ge "$want" ] && return 0
		sleep 0.05
	done
	return 1
}

# log_count ERE: how many lines of the daemon's log match ERE.
log_count() {
	grep -Ec -- "$1" "$DAEMON_LOG"
}

# re_quote TEXT: TEXT with the characters special in an ERE escaped.
re_quote() {
	sed 's/[][\\.*^$+?(){}|]/\\&/g' <<<"$1"
}

# --- HTTP -------------------------------------------------------------------------------------------------

# auth_header: prints the Authorization header line for AUTH_TOKEN (nothing when it is empty).
auth_header() {
	[ -n "${AUTH_TOKEN:-}" ] && printf 'Authorization: Bearer %s' "$AUTH_TOKEN"
}

# req METHOD PATH [CURL ARGS...]: sets STATUS, BODY and HEADERS (a file with the response headers). Sends
# "Authorization: Bearer $AUTH_TOKEN" unless AUTH_TOKEN is empty.
req() {
	local method=$1 path=$2 bodyfile
	local -a _auth_args=()
	[ -n "${AUTH_TOKEN:-}" ] && _auth_args=(-H "$(auth_header)")
	shift 2
	bodyfile="$MF_TMP/body"
	HEADERS="$MF_TMP/headers"
	: >"$bodyfile"
	: >"$HEADERS"
	# curl --head prints the headers as the body; raw_http shows what a HEAD response really holds.
	local -a m=(-X "$method" -o "$bodyfile")
	[ "$method" = HEAD ] && m=(--head -o /dev/null)
	STATUS=$(curl -sS --globoff --path-as-is --max-time "$CURL_TIMEOUT_S" "${m[@]}" "${_auth_args[@]}" \
		-D "$HEADERS" -w '%{http_code}' ${HTTPS_CACERT:+--cacert "$HTTPS_CACERT"} "$@" "$BASE$path" \
		2>"$MF_TMP/curl.err")
	[ -n "$STATUS" ] || STATUS=000
	BODY=$(cat "$bodyfile")
}

# req_noauth METHOD PATH [CURL ARGS...]: req without a token.
req_noauth() {
	AUTH_TOKEN='' req "$@"
}

# post_json PATH JSON [CURL ARGS...]  /  patch_json PATH JSON [CURL ARGS...]
post_json() {
	local path=$1 data=$2
	shift 2
	req POST "$path" -H 'Content-Type: application/json' --data-binary "$data" "$@"
}
patch_json() {
	local path=$1 data=$2
	shift 2
	req PATCH "$path" -H 'Content-Type: application/json' --data-binary "$data" "$@"
}

# header NAME: the value of a response header of the last req (case-insensitive name, CR stripped).
header() {
	awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$1")" -F': ' '
		{ sub(/\r$/, "") }
		tolower($1) == n { sub(/^[^:]*: */, ""); print; exit }' "$HEADERS"
}

# expect_error STATUS CODE DESC: the last response is the API error STATUS with {"error":{"code":CODE}}.
expect_error() {
	local got_code re='^\{"error":\{"code":"([a-z_]+)","message":"([^"\\]|\\.)+"\}\}$'
	# The usual compact shape is recognised without starting jq (hundreds of cases add up); anything else
	# goes through jq: the code, or a word saying what is wrong with the error object.
	if [[ $BODY =~ $re ]]; then
		got_code=${BASH_REMATCH[1]}
	else
		got_code=$(jq -r 'if (.error.message | type) != "string" or .error.message == "" then "(no error.message)"
		else (.error.code // "(no error.code)") end' <<<"$BODY" 2>/dev/null) || got_code="(not JSON)"
	fi
	if [ "$STATUS" = "$1" ] && [ "$got_code" = "$2" ]; then
		pass "$3: $1 $2"
	else
		fail "$3: $1 $2" "got: $STATUS $got_code" "expected: $1 $2" "body: $(_clip "$BODY")"
	fi
}

# --- database ---------------------------------------------------------------------------------------------

db_file() {
	printf '%s/meshfleet.db' "$STATE"
}

# db_query SQL: runs SQL with sqlite3 on the daemon's database.
db_query() {
	sqlite3 -batch -bail "$(db_file)" "$1"
}

# db_checksum: a checksum of the contents of the node tables, to show that a request changed nothing.
db_checksum() {
	printf '.dump nodes\n.dump node_tags\n' | sqlite3 -batch "$(db_file)" | sha256sum | cut -d' ' -f1
}

# metric NAME_WITH_LABELS: the value of one sample from GET /metrics (empty when absent).
metric() {
	local text
	text=$(curl -sS --max-time "$CURL_TIMEOUT_S" -H "Authorization: Bearer ${AUTH_TOKEN:-$ADMIN_TOKEN}" \
		${HTTPS_CACERT:+--cacert "$HTTPS_CACERT"} "$BASE/metrics")
	awk -v k="$1" '
		substr($0, 1, length(k)) == k && substr($0, length(k) + 1, 1) == " " { print $2; exit }' <<<"$text"
}

# abort_upload PATH: starts a POST with "Expect: 100-continue", waits for the daemon's "100 Continue" (so the
# request has reached the handler), then closes the connection without sending the body. Returns 1 when the
# daemon did not answer 100 Continue.
abort_upload() {
	local line=
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	local auth=
	[ -n "${AUTH_TOKEN:-}" ] && auth="$(auth_header)"$'\r\n'
	printf 'POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n' \
		"$1" "$auth" >&3
	read -t "$CURL_TIMEOUT_S" -r line <&3
	exec 3>&-
	[[ $line == "HTTP/1.1 100"* ]]
}

# raw_http TEXT: sends TEXT (printf %b) on a new connection and prints everything the daemon sends back until
# it closes the connection (send "Connection: close"). Bounded by CURL_TIMEOUT_S.
raw_http() {
	timeout "$CURL_TIMEOUT_S" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf "%b" "$2" >&3; cat <&3' \
		raw_http "$PORT" "$1"
}

# --- simulated fleets ---------------------------------------------------------------------------------------

# fleet_addr I: the address of node I of a fleet_scenario(), 0x0100 + I, as the scenario writes it ("0x0107").
fleet_addr() {
	printf '0x%04X' $((0x0100 + $1))
}

# fleet_scenario N FWID DESCRIPTION [NODE_JSON [FAULTS_JSON]]: prints a meshfleet-sim scenario of N update targets
# node-0.. at fleet_addr 0.. (UUIDs made from the address), each running FWID and merged with the JSON object
# NODE_JSON (say '{"loss_rate":0.05,"target":{"verify_ms":100}}'); FAULTS_JSON maps addresses to their faults
# ('{"0x0107":{"rejects_metadata":true}}').
fleet_scenario() {
	jq -n --argjson n "$1" --arg fwid "$2" --arg d "$3" --argjson node "${4:-"{}"}" --argjson faults "${5:-"{}"}" '
	def hex4: . as $v | [range(3; -1; -1) | ($v / pow(16; .) | floor) % 16] |
		map("0123456789abcdef"[.:.+1]) | join("");
	{ description: $d,
	  nodes: [range(0; $n) | . as $i | ("0x" + ((256 + $i) | hex4 | ascii_upcase)) as $a |
		{ name: ("node-" + ($i | tostring)), address: $a,
		  uuid: ("6d657368666c65657400" + "0000" + ((256 + $i) | hex4) + "0000"), fwid: $fwid } + $node
		| if $faults[$a] then .faults = $faults[$a] else . end ] }'
}
