// Paged key/value cache: one pool of fixed-size blocks shared by all sequences. Keys and values
// are stored as IEEE fp16 (half the memory of F32, and what llama.cpp's default cache type does,
// so results stay comparable with it).
// A sequence owns a block table (block ids in position order); position p lives in block
// table[p / block_tokens] at slot p % block_tokens. Blocks are reference-counted so sequences
// with a common prefix point at the same blocks.
//
// Prefix cache: a full block can be remembered under the chain hash of the whole token prefix it
// closes (hash(previous block's hash, this block's tokens)). A remembered block that no table
// refers to any more is not freed but kept, evictable, until the pool needs it (least recently
// released first, the deepest block of a prefix before its parents). It counts as free.
// A lookup checks the block's tokens and its parent block too, so a hash collision can never
// hand out the wrong keys and values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>
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
inline constexpr BlockId kNoBlock = -1;

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
  // Blocks a reservation can take: never used, plus cached ones no table refers to (evictable).
  uint32_t free_blocks() const { return static_cast<uint32_t>(free_list_.size() + evictable_.size()); }
  // Blocks some table refers to.
  uint32_t used_blocks() const { return total_blocks() - free_blocks(); }
  // Remembered blocks no table refers to: kept for a later prefix hit until the pool needs them.
  uint32_t cached_free_blocks() const { return static_cast<uint32_t>(evictable_.size()); }
  uint64_t evictions() const { return evictions_; }  // cached blocks reused for other data
  uint32_t blocks_for(size_t tokens) const {
    return static_cast<uint32_t>((tokens + shape_.block_tokens - 1) / shape_.block_tokens);
  }
  // Bytes of K+V storage in the whole pool.
  size_t pool_bytes() const { return storage_.size() * sizeof(uint16_t); }

  // Grows `table` so it can hold `tokens` positions, taking never-used blocks first, then
  // evicting cached ones. All-or-nothing: returns false and changes nothing when the pool has
  // too few free blocks.
  bool reserve(BlockTable& table, size_t tokens);
  // Drops this table's reference to each block (a block returns to the pool, or stays cached
  // if remembered, when no table refers to it any more) and empties the table.
  void release(BlockTable& table);

  // The chain hash of a block: `previous` is the hash of the block before it (kRootHash for
  // the first block), `tokens` this block's block_tokens tokens.
  static constexpr uint64_t kRootHash = 0x74616e64656d4b56ull;
  static uint64_t chain_hash(uint64_t previous, std::span<const int32_t> tokens);
  // Remembers the full block `block` (holding `tokens`, following `parent`, kNoBlock for the
  // first block) under `hash`. Does nothing when another block already holds that prefix.
  void remember(BlockId block, uint64_t hash, BlockId parent, std::span<const int32_t> tokens);
  // The cached block for `hash` that follows `parent` and holds `tokens`, or kNoBlock.
  BlockId lookup(uint64_t hash, BlockId parent, std::span<const int32_t> tokens) const;
  // Appends a block found by lookup() to `table`, taking a reference (it is no longer evictable).
  void acquire(BlockTable& table, BlockId block);
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

  // Prefix cache. Per block: its hash (valid when remembered_), its parent and its tokens.
  void forget(BlockId block);
  std::unordered_map<uint64_t, BlockId> by_hash_;
  std::vector<uint64_t> hash_;
  std::vector<BlockId> parent_;
  std::vector<uint8_t> remembered_;
  std::vector<int32_t> tokens_;                       // [block][block_tokens]
  std::vector<uint64_t> released_at_;                 // eviction order of evictable blocks
  std::set<std::pair<uint64_t, BlockId>> evictable_;  // (released_at, block), oldest first
  uint64_t release_clock_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace tandem::engine
