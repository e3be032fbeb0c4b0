#include "server/flags.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace rq::server {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::variant<Flags, FlagsExit> run(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"rqlited"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  return parse_flags(static_cast<int>(argv.size()), argv.data());
}

// The flags to run with; a test failure if the parser exits instead.
Flags parsed(const std::vector<std::string>& args) {
  auto r = run(args);
  if (auto* e = std::get_if<FlagsExit>(&r)) {
    ADD_FAILURE() << "exited " << e->code << ": " << e->err << e->out;
    return Flags{};
  }
  return std::get<Flags>(std::move(r));
}

// The exit; a test failure if the parser returns flags instead.
FlagsExit exited(const std::vector<std::string>& args) {
  auto r = run(args);
  if (!std::holds_alternative<FlagsExit>(r)) {
    ADD_FAILURE() << "parsed, expected an exit";
    return FlagsExit{-1, "", ""};
  }
  return std::get<FlagsExit>(std::move(r));
}

// The usage text, as -h prints it.
std::string usage_text() {
  return exited({"-h"}).err;
}

void expect_fatal(const std::vector<std::string>& args, const std::string& msg) {
  FlagsExit e = exited(args);
  EXPECT_EQ(e.code, 1);
  EXPECT_EQ(e.err, "fatal: " + msg + "\n");
  EXPECT_EQ(e.out, "");
}

void expect_usage_error(const std::vector<std::string>& args, const std::string& msg) {
  FlagsExit e = exited(args);
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.err, msg + "\n" + usage_text());
  EXPECT_EQ(e.out, "");
}

// A scratch directory with an existing file and two existing directories, for the flags whose
// paths must exist. Removed afterwards.
class FlagsFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("rq_flags_test_") + info->test_suite_name() + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "ext1");
    fs::create_directories(dir_ / "ext2");
    std::ofstream(dir_ / "file.pem") << "x";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file() const { return (dir_ / "file.pem").string(); }
  std::string ext(int i) const { return (dir_ / ("ext" + std::to_string(i))).string(); }
  std::string missing() const { return (dir_ / "missing").string(); }

  fs::path dir_;
};

// ---------------------------------------------------------------------------------------------
// Syntax: Go's flag package.

TEST(FlagsSyntax, ValueFlag_AllFourForms) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"-http-addr", "127.0.0.1:5001", "/data"},
           {"-http-addr=127.0.0.1:5001", "/data"},
           {"--http-addr", "127.0.0.1:5001", "/data"},
           {"--http-addr=127.0.0.1:5001", "/data"},
       }) {
    Flags f = parsed(args);
    EXPECT_EQ(f.http_addr, "127.0.0.1:5001") << args[0];
    EXPECT_EQ(f.http_adv_addr, "127.0.0.1:5001") << args[0];
  }
}

TEST(FlagsSyntax, BoolFlag_BareOrGoBoolValues) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"-fk", true},      {"--fk", true},       {"-fk=true", true},    {"--fk=true", true},
      {"-fk=1", true},    {"-fk=t", true},      {"-fk=T", true},       {"-fk=TRUE", true},
      {"-fk=True", true}, {"-fk=false", false}, {"--fk=false", false}, {"-fk=0", false},
      {"-fk=f", false},   {"-fk=F", false},     {"-fk=FALSE", false},  {"-fk=False", false},
  };
  for (const auto& [arg, want] : cases) EXPECT_EQ(parsed({arg, "/data"}).fk, want) << arg;
  EXPECT_FALSE(parsed({"-raft-shutdown-stepdown=false", "/data"}).raft_shutdown_stepdown);
}

TEST(FlagsSyntax, BoolFlag_OtherValuesAreUsageErrors) {
  expect_usage_error({"-fk=yes", "/data"}, "invalid boolean value \"yes\" for -fk: parse error");
  expect_usage_error({"-fk=", "/data"}, "invalid boolean value \"\" for -fk: parse error");
}

TEST(FlagsSyntax, BoolFlag_NeverTakesTheNextArgument) {
  // `-fk false`: `false` is the data directory, as in Go.
  Flags f = parsed({"-fk", "false"});
  EXPECT_TRUE(f.fk);
  EXPECT_EQ(f.data_dir, (fs::current_path() / "false").string());
  // ... so a data directory after it is one argument too many.
  expect_fatal({"-raft-shutdown-stepdown", "false", "/data"},
               "arguments after data directory (false) are not accepted ([/data])");
}

TEST(FlagsSyntax, ValueFlag_TakesTheNextArgumentEvenIfItLooksLikeAFlag) {
  Flags f = parsed({"-http-allow-origin", "-fk", "/data"});
  EXPECT_EQ(f.http_allow_origin, "-fk");
  EXPECT_FALSE(f.fk);
}

TEST(FlagsSyntax, ValueFlag_EmptyValue) {
  EXPECT_EQ(parsed({"-disco-key=", "/data"}).disco_key, "");
  // An empty node ID is no node ID: it defaults as if not given.
  EXPECT_EQ(parsed({"-node-id", "", "/data"}).node_id, "localhost:4002");
}

