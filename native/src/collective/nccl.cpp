// collective/nccl.cpp: the CUDA backend's collective: one NCCL communicator per rank (one GPU per
// process), its unique id handed out through rank 0's TcpStore. The communicator is non-blocking and
// every call waits for its work by polling, so a peer that dies or hangs is an lp::Error after
// op_timeout (the communicator is aborted), never a stuck process. Built with CUDA when CMake finds
// NCCL (LORAPLANE_HAVE_NCCL); make_nccl_collective throws otherwise.
#include "collective/collective.h"
#include "core/check.h"

#ifdef LORAPLANE_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <sstream>
#include <thread>

#include "collective/group.h"
#include "cuda/check.h"

namespace lp {

namespace {

using namespace collective_detail;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class NcclCollective : public Collective {
 public:
  NcclCollective(const CollectiveConfig& cfg, int device, void* stream)
      : cfg_(cfg),
        who_(describe("nccl", cfg.rank, cfg.world_size)),
        device_(device),
        stream_(static_cast<cudaStream_t>(stream)) {
    try {
      connect();
    } catch (...) {
      release();
      throw;
    }
  }

  ~NcclCollective() override { release(); }

  const char* name() const override { return "nccl"; }
  int rank() const override { return cfg_.rank; }
  int world_size() const override { return cfg_.world_size; }

  void all_reduce_sum(float* data, size_t n) override {
    failure_.check_usable();
    if (n == 0) return;
    LP_CHECK(data != nullptr, "all_reduce_sum: data is null for " << n << " floats");
    run("all_reduce_sum of " + std::to_string(n) + " floats",
        [&] { return ncclAllReduce(data, data, n, ncclFloat32, ncclSum, comm_, stream_); });
  }

  void broadcast(void* data, size_t bytes, int root) override {
    failure_.check_usable();
    LP_CHECK(root >= 0 && root < cfg_.world_size,
             "broadcast: root " << root << " is no rank of a group of " << cfg_.world_size);
    if (bytes == 0) return;
    LP_CHECK(data != nullptr, "broadcast: data is null for " << bytes << " bytes");
    run("broadcast of " + std::to_string(bytes) + " bytes from rank " + std::to_string(root),
        [&] { return ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_); });
  }

  // NCCL has no barrier: a one-float all-reduce on scratch memory, waited for.
  void barrier() override {
    failure_.check_usable();
    run("barrier", [&] { return ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, stream_); });
  }

 private:
  // Joins the group and sets up the communicator (the constructor's body).
  void connect() {
    Clock::time_point deadline;
    store_ = join_group(cfg_, "nccl", deadline);
    auto left = [&] {
      return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    };
    LP_CUDA_CHECK(cudaSetDevice(device_));
    ncclUniqueId id;
    if (cfg_.rank == 0) {
      nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
      store_->set("nccl/unique_id", std::vector<char>(id.internal, id.internal + sizeof id.internal));
    } else {
      const std::vector<char> v = store_->get("nccl/unique_id", left());
      LP_CHECK(v.size() == sizeof id.internal, "collective " << who_ << ": rank 0's NCCL unique id has " << v.size()
                                                             << " bytes, not " << sizeof id.internal
                                                             << " (another NCCL version on rank 0?)");
      std::memcpy(id.internal, v.data(), v.size());
    }
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const ncclResult_t r = ncclCommInitRankConfig(&comm_, cfg_.world_size, id, cfg_.rank, &config);
    if (r != ncclSuccess && r != ncclInProgress) {
      if (comm_) ncclCommAbort(comm_);
      comm_ = nullptr;
      failure_.fail(who_, "ncclCommInitRankConfig", nccl_text(r), "");
    }
    wait_comm("connecting the group (ncclCommInitRankConfig)", deadline, cfg_.join_timeout);
    LP_CUDA_CHECK(cudaMalloc(&scratch_, sizeof(float)));
    LP_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
  }

