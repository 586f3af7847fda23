// collective/collective.cpp: the group's configuration (from the environment too), joining it through
// rank 0's store, the world-size-1 collective and the choice of implementation for a backend.
#include "collective/collective.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "backend/backend.h"
#include "backend/buffer.h"
#include "collective/group.h"
#include "core/check.h"

#ifdef LORAPLANE_HAVE_CUDA
#include "cuda/backend.h"
#include "cuda/check.h"
#endif

namespace lp {

namespace {

using std::chrono::milliseconds;

// An integer environment variable; `fallback` when unset or empty.
long long env_int(const char* name, long long fallback, long long lo, long long hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  LP_CHECK(errno == 0 && *end == '\0' && x >= lo && x <= hi,
           "Expected an integer in " << lo << ".." << hi << " for " << name << " but received \"" << v << "\"");
  return x;
}

std::string env_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

class SingleCollective : public Collective {
 public:
  const char* name() const override { return "single"; }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(float*, size_t) override {}
  void broadcast(void*, size_t, int root) override {
    LP_CHECK(root == 0, "broadcast: root " << root << " is no rank of a group of 1");
  }
  void barrier() override {}
};

}  // namespace

CollectiveConfig collective_config_from_env() {
  CollectiveConfig c;
  c.world_size = static_cast<int>(env_int("WORLD_SIZE", 1, 1, 1 << 20));
  c.rank = static_cast<int>(env_int("RANK", 0, 0, c.world_size - 1));
  c.master_addr = env_str("MASTER_ADDR");
  c.master_port = static_cast<int>(env_int("MASTER_PORT", 0, 1, 65535));
  c.local_addr = env_str("LORAPLANE_COLLECTIVE_LOCAL_ADDR");
  c.join_timeout = milliseconds(env_int("LORAPLANE_COLLECTIVE_JOIN_TIMEOUT_MS", c.join_timeout.count(), 1, 1LL << 40));
  c.op_timeout = milliseconds(env_int("LORAPLANE_COLLECTIVE_OP_TIMEOUT_MS", c.op_timeout.count(), 1, 1LL << 40));
  if (c.world_size > 1) {
    LP_CHECK(!c.master_addr.empty(), "MASTER_ADDR (rank 0's address) must be set when WORLD_SIZE is " << c.world_size);
    LP_CHECK(c.master_port > 0,
             "MASTER_PORT (rank 0's rendezvous port) must be set when WORLD_SIZE is " << c.world_size);
  }
  validate(c);
  return c;
}

void validate(const CollectiveConfig& c) {
  LP_CHECK(c.world_size >= 1, "collective: world_size must be at least 1 but is " << c.world_size);
  LP_CHECK(c.rank >= 0 && c.rank < c.world_size,
           "collective: rank must be in 0.." << c.world_size - 1 << " but is " << c.rank);
  LP_CHECK(c.join_timeout.count() > 0 && c.op_timeout.count() > 0, "collective: timeouts must be positive");
  if (c.world_size > 1) {
    LP_CHECK(!c.master_addr.empty(), "collective: master_addr (rank 0's address) is empty");
    LP_CHECK(c.master_port >= 1 && c.master_port <= 65535,
             "collective: master_port must be 1..65535 but is " << c.master_port);
  }
}

std::unique_ptr<Collective> make_single_collective() { return std::make_unique<SingleCollective>(); }

bool collective_compiled(std::string_view name) {
  if (name == "single") return true;
#ifdef LORAPLANE_HAVE_GLOO
  if (name == "gloo") return true;
#endif
#ifdef LORAPLANE_HAVE_NCCL
  if (name == "nccl") return true;
#endif
  return false;
}

std::unique_ptr<Collective> make_collective(Backend& be, const CollectiveConfig& cfg) {
  validate(cfg);
  if (cfg.world_size == 1) return make_single_collective();
  const std::string backend = be.name();
  if (backend == "cpu") return make_gloo_collective(cfg);
#ifdef LORAPLANE_HAVE_CUDA
  if (backend == "cuda") {
    cudaStream_t stream = cuda::context_of(be).stream;
    int device = 0;
    LP_CUDA_CHECK(cudaStreamGetDevice(stream, &device));
    return make_nccl_collective(cfg, device, stream);
  }
#endif
  LP_CHECK(false, "collective: no collective for the " << backend << " backend");
}

bool collective_uses_device_memory(const Collective& c) { return std::string_view(c.name()) == "nccl"; }

void all_reduce_sum_host(Collective& c, Backend& be, float* host, size_t n) {
  if (!collective_uses_device_memory(c)) return c.all_reduce_sum(host, n);
  Buffer<float> staged(&be);
  staged.upload(host, n);
  c.all_reduce_sum(staged.data(), n);
  staged.download(host, n);
}

namespace collective_detail {

std::string describe(const char* impl, int rank, int world_size) {
  std::ostringstream os;
  os << impl << " (rank " << rank << " of " << world_size << ")";
  return os.str();
}

void FailureState::fail(const std::string& who, const std::string& what, const std::string& cause,
                        const std::string& hint) {
  std::ostringstream os;
  os << "collective " << who << ": " << what << " failed: " << cause;
  if (!hint.empty()) os << ". " << hint;
  message_ = os.str();
  throw Error(message_);
}

void FailureState::check_usable() const {
  if (!message_.empty()) throw Error(message_ + " (the group is unusable after a failed collective; restart it)");
}

std::string peer_hint(milliseconds op_timeout) {
  std::ostringstream os;
  os << "A peer rank died, hung, or did not reach the same collective within the op timeout (" << op_timeout.count()
     << " ms)";
  return os.str();
}

std::unique_ptr<TcpStore> join_group(const CollectiveConfig& cfg, const char* impl,
                                     std::chrono::steady_clock::time_point& deadline) {
  validate(cfg);
  const auto start = std::chrono::steady_clock::now();
  deadline = start + cfg.join_timeout;
  const std::string who = describe(impl, cfg.rank, cfg.world_size);
  auto left = [&] {
    return std::max(milliseconds(1),
                    std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now()));
  };
  std::unique_ptr<TcpStore> store;
  try {
    store = std::make_unique<TcpStore>(cfg.master_addr, cfg.master_port, cfg.rank == 0, cfg.join_timeout);
  } catch (const Error& e) {
    throw Error("collective " + who + ": cannot join the group: " + e.what());
  }

