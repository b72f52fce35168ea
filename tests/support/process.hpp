#pragma once
// Child processes for tests: run a tool to completion (cast), or keep one running (anvil)
// and kill it by its PID when the test ends.
#include <sys/types.h>

#include <string>
#include <vector>

namespace vigil::test {

struct RunResult {
    int exit_code = -1;  ///< exit status, or 128 + signal number
    std::string out;
    std::string err;
};

/// Runs argv[0] (a path) with arguments, feeding `input` to stdin; waits for it to end.
RunResult run(const std::vector<std::string>& argv, const std::string& input = {});

/// A process that lives as long as this object: SIGKILL + waitpid on destruction.
class Child {
public:
    /// Starts argv; stdout and stderr go to `log_path` (or /dev/null when empty).
    Child(const std::vector<std::string>& argv, const std::string& log_path = {});
    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const noexcept { return pid_; }
    /// Sends `sig` and reaps the process; returns its wait status.
    int kill_and_wait(int sig);
    bool running() const;

private:
    pid_t pid_ = -1;
};

/// A loopback TCP port that was free a moment ago.
unsigned short free_port();
/// Waits until something accepts TCP connections on 127.0.0.1:port.
bool wait_for_port(unsigned short port, int timeout_ms);

/// Path of a pinned npm tool's binary (tools/node_modules/.bin/NAME); fails the test
/// with a clear message when bootstrap has not installed it.
std::string tool_path(const std::string& name);

}  // namespace vigil::test
