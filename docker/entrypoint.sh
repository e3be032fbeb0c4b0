#!/bin/sh
# The container entrypoint, as rqlite's image behaves (rqlite-compat.md §3.3):
#   - arguments that start with a flag get `rqlited` in front; `rqlited ...` runs as given;
#     anything else (a shell, `rqbench`) runs unchanged;
#   - rqlite's environment variables fill in flags the command did not pass:
#       HTTP_ADDR (0.0.0.0:4001)  HTTP_ADV_ADDR ($(hostname -f):4001)
#       RAFT_ADDR (0.0.0.0:4002)  RAFT_ADV_ADDR ($(hostname -f):4002)
#       NODE_ID ($(hostname))     DATA_DIR (/rqlite/file/data, only if no data directory given)
#       ENABLE_FK (-fk)           START_DELAY (seconds to sleep first)
#     so binding 0.0.0.0 gets routable advertised addresses;
#   - RQ_ENTRYPOINT_DRY_RUN=1 prints the final command line, one argument per line, instead of
#     running it (tests; no Docker engine needed). RQ_HOSTNAME replaces `hostname` there.
set -eu

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- rqlited "$@"
fi
if [ "$1" != "rqlited" ]; then
  exec "$@"
fi
shift

host_short=${RQ_HOSTNAME:-$(hostname)}
host_full=${RQ_HOSTNAME:-$(hostname -f 2>/dev/null || hostname)}

# Flags that take no value (Go booleans): everything else consumes the next argument unless
# written -flag=value.
is_bool() {
  case "${1#-}" in
    -*) is_bool "${1#-}" ;;
    fk|version|h|help|raft-non-voter|http-verify-client|node-no-verify|node-verify-client|\
raft-remove-shutdown|raft-cluster-remove-shutdown|raft-shutdown-stepdown|write-queue-tx|\
compress-snap-transport|otlp-insecure|otlp-no-verify|on-disk) return 0 ;;
    *) return 1 ;;
  esac
}

given=" "       # the flags the command passed, by name
data_dir=""
skip_next=0
for a in "$@"; do
  if [ "$skip_next" = 1 ]; then skip_next=0; continue; fi
  case "$a" in
    -*)
      name=${a#-}; name=${name#-}; name=${name%%=*}
      given="$given$name "
      if [ "${a#*=}" = "$a" ] && ! is_bool "$a"; then skip_next=1; fi
      ;;
    *) data_dir=$a ;;
  esac
done
passed() { case "$given" in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

extra=""
add() { extra="$extra$1
"; }
passed node-id || add "-node-id
${NODE_ID:-$host_short}"
passed http-addr || add "-http-addr
${HTTP_ADDR:-0.0.0.0:4001}"
passed http-adv-addr || add "-http-adv-addr
${HTTP_ADV_ADDR:-$host_full:4001}"
passed raft-addr || add "-raft-addr
${RAFT_ADDR:-0.0.0.0:4002}"
passed raft-adv-addr || add "-raft-adv-addr
${RAFT_ADV_ADDR:-$host_full:4002}"
if [ -n "${ENABLE_FK:-}" ] && ! passed fk; then add "-fk"; fi

# The injected flags go first, the command's own next, the data directory last.
old_ifs=$IFS
IFS='
'
# shellcheck disable=SC2086
set -- $extra "$@"
IFS=$old_ifs
if [ -z "$data_dir" ]; then set -- "$@" "${DATA_DIR:-/rqlite/file/data}"; fi

if [ -n "${SQLITE_EXTENSIONS:-}" ] || [ -n "${CUSTOM_SQLITE_EXTENSIONS_PATH:-}" ]; then
  echo "entrypoint: SQLite extensions are not supported by this image yet; ignoring" >&2
fi
if [ "${RQ_ENTRYPOINT_DRY_RUN:-0}" = 1 ]; then
  printf '%s\n' rqlited "$@"
  exit 0
fi
if [ -n "${START_DELAY:-}" ]; then sleep "$START_DELAY"; fi
exec rqlited "$@"
