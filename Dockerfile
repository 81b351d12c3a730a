# routewarden's image: built static (musl), run from scratch as a non-root
# user. No shell, no package manager, nothing but the binary and CA roots.
#   docker build -t routewarden:0.1.0 .
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS build
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY policies ./policies
COPY benches ./benches
RUN cargo build --release --locked --bin routewarden \
    && cp target/release/routewarden /routewarden

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
