#!/usr/bin/env bash
# meshfleetctl: --version, --help, usage errors, and `dongle probe` on a missing path and on meshfleet-sim's
# pseudo-terminal (text and --json).
. "$(dirname "$0")/lib.sh"

: "${MESHFLEET_SIM:=$MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim}"
MESHFLEETCTL="$MF_BUILDDIR/daemon/meshfleetctl"
command -v jq >/dev/null 2>&1 || bail "jq is not installed (apt-get install jq, or run ./quickstart)"
[ -x "$MESHFLEETCTL" ] || bail "MESHFLEETCTL='$MESHFLEETCTL' is not an executable: build it first (make daemon/meshfleetctl)"
[ -x "$MESHFLEET_SIM" ] || bail "MESHFLEET_SIM='$MESHFLEET_SIM' is not an executable: build it first"

# ctl ARG...: runs meshfleetctl, bounded; sets RC OUT ERR.
ctl() {
	local err_file="$MF_TMP/ctl.err"
	OUT=$(timeout 30 "$MESHFLEETCTL" "$@" 2>"$err_file")
	RC=$?
	ERR=$(cat "$err_file")
}

# A run must leave no sanitizer report behind.
clean_stderr() {
	unlike "$ERR" 'Sanitizer|runtime error|this is a bug' "$1: no sanitizer report or bug on stderr"
}

ctl --version
is "$RC" 0 "--version: exit 0"
is "$OUT" "meshfleetctl $(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$MF_SRCDIR/configure.ac")" \
	"--version: prints the package version"

ctl --help
is "$RC" 0 "--help: exit 0"
like "$OUT" 'Usage: meshfleetctl' "--help: usage on stdout"
like "$OUT" 'dongle probe' "--help: names dongle probe"

ctl frobnicate
is "$RC" 2 "unknown command: exit 2"
like "$ERR" "unknown command 'frobnicate'.*Usage: meshfleetctl" "unknown command: says so, usage on stderr"
is "$OUT" "" "unknown command: nothing on stdout"

ctl
is "$RC" 2 "no command: exit 2"

ctl --no-such-option dongle probe
is "$RC" 2 "unknown option: exit 2"

ctl --timeout 0 dongle probe "$MF_TMP/x"
is "$RC" 2 "--timeout out of range: exit 2"

# --- a path that does not exist ---
missing="$MF_TMP/no-such-tty"
ctl dongle probe "$missing"
is "$RC" 1 "missing path: exit 1"
like "$OUT" "^$(re_quote "$missing")  -  -  -> port_missing: .*does not exist" "missing path: port_missing diagnosis"
unlike "$OUT" 'Retrying|retries' "missing path: a probe does not claim to retry"
like "$OUT" 'Is the dongle plugged in\?' "missing path: the message says what to try next"
clean_stderr "missing path"

ctl --json dongle probe "$missing"
is "$RC" 1 "missing path --json: exit 1"
BODY=$OUT
json_is 'length' 1 "missing path --json: one entry"
json_is '.[0].path' "$missing" "missing path --json: path"
json_is '.[0].meshfleet' false "missing path --json: not a meshfleet dongle"
json_is '.[0].diagnosis.code' port_missing "missing path --json: diagnosis code"

# --- a path the user may not open, and one behind a directory closed to it ---
# Root ignores file modes, so as root the probe runs as nobody (setpriv drops the user, its groups and with them
# the capabilities that bypass modes); as another user the file is simply closed to it.
pdir="$MF_TMP/perm"
mkdir -m 755 "$pdir" && mkdir -m 000 "$pdir/closed"
: >"$pdir/locked-tty"
getent group dialout >/dev/null 2>&1 && chgrp dialout "$pdir/locked-tty" 2>/dev/null    # as a serial port is
chmod 0060 "$pdir/locked-tty"
as_user=()
if [ "$(id -u)" = 0 ]; then
	chmod 711 "$MF_TMP"        # nobody may pass through to $pdir, and read nothing on the way
	command -v setpriv >/dev/null 2>&1 && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi
