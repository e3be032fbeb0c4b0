#include "server/peer_codec.h"

#include "core/wire/capnp_bytes.h"
#include "server/peers.capnp.h"

namespace rq::server {

namespace {

constexpr size_t kMaxText = 64 * 1024;  // any text field of a call (paths, queries, headers)

using wire::str;

// Reads a message another node sent (hostile bytes); fn(root) runs inside the guard.
template <class Root, class Fn>
auto read_message(std::string_view bytes, Fn&& fn) {
  return wire::read_flat<Root>(bytes, "peer message", std::forward<Fn>(fn));
}

}  // namespace

Result<PeerCall> decode_peer_call(std::string_view bytes, NodeId from) {
  return read_message<wire::PeerCall>(bytes, [&](wire::PeerCall::Reader c) -> Result<PeerCall> {
    PeerCall call;
    if (c.isMeta()) {
      call.kind = PeerCall::Kind::kMeta;
      return call;
    }
    if (c.isChunk()) {
      call.kind = PeerCall::Kind::kChunk;
      call.transfer = c.getChunk().getTransfer();
      call.offset = c.getChunk().getOffset();
      return call;
    }
    if (!c.isHttp()) return make_error(ErrorCode::kInvalid, "unknown call");
    call.kind = PeerCall::Kind::kHttp;
    auto h = c.getHttp();
    if (h.getMethod().size() > 16 || h.getPath().size() > kMaxText ||
        h.getQuery().size() > kMaxText || h.getContentType().size() > kMaxText)
      return make_error(ErrorCode::kInvalid, "HTTP call fields out of range");
    HttpRequest& req = call.http;
    req.method = h.getMethod().cStr();
    req.path = h.getPath().cStr();
    req.query = h.getQuery().cStr();
    req.target = req.path + (req.query.empty() ? "" : "?" + req.query);
    req.content_type = h.getContentType().cStr();
    req.body = str(h.getBody());
    req.remote = "node " + std::to_string(from.v);
    req.forwarded = true;
    return call;
  });
}

Result<NodeMeta> decode_meta_answer(std::string_view bytes) {
  return read_message<wire::PeerAnswer>(bytes, [](wire::PeerAnswer::Reader a) -> Result<NodeMeta> {
    if (a.isError()) return make_error(ErrorCode::kInvalid, a.getError().cStr());
    if (!a.isMeta()) return make_error(ErrorCode::kInvalid, "not a metadata answer");
    auto w = a.getMeta();
    NodeMeta m;
    m.name = w.getName().cStr();
    m.api_addr = w.getApiAddr().cStr();
    m.version = w.getVersion().cStr();
    m.commit_index = w.getCommitIndex();
    return m;
  });
}

Result<HttpAnswer> decode_http_answer(std::string_view bytes) {
  return read_message<wire::PeerAnswer>(
      bytes, [](wire::PeerAnswer::Reader a) -> Result<HttpAnswer> {
        if (a.isError()) return make_error(ErrorCode::kInvalid, a.getError().cStr());
        if (!a.isHttp()) return make_error(ErrorCode::kInvalid, "not an HTTP answer");
        auto h = a.getHttp();
        if (h.getStatus() < 100 || h.getStatus() > 599)
          return make_error(ErrorCode::kInvalid, "bad HTTP status");
        HttpAnswer out;
        out.resp.status = h.getStatus();
        out.resp.content_type = h.getContentType().cStr();
        for (auto hd : h.getHeaders())
          out.resp.headers.emplace_back(hd.getName().cStr(), hd.getValue().cStr());
        out.resp.body = str(h.getBody());
        out.transfer = h.getTransfer();
        out.size = h.getSize();
        return out;
      });
}

Result<std::string> decode_chunk_answer(std::string_view bytes) {
  return read_message<wire::PeerAnswer>(
      bytes, [](wire::PeerAnswer::Reader a) -> Result<std::string> {
        if (a.isError()) return make_error(ErrorCode::kInvalid, a.getError().cStr());
        if (!a.isChunk()) return make_error(ErrorCode::kInvalid, "not a chunk");
        if (a.getChunk().hasError() && a.getChunk().getError().size() > 0)
          return make_error(ErrorCode::kIo, a.getChunk().getError().cStr());
        return str(a.getChunk().getData());
      });
}

}  // namespace rq::server
