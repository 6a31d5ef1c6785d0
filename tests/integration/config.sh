#!/usr/bin/env bash
# The configuration file: what a valid file changes, how each kind of bad file stops start-up (exit 1,
# "FILE:LINE: reason"), command-line overrides, and SIGHUP reloads.
set -u
. "$(dirname "$0")/lib.sh"

# conf NAME TEXT: writes TEXT (printf %b, so \n and \r work) to a file and prints its path.
conf() {
	local f="$MF_TMP/$1.conf"
	printf '%b' "$2" >"$f"
	printf '%s' "$f"
}

# bad_config NAME TEXT LINE REASON-ERE: start-up with this file fails with exit 1 and "<3>meshfleetd: FILE:LINE: REASON".
bad_config() {
	local name=$1 f state="$MF_TMP/state-never-$1"
	f=$(conf "$name" "$2")
	run_meshfleetd --config "$f" --state-dir "$state" --listen 127.0.0.1:0
	is "$RC" 1 "bad config ($name): exit status 1"
	like "$ERR" "(^|
)<3>meshfleetd: $(re_quote "$f"):$3: $4" "bad config ($name): the error names file, line $3 and the reason"
	[ -e "$state" ]
	is $? 1 "bad config ($name): nothing started (no state directory)"
}

# --- a valid file is honoured ---
good=$(conf good '# a comment\n; another comment\n\n[daemon]\nlog_level = "warning"\r\ndongle = sim\n\n  [http]  \nmax_body_bytes = 2048\n  connection_timeout_s=60\nmax_connections_per_ip = 0\nmax_connections = "4096"\n')
if start_daemon --config "$good"; then
	req GET /api/v1/health
	is "$STATUS" 200 "valid config: the daemon serves"
	json_is .dongle.spec sim "valid config: daemon.dongle is used"
	pad=$(printf '%*s' 2100 '')
	post_json /api/v1/nodes "{\"address\":1}$pad"
	expect_error 413 payload_too_large "valid config: http.max_body_bytes = 2048 limits a 2113-byte body"
	pad=$(printf '%*s' 1900 '')
	post_json /api/v1/nodes "{\"address\":1}$pad"
	is "$STATUS" 201 "valid config: a 1913-byte body is under http.max_body_bytes = 2048"
	stop_daemon_ok "valid config"
	log=$(cat "$DAEMON_LOG")
	unlike "$log" '(^|
)<[67]>' "valid config: log_level = \"warning\" (quoted, CRLF line) hides info lines"
fi

# The shipped sample (everything commented out) is a valid file.
if start_daemon --config "$MF_SRCDIR/daemon/meshfleetd.conf.sample"; then
	req GET /api/v1/health
	is "$STATUS" 200 "daemon/meshfleetd.conf.sample is accepted"
	stop_daemon_ok "sample config"
fi

# --- the command line overrides the file ---
filestate="$MF_TMP/state-from-file"
override=$(conf override "[daemon]\nstate_dir = $filestate\nlog_level = err\ndongle = auto\n[http]\nlisten = 203.0.113.7:0\nweb_root = /nonexistent\n")
run_meshfleetd --config "$override" --state-dir "$MF_TMP/state-listen-from-file"
is "$RC" 1 "the file's http.listen is used when no --listen is given (203.0.113.7 is not local: exit 1)"
like "$ERR" "cannot listen on 203\.0\.113\.7:0" "the file's http.listen is named in the error"
if start_daemon --config "$override" --log-level info --dongle none; then
	req GET /api/v1/health
	is "$STATUS" 200 "--listen overrides the file's http.listen"
	json_is .dongle.spec none "--dongle overrides the file's daemon.dongle"
	req GET /
	is "$STATUS" 200 "--web-root overrides the file's http.web_root"
	like "$(cat "$DAEMON_LOG")" '(^|
)<6>meshfleetd: [^
]*listening on' "--log-level info overrides the file's log_level = err"
	stop_daemon_ok "overridden config"
	[ -e "$filestate" ]
	is $? 1 "--state-dir overrides the file's daemon.state_dir (that one was never created)"
fi

