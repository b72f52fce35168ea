#include "chain/block_tracker.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace vigil {

namespace {

std::string short_hash(const Hash32& h) {
    return to_hex(h).substr(0, 10) + "..";
}

Result<void, TrackError> ok() {
    return {};
}

}  // namespace

std::string_view to_string(TrackErrc e) noexcept {
    switch (e) {
        case TrackErrc::rpc_failed:
            return "rpc_failed";
        case TrackErrc::block_not_found:
            return "block_not_found";
        case TrackErrc::bad_block:
            return "bad_block";
    }
    return "unknown";
}

std::string TrackError::to_string() const {
    std::string s(vigil::to_string(kind));
    s += ": " + detail;
    if (rpc) s += ": " + rpc->to_string();
    return s;
}

BlockTracker::BlockTracker(Provider& provider, BlockTrackerOptions options, Callbacks callbacks)
    : provider_(provider), options_(std::move(options)), callbacks_(std::move(callbacks)) {
    assert(options_.depth >= 1);
}

void BlockTracker::start_at(uint64_t block_number) {
    assert(window_.empty() && !busy_);
    resume_at_ = block_number;
}

std::optional<BlockHeader> BlockTracker::tip() const {
    if (window_.empty()) return std::nullopt;
    return window_.back().header;
}

std::optional<uint64_t> BlockTracker::next_block_number() const {
    if (window_.empty()) return resume_at_;
    return window_.back().header.number + 1;
}

const BlockTracker::Entry* BlockTracker::find(uint64_t block_number) const noexcept {
    if (window_.empty()) return nullptr;
    const uint64_t front = window_.front().header.number;
    if (block_number < front || block_number - front >= window_.size()) return nullptr;
    return &window_[block_number - front];
}

bool BlockTracker::delivered(const BlockHeader& header) const noexcept {
    const Entry* e = find(header.number);
    return e != nullptr && e->header.hash == header.hash;
}

Task<Result<void, TrackError>> BlockTracker::advance(BlockHeader head) {
    assert(!busy_ && "BlockTracker::advance is not re-entrant");
    busy_ = true;
    struct Release {
        bool& busy;
        ~Release() { busy = false; }
    } release{busy_};
    target_ = head.number;

    if (window_.empty()) {
        if (resume_at_ && head.number < *resume_at_) co_return ok();
        BlockHeader first = head;
        if (resume_at_ && head.number > *resume_at_) {
            auto fetched = co_await fetch_header(*resume_at_, "resume block");
            if (!fetched) co_return unexpected(std::move(fetched.error()));
            first = std::move(*fetched);
        }
        auto started = co_await restart_at(std::move(first));
        if (!started) co_return started;
    }
    // Older than the window: a lagging node's late notification; nothing to compare it
    // with, and the next head tells whether the chain really moved.
    if (head.number < window_.front().header.number || delivered(head)) co_return ok();

    // Each step delivers the tip + 1 height (appended, or as the top of a reorg), so
    // the loop ends after head.number - tip steps at most.
    while (window_.back().header.number + 1 < head.number) {
        const uint64_t next = window_.back().header.number + 1;
        auto block = co_await fetch_header(next, "block " + std::to_string(next));
        if (!block) co_return unexpected(std::move(block.error()));
        auto attached = co_await attach(std::move(*block));
        if (!attached) co_return attached;
    }
    co_return co_await attach(std::move(head));
}

Task<Result<void, TrackError>> BlockTracker::attach(BlockHeader block) {
    const BlockHeader& tip = window_.back().header;
    if (block.number == tip.number + 1 && block.parent_hash == tip.hash) {
        co_return co_await append(std::move(block));
    }
    co_return co_await unwind_to(std::move(block));
}

Task<Result<void, TrackError>> BlockTracker::append(BlockHeader block) {
    auto entry = co_await fetch_entry(std::move(block));
    if (!entry) co_return unexpected(std::move(entry.error()));
    push(std::move(*entry));
    co_return ok();
}

