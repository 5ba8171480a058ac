#!/usr/bin/env bash
# Real Redis and Kafka for development and the integration tests, without Docker.
#
#   scripts/services.sh up [redis|kafka|all]   start what is not already answering
#   scripts/services.sh down                   stop only what `up` started
#   scripts/services.sh status                 does each service answer? (exit 1 if not)
#   scripts/services.sh env                    print the export lines (for eval)
#   scripts/services.sh classpath              print the Kafka broker's classpath
#                                              (resolving the jars with Maven if needed)
#
# Ports (env): LIFELINE_REDIS_PORT=16379, LIFELINE_KAFKA_PORT=19092,
# LIFELINE_KAFKA_CONTROLLER_PORT=19093 -- not the usual 6379/9092, so that a
# system Redis or another Kafka on this host is never mistaken for ours.
#
# State lives in <repo>/.services (data, logs, pid files, the `started` list),
# the Kafka jars in <repo>/.cache/m2 (Maven Central; see services/kafka/pom.xml).
# Redis comes from apt if it is not installed. Nothing uses systemd: both are
# plain background processes that `down` stops by pid.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST=127.0.0.1
REDIS_PORT="${LIFELINE_REDIS_PORT:-16379}"
KAFKA_PORT="${LIFELINE_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${LIFELINE_KAFKA_CONTROLLER_PORT:-19093}"

STATE="$ROOT/.services"
CACHE="$ROOT/.cache"
STARTED="$STATE/started"          # names of the services `up` started, one a line
PY="$ROOT/.venv/bin/python"

REDIS_DIR="$STATE/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

KAFKA_SRC="$ROOT/services/kafka"
POM="$KAFKA_SRC/pom.xml"
KAFKA_DIR="$STATE/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_PID="$KAFKA_DIR/broker.pid"
KAFKA_LOG="$KAFKA_DIR/broker.log"
KAFKA_READY_TIMEOUT=60
TOPICS_FILE="$ROOT/config/kafka-topics.toml"
KAFKA_CP=""                       # set by kafka_classpath

say() { echo "services: $*"; }
die() { echo "services: $*" >&2; exit 1; }

# Seconds since $1 (an $EPOCHREALTIME value), one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

rel() { echo "${1#"$ROOT"/}"; }   # path relative to the repo, for messages

# --- small helpers -------------------------------------------------------------

port_listening() {  # is anything accepting TCP connections on HOST:$1?
    # shellcheck disable=SC2016  # $0/$1 are expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

port_owner() {  # e.g. `python3 (pid 1234)`, or `an unknown process`
    local owner
    owner="$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:((.*))' | head -n 1 |
             sed -E 's/users:\(\("([^"]*)",pid=([0-9]+).*/\1 (pid \2)/')" || true
    echo "${owner:-an unknown process}"
}

started_has() { [[ -f "$STARTED" ]] && grep -qx "$1" "$STARTED"; }
started_add() { started_has "$1" || echo "$1" >>"$STARTED"; }

# Pid from a pid file if that process is alive and its command line contains $2
# (guards against a recycled pid belonging to something else).
live_pid() {
    local pidfile="$1" pattern="$2" pid
    [[ -s "$pidfile" ]] || return 1
    pid="$(tr -dc '0-9' <"$pidfile")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern" || return 1
    echo "$pid"
}

# SIGTERM, wait up to 20 s for a clean exit, then SIGKILL.
stop_pid() {
    local name="$1" pid="$2" i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    say "$name: pid $pid still running after 20 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    die "$name: could not stop pid $pid"
}

# The last lines of a log, indented, for failure messages.
log_tail() {
    [[ -s "$1" ]] || { echo "  ($(rel "$1") is empty)"; return; }
    echo "  last lines of $(rel "$1") (stack frames omitted):"
    grep -vE '^[[:space:]]+(at |\.\.\. [0-9]+ more)' "$1" | tail -n "${2:-15}" | cut -c1-400 |
        sed 's/^/    /'
}

