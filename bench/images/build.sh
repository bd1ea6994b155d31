#!/bin/sh
# Images for the benchmarks, built locally from this machine's Debian packages:
#   eunomia-bench/loop   busybox rootfs + static C programs: /bin/loop (the syscall
#                        loop) and /bin/storm (paced exec/file/net event storms)
#   eunomia-bench/nginx  busybox rootfs + Debian's nginx binary and its libraries
# The same static programs are built for the host in build/bench/ (the loop also
# runs outside containers).  Nothing is pulled from a registry.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
VERSION=2   # bump when an image's content changes: older images are rebuilt
hostbin=$here/../../build/bench
mkdir -p "$hostbin"
for prog in loop storm; do
    if [ ! -x "$hostbin/$prog" ] || [ "$here/$prog.c" -nt "$hostbin/$prog" ]; then
        gcc -O2 -Wall -static -o "$hostbin/$prog" "$here/$prog.c"
    fi
done
LOOP_VERSION="$VERSION-$(cat "$here/loop.c" "$here/storm.c" | sha256sum | cut -c1-12)"
built() {  # image $1 carries label version $2
    [ "$(docker image inspect --format '{{ index .Config.Labels "org.eunomia.bench-image" }}' "$1" 2>/dev/null)" = "$2" ]
}
root=""
trap '[ -z "$root" ] || rm -rf "$root"' EXIT
rootfs() {  # a busybox rootfs in $1
    mkdir -p "$1/bin" "$1/tmp" "$1/etc" "$1/proc" "$1/sys" "$1/dev"
    cp /bin/busybox "$1/bin/busybox"
    for applet in $("$1/bin/busybox" --list); do [ "$applet" = busybox ] || ln -sf busybox "$1/bin/$applet"; done
    echo "root:x:0:0:root:/root:/bin/sh" > "$1/etc/passwd"
    echo "root:x:0:" > "$1/etc/group"
}
if ! built eunomia-bench/loop "$LOOP_VERSION"; then
    root=$(mktemp -d)
    rootfs "$root"
    cp "$hostbin/loop" "$hostbin/storm" "$root/bin/"
    tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c "LABEL org.eunomia.bench-image=$LOOP_VERSION" - eunomia-bench/loop >/dev/null
    rm -rf "$root"; root=""
    echo "built eunomia-bench/loop"
fi
if ! built eunomia-bench/nginx "$VERSION"; then
    root=$(mktemp -d)
    rootfs "$root"
    mkdir -p "$root/usr/sbin" "$root/etc/nginx" "$root/var/log/nginx" "$root/var/lib/nginx" "$root/srv" "$root/run"
    cp /usr/sbin/nginx "$root/usr/sbin/nginx"
    for lib in $(ldd /usr/sbin/nginx | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    cp /etc/nginx/mime.types "$root/etc/nginx/"
    head -c 612 /dev/zero | tr '\0' 'x' > "$root/srv/index.html"
    cat > "$root/etc/nginx/nginx.conf" <<'CONF'
user root;
worker_processes 1;
daemon off;
error_log stderr warn;
pid /run/nginx.pid;
events { worker_connections 1024; }
http {
    include mime.types;
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    server { listen 8080; root /srv; }
}
CONF
    tar -C "$root" -c . | docker import -c 'ENV PATH=/bin:/usr/sbin' -c 'CMD ["nginx"]' \
        -c "LABEL org.eunomia.bench-image=$VERSION" - eunomia-bench/nginx >/dev/null
    rm -rf "$root"; root=""
    echo "built eunomia-bench/nginx"
fi
