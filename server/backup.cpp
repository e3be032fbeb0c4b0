// Being written.
#include "server/backup.h"
