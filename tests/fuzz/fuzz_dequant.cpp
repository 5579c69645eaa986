// libFuzzer target: dequantization of arbitrary block bytes (any scale, any bit pattern: NaN,
// infinities, subnormals). Invariant: the fast path (chosen at run time; AVX2 where the CPU has
// it) equals the scalar reference bit for bit, for every supported type. The one exception is
// which NaN comes out when two NaNs meet (a NaN scale plus a NaN offset): IEEE leaves the payload
// open and compilers may swap the operands of an add, so any NaN equals any NaN there.
#include "engine/gguf.h"
#include "engine/quant.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
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
  for (size_t i = 0; i < n; ++i) {
    if (std::memcmp(&fast[i], &reference[i], sizeof(float)) == 0) continue;
    if (std::isnan(fast[i]) && std::isnan(reference[i])) continue;
    uint32_t fast_bits, reference_bits;
    std::memcpy(&fast_bits, &fast[i], sizeof fast_bits);
    std::memcpy(&reference_bits, &reference[i], sizeof reference_bits);
    std::fprintf(stderr, "%s element %zu: fast %a (0x%08x), reference %a (0x%08x)\n",
                 std::string(ggml_type_name(type)).c_str(), i, fast[i], fast_bits, reference[i], reference_bits);
    std::abort();
  }
  return 0;
}
