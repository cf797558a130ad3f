# The risk bot. Build from the repository root:
#   docker build -f dockerfiles/risk.Dockerfile -t shipit-risk-bot .
# It needs SHIPIT_API__URL and SHIPIT_API__TOKEN (scope project:shipit:risk/manage), the model
# (SHIPIT_MODEL, made by `risk-bot train`; mount it or COPY it to /app/model.json), the
# repositories it scores (`repositories` in its settings), a cache volume, and never a database.

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p shipit-risk --bin risk-bot \
    && cp target/release/risk-bot /bot

FROM debian:bookworm-slim
# git clones or fetches the repositories into the cache and runs blame for the labels; the
# features use libgit2 and the tree-sitter parsers built into the binary.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /app bot \
    && mkdir -p /cache && chown bot /cache
COPY --from=build /bot /usr/local/bin/risk-bot
USER bot
WORKDIR /app
VOLUME /cache
ENTRYPOINT ["risk-bot"]
# The binary is PID 1 and closes its run on SIGTERM.
STOPSIGNAL SIGTERM
