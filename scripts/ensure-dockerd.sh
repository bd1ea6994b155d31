#!/bin/sh
# Start dockerd if no Docker daemon answers (there is no systemd here).
set -eu
if docker info >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
    echo "error: Docker is not running; start it (sudo dockerd &) or run as root" >&2
    exit 1
fi
command -v dockerd >/dev/null || { echo "error: dockerd missing: apt-get install docker.io" >&2; exit 1; }
mkdir -p /var/log
echo "starting dockerd (log: /var/log/eunomia-dockerd.log)"
nohup dockerd >/var/log/eunomia-dockerd.log 2>&1 &
i=0
until docker info >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 60 ]; then
        echo "error: dockerd did not start; see /var/log/eunomia-dockerd.log" >&2
        tail -n 20 /var/log/eunomia-dockerd.log >&2 || true
        exit 1
    fi
    sleep 0.5
done
