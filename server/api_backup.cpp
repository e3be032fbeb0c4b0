// /db/backup, /db/load, /boot (rqlite-compat.md §2.6, §2.7). Being written.
#include "server/api.h"

namespace rq::server {

void Api::backup(const HttpRequest&, HttpReply& reply) {
  reply(HttpResponse{501, "text/plain; charset=utf-8", "not implemented yet\n", {}});
}
void Api::load(HttpRequest&, HttpReply& reply) {
  reply(HttpResponse{501, "text/plain; charset=utf-8", "not implemented yet\n", {}});
}
void Api::boot(HttpRequest&, HttpReply& reply) {
  reply(HttpResponse{501, "text/plain; charset=utf-8", "not implemented yet\n", {}});
}

}  // namespace rq::server
