// Tests for the gloo collective (collective/gloo.cpp): groups of 2 and 3 ranks, each a forked process
// on localhost meeting through rank 0's TcpStore, sum known vectors exactly (sizes 0, 1, odd, and
// past gloo's 1 MiB segment) and bit-identically on every rank, broadcast and barrier; and the
// failures: a rank that never joins, a rank that joins but never calls the collective, a rank that
// dies, a rank that joins twice. Skipped in a build without Gloo.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "collective/collective.h"
#include "collective_test_util.h"
#include "test_util.h"

namespace {

using lp::testing::fingerprint;
using lp::testing::free_port;
using lp::testing::RankOutcome;
using lp::testing::run_ranks;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

#define SKIP_WITHOUT_GLOO() \
  if (!lp::collective_compiled("gloo")) GTEST_SKIP() << "built without Gloo (install libgloo-dev)"

lp::CollectiveConfig group(int rank, int world, int port, milliseconds join = milliseconds(5000),
                           milliseconds op = milliseconds(5000)) {
  lp::CollectiveConfig c;
  c.rank = rank;
  c.world_size = world;
  c.master_addr = "127.0.0.1";
  c.master_port = port;
  c.join_timeout = join;
  c.op_timeout = op;
  return c;
}

std::vector<int> iota(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

std::string describe(const std::vector<RankOutcome>& out) {
  std::ostringstream os;
  for (const auto& o : out)
    os << "\n  rank " << o.rank << (o.ok ? " ok" : (o.killed ? " killed" : " failed")) << " after " << o.seconds
       << " s: " << o.text;
  return os.str();
}

// Rank r's exactly representable values: sums of them are exact in fp32 whatever the order.
float exact_value(int rank, size_t i) { return float(rank * 1000 + int(i % 997)) + 0.5f * float(rank); }

// Rank r's arbitrary values (rounding depends on the order of the additions).
std::vector<float> random_values(int rank, size_t n) {
  std::vector<float> v(n);
  uint64_t s = 0x9e3779b97f4a7c15ull * uint64_t(rank + 1);
  for (auto& x : v) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    x = float(double(s >> 11) / double(1ull << 53) * 2.0 - 1.0) * 3.7f;
  }
  return v;
}

TEST(CollectiveGloo, AllReduceSumsExactlyAndIdenticallyOnTwoAndThreeRanks) {
  SKIP_WITHOUT_GLOO();
  const std::vector<size_t> sizes = {0, 1, 7, 1001, 262147};  // the last spans several 1 MiB segments
  for (int world : {2, 3}) {
    const int port = free_port();
    const auto out = run_ranks(
        iota(world),
        [&](int rank) {
          auto coll = lp::make_gloo_collective(group(rank, world, port));
          if (coll->rank() != rank || coll->world_size() != world || std::string(coll->name()) != "gloo")
            return std::string("wrong identity");
          std::ostringstream report;
          for (size_t n : sizes) {
            std::vector<float> v(n);
            for (size_t i = 0; i < n; ++i) v[i] = exact_value(rank, i);
            coll->all_reduce_sum(v.data(), n);
            for (size_t i = 0; i < n; ++i) {
              float want = 0;
              for (int r = 0; r < world; ++r) want += exact_value(r, i);
              if (v[i] != want) {
                std::ostringstream bad;
                bad << "n=" << n << " element " << i << " is " << v[i] << ", want " << want;
                return bad.str();
              }
            }
            std::vector<float> w = random_values(rank, n);
            coll->all_reduce_sum(w.data(), n);
            for (size_t i = 0; i < n; ++i) {
              double want = 0;
              for (int r = 0; r < world; ++r) want += random_values(r, i + 1)[i];
              if (std::fabs(w[i] - want) > 1e-4) return "random sum off at n=" + std::to_string(n);
              if (i == 64) break;  // recomputing the inputs is quadratic; the fingerprint covers the rest
            }
            report << fingerprint(w.data(), n * sizeof(float)) << " ";
          }
          // Broadcast of 13 bytes from the last rank, then a barrier.
          std::string msg = rank == world - 1 ? "from the last" : "xxxxxxxxxxxxx";
          coll->broadcast(msg.data(), msg.size(), world - 1);
          coll->barrier();
          report << msg;
          return report.str();
        },
        milliseconds(30000));
    ASSERT_EQ(out.size(), size_t(world));
    for (const auto& o : out) {
      ASSERT_TRUE(o.ok) << describe(out);
      EXPECT_EQ(o.text, out[0].text) << "ranks disagree" << describe(out);  // bit-identical sums
    }
    EXPECT_NE(out[0].text.find("from the last"), std::string::npos) << describe(out);
  }
}

TEST(CollectiveGloo, ARankThatNeverJoinsFailsTheOthersAtTheJoinTimeout) {
  SKIP_WITHOUT_GLOO();
  const int port = free_port();
  // World size 3, rank 2 never starts.
  const auto out = run_ranks(
      {0, 1},
      [&](int rank) {
        lp::make_gloo_collective(group(rank, 3, port, milliseconds(1000)));
        return std::string("joined");
      },
      milliseconds(10000));
  for (const auto& o : out) {
    ASSERT_FALSE(o.ok) << describe(out);
    EXPECT_FALSE(o.killed) << describe(out);
    EXPECT_NE(o.text.find("rank 2 did not join the group at 127.0.0.1:" + std::to_string(port) + " within 1000 ms"),
              std::string::npos)
        << describe(out);
    EXPECT_LT(o.seconds, 4.0) << describe(out);
  }
}

TEST(CollectiveGloo, ARankThatHangsFailsTheOthersAtTheOpTimeout) {
  SKIP_WITHOUT_GLOO();
  const int port = free_port();
  const auto out = run_ranks(
      {0, 1},
      [&](int rank) {
        auto coll = lp::make_gloo_collective(group(rank, 2, port, milliseconds(5000), milliseconds(1000)));
        if (rank == 1) {  // joins, then never reaches the all-reduce
          std::this_thread::sleep_for(milliseconds(3000));
          return std::string("slept");
        }
        std::vector<float> v(16, 1.0f);
        const auto t = Clock::now();
        std::string first, second;
        try {
          coll->all_reduce_sum(v.data(), v.size());
          return std::string("the all-reduce returned");
        } catch (const lp::Error& e) {
          first = e.what();
        }
        const double waited = std::chrono::duration<double>(Clock::now() - t).count();
        try {
          coll->all_reduce_sum(v.data(), v.size());
        } catch (const lp::Error& e) {
          second = e.what();
        }
        std::ostringstream os;
        os << "waited " << waited << "\n" << first << "\n" << second;
        throw lp::Error(os.str());
      },
      milliseconds(10000));
  ASSERT_EQ(out.size(), 2u);
  const RankOutcome& r0 = out[0];
  ASSERT_FALSE(r0.ok) << describe(out);
  EXPECT_NE(r0.text.find("collective gloo (rank 0 of 2): all_reduce_sum of 16 floats failed"), std::string::npos)
      << describe(out);
  EXPECT_NE(r0.text.find("op timeout (1000 ms)"), std::string::npos) << describe(out);
  EXPECT_NE(r0.text.find("unusable after a failed collective"), std::string::npos) << describe(out);
  const double waited = std::stod(r0.text.substr(r0.text.find("waited ") + 7));
  EXPECT_GE(waited, 0.9) << describe(out);
  EXPECT_LT(waited, 4.0) << describe(out);
}

TEST(CollectiveGloo, ARankThatDiesFailsTheOthersWithoutWaitingForTheTimeout) {
  SKIP_WITHOUT_GLOO();
  const int port = free_port();
  const auto out = run_ranks(
      {0, 1},
      [&](int rank) {
        auto coll = lp::make_gloo_collective(group(rank, 2, port, milliseconds(5000), milliseconds(20000)));
        if (rank == 1) ::_exit(0);  // joins, then dies
        std::vector<float> v(1000, 1.0f);
        coll->all_reduce_sum(v.data(), v.size());
        return std::string("the all-reduce returned");
      },
      milliseconds(15000));
  const RankOutcome& r0 = out[0];
  ASSERT_FALSE(r0.ok) << describe(out);
  EXPECT_FALSE(r0.killed) << describe(out);
  EXPECT_NE(r0.text.find("all_reduce_sum of 1000 floats failed"), std::string::npos) << describe(out);
  EXPECT_LT(r0.seconds, 5.0) << describe(out);
}

TEST(CollectiveGloo, ARankThatDiesWhileTheOtherSendsIsAnErrorNotASigpipe) {
  SKIP_WITHOUT_GLOO();
  const int port = free_port();
  // Rank 0 pushes 16 MiB at rank 1, which dies meanwhile: gloo's writev meets a reset connection, which
  // must surface as the collective's error (SIGPIPE ignored), not kill rank 0 silently.
  const auto out = run_ranks(
      {0, 1},
      [&](int rank) {
        auto coll = lp::make_gloo_collective(group(rank, 2, port, milliseconds(5000), milliseconds(20000)));
        if (rank == 1) {
          std::this_thread::sleep_for(milliseconds(200));
          ::_exit(0);
        }
        std::vector<float> v(size_t(4) << 20, 1.0f);
        coll->all_reduce_sum(v.data(), v.size());
        return std::string("the all-reduce returned");
      },
      milliseconds(15000));
  const RankOutcome& r0 = out[0];
  ASSERT_FALSE(r0.ok) << describe(out);
  EXPECT_NE(r0.text.find("all_reduce_sum of 4194304 floats failed"), std::string::npos) << describe(out);
  EXPECT_LT(r0.seconds, 5.0) << describe(out);
}

TEST(CollectiveGloo, ARankThatJoinsTwiceIsRefused) {
  SKIP_WITHOUT_GLOO();
  const int port = free_port();
  // Rank 1 twice (a restarted rank meeting a group that is still up): one of the two is refused at once.
  const auto out = run_ranks(
      {0, 1, 1},
      [&](int rank) {
        auto coll = lp::make_gloo_collective(group(rank, 2, port, milliseconds(5000)));
        float x = 1;
        coll->all_reduce_sum(&x, 1);
        return std::to_string(x);
      },
      milliseconds(15000));
  int refused = 0, summed = 0;
  for (const auto& o : out) {
    if (o.ok && o.text == std::to_string(2.0f)) ++summed;
    if (!o.ok && o.text.find("rank 1 has joined the group at 127.0.0.1:" + std::to_string(port) + " already") !=
                     std::string::npos)
      ++refused;
  }
  EXPECT_EQ(summed, 2) << describe(out);
  EXPECT_EQ(refused, 1) << describe(out);
}

}  // namespace
