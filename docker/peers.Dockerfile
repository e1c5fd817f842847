# Peers of the compose stack (deploy/compose), made from Debian packages
# because no image registry is reachable where the stack is tested:
# redis-server (the queue), prometheus (scrapes every role) and Postfix's
# smtp-sink (the SMTP sink the stack delivers to). One image, the program
# chosen by the compose service's command. Built by `make image` as
# localhost/postmesh-peers:latest. Runs as uid/gid 10001 like Postmesh;
# /data (Redis, Prometheus) and /sink (one file per message) are the
# volume mount points, owned by that user so fresh named volumes are too.
FROM debian:bookworm-slim
RUN echo "postfix postfix/main_mailer_type select No configuration" \
      | debconf-set-selections \
 && apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      redis-server redis-tools prometheus postfix \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && groupadd -g 10001 peer \
 && useradd -u 10001 -g 10001 -d /nonexistent -M -s /usr/sbin/nologin peer \
 && mkdir -p /data /sink \
 && chown 10001:10001 /data /sink
USER 10001:10001
CMD ["redis-server", "--dir", "/data"]
