# Vigilmon's container image: `vigilmon serve` on 0.0.0.0:8080 with its SQLite database
# in the volume /var/lib/vigilmon, as an unprivileged user. See docs/deployment.md.
#
#   docker build -t vigilmon .
#   docker run -d --name vigilmon -p 8080:8080 -v vigilmon-data:/var/lib/vigilmon \
#     -e VIGILMON_PUBLIC_URL=https://vigilmon.example.com vigilmon

FROM rust:1-slim-bookworm AS build
# make: jemalloc's build; the C compiler for SQLite and ring comes with the image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p vigilmon \
 && cp target/release/vigilmon /usr/local/bin/vigilmon \
 && strip /usr/local/bin/vigilmon

FROM debian:bookworm-slim
# CA certificates for HTTPS checks and notifications.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --uid 10001 --home-dir /var/lib/vigilmon --no-create-home vigilmon \
 && install -d -o vigilmon -g vigilmon -m 0750 /var/lib/vigilmon
COPY --from=build /usr/local/bin/vigilmon /usr/bin/vigilmon
# Numeric, so that orchestrators can tell it is not root.
USER 10001:10001
WORKDIR /var/lib/vigilmon
# So that `docker exec vigilmon vigilmon token create …` finds the same database.
ENV VIGILMON_DATA_DIR=/var/lib/vigilmon
VOLUME ["/var/lib/vigilmon"]
EXPOSE 8080
# The image has no curl: the binary probes its own /healthz (503 when the store fails).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["vigilmon", "check", "http://127.0.0.1:8080/healthz", "--expect-status", "200", "--max-time", "5s"]
ENTRYPOINT ["vigilmon"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/vigilmon"]
