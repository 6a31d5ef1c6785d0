#!/usr/bin/env bash
# meshfleetctl token create|list|delete and the token every REST command sends: `token create` offline on the
# state dir with the daemon stopped and running, each role's token on a command it may and one it may not run, the
# token sources in their order (--token, --token-file, $MESHFLEET_TOKEN, STATE_DIR/admin.token), 401/403 messages
# that never show the token, and bad inputs.
. "$(dirname "$0")/lib.sh"

MESHFLEETCTL="$MF_BUILDDIR/daemon/meshfleetctl"
CDB="$MF_SRCDIR/tests/data/cdb/coral_Sample1_brian_and_mary.json"
[ -x "$MESHFLEETCTL" ] || bail "MESHFLEETCTL='$MESHFLEETCTL' is not an executable: build it first (make daemon/meshfleetctl)"
TOKEN_RE='^mft_[0-9a-f]{64}$'

# Every token this script sends is chosen here: none may come from the environment or an installed daemon.
unset MESHFLEET_TOKEN MESHFLEET_URL

# ctl ARG...: runs meshfleetctl (bounded against a hang), sets RC OUT ERR.
ctl() {
	local err_file="$MF_TMP/ctl.err"
	OUT=$(timeout 30 "$MESHFLEETCTL" "$@" 2>"$err_file")
	RC=$?
	ERR=$(cat "$err_file")
}

# ctl_ok DESC ARG...: a run that must succeed without a sanitizer report.
ctl_ok() {
	local desc=$1
	shift
	ctl "$@"
	is "$RC" 0 "$desc: exit 0"
	[ "$RC" = 0 ] || diag "stderr: $ERR"
	unlike "$ERR" 'Sanitizer|runtime error|this is a bug' "$desc: no sanitizer report or bug on stderr"
}

# no_secret TEXT DESC TOKEN...: none of the tokens appears in TEXT.
no_secret() {
	local text=$1 desc=$2 t leaked=
	shift 2
	for t in "$@"; do
		[[ $text == *"$t"* ]] && leaked=${t:0:8}...
	done
	is "$leaked" "" "$desc: the token is not shown"
}

# start STATE: the daemon on STATE; lib.sh's own token export is undone, this script picks tokens itself.
start() {
	start_daemon_in "$1" || bail "meshfleetd does not start on $1"
	unset MESHFLEET_TOKEN
}

state=$(new_state_dir)

# --- no database yet: nothing is created in a directory that is not (yet) a state dir ---
ctl token create --role admin --name ops --state-dir "$state"
is "$RC" 1 "offline create before the daemon's first start: exit 1"
like "$ERR" "no meshfleet database in '$(re_quote "$state")'.*meshfleetd creates the database at its first start" \
	"offline create before the first start: says there is no database and who creates it"
is "$(ls -A "$state")" "" "offline create before the first start: creates nothing in the directory"

# --- offline with the daemon stopped ---
start "$state"
first_admin=$(cat "$state/admin.token")
like "$first_admin" "$TOKEN_RE" "the daemon's first start wrote STATE_DIR/admin.token"
stop_daemon_ok "first start"

ctl_ok "offline create, daemon stopped" token create --role admin --name ops --state-dir "$state"
like "$OUT" "$TOKEN_RE" "offline create: stdout is the token alone"
ops=$OUT
like "$ERR" "^meshfleetctl: created token 'ops' \(id [0-9]+, role admin\) in '$(re_quote "$state/meshfleet.db")'; it is shown this once" \
	"offline create: a one-line note on stderr that it is shown once"
is "$(wc -l <<<"$ERR")" 1 "offline create: one line on stderr"
no_secret "$ERR" "offline create: stderr" "$ops"
STATE=$state
is "$(db_query "SELECT role || ' ' || created_by FROM tokens WHERE name = 'ops'")" "3 meshfleetctl" \
	"offline create: stored with role admin, created by meshfleetctl"
is "$(db_query "SELECT count(*) FROM tokens WHERE secret_sha256 = '$(printf %s "$ops" | sha256sum | cut -d' ' -f1)'")" 1 \
	"offline create: the database holds the SHA-256 of the token"
is "$(db_query "SELECT count(*) FROM tokens WHERE secret_sha256 = '$ops'")" 0 "offline create: ... not the token"

