// Commands and results <-> Cap'n Proto bytes (core/wire/command.capnp). Commands travel in log
// entries; results are kept per client session (exactly-once retries) and forwarded between nodes.
// Decoding treats its input as hostile.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "core/sqlite/types.h"

namespace rq::sql {

std::string encode_command(const Command& c);
Result<Command> decode_command(std::string_view bytes);

std::string encode_result(const CommandResult& r);
Result<CommandResult> decode_result(std::string_view bytes);

}  // namespace rq::sql