TEST(FlagsSyntax, RepeatedFlag_LastOneWins) {
  Flags f = parsed({"-raft-snap=5", "-fk", "-raft-snap", "7", "-fk=false", "/data"});
  EXPECT_EQ(f.raft_snap, 7u);
  EXPECT_FALSE(f.fk);
}

TEST(FlagsSyntax, ParsingStopsAtTheFirstNonFlag) {
  expect_fatal({"-fk", "/data", "-http-addr", "h:1"},
               "arguments after data directory (/data) are not accepted ([-http-addr h:1])");
}

TEST(FlagsSyntax, DoubleDashEndsTheFlags) {
  Flags f = parsed({"-fk", "--", "-data"});
  EXPECT_TRUE(f.fk);
  EXPECT_EQ(f.data_dir, (fs::current_path() / "-data").string());
}

TEST(FlagsSyntax, LoneDashIsAnArgument) {
  EXPECT_EQ(parsed({"-"}).data_dir, (fs::current_path() / "-").string());
}

TEST(FlagsSyntax, MissingValue_IsAUsageError) {
  expect_usage_error({"-http-addr"}, "flag needs an argument: -http-addr");
}

TEST(FlagsSyntax, BadFlagSyntax_IsAUsageError) {
  expect_usage_error({"---fk", "/data"}, "bad flag syntax: ---fk");
  expect_usage_error({"-=x", "/data"}, "bad flag syntax: -=x");
}

TEST(FlagsSyntax, InvalidValues_AreUsageErrorsInGoWording) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-join-attempts", "abc"}, "invalid value \"abc\" for flag -join-attempts: parse error"},
      {{"-join-attempts", "99999999999"},
       "invalid value \"99999999999\" for flag -join-attempts: value out of range"},
      {{"-raft-snap", "-1"}, "invalid value \"-1\" for flag -raft-snap: parse error"},
      {{"-raft-snap", "18446744073709551616"},
       "invalid value \"18446744073709551616\" for flag -raft-snap: value out of range"},
      {{"-join-interval", "5"}, "invalid value \"5\" for flag -join-interval: parse error"},
      {{"-join-interval", "5 s"}, "invalid value \"5 s\" for flag -join-interval: parse error"},
      {{"-write-queue-timeout=1x"},
       "invalid value \"1x\" for flag -write-queue-timeout: parse error"},
  };
  for (auto [args, msg] : cases) {
    args.push_back("/data");
    expect_usage_error(args, msg);
  }
}

TEST(FlagsSyntax, Numbers_GoBaseZeroSyntax) {
  EXPECT_EQ(parsed({"-join-attempts", "0x10", "/data"}).join_attempts, 16);
  EXPECT_EQ(parsed({"-join-attempts", "010", "/data"}).join_attempts, 8);
  EXPECT_EQ(parsed({"-join-attempts", "0b101", "/data"}).join_attempts, 5);
  EXPECT_EQ(parsed({"-join-attempts", "-3", "/data"}).join_attempts, -3);
  EXPECT_EQ(parsed({"-raft-snap", "1_000", "/data"}).raft_snap, 1000u);
  expect_usage_error({"-raft-snap", "1__000", "/data"},
                     "invalid value \"1__000\" for flag -raft-snap: parse error");
  expect_usage_error({"-raft-snap", "08", "/data"},
                     "invalid value \"08\" for flag -raft-snap: parse error");
}

TEST(FlagsSyntax, UnknownFlag_Exits2WithUsage) {
  FlagsExit e = exited({"-bogus", "/data"});
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.err, "flag provided but not defined: -bogus\n" + usage_text());
  EXPECT_EQ(e.out, "");
}

TEST(FlagsSyntax, Join_SplitsOnCommas) {
  Flags f = parsed({"-join", "h1:4002,h2:4002", "/data"});
  EXPECT_EQ(f.join, (std::vector<std::string>{"h1:4002", "h2:4002"}));
  EXPECT_TRUE(parsed({"-join", "", "/data"}).join.empty());
}

using FlagsExtensions = FlagsFiles;

TEST_F(FlagsExtensions, ExtensionsPath_SplitsOnCommasAndDropsEmpties) {
  Flags f = parsed({"-extensions-path", ext(1) + ",," + ext(2) + ",", "/data"});
  EXPECT_EQ(f.extensions_path, (std::vector<std::string>{ext(1), ext(2)}));
}

// ---------------------------------------------------------------------------------------------
// Defaults: rqlite-compat.md §3.1.

