// A prometheus counter family's children by label values, looked up once.
//
// Family::Add builds a label map and hashes it under the family's lock on every call: on a
// per-request path (the router's routed requests, a provider's requests and tokens) that was about
// ten allocations a call. A child lives as long as its family, so its pointer is kept here, keyed
// by the label values. Thread-safe.
//
//   actors::CounterChildren requests(family);
//   requests.get({{"provider", name}, {"status", "ok"}}).Increment();
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace tandem::actors {

class CounterChildren {
 public:
  using Label = std::pair<std::string_view, std::string_view>;

  explicit CounterChildren(prometheus::Family<prometheus::Counter>& family) : family_(family) {}

  // The labels must name the same label names, in the same order, on every call.
  prometheus::Counter& get(std::initializer_list<Label> labels) {
    std::string key;
    for (const auto& label : labels) key.append(label.second).push_back('\x1f');
    std::lock_guard lock(mutex_);
    auto& child = children_[key];
    if (child == nullptr) {
      prometheus::Labels map;
      for (const auto& [name, value] : labels) map.emplace(std::string(name), std::string(value));
      child = &family_.Add(map);
    }
    return *child;
  }

 private:
  prometheus::Family<prometheus::Counter>& family_;
  std::mutex mutex_;
  std::unordered_map<std::string, prometheus::Counter*> children_;
};

}  // namespace tandem::actors