ctl_ok "offline create --json" --json token create --role viewer --name watcher --state-dir "$state"
BODY=$OUT
json_is 'keys | join(",")' "id,name,role,token" "--json: id, name, role, token"
json_is '.name + " " + .role + " " + (.id | type)' "watcher viewer number" "--json: the name, role and a numeric id"
viewer=$(json_value .token)
viewer_id=$(json_value .id)
like "$viewer" "$TOKEN_RE" "--json: the token"

# --config: the daemon's configuration file names the state dir
printf '[daemon]\nstate_dir = %s\n' "$state" >"$MF_TMP/meshfleetd.conf"
ctl_ok "offline create with --config" token create --role operator --name op1 --config "$MF_TMP/meshfleetd.conf"
operator=$OUT
like "$operator" "$TOKEN_RE" "--config: the token, in the configured state dir"

# --- the daemon started afterwards knows them ---
start "$state"
is "$(cat "$state/admin.token")" "$first_admin" "a restart keeps the first admin token's file as it is"

ctl_ok "admin token made offline: token list" --url "$BASE" --token "$ops" token list
like "$OUT" '^ID +NAME +ROLE +CREATED +LAST USED +CREATED BY' "token list: a header line"
like "$OUT" $'\n''[0-9]+ +ops +admin +[0-9]{4}-[0-9]{2}-[0-9]{2}[^ ]* +[^ ]+ +meshfleetctl' \
	"token list: the offline token with its role and creator"
like "$OUT" $'\n''[0-9]+ +watcher +viewer .* never +meshfleetctl' "token list: an unused token was never used"
no_secret "$OUT" "token list" "$ops" "$viewer" "$operator" "$first_admin"

ctl_ok "token list --json" --json --url "$BASE" --token "$ops" token list
BODY=$OUT
json_is '[.tokens[].name] | sort | join(",")' "admin,op1,ops,watcher" "token list --json: every token"
json_is '[.tokens[] | has("token")] | any' false "token list --json: no secrets"

# --- each role: a command it may run, one it may not ---
ctl_ok "admin: network import" --url "$BASE" --token "$ops" network import "$CDB"

ctl_ok "viewer: network show" --url "$BASE" --token "$viewer" network show
ctl --url "$BASE" --token "$viewer" nodes refresh
is "$RC" 1 "viewer: nodes refresh refused: exit 1"
like "$ERR" "^meshfleetctl: the daemon refused the token from --token: .*\(HTTP 403\); give another with --token, --token-file or MESHFLEET_TOKEN$" \
	"viewer: nodes refresh: 403 explained, with how to give another token"
no_secret "$ERR" "viewer 403" "$viewer"

ctl --url "$BASE" --token "$operator" nodes refresh
# No dongle: the refresh itself fails, after the role check let it through.
unlike "$ERR" 'refused the token|HTTP 40[13]' "operator: nodes refresh gets past the role check"
like "$ERR" 'dongle|connected' "operator: nodes refresh reaches the handler (no dongle here)"
ctl --url "$BASE" --token "$operator" token list
is "$RC" 1 "operator: token list refused: exit 1"
like "$ERR" 'refused the token from --token: .*\(HTTP 403\)' "operator: token list: 403 explained"
ctl --url "$BASE" --token "$operator" network export
is "$RC" 1 "operator: network export (it holds the keys) refused: exit 1"
like "$ERR" '\(HTTP 403\)' "operator: network export: 403"

# --- offline create while the daemon runs; the daemon takes the new token at once ---
ctl_ok "offline create, daemon running" token create --role operator --name deployer --state-dir "$state"
deployer=$OUT
printf '%s\n' "$deployer" >"$MF_TMP/deployer.token"
ctl_ok "the token made while the daemon runs works at once (--token-file)" \
	--url "$BASE" --token-file "$MF_TMP/deployer.token" network show
ctl --url "$BASE" --token-file "$MF_TMP/deployer.token" token list
like "$ERR" 'HTTP 403' "... with its role: operator may not list tokens"

# --- where the token comes from ---
MESHFLEET_TOKEN=$viewer ctl_ok "\$MESHFLEET_TOKEN" --url "$BASE" network show
MESHFLEET_TOKEN=$viewer ctl --url "$BASE" --token "$ops" token list
is "$RC" 0 "--token wins over \$MESHFLEET_TOKEN"
MESHFLEET_TOKEN=$viewer ctl --url "$BASE" --token-file "$MF_TMP/deployer.token" nodes refresh
unlike "$ERR" 'HTTP 403' "--token-file wins over \$MESHFLEET_TOKEN"
ctl --url "$BASE" --state-dir "$state" token list
is "$RC" 0 "no token given: STATE_DIR/admin.token, readable by this user"
ctl -v --url "$BASE" --state-dir "$state" token list
like "$ERR" "GET $(re_quote "$BASE")/api/v1/tokens, with the token from '$(re_quote "$state/admin.token")'" \
	"--verbose: names the request and where the token came from"