TEST(FlagsDefaults, EveryFlagHasRqlitesDefault) {
  Flags f = parsed({"/data"});
  EXPECT_EQ(f.data_dir, "/data");
  EXPECT_EQ(f.node_id, "localhost:4002");
  EXPECT_EQ(f.http_addr, "localhost:4001");
  EXPECT_EQ(f.http_adv_addr, "localhost:4001");
  EXPECT_EQ(f.http_allow_origin, "");
  EXPECT_EQ(f.auth, "");
  EXPECT_EQ(f.http_ca_cert, "");
  EXPECT_EQ(f.http_cert, "");
  EXPECT_EQ(f.http_key, "");
  EXPECT_FALSE(f.http_verify_client);
  EXPECT_EQ(f.http_verify_common_name, "");
  EXPECT_EQ(f.node_ca_cert, "");
  EXPECT_EQ(f.node_cert, "");
  EXPECT_EQ(f.node_key, "");
  EXPECT_FALSE(f.node_no_verify);
  EXPECT_FALSE(f.node_verify_client);
  EXPECT_EQ(f.node_verify_server_name, "");
  EXPECT_EQ(f.node_verify_common_name, "");
  EXPECT_EQ(f.raft_addr, "localhost:4002");
  EXPECT_EQ(f.raft_adv_addr, "localhost:4002");
  EXPECT_TRUE(f.join.empty());
  EXPECT_EQ(f.join_attempts, 5);
  EXPECT_EQ(f.join_interval, 3s);
  EXPECT_EQ(f.join_as, "");
  EXPECT_EQ(f.bootstrap_expect, 0);
  EXPECT_EQ(f.bootstrap_expect_timeout, 120s);
  EXPECT_EQ(f.disco_mode, "");
  EXPECT_EQ(f.disco_key, "rqlite");
  EXPECT_EQ(f.disco_config, "");
  EXPECT_FALSE(f.raft_non_voter);
  EXPECT_EQ(f.raft_snap, 8192u);
  EXPECT_EQ(f.raft_snap_wal_size, 4194304u);
  EXPECT_EQ(f.raft_snap_int, 10s);
  EXPECT_EQ(f.raft_leader_lease_timeout, 0s);
  EXPECT_EQ(f.raft_heartbeat_timeout, 1s);
  EXPECT_EQ(f.raft_election_timeout, 1s);
  EXPECT_EQ(f.raft_commit_timeout, 50ms);
  EXPECT_EQ(f.raft_apply_timeout, 10s);
  EXPECT_FALSE(f.raft_remove_shutdown);
  EXPECT_FALSE(f.raft_cluster_remove_shutdown);
  EXPECT_TRUE(f.raft_shutdown_stepdown);
  EXPECT_EQ(f.raft_reap_node_timeout, 0s);
  EXPECT_EQ(f.raft_reap_read_only_node_timeout, 0s);
  EXPECT_EQ(f.raft_log_level, "WARN");
  EXPECT_EQ(f.cluster_connect_timeout, 30s);
  EXPECT_FALSE(f.compress_snap_transport);
  EXPECT_FALSE(f.fk);
  EXPECT_TRUE(f.extensions_path.empty());
  EXPECT_EQ(f.db_max_ro_conns, 256);
  EXPECT_EQ(f.auto_vacuum_int, 0s);
  EXPECT_EQ(f.auto_optimize_int, 24h);
  EXPECT_EQ(f.write_queue_capacity, 1024);
  EXPECT_EQ(f.write_queue_batch_size, 128);
  EXPECT_EQ(f.write_queue_timeout, 50ms);
  EXPECT_FALSE(f.write_queue_tx);
  EXPECT_EQ(f.auto_backup, "");
  EXPECT_EQ(f.auto_restore, "");
  EXPECT_EQ(f.cdc_config, "");
  EXPECT_EQ(f.otlp_endpoint, "");
  EXPECT_EQ(f.otlp_interval, 30s);
  EXPECT_FALSE(f.otlp_insecure);
  EXPECT_FALSE(f.otlp_no_verify);
  EXPECT_EQ(f.otlp_ca_cert, "");
  EXPECT_EQ(f.otlp_cert, "");
  EXPECT_EQ(f.otlp_key, "");
  EXPECT_EQ(f.cpu_profile, "");
  EXPECT_EQ(f.mem_profile, "");
  EXPECT_EQ(f.trace_profile, "");
  EXPECT_TRUE(f.warnings.empty());
}

TEST(FlagsDefaults, NodeId_IsTheAdvertisedRaftAddress) {
  EXPECT_EQ(parsed({"-raft-addr", "10.0.0.1:4002", "/data"}).node_id, "10.0.0.1:4002");
  Flags f = parsed({"-raft-addr", "0.0.0.0:4002", "-raft-adv-addr", "node1:4002", "/data"});
  EXPECT_EQ(f.node_id, "node1:4002");
  EXPECT_EQ(f.raft_adv_addr, "node1:4002");
  EXPECT_EQ(parsed({"-node-id", "1", "/data"}).node_id, "1");
}

TEST(FlagsDefaults, ValuesAreParsedIntoTheirFields) {
  Flags f = parsed({"-join-interval", "1.5s", "-raft-snap-wal-size=0", "-db-max-ro-conns", "0",
                    "-write-queue-tx", "-raft-log-level", "DEBUG", "-bootstrap-expect", "3",
                    "-join", "localhost:4002", "/data"});
  EXPECT_EQ(f.join_interval, 1500ms);
  EXPECT_EQ(f.raft_snap_wal_size, 0u);
  EXPECT_EQ(f.db_max_ro_conns, 0);
  EXPECT_TRUE(f.write_queue_tx);
  EXPECT_EQ(f.raft_log_level, "DEBUG");
  EXPECT_EQ(f.bootstrap_expect, 3);
}

// ---------------------------------------------------------------------------------------------
// The data directory.

TEST(FlagsDataDir, Relative_IsMadeAbsoluteAndCleaned) {
  EXPECT_EQ(parsed({"data"}).data_dir, (fs::current_path() / "data").string());
  EXPECT_EQ(parsed({"/a/b/../c/./"}).data_dir, "/a/c");
}