# --- bad files stop start-up ---
bad_config unknown-key '[http]\nlisten = 127.0.0.1:0\nfoo = 1\n' 3 "unknown key 'foo' in section \[http\]"
bad_config key-wrong-section '[daemon]\nmax_body_bytes = 4096\n' 2 "unknown key 'max_body_bytes' in section \[daemon\]"
bad_config unknown-section '[daemon]\nlog_level = info\n\n[bogus]\n' 4 'unknown section \[bogus\]'
bad_config malformed-section '[http\nlisten = 127.0.0.1:0\n' 1 "malformed section header"
bad_config outside-section '# settings\nlog_level = info\n[daemon]\n' 2 "key 'log_level' outside a section"
bad_config bad-integer '[http]\nmax_connections = abc\n' 2 "bad value 'abc' for max_connections: expected an integer from 1 to 4096"
bad_config negative '[http]\nmax_connections = -1\n' 2 "bad value '-1' for max_connections: expected an integer from 1 to 4096"
bad_config too-big '[http]\nmax_connections = 4097\n' 2 "bad value '4097' for max_connections: expected an integer from 1 to 4096"
bad_config zero '[http]\nconnection_timeout_s = 0\n' 2 "bad value '0' for connection_timeout_s: expected an integer from 1 to 3600"
bad_config body-too-small '[http]\n\nmax_body_bytes = 1023\n' 3 "bad value '1023' for max_body_bytes: expected an integer from 1024 to 67108864"
bad_config body-too-large '[http]\nmax_body_bytes = 67108865\n' 2 "bad value '67108865' for max_body_bytes: expected an integer from 1024 to 67108864"
bad_config huge-integer '[http]\nmax_connections = 99999999999999999999999\n' 2 "bad value '9+' for max_connections"
bad_config empty-integer '[http]\nmax_connections =\n' 2 "bad value '' for max_connections"
bad_config bad-log-level '[daemon]\nlog_level = verbose\n' 2 "bad value 'verbose' for log_level"
bad_config bad-listen '[http]\nlisten = localhost\n' 2 "bad value 'localhost' for listen"
bad_config bad-dongle '[daemon]\ndongle = bluetooth\n' 2 "bad value 'bluetooth' for dongle"
bad_config empty-path '[daemon]\nstate_dir = ""\n' 2 "empty value for state_dir"
bad_config duplicate '[http]\nmax_connections = 8\n\nmax_connections = 9\n' 4 "duplicate key 'max_connections' in section \[http\]"
bad_config duplicate-other-block '[http]\nlisten = 127.0.0.1:0\n[daemon]\n[http]\nlisten = 127.0.0.1:0\n' 5 "duplicate key 'listen'"
bad_config no-equals '[http]\nmax_connections 8\n' 2 "expected 'key = value', got 'max_connections 8'"
bad_config no-key '[http]\n= 8\n' 2 "missing key name"
bad_config unterminated '[daemon]\nstate_dir = "/tmp/x\n' 2 "unterminated quoted value for state_dir"
bad_config lone-quote '[daemon]\nstate_dir = "\n' 2 "unterminated quoted value for state_dir"
long=$(printf 'x%.0s' {1..1100})
bad_config long-line "[daemon]\n# $long\n" 2 "line longer than 1024 bytes"

missing="$MF_TMP/does-not-exist.conf"
run_meshfleetd --config "$missing" --state-dir "$MF_TMP/state-never-missing" --listen 127.0.0.1:0
is "$RC" 1 "--config naming a missing file: exit status 1"
like "$ERR" "<3>meshfleetd: $(re_quote "$missing"): cannot open: No such file or directory" \
	"--config naming a missing file: the error names the file and says why"

run_meshfleetd --config "$MF_TMP" --state-dir "$MF_TMP/state-never-dir" --listen 127.0.0.1:0
is "$RC" 1 "--config naming a directory: exit status 1"
like "$ERR" "<3>meshfleetd: $(re_quote "$MF_TMP")" "--config naming a directory: the error names it"

unreadable=$(conf unreadable '[daemon]\n')
chmod 000 "$unreadable"
if [ "$(id -u)" = 0 ]; then
	skip "--config naming an unreadable file: exit status 1" "running as root: permissions do not stop reads"
	skip "--config naming an unreadable file: the error says permission denied" "running as root"
else
	run_meshfleetd --config "$unreadable" --state-dir "$MF_TMP/state-never-unreadable" --listen 127.0.0.1:0
	is "$RC" 1 "--config naming an unreadable file: exit status 1"
	like "$ERR" "<3>meshfleetd: $(re_quote "$unreadable"): cannot open: Permission denied" \
		"--config naming an unreadable file: the error says permission denied"
fi

