#!/bin/sh
# Install the Debian packages eunomia needs to build, run and test, if missing.
set -eu
# gcc + libc6-dev: tests compile small static helpers (ptrace, unix sockets)
# chromium: the HTML report is opened in it (tests/integration/browser.py)
# prometheus: promtool checks the metrics; a real Prometheus scrapes `eunomia run` in the tests
# rsyslog, influxdb, nats-server: the real servers the syslog, influxdb and nats sinks are tested against
# python3-venv: `make venv` (Debian's python3 has no ensurepip without it)
PKGS=${PKGS:-"python3 python3-venv clang llvm libbpf-dev libbpf1 bpftool make docker.io busybox-static strace libseccomp2 gcc libc6-dev chromium prometheus rsyslog influxdb nats-server podman containerd"}
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "error: missing packages:$missing; run as root (sudo make ...)" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# a package's own service must not run on the host: the benchmarks and tests start their own
for pair in nginx:nginx influxdb:influxd nats-server:nats-server prometheus:prometheus; do
    package=${pair%%:*} process=${pair#*:}
    case " $missing " in *" $package "*) pkill -x "$process" 2>/dev/null || true ;; esac
done