TEST(FlagsDataDir, Missing_IsFatal) {
  expect_fatal({}, "data directory path is required");
  expect_fatal({"-fk"}, "data directory path is required");
}

TEST(FlagsDataDir, ArgumentsAfterIt_AreFatal) {
  expect_fatal({"/data", "x", "y"},
               "arguments after data directory (/data) are not accepted ([x y])");
}

// ---------------------------------------------------------------------------------------------
// -h and -version.

TEST(FlagsUsage, Help_PrintsUsageToStderrAndExits0) {
  for (const char* h : {"-h", "-help", "--help", "--h"}) {
    FlagsExit e = exited({"-fk", h, "/data"});
    EXPECT_EQ(e.code, 0) << h;
    EXPECT_EQ(e.out, "") << h;
    EXPECT_EQ(e.err.rfind("\n", 0), 0u) << h;
    EXPECT_NE(e.err.find("\nUsage: rqlited [flags] <data directory>\n"), std::string::npos) << h;
  }
}

TEST(FlagsUsage, Help_GoPrintDefaultsLayout) {
  const std::string u = usage_text();
  for (const char* line : {
           "  -http-addr string\n    \tHTTP server bind address. To enable HTTPS, set X.509 "
           "certificate and key (default \"localhost:4001\")\n",
           "  -fk\n    \tEnable SQLite foreign key constraints\n",
           "  -raft-shutdown-stepdown\n    \tRelinquish leadership on shutdown (default true)\n",
           "  -raft-snap uint\n    \tNumber of outstanding log entries that trigger a snapshot "
           "(default 8192)\n",
           "  -join-attempts int\n    \tNumber of times a node should attempt to join a cluster "
           "using a given address (default 5)\n",
           "  -join-interval duration\n    \tTime between retrying failed join operations "
           "(default 3s)\n",
           "  -bootstrap-expect-timeout duration\n    \tMaximum time for bootstrap process "
           "(default 2m0s)\n",
           "  -extensions-path value\n",
           "  -join string\n",
           "  -node-id string\n    \tUnique Raft ID for the node. If not set, defaults to the "
           "advertised Raft address\n",
       }) {
    EXPECT_NE(u.find(line), std::string::npos) << line;
  }
  EXPECT_NE(u.find("(default 24h0m0s)\n"), std::string::npos);  // -auto-optimize-int
  // Zero defaults are not printed.
  EXPECT_EQ(u.find("(default 0s)"), std::string::npos);
  EXPECT_EQ(u.find("(default 0)"), std::string::npos);
  EXPECT_EQ(u.find("(default false)"), std::string::npos);
  EXPECT_EQ(u.find("(default \"\")"), std::string::npos);
}

TEST(FlagsUsage, Help_ListsEveryFlagOfTheSpecOnceSortedByName) {
  const std::vector<std::string> spec = {
      "version",
      "node-id",
      "http-addr",
      "http-adv-addr",
      "http-allow-origin",
      "auth",
      "http-ca-cert",
      "http-cert",
      "http-key",
      "http-verify-client",
      "http-verify-common-name",
      "node-ca-cert",
      "node-cert",
      "node-key",
      "node-no-verify",
      "node-verify-client",
      "node-verify-server-name",
      "node-verify-common-name",
      "raft-addr",
      "raft-adv-addr",
      "join",
      "join-attempts",
      "join-interval",
      "join-as",
      "bootstrap-expect",
      "bootstrap-expect-timeout",
      "disco-mode",
      "disco-key",
      "disco-config",
      "raft-non-voter",
      "raft-snap",
      "raft-snap-wal-size",
      "raft-snap-int",
      "raft-leader-lease-timeout",
      "raft-heartbeat-timeout",
      "raft-election-timeout",
      "raft-commit-timeout",
      "raft-apply-timeout",
      "raft-remove-shutdown",
      "raft-cluster-remove-shutdown",
      "raft-shutdown-stepdown",
      "raft-reap-node-timeout",
      "raft-reap-read-only-node-timeout",
      "raft-log-level",
      "cluster-connect-timeout",
      "compress-snap-transport",
      "fk",
      "extensions-path",
      "db-max-ro-conns",
      "auto-vacuum-int",
      "auto-optimize-int",
      "write-queue-capacity",
      "write-queue-batch-size",
      "write-queue-timeout",
      "write-queue-tx",
      "auto-backup",
      "auto-restore",
      "cdc-config",
      "otlp-endpoint",
      "otlp-interval",
      "otlp-insecure",
      "otlp-no-verify",
      "otlp-ca-cert",
      "otlp-cert",
      "otlp-key",
      "cpu-profile",
      "mem-profile",
      "trace-profile",
  };
  // The flag names as listed: lines "  -name" or "  -name type".
  std::vector<std::string> listed;
  const std::string u = usage_text();
  for (size_t pos = 0; (pos = u.find("\n  -", pos)) != std::string::npos;) {
    pos += 4;
    listed.push_back(u.substr(pos, u.find_first_of(" \n", pos) - pos));
  }
  std::vector<std::string> want = spec;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(listed, want);  // sorted, each once, nothing else (no -raft-timeout)
}

