// collective/group.h: what the gloo and nccl collectives share: joining the group through rank 0's
// store, and the messages of a failed collective. Provides join_group and FailureState. Internal to
// collective/.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "collective/collective.h"
#include "collective/store.h"

namespace lp::collective_detail {

// Connects to rank 0's store (serving it on rank 0), registers this rank and returns once every rank
// of cfg's group has registered with the same implementation (`impl`: "gloo", "nccl"). Throws
// lp::Error naming the ranks that did not join within cfg.join_timeout, a rank that joined twice (a
// restarted rank meeting a group that has not ended) or a rank on another implementation. deadline
// receives the end of the join budget, which the implementation's own set-up keeps to.
std::unique_ptr<TcpStore> join_group(const CollectiveConfig& cfg, const char* impl,
                                     std::chrono::steady_clock::time_point& deadline);

// "gloo (rank 1 of 3)": how messages name this end.
std::string describe(const char* impl, int rank, int world_size);

// The first failure of a collective, kept: later calls fail with it (the group must restart).
class FailureState {
 public:
  // Throws lp::Error "<who>: <what> failed: <cause>. <hint>", and remembers it.
  [[noreturn]] void fail(const std::string& who, const std::string& what, const std::string& cause,
                         const std::string& hint);
  // Throws when an earlier call failed.
  void check_usable() const;
  bool failed() const { return !message_.empty(); }

 private:
  std::string message_;
};

// The hint for a collective that failed or timed out.
std::string peer_hint(std::chrono::milliseconds op_timeout);

}  // namespace lp::collective_detail