no_secret "$ERR" "--verbose" "$first_admin"
ctl --url "$BASE" --config "$MF_TMP/meshfleetd.conf" token list
is "$RC" 0 "no token given: admin.token of the state dir that --config names"

empty_dir=$(new_state_dir)
ctl --url "$BASE" --state-dir "$empty_dir" network show
is "$RC" 1 "no token anywhere: exit 1"
like "$ERR" "^meshfleetctl: the daemon wants a token: .*\(HTTP 401\); give one with --token, --token-file or MESHFLEET_TOKEN" \
	"no token anywhere: 401 explained"
ctl -v --url "$BASE" --state-dir "$empty_dir" network show
like "$ERR" 'no token given.*sending none' "--verbose: says that no token was sent"

bogus="mft_$(printf '%064d' 0)"
ctl --url "$BASE" --token "$bogus" network show
is "$RC" 1 "unknown token: exit 1"
like "$ERR" "^meshfleetctl: the daemon refused the token from --token: .*\(HTTP 401\); give another with --token, --token-file or MESHFLEET_TOKEN$" \
	"unknown token: 401 explained"
no_secret "$ERR" "unknown token" "$bogus"
MESHFLEET_TOKEN=$bogus ctl --url "$BASE" network show
like "$ERR" 'refused the token from \$MESHFLEET_TOKEN' "401: names \$MESHFLEET_TOKEN as the source"
printf '%s\n' "$bogus" >"$MF_TMP/bogus.token"
ctl --url "$BASE" --token-file "$MF_TMP/bogus.token" network show
like "$ERR" "refused the token from --token-file '$(re_quote "$MF_TMP/bogus.token")'" "401: names the token file"
no_secret "$ERR" "401 with a token file" "$bogus"

# --- token create through the API (--url given) ---
ctl_ok "token create --url" --url "$BASE" --token "$ops" token create --role viewer --name api-made
like "$OUT" "$TOKEN_RE" "token create --url: the token alone on stdout"
like "$ERR" "created token 'api-made' \(id [0-9]+, role viewer\) through the daemon's API; it is shown this once" \
	"token create --url: says it went through the API"
api_made=$OUT
ctl_ok "the API-made token works" --url "$BASE" --token "$api_made" network show
is "$(db_query "SELECT created_by FROM tokens WHERE name = 'api-made'")" "ops" "token create --url: created by the calling token"
ctl --url "$BASE" --token "$ops" token create --role viewer --name api-made
is "$RC" 1 "token create --url, name taken: exit 1"
like "$ERR" '\(HTTP 409\)' "token create --url, name taken: the daemon's 409"
ctl --url "$BASE" --token "$viewer" token create --role admin --name escalate
like "$ERR" 'refused the token.*HTTP 403' "token create --url with a viewer token: 403"
ctl_ok "token create --url --json" --json --url "$BASE" --token "$ops" token create --role operator --name api-json
BODY=$OUT
json_is 'keys | join(",")' "id,name,role,token" "token create --url --json: id, name, role, token"

# --- token delete ---
ctl_ok "token delete" --url "$BASE" --token "$ops" token delete "$viewer_id"
is "$OUT" "deleted token $viewer_id" "token delete: says so"
ctl --url "$BASE" --token "$viewer" network show
like "$ERR" 'HTTP 401' "a deleted token is refused"
ctl --url "$BASE" --token "$ops" token delete "$viewer_id"
is "$RC" 1 "token delete of a deleted token: exit 1"
like "$ERR" 'HTTP 404' "token delete of a deleted token: the daemon's 404"
for bad in abc 0 -3 +4 12x ''; do
	ctl --url "$BASE" --token "$ops" token delete "$bad"
	is "$RC" 2 "token delete '$bad': usage error"
done
like "$ERR" "expected the token's id, a positive number" "token delete: says what an id is"

# --- bad inputs of token create (offline) ---
ctl token create --role root --name x --state-dir "$state"
is "$RC" 2 "bad role: exit 2"
like "$ERR" "--role 'root': expected viewer, operator or admin" "bad role: says which roles exist"
for bad in 'has space' 'semi;colon' 'ünï' '' "$(printf 'n%.0s' $(seq 65))"; do
	ctl token create --role viewer --name "$bad" --state-dir "$state"
	is "$RC" 2 "bad name '${bad:0:12}': exit 2"