# The line most likely to explain a failure: the first exception message, else
# the first ERROR line, else the last line.
log_reason() {
    local line
    line="$(grep -m 1 -E '^[A-Za-z0-9_.$]+(Exception|Error): ' "$1" 2>/dev/null)" ||
        line="$(grep -m 1 -E ' (ERROR|FATAL) ' "$1" 2>/dev/null)" ||
        line="$(tail -n 1 "$1" 2>/dev/null)" || true
    echo "${line:-no output in $(rel "$1")}" | cut -c1-300
}

export_hint() {
    echo "export LIFELINE_KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT"
    echo "export LIFELINE_REDIS_URL=redis://$HOST:$REDIS_PORT/0"
}

# --- Redis ---------------------------------------------------------------------

redis_answers() {
    if command -v redis-cli >/dev/null; then
        [[ "$(timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
    else  # before redis-tools is installed: speak the protocol by hand
        # shellcheck disable=SC2016  # expanded by the inner bash
        timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"; printf "PING\r\n" >&3
                           IFS= read -r line <&3; [[ $line == "+PONG"* ]]' \
            "$HOST" "$REDIS_PORT" 2>/dev/null
    fi
}

redis_install() {
    command -v redis-server >/dev/null && return 0
    local sudo=() log="$REDIS_DIR/apt-get.log"
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null ||
            die "redis: redis-server not found, and installing it needs root (apt-get install redis-server)"
        sudo=(sudo)
    fi
    say "redis: redis-server not found; installing the Debian package with apt-get..."
    if ! { "${sudo[@]}" apt-get update &&
           "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
         } >"$log" 2>&1; then
        die "redis: redis-server not found and apt-get install failed: $(tail -n 1 "$log") (full output: $(rel "$log"))"
    fi
    command -v redis-server >/dev/null ||
        die "redis: apt-get installed redis-server but it is not on PATH ($(rel "$log"))"
}

redis_up() {
    local t0="$EPOCHREALTIME" pid i
    mkdir -p "$REDIS_DIR"
    if redis_answers; then
        if started_has redis && live_pid "$REDIS_PID" "redis-server $HOST:$REDIS_PORT" >/dev/null; then
            say "redis: already running on $HOST:$REDIS_PORT (started by an earlier up)"
        else
            say "redis: something already answers on $HOST:$REDIS_PORT; using it, leaving it alone"
        fi
        return 0
    fi
    if pid="$(live_pid "$REDIS_PID" redis-server)"; then
        # One pid file, one server: ours on another port must be stopped first.
        live_pid "$REDIS_PID" "redis-server $HOST:$REDIS_PORT" >/dev/null ||
            die "redis: our redis-server (pid $pid) runs on another port; run scripts/services.sh down first to change LIFELINE_REDIS_PORT"
        say "redis: our redis-server (pid $pid) does not answer; restarting it"
        stop_pid redis "$pid"
    fi
    if port_listening "$REDIS_PORT"; then
        die "redis: port $REDIS_PORT is in use by $(port_owner "$REDIS_PORT"), which does not answer PING; stop it or set LIFELINE_REDIS_PORT"
    fi
    redis_install

    say "redis: starting redis-server on $HOST:$REDIS_PORT"
    rm -f "$REDIS_PID"
    # A throwaway test server: loopback only, no RDB snapshots, no AOF.
    # (9>&-: the daemon must not inherit the up/down lock and hold it forever.)
    if ! redis-server --bind "$HOST" --port "$REDIS_PORT" --protected-mode yes \
            --daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --dir "$REDIS_DIR" \
            --save "" --appendonly no >"$REDIS_DIR/start.out" 2>&1 9>&-; then
        die "redis failed to start: $(tail -n 1 "$REDIS_DIR/start.out")"
    fi
    for ((i = 0; i < 100; i++)); do  # ~10 s
        if redis_answers; then
            started_add redis
            say "redis: ready on $HOST:$REDIS_PORT in $(since "$t0") s"
            return 0
        fi
        # Daemonized: the pid file appears once it has forked; if it appeared
        # and the process is gone, it died (bad option, port taken...).
        if ((i > 10)) && [[ -s "$REDIS_PID" ]] && ! live_pid "$REDIS_PID" redis-server >/dev/null; then
            break
        fi
        sleep 0.1
    done
    if pid="$(live_pid "$REDIS_PID" redis-server)"; then stop_pid redis "$pid"; fi
    {
        echo "services: redis failed to start: $(log_reason "$REDIS_LOG")"
        log_tail "$REDIS_LOG" 10
    } >&2
    exit 1
}

# --- Kafka ---------------------------------------------------------------------

kafka_version() {
    local v
    v="$(sed -n 's:.*<kafka.version>\([^<]*\)</kafka.version>.*:\1:p' "$POM" | head -n 1)"
    [[ -n "$v" ]] || die "kafka: no <kafka.version> in $(rel "$POM")"
    echo "$v"
}

require_venv() {
    [[ -x "$PY" ]] || die "kafka: $(rel "$PY") not found (the readiness check uses kafka-python): run make venv first"
}

# Does a real Kafka broker answer on the port? (a metadata request, not just TCP)
kafka_answers() {
    port_listening "$KAFKA_PORT" || return 1
    "$PY" "$ROOT/scripts/kafka_ready.py" --bootstrap "$HOST:$KAFKA_PORT" --timeout 5 --quiet \
        >/dev/null 2>&1
}

require_java() {
    command -v java >/dev/null || die "kafka: java not found (Kafka 4 needs Java 17+: apt-get install openjdk-17-jre-headless)"
    local major
    major="$(java -XshowSettings:properties -version 2>&1 |
             sed -n 's/.*java.specification.version = \([0-9]*\).*/\1/p')"
    [[ -n "$major" && "$major" -ge 17 ]] ||
        die "kafka: java ${major:-?} found, Kafka 4 needs Java 17 or newer"
}

# Set KAFKA_CP to the broker classpath, resolving it with Maven when the pom
# changed or a jar went missing from the cache.
kafka_classpath() {
    local version="$1" cpfile hashfile pomhash tmp log t0
    cpfile="$CACHE/kafka-classpath-$version.txt"
    hashfile="$cpfile.pom-sha256"
    pomhash="$(sha256sum "$POM" | cut -d ' ' -f 1)"
    if [[ -s "$cpfile" && -f "$hashfile" && "$(cat "$hashfile")" == "$pomhash" ]] &&
        tr ':' '\n' <"$cpfile" | while IFS= read -r jar; do [[ -f "$jar" ]] || exit 1; done; then
        KAFKA_CP="$(cat "$cpfile")"
        return 0
    fi
    command -v mvn >/dev/null || die "kafka: mvn not found (needed once to fetch the broker jars): apt-get install maven"
    mkdir -p "$CACHE/m2"
    tmp="$cpfile.tmp.$$"
    log="$KAFKA_DIR/maven.log"
    t0="$EPOCHREALTIME"
    say "kafka: resolving broker jars with Maven (the first time downloads ~65 MB)..."
    if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:build-classpath \
            -Dmdep.outputFile="$tmp" -Dmaven.repo.local="$CACHE/m2" >"$log" 2>&1 || [[ ! -s "$tmp" ]]; then
        rm -f "$tmp"
        die "kafka: Maven could not resolve the broker jars: $(grep -m 1 ERROR "$log" || tail -n 1 "$log") (full output: $(rel "$log"))"
    fi
    mv "$tmp" "$cpfile"
    echo "$pomhash" >"$hashfile"
    say "kafka: broker jars resolved in $(since "$t0") s"
    KAFKA_CP="$(cat "$cpfile")"
}

kafka_write_props() {
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
        -e "s|@DATA_DIR@|$KAFKA_DATA|g" "$KAFKA_SRC/server.properties.in" >"$KAFKA_PROPS"
}

# KRaft storage must be formatted once with a cluster id before the first start.
kafka_format() {
    local cp="$1" cluster_id log="$KAFKA_DIR/format.log"
    [[ -f "$KAFKA_DATA/meta.properties" ]] && return 0
    # No meta.properties: whatever else is there is unusable, start clean.
    rm -rf "$KAFKA_DATA"
    mkdir -p "$KAFKA_DATA"
    say "kafka: formatting storage in $(rel "$KAFKA_DATA") (first start)"
    cluster_id="$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>"$log" | tail -n 1)" ||
        die "kafka: could not generate a cluster id: $(tail -n 1 "$log")"
    java -cp "$cp" -Dlog4j2.configurationFile="$KAFKA_SRC/log4j2.yaml" \
        kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_PROPS" >>"$log" 2>&1 ||
        die "kafka: formatting storage failed: $(log_reason "$log") (full output: $(rel "$log"))"
}

kafka_fail() {  # $1 = reason; show the broker log and exit
    {
        echo "services: kafka failed to start: $1"
        log_tail "$KAFKA_LOG" 20
    } >&2
    exit 1
}

kafka_create_topics() {
    "$PY" "$ROOT/scripts/kafka_ready.py" --bootstrap "$HOST:$KAFKA_PORT" \
        --timeout "$KAFKA_READY_TIMEOUT" --topics-file "$TOPICS_FILE" --quiet |
        sed -e 's/^kafka_ready: /services: kafka: /' -e "s|$ROOT/||" ||
        die "kafka: broker is up but creating the topics of $(rel "$TOPICS_FILE") failed (see above)"
}

kafka_up() {
    local t0="$EPOCHREALTIME" t_launch pid version rc port
    require_venv
    mkdir -p "$KAFKA_DIR"
    if kafka_answers; then
        if started_has kafka && live_pid "$KAFKA_PID" "$KAFKA_PROPS" >/dev/null; then
            say "kafka: already running on $HOST:$KAFKA_PORT (started by an earlier up)"
        else
            say "kafka: a broker already answers on $HOST:$KAFKA_PORT; using it, leaving it alone"
        fi
        kafka_create_topics
        return 0
    fi

    if pid="$(live_pid "$KAFKA_PID" "$KAFKA_PROPS")"; then
        # One data dir, one broker: ours on other ports must be stopped first.
        grep -qxF "listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT" \
            "$KAFKA_PROPS" ||
            die "kafka: our broker (pid $pid) runs with $(grep -m 1 '^listeners=' "$KAFKA_PROPS"); run scripts/services.sh down first to change the Kafka ports"
        # Ours, but not answering: either still starting (log recovery after an
        # unclean stop can take a while) or stuck. Give it the usual time.
        say "kafka: our broker (pid $pid) is running but not answering yet; waiting up to ${KAFKA_READY_TIMEOUT} s"
        if "$PY" "$ROOT/scripts/kafka_ready.py" --bootstrap "$HOST:$KAFKA_PORT" \
                --timeout "$KAFKA_READY_TIMEOUT" --watch-pid "$pid" --quiet 2>/dev/null; then
            started_add kafka
            say "kafka: ready on $HOST:$KAFKA_PORT in $(since "$t0") s"
            kafka_create_topics
            return 0
        fi
        say "kafka: pid $pid never answered; stopping it and starting afresh"
        stop_pid kafka "$pid"
    fi

    # Fail early and clearly if another program holds one of our ports (the
    # broker would otherwise die with a BindException deep in its log).
    for port in "$KAFKA_PORT" "$CONTROLLER_PORT"; do
        if port_listening "$port"; then
            die "kafka: port $port is in use by $(port_owner "$port"), which is not a Kafka broker we can use; stop it or set LIFELINE_KAFKA_PORT / LIFELINE_KAFKA_CONTROLLER_PORT"
        fi
    done

    require_java
    version="$(kafka_version)"
    kafka_classpath "$version"
    kafka_write_props
    kafka_format "$KAFKA_CP"

    # Keep the previous run's log for post-mortems; this run starts a fresh one.
    [[ -f "$KAFKA_LOG" ]] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"
    say "kafka: starting Kafka $version broker on $HOST:$KAFKA_PORT (controller $HOST:$CONTROLLER_PORT)"
    # setsid + nohup: the broker outlives this script and the terminal it ran in.
    # Run from the state dir so that JVM crash files (hs_err_pid*) land there.
    (
        cd "$KAFKA_DIR"
        exec 9>&-  # the up/down lock must not outlive this script
        exec setsid nohup java -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$KAFKA_SRC/log4j2.yaml" \
            -cp "$KAFKA_CP" kafka.Kafka "$KAFKA_PROPS"
    ) >"$KAFKA_LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$KAFKA_PID"
    t_launch="$EPOCHREALTIME"

    # Readiness is a metadata request that succeeds; kafka_ready.py gives up at
    # once (exit 3) if the JVM exits, so a broken start fails fast.
    rc=0
    "$PY" "$ROOT/scripts/kafka_ready.py" --bootstrap "$HOST:$KAFKA_PORT" \
        --timeout "$KAFKA_READY_TIMEOUT" --watch-pid "$pid" --quiet 2>/dev/null || rc=$?
    case "$rc" in
        0) ;;
        3) sleep 0.3; kafka_fail "the broker exited: $(log_reason "$KAFKA_LOG")" ;;
        *) stop_pid kafka "$pid"
           kafka_fail "no answer on $HOST:$KAFKA_PORT within ${KAFKA_READY_TIMEOUT} s (stopped it)" ;;
    esac
    started_add kafka
    say "kafka: ready on $HOST:$KAFKA_PORT in $(since "$t_launch") s ($(since "$t0") s with setup)"
    kafka_create_topics
}

