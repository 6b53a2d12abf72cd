# shellcheck shell=bash disable=SC2034  # variables set here are read by scripts/test-all
# Helpers for scripts/test-all: build-and-cache the test servers, start them on
# free loopback ports with fresh data folders, stop them at exit.
# Sourced, not run. Expects: set -euo pipefail, ROOT (repo root), WORK (temp dir).

# Pinned versions. Changing one rebuilds it on next run (the cache is keyed by it).
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_CACHE_KEY=minio-7aac2a2c5b7c
MAILPIT_VERSION=v1.33.1

BACKUPKIT_CACHE="${BACKUPKIT_CACHE:-${HOME:-/root}/.cache/backupkit}"
CACHE_BIN="$BACKUPKIT_CACHE/bin"

# Credentials for the servers test-all runs or sets up (loopback only).
BK_DB_USER=backupkit
BK_DB_PASSWORD=backupkit
BK_S3_ACCESS_KEY=backupkit
BK_S3_SECRET_KEY=backupkit-secret

# Name of this run's databases (MariaDB and PostgreSQL).
RUN_DB="bkrun_$(date +%s)_$$"

_PIDS=()       # servers we started, stopped by stop_servers
_PID_NAMES=()
_DROP_DBS=()   # "mysql NAME" / "postgres NAME", dropped by stop_servers

log() { printf 'test-all: %s\n' "$*" >&2; }
die() {
	printf 'test-all: ERROR: %s\n' "$*" >&2
	exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# show_log FILE: the end of a server's log, after a failure.
show_log() {
	[[ -s "$1" ]] || return 0
	printf 'test-all: ---- last lines of %s ----\n' "$1" >&2
	tail -n 30 "$1" >&2 || true
	printf 'test-all: ----\n' >&2
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	local p
	if command -v python3 >/dev/null 2>&1 &&
		p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null); then
		echo "$p"
		return
	fi
	if command -v perl >/dev/null 2>&1 &&
		p=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport' 2>/dev/null); then
		echo "$p"
		return
	fi
	die "free_port: need python3 or perl to pick a free port"
}

# tcp_open HOST PORT: true if something accepts a TCP connection there.
tcp_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# http_ok URL: true if GET URL answers 200.
http_ok() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
		return
	fi
	# Fallback without curl: plain HTTP/1.0 over bash's /dev/tcp.
	local rest=${1#http://} hostport path line
	hostport=${rest%%/*}
	path=/${rest#*/}
	(
		exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || exit 1
		printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
		IFS= read -r -t 2 line <&3 || exit 1
		[[ $line == HTTP/1.[01]\ 200* ]]
	) 2>/dev/null
}

# wait_until SECONDS PID DESCRIPTION CMD...: poll CMD until it succeeds; fail if
# PID (if not "-") dies or time runs out.
wait_until() {
	local limit=$1 pid=$2 what=$3
	shift 3
	local deadline=$((SECONDS + limit))
	while ! "$@"; do
		if [[ $pid != - ]] && ! kill -0 "$pid" 2>/dev/null; then
			return 2
		fi
		if ((SECONDS >= deadline)); then
			log "$what: not ready after ${limit}s"
			return 1
		fi
		sleep 0.2
	done
}

# track PID NAME: stop PID at exit.
track() {
	_PIDS+=("$1")
	_PID_NAMES+=("$2")
}

