// The NCCL collective (native/src/collective/nccl.cpp) on the GPU: a group of one on the CUDA backend's
// stream, and, on a machine with two GPUs, two ranks (processes: this binary re-executed, one GPU each;
// a forked CUDA process may not use CUDA) summing known vectors exactly, and a rank that never calls
// the all-reduce failing the other at the op timeout. NCCL refuses two ranks on one GPU, so a single
// GPU runs the first test only. Skipped in a build without NCCL.
#include <gtest/gtest.h>

#include <cuda_runtime.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "collective/collective.h"
#include "cuda/backend.h"

namespace lp {
namespace {

using std::chrono::milliseconds;

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

float exact_value(int rank, size_t i) { return float(rank * 1000 + int(i % 997)) + 0.5f * float(rank); }

// n floats of rank's exact values through the collective on be's memory; the sums back on the host.
std::vector<float> reduce_on_device(Backend& be, Collective& coll, int rank, size_t n) {
  std::vector<float> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = exact_value(rank, i);
  float* d = static_cast<float*>(be.alloc(n * sizeof(float)));
  if (n) be.to_device(d, h.data(), n * sizeof(float));
  coll.all_reduce_sum(d, n);
  if (n) be.to_host(h.data(), d, n * sizeof(float));
  be.release(d, n * sizeof(float));
  return h;
}

TEST(CollectiveNccl, AGroupOfOneOnTheBackendsStream) {
  if (!collective_compiled("nccl")) GTEST_SKIP() << "built without NCCL";
  auto be = cuda::make_cuda_backend();
  CollectiveConfig cfg;
  cfg.master_addr = "127.0.0.1";
  cfg.master_port = free_port();
  cfg.join_timeout = cfg.op_timeout = milliseconds(60000);
  int device = 0;
  ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
  auto coll = make_nccl_collective(cfg, device, cuda::context_of(*be).stream);
  EXPECT_STREQ(coll->name(), "nccl");
  for (size_t n : {size_t(0), size_t(1), size_t(1001), size_t(262147)}) {
    const std::vector<float> got = reduce_on_device(*be, *coll, 0, n);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], exact_value(0, i)) << "n " << n << " element " << i;
  }
  char msg[5] = "abcd";
  void* d = be->alloc(4);
  be->to_device(d, msg, 4);
  coll->broadcast(d, 4, 0);
  coll->barrier();
  be->to_host(msg, d, 4);
  be->release(d, 4);
  EXPECT_STREQ(msg, "abcd");
  // make_collective gives a group of one the pass-through collective.
  EXPECT_STREQ(make_collective(*be, CollectiveConfig{})->name(), "single");
}

// Runs this binary's CollectiveNcclChild test as `world` ranks (env RANK, WORLD_SIZE, ...); their
// exit statuses.
std::vector<int> spawn_ranks(int world, const std::string& mode, int limit_s) {
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      setenv("LORAPLANE_NCCL_CHILD", mode.c_str(), 1);
      const char* argv[] = {"loraplane_gpu_tests", "--gtest_filter=CollectiveNcclChild.*", nullptr};
      ::execv("/proc/self/exe", const_cast<char* const*>(argv));
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  std::vector<int> status(world, -1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limit_s);
  for (int r = 0; r < world; ++r) {
    int st = 0;
    while (::waitpid(pids[r], &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pids[r], SIGKILL);
        ::waitpid(pids[r], &st, 0);
        break;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    status[r] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  return status;
}

int device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

TEST(CollectiveNccl, TwoRanksOnTwoGpusSumExactly) {
  if (!collective_compiled("nccl")) GTEST_SKIP() << "built without NCCL";
  if (device_count() < 2) GTEST_SKIP() << "needs two GPUs (NCCL puts one rank on a GPU)";
  EXPECT_EQ(spawn_ranks(2, "sum", 120), (std::vector<int>{0, 0}));
}

TEST(CollectiveNccl, ARankThatHangsFailsTheOtherAtTheOpTimeout) {
  if (!collective_compiled("nccl")) GTEST_SKIP() << "built without NCCL";
  if (device_count() < 2) GTEST_SKIP() << "needs two GPUs (NCCL puts one rank on a GPU)";
  EXPECT_EQ(spawn_ranks(2, "hang", 120), (std::vector<int>{0, 0}));
}

// One rank of the tests above (only when spawned by them).
TEST(CollectiveNcclChild, Rank) {
  const char* mode = std::getenv("LORAPLANE_NCCL_CHILD");
  if (!mode) GTEST_SKIP() << "runs as a rank of the CollectiveNccl tests";
  CollectiveConfig cfg = collective_config_from_env();
  cfg.join_timeout = milliseconds(60000);
  cfg.op_timeout = milliseconds(std::string(mode) == "hang" ? 2000 : 60000);
  auto be = cuda::make_cuda_backend(Precision::BF16, cfg.rank);
  auto coll = make_collective(*be, cfg);
  ASSERT_STREQ(coll->name(), "nccl");
  if (std::string(mode) == "sum") {
    for (size_t n : {size_t(0), size_t(7), size_t(262147)}) {
      const std::vector<float> got = reduce_on_device(*be, *coll, cfg.rank, n);
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(got[i], exact_value(0, i) + exact_value(1, i)) << "n " << n << " element " << i;
    }
    coll->barrier();
  } else if (cfg.rank == 1) {
    std::this_thread::sleep_for(milliseconds(6000));  // joined, never reaches the all-reduce
  } else {
    const auto t = std::chrono::steady_clock::now();
    std::string err;
    try {
      reduce_on_device(*be, *coll, 0, 1000);
    } catch (const Error& e) {
      err = e.what();
    }
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    EXPECT_NE(err.find("all_reduce_sum of 1000 floats failed: timed out after 2000 ms"), std::string::npos) << err;
    EXPECT_LT(waited, 10.0);
  }
}

}  // namespace
}  // namespace lp
