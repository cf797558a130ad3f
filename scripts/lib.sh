# shellcheck shell=bash
# Helpers shared by the scripts in this directory and by .ci/run (sourced, not run).

say() { printf '==> %s\n' "$*" >&2; }

require_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        say "cargo not found: install the Rust toolchain (https://rustup.rs); rust-toolchain.toml pins 1.95.0"
        exit 1
    fi
}

# The uplift bot grafts with `git merge-tree --write-tree --stdin` (git 2.45 or later); with an older
# git every graft is `undecided`, and the uplift tests and sample data say so by failing.
require_git_for_grafts() {
    local version
    version=$(git --version 2>/dev/null | awk '{print $3}')
    if [ -z "$version" ] || [ "$(printf '%s\n2.45\n' "$version" | sort -V | head -n1)" != 2.45 ]; then
        say "git ${version:-not found} on PATH: uplift grafts need git 2.45 or later (Debian 13 has 2.47); put a newer git first on PATH"
        exit 1
    fi
}

# Whether this user may run commands as root: root itself, or passwordless sudo.
can_run_as_root() {
    [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

run_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# Installs Debian packages, as root or through passwordless sudo; otherwise says what to run.
apt_install() {
    if ! can_run_as_root; then
        say "missing Debian package(s): $*. Install them with: sudo apt-get install $*"
        exit 1
    fi
    say "installing $* with apt-get"
    run_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The directory holding the PostgreSQL server programs (initdb, pg_ctl), if any.
pg_server_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return
        fi
    fi
    for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return
        fi
    done
}

# The API's private cluster needs the server programs; the Debian package is `postgresql`.
ensure_postgres_installed() {
    if [ -z "$(pg_server_bindir)" ]; then
        apt_install postgresql
    fi
}

# Installs the Debian packages of the programs missing among `command:package` pairs.
ensure_programs_installed() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
}

# The analyzers the static-analysis bot runs, and its tests with it.
ensure_analyzers_installed() {
    ensure_programs_installed clang-tidy:clang-tidy clang-format:clang-format cppcheck:cppcheck \
        flake8:flake8 shellcheck:shellcheck
}

# The dashboard's browser tests: Debian's Chromium and chromedriver, and axe-core from the npm
# registry (tests/dashboard, pinned by its lockfile).
ensure_browser_tests_ready() {
    ensure_programs_installed chromium:chromium chromedriver:chromium-driver node:nodejs npm:npm
    if [ ! -f tests/dashboard/node_modules/axe-core/axe.min.js ]; then
        say "npm ci (tests/dashboard: axe-core)"
        npm ci --prefix tests/dashboard --no-audit --no-fund >/dev/null
    fi
}

# The pulse listener's tests use a real RabbitMQ on 127.0.0.1:5672 (guest/guest).
ensure_rabbitmq_running() {
    if ! command -v rabbitmq-server >/dev/null 2>&1 && [ ! -x /usr/sbin/rabbitmq-server ]; then
        apt_install rabbitmq-server
    fi
    if (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
        return
    fi
    if ! can_run_as_root; then
        say "RabbitMQ is not running: start it with sudo rabbitmq-server -detached"
        exit 1
    fi
    say "starting RabbitMQ"
    PATH="$PATH:/usr/sbin" run_as_root rabbitmq-server -detached
    PATH="$PATH:/usr/sbin" run_as_root rabbitmqctl await_startup >/dev/null
}

# GET of a URL on this machine (http://127.0.0.1:PORT/…), body on stdout: curl when installed,
# bash's /dev/tcp otherwise (a fresh machine may have no curl).
http_get() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS "$1"
        return
    fi
    local rest=${1#http://} host port path
    host=${rest%%/*}
    path=/${rest#*/}
    port=${host##*:}
    host=${host%%:*}
    exec 3<>"/dev/tcp/$host/$port"
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$host" >&3
    sed '1,/^\r$/d' <&3
    exec 3<&-
}

# PUT of the JSON file $3 to a URL on this machine ($1) with the bearer token $2: curl when
# installed, bash's /dev/tcp otherwise. Fails unless the answer is 2xx.
http_put_json() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
            --data-binary "@$3" "$1"
        return
    fi
    local rest=${1#http://} host port path status
    host=${rest%%/*}
    path=/${rest#*/}
    port=${host##*:}
    host=${host%%:*}
    exec 3<>"/dev/tcp/$host/$port"
    printf 'PUT %s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n' \
        "$path" "$host" "$2" "$(wc -c <"$3")" >&3
    cat "$3" >&3
    status=$(head -n 1 <&3 | cut -d' ' -f2)
    exec 3<&-
    [ "${status:0:1}" = 2 ]
}

sample_loaded() { # API_URL: the API holds runs of the sample data
    http_get "${1%/}/runs?limit=200" | grep -q '"SAMPLE"'
}

# Waits until the API at $1 answers its heartbeat, for at most $2 seconds.
wait_for_api() { # URL SECONDS [PID]: fails at once when the process PID has ended
    local _
    for _ in $(seq 1 "$2"); do
        if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then
            return 1
        fi
        if http_get "$1/__lbheartbeat__" >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    return 1
}
