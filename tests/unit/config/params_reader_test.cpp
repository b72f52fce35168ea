// ParamsReader on its own: what counts as read, what finish() reports, and that a value
// already reported (wrong container, failed substitution) is reported once.
#include "config/params_reader.hpp"

#include <gtest/gtest.h>

using namespace vigil;
using namespace vigil::config;

namespace {

std::vector<std::string> lines(const ReadContext& ctx) {
    std::vector<std::string> out;
    for (const auto& e : ctx.errors) out.push_back(e.to_string());
    return out;
}

}  // namespace

TEST(params_reader, finish_reports_unread_keys_once_in_file_order) {
    const auto j = Json::parse(R"({"z": 1, "used": 2, "a": 3})");
    ReadContext ctx;
    ParamsReader r(j, "strategies[0].params", ctx);
    EXPECT_EQ(r.required_u64("used"), 2u);
    r.finish();
    r.finish();
    EXPECT_EQ(lines(ctx), (std::vector<std::string>{"strategies[0].params.z: unknown key",
                                                    "strategies[0].params.a: unknown key"}));
}

TEST(params_reader, presence_checks_do_not_count_as_reading) {
    const auto j = Json::parse(R"({"s": "x", "n": 1, "r": [1]})");
    ReadContext ctx;
    ParamsReader r(j, "", ctx);
    EXPECT_TRUE(r.has("s"));
    EXPECT_TRUE(r.is_string("s"));
    EXPECT_FALSE(r.is_string("n"));
    EXPECT_FALSE(r.has("missing"));
    EXPECT_EQ(r.keys(), (std::vector<std::string>{"s", "n", "r"}));
    ASSERT_NE(r.raw("r"), nullptr);
    EXPECT_EQ(r.raw("missing"), nullptr);
    r.finish();
    EXPECT_EQ(lines(ctx), (std::vector<std::string>{"s: unknown key", "n: unknown key"}));
}

TEST(params_reader, getters_return_fallbacks_and_record_errors) {
    const auto j = Json::parse(R"({"a": "0x12", "n": -5, "u": "12x", "b": 1, "s": 2})");
    ReadContext ctx;
    ParamsReader r(j, "p", ctx);
    EXPECT_EQ(r.required_address("a"), Address{});
    EXPECT_EQ(r.optional_u64("n", 9), 9u);
    EXPECT_EQ(r.optional_u256("u", 4), 4u);
    EXPECT_TRUE(r.optional_bool("b", true));
    EXPECT_EQ(r.optional_string("s", "d"), "d");
    EXPECT_EQ(r.required_string("none"), "");
    EXPECT_EQ(r.optional_string("none2", "fallback"), "fallback");
    EXPECT_FALSE(r.optional_u256("none3").has_value());
    r.finish();
    EXPECT_EQ(lines(ctx), (std::vector<std::string>{
                              "p.a: not an address (wrong length)",
                              "p.n: must not be negative",
                              "p.u: not a u256 decimal string (bad digit)",
                              "p.b: expected a boolean",
                              "p.s: expected a string",
                              "p.none: missing required key",
                          }));
}

TEST(params_reader, a_non_object_is_reported_once) {
    const auto j = Json::parse(R"([1, 2])");
    ReadContext ctx;
    ParamsReader r(j, "strategies[0].params", ctx);
    EXPECT_EQ(r.required_u64("x"), 0u);
    EXPECT_FALSE(r.optional_object("y").has_value());
    r.finish();
    EXPECT_EQ(lines(ctx), std::vector<std::string>{"strategies[0].params: expected an object"});
}

TEST(params_reader, nested_objects_and_arrays_carry_their_paths) {
    const auto j = Json::parse(R"({
        "band": {"delta": 5, "extra": true},
        "monitors": [{"name": "a"}, 7, {"name": "c", "typo": 1}],
        "feeds": ["0x1111111111111111111111111111111111111111", "0x22"],
        "tags": ["x", 3, "y"]
    })");
    ReadContext ctx;
    ParamsReader r(j, "params", ctx);
    auto band = r.required_object("band");
    EXPECT_EQ(band.optional_u64("delta", 0), 5u);
    band.finish();
    std::vector<std::string> names;
    for (auto& m : r.optional_objects("monitors")) {
        names.push_back(m.required_string("name"));
        m.finish();
    }
    EXPECT_EQ(names, (std::vector<std::string>{"a", "c"}));
    EXPECT_EQ(r.required_addresses("feeds").size(), 1u);
    EXPECT_EQ(r.optional_strings("tags"), (std::vector<std::string>{"x", "y"}));
    auto missing = r.required_object("action");
    EXPECT_EQ(missing.optional_u64("anything", 3), 3u);
    missing.finish();
    r.finish();
    EXPECT_EQ(lines(ctx), (std::vector<std::string>{
                              "params.band.extra: unknown key",
                              "params.monitors[1]: expected an object",
                              "params.monitors[2].typo: unknown key",
                              "params.feeds[1]: not an address (wrong length)",
                              "params.tags[1]: expected a string",
                              "params.action: missing required key",
                          }));
}

TEST(params_reader, unresolved_values_are_skipped_silently) {
    const auto j = Json::parse(R"({"morpho": "${X}", "list": ["${X}", "0x12"]})");
    ReadContext ctx;
    ctx.unresolved = {"params.morpho", "params.list[0]"};
    ParamsReader r(j, "params", ctx);
    EXPECT_TRUE(r.has("morpho"));
    EXPECT_FALSE(r.is_string("morpho"));
    EXPECT_EQ(r.required_address("morpho"), Address{});
    EXPECT_TRUE(r.required_hashes("list").empty());
    r.finish();
    EXPECT_EQ(lines(ctx),
              std::vector<std::string>{"params.list[1]: not a 32-byte hash (wrong length)"});
}

TEST(params_reader, errors_at_the_object_or_a_key) {
    const auto j = Json::parse(R"({"k": 1})");
    ReadContext ctx;
    ParamsReader r(j, "signers.keeper", ctx);
    r.error("", "set exactly one of a or b");
    r.error("k", "custom");
    EXPECT_EQ(r.path("k"), "signers.keeper.k");
    EXPECT_EQ(lines(ctx), (std::vector<std::string>{"signers.keeper: set exactly one of a or b",
                                                    "signers.keeper.k: custom"}));
    EXPECT_EQ(join_path("", "state_dir"), "state_dir");
    EXPECT_EQ(index_path("rpc", 2), "rpc[2]");
}
