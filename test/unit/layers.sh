#!/bin/bash
# test/unit/layers.sh — the layers of core/ hold (README, "Module map"): each folder
# includes only itself and the folders below it, in this order:
#     base  <  s3  <  store  <  ns  <  engine
# and only core/ns/ includes core/ns/ns_int.h (the namespace's private header), only
# core/s3/ includes s3_int.h. Headers are included by path ("s3/s3.h"): a bare name
# ("log.h") is refused, so none can meet ganesha's or syslog's. One PASS/FAIL per rule.
# Usage: test/unit/layers.sh   (from the project root)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
order=(base s3 store ns engine)
fail=0

# rule NAME: ok when $bad is empty
rule() {
  if [ -z "$bad" ]; then
    echo "PASS layers/$1"
  else
    echo "FAIL layers/$1: $(printf '%s' "$bad" | head -n 5 | tr '\n' ' ')"
    fail=1
  fi
}

for i in "${!order[@]}"; do
  l=${order[$i]}
  allowed="${order[*]:0:$((i + 1))}"
  bad=$(grep -Hn '^#include "[a-z0-9_]*/' core/"$l"/*.[ch] | while IFS= read -r line; do
          dir=$(printf '%s' "$line" | sed -n 's/.*#include "\([a-z0-9_]*\)\/.*/\1/p')
          case " $allowed " in *" $dir "*) ;; *) printf '%s\n' "$line" ;; esac
        done)
  rule "core_${l}_includes_only_below"
done

bad=$(grep -Hn '#include "ns/ns_int.h"' --include='*.[ch]' -r core sync fsal_s3files cli test | grep -v '^core/ns/')
rule ns_int_private
bad=$(grep -Hn '#include "s3/s3_int.h"' --include='*.[ch]' -r core sync fsal_s3files cli | grep -v '^core/s3/')
rule s3_int_private
bad=$(grep -HnE '#include "[a-z0-9_]+\.h"' core/*/*.[ch])
rule core_headers_by_path
# Nothing directly under core/: a bare name elsewhere (the FSAL's "log.h" is ganesha's)
# can never find one of ours through -Icore.
bad=$(ls core/*.[ch] 2>/dev/null)
rule no_bare_core_header
# The FSAL is the file side: it never calls what only the daemon and the engine may.
bad=$(grep -Hn '#include "ns/ns_sync.h"' fsal_s3files/*.[ch])
rule fsal_not_daemon_side
exit $fail
