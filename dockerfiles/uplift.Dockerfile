# The uplift bot. Build from the repository root:
#   docker build -f dockerfiles/uplift.Dockerfile -t shipit-uplift-bot .
# It needs SHIPIT_API__URL and SHIPIT_API__TOKEN, SHIPIT_BUGZILLA__URL and
# SHIPIT_BUGZILLA__API_KEY, a cache volume for the repository, and never a database.

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p shipit-uplift --bin uplift-bot \
    && cp target/release/uplift-bot /bot

# trixie for its git (2.47): the grafts are git's own merges (`git merge-tree --stdin` with trees
# needs git 2.45 or later; bookworm has 2.39). The binary, built on bookworm, runs on trixie's glibc.
FROM debian:trixie-slim
# git clones or fetches the repository into the cache, merges the grafts and lists the paths of
# each commit for the history index.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /app bot \
    && mkdir -p /cache /tmp/results && chown bot /cache /tmp/results
COPY --from=build /bot /usr/local/bin/uplift-bot
USER bot
WORKDIR /app
VOLUME /cache
ENTRYPOINT ["uplift-bot"]
# The binary is PID 1 and drains on SIGTERM (closing its run, or finishing its requests).
STOPSIGNAL SIGTERM
