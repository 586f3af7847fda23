// collective/collective.h: the ranks of one data-parallel group and the few collectives a trainer
// needs between them: an in-place float sum (the LoRA gradients, the loss and token counts), a
// broadcast from one rank and a barrier. Provides CollectiveConfig, collective_config_from_env,
// Collective and the factories.
//
// Implementations (one file each): "single" (world size 1, no library), "gloo" (the CPU backend:
// host memory, gloo's TCP transport; built when CMake finds Gloo, Debian libgloo-dev) and "nccl" (the
// CUDA backend: device memory on the backend's stream; built with CUDA when CMake finds NCCL). The
// ranks meet through a TcpStore (collective/store.h) that rank 0 serves on master_addr:master_port.
//
// Every rank must call the same collectives in the same order with the same sizes. A rank that does
// not join within join_timeout, or leaves a collective unanswered past op_timeout, or dies, makes
// the others throw lp::Error saying so (which ranks never joined; the timeout; the transport's
// message) instead of hanging; the Collective is unusable after a failure (the group restarts).
// One thread at a time per Collective (any thread: the addon's worker). The gloo collective ignores
// SIGPIPE when the process left it at the default (Node ignores it already): a dead peer is an error.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace lp {

class Backend;

struct CollectiveConfig {
  int rank = 0;
  int world_size = 1;
  // Rank 0's address, a DNS name (in Kubernetes: <job>-0.<headless service>) or an IP, and the port
  // its rendezvous store listens on. Every rank, rank 0 included, connects there, so the name must
  // resolve to rank 0 from rank 0 too. Unused when world_size is 1.
  std::string master_addr;
  int master_port = 0;
  // The address this rank's gloo transport listens on and advertises; empty: the local address of
  // its connection to rank 0 (the interface that reaches rank 0). NCCL picks its own interfaces
  // (NCCL_SOCKET_IFNAME).
  std::string local_addr;
  // How long to wait for every rank to join (pods start at different times).
  std::chrono::milliseconds join_timeout{std::chrono::minutes(10)};
  // How long one collective may wait for the other ranks: it includes their compute up to the same
  // call (a slow step on the CPU), so it is generous.
  std::chrono::milliseconds op_timeout{std::chrono::minutes(30)};
};

// The group from the environment, torchrun's names: RANK, WORLD_SIZE (default 1), MASTER_ADDR,
// MASTER_PORT (required when WORLD_SIZE > 1), and LORAPLANE_COLLECTIVE_JOIN_TIMEOUT_MS,
// LORAPLANE_COLLECTIVE_OP_TIMEOUT_MS, LORAPLANE_COLLECTIVE_LOCAL_ADDR when set. Throws lp::Error
// naming the variable that is missing or malformed.
CollectiveConfig collective_config_from_env();
// Throws lp::Error unless cfg describes a group (0 <= rank < world_size, an address and a port when
// world_size > 1, positive timeouts).
void validate(const CollectiveConfig& cfg);

class Collective {
 public:
  virtual ~Collective() = default;
  virtual const char* name() const = 0;  // "single", "gloo", "nccl"
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // data (n floats, in this collective's memory: host for gloo, the device for nccl) becomes the
  // element-wise sum over the ranks, bit-identical on every rank. n may be 0.
  virtual void all_reduce_sum(float* data, size_t n) = 0;
  // data (bytes) on every rank becomes root's.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  // Returns once every rank has called it.
  virtual void barrier() = 0;
};

// World size 1: every collective returns at once (nothing to exchange).
std::unique_ptr<Collective> make_single_collective();
// Gloo over TCP, host memory. Throws lp::Error in a build without Gloo.
std::unique_ptr<Collective> make_gloo_collective(const CollectiveConfig& cfg);
// NCCL on CUDA device `device`, its work on `stream` (a cudaStream_t; nullptr: the legacy default
// stream); each call returns when its work on the stream is done. Throws lp::Error in a build
// without NCCL.
std::unique_ptr<Collective> make_nccl_collective(const CollectiveConfig& cfg, int device, void* stream);
// Whether c works on device memory (nccl) rather than host memory (single, gloo).
bool collective_uses_device_memory(const Collective& c);
// host (n host floats) becomes the sum over the ranks, whatever memory c works on: staged through
// be's memory (be: the backend the collective was made for) when c works on device memory.
void all_reduce_sum_host(Collective& c, Backend& be, float* host, size_t n);

// Which implementations this build has: "single" always, "gloo" and "nccl" when built in.
bool collective_compiled(std::string_view name);

// The collective for a model on `be`: single when world_size is 1, else gloo for the cpu backend and
// nccl (the backend's device and stream) for the cuda backend. Joins the group (blocks until every
// rank has joined or join_timeout passes).
std::unique_ptr<Collective> make_collective(Backend& be, const CollectiveConfig& cfg);

}  // namespace lp
