// rqlited's command line. The parser is Go's `flag` package rewritten (FlagSet.parseOne, the
// Value.Set of each type, PrintDefaults), because rqlite's behaviour *is* that package's: parsing
// stops at the first non-flag, `-b false` makes `false` the data directory, a value is parsed the
// moment its flag is seen, and scripts see Go's wording and exit codes. CLI11 (the stack's choice,
// stack.md §4) is not used: it keeps parsing flags after a positional argument, cannot tell
// `-b false` from `-s value` without the table we need anyway, has a different help layout, and
// would be left with nothing to do but look names up.
#include "server/flags.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "core/assert.h"

namespace rq::server {
namespace {

using namespace std::string_view_literals;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// ---------------------------------------------------------------------------------------------
// Go's strconv, as the flag package uses it: ParseInt/ParseUint with base 0 (so "0x10", "0o17",
// "0b101", "017" and "1_000" are numbers), ParseBool, and Atoi for ports.

enum class NumError { kNone, kSyntax, kRange };

// strconv.underscoreOK: underscores only between digits (a base prefix counts as a digit).
bool underscore_ok(std::string_view s) {
  char saw = '^';
  size_t i = 0;
  bool hex = false;
  if (s.size() >= 2 && s[0] == '0' &&
      (lower(s[1]) == 'b' || lower(s[1]) == 'o' || lower(s[1]) == 'x')) {
    i = 2;
    saw = '0';
    hex = lower(s[1]) == 'x';
  }
  for (; i < s.size(); ++i) {
    if (is_digit(s[i]) || (hex && lower(s[i]) >= 'a' && lower(s[i]) <= 'f')) {
      saw = '0';
      continue;
    }
    if (s[i] == '_') {
      if (saw != '0') return false;
      saw = '_';
      continue;
    }
    if (saw == '_') return false;
    saw = '!';
  }
  return saw != '_';
}

// strconv.ParseUint(s, 0, 64).
std::pair<uint64_t, NumError> go_parse_uint(std::string_view s) {
  if (s.empty()) return {0, NumError::kSyntax};
  const std::string_view s0 = s;
  unsigned base = 10;
  if (s[0] == '0') {
    if (s.size() >= 3 && lower(s[1]) == 'b') {
      base = 2;
      s.remove_prefix(2);
    } else if (s.size() >= 3 && lower(s[1]) == 'o') {
      base = 8;
      s.remove_prefix(2);
    } else if (s.size() >= 3 && lower(s[1]) == 'x') {
      base = 16;
      s.remove_prefix(2);
    } else {
      base = 8;
      s.remove_prefix(1);
    }
  }
  bool underscores = false;
  uint64_t n = 0;
  for (char c : s) {
    unsigned d = 0;
    if (c == '_') {
      underscores = true;
      continue;
    } else if (is_digit(c)) {
      d = static_cast<unsigned>(c - '0');
    } else if (lower(c) >= 'a' && lower(c) <= 'z') {
      d = static_cast<unsigned>(lower(c) - 'a' + 10);
    } else {
      return {0, NumError::kSyntax};
    }
    if (d >= base) return {0, NumError::kSyntax};
    if (n > (UINT64_MAX - d) / base) return {0, NumError::kRange};
    n = n * base + d;
  }
  if (underscores && !underscore_ok(s0)) return {0, NumError::kSyntax};
  return {n, NumError::kNone};
}

// strconv.ParseInt(s, 0, 64).
std::pair<int64_t, NumError> go_parse_int(std::string_view s) {
  if (s.empty()) return {0, NumError::kSyntax};
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  auto [un, err] = go_parse_uint(s);
  if (err != NumError::kNone) return {0, err};
  constexpr uint64_t kCutoff = uint64_t{1} << 63;
  if (!neg && un >= kCutoff) return {0, NumError::kRange};
  if (neg && un > kCutoff) return {0, NumError::kRange};
  // C++20 conversions are modular, so -2^63 comes out right.
  return {neg ? static_cast<int64_t>(uint64_t{0} - un) : static_cast<int64_t>(un), NumError::kNone};
}

// strconv.ParseBool.
std::optional<bool> go_parse_bool(std::string_view s) {
  for (std::string_view t : {"1"sv, "t"sv, "T"sv, "TRUE"sv, "true"sv, "True"sv})
    if (s == t) return true;
  for (std::string_view f : {"0"sv, "f"sv, "F"sv, "FALSE"sv, "false"sv, "False"sv})
    if (s == f) return false;
  return std::nullopt;
}

// strconv.Atoi: base 10, an optional sign, no underscores, within int64.
bool go_atoi_ok(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  const uint64_t limit = neg ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  uint64_t n = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    const auto d = static_cast<uint64_t>(c - '0');
    if (n > (limit - d) / 10) return false;
    n = n * 10 + d;
  }
  return true;
}

// fmt's %q for the ASCII we print: quotes, escapes quotes, backslashes and control bytes.
std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// fmt's %s of a []string: "[a b c]".
std::string go_list(const std::vector<std::string_view>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ' ';
    out += items[i];
  }
  return out + "]";
}

// ---------------------------------------------------------------------------------------------
// The flag table: the one list of flags. Parsing, usage and the policy tables below all use it.

// Where a flag's value goes. std::monostate is -version, which parse_flags answers itself.
using Member =
    std::variant<std::monostate, std::string Flags::*, bool Flags::*, int Flags::*,
                 uint64_t Flags::*, Duration Flags::*, std::vector<std::string> Flags::*>;

