#!/usr/bin/env bash
# Makes the certificates of Postmesh's internal mutual TLS (tls+tcp://
# service URLs, docs/security.md) with the openssl command.
#
#   scripts/internal-tls-certs.sh DIR [NAME ...]
#
# DIR/ca.pem and DIR/ca.key: the mesh's own CA (made once, reused when
# present: keep ca.key offline, give only ca.pem to the services).
# DIR/NAME.pem for each NAME: certificate and private key in one PEM,
# for internal_tls_cert_file; it serves as server and client
# certificate (extendedKeyUsage serverAuth and clientAuth) and names
# DNS:postmesh-internal (for internal_tls_server_name) and DNS:NAME.
# Keys are ECDSA P-256. Environment: DAYS [365] (instance
# certificates), CA_DAYS [3650], CA_CN [postmesh internal CA].
# Used by the tests (tests/unit/test_rpc_tls.c,
# tests/integration/test_internal_tls.py) with a second DIR for a
# foreign CA.
set -eu
dir=${1:?usage: internal-tls-certs.sh DIR [NAME ...]}
shift
DAYS=${DAYS:-365}
CA_DAYS=${CA_DAYS:-3650}
CA_CN=${CA_CN:-postmesh internal CA}
mkdir -p "$dir"
cd "$dir"
umask 077
if [ ! -f ca.pem ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -days "$CA_DAYS" -subj "/CN=$CA_CN" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout ca.key -out ca.pem 2>/dev/null
	chmod 644 ca.pem # public; ca.key stays 600
fi
for name in "$@"; do
	cat > "$name.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:postmesh-internal,DNS:$name
EXT
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$name" -keyout "$name.key" -out "$name.csr" 2>/dev/null
	openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key \
		-CAcreateserial -days "$DAYS" -extfile "$name.ext" \
		-out "$name.crt" 2>/dev/null
	cat "$name.crt" "$name.key" > "$name.pem"
	rm -f "$name.csr" "$name.ext" "$name.crt" "$name.key"
done
