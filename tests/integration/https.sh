#!/usr/bin/env bash
# HTTPS ([http] tls_cert and tls_key): a CA and a server certificate for 127.0.0.1 made here with the openssl
# command; over TLS the health check, a firmware upload of a few MiB, the event stream and meshfleetctl --cacert;
# plain HTTP and an untrusted client refused; TLS below 1.2 refused; each bad certificate or key stops the start
# with the file and the reason; an expired certificate and a key others can read are served with a warning; SIGHUP
# reports changed TLS settings and files as ignored until restart.
set -u
. "$(dirname "$0")/lib.sh"

need_tools openssl
SIM=${MESHFLEET_SIM:-$MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim}
CTL=${MESHFLEETCTL:-$MF_BUILDDIR/daemon/meshfleetctl}
[ -x "$SIM" ] || bail "MESHFLEET_SIM='$SIM' is not an executable: build it first"
[ -x "$CTL" ] || bail "MESHFLEETCTL='$CTL' is not an executable: build it first (make daemon/meshfleetctl)"

PKI="$MF_TMP/pki"
mkdir -p "$PKI"
UPLOAD_BYTES=$((3 * 1024 * 1024))       # a few MiB: many TLS records, under the 8 MiB firmware limit

# openssl_run DESC ARGS...: runs openssl quietly; a failure is a broken test setup.
openssl_run() {
	local desc=$1
	shift
	openssl "$@" >"$PKI/openssl.out" 2>&1 || bail "openssl: $desc: $(cat "$PKI/openssl.out")"
}

# new_key FILE: an EC P-256 private key (PKCS#8 PEM), mode 0600.
new_key() {
	openssl_run "a P-256 key" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
	chmod 600 "$1"
}

# issue KEY CERT DAYS [SUBJECT]: a server certificate for KEY, signed by the test CA, for 127.0.0.1 and
# localhost, valid for DAYS days from now (0: it ends the second it starts, so it has expired when the daemon
# reads it).
issue() {
	local key=$1 cert=$2 days=$3 subject=${4:-/CN=localhost}
	openssl_run "a certificate request" req -new -key "$key" -subj "$subject" -out "$cert.csr"
	printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n' \
		>"$cert.ext"
	openssl_run "a server certificate" x509 -req -in "$cert.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
		-CAcreateserial -days "$days" -extfile "$cert.ext" -out "$cert"
}

new_key "$PKI/ca.key"
openssl_run "the test CA" req -x509 -new -key "$PKI/ca.key" -subj "/CN=meshfleet test CA" -days 2 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$PKI/ca.pem"
new_key "$PKI/server.key"
issue "$PKI/server.key" "$PKI/server.pem" 2
new_key "$PKI/other.key"

# conf NAME TEXT: writes TEXT (printf %b) to a file and prints its path.
conf() {
	local f="$MF_TMP/$1.conf"
	printf '%b' "$2" >"$f"
	printf '%s' "$f"
}

# tls_conf NAME CERT KEY [MORE]: a configuration with [http] tls_cert = CERT and tls_key = KEY.
tls_conf() {
	conf "$1" "[http]\ntls_cert = $2\ntls_key = $3\n${4:-}"
}

# bearer: the Authorization header arguments for a curl run by hand (req sends it itself).
bearer() {
	[ -n "${ADMIN_TOKEN:-}" ] && printf '%s\n' -H "Authorization: Bearer $ADMIN_TOKEN"
}

# ctl ARG...: runs meshfleetctl against the daemon, bounded; sets RC OUT ERR.
ctl() {
	OUT=$(timeout "$CURL_TIMEOUT_S" "$CTL" --url "$BASE" "$@" 2>"$MF_TMP/ctl.err")
	RC=$?
	ERR=$(cat "$MF_TMP/ctl.err")
}

# refused NAME CONFIG REASON-ERE: start-up with CONFIG fails with exit 1 and "<3>meshfleetd: REASON".
refused() {
	local state="$MF_TMP/state-never-$1"
	run_meshfleetd --config "$2" --state-dir "$state" --listen 127.0.0.1:0
	is "$RC" 1 "$1: start-up fails with exit status 1"
	like "$ERR" "(^|
)<3>meshfleetd: $3" "$1: the error names the file and the reason"
	unlike "$ERR" 'listening on' "$1: nothing listens"
}

