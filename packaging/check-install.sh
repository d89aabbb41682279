#!/bin/sh
# check-install.sh: `make check-install` (part of `make test`). Runs
# `make install` into throwaway DESTDIRs and checks the layout, that an
# existing configuration is kept, that PREFIX moves the binary and the
# unit's ExecStart, that the installed configuration and messages pass
# --check-config, and that systemd-analyze (when present) accepts the unit.
set -eu

MAKE=${MAKE:-make}
d=$(mktemp -d)
p=$(mktemp -d)
trap 'rm -rf "$d" "$p"' EXIT INT TERM

fail() { echo "check-install: $*" >&2; exit 1; }

$MAKE -s install DESTDIR="$d" >/dev/null

for f in usr/local/bin/http-auth etc/systemd/system/http-auth.service \
	etc/http-auth/httpAuth.conf etc/http-auth/messages.toml; do
	[ -f "$d/$f" ] || fail "make install did not install /$f"
done
[ -x "$d/usr/local/bin/http-auth" ] || fail "/usr/local/bin/http-auth is not executable"
grep -q '^ExecStart=/usr/local/bin/http-auth --config /etc/http-auth/httpAuth.conf$' \
	"$d/etc/systemd/system/http-auth.service" || fail "unexpected ExecStart in the installed unit"
if grep -q '^xmpp_secret=' "$d/etc/http-auth/httpAuth.conf"; then
	fail "the installed httpAuth.conf sets xmpp_secret (the unit reads /etc/http-auth/secret)"
fi

# The installed configuration and messages are valid, given the secret the
# way the unit gives it.
printf 'check-install-secret\n' >"$d/secret"
chmod 600 "$d/secret"
out=$(env -i HOME="$d" XDG_CONFIG_DIRS="$d" HTTPAUTH_XMPP_SECRET_FILE="$d/secret" \
	"$d/usr/local/bin/http-auth" --check-config --config "$d/etc/http-auth/httpAuth.conf") ||
	fail "--check-config refused the installed configuration"
echo "$out" | grep -q '^xmpp_jid=auth.example.org$' || fail "--check-config printed: $out"
"$d/usr/local/bin/http-auth" --version | grep -q '^http-auth .*(commit ' || fail "--version"

# A second install keeps the operator's files and puts the new ones beside them.
echo '# edited by the operator' >>"$d/etc/http-auth/httpAuth.conf"
echo '# edited by the operator' >>"$d/etc/http-auth/messages.toml"
$MAKE -s install DESTDIR="$d" >/dev/null
for f in httpAuth.conf messages.toml; do
	grep -q '^# edited by the operator$' "$d/etc/http-auth/$f" || fail "make install overwrote /etc/http-auth/$f"
	[ -f "$d/etc/http-auth/$f.dist" ] || fail "make install did not leave /etc/http-auth/$f.dist"
done

# PREFIX moves the binary, and the unit follows.
$MAKE -s install DESTDIR="$p" PREFIX=/opt/http-auth >/dev/null
[ -x "$p/opt/http-auth/bin/http-auth" ] || fail "PREFIX=/opt/http-auth: no /opt/http-auth/bin/http-auth"
grep -q '^ExecStart=/opt/http-auth/bin/http-auth ' "$p/etc/systemd/system/http-auth.service" ||
	fail "PREFIX=/opt/http-auth: ExecStart does not follow"

if command -v systemd-analyze >/dev/null 2>&1; then
	# verify wants ExecStart's binary to exist: point it into DESTDIR.
	sed "s|^ExecStart=/usr/local/bin/http-auth|ExecStart=$d/usr/local/bin/http-auth|" \
		"$d/etc/systemd/system/http-auth.service" >"$d/http-auth.service"
	systemd-analyze verify "$d/http-auth.service" || fail "systemd-analyze verify refused the unit"
	echo "check-install: ok (layout, kept files, PREFIX, --check-config, systemd-analyze verify)"
else
	echo "check-install: ok (layout, kept files, PREFIX, --check-config); systemd-analyze not found: the unit was not verified"
fi
