#!/usr/bin/env bash
# Start and stop: signals, requests in flight at shutdown, crash and restart, databases the daemon must refuse,
# a second daemon on the same state directory, a port already in use.
set -u
. "$(dirname "$0")/lib.sh"

# --- SIGTERM and SIGINT ---
for sig in TERM INT; do
	if start_daemon; then
		req GET /api/v1/health
		is "$STATUS" 200 "SIG$sig case: the daemon serves"
		stop_daemon "$sig"
		is "$DAEMON_STATUS" 0 "SIG$sig: exit status 0"
		log=$(cat "$DAEMON_LOG")
		like "$log" '(^|
)<6>meshfleetd: stopped
?$' "SIG$sig: the log ends with 'stopped'"
		no_sanitizer_report "$DAEMON_LOG" "SIG$sig: no ASan/LSan/UBSan report in the log"
		unlike "$log" '<[0-3]>' "SIG$sig: no error in the log"
	fi
done

# --- a request in flight finishes; new connections are refused ---
if start_daemon; then
	body="$MF_TMP/slow.json"
	printf '{"address":500,"name":"slow"}%12000s' '' >"$body"
	# "Expect: 100-continue" holds the body back until the daemon has taken the request, and curl's trace says
	# when that happened; then the body trickles in at 8 KiB/s (about 1.5 s), well inside the 4 s grace.
	curl -sS -v --max-time "$CURL_TIMEOUT_S" --limit-rate 8k -H 'Expect: 100-continue' -H "$(auth_header)" \
		-H 'Content-Type: application/json' --data-binary "@$body" -o "$MF_TMP/slow.out" -w '%{http_code}' \
		"$BASE/api/v1/nodes" >"$MF_TMP/slow.status" 2>"$MF_TMP/slow.trace" &
	curl_pid=$!
	for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
		grep -q '^< HTTP/1.1 100' "$MF_TMP/slow.trace" && break
		sleep 0.05
	done
	grep -q '^< HTTP/1.1 100' "$MF_TMP/slow.trace"
	ok $? "slow upload: the daemon has taken the request (100 Continue)"
	kill -TERM "$DAEMON_PID"
	wait_for_log 'waiting for 1 request\(s\) in flight'
	ok $? "SIGTERM during the upload: the daemon waits for the request in flight"
	curl -sS --max-time 5 -o /dev/null "$BASE/api/v1/health" 2>/dev/null
	is $? 7 "SIGTERM during the upload: a new connection is refused (curl exit 7)"
	kill -TERM "$DAEMON_PID"
	wait_for_log 'already stopping'
	ok $? "a second SIGTERM is noted as 'already stopping'"
	wait "$curl_pid"
	is $? 0 "slow upload: curl completes"
	is "$(cat "$MF_TMP/slow.status")" 201 "slow upload: 201 although SIGTERM came in the middle"
	is "$(jq -r '.nodes[0].name' "$MF_TMP/slow.out" 2>&1)" slow "slow upload: the created node in the answer"
	stop_daemon TERM
	is "$DAEMON_STATUS" 0 "after the upload: exit status 0"
	log=$(cat "$DAEMON_LOG")
	unlike "$log" 'still in flight after' "after the upload: no request was cut off"
	like "$log" '<6>meshfleetd: stopped' "after the upload: 'stopped' logged"
	no_sanitizer_report "$DAEMON_LOG" "after the upload: no sanitizer report"
	is "$(db_query 'SELECT name FROM nodes WHERE address = 500')" slow "after the upload: the node is in the database"
fi

# --- a client that stalls mid-request cannot hold the shutdown for more than the grace period ---
if start_daemon; then
	exec 4<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'POST /api/v1/nodes HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n' \
		"$(auth_header)" >&4
	read -t "$CURL_TIMEOUT_S" -r line <&4
	like "${line:-}" '^HTTP/1.1 100' "stalled client: the request was taken (100 Continue)"
	stop_daemon TERM
	is "$DAEMON_STATUS" 0 "stalled client: the daemon still exits 0 (after the grace period)"
	like "$(cat "$DAEMON_LOG")" 'still in flight after [0-9]+ ms' "stalled client: the cut-off is logged"
	no_sanitizer_report "$DAEMON_LOG" "stalled client: no sanitizer report"
	exec 4>&-
