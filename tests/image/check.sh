#!/usr/bin/env bash
# The image, built and run, offline (docs/deploy.md, "The image").
#
# This machine cannot pull the Dockerfile's build stage (rust:*-slim-bookworm),
# so the binary is built here the way that stage builds it (static glibc,
# release, --locked), and the Dockerfile's final stage, taken from the
# Dockerfile itself with `COPY --from=build /X` read as `COPY build/X` from a
# context this script fills, is built with `podman build` (FROM scratch: no
# pull, no network). Its root filesystem is unpacked from podman's storage
# and its entrypoint run in it, in a chroot, as the image's user, with an
# empty environment but dummy AWS credentials:
#   - the files are exactly the Dockerfile's (no shell, nothing else);
#   - --version;
#   - --check on the bundled example (examples/fleet.json, mounted at
#     /examples) with the image's own config and policies: the same report
#     as the same binary outside the chroot with the repository's files;
#   - the daemon, with the image's config and the image's policy files
#     that read routes alone (moto does not implement GetAuthorizers, which
#     context.toml's rules need), auditing moto's server (127.0.0.1) reached
#     by a host name from the chroot's /etc/hosts: /readyz 200, a complete
#     cycle, /metrics holds the route's RW001 violation, its log says the
#     name came from the hosts file, it runs as the image's user and stops
#     on SIGTERM with exit 0.
# The chroot has no /dev, /proc or /sys: the binary must need none of them
# (it found that getrandom's default opens /dev/urandom when linked
# statically; the Dockerfile's RUSTFLAGS say why).
# The image's size is printed and written to target/image/size.txt.
#
# Runs as root (chroot, podman's storage). Installs podman with apt-get when
# it is missing. Under CI=true anything missing fails; elsewhere, without
# root it skips, and where podman cannot build it says why and runs the
# chroot on the files the image would hold, assembled from the same stage.
#
#   bash tests/image/check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