done
like "$ERR" "expected 1 to 64 characters of A-Z a-z 0-9 \. _ -" "bad name: says what a name is"
ctl_ok "a name of 64 characters" token create --role viewer --name "$(printf 'n%.0s' $(seq 64))" --state-dir "$state"
ctl token create --name x --state-dir "$state"
is "$RC" 2 "no --role: exit 2"
like "$ERR" '--role is missing' "no --role: says so"
ctl token create --role viewer --state-dir "$state"
is "$RC" 2 "no --name: exit 2"
like "$ERR" '--name is missing' "no --name: says so"
ctl token create --role viewer --name ops --state-dir "$state"
is "$RC" 1 "name taken: exit 1"
like "$ERR" "a token named 'ops' exists already" "name taken: says so"
is "$OUT" "" "name taken: nothing on stdout"
ctl token create --role viewer --name y --state-dir "$MF_TMP/no-such-dir"
is "$RC" 1 "missing state dir: exit 1"
like "$ERR" "the state directory '$(re_quote "$MF_TMP/no-such-dir")' does not exist" "missing state dir: says so"
: >"$MF_TMP/a-file"
ctl token create --role viewer --name y --state-dir "$MF_TMP/a-file"
like "$ERR" 'is not a directory' "state dir that is a file: says so"
ctl token create --role viewer --name y --config "$MF_TMP/no-such.conf"
is "$RC" 1 "missing --config file: exit 1"
like "$ERR" 'cannot read the state directory from the configuration: .*no-such\.conf.*give it with --state-dir' \
	"missing --config file: says so"
printf '[daemon]\nstate_dir = %s\nno_such_key = 1\n' "$state" >"$MF_TMP/bad.conf"
ctl token create --role viewer --name y --config "$MF_TMP/bad.conf"
is "$RC" 1 "a --config file meshfleetd would refuse: exit 1"
like "$ERR" "configuration: $(re_quote "$MF_TMP/bad.conf"):3: .*give it with --state-dir" \
	"a --config file meshfleetd would refuse: names the file and line"

notdb=$(new_state_dir)
head -c 4096 /dev/urandom >"$notdb/meshfleet.db"
ctl token create --role viewer --name y --state-dir "$notdb"
is "$RC" 1 "not a database: exit 1"
like "$ERR" "'$(re_quote "$notdb/meshfleet.db")' is not a meshfleet database" "not a database: says so"
foreign=$(new_state_dir)
sqlite3 "$foreign/meshfleet.db" 'CREATE TABLE t (x)'
ctl token create --role viewer --name y --state-dir "$foreign"
is "$RC" 1 "another program's SQLite database: exit 1"
like "$ERR" "a SQLite database, but not meshfleet's" "another program's SQLite database: says so"
is "$(sqlite3 "$foreign/meshfleet.db" .tables)" "t" "another program's SQLite database: left as it was"

# --- bad token sources ---
ctl --url "$BASE" --token-file "$MF_TMP/no-such.token" network show
is "$RC" 1 "missing --token-file: exit 1"
like "$ERR" "cannot read --token-file '$(re_quote "$MF_TMP/no-such.token")': No such file" "missing --token-file: says so"
ctl --url "$BASE" --token-file "$MF_TMP" network show
like "$ERR" "cannot read --token-file .*Is a directory" "a directory as --token-file: says so"
: >"$MF_TMP/empty.token"
ctl --url "$BASE" --token-file "$MF_TMP/empty.token" network show
like "$ERR" "--token-file '.*' is empty" "an empty --token-file: says so"
head -c 1000 /dev/zero | tr '\0' a >"$MF_TMP/big.token"
ctl --url "$BASE" --token-file "$MF_TMP/big.token" network show
like "$ERR" 'is larger than 256 bytes: not a token file' "a --token-file too large: says so"
printf '%s\n%s\n' "$ops" "$ops" >"$MF_TMP/two.token"
ctl --url "$BASE" --token-file "$MF_TMP/two.token" network show
like "$ERR" 'is not a token: one line' "a --token-file of two lines: refused"
no_secret "$ERR" "a --token-file of two lines" "$ops"
ctl --url "$BASE" --token "$ops"$'\r\nX-Injected: 1' network show
is "$RC" 1 "a --token with a newline: exit 1"
like "$ERR" '--token is not a token: visible ASCII characters only' "a --token with a newline: refused before sending"
MESHFLEET_TOKEN='has space' ctl --url "$BASE" network show
like "$ERR" 'MESHFLEET_TOKEN is not a token' "a \$MESHFLEET_TOKEN with a space: refused"
ctl --url "$BASE" --token '' network show
like "$ERR" '--token is empty' "an empty --token: refused"
ctl --token-file "$MF_TMP/no-such.token" keys show "$MF_SRCDIR/tests/data/mcuboot/root-ec-p256.pub.pem"
is "$RC" 0 "an offline command never reads the token"