struct FlagDef {
  std::string_view name;
  Member member;
  std::string_view usage;
};

// In the order of rqlite-compat.md §3.1. Usage lines follow rqlite's flags.toml short_help.
const FlagDef kFlagDefs[] = {
    {"version", std::monostate{}, "Show version information and exit"},
    {"node-id", &Flags::node_id,
     "Unique Raft ID for the node. If not set, defaults to the advertised Raft address"},
    // HTTP API
    {"http-addr", &Flags::http_addr,
     "HTTP server bind address. To enable HTTPS, set X.509 certificate and key"},
    {"http-adv-addr", &Flags::http_adv_addr,
     "Advertised HTTP address. If not set, same as HTTP server bind address"},
    {"http-allow-origin", &Flags::http_allow_origin,
     "Value to set for Access-Control-Allow-Origin HTTP header"},
    {"auth", &Flags::auth,
     "Path to authentication and authorization file. If not set, not enabled"},
    {"http-ca-cert", &Flags::http_ca_cert,
     "Path to the CA certificate file for HTTPS communications"},
    {"http-cert", &Flags::http_cert, "Path to HTTPS X.509 certificate"},
    {"http-key", &Flags::http_key, "Path to HTTPS X.509 private key"},
    {"http-verify-client", &Flags::http_verify_client, "Enable mutual TLS for HTTPS"},
    {"http-verify-common-name", &Flags::http_verify_common_name,
     "Required Common Name of client certificates. Requires -http-verify-client"},
    // Node-to-node TLS
    {"node-ca-cert", &Flags::node_ca_cert,
     "Path to the CA certificate file for inter-node communications. May not be set"},
    {"node-cert", &Flags::node_cert, "Path to the X509 certificate for inter-node communications"},
    {"node-key", &Flags::node_key, "Path to the X509 key for inter-node communications"},
    {"node-no-verify", &Flags::node_no_verify,
     "Disables checking other nodes' X509 certificates for validity. Checking is enabled by "
     "default"},
    {"node-verify-client", &Flags::node_verify_client,
     "Enable mutual TLS for node-to-node communication. Disabled by default"},
    {"node-verify-server-name", &Flags::node_verify_server_name,
     "Hostname to verify on certificates returned by nodes"},
    {"node-verify-common-name", &Flags::node_verify_common_name,
     "Required Common Name of other nodes' certificates. Requires -node-verify-client"},
    // Raft and clustering
    {"raft-addr", &Flags::raft_addr,
     "Bind network address for the Raft server in the form address:port"},
    {"raft-adv-addr", &Flags::raft_adv_addr,
     "Advertised Raft communication address. If not set, same as Raft bind address"},
    {"join", &Flags::join,
     "List of Raft addresses to use for a join attempt. Comma-delimited list of nodes in "
     "host:port format"},
    {"join-attempts", &Flags::join_attempts,
     "Number of times a node should attempt to join a cluster using a given address"},
    {"join-interval", &Flags::join_interval, "Time between retrying failed join operations"},
    {"join-as", &Flags::join_as, "User to perform join attempts as. If not set, joins anonymously"},
    {"bootstrap-expect", &Flags::bootstrap_expect,
     "Minimum number of nodes required for a bootstrap"},
    {"bootstrap-expect-timeout", &Flags::bootstrap_expect_timeout,
     "Maximum time for bootstrap process"},
    {"disco-mode", &Flags::disco_mode,
     "Choose clustering discovery mode. If not set, no node discovery is performed"},
    {"disco-key", &Flags::disco_key, "Key prefix for cluster discovery service"},
    {"disco-config", &Flags::disco_config,
     "Set discovery config, or path to cluster discovery config file"},
    {"raft-non-voter", &Flags::raft_non_voter, "Configure as non-voting node"},
    {"raft-snap", &Flags::raft_snap, "Number of outstanding log entries that trigger a snapshot"},
    {"raft-snap-wal-size", &Flags::raft_snap_wal_size,
     "Size of a SQLite WAL file which triggers a snapshot. Set to 0 to disable"},
    {"raft-snap-int", &Flags::raft_snap_int, "Snapshot threshold check interval"},
    {"raft-leader-lease-timeout", &Flags::raft_leader_lease_timeout,
     "Raft leader lease timeout. Use 0s for Raft default"},
    {"raft-heartbeat-timeout", &Flags::raft_heartbeat_timeout,
     "Raft heartbeat timeout. Time a Follower waits without Leader contact before an election"},
    {"raft-election-timeout", &Flags::raft_election_timeout, "Election timeout for Raft consensus"},
    {"raft-commit-timeout", &Flags::raft_commit_timeout,
     "Maximum time before an AppendEntries is sent without new applies"},
    {"raft-apply-timeout", &Flags::raft_apply_timeout, "Log-apply timeout"},
    {"raft-remove-shutdown", &Flags::raft_remove_shutdown,
     "Shutdown Raft if the node is removed from the cluster"},
    {"raft-cluster-remove-shutdown", &Flags::raft_cluster_remove_shutdown,
     "Node removes itself from the cluster on shutdown"},
    {"raft-shutdown-stepdown", &Flags::raft_shutdown_stepdown, "Relinquish leadership on shutdown"},
    {"raft-reap-node-timeout", &Flags::raft_reap_node_timeout,
     "Duration after which a non-reachable voting node is reaped. If not set, no reaping takes "
     "place"},
    {"raft-reap-read-only-node-timeout", &Flags::raft_reap_read_only_node_timeout,
     "Duration after which a non-reachable non-voting node is reaped. If not set, no reaping "
     "takes place"},
    {"raft-log-level", &Flags::raft_log_level, "Minimum logging level for the Raft subsystem"},
    {"cluster-connect-timeout", &Flags::cluster_connect_timeout,
     "Timeout for initial connection to other nodes"},
    {"compress-snap-transport", &Flags::compress_snap_transport,
     "Compress snapshots sent between nodes. Must be the same on all nodes"},
    // Database
    {"fk", &Flags::fk, "Enable SQLite foreign key constraints"},
    {"extensions-path", &Flags::extensions_path,
     "Comma-delimited list of paths to directories, zipfiles, or tar.gz files containing SQLite "
     "extensions"},
    {"db-max-ro-conns", &Flags::db_max_ro_conns,
     "Maximum number of read-only SQLite connections. Set to 0 for no limit"},
    {"auto-vacuum-int", &Flags::auto_vacuum_int,
     "Period between automatic VACUUMs. If not set, not enabled"},
    {"auto-optimize-int", &Flags::auto_optimize_int,
     "Period between automatic 'PRAGMA optimize'. Set to 0h to disable"},
    // Queued writes
    {"write-queue-capacity", &Flags::write_queue_capacity, "QueuedWrites queue capacity"},
    {"write-queue-batch-size", &Flags::write_queue_batch_size, "QueuedWrites queue batch size"},
    {"write-queue-timeout", &Flags::write_queue_timeout, "QueuedWrites queue timeout"},
    {"write-queue-tx", &Flags::write_queue_tx, "Use a transaction when processing a queued write"},
    // Backup, CDC, observability
    {"auto-backup", &Flags::auto_backup,
     "Path to automatic backup configuration file. If not set, not enabled"},
    {"auto-restore", &Flags::auto_restore,
     "Path to automatic restore configuration file. If not set, not enabled"},
    {"cdc-config", &Flags::cdc_config,
     "CDC config: a URL, stdout, or path to a CDC configuration file. If not set, not enabled"},
    {"otlp-endpoint", &Flags::otlp_endpoint,
     "OpenTelemetry collector endpoint in host:port form. If not set, not enabled"},
    {"otlp-interval", &Flags::otlp_interval, "Period between OpenTelemetry metric pushes"},
    {"otlp-insecure", &Flags::otlp_insecure, "Use plaintext gRPC to the OpenTelemetry collector"},
    {"otlp-no-verify", &Flags::otlp_no_verify,
     "Skip verification of the OpenTelemetry collector's certificate"},
    {"otlp-ca-cert", &Flags::otlp_ca_cert,
     "Path to the CA certificate for the OpenTelemetry collector"},
    {"otlp-cert", &Flags::otlp_cert,
     "Path to the X.509 certificate for the OpenTelemetry collector"},
    {"otlp-key", &Flags::otlp_key, "Path to the X.509 key for the OpenTelemetry collector"},
    {"cpu-profile", &Flags::cpu_profile, "Path to file for CPU profiling information"},
    {"mem-profile", &Flags::mem_profile, "Path to file for memory profiling information"},
    {"trace-profile", &Flags::trace_profile, "Path to file for trace profiling information"},
};

