// libFuzzer target: any byte string given to the GGUF reader must either parse or throw GgufError
// (never crash, hang or read out of bounds); whatever parses is pushed through the model config
// and through dequantization of each tensor's first rows, which read the tensor bytes (the fast
// path and the scalar reference, which must agree bit for bit).
#include "engine/gguf.h"
#include "engine/model_config.h"
#include "engine/quant.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem::engine;
  try {
    GgufFile file = GgufFile::from_bytes({data, size});
    for (const auto& [key, value] : file.metadata()) {
      (void)file.find(key);
      try {
        (void)file.get_float(key);
      } catch (const GgufError&) {
      }
      try {
        (void)file.get_string_array(key);
      } catch (const GgufError&) {
      }
    }
    try {
      (void)read_model_config(file);
    } catch (const GgufError&) {
    }
    std::vector<float> row, reference;
    for (const auto& t : file.tensors()) {
      const size_t n = static_cast<size_t>(t.dims[0]);
      if (n > (1u << 20)) continue;  // a row longer than the file cannot exist, but cap the buffer
      const size_t row_bytes = ggml_row_bytes(t.type, n);
      const size_t rows = static_cast<size_t>(t.n_elements / n);
      row.resize(n);
      reference.resize(n);
      for (size_t r = 0; r < rows && r < 2; ++r) {
        dequantize_row(t.type, t.data + r * row_bytes, row.data(), n);
        dequantize_row_reference(t.type, t.data + r * row_bytes, reference.data(), n);
        // The fast path must equal the scalar reference bit for bit (any NaN where two NaNs
        // met: see fuzz_dequant.cpp).
        for (size_t i = 0; i < n; ++i) {
          if (std::memcmp(&row[i], &reference[i], sizeof(float)) != 0 &&
              !(std::isnan(row[i]) && std::isnan(reference[i]))) {
            std::abort();
          }
        }
      }
    }
  } catch (const GgufError&) {
  }
  return 0;
}
