#!/usr/bin/env bash
# Build a local stand-in for docker.io/library/python:3.12-slim where no registry is reachable:
# Debian bookworm (Python 3.11) by debootstrap, with pip, venv and the host's CA certificates
# (an egress proxy may need them), imported into podman as TAG. Needs root, debootstrap, podman.
#
#   containers/build-base.sh localhost/debian-python:bookworm [WORKDIR]
#
# Then: podman build --build-arg BASE=localhost/debian-python:bookworm -f containers/X/Containerfile .
# WORKDIR (default: a fresh temporary folder) holds the root filesystem while it is made; it is
# removed afterwards. Podman's own settings come from the caller (CONTAINERS_CONF etc.).
set -euo pipefail
tag=${1:?usage: build-base.sh TAG [WORKDIR]}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
rootfs="$work/rootfs"
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
fi
chroot "$rootfs" update-ca-certificates >/dev/null
rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED   # plain `pip install`, as in python:*-slim
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
       "$rootfs"/usr/share/locale/*
tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "$tag"