# --- the daemon over HTTPS ---
fleet="$MF_TMP/fleet.json"
"$SIM" --generate 8 --seed 5 --export-cdb "$fleet" >"$MF_TMP/sim.out" 2>&1 ||
	bail "meshfleet-sim --generate: $(cat "$MF_TMP/sim.out")"
good=$(tls_conf good "$PKI/server.pem" "$PKI/server.key" "[firmware]\nrequire_signature = off\n")
HTTPS_CACERT="$PKI/ca.pem"
start_daemon --config "$good" || bail "meshfleetd with tls_cert and tls_key did not start"
like "$BASE" '^https://127\.0\.0\.1:[0-9]+$' "lib.sh: BASE is https:// with HTTPS_CACERT set"
log=$(cat "$DAEMON_LOG")
like "$log" "<6>meshfleetd: meshfleetd [^ ]+ listening on https://127\.0\.0\.1:$PORT/" \
	"the start-up line says https:// and the port"
like "$log" "<6>meshfleetd: https: certificate '$(re_quote "$PKI/server.pem")' \([^)]*CN ?= ?localhost[^)]*valid until" \
	"the start-up log names the certificate, its subject and its end"
unlike "$log" '<4>meshfleetd: https:' "a good certificate and a mode 0600 key: no warning"

req GET /api/v1/health
is "$STATUS" 200 "GET /api/v1/health over HTTPS, the server verified with the test CA"
json_is .status ok "the health body arrives whole"

out=$(curl -sS --max-time "$CURL_TIMEOUT_S" --cacert "$PKI/ca.pem" --tlsv1.2 --tls-max 1.2 \
	-w '%{http_code}' -o /dev/null "$BASE/api/v1/health" 2>&1)
is "$out" 200 "TLS 1.2 is served"
out=$(curl -sS --max-time "$CURL_TIMEOUT_S" --cacert "$PKI/ca.pem" --tlsv1.3 \
	-w '%{http_code}' -o /dev/null "$BASE/api/v1/health" 2>&1)
is "$out" 200 "TLS 1.3 is served"
# The client allows TLS 1.1 and the old ciphers it needs (security level 0): the refusal must come from the daemon.
out=$(curl -sS --max-time "$CURL_TIMEOUT_S" --cacert "$PKI/ca.pem" --tlsv1.1 --tls-max 1.1 \
	--ciphers 'DEFAULT:@SECLEVEL=0' -o /dev/null "$BASE/api/v1/health" 2>&1)
status=$?
isnt "$status" 0 "TLS 1.1 is refused: TLS 1.2 is the least the daemon speaks"
like "$out" 'alert|handshake|protocol version|SSL' "TLS 1.1 is refused during the handshake"

out=$(curl -sS --max-time "$CURL_TIMEOUT_S" -o /dev/null "$BASE/api/v1/health" 2>&1)
status=$?
isnt "$status" 0 "a client without the test CA fails"
like "$out" 'certificate' "a client without the test CA refuses the daemon's certificate"

out=$(curl -sS --max-time "$CURL_TIMEOUT_S" -w '%{http_code}' -o /dev/null "http://127.0.0.1:$PORT/api/v1/health" 2>&1)
status=$?
isnt "$status" 0 "plain HTTP to the HTTPS port gets no HTTP answer"
diag "curl said: $out"

# A file response (the dashboard's script): without sendfile() under TLS, it still arrives whole.
mapfile -t auth < <(bearer)
curl -sS --max-time "$CURL_TIMEOUT_S" --cacert "$PKI/ca.pem" "${auth[@]}" -o "$MF_TMP/app.js" "$BASE/assets/app.js"
ok $? "GET /assets/app.js over HTTPS"
cmp -s "$MF_TMP/app.js" "$MF_SRCDIR/web/app.js"
ok $? "a file served over HTTPS arrives whole (the same bytes as web/app.js)"

# A few MiB up over TLS: many records, the body arrives whole (the stored image's id is its SHA-256).
head -c "$UPLOAD_BYTES" /dev/urandom >"$MF_TMP/image.bin"
req POST '/api/v1/firmware?format=raw&version=1.0.0' -H 'Content-Type: application/octet-stream' \
	--data-binary "@$MF_TMP/image.bin"