// rqlite's defaults: the initialisers of Flags.
const Flags& defaults() {
  static const Flags kDefaults;
  return kDefaults;
}

const FlagDef* find_flag(std::string_view name) {
  for (const FlagDef& def : kFlagDefs)
    if (def.name == name) return &def;
  return nullptr;
}

// For the policy tables: a name there that is not a flag is our typo.
const FlagDef& flag_def(std::string_view name) {
  const FlagDef* def = find_flag(name);
  RQ_ASSERT(def != nullptr);
  return *def;
}

// -join is a string flag in rqlite, split here for the caller: it keeps empty entries, so
// validation can report them, and its usage says "string".
bool is_join(const FlagDef& def) {
  auto* m = std::get_if<std::vector<std::string> Flags::*>(&def.member);
  return m != nullptr && *m == &Flags::join;
}

bool is_bool(const FlagDef& def) {
  return std::holds_alternative<std::monostate>(def.member) ||
         std::holds_alternative<bool Flags::*>(def.member);
}

// True when the flag's value is not rqlite's default, i.e. it asks for something.
bool differs_from_default(const Flags& f, const FlagDef& def) {
  return std::visit(
      [&](auto m) {
        if constexpr (std::is_same_v<decltype(m), std::monostate>) {
          return false;
        } else {
          return f.*m != defaults().*m;
        }
      },
      def.member);
}

// ---------------------------------------------------------------------------------------------
// Policy tables. Each is one list so it can shrink as features land.

// Renamed flags still accepted under their old name, with a warning (rqlite-compat.md §3.2).
struct Alias {
  std::string_view old_name;
  std::string_view new_name;
};
constexpr Alias kAliases[] = {{"raft-timeout", "raft-heartbeat-timeout"}};