# --- commands ------------------------------------------------------------------

cmd_up() {
    local what="${1:-all}"
    case "$what" in
        redis) redis_up ;;
        kafka) kafka_up ;;
        all) require_venv; redis_up; kafka_up ;;  # check first: fail before starting anything
        *) die "up: unknown service '$what' (redis, kafka or all)" ;;
    esac
    say "to point Lifeline and the tests at them:"
    export_hint | sed 's/^/  /'
}

cmd_down() {
    local name pid pidfile pattern
    if [[ ! -s "$STARTED" ]]; then
        say "nothing to stop (up started no service, or down already ran)"
        return 0
    fi
    # Kafka first: its clients may still be writing state to Redis.
    for name in kafka redis; do
        started_has "$name" || continue
        case "$name" in
            redis) pidfile="$REDIS_PID" pattern=redis-server ;;
            kafka) pidfile="$KAFKA_PID" pattern="$KAFKA_PROPS" ;;
        esac
        if pid="$(live_pid "$pidfile" "$pattern")"; then
            say "$name: stopping pid $pid"
            stop_pid "$name" "$pid"
            say "$name: stopped"
        else
            say "$name: not running"
        fi
        rm -f "$pidfile"
    done
    rm -f "$STARTED"
}

# For other programs that run Kafka's classes (the secure test broker of
# tests/integration/secure_services.py): only the classpath on stdout.
cmd_classpath() {
    mkdir -p "$KAFKA_DIR"
    kafka_classpath "$(kafka_version)" >&2
    echo "$KAFKA_CP"
}