fi

# --- a client that sends part of a body and hangs up (data and FIN in one segment) is noticed ---
if start_daemon; then
	# Headers, part of the body and the close leave back to back, so they tend to arrive together.
	exec 4<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'POST /api/v1/nodes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"address":' >&4
	exec 4>&-
	req GET /api/v1/health
	stop_daemon TERM
	is "$DAEMON_STATUS" 0 "abandoned upload: exit status 0"
	unlike "$(cat "$DAEMON_LOG")" 'still in flight after' \
		"abandoned upload: the closed connection is not waited for at shutdown"
fi

# --- crash and restart: nothing committed is lost ---
if start_daemon; then
	state=$STATE
	post_json /api/v1/nodes "$(jq -nc '[range(0; 200) | {address: (1 + .), name: "n\(.)", tags: ["t\(. % 5)"], firmware_id: "5900\(. % 10)0"}]')"
	is "$STATUS" 201 "restart: 200 nodes created"
	patch_json /api/v1/nodes/7 '{"name":"patched","tags":["x"]}'
	is "$STATUS" 200 "restart: a node patched"
	req DELETE /api/v1/nodes/8
	is "$STATUS" 204 "restart: a node deleted"
	req GET '/api/v1/nodes?limit=1000'
	before=$(jq -S . <<<"$BODY")
	stop_daemon KILL
	is "$DAEMON_STATUS" 137 "restart: SIGKILL ends the daemon (status 137)"
	if start_daemon_in "$state"; then
		req GET '/api/v1/nodes?limit=1000'
		is "$(jq -S . <<<"$BODY")" "$before" "restart after SIGKILL: every node as it was"
		json_is '.nodes | length' 199 "restart after SIGKILL: 199 nodes"
		is "$(db_query 'PRAGMA integrity_check')" ok "restart after SIGKILL: PRAGMA integrity_check is ok"
		is "$(db_query 'SELECT count(*) FROM node_tags')" 199 "restart after SIGKILL: the tags are all there"
		req GET /api/v1/health
		json_is .database.state ok "restart after SIGKILL: health says the database is ok"
		post_json /api/v1/nodes '{"address":8}'
		is "$STATUS" 201 "restart after SIGKILL: writes work"
		stop_daemon_ok "restarted daemon"
	fi
	# A clean stop, then a restart, then the data again.
	if start_daemon_in "$state"; then
		req GET /api/v1/nodes/8
		is "$STATUS" 200 "restart after a clean stop: the last write is there"
		stop_daemon_ok "daemon restarted after a clean stop"
	fi
fi

# --- a database from a newer meshfleetd is refused ---
if start_daemon; then
	state=$STATE
	stop_daemon_ok "daemon that creates a database"
	db_query "INSERT INTO schema_migrations(version, applied_at) VALUES (99, 0)"
	sum=$(sha256sum <"$(db_file)")
	rm -f "$state/http.port"
	run_meshfleetd --state-dir "$state" --listen 127.0.0.1:0 --config /dev/null
	is "$RC" 1 "schema version 99: exit status 1"
	like "$ERR" '<3>meshfleetd: .*schema version 99, newer than this meshfleetd' "schema version 99: the message says newer"
	is "$(sha256sum <"$(db_file)")" "$sum" "schema version 99: the database file is left alone"
	[ ! -e "$state/http.port" ]
	ok $? "schema version 99: no http.port was written (nothing listened)"
	no_sanitizer_report <(printf '%s' "$ERR") "schema version 99: no sanitizer report"
fi

