#!/usr/bin/env bash
# Creates a federation of N nodes for a demo or a test: one federation CA and salt, one data directory per node
# (keys, CA-signed certificate, salt, hashbank.yaml), and the api + federation sections of every config.
#
# Usage: scripts/make-federation-configs.sh (--docker | --local BASEPORT) OUT_DIR ID1 ID2 [ID3 ...]
#
#   OUT_DIR/ca/         ca.pem, ca.key, salt.json (hashbank ca init; ca.key and salt.json are secrets)
#   OUT_DIR/<id>/       hashbank node init --host <id> --host localhost --ip 127.0.0.1, then api + federation
#
# Every node lists every member with its Ed25519 key (from OUT_DIR/<id>/card.json). Peers form a chain in the
# order given: ID1 <-> ID2 <-> ID3 ... (ID1 pulls from ID2; ID2 from ID1 and ID3; ...).
#
#   --docker          api.listen 0.0.0.0:8443, federation.listen 0.0.0.0:9443, peer URLs https://<id>:9443
#                     (one container per node; the host name is the service name)
#   --local BASEPORT  everything on 127.0.0.1: node i (0-based) has the API on BASEPORT+2i and federation on
#                     BASEPORT+2i+1; peer URLs https://localhost:<port>
#
# The hashbank binary is $HASHBANK (default ./build/hashbank). OUT_DIR must not exist or be an empty directory
# (an empty directory is allowed so that a freshly created Docker volume can be the target); nothing existing
# is ever overwritten. FED_DEMO_NO_FEDERATION=1 writes only the api section (for a binary without federation).
set -euo pipefail

usage() {
  echo "usage: $0 (--docker | --local BASEPORT) OUT_DIR ID1 ID2 [ID3 ...]" >&2
  exit 2
}
die() {
  echo "make-federation-configs: $*" >&2
  exit 1
}

mode="" baseport="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --docker) mode=docker; shift ;;
    --local)
      [ $# -ge 2 ] || usage
      mode=local baseport=$2; shift 2 ;;
    -h|--help) usage ;;
    --*) echo "make-federation-configs: unknown option $1" >&2; usage ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -n "$mode" ] || usage
[ ${#args[@]} -ge 2 ] || usage
out=${args[0]}
ids=("${args[@]:1}")

if [ "$mode" = local ]; then
  [[ "$baseport" =~ ^[1-9][0-9]{0,4}$ ]] || die "--local: BASEPORT must be a port number, got \"$baseport\""
  (( baseport + 2 * ${#ids[@]} - 1 <= 65535 )) || die "--local $baseport: ports for ${#ids[@]} nodes go past 65535"
fi

# Node ids: the node checks them too, but they also become host names, directory names and YAML strings here.
declare -A seen=()
for id in "${ids[@]}"; do
  [[ "$id" =~ ^[a-z0-9][a-z0-9._-]{0,63}$ ]] || die "node id \"$id\": 1-64 of a-z 0-9 . _ -, first a letter or digit"
  [ "$id" != ca ] || die "node id \"ca\" is taken by the CA directory"
  [ -z "${seen[$id]:-}" ] || die "node id \"$id\" given twice"
  seen[$id]=1
done

hashbank=${HASHBANK:-./build/hashbank}
command -v "$hashbank" >/dev/null 2>&1 || die "no hashbank binary at \"$hashbank\" (build it with scripts/build.sh, or set HASHBANK)"

if [ -e "$out" ]; then
  [ -d "$out" ] || die "$out exists and is not a directory"
  [ -z "$(ls -A "$out")" ] || die "$out exists and is not empty; refusing to touch an existing federation"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)  # data_dir in each hashbank.yaml is absolute, so a node can start from anywhere

"$hashbank" ca init --dir "$out/ca"

declare -A key=()
for id in "${ids[@]}"; do
  "$hashbank" node init --ca "$out/ca" --id "$id" --host "$id" --host localhost --ip 127.0.0.1 --out "$out/$id"
  card="$out/$id/card.json"
  [ -f "$card" ] || die "$card was not written"
  k=$(sed -n 's/.*"ed25519_public_key"[[:space:]]*:[[:space:]]*"\([0-9a-fA-F]*\)".*/\1/p' "$card")
  [[ "$k" =~ ^[0-9a-fA-F]{64}$ ]] || die "$card: no 64-hex ed25519_public_key"
  key[$id]=$k
done

api_listen() {  # $1 = index
  if [ "$mode" = docker ]; then echo "0.0.0.0:8443"; else echo "127.0.0.1:$((baseport + 2 * $1))"; fi
}
fed_listen() {
  if [ "$mode" = docker ]; then echo "0.0.0.0:9443"; else echo "127.0.0.1:$((baseport + 2 * $1 + 1))"; fi
}
fed_url() {  # $1 = index
  if [ "$mode" = docker ]; then echo "https://${ids[$1]}:9443"; else echo "https://localhost:$((baseport + 2 * $1 + 1))"; fi
}

n=${#ids[@]}
for ((i = 0; i < n; i++)); do
  id=${ids[$i]}
  {
    echo ""
    echo "# written by scripts/make-federation-configs.sh --$mode${baseport:+ $baseport}"
    echo "api:"
    echo "  listen: \"$(api_listen "$i")\""
    if [ "${FED_DEMO_NO_FEDERATION:-0}" = 1 ]; then
      echo "# federation section omitted (FED_DEMO_NO_FEDERATION=1)"
    else
      echo "federation:"
      echo "  listen: \"$(fed_listen "$i")\""
      echo "  sync_interval_ms: 2000"
      echo "  members:"
      for m in "${ids[@]}"; do
        echo "    - {id: \"$m\", public_key: \"${key[$m]}\"}"
      done
      peers=()
      if ((i > 0)); then peers+=($((i - 1))); fi
      if ((i + 1 < n)); then peers+=($((i + 1))); fi
      if [ ${#peers[@]} -eq 0 ]; then
        echo "  peers: []"
      else
        echo "  peers:"
        for p in "${peers[@]}"; do
          echo "    - {id: \"${ids[$p]}\", url: \"$(fed_url "$p")\"}"
        done
      fi
    fi
  } >>"$out/$id/hashbank.yaml"
done

echo "federation of $n nodes in $out (--$mode${baseport:+ $baseport}); CA: $out/ca/ca.pem"
for ((i = 0; i < n; i++)); do
  echo "  ${ids[$i]}: api https://$(api_listen "$i"), config $out/${ids[$i]}/hashbank.yaml"
done
