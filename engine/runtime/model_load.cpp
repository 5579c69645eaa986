// Model::load: finds every tensor the forward pass needs, checks its shape, and makes it
// available as F32 — in place from the mapping when the file stores F32, else as a dequantized
// copy — except Q8_0, Q4_0 and the K-quants Q4_K/Q5_K/Q6_K, which by default stay in their file
// format (mapped, no copy) for the integer kernels (bench/engine: Q8_0's beats the dequantized
// F32 GEMM at every batch size, reading a quarter of the bytes; the 4-6 bit ones read less still).
#include "engine/quant.h"
#include "engine/runtime/kernels_quant.h"
#include "engine/runtime/model_forward.h"
#include "engine/runtime/thread_pool.h"

#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace tandem::engine {

using detail::Matrix;
using detail::Vector;

namespace {

std::string dims_text(const std::vector<uint64_t>& dims) {
  std::string out = "{";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "}";
}

const TensorInfo& require(const GgufFile& file, const std::string& name) {
  const TensorInfo* t = file.find_tensor(name);
  if (!t) throw GgufError("model: missing tensor '" + name + "'");
  return *t;
}

void check_dims(const TensorInfo& t, std::vector<uint64_t> expected) {
  if (t.dims != expected)
    throw GgufError("model: tensor '" + t.name + "' has dims " + dims_text(t.dims) + ", expected " +
                    dims_text(expected));
}

class Loader {
 public:
  Loader(const GgufFile& file, const ModelLoadOptions& options, LoadReport& report)
      : file_(file), options_(options), report_(report) {}

  Matrix matrix(const std::string& name, uint32_t rows, uint32_t cols) {
    const TensorInfo& t = require(file_, name);
    check_dims(t, {cols, rows});
    Matrix m;
    m.rows = rows;
    m.cols = cols;
    m.source_type = t.type;
    const bool keep = options_.keep_quantized && (t.type == GgmlType::Q8_0 || detail::quant_kernel_supports(t.type));
    if (keep) {
      report_.file_bytes += t.n_bytes;
      report_.n_params += t.n_elements;
    } else {
      place(t, m.data, m.owned);
    }
    if (t.type == GgmlType::Q8_0 && (options_.keep_quantized || options_.q8_fast_path_max_rows > 0)) {
      m.q8_0 = t.data;
      report_.quantized_kept_bytes += t.n_bytes;
    } else if (keep) {
      m.quant = t.data;
      report_.quantized_kept_bytes += t.n_bytes;
    }
    return m;
  }

  Vector vector(const std::string& name, uint32_t size, bool optional = false) {
    Vector v;
    const TensorInfo* t = file_.find_tensor(name);
    if (!t) {
      if (optional) return v;
      throw GgufError("model: missing tensor '" + name + "'");
    }
    check_dims(*t, {size});
    v.size = size;
    place(*t, v.data, v.owned);
    return v;
  }

 private:
  void place(const TensorInfo& t, const float*& data, std::vector<float>& owned) {
    if (!ggml_type_supported(t.type))
      throw GgufError("model: tensor '" + t.name + "' has unsupported type " + std::string(ggml_type_name(t.type)));
    report_.file_bytes += t.n_bytes;
    report_.n_params += t.n_elements;
    if (t.type == GgmlType::F32) {
      data = reinterpret_cast<const float*>(t.data);
      report_.mapped_f32_bytes += t.n_bytes;
      return;
    }
    owned.resize(t.n_elements);
    const uint64_t row = t.dims[0];
    const size_t row_bytes = ggml_row_bytes(t.type, row);
    for (uint64_t r = 0; r < t.n_elements / row; ++r)
      dequantize_row(t.type, t.data + r * row_bytes, owned.data() + r * row, row);
    data = owned.data();
    report_.dequantized_bytes += t.n_elements * sizeof(float);
  }

  const GgufFile& file_;
  const ModelLoadOptions& options_;
  LoadReport& report_;
};

}  // namespace

