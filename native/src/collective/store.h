// collective/store.h: the key-value store the ranks of one group meet through before they can talk
// to each other (gloo's pair addresses, NCCL's unique id), and TcpStore, the one rank 0 serves over
// TCP (gloo ships file, hash, prefix and Redis stores only). Provides Store and TcpStore.
//
// Wire format (one connection per rank, requests answered in order): the client opens with the 4
// bytes "LPS1" and the server echoes them; then each request is an op byte followed by its fields,
// strings and byte arrays as a u32 length and the bytes, integers little-endian:
//   SET    1  key value             -> u8 0
//   CREATE 2  key value             -> u8 0 (created) | 1 (was set already)
//   GET    3  key u64 timeout_ms    -> u8 0 value | u8 1 (not set within the timeout)
//   WAIT   4  u32 n key*n u64 ms    -> u32 m key*m (the keys still missing at the timeout; m = 0: all set)
#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lp {

class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const std::vector<char>& value) = 0;
  // Sets key unless it is set already; true when this call set it.
  virtual bool create(const std::string& key, const std::vector<char>& value) = 0;
  // key's value, waiting up to timeout for a rank to set it; throws lp::Error naming the key after.
  virtual std::vector<char> get(const std::string& key, std::chrono::milliseconds timeout) = 0;
  // Waits up to timeout for every key to be set; returns those still missing then (empty: all set).
  virtual std::vector<std::string> wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) = 0;
};

// Every rank connects to host:port (rank 0's address: a DNS name or an IP); with serve, this process
// first listens on port on every interface (IPv6 and IPv4) and answers the group, one thread per
// connection, until it is destroyed. Name resolution failures and refused connections are retried
// until connect_timeout (rank 0's pod may start last, or its DNS record appear late); then lp::Error
// says what the last try met. A lost connection or a store that stops answering is an lp::Error too.
// Thread-safe: requests from several threads are serialised on the one connection.
class TcpStore : public Store {
 public:
  TcpStore(const std::string& host, int port, bool serve, std::chrono::milliseconds connect_timeout);
  ~TcpStore() override;
  TcpStore(const TcpStore&) = delete;
  TcpStore& operator=(const TcpStore&) = delete;

  void set(const std::string& key, const std::vector<char>& value) override;
  bool create(const std::string& key, const std::vector<char>& value) override;
  std::vector<char> get(const std::string& key, std::chrono::milliseconds timeout) override;
  std::vector<std::string> wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;

  // The port served or connected to (serve with port 0 listens on a free one).
  int port() const { return port_; }
  // The numeric IP of this end of the connection to the store: the local address that reaches rank 0,
  // which a transport can advertise to the group.
  const std::string& local_address() const { return local_address_; }
  // "host:port", for messages.
  std::string where() const;

 private:
  struct Server;
  void send_all(const std::string& bytes);
  void recv_all(void* dst, size_t n, std::chrono::steady_clock::time_point deadline);
  std::string recv_string(std::chrono::steady_clock::time_point deadline);
  [[noreturn]] void lost(const std::string& why);

  std::unique_ptr<Server> server_;
  std::string host_;
  int port_ = 0;
  int fd_ = -1;
  std::string local_address_;
  std::mutex mutex_;  // one request at a time on fd_
};

}  // namespace lp