Task<Result<void, TrackError>> BlockTracker::unwind_to(BlockHeader block) {
    // The new branch, newest first: `block` and its ancestors down to (excluding) the
    // first one we kept. block.number <= tip + 1, so every parent height has a kept
    // block to compare with until the walk reaches the window's oldest height.
    std::vector<BlockHeader> branch{std::move(block)};
    const uint64_t oldest_kept = window_.front().header.number;
    bool found = false;
    while (branch.back().number > oldest_kept) {
        const BlockHeader& cur = branch.back();
        if (find(cur.number - 1)->header.hash == cur.parent_hash) {
            found = true;
            break;
        }
        auto parent =
            co_await fetch_header(cur.parent_hash, "parent " + short_hash(cur.parent_hash) +
                                                       " of block " + std::to_string(cur.number));
        if (!parent) co_return unexpected(std::move(parent.error()));
        if (parent->number + 1 != branch.back().number) {
            co_return unexpected(TrackError{TrackErrc::bad_block, std::nullopt,
                                            "parent of block " +
                                                std::to_string(branch.back().number) +
                                                " has number " + std::to_string(parent->number)});
        }
        branch.push_back(std::move(*parent));
    }
    // No common block kept. If older blocks were delivered once, the consumer's view
    // below the window cannot be unwound: restart. If not, the fork is below everything
    // delivered since the start, and replacing the whole window is an ordinary reorg.
    if (!found && oldest_kept > first_delivered_)
        co_return co_await restart_at(std::move(branch.front()));

    // Fetch everything before delivering anything: a failure must not leave the
    // consumer with blocks removed and nothing in their place.
    std::vector<Entry> added;
    added.reserve(branch.size());
    for (auto it = branch.rbegin(); it != branch.rend(); ++it) {
        auto entry = co_await fetch_entry(std::move(*it));
        if (!entry) co_return unexpected(std::move(entry.error()));
        added.push_back(std::move(*entry));
    }
    const uint64_t first_new = added.front().header.number;
    while (!window_.empty() && window_.back().header.number >= first_new) pop_removed();
    for (Entry& e : added) push(std::move(e));
    co_return ok();
}

Task<Result<void, TrackError>> BlockTracker::restart_at(BlockHeader block) {
    auto entry = co_await fetch_entry(std::move(block));
    if (!entry) co_return unexpected(std::move(entry.error()));
    if (!window_.empty()) {
        DeepReorg lost{window_.back().header, entry->header, window_.front().header.number};
        while (!window_.empty()) pop_removed();
        if (callbacks_.on_deep_reorg) callbacks_.on_deep_reorg(lost);
    }
    resume_at_.reset();
    first_delivered_ = entry->header.number;
    push(std::move(*entry));
    co_return ok();
}

void BlockTracker::push(Entry entry) {
    window_.push_back(std::move(entry));
    if (window_.size() > options_.depth) window_.pop_front();
    const Entry& e = window_.back();
    if (callbacks_.on_event)
        callbacks_.on_event(BlockEvent{BlockEvent::Kind::added, e.header, e.logs, e.reads,
                                       e.header.number < target_});
}

void BlockTracker::pop_removed() {
    BlockEvent event{BlockEvent::Kind::removed, std::move(window_.back().header),
                     std::move(window_.back().logs)};
    window_.pop_back();
    for (Log& log : event.logs) log.removed = true;
    if (callbacks_.on_event) callbacks_.on_event(event);
}

Task<Result<BlockHeader, TrackError>> BlockTracker::fetch_header(BlockId id, std::string what) {
    auto r = co_await provider_.get_block(id);
    if (!r)
        co_return unexpected(
            TrackError{TrackErrc::rpc_failed, std::move(r.error()), std::move(what)});
    if (!*r)
        co_return unexpected(TrackError{TrackErrc::block_not_found, std::nullopt, std::move(what)});
    const BlockHeader& h = **r;
    const bool matches = std::holds_alternative<uint64_t>(id) ? h.number == std::get<uint64_t>(id)
                                                              : h.hash == std::get<Hash32>(id);
    if (!matches) {
        co_return unexpected(TrackError{
            TrackErrc::bad_block, std::nullopt,
            what + ": got block " + std::to_string(h.number) + " " + short_hash(h.hash)});
    }
    co_return std::move(**r);
}

Task<Result<BlockTracker::Entry, TrackError>> BlockTracker::fetch_entry(BlockHeader header) {
    std::vector<CallRequest> calls;
    if (options_.reads && header.number >= target_) calls = options_.reads(header);
    auto data = co_await provider_.read_block(options_.filters, header.hash, calls);
    if (!data && !calls.empty()) {
        // The calls may be what the node refused (a batch above its size limit): the
        // block's logs alone, and its consumers make their reads themselves.
        calls.clear();
        data = co_await provider_.read_block(options_.filters, header.hash, calls);
    }
    if (!data) {
        co_return unexpected(TrackError{
            TrackErrc::rpc_failed, std::move(data.error()),
            "logs of block " + std::to_string(header.number) + " " + short_hash(header.hash)});
    }
    Entry entry{std::move(header), std::move(data->logs), nullptr};
    if (!calls.empty())
        entry.reads = std::make_shared<const BlockReads>(std::move(calls), std::move(data->calls));
    co_return entry;
}

}  // namespace vigil
