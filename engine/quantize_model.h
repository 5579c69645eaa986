// `tandem quantize`: rewrites a GGUF model with its matrices quantized, choosing each tensor's type
// with llama-quantize's rules (llama-quant.cpp, no importance matrix), so that the output's tensor
// data is byte for byte what llama.cpp would write for the same input.
#pragma once

#include "engine/gguf.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::engine {

// The target: one ggml type for every matrix ("pure": Q4_K, Q5_K, Q6_K), or one of llama.cpp's
// file types with its per-tensor rules (Q8_0, Q4_0, Q4_K_M, Q5_K_M: the output projection — or
// the token embedding when tied — gets Q6_K unless the target is Q8_0; in the _M mixes attn_v and
// ffn_down of the first and last eighth of the layers and of every third layer between get Q6_K).
// In every case norms, biases and other 1-D tensors stay as they are, and a matrix whose rows are
// not a multiple of the type's block falls back as llama.cpp does (Q4_K->Q5_0, Q5_K->Q5_1,
// Q6_K->Q8_0, then F16).
enum class QuantizeTarget { Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M };

std::optional<QuantizeTarget> parse_quantize_target(std::string_view name);  // "Q4_K_M", ...
std::string_view quantize_target_name(QuantizeTarget target);
std::string quantize_target_names();  // "Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M"

struct TensorQuantPlan {
  std::string name;
  GgmlType from = GgmlType::F32;
  GgmlType to = GgmlType::F32;
};

// The type each tensor of `file` gets, in llama.cpp's processing (and output) order: tensors
// outside the blocks first, then block by block, names sorted within each.
std::vector<TensorQuantPlan> plan_quantization(const GgufFile& file, QuantizeTarget target);

struct QuantizeResult {
  std::vector<TensorQuantPlan> tensors;
  uint64_t bytes_in = 0;   // tensor data
  uint64_t bytes_out = 0;
};

// Reads `in`, writes `out`: metadata copied (general.file_type and general.quantization_version
// set), tensors converted per plan_quantization. Input tensors of any supported type are first
// widened to F32. threads <= 0: all cores. Throws GgufError (unreadable input, unsupported tensor
// type, non-finite values, unwritable output).
QuantizeResult quantize_model(const std::string& in, const std::string& out, QuantizeTarget target,
                              int threads = 0);

}  // namespace tandem::engine
