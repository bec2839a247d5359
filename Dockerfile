# syntax=docker/dockerfile:1
# Build: docker build -t streamcart .
# Run:   docker run -p 7880:7880 -p 7881:7881 -p 7882:7882/udp -v streamcart-data:/data streamcart

FROM rust:1.85-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY static ./static
RUN cargo build --release --locked --bin streamcart

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin streamcart \
    && mkdir -p /data && chown streamcart /data
COPY --from=build /src/target/release/streamcart /usr/local/bin/streamcart
COPY livekit.yaml /etc/streamcart/livekit.yaml
USER streamcart
VOLUME ["/data"]
ENV STREAMCART_DATA_DIR=/data STREAMCART_CONFIG=/etc/streamcart/livekit.yaml
# Probe GET /health/live and GET /health/ready from your orchestrator.
EXPOSE 7880 7881 7882/udp
ENTRYPOINT ["/usr/local/bin/streamcart"]
