# The pulse listener: a long-running service (unlike the batch bots), built like every bot image
# (dockerfiles/bot.Dockerfile). Build from the repository root:
#   docker build -f dockerfiles/pulse-listener.Dockerfile -t shipit-pulse-listener .
# Run it with a configuration file mounted at /app/shipit.toml (or SHIPIT_* variables):
# SHIPIT_BROKER__URL=amqps://pulse.mozilla.org:5671, SHIPIT_BROKER__USER, SHIPIT_BROKER__PASSWORD,
# SHIPIT_TASKCLUSTER__CLIENT_ID, SHIPIT_TASKCLUSTER__ACCESS_TOKEN, SHIPIT_API__URL, SHIPIT_API__TOKEN
# (scopes project:shipit:runs/manage and project:shipit:events/manage), and the rules in the file.
# Health and metrics are served on SHIPIT_LISTEN (0.0.0.0:8081 here): /__heartbeat__ answers 503
# while the broker is lost; point the orchestrator's probes there.

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p shipit-pulse-listener --bin pulse-listener \
    && cp target/release/pulse-listener /pulse-listener

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /app bot
COPY --from=build /pulse-listener /usr/local/bin/pulse-listener
USER bot
WORKDIR /app
ENV SHIPIT_LISTEN=0.0.0.0:8081
EXPOSE 8081
ENTRYPOINT ["pulse-listener"]
CMD ["run"]
# The binary is PID 1 and drains on SIGTERM (closing its run, or finishing its requests).
STOPSIGNAL SIGTERM
