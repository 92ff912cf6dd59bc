# syntax=docker/dockerfile:1
# Build stage: the full toolchain, cmake for the C parts (libfvad now, Opus later).
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin warmline \
 && strip target/release/warmline

# Runtime stage: slim Debian, CA roots, a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/warmline --create-home warmline
COPY --from=build /src/target/release/warmline /usr/local/bin/warmline
COPY warmline.example.toml /etc/warmline/warmline.example.toml
USER warmline
WORKDIR /var/lib/warmline
# Inside a container, listen on all interfaces (the defaults are loopback).
ENV WARMLINE_SERVER__HTTP_LISTEN=0.0.0.0:8080 \
    WARMLINE_SIP__LISTEN=0.0.0.0:5060
# HTTP (health, Twilio webhooks and Media Streams, UI); SIP over UDP and TCP;
# RTP media.
EXPOSE 8080/tcp 5060/udp 5060/tcp 10000-20000/udp 40000-40999/udp
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ' 200 ' <&3"]
ENTRYPOINT ["/usr/local/bin/warmline"]
CMD ["serve"]
