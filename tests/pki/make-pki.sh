#!/bin/sh
# make-pki.sh DIR: a throw-away grid PKI for the credential tests, made with the openssl CLI.
#   ca/        the test CA (openssl ca database), ca.pem, its CRL ca.crl
#   cadir/     hashed trust directory: HASH.0 (CA), HASH.r0 (CRL), HASH.signing_policy
#   wrongca/   a second CA nobody trusts
#   alice.pem alice.key alice-enc.key (passphrase "alice-pass")   /C=US/O=Example/CN=Alice Smith
#   proxy.pem proxy.key   RFC 3820 proxy of alice, chain proxy.pem = proxy + alice
#   badproxy.pem          a "proxy" whose subject is not alice's + one CN
#   proxy0.pem, deepproxy.pem   a pathlen:0 proxy and a proxy under it (too deep)
#   indproxy.pem          an independent proxy of alice (id-ppl-independent)
#   alice-server.pem alice-client.pem alice-nosig.pem  alice with EKU serverAuth only,
#                         with EKU clientAuth, with key usage lacking digitalSignature
#   serverproxy.pem       a proxy of alice-server; srvproxy.pem a proxy with EKU serverAuth
#   expired.pem/.key  revoked.pem/.key  unmapped.pem/.key  wrongca-alice.pem/.key
#   tampered.pem          alice.pem with one signature byte flipped
#   host.pem host.key     host cert for 127.0.0.1/localhost (myproxy-server), wronghost.* from wrongca
#   grid-mapfile
set -eu
d=${1:?usage: make-pki.sh DIR}
mkdir -p "$d"
cd "$d"
umask 077
subj_base="/C=US/O=Example"

mkca() {	# mkca DIR CN
	mkdir -p "$1/new"
	: >"$1/index.txt"
	echo 1000 >"$1/serial"
	echo 1000 >"$1/crlnumber"
	cat >"$1/ca.cnf" <<CNF
[ca]
default_ca = CA_default
[CA_default]
dir = $PWD/$1
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = pol
unique_subject = no
copy_extensions = none
[pol]
countryName = optional
organizationName = optional
commonName = supplied
[usr]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
[srv]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
[cli]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
[nosig]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyEncipherment
[host]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[v3ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
CNF
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/ca.key" -out "$1/ca.pem" \
	    -subj "$subj_base/CN=$2" -days 365 -config "$1/ca.cnf" -extensions v3ca 2>/dev/null
}

issue() {	# issue CA NAME SUBJECT EXT [ca options...]
	ca=$1 name=$2 subj=$3 ext=$4
	shift 4
	openssl req -new -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" \
	    -subj "$subj" 2>/dev/null
	openssl ca -batch -config "$ca/ca.cnf" -extensions "$ext" -in "$name.csr" \
	    -out "$name.pem" -notext "$@" 2>/dev/null
	rm -f "$name.csr"
}

mkca ca "Example Test CA"
mkca wrongca "Wrong Test CA"

issue ca alice "$subj_base/CN=Alice Smith" usr
openssl pkey -in alice.key -aes256 -passout pass:alice-pass -out alice-enc.key
issue ca expired "$subj_base/CN=Expired User" usr -startdate 20200101000000Z -enddate 20200102000000Z
issue ca revoked "$subj_base/CN=Revoked User" usr
issue ca unmapped "$subj_base/CN=Mallory Unmapped" usr
issue ca host "$subj_base/CN=localhost" host
# alice's name again, for other uses: a server-only certificate (EKU serverAuth), one
# with EKU clientAuth, and one whose key usage lacks digitalSignature.
issue ca alice-server "$subj_base/CN=Alice Smith" srv
issue ca alice-client "$subj_base/CN=Alice Smith" cli
issue ca alice-nosig "$subj_base/CN=Alice Smith" nosig
issue wrongca wrongca-alice "$subj_base/CN=Alice Smith" usr
issue wrongca wronghost "$subj_base/CN=localhost" host
openssl ca -batch -config ca/ca.cnf -revoke revoked.pem -crl_reason keyCompromise 2>/dev/null
openssl ca -batch -config ca/ca.cnf -gencrl -out ca/ca.crl 2>/dev/null

# RFC 3820 proxies: a good one, one with a wrong subject, one limited to no further
# proxies (pathlen:0) and a proxy under that one (violates the limit).
cat >proxy.cnf <<CNF
[proxy]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
proxyCertInfo = critical,language:id-ppl-inheritAll
[proxy0]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
proxyCertInfo = critical,language:id-ppl-inheritAll,pathlen:0
[indproxy]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
proxyCertInfo = critical,language:id-ppl-independent
[srvproxy]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
proxyCertInfo = critical,language:id-ppl-inheritAll
CNF
mkproxy() {	# mkproxy NAME SUBJECT SERIAL ISSUER EXT: NAME.pem = the proxy + ISSUER.pem
	openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
	openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -set_serial "$3" \
	    -days 1 -extfile proxy.cnf -extensions "$5" -out "$1.cert" 2>/dev/null
	cat "$1.cert" "$4.pem" >"$1.pem"
	rm -f "$1.csr" "$1.cert"
}
mkproxy proxy "$subj_base/CN=Alice Smith/CN=4711" 4711 alice proxy
mkproxy badproxy "$subj_base/CN=Bob Other/CN=4712" 4712 alice proxy
mkproxy proxy0 "$subj_base/CN=Alice Smith/CN=4713" 4713 alice proxy0
mkproxy deepproxy "$subj_base/CN=Alice Smith/CN=4713/CN=4714" 4714 proxy0 proxy
# An independent proxy of alice; a good proxy of the server-only alice-server; a proxy
# of alice whose own EKU is serverAuth only.
mkproxy indproxy "$subj_base/CN=Alice Smith/CN=4715" 4715 alice indproxy
mkproxy serverproxy "$subj_base/CN=Alice Smith/CN=4716" 4716 alice-server proxy
mkproxy srvproxy "$subj_base/CN=Alice Smith/CN=4717" 4717 alice srvproxy

# tampered.pem: alice.pem with the last byte of its signature changed.
openssl x509 -in alice.pem -outform DER -out tampered.der
size=$(wc -c <tampered.der)
last=$(od -An -tu1 -j $((size - 1)) tampered.der | tr -d ' ')
printf "\\$(printf %03o $(((last + 1) % 256)))" |
    dd of=tampered.der bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
openssl x509 -inform DER -in tampered.der -out tampered.pem
rm -f tampered.der

mkdir -p cadir
cp ca/ca.pem cadir/ca.pem
cp ca/ca.crl cadir/ca.crl
openssl rehash cadir
h=$(openssl x509 -in ca/ca.pem -noout -hash)
cat >"cadir/$h.signing_policy" <<POL
access_id_CA X509 '$subj_base/CN=Example Test CA'
pos_rights globus CA:sign
cond_subjects globus '"$subj_base/*"'
POL
# wrongcadir: trusts only the wrong CA (to check a server certificate is refused).
mkdir -p wrongcadir
cp wrongca/ca.pem wrongcadir/ca.pem
openssl rehash wrongcadir

cat >grid-mapfile <<MAP
# test grid-mapfile
"$subj_base/CN=Alice Smith" alice,alice2
"$subj_base/CN=Expired User" alice
"$subj_base/CN=Revoked User" bob

"$subj_base/CN=Bob \"Quoted\" Other" bob
MAP
chmod 644 ./*.pem grid-mapfile cadir/* wrongcadir/*
