#!/bin/sh
# Build the images the tests run, locally: nothing is pulled from a registry.
#   eunomia-test/busybox  a busybox-static rootfs (docker import)
# EUNOMIA_FRESH=1 (set by .ci/run) removes the image first, so the build
# itself is exercised the way a fresh machine needs it.
set -eu
IMAGE=eunomia-test/busybox:latest
VERSION=2   # bump when the image's content changes: older images are rebuilt
if [ "${EUNOMIA_FRESH:-}" = 1 ]; then
    # containers left from earlier runs would keep the image alive
    left=$(docker ps -aq --filter "ancestor=$IMAGE" 2>/dev/null || true)
    [ -z "$left" ] || docker rm -f $left >/dev/null
    docker image rm -f "$IMAGE" >/dev/null 2>&1 || true
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        echo "error: EUNOMIA_FRESH=1 but $IMAGE could not be removed, so its build would not be tested" >&2
        exit 1
    fi
fi
have=$(docker image inspect --format '{{ index .Config.Labels "org.eunomia.test-image" }}' "$IMAGE" 2>/dev/null || true)
if [ "$have" = "$VERSION" ]; then exit 0; fi
BUSYBOX=/bin/busybox   # from busybox-static: runs in an empty rootfs
[ -x "$BUSYBOX" ] || { echo "error: $BUSYBOX missing: apt-get install busybox-static (scripts/install-deps.sh)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/root"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' \
    -c "LABEL org.eunomia.test-image=$VERSION" - "$IMAGE" >/dev/null
echo "built $IMAGE"
