#!/usr/bin/env bash
# Checks that each module includes only the modules it may use (docs/architecture.md, "Dependencies point
# one way"). Reads every `#include "module/..."` line under each module directory and fails, naming the file,
# the line and the rule, when one points the wrong way. Includes that do not start with one of our module
# names ("absl/...", "protocol/log.pb.h" is protocol's own) are not ours and are ignored; production code never
# includes tests/ or bench/.
#
#   module    may include (besides itself)
#   base      -
#   crypto    base
#   config    base
#   hashing   base
#   matcher   hashing base
#   embedding crypto hashing base
#   protocol  crypto base
#   storage   crypto protocol base
#   node      every module
#
# Usage: scripts/check-deps.sh   (from anywhere; exit 0 when every include is allowed, 1 otherwise)
set -euo pipefail
cd "$(dirname "$0")/.."

modules=(base crypto config hashing embedding matcher protocol storage node)
declare -A allowed=(
  [base]=""
  [crypto]="base"
  [config]="base"
  [hashing]="base"
  [matcher]="hashing base"
  [embedding]="crypto hashing base"
  [protocol]="crypto base"
  [storage]="crypto protocol base"
  [node]="base crypto config hashing embedding matcher protocol storage"
)
forbidden_everywhere=(tests bench)

is_in() {  # is_in WORD LIST...
  local word=$1
  shift
  local item
  for item in "$@"; do [[ $item == "$word" ]] && return 0; done
  return 1
}

violations=0
checked=0
for module in "${modules[@]}"; do
  [[ -d $module ]] || continue
  # shellcheck disable=SC2206  # word splitting of the allowed list is intended
  may_use=($module ${allowed[$module]})
  while IFS= read -r -d '' file; do
    line_number=0
    while IFS= read -r line || [[ -n $line ]]; do
      line_number=$((line_number + 1))
      [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]] || continue
      target=${BASH_REMATCH[1]}
      checked=$((checked + 1))
      [[ $target == */* ]] || continue  # "foo.h": not rooted at the repository root, so not a module path
      used=${target%%/*}
      if is_in "$used" "${forbidden_everywhere[@]}"; then
        echo "check-deps: $file:$line_number includes \"$target\": module code never includes $used/" >&2
        violations=$((violations + 1))
      elif is_in "$used" "${modules[@]}" && ! is_in "$used" "${may_use[@]}"; then
        rule=${allowed[$module]// /, }
        echo "check-deps: $file:$line_number includes \"$target\": $module may use ${rule:-no other module}," \
          "not $used" >&2
        violations=$((violations + 1))
      fi
    done < "$file"
  done < <(find "$module" -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.cc' -o -name '*.cpp' -o -name '*.inc' \) -print0 | sort -z)
done

if ((violations > 0)); then
  echo "check-deps: $violations include(s) against the module dependency rules (see scripts/check-deps.sh)" >&2
  exit 1
fi
echo "check-deps: ok ($checked includes in ${#modules[@]} modules)"
