// rqlited's node host without a process: peers.json as rqlite (and Hashicorp) read it.
#include "server/node_host.h"

#include <gtest/gtest.h>

namespace rq::server {
namespace {

TEST(PeersJson, ServersBecomeTheMembership) {
  auto m = parse_peers_json(R"([{"id": "1", "address": "10.0.0.1:4002"},
                                 {"id": "b", "address": "host-b:4002", "non_voter": false, "extra": 7},
                                 {"id": "c", "address": "[::1]:4002", "non_voter": true}])");
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->members().size(), 3u);
  const raft::Member* b = m->find(node_id_from_name("b"));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->address, "host-b:4002");
  EXPECT_EQ(b->name, "b");
  EXPECT_TRUE(b->voter);
  EXPECT_FALSE(m->find(node_id_from_name("c"))->voter);
  EXPECT_EQ(m->voters().size(), 2u);
}

TEST(PeersJson, HashicorpsChecksAndRqlitesAreErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"{", "invalid JSON"},
      {R"({"id": "1"})", "not a JSON array of servers"},
      {R"([1])", "a server is not a JSON object"},
      {R"([{"address": "a:1"}])", "empty ID in configuration"},
      {R"([{"id": "1"}])", "empty address in configuration"},
      {R"([{"id": "1", "address": "a:1"}, {"id": "1", "address": "b:1"}])", "found duplicate ID in configuration: 1"},
      {R"([{"id": "1", "address": "a:1"}, {"id": "2", "address": "a:1"}])",
       "found duplicate address in configuration: a:1"},
      {R"([{"id": "1", "address": "a:1", "non_voter": true}])", "need at least one voter in configuration"},
      {R"([{"id": "1", "address": "http://a:1"}])", "protocol specified in address: http://a:1"},
      {R"([{"id": "1", "address": "no-port"}])", "invalid address in configuration: no-port"},
      {R"([{"id": "1", "address": "a:1", "non_voter": "yes"}])", "non_voter of 1 is not a boolean"},
  };
  for (const auto& [text, why] : cases) {
    auto m = parse_peers_json(text);
    ASSERT_FALSE(m.ok()) << text;
    EXPECT_EQ(m.error().message.rfind(why, 0), 0u) << text << " -> " << m.error().message;
  }
}

}  // namespace
}  // namespace rq::server
