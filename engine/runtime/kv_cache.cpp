#include "engine/kv_cache.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace tandem::engine {

namespace {

uint64_t mix64(uint64_t x) {  // splitmix64's finalizer: every input bit moves every output bit
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

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
  hash_.assign(n_blocks, 0);
  parent_.assign(n_blocks, kNoBlock);
  remembered_.assign(n_blocks, 0);
  tokens_.assign(static_cast<size_t>(n_blocks) * shape.block_tokens, 0);
  released_at_.assign(n_blocks, 0);
  free_list_.reserve(n_blocks);
  for (uint32_t b = n_blocks; b-- > 0;) free_list_.push_back(static_cast<BlockId>(b));
}

bool KvCache::reserve(BlockTable& table, size_t tokens) {
  size_t needed = blocks_for(tokens);
  if (needed <= table.blocks.size()) return true;
  size_t extra = needed - table.blocks.size();
  if (extra > free_blocks()) return false;
  for (size_t i = 0; i < extra; ++i) {
    BlockId block = kNoBlock;
    if (!free_list_.empty()) {
      block = free_list_.back();
      free_list_.pop_back();
    } else {  // the least recently released cached block makes room
      block = evictable_.begin()->second;
      evictable_.erase(evictable_.begin());
      forget(block);
      ++evictions_;
    }
    ref_counts_[static_cast<size_t>(block)] = 1;
    table.blocks.push_back(block);
  }
  return true;
}

void KvCache::release(BlockTable& table) {
  // Deepest block first, so a prefix's tail is evicted before the blocks it hangs off.
  for (auto it = table.blocks.rbegin(); it != table.blocks.rend(); ++it) {
    const BlockId block = *it;
    uint32_t& count = ref_counts_.at(static_cast<size_t>(block));
    if (count == 0) throw std::logic_error("kv cache: block " + std::to_string(block) + " released twice");
    if (--count != 0) continue;
    if (remembered_[static_cast<size_t>(block)]) {
      released_at_[static_cast<size_t>(block)] = ++release_clock_;
      evictable_.emplace(release_clock_, block);
    } else {
      free_list_.push_back(block);
    }
  }
  table.blocks.clear();
}

uint64_t KvCache::chain_hash(uint64_t previous, std::span<const int32_t> tokens) {
  uint64_t h = mix64(previous ^ 0x9e3779b97f4a7c15ull);
  for (int32_t token : tokens) h = mix64(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(token)) + 0x9e3779b97f4a7c15ull));
  return h;
}

void KvCache::remember(BlockId block, uint64_t hash, BlockId parent, std::span<const int32_t> tokens) {
  const auto index = static_cast<size_t>(block);
  if (tokens.size() != shape_.block_tokens) throw std::logic_error("kv cache: remember needs one full block of tokens");
  if (ref_counts_.at(index) == 0) throw std::logic_error("kv cache: remember on a free block");
  if (remembered_[index] || by_hash_.count(hash)) return;
  by_hash_.emplace(hash, block);
  hash_[index] = hash;
  parent_[index] = parent;
  remembered_[index] = 1;
  std::copy(tokens.begin(), tokens.end(), tokens_.begin() + static_cast<ptrdiff_t>(index * shape_.block_tokens));
}

BlockId KvCache::lookup(uint64_t hash, BlockId parent, std::span<const int32_t> tokens) const {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return kNoBlock;
  const auto index = static_cast<size_t>(it->second);
  if (parent_[index] != parent || tokens.size() != shape_.block_tokens) return kNoBlock;
  auto stored = tokens_.begin() + static_cast<ptrdiff_t>(index * shape_.block_tokens);
  if (!std::equal(tokens.begin(), tokens.end(), stored)) return kNoBlock;
  return it->second;
}

void KvCache::acquire(BlockTable& table, BlockId block) {
  const auto index = static_cast<size_t>(block);
  if (!remembered_.at(index)) throw std::logic_error("kv cache: acquire of a block that is not cached");
  if (ref_counts_[index]++ == 0) evictable_.erase({released_at_[index], block});
  table.blocks.push_back(block);
}

void KvCache::forget(BlockId block) {
  const auto index = static_cast<size_t>(block);
  if (!remembered_[index]) return;
  by_hash_.erase(hash_[index]);
  remembered_[index] = 0;
  parent_[index] = kNoBlock;
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