is "$STATUS" 201 "POST /api/v1/firmware with $UPLOAD_BYTES bytes over HTTPS: 201"
json_is .id "$(sha256sum "$MF_TMP/image.bin" | cut -d' ' -f1)" "the uploaded image arrived whole (its SHA-256)"
json_is .size "$UPLOAD_BYTES" "the uploaded image has its size"

# The event stream over TLS: an import by meshfleetctl --cacert reaches it.
stream="$MF_TMP/stream"
curl -sS -N --max-time 120 --cacert "$PKI/ca.pem" "${auth[@]}" "$BASE/api/v1/events" >"$stream" 2>"$stream.err" &
stream_pid=$!
for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
	grep -q '^retry: ' "$stream" && break
	sleep 0.05
done
grep -q '^retry: ' "$stream"
ok $? "GET /api/v1/events starts over HTTPS"

ctl network import "$fleet"
isnt "$RC" 0 "meshfleetctl without --cacert: fails (the test CA is not in the system's store)"
like "$ERR" "certificate is not trusted.*--cacert FILE" "meshfleetctl without --cacert: says to give the CA with --cacert"
ctl --cacert "$MF_TMP/no-such-ca.pem" network import "$fleet"
isnt "$RC" 0 "meshfleetctl --cacert with a missing file: fails"
like "$ERR" "cannot read the CA certificates in '$(re_quote "$MF_TMP/no-such-ca.pem")'" \
	"meshfleetctl --cacert with a missing file: names the file"
ctl --cacert "$PKI/ca.pem" network import "$fleet"
is "$RC" 0 "meshfleetctl --cacert: the network import over HTTPS succeeds"
like "$OUT" "imported; 8 nodes added" "meshfleetctl --cacert: prints the import's result"
ctl --cacert "$PKI/ca.pem" network show
is "$RC" 0 "meshfleetctl --cacert network show: exit 0"
like "$OUT" 'meshfleet-sim fleet \(seed 5\)' "meshfleetctl --cacert network show: the imported network"

for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
	grep -q '^event: network' "$stream" && break
	sleep 0.05
done
like "$(cat "$stream")" 'event: network
data: \{[^
]*"nodes_added":8' "the event stream delivers the import's event over TLS"
is "$(metric meshfleet_event_streams)" 1 "the daemon counts the HTTPS stream"
kill "$stream_pid" 2>/dev/null
wait "$stream_pid" 2>/dev/null
for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
	[ "$(metric meshfleet_event_streams)" = 0 ] && break
	sleep 0.05
done
is "$(metric meshfleet_event_streams)" 0 "the daemon notices that the HTTPS stream's client left"

# A client that ends TLS cleanly sends close_notify before its FIN; the daemon must see that the stream's client left
# all the same (a peeked read would see the unread alert, and only a keep-alive much later would find the client gone).
mkfifo "$MF_TMP/s_client.in"
openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.pem" -verify_return_error <"$MF_TMP/s_client.in" \
	>"$MF_TMP/s_client.out" 2>&1 &
s_client_pid=$!
exec 4>"$MF_TMP/s_client.in"
printf 'GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n' \
	"${ADMIN_TOKEN:+Authorization: Bearer $ADMIN_TOKEN$'\r\n'}" >&4
for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
	grep -q '^retry: ' "$MF_TMP/s_client.out" && break
	sleep 0.05
done
is "$(metric meshfleet_event_streams)" 1 "a stream over openssl s_client is open"
exec 4>&-       # end of input: s_client sends close_notify, then closes the connection
wait_exit "$s_client_pid"
for ((i = 0; i < READY_TIMEOUT_S * 20; i++)); do
	[ "$(metric meshfleet_event_streams)" = 0 ] && break
	sleep 0.05
done
is "$(metric meshfleet_event_streams)" 0 "the daemon notices a stream's client that ended TLS with close_notify"

# SIGHUP: another certificate path, and a renewed file under the same path, are both "ignored until restart".
cp "$good" "$MF_TMP/good.conf.orig"
tls_conf good "$PKI/other.pem" "$PKI/server.key" "[firmware]\nrequire_signature = off\n" >/dev/null
kill -HUP "$DAEMON_PID"
wait_for_log 'reload: done'
ok $? "SIGHUP with another tls_cert: the reload finishes"
like "$(cat "$DAEMON_LOG")" "<5>meshfleetd: reload: http\.tls_cert changed from '$(re_quote "$PKI/server.pem")' to '$(re_quote "$PKI/other.pem")': ignored until restart" \
	"SIGHUP: a changed tls_cert is reported as ignored until restart"
cp "$MF_TMP/good.conf.orig" "$good"
cp "$PKI/server.pem" "$PKI/server.pem.old"
issue "$PKI/server.key" "$PKI/server.pem.new" 2
mv "$PKI/server.pem.new" "$PKI/server.pem"
kill -HUP "$DAEMON_PID"
wait_for_log 'reload: done' 2
ok $? "SIGHUP after the certificate file was renewed: the reload finishes"
like "$(cat "$DAEMON_LOG")" "<5>meshfleetd: reload: the file of http\.tls_cert or http\.tls_key changed on disk: ignored until restart" \
	"SIGHUP: a renewed certificate file is reported as ignored until restart"
req GET /api/v1/health
is "$STATUS" 200 "after SIGHUP the daemon still serves HTTPS"
stop_daemon_ok "HTTPS daemon"

# --- doubtful but served: an expired certificate, a key other users can read ---
issue "$PKI/server.key" "$PKI/expired.pem" 0
cp "$PKI/server.key" "$PKI/open.key"
chmod 644 "$PKI/open.key"
if start_daemon --config "$(tls_conf doubtful "$PKI/expired.pem" "$PKI/open.key")"; then
	log=$(cat "$DAEMON_LOG")
	like "$log" "<4>meshfleetd: https: the certificate in '$(re_quote "$PKI/expired.pem")' [^
]* expired at [0-9TZ:-]+: clients will refuse it" "an expired certificate: a warning at start"
	like "$log" "<4>meshfleetd: https: the private key '$(re_quote "$PKI/open.key")' can be read by every user [^
]*mode 0644" "a key file of mode 0644: a warning at start"
	out=$(curl -sS --max-time "$CURL_TIMEOUT_S" --cacert "$PKI/ca.pem" -o /dev/null "$BASE/api/v1/health" 2>&1)
	like "$out" 'expired' "an expired certificate is served (and the client refuses it as expired)"
	stop_daemon_ok "expired certificate"
