// collective/tcp_store.cpp: TcpStore (collective/store.h), its server (rank 0) and its client.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <thread>

#include "collective/store.h"
#include "core/check.h"

namespace lp {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kMagic[4] = {'L', 'P', 'S', '1'};
enum Op : uint8_t { kSet = 1, kCreate = 2, kGet = 3, kWait = 4 };
constexpr uint32_t kMaxKey = 4096;
constexpr uint32_t kMaxValue = 64u << 20;
constexpr uint32_t kMaxKeys = 1u << 20;
// A reply may take the request's own timeout; past that plus this grace the store is declared gone.
constexpr milliseconds kReplyGrace{30000};

std::string errno_text(int err) { return std::strerror(err); }

// Numeric "ip" (or "[ip6]") and port of a socket address.
std::string numeric_host(const sockaddr* sa, socklen_t len) {
  char host[NI_MAXHOST] = {0};
  if (getnameinfo(sa, len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) return "?";
  return host;
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_bytes(std::string& out, const char* p, size_t n) {
  put_u32(out, static_cast<uint32_t>(n));
  out.append(p, n);
}
uint32_t get_u32(const unsigned char* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// Blocking full write; false when the peer is gone. MSG_NOSIGNAL: a closed peer must not SIGPIPE the
// process (the trainer runs inside Node).
bool write_full(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Blocking full read (the server side: a client thread waits for its client's next request).
bool read_full(int fd, void* dst, size_t n) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void set_nodelay(int fd) {
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Server: one thread accepting, one per connection; the keys in a map under one mutex, a condition
// variable for the waits.

struct TcpStore::Server {
  int listen_fd = -1;
  std::atomic<bool> stopping{false};
  std::mutex m;
  std::condition_variable cv;
  std::map<std::string, std::vector<char>> data;
  int busy = 0;  // requests being answered (under m); the destructor lets them finish
  std::condition_variable idle;
  std::thread acceptor;
  std::mutex clients_m;
  std::vector<int> client_fds;
  std::vector<std::thread> client_threads;

  explicit Server(int port);
  ~Server();
  int bound_port() const;
  void accept_loop();
  void serve(int fd);
  bool handle(int fd);
  bool all_set(const std::vector<std::string>& keys, std::vector<std::string>* missing);
};

TcpStore::Server::Server(int port) {
  // Dual-stack where the kernel has IPv6, IPv4 alone where it does not.
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = -1;
  if (fd >= 0) {
    int on = 1, off = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (rc != 0 && errno != EADDRNOTAVAIL && errno != EAFNOSUPPORT) {
      const int err = errno;
      ::close(fd);
      LP_CHECK(false, "rendezvous store: rank 0 cannot listen on port " << port << ": " << errno_text(err));
    }
    if (rc != 0) ::close(fd);
  }
  if (rc != 0) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    LP_CHECK(fd >= 0, "rendezvous store: socket: " << errno_text(errno));
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      const int err = errno;
      ::close(fd);
      LP_CHECK(false, "rendezvous store: rank 0 cannot listen on port " << port << ": " << errno_text(err));
    }
  }
  if (::listen(fd, 128) != 0) {
    const int err = errno;
    ::close(fd);
    LP_CHECK(false, "rendezvous store: listen on port " << port << ": " << errno_text(err));
  }
  listen_fd = fd;
  acceptor = std::thread([this] { accept_loop(); });
}

TcpStore::Server::~Server() {
  stopping = true;
  ::shutdown(listen_fd, SHUT_RDWR);  // wakes accept()
  {
    // Wakes GET/WAIT requests blocked on keys; they answer with what is set now (a client waiting for
    // a rank that never came learns which, rather than that rank 0 left), bounded by a second.
    std::unique_lock<std::mutex> lock(m);
    cv.notify_all();
    idle.wait_for(lock, milliseconds(1000), [&] { return busy == 0; });
  }
  if (acceptor.joinable()) acceptor.join();
  ::close(listen_fd);
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(clients_m);
    for (int fd : client_fds) ::shutdown(fd, SHUT_RDWR);  // wakes reads
    threads.swap(client_threads);
  }
  for (auto& t : threads) t.join();
}

int TcpStore::Server::bound_port() const {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
  return a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port)
                                 : ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

void TcpStore::Server::accept_loop() {
  while (!stopping) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (stopping) return;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        std::this_thread::sleep_for(milliseconds(50));
        continue;
      }
      return;
    }
    set_nodelay(fd);
    std::lock_guard<std::mutex> lock(clients_m);
    if (stopping) {
      ::close(fd);
      return;
    }
    client_fds.push_back(fd);
    client_threads.emplace_back([this, fd] { serve(fd); });
  }
}

void TcpStore::Server::serve(int fd) {
  char magic[4];
  if (read_full(fd, magic, 4) && std::memcmp(magic, kMagic, 4) == 0 && write_full(fd, kMagic, 4)) {
    while (!stopping && handle(fd)) {
    }
  }
  // Not a loraplane store client, or it hung up: drop the connection (under the lock, so the
  // destructor never shuts down a reused descriptor).
  std::lock_guard<std::mutex> lock(clients_m);
  client_fds.erase(std::find(client_fds.begin(), client_fds.end(), fd));
  ::close(fd);
}

bool TcpStore::Server::all_set(const std::vector<std::string>& keys, std::vector<std::string>* missing) {
  if (missing) missing->clear();
  bool all = true;
  for (const auto& k : keys) {
    if (data.count(k)) continue;
    all = false;
    if (!missing) break;
    missing->push_back(k);
  }
  return all;
}

// One request; false when the connection is done (closed, or a malformed request).
bool TcpStore::Server::handle(int fd) {
  auto read_u32 = [&](uint32_t& v) {
    unsigned char b[4];
    if (!read_full(fd, b, 4)) return false;
    v = get_u32(b);
    return true;
  };
  auto read_u64 = [&](uint64_t& v) {
    unsigned char b[8];
    if (!read_full(fd, b, 8)) return false;
    v = get_u64(b);
    return true;
  };
  auto read_str = [&](std::string& s, uint32_t limit) {
    uint32_t n = 0;
    if (!read_u32(n) || n > limit) return false;
    s.resize(n);
    return n == 0 || read_full(fd, s.data(), n);
  };
  // Waits (bounded by the request's timeout and the server's life) until keys are all set.
  auto wait_keys = [&](std::unique_lock<std::mutex>& lock, const std::vector<std::string>& keys, uint64_t ms) {
    const auto deadline = Clock::now() + milliseconds(std::min<uint64_t>(ms, uint64_t(1) << 40));
    cv.wait_until(lock, deadline, [&] { return stopping || all_set(keys, nullptr); });
  };

  unsigned char op = 0;
  if (!read_full(fd, &op, 1)) return false;
  struct Busy {
    Server& s;
    explicit Busy(Server& server) : s(server) {
      std::lock_guard<std::mutex> lock(s.m);
      ++s.busy;
    }
    ~Busy() {
      std::lock_guard<std::mutex> lock(s.m);
      if (--s.busy == 0) s.idle.notify_all();
    }
  } busy_guard(*this);
  std::string reply;
  switch (op) {
    case kSet:
    case kCreate: {
      std::string key, value;
      if (!read_str(key, kMaxKey) || !read_str(value, kMaxValue)) return false;
      bool created = false;
      {
        std::lock_guard<std::mutex> lock(m);
        auto it = data.find(key);
        if (it == data.end()) {
          data.emplace(key, std::vector<char>(value.begin(), value.end()));
          created = true;
        } else if (op == kSet) {
          it->second.assign(value.begin(), value.end());
        }
        cv.notify_all();
      }
      reply.push_back(op == kCreate && !created ? 1 : 0);
      break;
    }
    case kGet: {
      std::string key;
      uint64_t ms = 0;
      if (!read_str(key, kMaxKey) || !read_u64(ms)) return false;
      std::unique_lock<std::mutex> lock(m);
      wait_keys(lock, {key}, ms);
      auto it = data.find(key);
      if (it == data.end()) {
        reply.push_back(1);
      } else {
        reply.push_back(0);
        put_bytes(reply, it->second.data(), it->second.size());
      }
      break;
    }
    case kWait: {
      uint32_t n = 0;
      if (!read_u32(n) || n > kMaxKeys) return false;
      std::vector<std::string> keys(n);
      for (auto& k : keys)
        if (!read_str(k, kMaxKey)) return false;
      uint64_t ms = 0;
      if (!read_u64(ms)) return false;
      std::vector<std::string> missing;
      {
        std::unique_lock<std::mutex> lock(m);
        wait_keys(lock, keys, ms);
        all_set(keys, &missing);
      }
      put_u32(reply, static_cast<uint32_t>(missing.size()));
      for (const auto& k : missing) put_bytes(reply, k.data(), k.size());
      break;
    }
    default:
      return false;
  }
  return write_full(fd, reply.data(), reply.size());
}

// ---------------------------------------------------------------------------------------------------
// Client.

namespace {

// One try at host:port within `budget`: a connected blocking socket, or -1 with `error` set.
int try_connect(const std::string& host, int port, milliseconds budget, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int gai = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (gai != 0) {
    error = "cannot resolve " + host + ": " + gai_strerror(gai);
    return -1;
  }
  const auto deadline = Clock::now() + budget;
  int result = -1;
  for (addrinfo* ai = res; ai && result < 0; ai = ai->ai_next) {
    const std::string addr = numeric_host(ai->ai_addr, ai->ai_addrlen);
    const int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = "socket: " + errno_text(errno);
      continue;
    }
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const int ready = ::poll(&p, 1, std::max(1, remaining_ms(deadline)));
      if (ready <= 0) {
        err = ready == 0 ? ETIMEDOUT : errno;
      } else {
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
    if (err == 0) {
      // A connection to a free ephemeral port of this host can "succeed" by connecting to itself
      // (TCP simultaneous open); that is no server.
      sockaddr_storage self{}, peer{};
      socklen_t sl = sizeof self, pl = sizeof peer;
      getsockname(fd, reinterpret_cast<sockaddr*>(&self), &sl);
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl);
      if (sl == pl && std::memcmp(&self, &peer, sl) == 0) err = ECONNREFUSED;
    }
    if (err != 0) {
      error = "connect to " + addr + " port " + service + ": " + errno_text(err);
      ::close(fd);
      continue;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    set_nodelay(fd);
    result = fd;
  }
  freeaddrinfo(res);
  return result;
}

}  // namespace

TcpStore::TcpStore(const std::string& host, int port, bool serve, milliseconds connect_timeout)
    : host_(host), port_(port) {
  LP_CHECK(!host.empty(), "rendezvous store: rank 0's address (host) is empty");
  LP_CHECK(port >= (serve ? 0 : 1) && port <= 65535, "rendezvous store: port must be 1..65535 but is " << port);
  LP_CHECK(connect_timeout.count() > 0, "rendezvous store: the connect timeout must be positive");
  if (serve) {
    server_ = std::make_unique<Server>(port);
    port_ = server_->bound_port();
  }
  const auto deadline = Clock::now() + connect_timeout;
  std::string error;
  milliseconds backoff(20);
  for (;;) {
    fd_ = try_connect(host_, port_,
                      std::min<milliseconds>(milliseconds(5000), milliseconds(remaining_ms(deadline) + 1)), error);
    if (fd_ >= 0) break;
    if (Clock::now() >= deadline)
      LP_CHECK(false, "rendezvous store: could not reach rank 0 at " << where() << " within " << connect_timeout.count()
                                                                     << " ms (last try: " << error << ")");
    std::this_thread::sleep_for(std::min<milliseconds>(backoff, milliseconds(remaining_ms(deadline) + 1)));
    backoff = std::min<milliseconds>(backoff * 2, milliseconds(1000));
  }
  sockaddr_storage self{};
  socklen_t sl = sizeof self;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&self), &sl);
  local_address_ = numeric_host(reinterpret_cast<sockaddr*>(&self), sl);

  // Handshake: whatever answers on that port must be a loraplane store.
  char magic[4] = {0};
  try {
    send_all(std::string(kMagic, 4));
    recv_all(magic, 4, Clock::now() + std::max<milliseconds>(connect_timeout, kReplyGrace));
  } catch (const Error&) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
  if (std::memcmp(magic, kMagic, 4) != 0) {
    ::close(fd_);
    fd_ = -1;
    LP_CHECK(false, "rendezvous store: " << where() << " answered, but not as a loraplane rendezvous store");
  }
}

