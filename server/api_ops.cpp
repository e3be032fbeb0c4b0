// /nodes, /leader, /remove, /snapshot, /reap, /debug/vars, /db/sql, queued writes
// (rqlite-compat.md §1.9, §2.2-2.5, §2.8). Being written.
#include "server/api.h"
#include "server/write_queue.h"

namespace rq::server {

Api::~Api() = default;

namespace {
HttpResponse not_yet() {
  return HttpResponse{501, "text/plain; charset=utf-8", "not implemented yet\n", {}};
}
}  // namespace

void Api::nodes(const HttpRequest&, HttpReply& reply) {
  reply(not_yet());
}
void Api::leader(HttpRequest&, HttpReply& reply) {
  reply(not_yet());
}
void Api::remove(HttpRequest&, HttpReply& reply) {
  reply(not_yet());
}
void Api::snapshot(const HttpRequest&, HttpReply& reply) {
  reply(not_yet());
}
void Api::reap(const HttpRequest&, HttpReply& reply) {
  reply(not_yet());
}
void Api::debug_vars(const HttpRequest&, HttpReply& reply) {
  reply(not_yet());
}
void Api::db_sql(const HttpRequest&, HttpReply& reply) {
  reply(not_yet());
}
void Api::queued(const HttpRequest&, HttpReply& reply, QueryParams, std::vector<sql::Statement>) {
  reply(not_yet());
}

}  // namespace rq::server
