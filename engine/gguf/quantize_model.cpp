// Model quantization with llama-quantize's tensor-type rules (see engine/quantize_model.h). The
// rules are llama_tensor_get_type's for the file types offered here, without importance matrix,
// for the llama-family architectures tandem runs (no MoE, no Falcon, no 70B special cases).
#include "engine/quantize_model.h"

#include "engine/gguf_writer.h"
#include "engine/quant.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

namespace tandem::engine {

namespace {

struct TargetInfo {
  QuantizeTarget target;
  std::string_view name;
  GgmlType base;       // the type of an ordinary matrix
  bool mixed;          // llama.cpp's per-tensor rules apply (else every matrix gets `base`)
  uint32_t file_type;  // llama.cpp's LLAMA_FTYPE number for general.file_type
};

constexpr TargetInfo kTargets[] = {
    {QuantizeTarget::Q8_0, "Q8_0", GgmlType::Q8_0, true, 7},
    {QuantizeTarget::Q4_0, "Q4_0", GgmlType::Q4_0, true, 2},
    {QuantizeTarget::Q4_K, "Q4_K", GgmlType::Q4_K, false, 14},
    {QuantizeTarget::Q5_K, "Q5_K", GgmlType::Q5_K, false, 16},
    {QuantizeTarget::Q6_K, "Q6_K", GgmlType::Q6_K, false, 18},
    {QuantizeTarget::Q4_K_M, "Q4_K_M", GgmlType::Q4_K, true, 15},
    {QuantizeTarget::Q5_K_M, "Q5_K_M", GgmlType::Q5_K, true, 17},
};

const TargetInfo& info(QuantizeTarget target) {
  for (const auto& t : kTargets)
    if (t.target == target) return t;
  throw GgufError("quantize: unknown target");
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }
bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The block number of "blk.N....", -1 for tensors outside the blocks.
int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

// llama.cpp's tensor_allows_quantization for these architectures: matrices named *weight, except
// norms and the few small tensors it always keeps.
bool allows_quantization(const TensorInfo& t) {
  if (t.dims.size() < 2) return false;
  const std::string& n = t.name;
  return ends_with(n, "weight") && !contains(n, "_norm.weight") && !contains(n, "ffn_gate_inp.weight") &&
         n != "position_embd.weight" && n != "token_types.weight";
}

// attn_v and its fused forms: the tensors llama.cpp gives more bits in the _M mixes.
bool is_attn_v_like(const std::string& n) {
  return contains(n, "attn_qkv.weight") || contains(n, "attn_kv_b.weight") || contains(n, "attn_v.weight");
}

// The first and last eighth of the layers and every third one between them.
bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// A type whose block does not divide the row length falls back as llama.cpp's
// tensor_type_fallback does.
GgmlType fallback(GgmlType type, uint64_t ncols) {
  if (ncols % ggml_block_size(type) == 0) return type;
  GgmlType next = type;
  switch (type) {
    case GgmlType::Q4_K: next = GgmlType::Q5_0; break;
    case GgmlType::Q5_K: next = GgmlType::Q5_1; break;
    case GgmlType::Q6_K: next = GgmlType::Q8_0; break;
    default: break;
  }
  return ncols % ggml_block_size(next) == 0 ? next : GgmlType::F16;
}

struct Counters {
  int n_attn_v = 0, i_attn_v = 0;
  int n_ffn_down = 0, i_ffn_down = 0;
  bool tied = true;  // no output.weight: the token embedding doubles as the output projection
};

GgmlType choose_type(const TensorInfo& t, const TargetInfo& target, Counters& c) {
  if (!allows_quantization(t)) return t.type;
  GgmlType type = target.base;
  const std::string& n = t.name;
  if (target.mixed) {
    const bool mix_m = target.target == QuantizeTarget::Q4_K_M || target.target == QuantizeTarget::Q5_K_M;
    if (n == "output.weight" || (c.tied && n == "token_embd.weight")) {
      if (t.dims[0] % ggml_block_size(type) != 0) type = GgmlType::Q8_0;
      else if (type != GgmlType::Q8_0) type = GgmlType::Q6_K;
    } else if (n == "token_embd.weight") {
      // keeps the base type
    } else if (is_attn_v_like(n)) {
      if (mix_m && use_more_bits(c.i_attn_v, c.n_attn_v)) type = GgmlType::Q6_K;
      ++c.i_attn_v;
    } else if (contains(n, "ffn_down")) {
      if (mix_m && use_more_bits(c.i_ffn_down, c.n_ffn_down)) type = GgmlType::Q6_K;
      ++c.i_ffn_down;
    }
  }
  return fallback(type, t.dims[0]);
}

// llama.cpp walks the tensors ordered by block number (tensors outside the blocks first), then name.
std::vector<const TensorInfo*> processing_order(const GgufFile& file) {
  std::vector<const TensorInfo*> order;
  for (const auto& t : file.tensors()) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    const int la = layer_of(a->name), lb = layer_of(b->name);
    if (la != lb) return la < lb;
    return a->name < b->name;
  });
  return order;
}