TcpStore::~TcpStore() {
  if (fd_ >= 0) ::close(fd_);
  server_.reset();
}

std::string TcpStore::where() const { return host_ + ":" + std::to_string(port_); }

void TcpStore::lost(const std::string& why) {
  LP_CHECK(false, "rendezvous store: lost rank 0's store at " << where() << " (" << why << "); did rank 0 exit?");
}

void TcpStore::send_all(const std::string& bytes) {
  if (!write_full(fd_, bytes.data(), bytes.size())) lost("send: " + errno_text(errno));
}

void TcpStore::recv_all(void* dst, size_t n, Clock::time_point deadline) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) LP_CHECK(false, "rendezvous store: rank 0's store at " << where() << " did not answer in time");
    const ssize_t r = ::recv(fd_, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) lost("connection closed");
    if (r < 0) lost("recv: " + errno_text(errno));
    p += r;
    n -= static_cast<size_t>(r);
  }
}

std::string TcpStore::recv_string(Clock::time_point deadline) {
  unsigned char b[4];
  recv_all(b, 4, deadline);
  const uint32_t n = get_u32(b);
  if (n > kMaxValue) lost("malformed reply");
  std::string s(n, '\0');
  if (n) recv_all(s.data(), n, deadline);
  return s;
}

void TcpStore::set(const std::string& key, const std::vector<char>& value) {
  LP_CHECK(key.size() <= kMaxKey && value.size() <= kMaxValue,
           "rendezvous store: key '" << key << "' or its value (" << value.size() << " bytes) too large");
  std::lock_guard<std::mutex> lock(mutex_);
  std::string req(1, char(kSet));
  put_bytes(req, key.data(), key.size());
  put_bytes(req, value.data(), value.size());
  send_all(req);
  unsigned char status = 0;
  recv_all(&status, 1, Clock::now() + kReplyGrace);
}

