#!/usr/bin/env bash
# Makes the build context of the hypersearch image (what the Dockerfile copies into an empty
# base image): CONTEXT/rootfs holds the binary (stripped), the few shared libraries it loads
# (the C library, libm, libgcc_s and the loader), the system's CA bundle for workers that reach
# a coordinator over TLS and a `hypersearch` user (uid 65532); CONTEXT/home is that user's
# home and working directory (/var/lib/hypersearch), with the example studies.
#
#   deploy/docker/rootfs.sh target/release/hypersearch build/context
set -euo pipefail

if (($# != 2)); then
    echo "usage: $0 BINARY CONTEXT_DIR" >&2
    exit 2
fi
binary=$1
context=$2
repo=$(cd "$(dirname "$0")/../.." && pwd)
[[ -x $binary ]] || { echo "$0: $binary is not an executable file" >&2; exit 1; }

out=$context/rootfs
rm -rf "$out" "$context/home"
mkdir -p "$out"/{usr/local/bin,etc/ssl/certs,usr/share/hypersearch,tmp} "$context/home"
strip -o "$out/usr/local/bin/hypersearch" "$binary" 2>/dev/null || cp "$binary" "$out/usr/local/bin/hypersearch"

# A static binary needs nothing more; a dynamic one gets exactly what `ldd` names.
if ldd "$binary" >/dev/null 2>&1; then
    ldd "$binary" | grep -oE '/[^ ]+' | sort -u | while read -r library; do
        mkdir -p "$out$(dirname "$library")"
        cp -L "$library" "$out$library"
    done
fi

if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/"
fi
printf 'root:x:0:0:root:/root:/sbin/nologin\nhypersearch:x:65532:65532:hypersearch:/var/lib/hypersearch:/sbin/nologin\n' \
    >"$out/etc/passwd"
printf 'root:x:0:\nhypersearch:x:65532:\n' >"$out/etc/group"
cp -r "$repo/examples" "$out/usr/share/hypersearch/"
cp -r "$repo/examples" "$context/home/"
chmod 1777 "$out/tmp"