// Converts rows [0, rows) of one tensor, split over threads by row ranges (rows are independent).
void convert_rows(const TensorInfo& t, GgmlType to, std::vector<uint8_t>& out, int threads) {
  const uint64_t row = t.dims[0];
  const uint64_t rows = t.n_elements / row;
  const size_t in_row_bytes = ggml_row_bytes(t.type, row);
  const size_t out_row_bytes = ggml_row_bytes(to, row);
  out.resize(out_row_bytes * rows);
  auto work = [&](uint64_t r0, uint64_t r1) {
    std::vector<float> values(row);
    for (uint64_t r = r0; r < r1; ++r) {
      dequantize_row(t.type, t.data + r * in_row_bytes, values.data(), row);
      quantize_row(to, values.data(), out.data() + r * out_row_bytes, row);
    }
  };
  const uint64_t n_threads = std::clamp<uint64_t>(static_cast<uint64_t>(threads), 1, std::max<uint64_t>(rows, 1));
  if (n_threads == 1) return work(0, rows);
  std::vector<std::thread> pool;
  std::exception_ptr error;
  std::mutex error_mutex;
  for (uint64_t i = 0; i < n_threads; ++i) {
    pool.emplace_back([&, i] {
      try {
        work(rows * i / n_threads, rows * (i + 1) / n_threads);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

std::optional<QuantizeTarget> parse_quantize_target(std::string_view name) {
  for (const auto& t : kTargets)
    if (t.name == name) return t.target;
  return std::nullopt;
}

std::string_view quantize_target_name(QuantizeTarget target) { return info(target).name; }

std::string quantize_target_names() {
  std::string out;
  for (const auto& t : kTargets) out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}

std::vector<TensorQuantPlan> plan_quantization(const GgufFile& file, QuantizeTarget target) {
  const TargetInfo& ti = info(target);
  Counters c;
  for (const auto& t : file.tensors()) {
    if (t.name == "output.weight") c.tied = false;
    if (is_attn_v_like(t.name)) ++c.n_attn_v;
    if (contains(t.name, "ffn_down") && allows_quantization(t)) ++c.n_ffn_down;
  }
  std::vector<TensorQuantPlan> plan;
  for (const TensorInfo* t : processing_order(file)) {
    if (!ggml_type_supported(t->type))
      throw GgufError("quantize: tensor '" + t->name + "' has unsupported type " +
                      std::string(ggml_type_name(t->type)));
    plan.push_back({t->name, t->type, choose_type(*t, ti, c)});
  }
  return plan;
}

QuantizeResult quantize_model(const std::string& in, const std::string& out, QuantizeTarget target, int threads) {
  const GgufFile file = GgufFile::open(in);
  const TargetInfo& ti = info(target);
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  GgufWriter writer(static_cast<uint32_t>(file.alignment()));
  bool wrote_file_type = false;
  for (const auto& [key, value] : file.metadata()) {
    if (key == "general.quantization_version") continue;
    if (key == "general.file_type") {
      writer.add_uint32(key, ti.file_type);
      wrote_file_type = true;
      continue;
    }
    writer.add_value(key, value);
  }
  if (!wrote_file_type) writer.add_uint32("general.file_type", ti.file_type);
  writer.add_uint32("general.quantization_version", 2);

  QuantizeResult result;
  result.tensors = plan_quantization(file, target);
  std::vector<uint8_t> bytes;
  for (const TensorQuantPlan& p : result.tensors) {
    const TensorInfo& t = *file.find_tensor(p.name);
    result.bytes_in += t.n_bytes;
    if (p.to == t.type) {  // copied byte for byte
      writer.add_tensor(t.name, t.dims, t.type, {t.data, static_cast<size_t>(t.n_bytes)});
      result.bytes_out += t.n_bytes;
      continue;
    }
    try {
      convert_rows(t, p.to, bytes, threads);
    } catch (const GgufError& e) {
      throw GgufError("quantize: tensor '" + t.name + "': " + e.what());
    }
    writer.add_tensor(t.name, t.dims, p.to, bytes);
    result.bytes_out += bytes.size();
  }
  writer.write_file(out);
  return result;
}

}  // namespace tandem::engine
