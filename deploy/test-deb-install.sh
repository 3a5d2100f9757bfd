#!/usr/bin/env bash
# Builds the .deb with cargo-deb and installs it in a clean Debian 12 (bookworm) root
# made with debootstrap, then checks the install from inside (chroot): the package
# state, the service user and its groups, the state directory, the conffiles, the
# enabled unit, `apm-kiosk config check`, `apm-kiosk doctor` (bare, then against the
# simulated reader and printer), `systemd-analyze verify` on the installed units, and
# remove/purge keeping the state directory. Prints the figures (deb size, build,
# debootstrap and install times).
#
# Needs root and the Debian mirror; the first run downloads about 200 MB (the base
# system, cached as a tarball for later runs) and makes a release build (~8 min on two
# cores). Not part of `cargo test`. Run from the repository:
#
#   sudo deploy/test-deb-install.sh            # build, install, check, clean up
#   sudo deploy/test-deb-install.sh --no-build # reuse target/debian/apm-kiosk_*.deb
#   sudo deploy/test-deb-install.sh --keep     # leave the root for a look (path printed)
#
# APM_DEB_CACHE (default /var/tmp/apm-deb-cache) keeps the base tarball; DEBIAN_MIRROR
# picks the mirror (default http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
keep=0
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --keep) keep=1 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "needs root (debootstrap, chroot)" >&2
  exit 2
fi

cache=${APM_DEB_CACHE:-/var/tmp/apm-deb-cache}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
mkdir -p "$cache"
root=$(mktemp -d /var/tmp/apm-deb-root.XXXXXX)
chmod 755 "$root"   # the root directory of a system: others must pass through it
sims=()

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

cleanup() {
  # Each simulator runs in its own session: its process group goes as a whole.
  for pid in "${sims[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  for m in dev/pts dev proc sys; do
    mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m" || true
  done
  if [ "$keep" -eq 1 ]; then
    echo "root kept at $root"
  else
    rm -rf --one-file-system "$root"
  fi
}
trap cleanup EXIT

# --- the package ------------------------------------------------------------------------
if [ "$build" -eq 1 ]; then
  if ! command -v cargo-deb >/dev/null 2>&1; then
    cargo install cargo-deb --locked
  fi
  t=$(now)
  nice -n 10 cargo deb --locked
  # The package does not link the simulators: they come from their own small binary.
  nice -n 10 cargo build --locked --release -p apm-kiosk-sim
  build_s="$(since "$t")s"
else
  build_s="skipped"
fi
deb=$(ls -t target/debian/apm-kiosk_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fail "no target/debian/apm-kiosk_*.deb; run without --no-build"
deb_bytes=$(stat -c %s "$deb")
installed_kb=$(dpkg-deb -f "$deb" Installed-Size)
echo "package: $deb ($deb_bytes bytes, installed $installed_kb KiB)"
dpkg-deb -f "$deb" Depends Recommends Suggests
dpkg-deb -c "$deb" | awk '{print $6}'

# --- a clean Debian 12 ------------------------------------------------------------------
command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
tarball="$cache/$suite-minbase.tgz"
t=$(now)
if [ ! -s "$tarball" ]; then
  debootstrap --variant=minbase --make-tarball="$tarball" "$suite" "$cache/work" "$mirror"
  rm -rf "$cache/work"
fi
download_s=$(since "$t")
t=$(now)
debootstrap --variant=minbase --unpack-tarball="$tarball" "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 \
  || { tail -n 30 "$root.debootstrap.log"; fail "debootstrap"; }
rm -f "$root.debootstrap.log"
bootstrap_s=$(since "$t")
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
echo "deb $mirror $suite main" >"$root/etc/apt/sources.list"

# --- install ----------------------------------------------------------------------------
cp "$deb" "$root/tmp/"
in_root apt-get update -qq
t=$(now)
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$deb")" \
  >"$root/tmp/install.log" 2>&1 || { tail -n 40 "$root/tmp/install.log"; fail "apt-get install"; }
install_s=$(since "$t")
grep -E "^(Setting up|Unpacking) " "$root/tmp/install.log" | sed 's/^/  /' | head -n 60

# --- what the package left --------------------------------------------------------------
in_root dpkg-query -W -f='${Status} ${Version}\n' apm-kiosk | grep -q "install ok installed" || fail "not installed"
in_root getent passwd apm-kiosk >/dev/null || fail "no apm-kiosk user"
groups=$(in_root id -nG apm-kiosk)
echo "apm-kiosk groups: $groups"
for g in dialout lp video render input; do
  case " $groups " in *" $g "*) ;; *) fail "apm-kiosk not in $g" ;; esac
done
state=$(in_root stat -c '%U:%G %a' /var/lib/apm-kiosk)
[ "$state" = "apm-kiosk:apm-kiosk 700" ] || fail "state dir is $state"
in_root dpkg-query -W -f='${Conffiles}\n' apm-kiosk | grep -q /etc/apm-kiosk/kiosk.toml || fail "kiosk.toml is not a conffile"
[ -L "$root/etc/systemd/system/multi-user.target.wants/apm-kiosk.service" ] || fail "apm-kiosk.service not enabled"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/apm-kiosk-cage.service" ] || fail "the cage unit must not be enabled"
[ -f "$root/usr/lib/udev/rules.d/99-apm-kiosk.rules" ] || fail "no udev rules"
in_root apm-kiosk --version
in_root apm-kiosk config check /etc/apm-kiosk/kiosk.toml
# The appliance links no simulator: `simulate` and the `*-sim` commands are not there.
if in_root apm-kiosk --help | grep -qE '^  (simulate|reader-sim|printer-sim|central-sim) '; then
  fail "the package's binary carries the simulators"