  // One implementation per group: a rank that fell back to the CPU would never meet NCCL's ranks.
  const std::vector<char> mine(impl, impl + std::string(impl).size());
  if (!store->create("lp/impl", mine)) {
    const std::vector<char> theirs = store->get("lp/impl", left());
    LP_CHECK(theirs == mine, "collective " << who << ": this rank uses " << impl << " but the group at "
                                           << store->where() << " uses " << std::string(theirs.begin(), theirs.end())
                                           << " (every rank must run the same backend)");
  }

  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::ostringstream me;
  me << host << " pid " << getpid();
  const std::string desc = me.str();
  const std::string key = "lp/joined/" + std::to_string(cfg.rank);
  if (!store->create(key, std::vector<char>(desc.begin(), desc.end()))) {
    const std::vector<char> other = store->get(key, left());
    LP_CHECK(false, "collective " << who << ": rank " << cfg.rank << " has joined the group at " << store->where()
                                  << " already (as " << std::string(other.begin(), other.end())
                                  << "): a restarted rank met a group that has not ended; restart every rank");
  }

  std::vector<std::string> keys;
  for (int r = 0; r < cfg.world_size; ++r) keys.push_back("lp/joined/" + std::to_string(r));
  const std::vector<std::string> missing = store->wait(keys, left());
  if (!missing.empty()) {
    std::ostringstream ranks;
    for (size_t i = 0; i < missing.size(); ++i) {
      if (i == 8) {
        ranks << " and " << missing.size() - 8 << " more";
        break;
      }
      ranks << (i ? ", " : "") << missing[i].substr(std::string("lp/joined/").size());
    }
    LP_CHECK(false, "collective " << who << ": rank" << (missing.size() > 1 ? "s " : " ") << ranks.str()
                                  << " did not join the group at " << store->where() << " within "
                                  << cfg.join_timeout.count() << " ms");
  }
  return store;
}

}  // namespace collective_detail

}  // namespace lp
