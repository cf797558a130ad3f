# The coverage bot. Build from the repository root:
#   docker build -f dockerfiles/coverage.Dockerfile -t shipit-coverage-bot .
# It needs SHIPIT_API_URL and SHIPIT_API_TOKEN, and a cache volume for downloaded artifacts.

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p shipit-coverage --bin coverage-bot

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /app bot \
    && mkdir /cache && chown bot /cache
COPY --from=build /src/target/release/coverage-bot /usr/local/bin/coverage-bot
USER bot
WORKDIR /app
VOLUME /cache
ENV SHIPIT_CACHE_DIR=/cache
ENTRYPOINT ["coverage-bot"]
# The binary is PID 1 and drains on SIGTERM (closing its run, or finishing its requests).
STOPSIGNAL SIGTERM
