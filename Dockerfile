# routewarden's image: one static binary, run from scratch as a non-root
# user. No shell, no package manager: the binary, its config and policies,
# and CA roots. Build it where the base image can be pulled:
#   podman build -t routewarden .        (or: docker build -t routewarden .)
#
# The binary is glibc linked statically (`+crt-static`), as tests/image/check.sh
# builds it; host names are resolved without glibc's NSS (docs/deploy.md,
# "The image"). The final stage is the contract that check builds and runs:
# it copies from the `build` stage only `/routewarden` and the CA bundle.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY src ./src
COPY policies ./policies
COPY benches ./benches
# The explicit --target keeps build scripts and proc macros dynamic; only
# the binary is static. getrandom calls getrandom(2) directly: linked
# statically, its default looks the function up with dlsym, finds nothing and
# opens /dev/urandom instead. The symbols are stripped (a quarter of the size).
ENV RUSTFLAGS="-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\""
RUN target="$(uname -m)-unknown-linux-gnu" \
    && cargo build --release --locked --bin routewarden --target "$target" \
    && cp "target/$target/release/routewarden" /routewarden \
    && strip /routewarden

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /routewarden /usr/local/bin/routewarden
COPY config/routewarden.toml /etc/routewarden/config/routewarden.toml
COPY policies/*.toml /etc/routewarden/policies/
USER 65532:65532
EXPOSE 9464
# Kubernetes probes /healthz and /readyz (deploy/kubernetes); an image with no
# shell or HTTP client has no command for a Docker HEALTHCHECK to run.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/routewarden"]
CMD ["--config=/etc/routewarden/config/routewarden.toml"]
