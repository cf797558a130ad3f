# The pattern every bot image follows: one image per bot binary, the same two stages as the API.
# Build from the repository root, naming the package and its binary:
#   docker build -f dockerfiles/bot.Dockerfile --build-arg PACKAGE=shipit-coverage \
#     --build-arg BINARY=coverage-bot -t shipit-coverage-bot .
# A bot needs SHIPIT_API_URL and SHIPIT_API_TOKEN, and never a database.

FROM rust:1.95.0-slim-bookworm AS build
ARG PACKAGE
ARG BINARY
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p "${PACKAGE}" --bin "${BINARY}" \
    && cp "target/release/${BINARY}" /bot

FROM debian:bookworm-slim
# Bots that run external tools (git, analyzers) add their Debian packages here, in their own
# Dockerfile copied from this one.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /app bot
COPY --from=build /bot /usr/local/bin/bot
USER bot
WORKDIR /app
ENTRYPOINT ["bot"]
# The binary is PID 1 and drains on SIGTERM (closing its run, or finishing its requests).
STOPSIGNAL SIGTERM