// Flags rqlite no longer has. rqlite itself says "flag provided but not defined" (exit 2); we
// say why, and exit 1 like any other fatal start-up error.
struct Removed {
  std::string_view name;
  std::string_view why;
};
constexpr Removed kRemoved[] = {
    {"on-disk", "removed in rqlite v8: the database is always on disk"},
    {"on-disk-startup", "removed in rqlite v8: the database is always on disk"},
    {"on-disk-path",
     "removed in rqlite v10: the database is always db.sqlite in the data directory"},
    {"http-no-verify", "removed in rqlite v8"},
    {"node-encrypt", "removed in rqlite v8: -node-cert and -node-key enable node-to-node TLS"},
    {"tls1011", "removed in rqlite v8"},
    {"expvar", "removed in rqlite v8: /debug/vars is always served"},
    {"pprof", "removed in rqlite v8"},
    {"compression-batch", "removed in rqlite v8"},
    {"compression-size", "removed in rqlite v8"},
    {"raft-no-freelist-sync", "removed in rqlite v8"},
    {"join-source-ip", "removed in rqlite v8"},
    {"RaftWaitForLeader", "removed in rqlite v8"},
};

// Security this build cannot provide yet. Asking for it (a value other than the default) stops
// the start, rather than running open to anyone who believes it closed.
constexpr std::string_view kSecurityNotSupported[] = {
    "auth",
    "http-cert",
    "http-key",
    "http-ca-cert",
    "http-verify-client",
    "http-verify-common-name",
    "node-cert",
    "node-key",
    "node-ca-cert",
    "node-verify-client",
    "node-no-verify",
    "node-verify-server-name",
    "node-verify-common-name",
    "join-as",
};

// Features this build does not have yet: accepted, parsed and validated, then ignored with a
// warning when their value asks for something.
constexpr std::string_view kNotImplemented[] = {
    "disco-mode",         "disco-key",       "disco-config",      "auto-backup",
    "auto-restore",       "cdc-config",      "otlp-endpoint",     "otlp-interval",
    "otlp-insecure",      "otlp-no-verify",  "otlp-ca-cert",      "otlp-cert",
    "otlp-key",           "cpu-profile",     "mem-profile",       "trace-profile",
    "extensions-path",    "auto-vacuum-int", "auto-optimize-int", "compress-snap-transport",
    "raft-snap-wal-size",
    // Cluster features not built yet, and timings this build derives from
    // -raft-heartbeat-timeout (election) or does not have (lease, commit).
    "raft-reap-node-timeout", "raft-reap-read-only-node-timeout", "raft-remove-shutdown",
    "raft-election-timeout",
    "raft-leader-lease-timeout", "raft-commit-timeout", "cluster-connect-timeout",
    "db-max-ro-conns",
};

// rqlite's `filepath:"true"` fields: each must name something that exists.
constexpr std::string_view kFilePathFlags[] = {
    "auth",         "auto-backup", "auto-restore", "http-ca-cert", "http-cert", "http-key",
    "node-ca-cert", "node-cert",   "node-key",     "otlp-ca-cert", "otlp-cert", "otlp-key",
};

// ---------------------------------------------------------------------------------------------
// Usage, Go's PrintDefaults layout: flags sorted by name, type name after the flag, usage on the
// next line after "\n    \t", and the default unless it is the type's zero value.

// Go's flag.UnquoteUsage type names (uint64 prints "uint"; a flag.Value prints "value").
std::string_view type_name(const FlagDef& def) {
  if (is_join(def)) return "string";
  return std::visit(
      [](auto m) -> std::string_view {
        using M = decltype(m);
        if constexpr (std::is_same_v<M, std::string Flags::*>) return "string";
        if constexpr (std::is_same_v<M, int Flags::*>) return "int";
        if constexpr (std::is_same_v<M, uint64_t Flags::*>) return "uint";
        if constexpr (std::is_same_v<M, Duration Flags::*>) return "duration";
        if constexpr (std::is_same_v<M, std::vector<std::string> Flags::*>) return "value";
        return "";
      },
      def.member);
}

// " (default ...)" as PrintDefaults writes it, or "" for a zero default.
std::string default_text(const FlagDef& def) {
  return std::visit(
      [](auto m) -> std::string {
        using M = decltype(m);
        if constexpr (std::is_same_v<M, std::string Flags::*>) {
          return (defaults().*m).empty() ? "" : " (default " + go_quote(defaults().*m) + ")";
        } else if constexpr (std::is_same_v<M, bool Flags::*>) {
          return defaults().*m ? " (default true)" : "";
        } else if constexpr (std::is_same_v<M, int Flags::*> ||
                             std::is_same_v<M, uint64_t Flags::*>) {
          return defaults().*m == 0 ? "" : " (default " + std::to_string(defaults().*m) + ")";
        } else if constexpr (std::is_same_v<M, Duration Flags::*>) {
          return (defaults().*m).count() == 0
                     ? ""
                     : " (default " + format_go_duration(defaults().*m) + ")";
        } else {
          return "";  // -version, and lists (an empty list is the zero value)
        }
      },
      def.member);
}

std::string usage() {
  std::string out =
      "\nsqlraft: rqlite-compatible distributed SQLite on Raft\n\n"
      "Usage: rqlited [flags] <data directory>\n";
  std::vector<const FlagDef*> defs;
  for (const FlagDef& def : kFlagDefs) defs.push_back(&def);
  std::sort(defs.begin(), defs.end(),
            [](const FlagDef* a, const FlagDef* b) { return a->name < b->name; });
  for (const FlagDef* def : defs) {
    out += "  -";
    out += def->name;
    if (std::string_view type = type_name(*def); !type.empty()) {
      out += ' ';
      out += type;
    }
    out += "\n    \t";
    out += def->usage;
    out += default_text(*def);
    out += '\n';
  }
  return out;
}