cmd_status() {
    local ok=0
    who() { started_has "$1" && echo " (started by services.sh up)" || echo " (not started by us)"; }
    if redis_answers; then
        say "redis: answering on $HOST:$REDIS_PORT$(who redis)"
    else
        say "redis: not answering on $HOST:$REDIS_PORT"; ok=1
    fi
    if [[ ! -x "$PY" ]]; then
        say "kafka: unknown ($(rel "$PY") missing: run make venv first)"; ok=1
    elif kafka_answers; then
        say "kafka: answering on $HOST:$KAFKA_PORT$(who kafka)"
    else
        say "kafka: not answering on $HOST:$KAFKA_PORT"; ok=1
    fi
    export_hint | sed 's/^/  /'
    return "$ok"
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    mkdir -p "$STATE"
    case "$cmd" in
        up|down)
            # One up/down at a time (e.g. parallel make jobs), or both would
            # start a broker and fight over the ports and the data dir.
            exec 9>"$STATE/lock"
            if ! flock -n 9; then
                say "waiting for another services.sh up/down to finish..."
                flock -w 180 9 || die "another services.sh up/down has held $(rel "$STATE/lock") for 3 minutes; giving up"
            fi
            "cmd_$cmd" "$@" ;;
        status) cmd_status ;;
        env) export_hint ;;
        classpath) cmd_classpath ;;
        -h|--help|help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
        *) die "usage: $0 up [redis|kafka|all] | down | status | env | classpath" ;;
    esac
}

main "$@"