if [ "$(id -u)" = 0 ] && [ ${#as_user[@]} = 0 ]; then
	skip "permission: probe of a path the user may not open" \
		"running as root, which ignores file modes, and setpriv (util-linux) is missing to drop privileges"
elif [ ${#as_user[@]} -gt 0 ] && ! "${as_user[@]}" test -x "$MESHFLEETCTL"; then
	skip "permission: probe of a path the user may not open" \
		"running as root, which ignores file modes, and user nobody cannot run $MESHFLEETCTL (a closed build directory)"
else
	err_file="$MF_TMP/ctl.err"
	OUT=$(timeout 30 "${as_user[@]}" "$MESHFLEETCTL" dongle probe "$pdir/locked-tty" "$pdir/closed/tty" 2>"$err_file")
	RC=$?
	ERR=$(cat "$err_file")
	is "$RC" 1 "permission: exit 1"
	like "$OUT" "^$(re_quote "$pdir/locked-tty")  -  -  -> permission_denied: permission denied: user '[^']+' may not open .*\(----rw---- [^)]+\)\. Add the user to the group that owns it: \`sudo usermod -aG " \
		"permission: permission_denied, with the mode, the group and the command that fixes it"
	like "$OUT" $'\n'"$(re_quote "$pdir/closed/tty")  -  -  -> permission_denied: .*may not reach .*a directory on the way is closed to it\)\. Fix the directory's permissions" \
		"permission: a closed directory on the way is named as the cause"
	unlike "$OUT" 'Retrying|retries' "permission: a probe does not claim to retry"
	clean_stderr "permission"
fi

# --- meshfleet-sim on a pseudo-terminal, through its symlink ---
link="$MF_TMP/sim"
"$MESHFLEET_SIM" --link "$link" --die-with-parent --quiet >"$MF_TMP/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 400); do         # readiness wait, bounded (20 s)
	[ -L "$link" ] && break
	kill -0 "$sim_pid" 2>/dev/null || break
	sleep 0.05
done
if [ -L "$link" ]; then
	pass "sim: the symlink appears"
	sim_version=$("$MESHFLEET_SIM" --version | awk '{ print $2 }')

	ctl dongle probe "$link"
	is "$RC" 0 "sim: exit 0"
	like "$OUT" "^$(re_quote "$link")  -  -  -> meshfleet dongle, firmware $(re_quote "$sim_version"), protocol 1\\.[0-9]+, window [1-9][0-9]*, simulated$" \
		"sim: a meshfleet dongle with the simulator's firmware"
	clean_stderr "sim"

	ctl dongle probe --json "$missing" "$link"
	is "$RC" 0 "sim --json with a missing path too: exit 0 (one answered)"
	BODY=$OUT
	json_is 'length' 2 "sim --json: two entries, in order"
	json_is '.[0].diagnosis.code' port_missing "sim --json: the missing one first"
	json_is '.[1].path' "$link" "sim --json: path"
	json_is '.[1].meshfleet' true "sim --json: meshfleet true"
	json_is '.[1].firmware.version' "$sim_version" "sim --json: firmware version"
	json_is '.[1].firmware.simulated' true "sim --json: simulated"
	json_is '.[1].protocol | test("^1\\.[0-9]+$")' true "sim --json: protocol 1.x"
	json_is '.[1].window > 0' true "sim --json: window"
	json_is '.[1].diagnosis' null "sim --json: no diagnosis"
	json_is '.[1].usb_id' null "sim --json: a pty has no USB id"
	json_is '.[1].transport' termios "sim --json: a pty goes through termios"
	json_is '.[1].firmware.build_id | test("^[0-9a-f]{16}$")' true "sim --json: build id"

	# The simulator survives probes and still answers: the probe closed the port cleanly.
	ctl dongle probe "$link"
	is "$RC" 0 "sim: a second probe answers too"
else
	fail "sim: the symlink appears" "meshfleet-sim log: $(cat "$MF_TMP/sim.log")"
fi
# Still running after the probes (none of them upset it), then stopped.
kill "$sim_pid" 2>/dev/null
ok $? "sim: still running after the probes, stopped"
wait "$sim_pid" 2>/dev/null

done_testing
