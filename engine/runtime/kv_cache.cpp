#include "engine/kv_cache.h"

#include <stdexcept>
#include <string>

namespace tandem::engine {

KvCache::KvCache(const KvCacheShape& shape) : shape_(shape) {
  if (shape.block_tokens == 0) throw std::invalid_argument("kv cache: block_tokens must be > 0");
  if (shape.n_layer == 0 || shape.n_head_kv == 0 || shape.head_dim == 0)
    throw std::invalid_argument("kv cache: n_layer, n_head_kv and head_dim must be > 0");
  row_elements_ = static_cast<size_t>(shape.n_head_kv) * shape.head_dim;
  block_elements_ = row_elements_ * shape.block_tokens;
  uint32_t n_blocks = blocks_for(shape.total_tokens);
  shape_.total_tokens = n_blocks * shape.block_tokens;
  storage_.assign(static_cast<size_t>(n_blocks) * shape.n_layer * 2 * block_elements_, 0);
  ref_counts_.assign(n_blocks, 0);
  free_list_.reserve(n_blocks);
  for (uint32_t b = n_blocks; b-- > 0;) free_list_.push_back(static_cast<BlockId>(b));
}

bool KvCache::reserve(BlockTable& table, size_t tokens) {
  size_t needed = blocks_for(tokens);
  if (needed <= table.blocks.size()) return true;
  size_t extra = needed - table.blocks.size();
  if (extra > free_list_.size()) return false;
  for (size_t i = 0; i < extra; ++i) {
    BlockId block = free_list_.back();
    free_list_.pop_back();
    ref_counts_[static_cast<size_t>(block)] = 1;
    table.blocks.push_back(block);
  }
  return true;
}

void KvCache::release(BlockTable& table) {
  for (BlockId block : table.blocks) {
    uint32_t& count = ref_counts_.at(static_cast<size_t>(block));
    if (count == 0) throw std::logic_error("kv cache: block " + std::to_string(block) + " released twice");
    if (--count == 0) free_list_.push_back(block);
  }
  table.blocks.clear();
}

void KvCache::share_prefix(const BlockTable& from, BlockTable& to, size_t n_blocks) {
  if (!to.blocks.empty()) throw std::logic_error("kv cache: share_prefix into a non-empty table");
  if (n_blocks > from.blocks.size()) throw std::logic_error("kv cache: share_prefix beyond the source table");
  for (size_t i = 0; i < n_blocks; ++i) {
    BlockId block = from.blocks[i];
    ++ref_counts_[static_cast<size_t>(block)];
    to.blocks.push_back(block);
  }
}

}  // namespace tandem::engine