std::string version_line() {
#define RQ_STR2_(x) #x
#define RQ_STR_(x) RQ_STR2_(x)
#if defined(__clang__)
  constexpr const char* kCompiler = "clang";
  constexpr const char* kToolchain = "clang" RQ_STR_(__clang_major__) "." RQ_STR_(
      __clang_minor__) "." RQ_STR_(__clang_patchlevel__);
#elif defined(__GNUC__)
  constexpr const char* kCompiler = "gcc";
  constexpr const char* kToolchain =
      "gcc" RQ_STR_(__GNUC__) "." RQ_STR_(__GNUC_MINOR__) "." RQ_STR_(__GNUC_PATCHLEVEL__);
#else
  constexpr const char* kCompiler = "unknown";
  constexpr const char* kToolchain = "unknown";
#endif
#if defined(__linux__)
  constexpr const char* kOs = "linux";
#elif defined(__APPLE__)
  constexpr const char* kOs = "darwin";
#else
  constexpr const char* kOs = "unknown";
#endif
#if defined(__x86_64__)
  constexpr const char* kArch = "amd64";
#elif defined(__aarch64__)
  constexpr const char* kArch = "arm64";
#else
  constexpr const char* kArch = "unknown";
#endif
#if defined(RQ_GIT_COMMIT)
  constexpr const char* kCommit = RQ_STR_(RQ_GIT_COMMIT);
#else
  constexpr const char* kCommit = "unknown";
#endif
#undef RQ_STR_
#undef RQ_STR2_
  // rqlite: "rqlited <ver> <os> <arch> <go version> sqlite<ver> (commit ..., branch ...,
  // compiler ...)"; our toolchain takes the Go version's place.
  return std::string("rqlited ") + kVersion + " " + kOs + " " + kArch + " " + kToolchain +
         " sqlite" + sqlite3_libversion() + " (commit " + kCommit + ", branch unknown, compiler " +
         kCompiler + ")\n";
}

FlagsExit usage_error(const std::string& msg) {
  return FlagsExit{2, "", msg + "\n" + usage()};
}
FlagsExit fatal(const std::string& msg) {
  return FlagsExit{1, "", "fatal: " + msg + "\n"};
}

// ---------------------------------------------------------------------------------------------
// Parsing: Go's FlagSet.Parse.

struct Parse {
  Flags flags;
  bool version = false;
  std::vector<std::string_view> set;   // names of the flags seen (Go's FlagSet.actual)
  std::vector<std::string_view> args;  // what is left after the flags (Go's FlagSet.Args)

  bool was_set(std::string_view name) const {
    return std::find(set.begin(), set.end(), name) != set.end();
  }
};

