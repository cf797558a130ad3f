# The static-analysis bot with its analyzers, following bot.Dockerfile. Build from the repository root:
#   docker build -f dockerfiles/static-analysis.Dockerfile -t shipit-static-analysis-bot .
# It needs SHIPIT_API__URL and SHIPIT_API__TOKEN, SHIPIT_PHABRICATOR__URL and
# SHIPIT_PHABRICATOR__API_TOKEN, and never a database.

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p shipit-static-analysis --bin static-analysis-bot \
    && cp target/release/static-analysis-bot /bot

FROM debian:bookworm-slim
# The analyzers are Debian's; git and ca-certificates fetch the analyzed repository.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
        clang-tidy clang-format cppcheck flake8 shellcheck \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /app bot \
    && mkdir -p /cache /tmp/results && chown bot /cache /tmp/results
COPY --from=build /bot /usr/local/bin/static-analysis-bot
USER bot
WORKDIR /app
# No entrypoint: the hook runs the bot, which clones or fetches the repository named by
# REPOSITORY_URL (`--fetch`) into /cache/repo with git before the analysis.
CMD ["static-analysis-bot", "--help"]
# The binary is PID 1 and drains on SIGTERM (closing its run, or finishing its requests).
STOPSIGNAL SIGTERM
