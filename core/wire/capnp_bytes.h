// Helpers shared by the codecs of standalone Cap'n Proto messages (the cluster layer's
// core/service/forward_codec.cpp and rqlited's server/peers.cpp): a builder to flat bytes,
// Data fields to and from strings, and reading bytes that may be hostile (copied to word
// alignment, a traversal limit proportional to the size, kj exceptions turned into Errors).
// Include only from .cpp files: it brings in Cap'n Proto's headers.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace rq::wire {

inline std::string to_bytes(capnp::MessageBuilder& b) {
  auto words = capnp::messageToFlatArray(b);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

inline capnp::Data::Reader data_of(std::string_view s) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

inline std::string str(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

// Runs fn(root) on the message `bytes` holds and returns what it returns (a Result or Status);
// bytes that are not a message are an Error saying "`what`: why", never a crash.
template <class Root, class Fn>
auto read_flat(std::string_view bytes, const char* what, Fn&& fn)
    -> decltype(fn(std::declval<typename Root::Reader>())) {
  auto fail = [what](const std::string& why) {
    return make_error(ErrorCode::kInvalid, std::string(what) + ": " + why);
  };
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0)
    return fail("not a whole number of words");
  std::vector<capnp::word> words(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.data(), bytes.data(), bytes.size());
  try {
    capnp::ReaderOptions opts;
    opts.traversalLimitInWords = words.size() * 2 + 1024;
    capnp::FlatArrayMessageReader reader(
        kj::ArrayPtr<const capnp::word>(words.data(), words.size()), opts);
    return fn(reader.getRoot<Root>());
  } catch (const kj::Exception& e) {
    return fail(e.getDescription().cStr());
  }
}

}  // namespace rq::wire
