#include "caffe/util/convolution_algorithm_cache.hpp"

#include <algorithm>

namespace caffe {

size_t ConvolutionAlgorithmChoice::MaxWorkspace() const {
  return std::max({forward.workspace, backward_filter.workspace,
                   backward_data.workspace});
}

ConvolutionAlgorithmChoice ConvolutionAlgorithmCache::Get(
    const ConvolutionAlgorithmKey& key, const Chooser& choose) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = choices_.find(key);
    if (found != choices_.end()) return found->second;
    ++choices_made_;
  }
  const ConvolutionAlgorithmChoice choice = choose();
  std::lock_guard<std::mutex> lock(mutex_);
  return choices_.emplace(key, choice).first->second;
}

int64_t ConvolutionAlgorithmCache::choices_made() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return choices_made_;
}

size_t ConvolutionAlgorithmCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return choices_.size();
}

void ConvolutionAlgorithmCache::Clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  choices_.clear();
}

ConvolutionAlgorithmCache& ConvolutionAlgorithmCache::Global() {
  // Never destroyed: layers in other threads' nets may still look it up
  // while the process exits.
  static ConvolutionAlgorithmCache* cache = new ConvolutionAlgorithmCache;
  return *cache;
}

}  // namespace caffe