bool TcpStore::create(const std::string& key, const std::vector<char>& value) {
  LP_CHECK(key.size() <= kMaxKey && value.size() <= kMaxValue,
           "rendezvous store: key '" << key << "' or its value (" << value.size() << " bytes) too large");
  std::lock_guard<std::mutex> lock(mutex_);
  std::string req(1, char(kCreate));
  put_bytes(req, key.data(), key.size());
  put_bytes(req, value.data(), value.size());
  send_all(req);
  unsigned char status = 0;
  recv_all(&status, 1, Clock::now() + kReplyGrace);
  return status == 0;
}

std::vector<char> TcpStore::get(const std::string& key, milliseconds timeout) {
  LP_CHECK(key.size() <= kMaxKey, "rendezvous store: key too large (" << key.size() << " bytes)");
  std::lock_guard<std::mutex> lock(mutex_);
  std::string req(1, char(kGet));
  put_bytes(req, key.data(), key.size());
  put_u64(req, static_cast<uint64_t>(std::max<long long>(timeout.count(), 0)));
  send_all(req);
  const auto deadline = Clock::now() + timeout + kReplyGrace;
  unsigned char status = 0;
  recv_all(&status, 1, deadline);
  LP_CHECK(status == 0, "rendezvous store: key '" << key << "' was not set within " << timeout.count() << " ms (store "
                                                  << where() << ")");
  const std::string v = recv_string(deadline);
  return std::vector<char>(v.begin(), v.end());
}

std::vector<std::string> TcpStore::wait(const std::vector<std::string>& keys, milliseconds timeout) {
  LP_CHECK(keys.size() <= kMaxKeys, "rendezvous store: too many keys (" << keys.size() << ")");
  std::lock_guard<std::mutex> lock(mutex_);
  std::string req(1, char(kWait));
  put_u32(req, static_cast<uint32_t>(keys.size()));
  for (const auto& k : keys) {
    LP_CHECK(k.size() <= kMaxKey, "rendezvous store: key too large (" << k.size() << " bytes)");
    put_bytes(req, k.data(), k.size());
  }
  put_u64(req, static_cast<uint64_t>(std::max<long long>(timeout.count(), 0)));
  send_all(req);
  const auto deadline = Clock::now() + timeout + kReplyGrace;
  unsigned char b[4];
  recv_all(b, 4, deadline);
  const uint32_t m = get_u32(b);
  if (m > keys.size()) lost("malformed reply");
  std::vector<std::string> missing(m);
  for (auto& k : missing) k = recv_string(deadline);
  return missing;
}

}  // namespace lp