stop_servers() {
	local i pid
	for ((i = ${#_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${_PIDS[i]}
		kill -TERM "$pid" 2>/dev/null || continue
	done
	for ((i = ${#_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${_PIDS[i]}
		local n=0
		while kill -0 "$pid" 2>/dev/null && ((n < 50)); do
			sleep 0.2
			n=$((n + 1))
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "${_PID_NAMES[i]} (pid $pid) ignored SIGTERM for 10s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	_PIDS=()
	local entry
	for entry in ${_DROP_DBS[@]+"${_DROP_DBS[@]}"}; do
		case $entry in
		mysql\ *) mysql_admin -e "DROP DATABASE IF EXISTS \`${entry#mysql }\`" >/dev/null 2>&1 || log "could not drop MariaDB database ${entry#mysql }" ;;
		postgres\ *) pg_drop_db "${entry#postgres }" || log "could not drop PostgreSQL database ${entry#postgres }" ;;
		esac
	done
	_DROP_DBS=()
}

# ---------------------------------------------------------------- building ---

# install_cached NAME DEST_DIR BIN_NAME BUILD_FN: make DEST_DIR/BIN_NAME exist
# and run. BUILD_FN TMPDIR must leave BIN_NAME in TMPDIR; the result is moved
# into place only when complete, so an interrupted build never leaves a broken
# cached binary. A lock keeps two runs from building the same thing at once.
install_cached() {
	local name=$1 dest=$2 bin=$3 build=$4
	mkdir -p "$CACHE_BIN"
	if [[ -x $dest/$bin ]]; then
		echo "$dest/$bin"
		return
	fi
	exec {lockfd}>"$CACHE_BIN/.lock-$name"
	if command -v flock >/dev/null 2>&1; then
		flock "$lockfd"
	fi
	if [[ ! -x $dest/$bin ]]; then
		local tmp start
		tmp=$(mktemp -d "$CACHE_BIN/.build-$name.XXXXXX")
		start=$(now)
		log "building $name (cached afterwards in $dest) ..."
		if ! "$build" "$tmp" >"$WORK/logs/build-$name.log" 2>&1 || [[ ! -x $tmp/$bin ]]; then
			show_log "$WORK/logs/build-$name.log"
			rm -rf "$tmp"
			die "building $name failed (log above)"
		fi
		mkdir -p "$dest"
		mv -f "$tmp/$bin" "$dest/$bin.tmp.$$"
		mv -f "$dest/$bin.tmp.$$" "$dest/$bin"
		rm -rf "$tmp"
		log "built $name in $(since "$start")"
	fi
	exec {lockfd}>&-
	echo "$dest/$bin"
}

_build_minio() { GOBIN="$1" GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$MINIO_VERSION"; }
_build_mailpit() { GOBIN="$1" GOFLAGS=-buildvcs=false go install "github.com/axllent/mailpit@$MAILPIT_VERSION"; }
FERRETDB_BUILD_FLAGS=(-buildvcs=false) # part of the cache key
_build_ferretdb() {
	(cd "$ROOT/internal/testservers" && GOFLAGS='' go build "${FERRETDB_BUILD_FLAGS[@]}" -o "$1/ferretdb-test" ./cmd/ferretdb-test)
}

minio_bin() { install_cached minio "$CACHE_BIN/$MINIO_CACHE_KEY" minio _build_minio; }
mailpit_bin() { install_cached mailpit "$CACHE_BIN/mailpit-$MAILPIT_VERSION" mailpit _build_mailpit; }

# ferretdb_bin: the nested module's program, cached by a hash of its sources,
# go.mod, go.sum, the Go version and the build flags. Older builds are removed.
ferretdb_bin() {
	local key
	key=$(
		cd "$ROOT/internal/testservers" &&
			{
				go env GOVERSION
				echo "${FERRETDB_BUILD_FLAGS[*]}"
				find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
					LC_ALL=C sort -z | xargs -0 sha256sum
			} | sha256sum | cut -c1-16
	)
	local dest="$CACHE_BIN/ferretdb-test-$key" old
	install_cached ferretdb-test "$dest" ferretdb-test _build_ferretdb
	for old in "$CACHE_BIN"/ferretdb-test-*; do
		[[ $old != "$dest" && -d $old ]] && rm -rf "$old"
	done
	return 0
}

# ------------------------------------------------------ machine's databases ---
# MariaDB and PostgreSQL are the machine's own services (started before the
# session on go-svc). We start them if stopped, install them if absent, and
# never stop them. Each run gets a fresh database named bkrun_<epoch>_<pid>,
# dropped at exit; leftovers of crashed runs older than 6 hours are dropped too.

apt_install() {
	log "installing $* from Debian packages ..."
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >"$WORK/logs/apt-update.log" 2>&1 || { show_log "$WORK/logs/apt-update.log"; die "apt-get update failed"; }
	apt-get install -y -qq "$@" >"$WORK/logs/apt-install.log" 2>&1 || { show_log "$WORK/logs/apt-install.log"; die "apt-get install $* failed"; }
}

# mysql_admin ARGS...: the mariadb client as an administrator: over the Unix
# socket as the OS root user (Debian's unix_socket auth), else root over TCP.
# Which one works is found once.
_MYSQL_ADMIN=()
mysql_admin() {
	if ((${#_MYSQL_ADMIN[@]} == 0)); then
		local client
		client=$(command -v mariadb || command -v mysql) || return 1
		if "$client" --protocol=socket -uroot -e 'SELECT 1' >/dev/null 2>&1; then
			_MYSQL_ADMIN=("$client" --protocol=socket -uroot)
		elif "$client" --protocol=tcp -h127.0.0.1 -P3306 -uroot --connect-timeout=3 -e 'SELECT 1' >/dev/null 2>&1; then
			_MYSQL_ADMIN=("$client" --protocol=tcp -h127.0.0.1 -P3306 -uroot --connect-timeout=3)
		else
			return 1
		fi
	fi
	"${_MYSQL_ADMIN[@]}" --batch --skip-column-names "$@"
}

mysql_ping() {
	mysqladmin --protocol=tcp -h127.0.0.1 -P3306 -u"$BK_DB_USER" -p"$BK_DB_PASSWORD" --connect-timeout=2 ping >/dev/null 2>&1 ||
		mysqladmin --protocol=tcp -h127.0.0.1 -P3306 -uroot --connect-timeout=2 ping >/dev/null 2>&1 ||
		# "Access denied" still proves the server is up.
		mysqladmin --protocol=tcp -h127.0.0.1 -P3306 -unobody --connect-timeout=2 ping 2>&1 | grep -q 'Access denied'
}

# setup_mariadb: sets MYSQL_DSN.
setup_mariadb() {
	if ! tcp_open 127.0.0.1 3306 || ! mysql_ping; then
		if [[ ! -x /usr/sbin/mariadbd ]]; then
			apt_install mariadb-server
		fi
		if ! mysql_ping; then
			log "starting MariaDB (the machine's service) ..."
			if id mysql >/dev/null 2>&1; then
				install -d -o mysql -g mysql /run/mysqld
			fi
			start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd ||
				die "could not start MariaDB (/usr/sbin/mariadbd)"
			wait_until 60 - "MariaDB on 127.0.0.1:3306" mysql_ping ||
				die "MariaDB did not answer on 127.0.0.1:3306 within 60s (see /var/log/mysql/ or the journal)"
		fi
	fi
	mysql_admin -e "SELECT 1" >/dev/null ||
		die "MariaDB answers on 127.0.0.1:3306 but neither the Unix socket nor root over TCP lets test-all in as administrator"

	local db u stale
	db=$RUN_DB
	# A dedicated user with a password works on this machine (root, empty
	# password) and on a fresh Debian install (root via unix_socket only).
	mysql_admin -e "
		CREATE USER IF NOT EXISTS '$BK_DB_USER'@'127.0.0.1' IDENTIFIED BY '$BK_DB_PASSWORD';
		CREATE USER IF NOT EXISTS '$BK_DB_USER'@'localhost' IDENTIFIED BY '$BK_DB_PASSWORD';
		ALTER USER '$BK_DB_USER'@'127.0.0.1' IDENTIFIED BY '$BK_DB_PASSWORD';
		ALTER USER '$BK_DB_USER'@'localhost' IDENTIFIED BY '$BK_DB_PASSWORD';
		GRANT ALL PRIVILEGES ON *.* TO '$BK_DB_USER'@'127.0.0.1' WITH GRANT OPTION;
		GRANT ALL PRIVILEGES ON *.* TO '$BK_DB_USER'@'localhost' WITH GRANT OPTION;
		CREATE DATABASE \`$db\`;" ||
		die "could not create MariaDB user $BK_DB_USER and database $db"
	_DROP_DBS+=("mysql $db")
	stale=$(mysql_admin -e "SHOW DATABASES" | awk -v cut="$(($(date +%s) - 6 * 3600))" -F_ '/^bkrun_[0-9]+_[0-9]+$/ && $2 < cut')
	for u in $stale; do
		mysql_admin -e "DROP DATABASE IF EXISTS \`$u\`" >/dev/null 2>&1 || true
	done
	MYSQL_DSN="$BK_DB_USER:$BK_DB_PASSWORD@tcp(127.0.0.1:3306)/$db"
	MYSQL_DB=$db
}

# pg_admin ARGS...: psql as the postgres superuser over the Unix socket (peer
# auth), else as postgres or root over TCP (trust auth on this machine).
# Which one works is found once.
_PG_ADMIN=()
pg_admin() {
	if ((${#_PG_ADMIN[@]} == 0)); then
		local u
		if id postgres >/dev/null 2>&1 &&
			(cd / && runuser -u postgres -- psql -X -At -d postgres -c 'SELECT 1') >/dev/null 2>&1; then
			_PG_ADMIN=(runuser -u postgres -- psql)
		else
			for u in postgres root; do
				if PGCONNECT_TIMEOUT=3 psql -X -h 127.0.0.1 -p 5432 -U "$u" -w -At -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
					_PG_ADMIN=(env PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p 5432 -U "$u" -w)
					break
				fi
			done
			((${#_PG_ADMIN[@]} > 0)) || return 1
		fi
	fi
	(cd / && "${_PG_ADMIN[@]}" -X -q -v ON_ERROR_STOP=1 -At -d postgres "$@")
}

pg_drop_db() {
	pg_admin -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 ||
		pg_admin -c "DROP DATABASE IF EXISTS \"$1\"" >/dev/null 2>&1
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 -t 2 >/dev/null 2>&1; }

# setup_postgres: sets POSTGRES_URL.
setup_postgres() {
	if ! pg_ready; then
		if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ ! -d /etc/postgresql ]]; then
			apt_install postgresql
		fi
		if ! pg_ready; then
			local ver
			ver=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
			[[ -n $ver ]] || die "PostgreSQL is installed but /etc/postgresql has no cluster"
			log "starting PostgreSQL $ver/main (the machine's service) ..."
			pg_ctlcluster --skip-systemctl-redirect "$ver" main start ||
				die "could not start PostgreSQL ($ver/main)"
			wait_until 60 - "PostgreSQL on 127.0.0.1:5432" pg_ready ||
				die "PostgreSQL did not answer on 127.0.0.1:5432 within 60s (see /var/log/postgresql/)"
		fi
	fi
	pg_admin -c 'SELECT 1' >/dev/null ||
		die "PostgreSQL answers on 127.0.0.1:5432 but test-all cannot get in as administrator (tried the postgres user over the socket, postgres and root over TCP)"

	local db u
	db=$RUN_DB
	pg_admin -c "DO \$\$ BEGIN
			IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$BK_DB_USER') THEN
				CREATE ROLE $BK_DB_USER LOGIN SUPERUSER PASSWORD '$BK_DB_PASSWORD';
			END IF;
		END \$\$;" -c "ALTER ROLE $BK_DB_USER LOGIN SUPERUSER PASSWORD '$BK_DB_PASSWORD'" \
		-c "CREATE DATABASE \"$db\" OWNER $BK_DB_USER" >/dev/null ||
		die "could not create PostgreSQL role $BK_DB_USER and database $db"
	_DROP_DBS+=("postgres $db")
	for u in $(pg_admin -c "SELECT datname FROM pg_database WHERE datname ~ '^bkrun_[0-9]+_[0-9]+\$'" |
		awk -v cut="$(($(date +%s) - 6 * 3600))" -F_ '$2 < cut'); do
		pg_drop_db "$u" || true
	done
	POSTGRES_URL="postgres://$BK_DB_USER:$BK_DB_PASSWORD@127.0.0.1:5432/$db?sslmode=disable"
	POSTGRES_DB=$db
}

# ------------------------------------------------------- servers we start ---

# start_minio BIN: sets S3_ENDPOINT. Fresh data folder under $WORK.
start_minio() {
	local bin=$1 try port pid rc data="$WORK/minio"
	for try in 1 2 3; do
		rm -rf "$data" && mkdir -p "$data"
		port=$(free_port)
		MINIO_ROOT_USER=$BK_S3_ACCESS_KEY MINIO_ROOT_PASSWORD=$BK_S3_SECRET_KEY \
			MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CALLHOME_ENABLE=off \
			"$bin" server --quiet --address "127.0.0.1:$port" "$data" >"$WORK/logs/minio.log" 2>&1 &
		pid=$!
		rc=0
		wait_until 120 "$pid" "MinIO" http_ok "http://127.0.0.1:$port/minio/health/live" || rc=$?
		if ((rc == 0)) && kill -0 "$pid" 2>/dev/null; then
			track "$pid" MinIO
			S3_ENDPOINT="http://127.0.0.1:$port"
			S3_DATA=$data
			return
		fi
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		((rc == 2)) || break # timed out rather than died (e.g. port taken): no retry
		log "MinIO exited at start (try $try); retrying on another port"
	done
	show_log "$WORK/logs/minio.log"
	die "could not start MinIO (log above)"
}

# start_mailpit BIN: sets SMTP_ADDR and MAILPIT_API.
start_mailpit() {
	local bin=$1 try smtp http pid rc data="$WORK/mailpit"
	for try in 1 2 3; do
		rm -rf "$data" && mkdir -p "$data"
		smtp=$(free_port)
		http=$(free_port)
		[[ $smtp != "$http" ]] || continue
		"$bin" --database "$data/mailpit.db" --smtp "127.0.0.1:$smtp" --listen "127.0.0.1:$http" \
			--disable-version-check --smtp-disable-rdns --max 0 \
			--smtp-auth-accept-any --smtp-auth-allow-insecure >"$WORK/logs/mailpit.log" 2>&1 &
		pid=$!
		rc=0
		wait_until 60 "$pid" "mailpit" http_ok "http://127.0.0.1:$http/api/v1/info" || rc=$?
		if ((rc == 0)) && wait_until 10 "$pid" "mailpit SMTP" tcp_open 127.0.0.1 "$smtp" && kill -0 "$pid" 2>/dev/null; then
			track "$pid" mailpit
			SMTP_ADDR="127.0.0.1:$smtp"
			MAILPIT_API="http://127.0.0.1:$http"
			MAILPIT_DATA=$data
			return
		fi
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		((rc == 2)) || break
		log "mailpit exited at start (try $try); retrying on other ports"
	done
	show_log "$WORK/logs/mailpit.log"
	die "could not start mailpit (log above)"
}

# start_ferretdb BIN: sets MONGODB_URI. FerretDB picks its own free port
# (listen on :0) and writes the address it got, so there is no port race.
start_ferretdb() {
	local bin=$1 pid rc data="$WORK/ferretdb" addrfile="$WORK/ferretdb.addr"
	rm -rf "$data" "$addrfile"
	"$bin" -listen 127.0.0.1:0 -data "$data" -addr-file "$addrfile" -log-level warn >"$WORK/logs/ferretdb.log" 2>&1 &
	pid=$!
	rc=0
	wait_until 60 "$pid" "FerretDB" test -s "$addrfile" || rc=$?
	if ((rc == 0)); then
		local addr
		addr=$(<"$addrfile")
		if wait_until 10 "$pid" "FerretDB TCP" tcp_open "${addr%:*}" "${addr##*:}"; then
			track "$pid" FerretDB
			MONGODB_URI="mongodb://$addr/"
			FERRETDB_DATA=$data
			return
		fi
	fi
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	show_log "$WORK/logs/ferretdb.log"
	die "could not start FerretDB (log above)"
}
