#!/usr/bin/env bash
# fsal_abi: the FSAL's load-time ABI self-check.
#  - built as shipped (against the configure of the installed ganesha) it loads and says so;
#  - built against a config.h that differs from Debian's build in one layout macro
#    (_USE_NLM, or _HAVE_GSSAPI) it refuses to register, with a log line naming the field,
#    and the export does not come up — ganesha keeps running, nothing is corrupted.
set -uo pipefail
T_SUITE=fsal_abi
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"

s3f_test_setup abi
cleanup() {
  for d in "$WORK"/stack-*; do [ -d "$d" ] && s3f_stack_stop "$d"; done
}
trap cleanup EXIT

CFG=$S3F_BUILD/ganesha/cfg/include/config.h

# 1. The shipped build loads.
if s3f_stack_start "$WORK/stack-ok" >"$WORK/ok.out" 2>&1 &&
   grep -q "S3FILES: ABI self-check passed" "$WORK/stack-ok/ganesha.log"; then
  t_pass shipped_build_loads
else
  t_fail shipped_build_loads "$(tail -n 5 "$WORK/ok.out" | tr '\n' ' ')"
fi
s3f_stack_stop "$WORK/stack-ok"

# 2. Builds against an altered config.h refuse to register.
# mismatch NAME SED-EXPR EXPECTED-FIELD
mismatch() {
  local name=$1 expr=$2 field=$3 dir=$WORK/variant-$1
  mkdir -p "$dir/include" "$dir/plugins"
  sed "$expr" "$CFG" >"$dir/include/config.h"
  if cmp -s "$CFG" "$dir/include/config.h"; then
    t_fail "$name" "the sed did not change config.h"; return
  fi
  if ! make -C "$S3F_ROOT" --no-print-directory abi-variant BUILD="$S3F_BUILD" \
       ABI_CONFIG_DIR="$dir/include" ABI_OUT="$dir/plugins" >"$dir/build.log" 2>&1; then
    t_fail "$name" "variant build failed: $(tail -n 3 "$dir/build.log" | tr '\n' ' ')"; return
  fi
  if S3FILES_PLUGINS="$dir/plugins" s3f_stack_start "$WORK/stack-$name" >"$dir/start.out" 2>&1; then
    t_fail "$name" "the mismatched FSAL was accepted"
    s3f_stack_stop "$WORK/stack-$name"
    return
  fi
  local log=$WORK/stack-$name/ganesha.log
  if ! grep -q "S3FILES: ABI self-check FAILED" "$log"; then
    t_fail "$name" "no ABI failure line in ganesha.log"; return
  fi
  if ! grep -q "ABI self-check: ${field:-.* reads}" "$log"; then
    t_fail "$name" "the failure does not name $field: $(grep 'ABI self-check' "$log" | head -n 3 | tr '\n' ' ')"
    return
  fi
  if grep -q "S3FILES: module registered" "$log"; then
    t_fail "$name" "module registered despite the failed check"; return
  fi
  t_pass "$name"
  grep "ABI self-check" "$log" | sed 's/^.*\] /# /' | head -n 4
  s3f_stack_stop "$WORK/stack-$name"
}

mismatch no_nlm 's/^#define _USE_NLM 1$/\/* _USE_NLM removed *\//' "Rquota_Port"
mismatch no_gssapi 's/^#define _HAVE_GSSAPI 1$/\/* _HAVE_GSSAPI removed *\//' "nfs_param size"
mismatch no_nfsacl 's/^#define USE_NFSACL3 1$/\/* USE_NFSACL3 removed *\//' ""

t_done