# --- another user: permissions ---
as_user=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
	as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi
if [ "$(id -u)" != 0 ]; then
	skip "permissions as another user" "needs root to run meshfleetctl as user nobody"
elif [ ${#as_user[@]} = 0 ]; then
	skip "permissions as another user" "setpriv (util-linux) is missing"
elif ! "${as_user[@]}" test -x "$MESHFLEETCTL"; then
	skip "permissions as another user" "user nobody cannot run $MESHFLEETCTL (a closed build directory)"
else
	chmod 711 "$MF_TMP"
	ctl_as() {
		local err_file="$MF_TMP/ctl.err"
		OUT=$(timeout 30 "${as_user[@]}" "$MESHFLEETCTL" "$@" 2>"$err_file")
		RC=$?
		ERR=$(cat "$err_file")
	}
	ctl_as token create --role viewer --name y --state-dir "$state"
	is "$RC" 1 "a state dir closed to the user: exit 1"
	like "$ERR" "Permission denied: run this as the daemon's user or as root" "a state dir closed to the user: says so"
	open_dir=$(new_state_dir)
	cp "$state/meshfleet.db" "$open_dir/" && chmod 755 "$open_dir" && chmod 644 "$open_dir/meshfleet.db"
	ctl_as token create --role viewer --name y --state-dir "$open_dir"
	is "$RC" 1 "a database the user may not write: exit 1"
	like "$ERR" "permission denied: '$(re_quote "$open_dir/meshfleet.db")' belongs to 'root' \(uid 0\).*sudo -u root" \
		"a database the user may not write: names its owner and what to run"
	cp "$MF_TMP/deployer.token" "$MF_TMP/closed.token" && chmod 600 "$MF_TMP/closed.token"
	cp "$state/admin.token" "$open_dir/admin.token" && chmod 600 "$open_dir/admin.token"
	ctl_as --url "$BASE" --token-file "$MF_TMP/closed.token" network show
	is "$RC" 1 "an unreadable --token-file: exit 1"
	like "$ERR" "cannot read --token-file '$(re_quote "$MF_TMP/closed.token")': Permission denied" \
		"an unreadable --token-file: says so"
	ctl_as --url "$BASE" --state-dir "$open_dir" network show
	like "$ERR" 'the daemon wants a token' "an admin.token the user may not read is skipped, not an error"
fi
stop_daemon_ok "daemon with tokens made by meshfleetctl"

# --- root on a state dir of the daemon's user: the files stay the daemon's ---
if [ "$(id -u)" = 0 ]; then
	owned=$(new_state_dir)
	start "$owned"
	stop_daemon_ok "state dir for the owner test"
	chown -R 65534:65534 "$owned"
	ctl_ok "root, state dir of another user" -v token create --role viewer --name by-root --state-dir "$owned"
	like "$ERR" "running as '[^']+' \(uid 65534\), gid 65534, the owner of '$(re_quote "$owned/meshfleet.db")'" \
		"root: becomes the owner of the database before opening it"
	is "$(find "$owned" ! -user 65534 | head -n 3)" "" "root: no file of the state dir ends up owned by root"
	start "$owned"
	by_root=$OUT
	# No network here: a 404 shows that the daemon found the token in the database root wrote to.
	ctl --url "$BASE" --token "$by_root" network show
	like "$ERR" 'HTTP 404' "root: the daemon takes the token afterwards"
	stop_daemon_ok "after root's token create"
else
	skip "root on another user's state dir" "not root"
fi

# --- usage ---
ctl token
is "$RC" 2 "token without a subcommand: exit 2"
like "$ERR" 'usage: token create --role' "token without a subcommand: the usage"
ctl token frob
is "$RC" 2 "unknown token subcommand: exit 2"
ctl token list extra
is "$RC" 2 "token list with an argument: exit 2"
ctl --help
like "$OUT" 'token create --role viewer\|operator\|admin --name NAME' "--help: names token create"
like "$OUT" 'with --url through' "--help: says when token create uses the API"

done_testing
