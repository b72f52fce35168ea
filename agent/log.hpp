#pragma once
// The agent's log: one line per event, human-readable by default, JSON lines for machines
// (`--log-format json`). Every line has a time, a level and an event name, then fields.
// Nothing secret is ever passed here: fields hold addresses, hashes, amounts and reasons.
#include <initializer_list>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

namespace vigil::agent {

enum class LogLevel { debug, info, warn, error };
enum class LogFormat { text, json };
std::string_view to_string(LogLevel level) noexcept;

struct LogField {
    std::string_view key;
    std::string value;
};

/// Text: `2026-11-22T08:30:00.123Z INFO  tx.sent key=morpho/… nonce=7`; values with spaces
/// or quotes are quoted. JSON: `{"ts":"…","level":"info","event":"tx.sent","key":"…"}`.
/// Lines are written whole (a mutex guards the stream) and flushed.
class Logger {
public:
    explicit Logger(std::ostream& out, LogFormat format = LogFormat::text,
                    LogLevel min_level = LogLevel::info);

    void write(LogLevel level, std::string_view event, std::initializer_list<LogField> fields);
    void debug(std::string_view event, std::initializer_list<LogField> fields = {}) {
        write(LogLevel::debug, event, fields);
    }
    void info(std::string_view event, std::initializer_list<LogField> fields = {}) {
        write(LogLevel::info, event, fields);
    }
    void warn(std::string_view event, std::initializer_list<LogField> fields = {}) {
        write(LogLevel::warn, event, fields);
    }
    void error(std::string_view event, std::initializer_list<LogField> fields = {}) {
        write(LogLevel::error, event, fields);
    }

private:
    std::ostream& out_;
    LogFormat format_;
    LogLevel min_level_;
    std::mutex mutex_;
};

}  // namespace vigil::agent
