// backend/buffer.h: Buffer<T>, an array in a backend's memory. Owned (allocated by the backend, grown
// on demand and reused, never shrunk: the model's workspace) or a view of host data on a host-visible
// backend (mirror(): the CPU backend then reads the model's fp32 tensors in place, no copy).
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/check.h"

namespace lp {

template <typename T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(Backend* be) : be_(be) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept { *this = std::move(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      free_owned();
      be_ = o.be_;
      p_ = std::exchange(o.p_, nullptr);
      size_ = std::exchange(o.size_, 0);
      cap_ = std::exchange(o.cap_, 0);
      owned_ = o.owned_;
    }
    return *this;
  }
  ~Buffer() { free_owned(); }

  void bind(Backend* be) {
    LP_CHECK(p_ == nullptr || be == be_, "a Buffer holding memory cannot move to another backend");
    be_ = be;
  }
  Backend* backend() const { return be_; }

  // n elements. Reallocates (zeroed; earlier contents dropped) only when n exceeds the capacity.
  void resize(size_t n) {
    if (!owned_ || n > cap_) {
      free_owned();
      LP_CHECK(be_ != nullptr, "Buffer used before it was bound to a backend");
      p_ = static_cast<T*>(be_->alloc(n * sizeof(T)));
      cap_ = n;
      owned_ = true;
    }
    size_ = n;
  }
  void grow(size_t n) {
    if (n > size_) resize(n);
  }
  // The backend's copy of n host elements: a view without copying on a host-visible backend.
  void mirror(const T* host, size_t n) {
    LP_CHECK(be_ != nullptr, "Buffer used before it was bound to a backend");
    if (be_->host_visible()) {
      free_owned();
      p_ = const_cast<T*>(host);
      size_ = cap_ = n;
      owned_ = false;
      return;
    }
    upload(host, n);
  }
  void mirror(const std::vector<T>& host) { mirror(host.data(), host.size()); }
  // Resize to n and copy n host elements in.
  void upload(const T* host, size_t n) {
    resize(n);
    if (n) be_->to_device(p_, host, n * sizeof(T));
  }
  void upload(const std::vector<T>& host) { upload(host.data(), host.size()); }
  // Copies the first n elements out (all of them by default).
  void download(T* host, size_t n) const {
    LP_CHECK(n <= size_, "Buffer::download of " << n << " elements from a buffer of " << size_);
    if (n) be_->to_host(host, p_, n * sizeof(T));
  }
  std::vector<T> to_vector() const {
    std::vector<T> v(size_);
    download(v.data(), size_);
    return v;
  }

  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  void free_owned() {
    if (owned_ && p_) be_->release(p_, cap_ * sizeof(T));
    p_ = nullptr;
    size_ = cap_ = 0;
    owned_ = true;
  }

  Backend* be_ = nullptr;
  T* p_ = nullptr;
  size_t size_ = 0, cap_ = 0;
  bool owned_ = true;
};

}  // namespace lp