fi

# --- bad certificates and keys stop the start ---
run_meshfleetd --config "$(conf only-cert "[daemon]\nlog_level = info\n[http]\ntls_cert = $PKI/server.pem\n")" \
	--state-dir "$MF_TMP/state-never-only-cert" --listen 127.0.0.1:0
is "$RC" 1 "tls_cert without tls_key: exit status 1"
like "$ERR" "<3>meshfleetd: $(re_quote "$MF_TMP/only-cert.conf"):4: tls_cert is set but tls_key is not: set both for HTTPS" \
	"tls_cert without tls_key: FILE:LINE of tls_cert and the reason"
run_meshfleetd --config "$(conf only-key "[http]\nlisten = 127.0.0.1:0\n\ntls_key = $PKI/server.key\n")" \
	--state-dir "$MF_TMP/state-never-only-key"
is "$RC" 1 "tls_key without tls_cert: exit status 1"
like "$ERR" "<3>meshfleetd: $(re_quote "$MF_TMP/only-key.conf"):4: tls_key is set but tls_cert is not" \
	"tls_key without tls_cert: FILE:LINE of tls_key and the reason"
run_meshfleetd --config "$(conf empty-cert "[http]\ntls_cert =\ntls_key = $PKI/server.key\n")" \
	--state-dir "$MF_TMP/state-never-empty-cert" --listen 127.0.0.1:0
is "$RC" 1 "an empty tls_cert: exit status 1"
like "$ERR" "<3>meshfleetd: $(re_quote "$MF_TMP/empty-cert.conf"):2: empty value for tls_cert" \
	"an empty tls_cert: FILE:LINE and the reason"

refused missing-cert "$(tls_conf missing-cert "$PKI/nope.pem" "$PKI/server.key")" \
	"\[http\] tls_cert: cannot open '$(re_quote "$PKI/nope.pem")': No such file or directory"
refused missing-key "$(tls_conf missing-key "$PKI/server.pem" "$PKI/nope.key")" \
	"\[http\] tls_key: cannot open '$(re_quote "$PKI/nope.key")': No such file or directory"