TEST(FlagsVersion, PrintsOneLineToStdoutAndExits0) {
  FlagsExit e = exited({"-version"});
  EXPECT_EQ(e.code, 0);
  EXPECT_EQ(e.err, "");
  EXPECT_EQ(e.out.rfind(std::string("rqlited ") + kVersion + " linux amd64 ", 0), 0u) << e.out;
  EXPECT_NE(e.out.find(std::string(" sqlite") + sqlite3_libversion() + " (commit "),
            std::string::npos)
      << e.out;
  ASSERT_GE(e.out.size(), 2u);
  EXPECT_EQ(e.out.substr(e.out.size() - 2), ")\n");
  EXPECT_EQ(std::count(e.out.begin(), e.out.end(), '\n'), 1);
  EXPECT_STREQ(kVersion, "v10.3.0-sqlraft");
}

TEST(FlagsVersion, AnsweredBeforeTheDataDirectoryIsChecked_AfterAllFlagsParse) {
  EXPECT_EQ(exited({"-version", "/data", "extra"}).code, 0);
  EXPECT_EQ(exited({"-version", "-bogus"}).code, 2);
  EXPECT_EQ(parsed({"-version=false", "/data"}).data_dir, "/data");
}

// ---------------------------------------------------------------------------------------------
// Validation: rqlite's rules, each fatal with exit code 1.

TEST(FlagsValidation, AddressRules) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-http-addr", "localhost:4002"}, "HTTP and Raft addresses must differ"},
      {{"-http-addr", "http://localhost:4001"},
       "HTTP options should not include protocol (http:// or https://)"},
      {{"-http-adv-addr", "HTTPS://h:4001"},
       "HTTP options should not include protocol (http:// or https://)"},
      {{"-http-addr", "localhost"}, "HTTP bind address not valid"},
      {{"-http-addr", "a:b:4001"}, "HTTP bind address not valid"},
      {{"-http-adv-addr", "host"}, "HTTP advertised HTTP address not valid"},
      {{"-http-addr", "0.0.0.0:4001"},
       "advertised HTTP address is not routable (0.0.0.0), specify it via -http-addr or "
       "-http-adv-addr"},
      {{"-http-addr", "[::]:4001"},
       "advertised HTTP address is not routable (::), specify it via -http-addr or "
       "-http-adv-addr"},
      {{"-http-adv-addr", "0.0.0.0:4001"},
       "advertised HTTP address is not routable (0.0.0.0), specify it via -http-addr or "
       "-http-adv-addr"},
      {{"-raft-addr", "localhost"}, "raft bind address not valid"},
      {{"-raft-addr", "localhost:abc"}, "raft bind port not valid"},
      {{"-raft-adv-addr", "[::1"}, "raft advertised address not valid"},
      {{"-raft-addr", "0.0.0.0:4002"},
       "advertised Raft address is not routable (0.0.0.0), specify it via -raft-addr or "
       "-raft-adv-addr"},
      {{"-raft-adv-addr", "[::ffff:0.0.0.0]:4002"},
       "advertised Raft address is not routable (::ffff:0.0.0.0), specify it via -raft-addr or "
       "-raft-adv-addr"},
      {{"-raft-adv-addr", "h:x"}, "raft advertised port is not valid"},
      {{"-http-adv-addr", "h:1", "-raft-adv-addr", "h:1"},
       "advertised HTTP and Raft addresses must differ"},
  };
  for (auto [args, msg] : cases) {
    args.push_back("/data");
    expect_fatal(args, msg);
  }
}

TEST(FlagsValidation, AddressRules_RoutableAdvertisedAddressesAreAccepted) {
  Flags f = parsed({"-http-addr", "0.0.0.0:4001", "-http-adv-addr", "h1:4001", "-raft-addr",
                    "[::]:4002", "-raft-adv-addr", "h1:4002", "/data"});
  EXPECT_EQ(f.http_adv_addr, "h1:4001");
  EXPECT_EQ(f.raft_adv_addr, "h1:4002");
  EXPECT_EQ(f.node_id, "h1:4002");
  // rqlite lets an empty host through: it is not an IP, so not "unspecified".
  EXPECT_EQ(parsed({"-http-addr", ":4001", "/data"}).http_adv_addr, ":4001");
}

TEST(FlagsValidation, ClusteringRules) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-bootstrap-expect", "3", "-raft-non-voter"},
       "bootstrapping only applicable to voting nodes"},
      {{"-join", "foo"}, "foo is an invalid join address"},
      {{"-join", "h:1,"}, " is an invalid join address"},
      {{"-join", "h:1,localhost:4002"}, "node cannot join with itself unless bootstrapping"},
      {{"-raft-adv-addr", "me:4002", "-join", "me:4002"},
       "node cannot join with itself unless bootstrapping"},
      {{"-join", "h:1", "-disco-mode", "dns"},
       "disco mode cannot be used when also explicitly joining a cluster"},
      {{"-disco-mode", "dns"}, "bootstrap-expect value required when using dns with a voting node"},
      {{"-disco-mode", "dns-srv"},
       "bootstrap-expect value required when using dns-srv with a voting node"},
      {{"-disco-mode", "consul-kv", "-bootstrap-expect", "3"},
       "bootstrapping not applicable when using consul-kv"},
      {{"-disco-mode", "etcd-kv", "-bootstrap-expect", "3"},
       "bootstrapping not applicable when using etcd-kv"},
      {{"-disco-mode", "zookeeper"},
       "disco mode must be one of consul-kv, etcd-kv, dns, or dns-srv"},
      {{"-cdc-config", "stdout", "-raft-non-voter"}, "CDC cannot be enabled on a non-voting node"},
  };
  for (auto [args, msg] : cases) {
    args.push_back("/data");
    expect_fatal(args, msg);
  }
}

