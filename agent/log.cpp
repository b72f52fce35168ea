#include "agent/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace vigil::agent {

std::string_view to_string(LogLevel level) noexcept {
    switch (level) {
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warn:
            return "warn";
        case LogLevel::error:
            return "error";
    }
    return "?";
}

namespace {

/// UTC with milliseconds: 2026-11-22T08:30:00.123Z.
std::string timestamp() {
    const auto now = std::chrono::system_clock::now();
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(ms % 1000 + 1000) % 1000);
    return buf;
}

bool needs_quotes(std::string_view v) {
    if (v.empty()) return true;
    for (char c : v)
        if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
            return true;
    return false;
}

}  // namespace

Logger::Logger(std::ostream& out, LogFormat format, LogLevel min_level)
    : out_(out), format_(format), min_level_(min_level) {}

void Logger::write(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
    if (level < min_level_) return;
    std::string line;
    if (format_ == LogFormat::json) {
        nlohmann::ordered_json j;
        j["ts"] = timestamp();
        j["level"] = to_string(level);
        j["event"] = event;
        for (const LogField& f : fields) j[std::string(f.key)] = f.value;
        line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
        std::string upper(to_string(level));
        for (char& c : upper) c = static_cast<char>(c - 'a' + 'A');
        upper.resize(5, ' ');
        line = timestamp() + ' ' + upper + ' ' + std::string(event);
        for (const LogField& f : fields) {
            line += ' ';
            line += f.key;
            line += '=';
            // JSON string escaping doubles as the quoting rule for text values.
            line += needs_quotes(f.value)
                        ? nlohmann::json(f.value).dump(-1, ' ', false,
                                                       nlohmann::json::error_handler_t::replace)
                        : f.value;
        }
    }
    line += '\n';
    std::lock_guard lock(mutex_);
    out_ << line << std::flush;
}

}  // namespace vigil::agent