// Splits on commas, keeping or dropping empty entries ("" is no entries at all). -extensions-path
// drops them, as rqlite's StringSliceValue does.
std::vector<std::string> split_commas(std::string_view v, bool keep_empty) {
  std::vector<std::string> out;
  if (v.empty()) return out;
  for (size_t start = 0;;) {
    const size_t comma = v.find(',', start);
    std::string_view item =
        v.substr(start, comma == std::string_view::npos ? v.npos : comma - start);
    if (keep_empty || !item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

// Go's flag.Value.Set for each type. On failure, Go's reason ("parse error", "value out of
// range"); the flag is left as it was.
std::optional<std::string> set_value(Parse& p, const FlagDef& def, std::string_view v) {
  Flags& f = p.flags;
  const Member& m = def.member;
  if (std::holds_alternative<std::monostate>(m) || std::holds_alternative<bool Flags::*>(m)) {
    std::optional<bool> b = go_parse_bool(v);
    if (!b) return "parse error";
    if (auto* mb = std::get_if<bool Flags::*>(&m))
      f.*(*mb) = *b;
    else
      p.version = *b;
  } else if (auto* ms = std::get_if<std::string Flags::*>(&m)) {
    f.*(*ms) = std::string(v);
  } else if (auto* mi = std::get_if<int Flags::*>(&m)) {
    auto [n, err] = go_parse_int(v);
    if (err == NumError::kSyntax) return "parse error";
    // Go's int is 64-bit; ours is not, so a value beyond it is out of range here.
    if (err == NumError::kRange || n < INT_MIN || n > INT_MAX) return "value out of range";
    f.*(*mi) = static_cast<int>(n);
  } else if (auto* mu = std::get_if<uint64_t Flags::*>(&m)) {
    auto [n, err] = go_parse_uint(v);
    if (err != NumError::kNone)
      return err == NumError::kSyntax ? "parse error" : "value out of range";
    f.*(*mu) = n;
  } else if (auto* md = std::get_if<Duration Flags::*>(&m)) {
    std::optional<Duration> d = parse_go_duration(v);
    if (!d) return "parse error";
    f.*(*md) = *d;
  } else {
    auto* ml = std::get_if<std::vector<std::string> Flags::*>(&m);
    RQ_ASSERT(ml != nullptr);
    f.*(*ml) = split_commas(v, /*keep_empty=*/is_join(def));
  }
  return std::nullopt;
}

// FlagSet.parseOne for args[i]. Advances i past the flag and its value. Returns an exit when
// parsing must stop with one; `done` is set at the first argument that is not a flag.
std::optional<FlagsExit> parse_one(const std::vector<std::string_view>& args, size_t& i, Parse& p,
                                   bool& done) {
  const std::string_view s = args[i];
  if (s.size() < 2 || s[0] != '-') {
    done = true;
    return std::nullopt;
  }
  size_t minuses = 1;
  if (s[1] == '-') {
    minuses = 2;
    if (s.size() == 2) {  // "--" ends the flags and is dropped
      ++i;
      done = true;
      return std::nullopt;
    }
  }
  std::string_view name = s.substr(minuses);
  if (name.empty() || name[0] == '-' || name[0] == '=')
    return usage_error("bad flag syntax: " + std::string(s));
  ++i;
  std::optional<std::string_view> value;
  if (size_t eq = name.find('=', 1); eq != std::string_view::npos) {
    value = name.substr(eq + 1);
    name = name.substr(0, eq);
  }
  for (const Alias& a : kAliases) {
    if (name != a.old_name) continue;
    const std::string warning = "flag -" + std::string(a.old_name) + " is deprecated; use -" +
                                std::string(a.new_name) + " instead";
    auto& w = p.flags.warnings;
    if (std::find(w.begin(), w.end(), warning) == w.end()) w.push_back(warning);
    name = a.new_name;
  }
  for (const Removed& r : kRemoved)
    if (name == r.name) return fatal("flag -" + std::string(name) + " was " + std::string(r.why));
  const FlagDef* def = find_flag(name);
  if (def == nullptr) {
    if (name == "h" || name == "help") return FlagsExit{0, "", usage()};
    return usage_error("flag provided but not defined: -" + std::string(name));
  }
  if (is_bool(*def)) {
    // A boolean never takes the next argument: `-fk false` leaves `false` as an argument.
    if (auto err = set_value(p, *def, value.value_or("true")))
      return usage_error("invalid boolean value " + go_quote(*value) + " for -" +
                         std::string(name) + ": " + *err);
  } else {
    if (!value && i < args.size()) value = args[i++];
    if (!value) return usage_error("flag needs an argument: -" + std::string(name));
    if (auto err = set_value(p, *def, *value))
      return usage_error("invalid value " + go_quote(*value) + " for flag -" + std::string(name) +
                         ": " + *err);
  }
  if (!p.was_set(def->name)) p.set.push_back(def->name);
  return std::nullopt;
}

std::optional<FlagsExit> parse_go_flags(const std::vector<std::string_view>& args, Parse& p) {
  size_t i = 0;
  bool done = false;
  while (i < args.size() && !done)
    if (auto exit = parse_one(args, i, p, done)) return exit;
  p.args.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Validation: rqlite's Config.Validate, in its order, so the first error reported is rqlite's.

// Go's net.SplitHostPort: the host, or nullopt if `hp` is not host:port.
std::optional<std::string_view> split_host_port(std::string_view hp, std::string_view* port) {
  const size_t colon = hp.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;  // missing port
  std::string_view host;
  size_t j = 0, k = 0;
  if (hp[0] == '[') {
    const size_t end = hp.find(']');
    if (end == std::string_view::npos || end + 1 != colon) return std::nullopt;
    host = hp.substr(1, end - 1);
    j = 1;
    k = end + 1;
  } else {
    host = hp.substr(0, colon);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // too many colons
  }
  if (hp.substr(j).find('[') != std::string_view::npos) return std::nullopt;
  if (hp.substr(k).find(']') != std::string_view::npos) return std::nullopt;
  if (port != nullptr) *port = hp.substr(colon + 1);
  return host;
}

// net.ParseIP(host).IsUnspecified(): 0.0.0.0, ::, or :: written as an IPv4-mapped 0.0.0.0.
bool is_unspecified_ip(std::string_view host) {
  const std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return v4.s_addr == 0;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) != 1) return false;
  static constexpr unsigned char kMappedZero[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr unsigned char kZero[16] = {};
  return std::memcmp(&v6, kZero, 16) == 0 || std::memcmp(&v6, kMappedZero, 16) == 0;
}

bool path_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// filepath.Abs: joined with the working directory and cleaned (no "..", no trailing slash).
std::optional<std::string> make_absolute(Flags& f) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(f.data_dir, ec);
  if (ec) return "failed to determine absolute data path: " + ec.message();
  std::string clean = abs.lexically_normal().string();
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  f.data_dir = clean;
  return std::nullopt;
}

std::optional<std::string> check_paths(Flags& f) {
  if (auto err = make_absolute(f)) return err;
  for (std::string_view name : kFilePathFlags) {
    const std::string& path = f.*std::get<std::string Flags::*>(flag_def(name).member);
    if (!path.empty() && !path_exists(path)) return path + " does not exist";
  }
  for (const std::string& p : f.extensions_path)
    if (!path_exists(p)) return "extension path does not exist: " + p;
  return std::nullopt;
}

std::optional<std::string> check_tls(const Flags& f) {
  if (f.http_cert.empty() != f.http_key.empty())
    return "either both -http-cert and -http-key must be set, or neither";
  if (f.node_cert.empty() != f.node_key.empty())
    return "either both -node-cert and -node-key must be set, or neither";
  if (!f.http_verify_common_name.empty() && !f.http_verify_client)
    return "-http-verify-common-name requires -http-verify-client";
  if (!f.node_verify_common_name.empty() && !f.node_verify_client)
    return "-node-verify-common-name requires -node-verify-client";
  return std::nullopt;
}

bool starts_with_http(std::string_view s) {
  return s.size() >= 4 && lower(s[0]) == 'h' && lower(s[1]) == 't' && lower(s[2]) == 't' &&
         lower(s[3]) == 'p';
}

// Fills in the advertised addresses and the node ID, then checks the addresses.
std::optional<std::string> resolve_addresses(Flags& f) {
  if (f.raft_addr == f.http_addr) return "HTTP and Raft addresses must differ";
  if (f.raft_adv_addr.empty()) f.raft_adv_addr = f.raft_addr;
  if (f.http_adv_addr.empty()) f.http_adv_addr = f.http_addr;
  if (f.node_id.empty()) f.node_id = f.raft_adv_addr;

  // rqlite rejects any address starting with "http", not only "http://".
  if (starts_with_http(f.http_addr) || starts_with_http(f.http_adv_addr))
    return "HTTP options should not include protocol (http:// or https://)";
  if (!split_host_port(f.http_addr, nullptr)) return "HTTP bind address not valid";
  std::optional<std::string_view> http_adv_host = split_host_port(f.http_adv_addr, nullptr);
  if (!http_adv_host) return "HTTP advertised HTTP address not valid";
  if (is_unspecified_ip(*http_adv_host))
    return "advertised HTTP address is not routable (" + std::string(*http_adv_host) +
           "), specify it via -http-addr or -http-adv-addr";

  std::string_view port;
  if (!split_host_port(f.raft_addr, &port)) return "raft bind address not valid";
  if (!go_atoi_ok(port)) return "raft bind port not valid";
  std::optional<std::string_view> raft_adv_host = split_host_port(f.raft_adv_addr, &port);
  if (!raft_adv_host) return "raft advertised address not valid";
  if (is_unspecified_ip(*raft_adv_host))
    return "advertised Raft address is not routable (" + std::string(*raft_adv_host) +
           "), specify it via -raft-addr or -raft-adv-addr";
  if (!go_atoi_ok(port)) return "raft advertised port is not valid";

  if (f.raft_adv_addr == f.http_adv_addr) return "advertised HTTP and Raft addresses must differ";
  return std::nullopt;
}

std::optional<std::string> check_clustering(const Flags& f) {
  if (f.bootstrap_expect > 0 && f.raft_non_voter)
    return "bootstrapping only applicable to voting nodes";
  for (const std::string& addr : f.join) {
    if (!split_host_port(addr, nullptr)) return addr + " is an invalid join address";
    if (f.bootstrap_expect == 0) {
      if (addr == f.raft_adv_addr || addr == f.raft_addr)
        return "node cannot join with itself unless bootstrapping";
      if (!f.auto_restore.empty()) return "auto-restoring cannot be used when joining a cluster";
    }
  }
  if (!f.join.empty() && !f.disco_mode.empty())
    return "disco mode cannot be used when also explicitly joining a cluster";
  if (f.disco_mode == "etcd-kv" || f.disco_mode == "consul-kv") {
    if (f.bootstrap_expect > 0) return "bootstrapping not applicable when using " + f.disco_mode;
  } else if (f.disco_mode == "dns" || f.disco_mode == "dns-srv") {
    if (f.bootstrap_expect == 0 && !f.raft_non_voter)
      return "bootstrap-expect value required when using " + f.disco_mode + " with a voting node";
  } else if (!f.disco_mode.empty()) {
    return "disco mode must be one of consul-kv, etcd-kv, dns, or dns-srv";
  }
  if (!f.cdc_config.empty() && f.raft_non_voter)
    return "CDC cannot be enabled on a non-voting node";
  return std::nullopt;
}

std::optional<std::string> validate(Flags& f) {
  if (auto err = check_paths(f)) return err;
  if (auto err = check_tls(f)) return err;
  if (auto err = resolve_addresses(f)) return err;
  return check_clustering(f);
}

// rqlite: a reap timeout given explicitly must be positive (not given means "never reap").
std::optional<std::string> check_reap_timeouts(const Parse& p) {
  if (p.was_set("raft-reap-node-timeout") && p.flags.raft_reap_node_timeout.count() <= 0)
    return "-raft-reap-node-timeout must be greater than 0";
  if (p.was_set("raft-reap-read-only-node-timeout") &&
      p.flags.raft_reap_read_only_node_timeout.count() <= 0)
    return "-raft-reap-read-only-node-timeout must be greater than 0";
  return std::nullopt;
}

std::optional<std::string> refuse_unsupported_security(const Flags& f) {
  for (std::string_view name : kSecurityNotSupported)
    if (differs_from_default(f, flag_def(name)))
      return "-" + std::string(name) +
             " is not supported yet by this build; refusing to start without the security it "
             "asks for";
  return std::nullopt;
}

void warn_not_implemented(Flags& f) {
  for (std::string_view name : kNotImplemented)
    if (differs_from_default(f, flag_def(name)))
      f.warnings.push_back("flag -" + std::string(name) +
                           " is accepted but not implemented yet; it is ignored");
}

}  // namespace

std::variant<Flags, FlagsExit> parse_flags(int argc, const char* const* argv) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);

  // The order is rqlite's: parse everything, answer -version, then check.
  Parse p;
  if (auto exit = parse_go_flags(args, p)) return *exit;
  if (p.version) return FlagsExit{0, version_line(), ""};
  if (p.args.empty()) return fatal("data directory path is required");
  if (auto err = check_reap_timeouts(p)) return fatal(*err);
  if (p.args.size() > 1) {
    const std::vector<std::string_view> rest(p.args.begin() + 1, p.args.end());
    return fatal("arguments after data directory (" + std::string(p.args[0]) +
                 ") are not accepted (" + go_list(rest) + ")");
  }
  p.flags.data_dir = std::string(p.args[0]);
  if (auto err = validate(p.flags)) return fatal(*err);

  // Our own policy, after rqlite's checks so their messages stay rqlite's.
  if (auto err = refuse_unsupported_security(p.flags)) return fatal(*err);
  warn_not_implemented(p.flags);
  return std::move(p.flags);
}

