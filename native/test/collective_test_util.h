// Helpers for the collective tests: a free local port, and a group of ranks run as forked processes
// (each rank its own process, as in a pod), each reporting one line of text or its error.
#pragma once
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <functional>
#include <string>
#include <vector>

namespace lp::testing {

// A TCP port nothing listens on right now (bound to 127.0.0.1:0 and released).
inline int free_port() {
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

struct RankOutcome {
  int rank = -1;
  bool ok = false;      // fn returned (text is its result) rather than threw (text is the error)
  bool killed = false;  // still running at the limit: killed
  std::string text;
  double seconds = 0;  // from the start to the process's report
};

// Forks one process per entry of `ranks` running fn(rank); "OK <result>" or "ERR <message>" comes
// back over a pipe. Processes still running after `limit` are killed.
inline std::vector<RankOutcome> run_ranks(const std::vector<int>& ranks, const std::function<std::string(int)>& fn,
                                          std::chrono::milliseconds limit) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + limit;
  struct Child {
    pid_t pid;
    int fd;
    std::string out;
    bool open = true;
  };
  std::vector<Child> children;
  for (int rank : ranks) {
    int p[2];
    if (::pipe(p) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(p[0]);
      std::string out;
      try {
        out = "OK " + fn(rank);
      } catch (const std::exception& e) {
        out = std::string("ERR ") + e.what();
      }
      const char* s = out.data();
      size_t n = out.size();
      while (n > 0) {
        const ssize_t w = ::write(p[1], s, n);
        if (w <= 0) break;
        s += w;
        n -= static_cast<size_t>(w);
      }
      ::_exit(0);  // never back into the test runner
    }
    ::close(p[1]);
    children.push_back({pid, p[0], "", true});
  }
  std::vector<RankOutcome> outcomes(children.size());
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<size_t> which;
    for (size_t i = 0; i < children.size(); ++i)
      if (children[i].open) {
        fds.push_back({children[i].fd, POLLIN, 0});
        which.push_back(i);
      }
    if (fds.empty()) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    if (::poll(fds.data(), fds.size(), static_cast<int>(left)) <= 0) continue;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Child& c = children[which[k]];
      char buf[4096];
      const ssize_t r = ::read(c.fd, buf, sizeof buf);
      if (r > 0) {
        c.out.append(buf, static_cast<size_t>(r));
      } else {
        c.open = false;
        outcomes[which[k]].seconds = std::chrono::duration<double>(Clock::now() - start).count();
      }
    }
  }
  for (size_t i = 0; i < children.size(); ++i) {
    Child& c = children[i];
    RankOutcome& o = outcomes[i];
    o.rank = ranks[i];
    if (c.open) {
      ::kill(c.pid, SIGKILL);
      o.killed = true;
      o.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    }
    ::close(c.fd);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    if (c.out.rfind("OK ", 0) == 0) {
      o.ok = true;
      o.text = c.out.substr(3);
    } else if (c.out.rfind("ERR ", 0) == 0) {
      o.text = c.out.substr(4);
    } else {
      o.text = o.killed ? "(killed at the time limit)" : "(exited without a report: " + c.out + ")";
    }
  }
  return outcomes;
}

// FNV-1a of bytes, in hex: compares buffers across processes in a line of text.
inline std::string fingerprint(const void* data, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace lp::testing
