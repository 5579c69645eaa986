// libFuzzer target: dequantization of arbitrary block bytes (any scale, any bit pattern: NaN,
// infinities, subnormals). Invariant: the fast path (chosen at run time; AVX2 where the CPU has
// it) equals the scalar reference bit for bit, for every supported type.
#include "engine/gguf.h"
#include "engine/quant.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace tandem::engine;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0,
                                    GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                                    GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
  if (size < 1) return 0;
  const GgmlType type = kTypes[data[0] % (sizeof kTypes / sizeof kTypes[0])];
  const size_t blocks = (size - 1) / ggml_type_size(type);
  if (blocks == 0) return 0;
  const size_t n = blocks * ggml_block_size(type);
  // A copy of exactly the blocks, so ASan catches any read past them.
  std::vector<uint8_t> bytes(data + 1, data + 1 + blocks * ggml_type_size(type));
  std::vector<float> fast(n), reference(n);
  dequantize_row(type, bytes.data(), fast.data(), n);
  dequantize_row_reference(type, bytes.data(), reference.data(), n);
  if (std::memcmp(fast.data(), reference.data(), n * sizeof(float)) != 0) {
    for (size_t i = 0; i < n; ++i) {
      if (std::memcmp(&fast[i], &reference[i], sizeof(float)) != 0) {
        std::fprintf(stderr, "%s element %zu: fast %a, reference %a\n",
                     std::string(ggml_type_name(type)).c_str(), i, fast[i], reference[i]);
        break;
      }
    }
    std::abort();
  }
  return 0;
}
