// collective/gloo.cpp: the CPU backend's collective: gloo's TCP transport between the ranks, its
// full mesh connected through rank 0's TcpStore, ring all-reduce on host memory. Built when CMake
// finds Gloo (LORAPLANE_HAVE_GLOO); make_gloo_collective throws otherwise.
#include "collective/collective.h"
#include "core/check.h"

#ifdef LORAPLANE_HAVE_GLOO
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include <signal.h>

#include <cstdint>
#include <exception>
#include <sstream>

#include "collective/group.h"

namespace lp {

namespace {

using namespace collective_detail;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// gloo's view of our store, its keys under "gloo/"; a key missing past the timeout is an lp::Error.
class GlooStore : public gloo::rendezvous::Store {
 public:
  GlooStore(lp::Store& store, Clock::time_point deadline) : store_(store), deadline_(deadline) {}
  void set(const std::string& key, const std::vector<char>& data) override { store_.set(kPrefix + key, data); }
  std::vector<char> get(const std::string& key) override { return store_.get(kPrefix + key, left()); }
  void wait(const std::vector<std::string>& keys) override { wait(keys, left()); }
  void wait(const std::vector<std::string>& keys, const milliseconds& timeout) override {
    std::vector<std::string> prefixed;
    for (const auto& k : keys) prefixed.push_back(kPrefix + k);
    const auto missing = store_.wait(prefixed, timeout);
    LP_CHECK(missing.empty(),
             "gloo rendezvous: key '" << missing.front() << "' was not set within " << timeout.count() << " ms");
  }

 private:
  milliseconds left() const {
    return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline_ - Clock::now()));
  }
  static constexpr const char* kPrefix = "gloo/";
  lp::Store& store_;
  Clock::time_point deadline_;
};

using ReduceFn = void (*)(void*, const void*, const void*, size_t);

class GlooCollective : public Collective {
 public:
  explicit GlooCollective(const CollectiveConfig& cfg) : cfg_(cfg), who_(describe("gloo", cfg.rank, cfg.world_size)) {
    Clock::time_point deadline;
    store_ = join_group(cfg, "gloo", deadline);
    try {
      gloo::transport::tcp::attr attr;
      attr.hostname = cfg.local_addr.empty() ? store_->local_address() : cfg.local_addr;
      device_ = gloo::transport::tcp::CreateDevice(attr);
      context_ = std::make_shared<gloo::rendezvous::Context>(cfg.rank, cfg.world_size);
      const auto left = std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
      context_->setTimeout(left);
      GlooStore store(*store_, deadline);
      context_->connectFullMesh(store, device_);
      // Every pair is up on every rank before anyone leaves the constructor (rank 0's store included).
      gloo::BarrierOptions opts(context_);
      opts.setTag(next_tag_++);
      opts.setTimeout(left);
      gloo::barrier(opts);
    } catch (const Error& e) {
      failure_.fail(who_, "connecting the group", e.what(), "");
    } catch (const std::exception& e) {
      failure_.fail(who_, "connecting the group", e.what(),
                    "A peer rank died or its address (" +
                        std::string(cfg.local_addr.empty() ? "the local address toward rank 0" : "local_addr") +
                        ") is unreachable from the others");
    }
  }

  const char* name() const override { return "gloo"; }
  int rank() const override { return cfg_.rank; }
  int world_size() const override { return cfg_.world_size; }

  void all_reduce_sum(float* data, size_t n) override {
    failure_.check_usable();
    if (n == 0) return;
    LP_CHECK(data != nullptr, "all_reduce_sum: data is null for " << n << " floats");
    run(
        [&] {
          gloo::AllreduceOptions opts(context_);
          opts.setOutput(data, n);
          opts.setReduceFunction(static_cast<ReduceFn>(&gloo::sum<float>));
          opts.setTag(next_tag_++);
          opts.setTimeout(cfg_.op_timeout);
          gloo::allreduce(opts);
        },
        [&] { return "all_reduce_sum of " + std::to_string(n) + " floats"; });
  }

  void broadcast(void* data, size_t bytes, int root) override {
    failure_.check_usable();
    LP_CHECK(root >= 0 && root < cfg_.world_size,
             "broadcast: root " << root << " is no rank of a group of " << cfg_.world_size);
    if (bytes == 0) return;
    LP_CHECK(data != nullptr, "broadcast: data is null for " << bytes << " bytes");
    run(
        [&] {
          gloo::BroadcastOptions opts(context_);
          opts.setOutput(static_cast<uint8_t*>(data), bytes);
          opts.setRoot(root);
          opts.setTag(next_tag_++);
          opts.setTimeout(cfg_.op_timeout);
          gloo::broadcast(opts);
        },
        [&] { return "broadcast of " + std::to_string(bytes) + " bytes from rank " + std::to_string(root); });
  }

  void barrier() override {
    failure_.check_usable();
    run(
        [&] {
          gloo::BarrierOptions opts(context_);
          opts.setTag(next_tag_++);
          opts.setTimeout(cfg_.op_timeout);
          gloo::barrier(opts);
        },
        [] { return std::string("barrier"); });
  }

 private:
  template <class Op, class What>
  void run(Op op, What what) {
    try {
      op();
    } catch (const std::exception& e) {
      failure_.fail(who_, what(), e.what(), peer_hint(cfg_.op_timeout));
    }
  }

  CollectiveConfig cfg_;
  std::string who_;
  // Destroyed in reverse: the context (its pairs) before the device, the store (rank 0's server) last.
  std::unique_ptr<TcpStore> store_;
  std::shared_ptr<gloo::transport::Device> device_;
  std::shared_ptr<gloo::rendezvous::Context> context_;
  uint32_t next_tag_ = 0;  // the same sequence on every rank: the same calls in the same order
  FailureState failure_;
};

}  // namespace

std::unique_ptr<Collective> make_gloo_collective(const CollectiveConfig& cfg) {
  validate(cfg);
  // gloo writes to its sockets with writev: a peer that died would SIGPIPE this process (no message,
  // exit 141) instead of failing the collective with an error. Node ignores SIGPIPE already; a
  // process that left it at the default gets it ignored too (a handler of its own is kept).
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  return std::make_unique<GlooCollective>(cfg);
}

}  // namespace lp

#else  // no Gloo

namespace lp {

std::unique_ptr<Collective> make_gloo_collective(const CollectiveConfig&) {
  LP_CHECK(false,
           "collective: this build has no Gloo, which the CPU backend's data parallelism needs "
           "(install libgloo-dev and rebuild)");
}

}  // namespace lp

#endif
