# Sourced by .ci/run: start PostgreSQL and Redis on 127.0.0.1, on free ports, with throwaway
# data directories, export their URLs for the tests, and stop them (and remove the data) on exit.
# `source .ci/servers.sh && start_servers` also works by hand; `stop_servers` ends them.

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_bin() {
    # Debian keeps the server binaries out of PATH (initdb, pg_ctl).
    local name=$1 found
    found=$(command -v "$name" 2>/dev/null || true)
    if [ -z "$found" ]; then
        found=$(ls /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1)
    fi
    echo "$found"
}

start_servers() {
    if [ -z "$(pg_bin initdb)" ] || ! command -v redis-server >/dev/null 2>&1; then
        echo ".ci/run: installing postgresql and redis-server with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null
    fi
    # Debian's package starts its own cluster and Redis on the default ports; the tests
    # never use those.
    servers_dir=$(mktemp -d /tmp/fastapi-auth-template-servers.XXXXXX)
    chmod 755 "$servers_dir"

    pg_port=$(free_port)
    pg_data="$servers_dir/pg"
    mkdir "$pg_data"
    # initdb refuses to run as root: the cluster belongs to the postgres user.
    local as_pg=()
    if [ "$(id -u)" = "0" ]; then
        chown postgres "$pg_data"
        as_pg=(runuser -u postgres --)
    fi
    "${as_pg[@]}" "$(pg_bin initdb)" -D "$pg_data" -U postgres -A trust --no-sync -E UTF8 >"$servers_dir/initdb.log"
    "${as_pg[@]}" "$(pg_bin pg_ctl)" -D "$pg_data" -l "$pg_data/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null
    export TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$pg_port/postgres"

    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$servers_dir" >"$servers_dir/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 50); do
        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    export TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
    echo ".ci/run: PostgreSQL at $TEST_POSTGRES_URL, Redis at $TEST_REDIS_URL"
}

stop_servers() {
    if [ -n "${redis_pid:-}" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
        redis_pid=
    fi
    if [ -n "${pg_data:-}" ] && [ -d "$pg_data" ]; then
        local as_pg=()
        [ "$(id -u)" = "0" ] && as_pg=(runuser -u postgres --)
        "${as_pg[@]}" "$(pg_bin pg_ctl)" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "${servers_dir:-}" ]; then
        rm -rf "$servers_dir"
        servers_dir=
    fi
}
