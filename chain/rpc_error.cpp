#include "chain/rpc_error.hpp"

namespace vigil::rpc {

std::string_view to_string(Errc e) noexcept {
    switch (e) {
        case Errc::rpc_error:
            return "rpc_error";
        case Errc::http_status:
            return "http_status";
        case Errc::rate_limited:
            return "rate_limited";
        case Errc::timeout:
            return "timeout";
        case Errc::connect_failed:
            return "connect_failed";
        case Errc::connection_closed:
            return "connection_closed";
        case Errc::malformed_response:
            return "malformed_response";
        case Errc::unavailable:
            return "unavailable";
        case Errc::wrong_chain:
            return "wrong_chain";
        case Errc::wrong_receipt:
            return "wrong_receipt";
    }
    return "unknown";
}

std::string Failure::to_string() const {
    // Appended piece by piece: GCC 12 reports a false -Wrestrict on `" " + std::string`.
    std::string out(rpc::to_string(kind));
    if (kind == Errc::rpc_error || rpc.code != 0 || !rpc.message.empty()) {
        out += ' ';
        out += std::to_string(rpc.code);
        out += " '";
        out += rpc.message;
        out += '\'';
    }
    if (http_status != 0) {
        out += " http ";
        out += std::to_string(http_status);
    }
    if (retry_after) {
        out += " retry after ";
        out += std::to_string(retry_after->count());
        out += " ms";
    }
    if (!endpoint.empty()) {
        out += " from ";
        out += endpoint;
    }
    if (!detail.empty()) {
        out += ": ";
        out += detail;
    }
    return out;
}

}  // namespace vigil::rpc
