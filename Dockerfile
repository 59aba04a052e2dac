# syntax=docker/dockerfile:1
# kseal-controller: a static (musl) binary in an otherwise empty image, running as a non-root user.
#
#   docker build -t kseal/kseal-controller:0.1.0 .
#
# The Helm chart (deploy/helm/kseal) runs it with a read-only root filesystem, all capabilities dropped
# and seccomp RuntimeDefault; the image needs nothing else: no shell, no package manager, no writable
# path. The CA bundle is for HTTPS to AWS (the Kubernetes API uses the service account's CA).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS build
# C toolchain for aws-lc-rs (the controller's RSA), CA certificates to copy into the final image.
RUN apk add --no-cache build-base cmake perl ca-certificates
WORKDIR /src
COPY . .
# musl targets link statically with crt-static; naming the host target keeps proc-macros dynamic.
ENV RUSTFLAGS="-C target-feature=+crt-static"
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
 && cargo build --release --locked -p kseal-controller --bin kseal-controller --target "$target" \
 && install -D -m 0755 "target/$target/release/kseal-controller" /out/kseal-controller

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/kseal-controller /kseal-controller
# A numeric user, so that Kubernetes' runAsNonRoot can verify it without an /etc/passwd.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/kseal-controller"]
