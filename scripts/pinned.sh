# Sourced by scripts/tail-reference and scripts/peak-cpu: one stampseal
# server pinned to $server_cpus on a fresh data directory in $work, at
# $addr with the admin token $token, and `stampseal bench` pinned to
# $bench_cpus. The caller sets those variables, and server= ; it calls
# stop_server in its EXIT trap.

# serve_pinned BIN starts BIN's server (stopping the one before) and
# returns once it answers: its own, not a server left on $addr, which
# would be measured instead, with its old data.
serve_pinned() {
	stop_server
	rm -rf "$work/data"
	STAMPSEAL_BOOTSTRAP_TOKEN=$token taskset -c "$server_cpus" "$1" serve --data "$work/data" --addr "$addr" \
		--log-level warn --issue-rate 1e9 --issue-burst 1000000000 >"$work/server.log" 2>&1 &
	server=$!
	for _ in $(seq 100); do
		if curl -fs "http://$addr/healthz" >/dev/null; then
			sleep 0.2
			kill -0 "$server" 2>/dev/null && return
			break
		fi
		sleep 0.1
	done
	echo "server did not start" >&2
	cat "$work/server.log" >&2
	exit 1
}

# bench_pinned BIN ARGS... drives the server for $seconds seconds.
bench_pinned() {
	local bin=$1
	shift
	taskset -c "$bench_cpus" "$bin" bench --addr "http://$addr" --token "$token" --duration "${seconds}s" --progress 1h "$@" 2>&1
}

stop_server() {
	if [ -n "$server" ]; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
		server=
	fi
}
