#pragma once
// Holders for key material and passwords. Their bytes are wiped with OPENSSL_cleanse when
// they die: a plain memset before free is a dead store the compiler may remove.
//
// They are move-only and have no operator<<, no to_hex and no to_string, so a secret can
// only reach text through a deliberate `view()`. Copies are explicit (`copy()`).
#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace vigil::keys {

/// A private key: exactly 32 bytes, wiped on destruction. Holding a SecretKey says nothing
/// about validity; make_local_signer checks it is in [1, n-1].
class SecretKey {
public:
    static constexpr std::size_t size = 32;

    /// All zero (not a valid key) until written through `data()`.
    SecretKey() = default;
    explicit SecretKey(std::span<const uint8_t, size> bytes) noexcept {
        std::copy(bytes.begin(), bytes.end(), bytes_.begin());
    }
    ~SecretKey() { wipe(); }
    SecretKey(const SecretKey&) = delete;
    SecretKey& operator=(const SecretKey&) = delete;
    // A move copies the array, so the source is wiped at once rather than when it dies.
    SecretKey(SecretKey&& other) noexcept : bytes_(other.bytes_) { other.wipe(); }
    SecretKey& operator=(SecretKey&& other) noexcept {
        if (this != &other) {
            bytes_ = other.bytes_;
            other.wipe();
        }
        return *this;
    }

    /// A second holder of the same key, for the rare caller that needs two.
    SecretKey copy() const noexcept { return SecretKey(view()); }

    uint8_t* data() noexcept { return bytes_.data(); }
    std::span<const uint8_t, size> view() const noexcept { return bytes_; }

private:
    void wipe() noexcept { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }
    std::array<uint8_t, size> bytes_{};
};

/// A heap buffer of `count` zero-initialised elements (derived keys, scrypt's working
/// memory, passwords read from files), wiped before it is freed. The size is fixed at
/// construction, so no reallocation leaves a stray unwiped copy behind.
template <class T>
class SecretBuffer {
    static_assert(std::is_trivially_copyable_v<T>);

public:
    SecretBuffer() = default;
    explicit SecretBuffer(std::size_t count) : data_(new T[count]()), count_(count) {}
    ~SecretBuffer() { wipe(); }
    SecretBuffer(const SecretBuffer&) = delete;
    SecretBuffer& operator=(const SecretBuffer&) = delete;
    SecretBuffer(SecretBuffer&& other) noexcept
        : data_(std::move(other.data_)), count_(std::exchange(other.count_, 0)) {}
    SecretBuffer& operator=(SecretBuffer&& other) noexcept {
        if (this != &other) {
            wipe();
            data_ = std::move(other.data_);
            count_ = std::exchange(other.count_, 0);
        }
        return *this;
    }

    T* data() noexcept { return data_.get(); }
    const T* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }
    std::span<T> span() noexcept { return {data_.get(), count_}; }
    std::span<const T> view() const noexcept { return {data_.get(), count_}; }
    /// Drops elements from the end (wiping them); never grows.
    void shrink_to(std::size_t count) noexcept {
        assert(count <= count_);
        OPENSSL_cleanse(data_.get() + count, (count_ - count) * sizeof(T));
        count_ = count;
    }

private:
    void wipe() noexcept {
        if (data_) OPENSSL_cleanse(data_.get(), count_ * sizeof(T));
    }
    std::unique_ptr<T[]> data_;
    std::size_t count_ = 0;
};

using SecretBytes = SecretBuffer<uint8_t>;

/// `name` (an environment variable or a path, for an error message) or, when it holds a
/// run of 48 or more hex digits, a placeholder instead: users sometimes paste a key where a
/// name goes, and the error must not repeat it. 48 is above an address (40 digits) and below
/// a key with a few digits lost (64).
inline std::string printable_name(std::string_view name) {
    std::size_t run = 0;
    for (const char c : name) {
        const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        run = hex ? run + 1 : 0;
        if (run >= 48) return "(a name that looks like key material)";
    }
    return std::string(name);
}

}  // namespace vigil::keys
