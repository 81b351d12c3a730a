#!/usr/bin/env bash
# The core crate stays pure: nothing that does network I/O or needs an async
# runtime may enter its dependency tree (normal and build dependencies). The
# compiler then keeps the layering: the policy engine cannot reach a socket.
set -euo pipefail
cd "$(dirname "$0")/.."

# Crates that mean network I/O or a runtime, by name or name prefix.
forbidden='^(tokio|mio|socket2|hyper|h2|http|http-body|reqwest|ureq|axum|tower|rustls|native-tls|openssl|aws-|async-std|smol|futures-executor|libc-net|hickory)([-_].*)?$'

deps=$(cargo tree --locked --offline -p routewarden-core -e normal,build --prefix none --format '{p}' \
  | awk '{print $1}' | sort -u)
bad=$(grep -E "$forbidden" <<<"$deps" || true)
if [[ -n "$bad" ]]; then
  echo "tests/core_is_pure.sh: routewarden-core depends on crates it must not (I/O or a runtime):" >&2
  sed 's/^/  /' <<<"$bad" >&2
  echo "  see: cargo tree -p routewarden-core -i <crate>" >&2
  exit 1
fi
echo "routewarden-core: $(wc -l <<<"$deps") crates in its tree, none of them I/O or a runtime"
