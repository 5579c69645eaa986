// Paged key/value cache: one pool of fixed-size blocks shared by all sequences. Keys and values
// are stored as IEEE fp16 (half the memory of F32, and what llama.cpp's default cache type does,
// so results stay comparable with it).
// A sequence owns a block table (block ids in position order); position p lives in block
// table[p / block_tokens] at slot p % block_tokens. Blocks are reference-counted so a later
// prefix cache can let sequences with a common prompt prefix point at the same blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::engine {

struct KvCacheShape {
  uint32_t n_layer = 0;
  uint32_t n_head_kv = 0;
  uint32_t head_dim = 0;
  uint32_t block_tokens = 16;
  uint32_t total_tokens = 0;  // pool size; rounded up to whole blocks
};

using BlockId = int32_t;

// The blocks a sequence holds, in position order.
struct BlockTable {
  std::vector<BlockId> blocks;
  size_t capacity_tokens(uint32_t block_tokens) const { return blocks.size() * block_tokens; }
};

class KvCache {
 public:
  explicit KvCache(const KvCacheShape& shape);

  const KvCacheShape& shape() const { return shape_; }
  uint32_t block_tokens() const { return shape_.block_tokens; }
  uint32_t total_blocks() const { return static_cast<uint32_t>(ref_counts_.size()); }
  uint32_t free_blocks() const { return static_cast<uint32_t>(free_list_.size()); }
  uint32_t used_blocks() const { return total_blocks() - free_blocks(); }
  uint32_t blocks_for(size_t tokens) const {
    return static_cast<uint32_t>((tokens + shape_.block_tokens - 1) / shape_.block_tokens);
  }
  // Bytes of K+V storage in the whole pool.
  size_t pool_bytes() const { return storage_.size() * sizeof(uint16_t); }

  // Grows `table` so it can hold `tokens` positions. All-or-nothing: returns false and changes
  // nothing when the pool has too few free blocks.
  bool reserve(BlockTable& table, size_t tokens);
  // Drops this table's reference to each block (a block returns to the pool when no table
  // refers to it any more) and empties the table.
  void release(BlockTable& table);
  // Makes `to` refer to the first `n_blocks` blocks of `from` (prefix sharing); `to` must be empty.
  void share_prefix(const BlockTable& from, BlockTable& to, size_t n_blocks);
  uint32_t ref_count(BlockId block) const { return ref_counts_[static_cast<size_t>(block)]; }

  // Row of one token in one layer: n_head_kv * head_dim fp16 values.
  size_t row_elements() const { return row_elements_; }
  uint16_t* key(uint32_t layer, BlockId block, uint32_t slot) { return storage_.data() + offset(layer, block, slot, 0); }
  uint16_t* value(uint32_t layer, BlockId block, uint32_t slot) { return storage_.data() + offset(layer, block, slot, 1); }
  const uint16_t* key(uint32_t layer, BlockId block, uint32_t slot) const { return storage_.data() + offset(layer, block, slot, 0); }
  const uint16_t* value(uint32_t layer, BlockId block, uint32_t slot) const { return storage_.data() + offset(layer, block, slot, 1); }

  // Convenience: the K/V row of position `pos` of a sequence.
  uint16_t* key_at(uint32_t layer, const BlockTable& table, size_t pos) {
    return key(layer, table.blocks[pos / shape_.block_tokens], static_cast<uint32_t>(pos % shape_.block_tokens));
  }
  uint16_t* value_at(uint32_t layer, const BlockTable& table, size_t pos) {
    return value(layer, table.blocks[pos / shape_.block_tokens], static_cast<uint32_t>(pos % shape_.block_tokens));
  }

 private:
  // Layout: [block][layer][K|V][slot][row] — one block's data is contiguous, which keeps a
  // sequence's keys for one layer in runs of block_tokens rows.
  size_t offset(uint32_t layer, BlockId block, uint32_t slot, int kv) const {
    return ((static_cast<size_t>(block) * shape_.n_layer + layer) * 2 + static_cast<size_t>(kv)) * block_elements_ +
           static_cast<size_t>(slot) * row_elements_;
  }

  KvCacheShape shape_;
  size_t row_elements_ = 0;
  size_t block_elements_ = 0;  // one layer, one of K or V, one block
  std::vector<uint16_t> storage_;
  std::vector<uint32_t> ref_counts_;
  std::vector<BlockId> free_list_;  // stack: most recently freed first (still warm in cache)
};

}  // namespace tandem::engine