# --- corrupted databases are refused ---
if start_daemon; then
	state=$STATE
	post_json /api/v1/nodes "$(jq -nc '[range(0; 1000) | {address: (100 + .), name: ("node-\(.)-" + ("x" * 50)), tags: ["t\(. % 10)"]}]')"
	is "$STATUS" 201 "corruption: 1000 nodes to fill many pages"
	stop_daemon_ok "daemon that fills a database"
	pages=$(db_query 'PRAGMA page_count')
	[ "$pages" -ge 8 ]
	ok $? "corruption: the database has several pages ($pages)"
	cp "$(db_file)" "$MF_TMP/good.db"

	# A page in the middle overwritten with 0xff.
	page=$((pages / 2))
	printf '\xff%.0s' $(seq 4096) | dd of="$(db_file)" bs=4096 seek="$page" count=1 conv=notrunc 2>/dev/null
	sum=$(sha256sum <"$(db_file)")
	run_meshfleetd --state-dir "$state" --listen 127.0.0.1:0 --config /dev/null
	is "$RC" 1 "a page overwritten in the middle: exit status 1"
	like "$ERR" '<3>meshfleetd: .*meshfleet\.db.*(integrity|malformed|corrupt)' \
		"a page overwritten in the middle: a clear message naming the file"
	is "$(sha256sum <"$(db_file)")" "$sum" "a page overwritten in the middle: the file is left as it was (for a post-mortem)"
	no_sanitizer_report <(printf '%s' "$ERR") "a page overwritten in the middle: no sanitizer report"

	# The header overwritten.
	cp "$MF_TMP/good.db" "$(db_file)"
	printf 'this is no database at all' | dd of="$(db_file)" bs=1 seek=0 conv=notrunc 2>/dev/null
	sum=$(sha256sum <"$(db_file)")
	run_meshfleetd --state-dir "$state" --listen 127.0.0.1:0 --config /dev/null
	is "$RC" 1 "the header overwritten: exit status 1"
	like "$ERR" '<3>meshfleetd: .*meshfleet\.db.*(not a database|integrity)' "the header overwritten: a clear message naming the file"
	is "$(sha256sum <"$(db_file)")" "$sum" "the header overwritten: the file is left as it was"

	# A file that is not a database at all.
	printf 'hello\n' >"$(db_file)"
	run_meshfleetd --state-dir "$state" --listen 127.0.0.1:0 --config /dev/null
	is "$RC" 1 "a text file as database: exit status 1"
	like "$ERR" '<3>meshfleetd: .*meshfleet\.db' "a text file as database: the message names the file"

	# The good copy still works (so the refusals above were about the damage).
	cp "$MF_TMP/good.db" "$(db_file)"
	if start_daemon_in "$state"; then
		req GET /api/v1/nodes/0x0064
		is "$STATUS" 200 "the undamaged copy opens and serves its nodes"
		stop_daemon_ok "daemon on the undamaged copy"
	fi
fi

# --- one daemon per state directory ---
if start_daemon; then
	first_pid=$DAEMON_PID
	run_meshfleetd --state-dir "$STATE" --listen 127.0.0.1:0 --config /dev/null
	is "$RC" 1 "second daemon on the same state directory: exit status 1"
	like "$ERR" "<3>meshfleetd: state directory '$(re_quote "$STATE")' is in use by another meshfleetd \(pid $first_pid\)" \
		"second daemon: the message says the directory is in use and by which pid"
	is "$(cat "$STATE/http.port")" "$PORT" "second daemon: http.port still names the first daemon"
	req GET /api/v1/health
	is "$STATUS" 200 "second daemon refused: the first one keeps serving"

	# --- the port is taken ---
	run_meshfleetd --state-dir "$(new_state_dir)" --listen "127.0.0.1:$PORT" --config /dev/null
	is "$RC" 1 "port in use: exit status 1"
	like "$ERR" "<3>meshfleetd: cannot listen on 127\.0\.0\.1:$PORT: the address is already in use" \
		"port in use: the message says 'already in use'"
	no_sanitizer_report <(printf '%s' "$ERR") "port in use: no sanitizer report"
	req GET /api/v1/health
	is "$STATUS" 200 "port in use refused: the first daemon keeps serving"
	stop_daemon_ok "first daemon"
fi

# --- a state directory that cannot be created ---
blocker="$MF_TMP/not-a-directory"
echo x >"$blocker"
run_meshfleetd --state-dir "$blocker/state" --listen 127.0.0.1:0 --config /dev/null
is "$RC" 1 "state directory under a file: exit status 1"
like "$ERR" "<3>meshfleetd: cannot create state directory '$(re_quote "$blocker/state")'" \
	"state directory under a file: the message names it"

done_testing