TEST(FlagsValidation, ClusteringRules_AllowedCombinations) {
  // Joining through its own address is how every node of a bootstrap-expect cluster is started.
  EXPECT_EQ(
      parsed({"-bootstrap-expect", "3", "-join", "localhost:4002,h2:4002", "/data"}).join.size(),
      2u);
  EXPECT_EQ(parsed({"-disco-mode", "dns", "-raft-non-voter", "/data"}).disco_mode, "dns");
  EXPECT_EQ(parsed({"-disco-mode", "dns", "-bootstrap-expect", "3", "/data"}).bootstrap_expect, 3);
  EXPECT_EQ(parsed({"-cdc-config", "stdout", "/data"}).cdc_config, "stdout");
}

TEST(FlagsValidation, ReapTimeouts_ExplicitlyZeroOrNegativeIsFatal) {
  expect_fatal({"-raft-reap-node-timeout", "0s", "/data"},
               "-raft-reap-node-timeout must be greater than 0");
  expect_fatal({"-raft-reap-node-timeout=-1h", "/data"},
               "-raft-reap-node-timeout must be greater than 0");
  expect_fatal({"-raft-reap-read-only-node-timeout", "0", "/data"},
               "-raft-reap-read-only-node-timeout must be greater than 0");
  EXPECT_EQ(parsed({"-raft-reap-node-timeout", "1h", "/data"}).raft_reap_node_timeout, 1h);
}

using FlagsPathValidation = FlagsFiles;

TEST_F(FlagsPathValidation, FilePathsMustExist) {
  for (const char* flag : {"-auth", "-auto-backup", "-auto-restore", "-http-ca-cert",
                           "-node-ca-cert", "-otlp-ca-cert"})
    expect_fatal({flag, missing(), "/data"}, missing() + " does not exist");
  expect_fatal({"-extensions-path", ext(1) + "," + missing(), "/data"},
               "extension path does not exist: " + missing());
}

TEST_F(FlagsPathValidation, CertificateAndKeyComeInPairs) {
  expect_fatal({"-http-cert", file(), "/data"},
               "either both -http-cert and -http-key must be set, or neither");
  expect_fatal({"-http-key", file(), "/data"},
               "either both -http-cert and -http-key must be set, or neither");
  expect_fatal({"-node-cert", file(), "/data"},
               "either both -node-cert and -node-key must be set, or neither");
  expect_fatal({"-node-key", file(), "/data"},
               "either both -node-cert and -node-key must be set, or neither");
}

TEST_F(FlagsPathValidation, VerifyCommonName_NeedsVerifyClient) {
  expect_fatal({"-http-verify-common-name", "app", "/data"},
               "-http-verify-common-name requires -http-verify-client");
  expect_fatal({"-node-verify-common-name", "node", "/data"},
               "-node-verify-common-name requires -node-verify-client");
}

TEST_F(FlagsPathValidation, AutoRestore_NotWhenJoiningUnlessBootstrapping) {
  expect_fatal({"-auto-restore", file(), "-join", "h:4002", "/data"},
               "auto-restoring cannot be used when joining a cluster");
  EXPECT_EQ(parsed({"-auto-restore", file(), "-join", "h:4002", "-bootstrap-expect", "2", "/data"})
                .auto_restore,
            file());
}

// ---------------------------------------------------------------------------------------------
// Removed and renamed flags (rqlite-compat.md §3.2).

TEST(FlagsRemoved, RaftTimeout_IsADeprecatedAliasOfRaftHeartbeatTimeout) {
  Flags f = parsed({"-raft-timeout", "2s", "/data"});
  EXPECT_EQ(f.raft_heartbeat_timeout, 2s);
  EXPECT_EQ(f.warnings,
            (std::vector<std::string>{
                "flag -raft-timeout is deprecated; use -raft-heartbeat-timeout instead"}));
  // It is the same flag: the last one given wins, and the warning is given once.
  f = parsed({"-raft-timeout=2s", "-raft-heartbeat-timeout", "3s", "-raft-timeout", "4s", "/data"});
  EXPECT_EQ(f.raft_heartbeat_timeout, 4s);
  EXPECT_EQ(f.warnings.size(), 1u);
  expect_usage_error({"-raft-timeout", "2", "/data"},
                     "invalid value \"2\" for flag -raft-heartbeat-timeout: parse error");
}