std::string LoadReport::summary() const {
  char line[320];
  auto mib = [](uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); };
  std::snprintf(line, sizeof line,
                "%.1fM params; tensor data %.1f MiB in file; weights in memory: %.1f MiB F32 used in place "
                "(mapped) + %.1f MiB dequantized to F32 + %.1f MiB used quantized",
                static_cast<double>(n_params) / 1e6, mib(file_bytes), mib(mapped_f32_bytes), mib(dequantized_bytes),
                mib(quantized_kept_bytes));
  return line;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::load(std::shared_ptr<const GgufFile> file, const ModelConfig& config,
                                   const ModelLoadOptions& options) {
  if (!file) throw GgufError("model: no file");
  auto impl = std::make_unique<Impl>();
  impl->file = file;
  impl->config = config;
  impl->options = options;
  impl->backend = options.backend;

  Loader loader(*file, options, impl->report);
  const ModelConfig& c = config;
  const uint32_t q_dim = c.n_head * c.head_dim;
  const uint32_t kv_dim = c.n_head_kv * c.head_dim;
  detail::Weights& w = impl->weights;
  w.token_embd = loader.matrix("token_embd.weight", c.n_vocab, c.n_embd);
  w.layers.resize(c.n_layer);
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    detail::Layer& layer = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    layer.attn_norm = loader.vector(p + "attn_norm.weight", c.n_embd);
    layer.wq = loader.matrix(p + "attn_q.weight", q_dim, c.n_embd);
    layer.wk = loader.matrix(p + "attn_k.weight", kv_dim, c.n_embd);
    layer.wv = loader.matrix(p + "attn_v.weight", kv_dim, c.n_embd);
    layer.wo = loader.matrix(p + "attn_output.weight", c.n_embd, q_dim);
    if (c.has_qkv_bias) {
      layer.bq = loader.vector(p + "attn_q.bias", q_dim);
      layer.bk = loader.vector(p + "attn_k.bias", kv_dim);
      layer.bv = loader.vector(p + "attn_v.bias", kv_dim);
    }
    if (c.has_qk_norm) {
      layer.q_norm = loader.vector(p + "attn_q_norm.weight", c.head_dim);
      layer.k_norm = loader.vector(p + "attn_k_norm.weight", c.head_dim);
    }
    layer.ffn_norm = loader.vector(p + "ffn_norm.weight", c.n_embd);
    layer.w_gate = loader.matrix(p + "ffn_gate.weight", c.n_ff, c.n_embd);
    layer.w_up = loader.matrix(p + "ffn_up.weight", c.n_ff, c.n_embd);
    layer.w_down = loader.matrix(p + "ffn_down.weight", c.n_embd, c.n_ff);
  }
  w.output_norm = loader.vector("output_norm.weight", c.n_embd);
  w.tied = c.tied_embeddings;
  if (!w.tied) w.output = loader.matrix("output.weight", c.n_vocab, c.n_embd);

  impl->init_rope();
  if (options.threads > 0) set_compute_threads(options.threads);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

void set_compute_threads(int threads) {
  detail::set_compute_threads(static_cast<unsigned>(std::max(1, threads)));
  openblas_set_num_threads(std::max(1, threads));
}

const ModelConfig& Model::config() const { return impl_->config; }
const LoadReport& Model::load_report() const { return impl_->report; }
void Model::set_backend(MatmulBackend backend) { impl_->backend = backend; }

KvCacheShape Model::kv_shape(uint32_t total_tokens, uint32_t block_tokens) const {
  KvCacheShape shape;
  shape.n_layer = impl_->config.n_layer;
  shape.n_head_kv = impl_->config.n_head_kv;
  shape.head_dim = impl_->config.head_dim;
  shape.block_tokens = block_tokens;
  shape.total_tokens = total_tokens;
  return shape;
}

double Model::flops_per_token(uint32_t context) const {
  const ModelConfig& c = impl_->config;
  double q_dim = double(c.n_head) * c.head_dim, kv_dim = double(c.n_head_kv) * c.head_dim;
  double per_layer = 2.0 * c.n_embd * (q_dim + 2 * kv_dim) + 2.0 * q_dim * c.n_embd + 2.0 * 3.0 * c.n_embd * c.n_ff +
                     4.0 * q_dim * context;  // QK^T and AV
  return per_layer * c.n_layer + 2.0 * c.n_embd * c.n_vocab;
}

}  // namespace tandem::engine
