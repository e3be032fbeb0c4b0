// Queued writes (rqlite's /db/execute?queue): being written.
#pragma once

namespace rq::server {

class WriteQueue {};

}  // namespace rq::server