# --- SIGHUP ---
NODES_499='meshfleet_http_requests_total{route="/api/v1/nodes",method="POST",status="499"}'
hup=$(conf hup '[daemon]\nlog_level = info\n[http]\nlisten = 127.0.0.1:0\n')
if MF_NO_LISTEN=1 start_daemon --config "$hup"; then
	first_port=$PORT
	# At info, a request the client abandons is counted (499) but not logged at debug.
	abort_upload /api/v1/nodes
	ok $? "an abandoned upload gets 100 Continue"
	for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
		[ -n "$(metric "$NODES_499")" ] && break
		sleep 0.05
	done
	is "$(metric "$NODES_499")" 1 "the abandoned upload is counted as status 499"
	is "$(log_count '^<7>')" 0 "log_level = info: no debug line"

	conf hup '[daemon]\nlog_level = debug\n[http]\nlisten = 127.0.0.1:0\n' >/dev/null
	kill -HUP "$DAEMON_PID"
	wait_for_log 'reload: done'
	ok $? "SIGHUP: the reload finishes"
	like "$(cat "$DAEMON_LOG")" "<5>meshfleetd: reload: daemon\.log_level is now 'debug' \(was 'info'\)" \
		"SIGHUP: the new log_level is reported"
	abort_upload /api/v1/nodes
	wait_for_log '^<7>meshfleetd: '
	ok $? "SIGHUP: log_level = debug is applied (debug lines appear)"

	conf hup '[daemon]\nlog_level = debug\n[http]\nlisten = 127.0.0.1:1\nmax_body_bytes = 4096\n' >/dev/null
	kill -HUP "$DAEMON_PID"
	wait_for_log 'reload: done' 2
	ok $? "SIGHUP with a new listen address: the reload finishes"
	log=$(cat "$DAEMON_LOG")
	like "$log" "reload: http\.listen changed from '127\.0\.0\.1:0' to '127\.0\.0\.1:1': ignored until restart" \
		"SIGHUP: a changed http.listen is reported as ignored until restart"
	like "$log" "reload: http\.max_body_bytes changed from '1048576' to '4096': ignored until restart" \
		"SIGHUP: a changed http.max_body_bytes is reported as ignored until restart"
	req GET /api/v1/health
	is "$STATUS" 200 "SIGHUP: still serving on the first port"
	is "$(cat "$STATE/http.port")" "$first_port" "SIGHUP: http.port is unchanged"
	pad=$(printf '%*s' 5000 '')
	post_json /api/v1/nodes "{\"address\":7}$pad"
	is "$STATUS" 201 "SIGHUP: the running max_body_bytes (1 MiB) still applies"

	# A bad file is refused as a whole: its valid log_level = err is not applied either.
	conf hup '[daemon]\nlog_level = err\n[http]\nbogus = 1\n' >/dev/null
	kill -HUP "$DAEMON_PID"
	wait_for_log 'reload: keeping the running configuration'
	ok $? "SIGHUP with a bad file: the running configuration is kept"
	like "$(cat "$DAEMON_LOG")" "<3>meshfleetd: $(re_quote "$hup"):4: unknown key 'bogus' in section \[http\]" \
		"SIGHUP with a bad file: the error names file, line and reason"
	req GET /api/v1/health
	is "$STATUS" 200 "SIGHUP with a bad file: the daemon keeps serving"
	before=$(log_count '^<7>')
	abort_upload /api/v1/nodes
	wait_for_log '^<7>meshfleetd: ' $((before + 1))
	ok $? "SIGHUP with a bad file: log_level stays debug"

	conf hup '[daemon]\nlog_level = info\n[http]\nlisten = 127.0.0.1:0\n' >/dev/null
	kill -HUP "$DAEMON_PID"
	wait_for_log 'reload: done' 3
	ok $? "SIGHUP with the file repaired: the reload finishes"
	stop_daemon_ok "reloaded daemon"
fi

# A command-line option keeps winning over the file after SIGHUP.
hup2=$(conf hup2 '[daemon]\nlog_level = err\n')
if start_daemon --config "$hup2" --log-level debug; then
	conf hup2 '[daemon]\nlog_level = warning\n' >/dev/null
	kill -HUP "$DAEMON_PID"
	wait_for_log 'reload: done'
	ok $? "SIGHUP with --log-level: the reload finishes"
	abort_upload /api/v1/nodes
	wait_for_log '^<7>meshfleetd: '
	ok $? "SIGHUP with --log-level debug: the option still wins over the file's log_level"
	stop_daemon_ok "reloaded daemon with --log-level"
fi

done_testing