ci() { [[ "${CI:-}" == "true" ]]; }
die() {
  echo "tests/image/check.sh: $*" >&2
  exit 1
}
say() { echo "== image: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  ci && die "must run as root (chroot, podman's storage)"
  say "skipped: not root (chroot needs root)"
  exit 0
fi

OUT=$PWD/target/image
CONTEXT=$OUT/context
ROOTFS=$OUT/rootfs
TAG=localhost/routewarden:check
TRIPLE="$(uname -m)-unknown-linux-gnu"
MOTO_SERVER=${ROUTEWARDEN_MOTO_SERVER:-$PWD/target/moto-venv/bin/moto_server}
[[ -x "$MOTO_SERVER" ]] || die "moto_server missing ($MOTO_SERVER): tests/run.sh installs it"
MOTO_PYTHON=$(dirname "$MOTO_SERVER")/python

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# --- the binary, built as the Dockerfile's build stage builds it ----------
# The Dockerfile's RUSTFLAGS and cargo command, read from it.
rustflags=$(sed -n 's/^ENV RUSTFLAGS=//p' Dockerfile)
rustflags=$(python3 -c 'import shlex, sys; print(shlex.split(sys.argv[1])[0])' "$rustflags")
[[ $rustflags == *+crt-static* ]] || die "the Dockerfile's RUSTFLAGS ('$rustflags') do not link statically"
# shellcheck disable=SC2016 # the Dockerfile's text: $target is its variable
grep -qF 'cargo build --release --locked --bin routewarden --target "$target"' Dockerfile ||
  die "the Dockerfile's build stage builds otherwise than this check"
say "static release build ($TRIPLE, RUSTFLAGS=$rustflags)"
RUSTFLAGS=$rustflags cargo build --release --locked --quiet --bin routewarden --target "$TRIPLE"
rm -rf "$OUT" && mkdir -p "$OUT"
BIN=$OUT/routewarden
cp "${CARGO_TARGET_DIR:-$PWD/target}/$TRIPLE/release/routewarden" "$BIN"
strip "$BIN"
file -b "$BIN" | grep -Eq 'static(-pie)? linked|statically linked' ||
  die "$BIN is not static: $(file -b "$BIN")"
if readelf -l "$BIN" | grep -q 'INTERP'; then die "$BIN asks for a dynamic loader"; fi
ldd "$BIN" 2>&1 | grep -Eq 'not a dynamic executable|statically linked' ||
  die "ldd lists libraries for $BIN: $(ldd "$BIN" 2>&1)"
say "static: $(file -b "$BIN" | sed 's/, BuildID[^,]*//'), $(stat -c %s "$BIN") bytes"

# --- the final stage, from the Dockerfile -----------------------------------
mkdir -p "$CONTEXT/build/etc/ssl/certs" "$CONTEXT/config" "$CONTEXT/policies"
start=$(grep -n '^FROM ' Dockerfile | tail -1 | cut -d: -f1)
tail -n +"$start" Dockerfile >"$OUT/final-stage"
[[ $(head -1 "$OUT/final-stage") == "FROM scratch" ]] || die "the Dockerfile's final stage is not FROM scratch"
bad=$(grep -Ev '^(#|$|FROM scratch$|COPY |USER |EXPOSE |HEALTHCHECK NONE$|ENTRYPOINT |CMD |LABEL )' "$OUT/final-stage" || true)
[[ -z $bad ]] || die "the final stage holds instructions this check does not reproduce: $bad"
if grep -E '^COPY ' "$OUT/final-stage" | grep -- '--' | grep -Ev '^COPY --from=build /[^ ]+ /' >&2; then
  die "a COPY of the final stage has options other than --from=build"
fi
sed -E 's#^COPY --from=build /#COPY build/#' "$OUT/final-stage" >"$CONTEXT/Containerfile"

# What the build stage holds at the paths the final stage copies: the binary
# and Debian's CA bundle (the build stage is Debian too).
cp "$BIN" "$CONTEXT/build/routewarden"
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || die "/etc/ssl/certs/ca-certificates.crt missing (Debian's ca-certificates)"
cp /etc/ssl/certs/ca-certificates.crt "$CONTEXT/build/etc/ssl/certs/"
cp config/routewarden.toml "$CONTEXT/config/"
cp policies/*.toml "$CONTEXT/policies/"

# --- podman build, and the root filesystem out of its storage --------------
if ! command -v podman >/dev/null 2>&1; then
  say "installing podman (Debian)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman; } >&2 ||
    { ci && die "podman could not be installed"; }
fi
mkdir -p "$ROOTFS"
built=
if [[ ${ROUTEWARDEN_IMAGE_WITHOUT_PODMAN:-} != 1 ]] && command -v podman >/dev/null 2>&1; then
  say "podman build (no pull, no network)"
  if podman build --pull=never --network=none --quiet -f "$CONTEXT/Containerfile" -t "$TAG" "$CONTEXT" >"$OUT/podman-build.log" 2>&1; then
    built=1
  else
    cat "$OUT/podman-build.log" >&2
    ci && die "podman build failed (above)"
    say "podman build failed (above): running the chroot on the files the image would hold"
  fi
else
  ci && die "podman is missing (or ROUTEWARDEN_IMAGE_WITHOUT_PODMAN=1)"
  say "no podman: running the chroot on the files the image would hold"
fi
if [[ -n $built ]]; then
  inspect() { podman image inspect --format "$1" "$TAG"; }
  size=$(inspect '{{.Size}}')
  user=$(inspect '{{.Config.User}}')
  entrypoint=$(inspect '{{json .Config.Entrypoint}}')
  cmd=$(inspect '{{json .Config.Cmd}}')
  mnt=$(podman image mount "$TAG")
  cp -a "$mnt/." "$ROOTFS/"
  podman image unmount "$TAG" >/dev/null
  podman rmi --force "$TAG" >/dev/null
  echo "$size" >"$OUT/size.txt"
  say "image size: $size bytes ($(awk -v b="$size" 'BEGIN { printf "%.1f MiB", b / 1048576 }'))"
else
  # The stage's COPY lines, applied by hand; its config from its lines.
  while read -r _ src dst; do
    mkdir -p "$ROOTFS$(dirname "$dst.")"
    # shellcheck disable=SC2086 # the source is a glob, as in the Containerfile
    (cd "$CONTEXT" && cp $src "$ROOTFS$dst")
  done < <(grep '^COPY ' "$CONTEXT/Containerfile")
  user=$(sed -n 's/^USER //p' "$CONTEXT/Containerfile")
  entrypoint=$(sed -n 's/^ENTRYPOINT //p' "$CONTEXT/Containerfile" | tr -d ' ')
  cmd=$(sed -n 's/^CMD //p' "$CONTEXT/Containerfile" | tr -d ' ')
  echo "not built" >"$OUT/size.txt"
fi

# --- the image's contract ---------------------------------------------------
[[ $user == 65532:65532 ]] || die "the image's user is '$user', not 65532:65532"
[[ $entrypoint == '["/usr/local/bin/routewarden"]' ]] || die "entrypoint: $entrypoint"
[[ $cmd == '["--config=/etc/routewarden/config/routewarden.toml"]' ]] || die "cmd: $cmd"
expected=$(
  {
    echo /etc/ssl/certs/ca-certificates.crt
    echo /usr/local/bin/routewarden
    echo /etc/routewarden/config/routewarden.toml
    for p in policies/*.toml; do echo "/etc/routewarden/$p"; done
  } | sort
)
actual=$(cd "$ROOTFS" && find . -not -type d | sed 's#^\.##' | sort)
[[ $actual == "$expected" ]] || die "the image's files differ from the Dockerfile's:
$(diff <(echo "$expected") <(echo "$actual") || true)"
cmp -s "$ROOTFS/usr/local/bin/routewarden" "$BIN" || die "the image's binary is not the one built here"
policy_files=(policies/*.toml)
say "files: exactly the binary, the CA bundle, the config and ${#policy_files[@]} policy files; no shell"

# What the chroot adds, as Kubernetes mounts it: the example at /examples,
# /etc/hosts naming moto's address, and a resolv.conf as a pod has (its name
# server is never asked: the one name used is in /etc/hosts).
mkdir -p "$ROOTFS/examples"
cp examples/fleet.json "$ROOTFS/examples/"
printf '127.0.0.1 localhost\n127.0.0.1 moto.test\n' >"$ROOTFS/etc/hosts"
printf 'nameserver 127.0.0.1\nsearch routewarden.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n' >"$ROOTFS/etc/resolv.conf"

# The entrypoint, in the chroot, as the image's user, with nothing of this
# machine's environment. It execs: call it in a subshell (or with `&`, whose
# $! is then routewarden's pid).
ENTRYPOINT=/usr/local/bin/routewarden
CHROOT=$(command -v chroot) || die "chroot (coreutils) is missing"
in_image() {
  exec env -i HOME=/ AWS_ACCESS_KEY_ID=AKIDROUTEWARDENTEST AWS_SECRET_ACCESS_KEY=routewarden-test-secret-key \
    AWS_EC2_METADATA_DISABLED=true NO_COLOR=1 RUST_LOG="${RUST_LOG_IN_IMAGE:-info}" \
    "$CHROOT" --userspec="$user" --groups="${user#*:}" "$ROOTFS" "$ENTRYPOINT" "$@"
}

version=$(in_image --version)
want="routewarden $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
[[ $version == "$want" ]] || die "--version says '$version', not '$want'"
say "--version: $version"

# --check: the image's config (its CMD) and policies on the example, against
# the same binary outside the chroot on the repository's files.
status=0
(in_image --config=/etc/routewarden/config/routewarden.toml --check --format json \
  --routes /examples/fleet.json) >"$OUT/check-image.json" 2>"$OUT/check-image.log" || status=$?
[[ $status -eq 1 ]] || die "--check in the image exited $status, not 1 (violations): $(cat "$OUT/check-image.log")"
status=0
"$BIN" --config=config/routewarden.toml --check --format json --routes examples/fleet.json \
  >"$OUT/check-host.json" 2>/dev/null || status=$?
[[ $status -eq 1 ]] || die "--check outside the image exited $status"
summary() { # the findings, without file paths, one line each
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
for f in r["findings"]:
    print(f["rule_id"], f["status"], f.get("api_id"), f.get("route_key"))
' "$1" | sort
}
summary "$OUT/check-image.json" >"$OUT/check-image.txt"
summary "$OUT/check-host.json" >"$OUT/check-host.txt"
diff "$OUT/check-host.txt" "$OUT/check-image.txt" >&2 || die "--check in the image reports other findings than outside it"
grep -q '^RW001 violation ord4m8n2p5 GET /orders$' "$OUT/check-image.txt" ||
  die "--check in the image misses RW001 on GET /orders: $(cat "$OUT/check-image.txt")"
say "--check: exit 1, $(wc -l <"$OUT/check-image.txt") findings, the same as outside the image"

# --- the daemon against moto, by host name ----------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
moto_port=$(free_port)
"$MOTO_SERVER" -H 127.0.0.1 -p "$moto_port" >"$OUT/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$moto_port/" && break
  sleep 0.2
done
api_id=$(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true \
  "$MOTO_PYTHON" - "$moto_port" <<'EOF'
import sys, boto3
client = boto3.client("apigatewayv2", region_name="us-east-1",
                      endpoint_url=f"http://127.0.0.1:{sys.argv[1]}")
api = client.create_api(Name="image-check", ProtocolType="HTTP")
client.create_route(ApiId=api["ApiId"], RouteKey="GET /open", AuthorizationType="NONE")
print(api["ApiId"])
EOF
)
[[ -n $api_id ]] || die "no API created in moto"

daemon_port=$(free_port)
RUST_LOG_IN_IMAGE=info,routewarden::source::aws::dns=debug \
  in_image --config=/etc/routewarden/config/routewarden.toml --log-format=json \
  --policies /etc/routewarden/policies/authentication.toml --policies /etc/routewarden/policies/hygiene.toml \
  --listen "127.0.0.1:$daemon_port" --endpoint-url "http://moto.test:$moto_port" \
  >/dev/null 2>"$OUT/daemon.log" &
daemon=$!
pids+=("$daemon")
ready=
for _ in $(seq 300); do
  kill -0 "$daemon" 2>/dev/null || die "the daemon in the image exited: $(cat "$OUT/daemon.log")"
  if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$daemon_port/readyz" || true) == 200 ]]; then
    ready=1
    break
  fi
  sleep 0.2
done
[[ -n $ready ]] || die "/readyz did not answer 200 within 60 s: $(cat "$OUT/daemon.log")"
curl -fsS "http://127.0.0.1:$daemon_port/metrics" >"$OUT/metrics.txt"
series=$(grep '^routewarden_violation{' "$OUT/metrics.txt" | grep "api_id=\"$api_id\"" | grep 'rule_id="RW001"' | grep -F 'route_key="GET /open"' || true)
[[ -n $series ]] || die "/metrics has no RW001 violation of GET /open (API $api_id): $(grep '^routewarden_' "$OUT/metrics.txt" | head -20)"
grep -qF '"message":"resolved from the hosts file","name":"moto.test"' "$OUT/daemon.log" ||
  die "the daemon's log does not show moto.test resolved from /etc/hosts: $(cat "$OUT/daemon.log")"
ids=$(awk '/^Uid:|^Gid:/ { print $2 }' "/proc/$daemon/status" | tr '\n' ' ')
groups=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$daemon/status" | xargs)
[[ $ids == "65532 65532 " && ($groups == 65532 || -z $groups) ]] ||
  die "the daemon runs as uid/gid '$ids', groups '$groups', not 65532"
grep -q '^routewarden_audit_cycles_total{outcome="complete"} [1-9]' "$OUT/metrics.txt" ||
  die "the daemon's first cycle was not complete: $(grep -E '^routewarden_(audit_cycles|aws_requests)_total' "$OUT/metrics.txt")"
say "daemon: /readyz 200, a complete cycle; /metrics: $series"
say "daemon: moto.test resolved from the chroot's /etc/hosts; runs as uid and gid 65532"
kill -TERM "$daemon"
status=0
wait "$daemon" || status=$?
[[ $status -eq 0 ]] || die "the daemon exited $status on SIGTERM: $(tail -5 "$OUT/daemon.log")"
say "daemon: stopped on SIGTERM, exit 0"
if [[ -n $built ]]; then
  echo "image: built and run; size $(cat "$OUT/size.txt") bytes"
else
  echo "image: not built by podman here; the chroot ran on the files the image would hold"
fi