// Go's time.ParseDuration, with its overflow rules: at most 2^63-1 ns (2^63 when negative).
std::optional<Duration> parse_go_duration(std::string_view s) {
  constexpr uint64_t kMax = uint64_t{1} << 63;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Duration{0};
  if (s.empty()) return std::nullopt;
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || is_digit(s[0]))) return std::nullopt;
    // The integer part.
    uint64_t v = 0;
    const size_t before_int = s.size();
    for (; !s.empty() && is_digit(s[0]); s.remove_prefix(1)) {
      if (v > kMax / 10) return std::nullopt;
      v = v * 10 + static_cast<uint64_t>(s[0] - '0');
      if (v > kMax) return std::nullopt;
    }
    const bool has_int = s.size() != before_int;
    // The fraction: digits past what fits are read and ignored, as Go does.
    uint64_t frac = 0;
    double scale = 1;
    bool has_frac = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      const size_t before_frac = s.size();
      bool overflow = false;
      for (; !s.empty() && is_digit(s[0]); s.remove_prefix(1)) {
        if (overflow || frac > (kMax - 1) / 10) {
          overflow = true;
          continue;
        }
        frac = frac * 10 + static_cast<uint64_t>(s[0] - '0');
        scale *= 10;
      }
      has_frac = s.size() != before_frac;
    }
    if (!has_int && !has_frac) return std::nullopt;
    // The unit: everything up to the next number.
    size_t unit_len = 0;
    while (unit_len < s.size() && s[unit_len] != '.' && !is_digit(s[unit_len])) ++unit_len;
    const std::string_view unit_name = s.substr(0, unit_len);
    s.remove_prefix(unit_len);
    uint64_t unit = 0;
    if (unit_name == "ns")
      unit = 1;
    else if (unit_name == "us" || unit_name == "\u00b5s" || unit_name == "\u03bcs")
      unit = 1000;
    else if (unit_name == "ms")
      unit = 1000 * 1000;
    else if (unit_name == "s")
      unit = 1000 * 1000 * 1000;
    else if (unit_name == "m")
      unit = 60ull * 1000 * 1000 * 1000;
    else if (unit_name == "h")
      unit = 3600ull * 1000 * 1000 * 1000;
    else
      return std::nullopt;  // missing or unknown unit
    if (v > kMax / unit) return std::nullopt;
    v *= unit;
    if (frac > 0) {
      v += static_cast<uint64_t>(static_cast<double>(frac) * (static_cast<double>(unit) / scale));
      if (v > kMax) return std::nullopt;
    }
    if (v > kMax - total) return std::nullopt;
    total += v;
  }
  if (neg) return Duration{static_cast<int64_t>(uint64_t{0} - total)};
  if (total > kMax - 1) return std::nullopt;
  return Duration{static_cast<int64_t>(total)};
}

