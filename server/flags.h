// rqlited's command line (rqlite-compat.md §3): every v10.3.0 flag with rqlite's default, parsed
// with the Go `flag` package's rules and checked with rqlite's validation rules. Also Go's duration
// syntax, which the HTTP API shares (`?timeout=2s`, `time_s`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/types.h"

namespace rq::server {

// The rqlite version we are a drop-in replacement for, marked as ours. Also the value of the
// X-RQLITE-VERSION header.
inline constexpr const char* kVersion = "v10.3.0-sqlraft";

// One field per flag, named after it (`-raft-snap` -> `raft_snap`), initialised to rqlite's
// default. The usage text's "(default ...)" is printed from these initialisers, so they are the
// only place a default is written down.
struct Flags {
  // The positional argument, made absolute. Not created here: the caller does that.
  std::string data_dir;

  // General. Invariant after parse_flags: not empty (defaults to raft_adv_addr).
  std::string node_id;

  // HTTP API. Invariant after parse_flags: http_adv_addr is not empty (defaults to http_addr).
  std::string http_addr = "localhost:4001";
  std::string http_adv_addr;
  std::string http_allow_origin;
  std::string auth;  // path to the credentials file
  std::string http_ca_cert;
  std::string http_cert;
  std::string http_key;
  bool http_verify_client = false;
  std::string http_verify_common_name;

  // Node-to-node TLS.
  std::string node_ca_cert;
  std::string node_cert;
  std::string node_key;
  bool node_no_verify = false;
  bool node_verify_client = false;
  std::string node_verify_server_name;
  std::string node_verify_common_name;

  // Raft and clustering. Invariant after parse_flags: raft_adv_addr is not empty (defaults to
  // raft_addr), and every `join` entry is a host:port.
  std::string raft_addr = "localhost:4002";
  std::string raft_adv_addr;
  std::vector<std::string> join;  // -join, split on commas
  int join_attempts = 5;
  Duration join_interval = std::chrono::seconds(3);
  std::string join_as;
  int bootstrap_expect = 0;
  Duration bootstrap_expect_timeout = std::chrono::seconds(120);
  std::string disco_mode;
  std::string disco_key = "rqlite";
  std::string disco_config;
  bool raft_non_voter = false;
  uint64_t raft_snap = 8192;              // log entries outstanding before a snapshot
  uint64_t raft_snap_wal_size = 4194304;  // WAL bytes before a snapshot; 0 disables
  Duration raft_snap_int = std::chrono::seconds(10);
  Duration raft_leader_lease_timeout{0};  // 0: Hashicorp Raft's default (500ms)
  Duration raft_heartbeat_timeout = std::chrono::seconds(1);
  Duration raft_election_timeout = std::chrono::seconds(1);
  Duration raft_commit_timeout = std::chrono::milliseconds(50);
  Duration raft_apply_timeout = std::chrono::seconds(10);
  bool raft_remove_shutdown = false;
  bool raft_cluster_remove_shutdown = false;
  bool raft_shutdown_stepdown = true;
  Duration raft_reap_node_timeout{0};            // 0: never reap; explicitly 0 is an error
  Duration raft_reap_read_only_node_timeout{0};  // the same, for non-voters
  std::string raft_log_level = "WARN";
  Duration cluster_connect_timeout = std::chrono::seconds(30);
  bool compress_snap_transport = false;

  // Database.
  bool fk = false;
  std::vector<std::string> extensions_path;  // -extensions-path, split on commas, empties dropped
  int db_max_ro_conns = 256;                 // 0: unlimited
  Duration auto_vacuum_int{0};               // 0: off
  Duration auto_optimize_int = std::chrono::hours(24);  // 0: off

  // Queued writes.
  int write_queue_capacity = 1024;
  int write_queue_batch_size = 128;
  Duration write_queue_timeout = std::chrono::milliseconds(50);
  bool write_queue_tx = false;

  // Backup, CDC, observability.
  std::string auto_backup;
  std::string auto_restore;
  std::string cdc_config;
  std::string otlp_endpoint;
  Duration otlp_interval = std::chrono::seconds(30);
  bool otlp_insecure = false;
  bool otlp_no_verify = false;
  std::string otlp_ca_cert;
  std::string otlp_cert;
  std::string otlp_key;
  std::string cpu_profile;
  std::string mem_profile;
  std::string trace_profile;

  // One line per flag that was accepted but changes nothing (deprecated aliases, features this
  // build does not have yet). The caller logs them at startup.
  std::vector<std::string> warnings;
};

// What the process must print and exit with instead of running.
struct FlagsExit {
  int code = 0;
  std::string out;  // for stdout
  std::string err;  // for stderr
};

// Parses argv as rqlited does. Exits, as rqlited does:
//   -h / -help                 usage on stderr, code 0 (Go's flag.ErrHelp)
//   -version                   one line on stdout, code 0
//   bad flag syntax or value   the error and usage on stderr, code 2 (Go's flag.ExitOnError)
//   failed validation          "fatal: <msg>" on stderr, code 1
// Security flags this build cannot honour yet are refused with code 1, so nobody runs without
// the security they asked for.
std::variant<Flags, FlagsExit> parse_flags(int argc, const char* const* argv);

// Go's time.ParseDuration: "300ms", "-1.5h", "2h45m", "1µs" (also "us" and Greek "μs"), "0".
// Units ns us µs ms s m h; a bare number other than 0 is an error, as is overflowing int64 ns.
std::optional<Duration> parse_go_duration(std::string_view s);

// Go's Duration.String(): "1h0m0s", "1.5s", "300ms", "2µs", "0s".
std::string format_go_duration(Duration d);

}  // namespace rq::server
