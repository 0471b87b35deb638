// Memory figures of a process from /proc/<pid>/status, for tests and benchmarks that bound or
// report memory. Linux only. Thread-safe.
#pragma once

#include <string_view>

#include <sys/types.h>

namespace testing_support {

// The value of `field` ("VmRSS", "VmHWM", ...) in KiB for process `pid` (0: this process);
// -1 when the process or the field is not there.
long ProcStatusKiB(std::string_view field, pid_t pid = 0);

}  // namespace testing_support