refused cert-directory "$(tls_conf cert-directory "$PKI" "$PKI/server.key")" \
	"\[http\] tls_cert: '$(re_quote "$PKI")' is not a regular file"
cp "$PKI/server.key" "$PKI/locked.key"
chmod 000 "$PKI/locked.key"
if [ "$(id -u)" = 0 ]; then
	skip "an unreadable key: start-up fails" "running as root: permissions do not stop reads"
else
	refused unreadable-key "$(tls_conf unreadable-key "$PKI/server.pem" "$PKI/locked.key")" \
		"\[http\] tls_key: cannot open '$(re_quote "$PKI/locked.key")': Permission denied"
fi
refused wrong-key "$(tls_conf wrong-key "$PKI/server.pem" "$PKI/other.key")" \
	"\[http\] tls_key: the private key in '$(re_quote "$PKI/other.key")' does not belong to the certificate in '$(re_quote "$PKI/server.pem")'"
openssl_run "a DER certificate" x509 -in "$PKI/server.pem" -outform der -out "$PKI/server.der"
refused der-cert "$(tls_conf der-cert "$PKI/server.der" "$PKI/server.key")" \
	"\[http\] tls_cert: '$(re_quote "$PKI/server.der")' holds no PEM certificate .*openssl x509 -inform der"
printf 'not a key\n' >"$PKI/text.key"
refused text-key "$(tls_conf text-key "$PKI/server.pem" "$PKI/text.key")" \
	"\[http\] tls_key: '$(re_quote "$PKI/text.key")' holds no PEM private key"
: >"$PKI/empty.pem"
refused empty-cert "$(tls_conf empty-cert "$PKI/empty.pem" "$PKI/server.key")" \
	"\[http\] tls_cert: '$(re_quote "$PKI/empty.pem")' holds no PEM certificate"
refused swapped "$(tls_conf swapped "$PKI/server.key" "$PKI/server.pem")" \
	"\[http\] tls_cert: '$(re_quote "$PKI/server.key")' holds a private key, not a certificate: are tls_cert and tls_key swapped\?"
{ cat "$PKI/server.pem"; printf -- '-----BEGIN CERTIFICATE-----\nbm90IGJhc2U2NCBvZiBhIGNlcnRpZmljYXRl\n-----END CERTIFICATE-----\n'; } \
	>"$PKI/damaged-chain.pem"
refused damaged-chain "$(tls_conf damaged-chain "$PKI/damaged-chain.pem" "$PKI/server.key")" \
	"\[http\] tls_cert: certificate 2 of the chain in '$(re_quote "$PKI/damaged-chain.pem")' is damaged"
openssl_run "an encrypted key" pkey -in "$PKI/server.key" -aes256 -passout pass:secret -out "$PKI/encrypted.key"
refused encrypted-key "$(tls_conf encrypted-key "$PKI/server.pem" "$PKI/encrypted.key")" \
	"\[http\] tls_key: the private key in '$(re_quote "$PKI/encrypted.key")' is encrypted with a passphrase"
head -c $((300 * 1024)) /dev/zero >"$PKI/huge.pem"
refused huge-cert "$(tls_conf huge-cert "$PKI/huge.pem" "$PKI/server.key")" \
	"\[http\] tls_cert: '$(re_quote "$PKI/huge.pem")' is larger than [0-9]+ bytes"

# A chain (server certificate, then the CA) is served whole: a client that trusts the CA alone verifies it.
cat "$PKI/server.pem" "$PKI/ca.pem" >"$PKI/chain.pem"
if start_daemon --config "$(tls_conf chain "$PKI/chain.pem" "$PKI/server.key")"; then
	req GET /api/v1/health
	is "$STATUS" 200 "a PEM chain (server certificate first) is accepted and served"
	stop_daemon_ok "chain"
fi

# Without TLS settings the same helpers speak plain HTTP.
unset HTTPS_CACERT
if start_daemon; then
	like "$BASE" '^http://' "lib.sh: BASE is http:// without HTTPS_CACERT"
	req GET /api/v1/health
	is "$STATUS" 200 "plain HTTP still works without tls_cert and tls_key"
	like "$(cat "$DAEMON_LOG")" "listening on http://127\.0\.0\.1:$PORT/" "the start-up line says http://"
	stop_daemon_ok "plain HTTP"
fi

done_testing
