// Being written.
#include "server/write_queue.h"