fi

echo "--- apm-kiosk doctor (as root, nothing plugged in; FAIL expected for the devices)"
# The installed config with the central URL on loopback: this test talks to no
# outside server.
in_root sh -c 'sed -e "s#^url = .*#url = \"http://127.0.0.1:9\"#" /etc/apm-kiosk/kiosk.toml >/tmp/bare.toml'
set +e
in_root apm-kiosk doctor --config /tmp/bare.toml
doctor_rc=$?
set -e
[ "$doctor_rc" -ne 0 ] || fail "doctor passed with no devices"

echo "--- apm-kiosk doctor (as apm-kiosk, the simulated reader and printer plugged in)"
in_root sh -c 'sed -e "s#/dev/apm-reader#/run/apm-sim/reader#" -e "s#/dev/apm-printer#/run/apm-sim/printer#" \
  -e "s#^url = .*#url = \"http://127.0.0.1:9\"#" /etc/apm-kiosk/kiosk.toml >/tmp/sim.toml'
mkdir -p "$root/run/apm-sim"
cp hardware/reader/cards.toml "$root/tmp/cards.toml"
cp target/release/apm-kiosk-sim "$root/usr/local/bin/apm-kiosk-sim"
setsid chroot "$root" sh -c 'sleep 600 | apm-kiosk-sim reader --link /run/apm-sim/reader --cards /tmp/cards.toml' >"$root/tmp/reader-sim.log" 2>&1 &
sims+=($!)
setsid chroot "$root" sh -c 'sleep 600 | apm-kiosk-sim printer --link /run/apm-sim/printer --out /tmp/tickets' >"$root/tmp/printer-sim.log" 2>&1 &
sims+=($!)
for _ in $(seq 100); do
  [ -e "$root/run/apm-sim/reader" ] && [ -e "$root/run/apm-sim/printer" ] && break
  sleep 0.1
done
[ -e "$root/run/apm-sim/reader" ] || { cat "$root/tmp/reader-sim.log"; fail "the simulated reader did not start"; }
[ -e "$root/run/apm-sim/printer" ] || { cat "$root/tmp/printer-sim.log"; fail "the simulated printer did not start"; }
# The simulators' pseudo-terminals belong to root, as a real device belongs to root
# with its group: hand them to the group udev would give.
in_root sh -c 'chgrp dialout "$(readlink -f /run/apm-sim/reader)" "$(readlink -f /run/apm-sim/printer)"; chmod 660 "$(readlink -f /run/apm-sim/reader)" "$(readlink -f /run/apm-sim/printer)"'
set +e
in_root runuser -u apm-kiosk -- apm-kiosk doctor --config /tmp/sim.toml | tee "$root/tmp/doctor.txt"
set -e
grep -q "^OK   card reader" "$root/tmp/doctor.txt" || fail "reader not OK as apm-kiosk"
grep -q "^OK   printer" "$root/tmp/doctor.txt" || fail "printer not OK as apm-kiosk"
grep -q "^OK   state dir" "$root/tmp/doctor.txt" || fail "state dir not OK as apm-kiosk"

echo "--- systemd-analyze verify on the installed units"
t=$(now)
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd cage >/dev/null 2>&1 \
  || fail "cannot install systemd and cage for the verify"
extras_s=$(since "$t")
verify=$(in_root systemd-analyze verify --man=no /usr/lib/systemd/system/apm-kiosk.service /usr/lib/systemd/system/apm-kiosk-cage.service 2>&1) \
  || { echo "$verify"; fail "systemd-analyze verify"; }
[ -z "$verify" ] || { echo "$verify"; fail "systemd-analyze verify complained"; }
echo "verify: clean"
in_root systemd-analyze security --offline=yes --no-pager /usr/lib/systemd/system/apm-kiosk.service | tail -n 1

echo "--- remove and purge keep the state directory"
in_root touch /var/lib/apm-kiosk/kiosk.db
in_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq apm-kiosk >/dev/null
[ -e "$root/var/lib/apm-kiosk/kiosk.db" ] || fail "remove deleted the state"
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq apm-kiosk >/dev/null
[ -e "$root/var/lib/apm-kiosk/kiosk.db" ] || fail "purge deleted the state"
[ ! -e "$root/etc/apm-kiosk/kiosk.toml" ] || fail "purge left the conffile"

echo
echo "figures: deb $deb_bytes bytes ($(awk -v b="$deb_bytes" 'BEGIN{printf "%.1f", b/1048576}') MiB), installed $installed_kb KiB;" \
  "build ${build_s}; base download ${download_s}s; debootstrap ${bootstrap_s}s;" \
  "install ${install_s}s; systemd+cage for verify ${extras_s}s"
echo "deb install test: passed"