  // Finalize flushes what was issued; past a bounded wait, or after a failure, the communicator is
  // aborted instead. Never throws.
  void release() noexcept {
    if (comm_) {
      bool clean = !failure_.failed();
      if (clean) {
        const ncclResult_t r = ncclCommFinalize(comm_);
        clean = r == ncclSuccess || r == ncclInProgress;
      }
      if (clean) {
        const auto deadline = Clock::now() + std::min(cfg_.op_timeout, milliseconds(30000));
        ncclResult_t st = ncclInProgress;
        while (ncclCommGetAsyncError(comm_, &st) == ncclSuccess && st == ncclInProgress && Clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        clean = st == ncclSuccess;
      }
      if (clean) {
        ncclCommDestroy(comm_);
      } else {
        ncclCommAbort(comm_);
      }
      comm_ = nullptr;
    }
    if (done_) cudaEventDestroy(done_);
    if (scratch_) cudaFree(scratch_);
    done_ = nullptr;
    scratch_ = nullptr;
  }

  std::string nccl_text(ncclResult_t r) const {
    std::ostringstream os;
    os << "NCCL error " << static_cast<int>(r) << ": " << ncclGetErrorString(r);
    const char* last = ncclGetLastError(comm_);
    if (last && *last) os << " (" << last << ")";
    return os.str();
  }

  void nccl_check(ncclResult_t r, const char* what) {
    if (r != ncclSuccess) failure_.fail(who_, what, nccl_text(r), "");
  }

  // Polls the communicator's state until it leaves ncclInProgress; on an error or at deadline the
  // communicator is aborted and the call fails.
  void wait_comm(const std::string& what, Clock::time_point deadline, milliseconds budget) {
    for (;;) {
      ncclResult_t st = ncclInProgress;
      const ncclResult_t q = ncclCommGetAsyncError(comm_, &st);
      if (q != ncclSuccess) st = q;
      if (st == ncclSuccess) return;
      if (st != ncclInProgress) abort_and_fail(what, nccl_text(st), "");
      if (Clock::now() >= deadline)
        abort_and_fail(what, "timed out after " + std::to_string(budget.count()) + " ms", peer_hint(budget));
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  // Issues one NCCL call on the stream and waits (polling, bounded by op_timeout) until the stream has
  // done it, watching the communicator for a peer's failure meanwhile.
  template <class Issue>
  void run(const std::string& what, Issue issue) {
    const auto deadline = Clock::now() + cfg_.op_timeout;
    LP_CUDA_CHECK(cudaSetDevice(device_));
    const ncclResult_t r = issue();
    if (r != ncclSuccess && r != ncclInProgress) abort_and_fail(what, nccl_text(r), "");
    if (r == ncclInProgress) wait_comm(what, deadline, cfg_.op_timeout);
    LP_CUDA_CHECK(cudaEventRecord(done_, stream_));
    for (unsigned spins = 0;; ++spins) {
      const cudaError_t e = cudaEventQuery(done_);
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady)
        abort_and_fail(what, std::string("CUDA error ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e), "");
      ncclResult_t st = ncclSuccess;
      ncclCommGetAsyncError(comm_, &st);
      if (st != ncclSuccess && st != ncclInProgress) abort_and_fail(what, nccl_text(st), peer_hint(cfg_.op_timeout));
      if (Clock::now() >= deadline)
        abort_and_fail(what, "timed out after " + std::to_string(cfg_.op_timeout.count()) + " ms",
                       peer_hint(cfg_.op_timeout));
      if (spins > 64) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  [[noreturn]] void abort_and_fail(const std::string& what, const std::string& cause, const std::string& hint) {
    if (comm_) ncclCommAbort(comm_);  // frees the stream of NCCL's kernels waiting on the peer
    comm_ = nullptr;
    failure_.fail(who_, what, cause, hint);
  }

  CollectiveConfig cfg_;
  std::string who_;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<TcpStore> store_;
  ncclComm_t comm_ = nullptr;
  float* scratch_ = nullptr;
  cudaEvent_t done_ = nullptr;
  FailureState failure_;
};

}  // namespace

std::unique_ptr<Collective> make_nccl_collective(const CollectiveConfig& cfg, int device, void* stream) {
  validate(cfg);
  return std::make_unique<NcclCollective>(cfg, device, stream);
}

}  // namespace lp

#else  // no NCCL

namespace lp {

std::unique_ptr<Collective> make_nccl_collective(const CollectiveConfig&, int, void*) {
  LP_CHECK(false,
           "collective: this build has no NCCL, which the CUDA backend's data parallelism needs "
           "(build with CUDA where nccl.h and libnccl are found: the CUDA image, or the nvidia-nccl-cu13 "
           "wheel that native/scripts/install-cuda-toolchain.sh installs)");
}

}  // namespace lp

#endif