TEST(FlagsRemoved, RemovedFlags_AreFatalWithTheReason) {
  expect_fatal({"-on-disk", "/data"},
               "flag -on-disk was removed in rqlite v8: the database is always on disk");
  expect_fatal({"-on-disk-path", "/x/db", "/data"},
               "flag -on-disk-path was removed in rqlite v10: the database is always db.sqlite in "
               "the data directory");
  for (const char* name : {"on-disk-startup", "http-no-verify", "node-encrypt", "tls1011", "expvar",
                           "pprof", "compression-batch", "compression-size",
                           "raft-no-freelist-sync", "join-source-ip", "RaftWaitForLeader"}) {
    FlagsExit e = exited({std::string("-") + name + "=1", "/data"});
    EXPECT_EQ(e.code, 1) << name;
    EXPECT_EQ(e.err.rfind("fatal: flag -" + std::string(name) + " was removed in rqlite v", 0), 0u)
        << e.err;
  }
}

// ---------------------------------------------------------------------------------------------
// Our policy for features this build does not have yet.

using FlagsSecurity = FlagsFiles;

TEST_F(FlagsSecurity, SecurityFlags_AreRefused) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-auth", file()}, "auth"},
      {{"-http-cert", file(), "-http-key", file()}, "http-cert"},
      {{"-http-ca-cert", file()}, "http-ca-cert"},
      {{"-http-verify-client"}, "http-verify-client"},
      {{"-http-verify-client", "-http-verify-common-name", "cn"}, "http-verify-client"},
      {{"-node-cert", file(), "-node-key", file()}, "node-cert"},
      {{"-node-ca-cert", file()}, "node-ca-cert"},
      {{"-node-verify-client"}, "node-verify-client"},
      {{"-node-no-verify"}, "node-no-verify"},
      {{"-node-verify-server-name", "rqlite.local"}, "node-verify-server-name"},
      {{"-join-as", "bob"}, "join-as"},
  };
  for (auto [args, flag] : cases) {
    args.push_back("/data");
    expect_fatal(args, "-" + flag +
                           " is not supported yet by this build; refusing to start without the "
                           "security it asks for");
  }
}

TEST_F(FlagsSecurity, SecurityFlags_AtTheirDefaultsAskForNothing) {
  Flags f = parsed({"-auth=", "-node-no-verify=false", "-http-verify-client=false", "/data"});
  EXPECT_TRUE(f.warnings.empty());
}

using FlagsWarnings = FlagsFiles;

TEST_F(FlagsWarnings, NotImplementedFlags_WarnAndAreIgnored) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-disco-mode", "consul-kv"}, "disco-mode"},
      {{"-disco-key", "other"}, "disco-key"},
      {{"-disco-config", "{}"}, "disco-config"},
      {{"-auto-backup", file()}, "auto-backup"},
      {{"-auto-restore", file()}, "auto-restore"},
      {{"-cdc-config", "stdout"}, "cdc-config"},
      {{"-otlp-endpoint", "collector:4317"}, "otlp-endpoint"},
      {{"-otlp-interval", "10s"}, "otlp-interval"},
      {{"-otlp-insecure"}, "otlp-insecure"},
      {{"-otlp-no-verify"}, "otlp-no-verify"},
      {{"-otlp-ca-cert", file()}, "otlp-ca-cert"},
      {{"-otlp-cert", file()}, "otlp-cert"},
      {{"-otlp-key", file()}, "otlp-key"},
      {{"-cpu-profile", "/tmp/cpu.prof"}, "cpu-profile"},
      {{"-mem-profile", "/tmp/mem.prof"}, "mem-profile"},
      {{"-trace-profile", "/tmp/trace.prof"}, "trace-profile"},
      {{"-extensions-path", ext(1)}, "extensions-path"},
      {{"-auto-vacuum-int", "1h"}, "auto-vacuum-int"},
      {{"-auto-optimize-int", "0h"}, "auto-optimize-int"},
      {{"-compress-snap-transport"}, "compress-snap-transport"},
      {{"-raft-snap-wal-size", "0"}, "raft-snap-wal-size"},
      {{"-raft-reap-node-timeout", "1h"}, "raft-reap-node-timeout"},
      {{"-raft-reap-read-only-node-timeout", "1h"}, "raft-reap-read-only-node-timeout"},
      {{"-raft-remove-shutdown"}, "raft-remove-shutdown"},
      {{"-raft-election-timeout", "5s"}, "raft-election-timeout"},
      {{"-raft-leader-lease-timeout", "1s"}, "raft-leader-lease-timeout"},
      {{"-raft-commit-timeout", "1s"}, "raft-commit-timeout"},
      {{"-cluster-connect-timeout", "1m"}, "cluster-connect-timeout"},
      {{"-db-max-ro-conns", "9"}, "db-max-ro-conns"},
  };
  for (auto [args, flag] : cases) {
    args.push_back("/data");
    EXPECT_EQ(parsed(args).warnings,
              (std::vector<std::string>{"flag -" + flag +
                                        " is accepted but not implemented yet; it is ignored"}))
        << flag;
  }
}

TEST_F(FlagsWarnings, DefaultsAndImplementedFlags_DoNotWarn) {
  Flags f = parsed({"-auto-optimize-int", "24h", "-raft-snap-wal-size", "4194304", "-disco-key",
                    "rqlite", "-compress-snap-transport=false", "-otlp-interval=30s", "-fk",
                    "-raft-snap", "100", "-write-queue-tx", "/data"});
  EXPECT_TRUE(f.warnings.empty());
  EXPECT_EQ(f.raft_snap, 100u);
}

