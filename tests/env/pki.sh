# PKI helpers for the test environment (openssl). Sourced, not run.
# shellcheck shell=bash

openssl_q() { openssl "$@" 2>/dev/null; }

# make_ca DIR: writes DIR/ca.key and DIR/ca.crt.
make_ca() {
  local dir=$1
  openssl_q ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key"
  openssl_q req -x509 -new -key "$dir/ca.key" -days 3650 -subj "/CN=kseal-testenv-ca" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$dir/ca.crt"
}

# issue_cert DIR NAME SUBJECT EXTENSIONS: writes DIR/NAME.key and DIR/NAME.crt signed by DIR/ca.
issue_cert() {
  local dir=$1 name=$2 subject=$3 ext=$4
  openssl_q ecparam -name prime256v1 -genkey -noout -out "$dir/$name.ec.key"
  openssl_q pkcs8 -topk8 -nocrypt -in "$dir/$name.ec.key" -out "$dir/$name.key"
  rm -f "$dir/$name.ec.key"
  openssl_q req -new -key "$dir/$name.key" -subj "$subject" -out "$dir/$name.csr"
  printf '%b\n' "$ext" >"$dir/$name.ext"
  openssl_q x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile "$dir/$name.ext" -out "$dir/$name.crt"
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}

# client_subject USER [GROUP...]: an X.509 subject kube-apiserver reads as that user and groups.
client_subject() {
  local subject="" group
  for group in "${@:2}"; do subject+="/O=$group"; done
  printf '%s/CN=%s' "$subject" "$1"
}

# write_kubeconfig FILE SERVER CA CERT KEY USER
write_kubeconfig() {
  local file=$1 server=$2 ca=$3 cert=$4 key=$5 user=$6
  cat >"$file.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: kseal-testenv
  cluster:
    server: $server
    certificate-authority: $ca
users:
- name: $user
  user:
    client-certificate: $cert
    client-key: $key
contexts:
- name: kseal-testenv
  context:
    cluster: kseal-testenv
    user: $user
    namespace: default
current-context: kseal-testenv
KUBECONFIG
  mv "$file.tmp" "$file"
}
