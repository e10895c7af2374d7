#!/bin/sh
# Container entrypoint: seed the data volume from the read-only config folder's seed/ (files not
# there yet: a first start), then become the service (exec: the service is PID 1 and handles
# SIGTERM itself, so no --init is needed).
set -e
if [ -d /etc/dns-suite/seed ]; then
    cp -Rn /etc/dns-suite/seed/. /var/lib/dns-suite/
fi
exec dns-suite "$@"
