#pragma once
// Runs a coroutine to completion on an io_context, for tests and fixtures.
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>

#include "chain/asio.hpp"

namespace vigil::test {

/// Runs `task` on `ioc` until it finishes and returns its value (rethrowing its
/// exception). A task still running after `limit` throws; its state is shared, so nothing
/// dangles if it finishes later. Stops the io_context when done: curl may keep a timer
/// armed for idle connection upkeep.
template <class T>
T run(net::io_context& ioc, Task<T> task,
      std::chrono::steady_clock::duration limit = std::chrono::seconds(60)) {
    struct State {
        std::optional<T> value;
        std::exception_ptr error;
    };
    auto state = std::make_shared<State>();
    net::co_spawn(ioc, std::move(task), [state, &ioc](std::exception_ptr e, T v) {
        state->error = e;
        if (!e) state->value.emplace(std::move(v));
        ioc.stop();
    });
    ioc.restart();
    ioc.run_for(limit);
    if (state->error) std::rethrow_exception(state->error);
    if (!state->value) throw std::runtime_error("task still running after the time limit");
    return std::move(*state->value);
}

/// For Task<void>.
inline void run(net::io_context& ioc, Task<void> task,
                std::chrono::steady_clock::duration limit = std::chrono::seconds(60)) {
    run(
        ioc,
        [](Task<void> t) -> Task<bool> {
            co_await std::move(t);
            co_return true;
        }(std::move(task)),
        limit);
}

}  // namespace vigil::test
