// rqcheck's history readers (sim/history_formats.h read_history): the files a user hands it.
// The selector byte picks the format (mod 4): porcupine-etcd, porcupine-kv, edn, jsonl.
#include "sim/history_formats.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rq::sim;
  const auto [selector, text] = rq::fuzz::select(data, size);
  constexpr HistoryFormat kFormats[] = {HistoryFormat::kPorcupineEtcd, HistoryFormat::kPorcupineKv,
                                        HistoryFormat::kEdn, HistoryFormat::kJsonl};
  const HistoryFormat f = kFormats[selector % 4];
  auto history = read_history(f, text);
  if (!history.ok()) RQ_ASSERT(!history.error().message.empty());
  return 0;
}
