#!/bin/sh
# Build the images the tests run, locally: nothing is pulled from a registry.
#   eunomia-test/busybox  a busybox-static rootfs (docker import)
set -eu
IMAGE=eunomia-test/busybox:latest
VERSION=2   # bump when the image's content changes: older images are rebuilt
have=$(docker image inspect --format '{{ index .Config.Labels "org.eunomia.test-image" }}' "$IMAGE" 2>/dev/null || true)
if [ "$have" = "$VERSION" ]; then exit 0; fi
BUSYBOX=/bin/busybox   # from busybox-static: runs in an empty rootfs
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
