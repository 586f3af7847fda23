// Tests for collective/store.h (TcpStore): set/get/create/wait between a serving store and a client,
// waits that time out naming the missing keys, a client that retries until rank 0 listens, and the
// errors for a port nobody serves, a name that does not resolve, a port that is no store and a
// store that went away. Also collective/collective.h's configuration and its world size 1.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "backend/select.h"
#include "collective/collective.h"
#include "collective/store.h"
#include "collective_test_util.h"
#include "test_util.h"

namespace {

using lp::testing::error_of;
using lp::testing::free_port;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::vector<char> bytes(const std::string& s) { return std::vector<char>(s.begin(), s.end()); }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

TEST(CollectiveStore, SetGetCreateWaitBetweenServerAndClient) {
  lp::TcpStore server("127.0.0.1", 0, /*serve=*/true, milliseconds(2000));
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(server.local_address(), "127.0.0.1");
  lp::TcpStore client("localhost", server.port(), /*serve=*/false, milliseconds(2000));

  server.set("a", bytes("hello"));
  EXPECT_EQ(client.get("a", milliseconds(100)), bytes("hello"));
  std::vector<char> binary = {'\0', '\x01', '\xff', '\0'};
  client.set("b", binary);
  EXPECT_EQ(server.get("b", milliseconds(100)), binary);
  client.set("empty", {});
  EXPECT_TRUE(server.get("empty", milliseconds(100)).empty());
  client.set("a", bytes("again"));  // set overwrites
  EXPECT_EQ(server.get("a", milliseconds(100)), bytes("again"));

  EXPECT_TRUE(client.create("once", bytes("first")));
  EXPECT_FALSE(server.create("once", bytes("second")));  // create never overwrites
  EXPECT_EQ(client.get("once", milliseconds(100)), bytes("first"));

  EXPECT_TRUE(client.wait({"a", "b", "once"}, milliseconds(100)).empty());
  const auto t = Clock::now();
  EXPECT_EQ(client.wait({"a", "x", "b", "y"}, milliseconds(200)), (std::vector<std::string>{"x", "y"}));
  EXPECT_GE(seconds_since(t), 0.19);
  EXPECT_LT(seconds_since(t), 2.0);

  const std::string err = error_of([&] { client.get("never", milliseconds(150)); });
  EXPECT_NE(err.find("key 'never' was not set within 150 ms"), std::string::npos) << err;
}

TEST(CollectiveStore, GetAndWaitReturnWhenAnotherClientSetsTheKey) {
  lp::TcpStore server("127.0.0.1", 0, true, milliseconds(2000));
  lp::TcpStore waiter("127.0.0.1", server.port(), false, milliseconds(2000));
  std::thread setter([port = server.port()] {
    lp::TcpStore other("127.0.0.1", port, false, milliseconds(2000));
    std::this_thread::sleep_for(milliseconds(150));
    other.set("late", bytes("value"));
  });
  const auto t = Clock::now();
  EXPECT_EQ(waiter.get("late", milliseconds(5000)), bytes("value"));
  EXPECT_LT(seconds_since(t), 2.0);  // woken by the set, not by the timeout
  EXPECT_TRUE(waiter.wait({"late"}, milliseconds(10)).empty());
  setter.join();
}

TEST(CollectiveStore, ClientRetriesUntilRankZeroListens) {
  const int port = free_port();
  std::string err;
  std::string got;
  std::thread client([&] {
    err = error_of([&] {
      lp::TcpStore c("127.0.0.1", port, false, milliseconds(5000));
      got = std::string(c.get("k", milliseconds(2000)).data(), 1);
    });
  });
  std::this_thread::sleep_for(milliseconds(400));
  lp::TcpStore server("127.0.0.1", port, true, milliseconds(2000));
  server.set("k", bytes("v"));
  client.join();
  EXPECT_EQ(err, "");
  EXPECT_EQ(got, "v");
}

TEST(CollectiveStore, UnreachableRankZeroFailsAtTheConnectTimeoutSayingWhy) {
  const int port = free_port();
  auto t = Clock::now();
  std::string err = error_of([&] { lp::TcpStore("127.0.0.1", port, false, milliseconds(300)); });
  EXPECT_NE(err.find("could not reach rank 0 at 127.0.0.1:" + std::to_string(port) + " within 300 ms"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("Connection refused"), std::string::npos) << err;
  EXPECT_LT(seconds_since(t), 3.0);

  t = Clock::now();
  err = error_of([&] { lp::TcpStore("no-such-host.invalid", port, false, milliseconds(300)); });
  EXPECT_NE(err.find("cannot resolve no-such-host.invalid"), std::string::npos) << err;
  EXPECT_LT(seconds_since(t), 5.0);
}

TEST(CollectiveStore, APortThatIsNoStoreIsNamed) {
  // A listener that answers like some other service and hangs up.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::thread other([fd] {
    const int c = ::accept(fd, nullptr, nullptr);
    const char reply[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    (void)!::write(c, reply, sizeof reply - 1);
    ::close(c);
  });
  const std::string err = error_of([&] { lp::TcpStore("127.0.0.1", ntohs(a.sin_port), false, milliseconds(1000)); });
  other.join();
  ::close(fd);
  EXPECT_NE(err.find("answered, but not as a loraplane rendezvous store"), std::string::npos) << err;
}

TEST(CollectiveStore, AStoreThatWentAwayIsALostConnection) {
  auto server = std::make_unique<lp::TcpStore>("127.0.0.1", 0, true, milliseconds(2000));
  lp::TcpStore client("127.0.0.1", server->port(), false, milliseconds(2000));
  client.set("k", bytes("v"));
  server.reset();
  const std::string err = error_of([&] { client.get("k", milliseconds(100)); });
  EXPECT_NE(err.find("lost rank 0's store"), std::string::npos) << err;
}

TEST(CollectiveStore, ATakenPortIsNamed) {
  lp::TcpStore first("127.0.0.1", 0, true, milliseconds(2000));
  const std::string err = error_of([&] { lp::TcpStore("127.0.0.1", first.port(), true, milliseconds(500)); });
  EXPECT_NE(err.find("cannot listen on port " + std::to_string(first.port())), std::string::npos) << err;
}

// ---------------------------------------------------------------------------------------------------

struct EnvGuard {
  std::vector<std::string> names;
  explicit EnvGuard(std::vector<std::string> n) : names(std::move(n)) {
    for (auto& x : names) unsetenv(x.c_str());
  }
  ~EnvGuard() {
    for (auto& x : names) unsetenv(x.c_str());
  }
};

TEST(CollectiveConfig, FromTheEnvironment) {
  EnvGuard env({"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LORAPLANE_COLLECTIVE_JOIN_TIMEOUT_MS",
                "LORAPLANE_COLLECTIVE_OP_TIMEOUT_MS", "LORAPLANE_COLLECTIVE_LOCAL_ADDR"});
  lp::CollectiveConfig c = lp::collective_config_from_env();
  EXPECT_EQ(c.rank, 0);
  EXPECT_EQ(c.world_size, 1);

  setenv("WORLD_SIZE", "4", 1);
  setenv("RANK", "3", 1);
  std::string err = error_of([] { lp::collective_config_from_env(); });
  EXPECT_NE(err.find("MASTER_ADDR"), std::string::npos) << err;
  setenv("MASTER_ADDR", "job-0.job", 1);
  err = error_of([] { lp::collective_config_from_env(); });
  EXPECT_NE(err.find("MASTER_PORT"), std::string::npos) << err;
  setenv("MASTER_PORT", "29500", 1);
  setenv("LORAPLANE_COLLECTIVE_OP_TIMEOUT_MS", "1500", 1);
  c = lp::collective_config_from_env();
  EXPECT_EQ(c.rank, 3);
  EXPECT_EQ(c.world_size, 4);
  EXPECT_EQ(c.master_addr, "job-0.job");
  EXPECT_EQ(c.master_port, 29500);
  EXPECT_EQ(c.op_timeout, milliseconds(1500));
  EXPECT_EQ(c.join_timeout, std::chrono::minutes(10));

  setenv("RANK", "4", 1);
  err = error_of([] { lp::collective_config_from_env(); });
  EXPECT_NE(err.find("Expected an integer in 0..3 for RANK but received \"4\""), std::string::npos) << err;
  setenv("RANK", "1x", 1);
  err = error_of([] { lp::collective_config_from_env(); });
  EXPECT_NE(err.find("for RANK but received \"1x\""), std::string::npos) << err;
}

TEST(CollectiveConfig, ValidateNamesTheField) {
  lp::CollectiveConfig c;
  c.world_size = 2;
  c.rank = 2;
  EXPECT_NE(error_of([&] { lp::validate(c); }).find("rank must be in 0..1 but is 2"), std::string::npos);
  c.rank = 1;
  EXPECT_NE(error_of([&] { lp::validate(c); }).find("master_addr"), std::string::npos);
  c.master_addr = "x";
  EXPECT_NE(error_of([&] { lp::validate(c); }).find("master_port must be 1..65535 but is 0"), std::string::npos);
  c.master_port = 1;
  EXPECT_EQ(error_of([&] { lp::validate(c); }), "");
}

TEST(CollectiveSingle, WorldSizeOnePassesThrough) {
  auto be = lp::make_backend(lp::BackendKind::Cpu);
  lp::CollectiveConfig cfg;  // rank 0 of 1, no address needed
  auto coll = lp::make_collective(*be, cfg);
  EXPECT_STREQ(coll->name(), "single");
  EXPECT_EQ(coll->rank(), 0);
  EXPECT_EQ(coll->world_size(), 1);
  std::vector<float> v = {1.5f, -2.0f, 3.25f};
  coll->all_reduce_sum(v.data(), v.size());
  EXPECT_EQ(v, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  coll->all_reduce_sum(nullptr, 0);
  coll->broadcast(v.data(), sizeof(float) * v.size(), 0);
  coll->barrier();
  EXPECT_NE(error_of([&] { coll->broadcast(v.data(), 4, 1); }).find("root 1 is no rank of a group of 1"),
            std::string::npos);
  EXPECT_TRUE(lp::collective_compiled("single"));
  EXPECT_FALSE(lp::collective_compiled("mpi"));
}

}  // namespace
