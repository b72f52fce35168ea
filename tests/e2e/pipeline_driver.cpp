// vigil_pipeline_driver: one TxPipeline in a process of its own, so that a test can kill it
// with SIGKILL and start it again on the same state dir (tests/e2e/pipeline_crash_test.cpp).
//
//   vigil_pipeline_driver --rpc URL --state DIR --fixture ADDRESS --count N
//                         [--crash-at STAGE --crash-after K] [--wave W]
//
// Sends the intents "crash/<i>" = fixture.hit(i), i in [0, N), as the key in VIGIL_TEST_KEY
// (a test-only anvil dev key): after start(head), for every new block in order, on_block and
// then a wave of at most W keys not yet journaled (the pipeline would skip journaled keys
// anyway; the limit paces the waves so that a run makes progress a few intents at a time).
// Exits 0 with a one-line summary once every key is finished in the journal; any error is one
// line on stderr and exit 1. --crash-at raises SIGKILL the K-th time STAGE is seen in this
// run, a deterministic kill point: journaled, broadcast or confirmed in the pipeline's
// observer, or `replacement` right after a replacement (or cancellation) is journaled and
// before it is sent, seen in the log (tx.replace / tx.cancel), as no observer stage marks it.
#include <signal.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

#include "agent/pipeline.hpp"
#include "chain/abi.hpp"
#include "chain/rpc_provider.hpp"
#include "chain/strings.hpp"
#include "keys/key_source.hpp"
#include "keys/local_signer.hpp"
#include "tests/support/task.hpp"

using namespace vigil;
using namespace vigil::agent;

