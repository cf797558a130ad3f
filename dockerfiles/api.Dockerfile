# The ShipIt API. Build from the repository root:
#   docker build -f dockerfiles/api.Dockerfile --build-arg SHIPIT_COMMIT=$(git rev-parse HEAD) -t shipit-api .
# Run with DATABASE_URL set; the image has no PostgreSQL server of its own.

FROM rust:1.95.0-slim-bookworm AS build
ARG SHIPIT_COMMIT=unknown
ARG SHIPIT_BUILD=docker
ENV SHIPIT_COMMIT=${SHIPIT_COMMIT} SHIPIT_BUILD=${SHIPIT_BUILD}
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p shipit-api

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app shipit
COPY --from=build /src/target/release/shipit-api /usr/local/bin/shipit-api
USER shipit
WORKDIR /app
ENV SHIPIT_LISTEN=0.0.0.0:8000
EXPOSE 8000
HEALTHCHECK CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8000"]
ENTRYPOINT ["shipit-api"]
CMD ["serve"]
# The binary is PID 1 and drains on SIGTERM (closing its run, or finishing its requests).
STOPSIGNAL SIGTERM