TEST_F(FlagsWarnings, SeveralIgnoredFlags_WarnOnceEach) {
  Flags f = parsed({"-cpu-profile", "/tmp/a", "-raft-timeout", "1s", "-auto-vacuum-int", "1m",
                    "-cpu-profile", "/tmp/b", "/data"});
  EXPECT_EQ(f.warnings,
            (std::vector<std::string>{
                "flag -raft-timeout is deprecated; use -raft-heartbeat-timeout instead",
                "flag -cpu-profile is accepted but not implemented yet; it is ignored",
                "flag -auto-vacuum-int is accepted but not implemented yet; it is ignored"}));
}

// ---------------------------------------------------------------------------------------------
// Go durations.

TEST(GoDuration, Parse_UnitsFractionsAndSigns) {
  const std::vector<std::pair<std::string, Duration>> cases = {
      {"0", 0ns},
      {"+0", 0ns},
      {"-0", 0ns},
      {"0s", 0ns},
      {"300ms", 300ms},
      {"-1.5h", -90min},
      {"2h45m", 2h + 45min},
      {"1ns", 1ns},
      {"1us", 1us},
      {"1\u00b5s", 1us},  // micro sign
      {"1\u03bcs", 1us},  // Greek mu
      {"1.5s", 1500ms},
      {".5s", 500ms},
      {"1.s", 1s},
      {"+5s", 5s},
      {"0.1h", 6min},
      {"1h1m1s1ms1us1ns", 1h + 1min + 1s + 1ms + 1us + 1ns},
      {"1.9999999999s", 1999999999ns},  // digits below a nanosecond are truncated
      {"9223372036854775807ns", Duration{std::numeric_limits<int64_t>::max()}},
      {"-9223372036854775808ns", Duration{std::numeric_limits<int64_t>::min()}},
      {"2562047h47m16.854775807s", Duration{std::numeric_limits<int64_t>::max()}},
  };
  for (const auto& [text, want] : cases) {
    std::optional<Duration> got = parse_go_duration(text);
    ASSERT_TRUE(got.has_value()) << text;
    EXPECT_EQ(got->count(), want.count()) << text;
  }
}

TEST(GoDuration, Parse_RejectsWhatGoRejects) {
  for (const char* text : {"",
                           "1",
                           "10",
                           "00",
                           "-",
                           "+",
                           "s",
                           ".s",
                           ".",
                           "1x",
                           "1e3s",
                           "1.2.3s",
                           " 1s",
                           "1s ",
                           "--1s",
                           "1 s",
                           "1S",
                           "1sec",
                           "9223372036854775808ns",
                           "2562048h",
                           "-9223372036854775809ns",
                           "5000000000000000000ns5000000000000000000ns"}) {
    EXPECT_FALSE(parse_go_duration(text).has_value()) << text;
  }
  // Go's sum wraps around to 0 here and accepts it; we do not.
  EXPECT_FALSE(parse_go_duration("9223372036854775808ns9223372036854775808ns").has_value());
  EXPECT_FALSE(parse_go_duration("-9223372036854775808ns9223372036854775808ns").has_value());
}

TEST(GoDuration, Format_LikeGosDurationString) {
  const std::vector<std::pair<Duration, std::string>> cases = {
      {0ns, "0s"},
      {1ns, "1ns"},
      {999ns, "999ns"},
      {1us, "1\u00b5s"},
      {1100ns, "1.1\u00b5s"},
      {2us, "2\u00b5s"},
      {1500us, "1.5ms"},
      {300ms, "300ms"},
      {1s, "1s"},
      {1500ms, "1.5s"},
      {60s, "1m0s"},
      {90s, "1m30s"},
      {1h, "1h0m0s"},
      {2h + 45min, "2h45m0s"},
      {24h, "24h0m0s"},
      {1h + 1ns, "1h0m0.000000001s"},
      {-90min, "-1h30m0s"},
      {-1ns, "-1ns"},
      {Duration{std::numeric_limits<int64_t>::max()}, "2562047h47m16.854775807s"},
      {Duration{std::numeric_limits<int64_t>::min()}, "-2562047h47m16.854775808s"},
  };
  for (const auto& [d, want] : cases) EXPECT_EQ(format_go_duration(d), want) << d.count();
}

TEST(GoDuration, RoundTrip_FormatThenParseIsIdentity) {
  std::vector<int64_t> values = {0,
                                 1,
                                 -1,
                                 999,
                                 1000,
                                 1001,
                                 999999999,
                                 1000000000,
                                 std::numeric_limits<int64_t>::max(),
                                 std::numeric_limits<int64_t>::min()};
  // A fixed spread over every magnitude, positive and negative.
  for (int64_t v = 1; v < std::numeric_limits<int64_t>::max() / 7; v = v * 7 + 3) {
    values.push_back(v);
    values.push_back(-v);
  }
  for (int64_t v : values) {
    const std::string text = format_go_duration(Duration{v});
    std::optional<Duration> back = parse_go_duration(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(back->count(), v) << text;
  }
}

}  // namespace
}  // namespace rq::server
