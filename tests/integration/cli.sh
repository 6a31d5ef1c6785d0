#!/usr/bin/env bash
# meshfleetd's command line: --version, --help, usage errors (exit 2) and --list-routes.
set -u
. "$(dirname "$0")/lib.sh"

version=$(sed -n 's/^AC_INIT(\[meshfleet\], *\[\([^]]*\)\].*/\1/p' "$MF_SRCDIR/configure.ac")
[ -n "$version" ] || bail "cannot read the version from $MF_SRCDIR/configure.ac"

# --- version and help ---
for opt in --version -V; do
	run_meshfleetd "$opt"
	is "$RC" 0 "$opt exits 0"
	is "$OUT" "meshfleetd $version" "$opt prints 'meshfleetd VERSION'"
	is "$ERR" "" "$opt writes nothing to stderr"
done

for opt in --help -h; do
	run_meshfleetd "$opt"
	is "$RC" 0 "$opt exits 0"
	like "$OUT" '^Usage: meshfleetd' "$opt starts with a usage line"
	for o in --config --state-dir --listen --dongle --web-root --log-level --list-routes --version --help; do
		like "$OUT" "(^|[ ,])$o([ =]|$)" "$opt documents $o"
	done
	is "$ERR" "" "$opt writes nothing to stderr"
done

# --- usage errors: exit 2, a message on stderr, nothing started ---
nostate="$MF_TMP/never-created"

run_meshfleetd --state-dir "$nostate" --bogus
is "$RC" 2 "unknown option exits 2"
like "$ERR" "unrecognized option '--bogus'" "unknown option is named on stderr"
like "$ERR" 'Usage: meshfleetd' "unknown option prints the usage on stderr"
is "$OUT" "" "unknown option prints nothing on stdout"

run_meshfleetd --state-dir "$nostate" -Z
is "$RC" 2 "unknown short option exits 2"

run_meshfleetd --state-dir "$nostate" extra-arg
is "$RC" 2 "unexpected argument exits 2"
like "$ERR" "unexpected argument 'extra-arg'" "unexpected argument is named on stderr"

run_meshfleetd --state-dir "$nostate" --listen
is "$RC" 2 "--listen without a value exits 2"
like "$ERR" "requires an argument" "--listen without a value says a value is needed"

for bad in nope 127.0.0.1 127.0.0.1: :8080 127.0.0.1:99999 127.0.0.1:abc 127.0.0.1:-1 '[::1]8080' '[]:80' \
	'[::1:80' 1:2:3:80; do
	run_meshfleetd --state-dir "$nostate" --listen "$bad"
	is "$RC" 2 "--listen '$bad' exits 2"
	like "$ERR" "bad value '$(sed 's/[][\.*^$]/\\&/g' <<<"$bad")' for listen: expected ADDRESS:PORT" \
		"--listen '$bad' says why"
done

for bad in loud DEBUGGING '' 7 'info '; do
	run_meshfleetd --state-dir "$nostate" --log-level "$bad"
	is "$RC" 2 "--log-level '$bad' exits 2"
	like "$ERR" "bad value '$bad' for log_level: expected err, warning, notice, info or debug" \
		"--log-level '$bad' lists the levels"
done

for bad in xyz 'sim:' '' dev/ttyACM0 NONE; do
	run_meshfleetd --state-dir "$nostate" --dongle "$bad"
	is "$RC" 2 "--dongle '$bad' exits 2"
	like "$ERR" "bad value '$bad' for dongle: expected none, auto, sim" "--dongle '$bad' lists the forms"
done

run_meshfleetd --state-dir "$nostate" --web-root ''
is "$RC" 2 "--web-root '' exits 2"
like "$ERR" 'empty value for web_root' "--web-root '' says the value is empty"

run_meshfleetd --state-dir ''
is "$RC" 2 "--state-dir '' exits 2"

[ -e "$nostate" ]
is $? 1 "no usage error created the state directory"

# --- --list-routes ---
run_meshfleetd --list-routes
is "$RC" 0 "--list-routes exits 0"
is "$ERR" "" "--list-routes writes nothing to stderr"
bad_lines=$(grep -Ev '^(GET|POST|PUT|PATCH|DELETE) /[^ ]*$' <<<"$OUT")
is "$bad_lines" "" "--list-routes prints only 'METHOD /PATH' lines"
is "$(sort <<<"$OUT" | uniq -d)" "" "--list-routes has no duplicate line"
for route in 'GET /api/v1/health' 'GET /api/v1/nodes' 'POST /api/v1/nodes' 'GET /api/v1/nodes/{addr}' \
	'PATCH /api/v1/nodes/{addr}' 'DELETE /api/v1/nodes/{addr}' 'GET /api/v1/openapi.json' 'GET /metrics' \
	'GET /' 'GET /assets/{file}'; do
	grep -qxF "$route" <<<"$OUT"
	is $? 0 "--list-routes has '$route'"
done

# --- valid options are honoured ---
if start_daemon --dongle sim:/nonexistent/scenario.json --log-level debug; then
	req GET /api/v1/health
	is "$STATUS" 200 "daemon started with --dongle and --log-level: health is 200"
	json_is .dongle.state not_started "--dongle sim:FILE: health shows the dongle as configured, not started"
	json_is .dongle.spec sim:/nonexistent/scenario.json "--dongle sim:FILE: health shows the spec"
	like "$(cat "$DAEMON_LOG")" "<6>meshfleetd: [^
]*listening on http://127\.0\.0\.1:$PORT" "the log names the port chosen for :0"
	stop_daemon_ok "daemon with --dongle"
fi

if start_daemon -L err -d none; then
	req GET /api/v1/health
	json_is .dongle.state not_configured "-d none: health shows no dongle"
	stop_daemon_ok "daemon with -L err"
	unlike "$(cat "$DAEMON_LOG")" '<[4-7]>' "-L err: the log holds no line below err"
fi

done_testing
