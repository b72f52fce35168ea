#pragma once
// The Solidity ABI in one include: types and signatures (abi_types.hpp), values
// (abi_value.hpp), encoding and strict decoding of calldata, logs and revert data
// (abi_codec.hpp), and cast-compatible text (abi_text.hpp).
#include "chain/abi_codec.hpp"
#include "chain/abi_text.hpp"
#include "chain/abi_types.hpp"
#include "chain/abi_value.hpp"