namespace {

constexpr std::string_view kUsage =
    "usage: vigil_pipeline_driver --rpc URL --state DIR --fixture ADDRESS --count N "
    "[--crash-at journaled|broadcast|confirmed|replacement --crash-after K] [--wave W]";
constexpr std::string_view kKeyEnv = "VIGIL_TEST_KEY";
constexpr std::string_view kSigner = "keeper";
constexpr auto kPollInterval = std::chrono::milliseconds(50);

struct Options {
    std::string rpc;
    std::filesystem::path state_dir;
    Address fixture;
    uint64_t count = 0;
    std::string crash_at;  ///< empty: no crash
    uint64_t crash_after = 1;
    uint64_t wave = 0;  ///< 0: every key not yet journaled
};

std::optional<uint64_t> parse_count(std::string_view text) {
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::string_view stage_name(PipelineStage stage) {
    switch (stage) {
        case PipelineStage::journaled:
            return "journaled";
        case PipelineStage::broadcast:
            return "broadcast";
        case PipelineStage::confirmed:
            return "confirmed";
    }
    return "?";
}

Result<Options, std::string> parse_options(std::span<char*> args) {
    Options o;
    bool have_fixture = false;
    bool have_crash_after = false;
    for (std::size_t i = 0; i < args.size(); i += 2) {
        const std::string_view flag = args[i];
        if (i + 1 >= args.size()) return unexpected(concat({flag, " needs a value"}));
        const std::string_view value = args[i + 1];
        if (flag == "--rpc") {
            o.rpc = value;
        } else if (flag == "--state") {
            o.state_dir = std::string(value);
        } else if (flag == "--fixture") {
            auto address = parse_address(value);
            if (!address) return unexpected(concat({"--fixture: not an address: ", value}));
            o.fixture = *address;
            have_fixture = true;
        } else if (flag == "--count" || flag == "--crash-after" || flag == "--wave") {
            auto n = parse_count(value);
            if (!n) return unexpected(concat({flag, ": not a number: ", value}));
            if (flag == "--count") o.count = *n;
            if (flag == "--wave") o.wave = *n;
            if (flag == "--crash-after") {
                if (*n == 0) return unexpected(std::string("--crash-after: counts from 1"));
                o.crash_after = *n;
                have_crash_after = true;
            }
        } else if (flag == "--crash-at") {
            if (value != "journaled" && value != "broadcast" && value != "confirmed" &&
                value != "replacement")
                return unexpected(concat({"--crash-at: unknown stage ", value}));
            o.crash_at = value;
        } else {
            return unexpected(concat({"unknown option ", flag}));
        }
    }
    if (o.rpc.empty() || o.state_dir.empty() || !have_fixture || o.count == 0)
        return unexpected(std::string(kUsage));
    if (have_crash_after && o.crash_at.empty())
        return unexpected(std::string("--crash-after needs --crash-at"));
    return o;
}

/// Passes the log through to stdout line by line, and raises SIGKILL once the `after`-th line
/// of one of `events` is out.
class CrashTap final : public std::streambuf {
public:
    CrashTap(std::streambuf* out, std::vector<std::string> events, uint64_t after)
        : out_(out), events_(std::move(events)), after_(after) {}

protected:
    int_type overflow(int_type c) override {
        if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
        line_.push_back(traits_type::to_char_type(c));
        if (line_.back() == '\n') end_line();
        return c;
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        for (std::streamsize i = 0; i < n; ++i) overflow(traits_type::to_int_type(s[i]));
        return n;
    }
    int sync() override { return out_->pubsync(); }

private:
    void end_line() {
        out_->sputn(line_.data(), static_cast<std::streamsize>(line_.size()));
        out_->pubsync();
        for (const std::string& event : events_)
            if (line_.find(concat({" ", event, " "})) != std::string::npos && ++seen_ == after_)
                ::raise(SIGKILL);
        line_.clear();
    }

    std::streambuf* out_;
    std::vector<std::string> events_;
    uint64_t after_;
    uint64_t seen_ = 0;
    std::string line_;
};

std::string intent_key(uint64_t i) {
    return concat({"crash/", std::to_string(i)});
}

const abi::Function& hit_function() {
    static const abi::Function f = *abi::parse_function("hit(uint256)");
    return f;
}

Intent make_intent(const Options& o, uint64_t i) {
    const abi::AbiValue args[] = {u256(i)};
    Intent intent;
    intent.idempotency_key = intent_key(i);
    intent.strategy = "crash";
    intent.signer = std::string(kSigner);
    intent.target = o.fixture;
    intent.calldata = *abi::encode_call(hit_function(), args);  // a uint256: cannot fail
    intent.reason = "crash test";
    return intent;
}

/// How far the journal is: keys never journaled, and finished keys by outcome.
struct Progress {
    std::vector<uint64_t> unjournaled;
    std::map<std::string, uint64_t, std::less<>> finished;  ///< by outcome name
    uint64_t finished_total = 0;
};

Result<Progress, std::string> read_progress(Journal& journal, uint64_t count) {
    Progress p;
    for (uint64_t i = 0; i < count; ++i) {
        auto found = journal.find_intent(intent_key(i));
        if (!found) return unexpected(concat({"journal: ", found.error().detail}));
        if (!found->has_value()) {
            p.unjournaled.push_back(i);
        } else if (const auto& outcome = (*found)->outcome) {
            ++p.finished[std::string(vigil::to_string(outcome->kind))];
            ++p.finished_total;
        }
    }
    return p;
}

std::string summary(const Progress& p, uint64_t blocks) {
    std::string text =
        concat({"vigil_pipeline_driver: all ", std::to_string(p.finished_total),
                " intents finished after ", std::to_string(blocks), " blocks in this run:"});
    for (const auto& [outcome, n] : p.finished)
        text += concat({" ", outcome, "=", std::to_string(n)});
    return text;
}

Task<Result<BlockHeader, std::string>> header(RpcProvider& provider, BlockId block) {
    auto h = co_await provider.get_block(block);
    if (!h) co_return unexpected(concat({"eth_getBlockByNumber: ", h.error().to_string()}));
    if (!*h) co_return unexpected(std::string("eth_getBlockByNumber: no such block"));
    co_return std::move(**h);
}

/// The driver's life: start, then blocks until every key is finished. The summary line, or
/// the error's line.
Task<Result<std::string, std::string>> drive(const Options& o, RpcProvider& provider,
                                             Journal& journal, TxPipeline& pipeline, Logger& log) {
    auto head = co_await header(provider, BlockTag::latest);
    if (!head) co_return unexpected(head.error());
    if (auto started = co_await pipeline.start(*head); !started)
        co_return unexpected(concat({"start: ", started.error()}));
    {
        auto progress = read_progress(journal, o.count);
        if (!progress) co_return unexpected(progress.error());
        const uint64_t journaled = o.count - progress->unjournaled.size();
        log.info("driver.started", {{"block", std::to_string(head->number)},
                                    {"journaled", std::to_string(journaled)},
                                    {"finished", std::to_string(progress->finished_total)},
                                    {"in_flight", std::to_string(pipeline.in_flight())}});
    }
    uint64_t last = head->number;
    uint64_t blocks = 0;
    net::steady_timer timer(co_await net::this_coro::executor);
    for (;;) {
        auto progress = read_progress(journal, o.count);
        if (!progress) co_return unexpected(progress.error());
        if (progress->finished_total == o.count) co_return summary(*progress, blocks);

        auto number = co_await provider.block_number();
        if (!number)
            co_return unexpected(concat({"eth_blockNumber: ", number.error().to_string()}));
        if (*number <= last) {
            boost::system::error_code ec;
            timer.expires_after(kPollInterval);
            co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
            continue;
        }
        // Every block in order, none skipped, as the pipeline's contract asks.
        for (uint64_t n = last + 1; n <= *number; ++n) {
            auto block = co_await header(provider, n);
            if (!block) co_return unexpected(block.error());
            co_await pipeline.on_block(BlockEvent{BlockEvent::Kind::added, *block, {}});
            last = n;
            ++blocks;

            auto now = read_progress(journal, o.count);
            if (!now) co_return unexpected(now.error());
            std::vector<Intent> wave;
            for (uint64_t i : now->unjournaled) {
                if (o.wave != 0 && wave.size() >= o.wave) break;
                wave.push_back(make_intent(o, i));
            }
            if (!wave.empty()) co_await pipeline.submit(std::move(wave), *block);
        }
    }
}

int run_driver(const Options& o) {
    auto key = keys::read_key_env(kKeyEnv);
    if (!key) {
        std::cerr << "vigil_pipeline_driver: " << key.error().to_string() << "\n";
        return 1;
    }
    auto local = keys::make_local_signer(std::move(*key));
    if (!local) {
        std::cerr << "vigil_pipeline_driver: " << local.error().to_string() << "\n";
        return 1;
    }
    SignerMap signers;
    signers.emplace(std::string(kSigner), std::make_unique<keys::LocalSigner>(std::move(*local)));

    auto journal = Journal::open(o.state_dir);
    if (!journal) {
        std::cerr << "vigil_pipeline_driver: journal: " << journal.error().detail << "\n";
        return 1;
    }

    net::io_context ioc;
    RpcProvider provider(ioc.get_executor(), RpcProviderConfig{{o.rpc}, {}, {}});
    auto chain_id = test::run(ioc, provider.chain_id());
    if (!chain_id) {
        std::cerr << "vigil_pipeline_driver: eth_chainId: " << chain_id.error().to_string() << "\n";
        return 1;
    }

    PipelineConfig config;
    config.chain_id = *chain_id;
    config.kill_switch_file = o.state_dir / "KILL";
    config.confirmations = 1;
    config.replace_after_blocks = 3;
    Allowlist allow;
    allow.add(kSigner, o.fixture, hit_function().selector);
    // The replacement kill point: tx.replace and tx.cancel are logged after the new attempt
    // is journaled and before it is broadcast.
    CrashTap tap(std::cout.rdbuf(),
                 o.crash_at == "replacement" ? std::vector<std::string>{"tx.replace", "tx.cancel"}
                                             : std::vector<std::string>{},
                 o.crash_after);
    std::ostream log_out(&tap);
    Logger log(log_out, LogFormat::text, LogLevel::info);
    TxPipeline pipeline(config, provider, nullptr, *journal, signers, std::move(allow), log, {});

    std::map<PipelineStage, uint64_t> seen;
    pipeline.set_observer([&](PipelineStage stage, std::string_view detail) {
        const uint64_t n = ++seen[stage];
        log.info("driver.stage", {{"stage", std::string(stage_name(stage))},
                                  {"count", std::to_string(n)},
                                  {"detail", std::string(detail)}});
        if (o.crash_at == stage_name(stage) && n == o.crash_after) {
            log.warn("driver.crash",
                     {{"stage", std::string(stage_name(stage))}, {"count", std::to_string(n)}});
            ::raise(SIGKILL);
        }
    });

    auto result =
        test::run(ioc, drive(o, provider, *journal, pipeline, log), std::chrono::hours(1));
    if (!result) {
        std::cerr << "vigil_pipeline_driver: " << result.error() << "\n";
        return 1;
    }
    std::cout << *result << std::endl;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    auto options = parse_options(std::span<char*>(argv + 1, static_cast<std::size_t>(argc - 1)));
    if (!options) {
        std::cerr << "vigil_pipeline_driver: " << options.error() << "\n";
        return 2;
    }
    try {
        return run_driver(*options);
    } catch (const std::exception& e) {
        // Exceptions stop at the edge: one line, non-zero exit.
        std::cerr << "vigil_pipeline_driver: " << e.what() << "\n";
        return 1;
    }
}
