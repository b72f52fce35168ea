#pragma once
// The one place Asio is included. Boost 1.74 + g++ 12: boost/asio/awaitable.hpp only
// compiles with <utility> first; as_tuple and the awaitable operators do not exist yet,
// so coroutines use redirect_error(use_awaitable, ec) and keep errors as values.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace vigil {
namespace net = boost::asio;
template <class T>
using Task = net::awaitable<T>;
}  // namespace vigil