// Go's Duration.String(), written right to left into a buffer as Go does: below one second the
// largest unit that keeps an integer part (ns, µs, ms) with a fraction; from one second on
// h, m and s with trailing zeros in the fraction dropped.
std::string format_go_duration(Duration d) {
  const int64_t n = d.count();
  if (n == 0) return "0s";
  const bool neg = n < 0;
  uint64_t u = neg ? uint64_t{0} - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  std::array<char, 32> buf{};
  size_t w = buf.size();
  auto put = [&](char c) { buf[--w] = c; };
  auto put_int = [&](uint64_t v) {
    do {
      put(static_cast<char>('0' + v % 10));
      v /= 10;
    } while (v > 0);
  };
  // Writes the fraction v / 10^prec without trailing zeros (nothing if it is 0); returns the
  // integer part.
  auto put_frac = [&](uint64_t v, int prec) {
    bool print = false;
    for (int i = 0; i < prec; ++i) {
      const uint64_t digit = v % 10;
      print = print || digit != 0;
      if (print) put(static_cast<char>('0' + digit));
      v /= 10;
    }
    if (print) put('.');
    return v;
  };
  put('s');
  if (u < 1000ull * 1000 * 1000) {
    int prec = 0;
    if (u < 1000) {
      put('n');
    } else if (u < 1000 * 1000) {
      prec = 3;
      put('\xb5');  // "µ", U+00B5, written backwards
      put('\xc2');
    } else {
      prec = 6;
      put('m');
    }
    put_int(put_frac(u, prec));
  } else {
    u = put_frac(u, 9);  // now whole seconds
    put_int(u % 60);
    u /= 60;  // whole minutes
    if (u > 0) {
      put('m');
      put_int(u % 60);
      u /= 60;  // whole hours
      if (u > 0) {
        put('h');
        put_int(u);
      }
    }
  }
  if (neg) put('-');
  return std::string(buf.data() + w, buf.size() - w);
}

}  // namespace rq::server
