// TlsSocket's handover of established TLS 1.3 connections to Tls13Records, against OpenSSL as
// the peer (blocking, on its own thread): as a client, data both ways in records of every size,
// padded records, key updates with and without a requested answer, close_notify, a TCP close,
// and the connections that keep their SSL object (TLS 1.2, a context without the handover); as
// a server, the same data, key updates and close_notify, writes gathered from many buffers into
// batches of records, and a context that sends session tickets keeping its SSL object.
#include "net/tls_socket.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/http_client.h"
#include "net/tls13_records.h"
#include "test/testing/test_pki.h"

namespace net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::vector<uint8_t> Hex(std::string_view hex) {
  std::vector<uint8_t> out;
  std::string digits;
  for (char c : hex)
    if (c != ' ') digits += c;
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return out;
}

std::string Pattern(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7 % 251);
  return s;
}

// The two ends of a connection's record protection with made-up secrets: `client` seals what
// `server` opens.
struct RecordEnds {
  std::optional<Tls13Records> client, server;
};
RecordEnds MakeRecordEnds(Tls13Suite suite, uint8_t client_fill, uint8_t server_fill) {
  std::vector<uint8_t> a(Tls13SecretSize(suite), client_fill);
  std::vector<uint8_t> b(Tls13SecretSize(suite), server_fill);
  return {Tls13Records::Create(suite, a, b), Tls13Records::Create(suite, b, a)};
}

// `data` sealed by `from` as one application-data record (empty if sealing fails).
std::vector<uint8_t> SealRecord(Tls13Records& from, std::string_view data) {
  std::vector<uint8_t> record(Tls13Records::kHeaderSize + data.size() +
                              Tls13Records::kSealOverhead);
  std::size_t size = 0;
  if (from.Seal(Tls13Records::kApplicationData,
                std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
                record.data(), &size) ||
      size != record.size()) {
    return {};
  }
  return record;
}

constexpr Tls13Suite kSuites[] = {Tls13Suite::kAes128GcmSha256, Tls13Suite::kAes256GcmSha384,
                                  Tls13Suite::kChaCha20Poly1305Sha256};

// RFC 8448 section 3 (Simple 1-RTT Handshake): the server's application traffic secret and the
// write key and IV derived from it with TLS_AES_128_GCM_SHA256.
TEST(Tls13RecordsTest, DerivesRfc8448ApplicationKeys) {
  auto secret =
      Hex("a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f "
          "1f 3f cb 63 16 43");
  std::vector<uint8_t> key(16), iv(12);
  ASSERT_TRUE(Tls13ExpandLabel(Tls13Suite::kAes128GcmSha256, secret, "key", key));
  ASSERT_TRUE(Tls13ExpandLabel(Tls13Suite::kAes128GcmSha256, secret, "iv", iv));
  EXPECT_EQ(key, Hex("9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56"));
  EXPECT_EQ(iv, Hex("cf 78 2b 88 dd 83 54 9a ad f1 e9 84"));
}

TEST(Tls13RecordsTest, OpensWhatThePeerSealedAndRejectsTamperingAndReordering) {
  for (Tls13Suite suite : kSuites) {
    auto [client, server] = MakeRecordEnds(suite, 0x11, 0x22);
    ASSERT_TRUE(client && server);
    EXPECT_FALSE(Tls13Records::Create(suite, std::vector<uint8_t>(5),
                                      std::vector<uint8_t>(Tls13SecretSize(suite), 0x22)));

    std::vector<uint8_t> wire;
    std::vector<std::size_t> sizes;
    for (std::size_t n :
         {std::size_t{0}, std::size_t{1}, std::size_t{1000}, Tls13Records::kMaxPlaintext}) {
      std::vector<uint8_t> record = SealRecord(*client, Pattern(n, 'a'));
      ASSERT_FALSE(record.empty());
      std::size_t parsed = 0;
      ASSERT_FALSE(Tls13Records::RecordSize(record, &parsed));
      EXPECT_EQ(parsed, record.size());
      wire.insert(wire.end(), record.begin(), record.end());
      sizes.push_back(record.size());
    }
    // Opened in order they give back the data; the copy below is reused for tampering.
    std::vector<uint8_t> copy = wire;
    std::size_t at = 0;
    std::size_t i = 0;
    for (std::size_t n :
         {std::size_t{0}, std::size_t{1}, std::size_t{1000}, Tls13Records::kMaxPlaintext}) {
      Tls13Records::Opened opened;
      ASSERT_FALSE(server->Open(std::span(wire.data() + at, sizes[i]), &opened));
      EXPECT_EQ(opened.type, Tls13Records::kApplicationData);
      EXPECT_EQ(std::string(opened.data.begin(), opened.data.end()), Pattern(n, 'a'));
      at += sizes[i++];
    }
    EXPECT_EQ(server->read_sequence(), 4u);

    // A flipped bit anywhere in the record, or a record opened out of order, is rejected.
    auto fresh = MakeRecordEnds(suite, 0x11, 0x22).server;
    std::vector<uint8_t> flipped(copy.begin(), copy.begin() + sizes[0] + sizes[1]);
    flipped[sizes[0] + Tls13Records::kHeaderSize] ^= 1;
    Tls13Records::Opened opened;
    ASSERT_FALSE(fresh->Open(std::span(flipped.data(), sizes[0]), &opened));
    auto ec = fresh->Open(std::span(flipped.data() + sizes[0], sizes[1]), &opened);
    EXPECT_EQ(ec.message(), "decryption failed or bad record mac (SSL routines)");
    auto skipping = MakeRecordEnds(suite, 0x11, 0x22).server;
    EXPECT_TRUE(skipping->Open(std::span(copy.data() + sizes[0], sizes[1]), &opened));

    // After both sides update their keys, records still open; one side alone: they do not.
    ASSERT_TRUE(client->UpdateWriteKeys());
    std::vector<uint8_t> record = SealRecord(*client, "abc");
    ASSERT_FALSE(record.empty());
    std::vector<uint8_t> again = record;
    EXPECT_TRUE(fresh->Open(record, &opened));  // old keys
    ASSERT_TRUE(server->UpdateReadKeys());
    ASSERT_FALSE(server->Open(again, &opened));
    EXPECT_EQ(std::string(opened.data.begin(), opened.data.end()), "abc");
  }
}

TEST(Tls13RecordsTest, OpensIntoAnotherBufferLeavingTheRecordAsItWas) {
  for (Tls13Suite suite : kSuites) {
    auto [client, server] = MakeRecordEnds(suite, 0x33, 0x44);
    ASSERT_TRUE(client && server);
    for (std::size_t n : {std::size_t{0}, std::size_t{7}, Tls13Records::kMaxPlaintext}) {
      const std::string data = Pattern(n, 'o');
      std::vector<uint8_t> record = SealRecord(*client, data);
      ASSERT_FALSE(record.empty());
      ASSERT_EQ(Tls13Records::InnerSize(record), n + 1);
      const std::vector<uint8_t> sealed = record;
      std::vector<uint8_t> out(Tls13Records::InnerSize(record), 0xff);
      Tls13Records::Opened opened;
      ASSERT_FALSE(server->Open(record, out.data(), &opened));
      EXPECT_EQ(opened.type, Tls13Records::kApplicationData);
      EXPECT_EQ(opened.data.data(), out.data());
      EXPECT_EQ(std::string(opened.data.begin(), opened.data.end()), data);
      EXPECT_EQ(record, sealed);
    }
    // A tampered record fails the same way out of place.
    std::vector<uint8_t> record = SealRecord(*client, "abc");
    ASSERT_FALSE(record.empty());
    record.back() ^= 0x80;
    std::vector<uint8_t> out(Tls13Records::InnerSize(record));
    Tls13Records::Opened opened;
    EXPECT_EQ(server->Open(record, out.data(), &opened).message(),
              "decryption failed or bad record mac (SSL routines)");
  }
}

// Records of connections under different keys (and suites), sealed and opened interleaved on
// one thread, as a scraper reads many kubelets: each opens under its own keys, a tampered record
// between them changes nothing for the next, and records after a key update open.
TEST(Tls13RecordsTest, ConnectionsUnderDifferentKeysSealAndOpenInterleaved) {
  std::vector<RecordEnds> pairs;
  for (Tls13Suite suite : kSuites) {
    for (uint8_t fill : {uint8_t{0x51}, uint8_t{0x52}}) {
      pairs.push_back(MakeRecordEnds(suite, fill, static_cast<uint8_t>(fill + 0x10)));
      ASSERT_TRUE(pairs.back().client && pairs.back().server);
    }
  }
  for (int round = 0; round < 4; ++round) {
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      RecordEnds& p = pairs[i];
      if (round == 2 && i % 2 == 0) {
        ASSERT_TRUE(p.client->UpdateWriteKeys());
        ASSERT_TRUE(p.server->UpdateReadKeys());
      }
      const std::string data = "pair" + std::to_string(i) + ":" + Pattern(100 + round * 1000, 'k');
      std::vector<uint8_t> record = SealRecord(*p.client, data);
      ASSERT_FALSE(record.empty());
      if (round == 1 && i % 2 == 1) {
        // Rejected without advancing the sequence: the intact record opens after it.
        std::vector<uint8_t> tampered = record;
        tampered[Tls13Records::kHeaderSize + 4] ^= 0x01;
        Tls13Records::Opened opened;
        EXPECT_EQ(p.server->Open(tampered, &opened).message(),
                  "decryption failed or bad record mac (SSL routines)");
      }
      std::vector<uint8_t> out(Tls13Records::InnerSize(record));
      Tls13Records::Opened opened;
      ASSERT_FALSE(p.server->Open(record, out.data(), &opened))
          << "round " << round << ", pair " << i;
      EXPECT_EQ(std::string(opened.data.begin(), opened.data.end()), data);
    }
  }
  // A record sealed for one connection does not open on another.
  std::vector<uint8_t> record = SealRecord(*pairs[0].client, "x");
  Tls13Records::Opened opened;
  EXPECT_TRUE(pairs[1].server->Open(record, &opened));
}

TEST(Tls13RecordsTest, RejectsRecordsThatAreNotProtectedOrTooLong) {
  std::size_t size = 0;
  const uint8_t alert[] = {21, 3, 3, 0, 2};
  EXPECT_EQ(Tls13Records::RecordSize(alert, &size).message(), "unexpected record (SSL routines)");
  const uint8_t huge[] = {23, 3, 3, 0x41, 0x01};  // 16,641 > 2^14 + 256
  EXPECT_EQ(Tls13Records::RecordSize(huge, &size).message(),
            "encrypted length too long (SSL routines)");
  const uint8_t largest[] = {23, 3, 3, 0x41, 0x00};
  EXPECT_FALSE(Tls13Records::RecordSize(largest, &size));
  EXPECT_EQ(size, 5u + 16640u);
}

// A blocking OpenSSL server for one connection, running `script` on its own thread.
class OpenSslServer {
 public:
  OpenSslServer(const net::CertAndKey& cert, int max_version,
                std::function<void(SSL*, int fd)> script)
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_max_proto_version(ctx_, max_version);
    SSL_CTX_set_block_padding(ctx_, 512);  // padded records, which the client must strip
    BIO* bio = BIO_new_mem_buf(cert.cert_pem.data(), static_cast<int>(cert.cert_pem.size()));
    X509* x509 = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    bio = BIO_new_mem_buf(cert.key_pem.data(), static_cast<int>(cert.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx_, x509), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx_, key), 1);
    X509_free(x509);
    EVP_PKEY_free(key);
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, script = std::move(script)] {
      tcp::socket s(io_);
      acceptor_.accept(s);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, s.native_handle());
      if (SSL_accept(ssl) == 1) script(ssl, s.native_handle());
      SSL_free(ssl);
    });
  }
  ~OpenSslServer() {
    thread_.join();
    SSL_CTX_free(ctx_);
  }
  uint16_t port() const { return port_; }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  SSL_CTX* ctx_ = nullptr;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::string ServerRead(SSL* ssl, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    std::size_t k = 0;
    if (SSL_read_ex(ssl, out.data() + got, n - got, &k) != 1) break;
    got += k;
  }
  out.resize(got);
  return out;
}

void ServerWrite(SSL* ssl, std::string_view data) {
  std::size_t k = 0;
  EXPECT_EQ(SSL_write_ex(ssl, data.data(), data.size(), &k), 1);
}

class TlsSocketTest : public ::testing::Test {
 protected:
  std::shared_ptr<asio::ssl::context> ClientContext() {
    TlsClientConfig config;
    config.ca_file = pki_.ca_file();
    auto ctx = MakeClientContext(config);
    EXPECT_TRUE(ctx.ok());
    return *ctx;
  }

  std::unique_ptr<TlsSocket> Connect(uint16_t port, asio::ssl::context& ctx) {
    tcp::socket s(io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    auto socket = std::make_unique<TlsSocket>(std::move(s), ctx);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(socket->native_handle()), "127.0.0.1");
    boost::system::error_code result = asio::error::would_block;
    socket->async_handshake([&](boost::system::error_code ec, std::size_t) { result = ec; });
    Run();
    EXPECT_FALSE(result) << result.message();
    return socket;
  }

  void Run() {
    io_.restart();
    io_.run();
  }

  boost::system::error_code Write(TlsSocket& s, std::string_view data) {
    boost::system::error_code result = asio::error::would_block;
    asio::async_write(s, asio::buffer(data),
                      [&](boost::system::error_code ec, std::size_t) { result = ec; });
    Run();
    return result;
  }

  // Reads exactly n bytes (or up to the error); with `some`, what one read_some into a buffer of
  // n bytes gives.
  std::string Read(TlsSocket& s, std::size_t n, boost::system::error_code* error = nullptr,
                   bool some = false) {
    std::string out(n, '\0');
    boost::system::error_code result = asio::error::would_block;
    std::size_t got = 0;
    auto done = [&](boost::system::error_code ec, std::size_t k) {
      result = ec;
      got = k;
    };
    if (some) {
      s.async_read_some(asio::buffer(out), done);
    } else {
      asio::async_read(s, asio::buffer(out), done);
    }
    Run();
    out.resize(got);
    if (error != nullptr) *error = result;
    return out;
  }
  std::string ReadSome(TlsSocket& s, std::size_t capacity,
                       boost::system::error_code* error = nullptr) {
    return Read(s, capacity, error, /*some=*/true);
  }

  testing_support::TestPki pki_;
  asio::io_context io_;
};

TEST_F(TlsSocketTest, HandedOverConnectionCarriesDataKeyUpdatesAndCloseNotify) {
  const std::string up = Pattern(40'000, 'u');     // three records from the client
  const std::string down = Pattern(100'000, 'd');  // seven padded records from the server
  OpenSslServer server(pki_.ServerCert(), TLS1_3_VERSION, [&](SSL* ssl, int) {
    EXPECT_EQ(ServerRead(ssl, 5), "hello");
    ServerWrite(ssl, "world");  // after the two session tickets OpenSSL sends
    EXPECT_EQ(ServerRead(ssl, up.size()), up);
    ServerWrite(ssl, down);
    // A key update asking for the client's: its next record only opens if it answered.
    EXPECT_EQ(SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED), 1);
    ServerWrite(ssl, "after-update");
    EXPECT_EQ(ServerRead(ssl, 3), "ack");
    EXPECT_EQ(SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    ServerWrite(ssl, "second");
    EXPECT_EQ(ServerRead(ssl, 4), "bye!");
    ServerWrite(ssl, "last");
    SSL_shutdown(ssl);
  });
  auto ctx = ClientContext();
  auto socket = Connect(server.port(), *ctx);
  ASSERT_TRUE(socket->ok());
  EXPECT_FALSE(socket->handed_over());

  ASSERT_FALSE(Write(*socket, "hello"));
  EXPECT_EQ(Read(*socket, 5), "world");
  ASSERT_TRUE(socket->Handover());
  EXPECT_EQ(socket->native_handle(), nullptr);
  // The session, kept as bytes, decodes into a resumable one (the resumption itself is
  // HttpClientTest's).
  TlsSession session = socket->TakeSession();
  ASSERT_FALSE(session.empty());
  EXPECT_TRUE(session.encoded());
  EXPECT_LT(session.size(), 2048u);
  SSL* probe = SSL_new(ctx->native_handle());
  ASSERT_NE(probe, nullptr);
  EXPECT_TRUE(session.ApplyTo(probe));
  ASSERT_NE(SSL_get0_session(probe), nullptr);
  EXPECT_EQ(SSL_SESSION_is_resumable(SSL_get0_session(probe)), 1);
  SSL_free(probe);
  EXPECT_TRUE(socket->TakeSession().empty()) << "moved out";

  ASSERT_FALSE(Write(*socket, up));
  // Records whose plaintext fits in what is left of the buffer are decrypted into it, the last
  // one (1,696 bytes padded to 2,048) is not and comes a piece at a time.
  EXPECT_EQ(Read(*socket, down.size()), down);
  // One read into a buffer larger than the padded records: the key update is decrypted into
  // the caller's buffer, taken in, and overwritten by the data after it.
  EXPECT_EQ(ReadSome(*socket, 4096), "after-update");
  ASSERT_FALSE(Write(*socket, "ack"));
  EXPECT_EQ(Read(*socket, 6), "second");  // padded to 512: opened in place, then copied
  ASSERT_FALSE(Write(*socket, "bye!"));
  // Once both the last record (533 bytes, padded) and the close_notify (24 bytes, or 533 if
  // padded too) have arrived, one read takes the data and keeps the end of the stream for the
  // next read.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char peek[2048];
  while (::recv(socket->socket().native_handle(), peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT) <
             533 + 24 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  boost::system::error_code ec;
  EXPECT_EQ(ReadSome(*socket, 4096, &ec), "last");
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(ReadSome(*socket, 4096, &ec), "");
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  EXPECT_EQ(Read(*socket, 1, &ec), "");
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
}

TEST_F(TlsSocketTest, TcpCloseWithoutCloseNotifyIsATruncatedStream) {
  OpenSslServer server(pki_.ServerCert(), TLS1_3_VERSION, [&](SSL* ssl, int fd) {
    EXPECT_EQ(ServerRead(ssl, 2), "hi");
    ServerWrite(ssl, "yo");
    EXPECT_EQ(ServerRead(ssl, 2), "hi");
    ServerWrite(ssl, "partial");
    ::shutdown(fd, SHUT_RDWR);
  });
  auto ctx = ClientContext();
  auto socket = Connect(server.port(), *ctx);
  ASSERT_FALSE(Write(*socket, "hi"));
  EXPECT_EQ(Read(*socket, 2), "yo");
  ASSERT_TRUE(socket->Handover());
  ASSERT_FALSE(Write(*socket, "hi"));
  boost::system::error_code ec;
  EXPECT_EQ(Read(*socket, 100, &ec), "partial");
  EXPECT_EQ(ec, asio::ssl::error::stream_truncated) << ec.message();
}

TEST_F(TlsSocketTest, Tls12ConnectionsKeepTheirSslObject) {
  OpenSslServer server(pki_.ServerCert(), TLS1_2_VERSION, [&](SSL* ssl, int) {
    EXPECT_EQ(ServerRead(ssl, 2), "hi");
    ServerWrite(ssl, "yo");
    EXPECT_EQ(ServerRead(ssl, 5), "again");
    ServerWrite(ssl, "fine");
  });
  auto ctx = ClientContext();
  auto socket = Connect(server.port(), *ctx);
  ASSERT_FALSE(Write(*socket, "hi"));
  EXPECT_EQ(Read(*socket, 2), "yo");
  EXPECT_FALSE(socket->Handover());
  EXPECT_NE(socket->native_handle(), nullptr);
  ASSERT_FALSE(Write(*socket, "again"));
  EXPECT_EQ(Read(*socket, 4), "fine");
}

TEST_F(TlsSocketTest, ContextsWithoutTheHandoverKeepTheSslObject) {
  OpenSslServer server(pki_.ServerCert(), TLS1_3_VERSION, [&](SSL* ssl, int) {
    EXPECT_EQ(ServerRead(ssl, 2), "hi");
    ServerWrite(ssl, "yo");
  });
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(pki_.ca_file());
  ctx.set_verify_mode(asio::ssl::verify_peer);
  auto socket = Connect(server.port(), ctx);
  ASSERT_FALSE(Write(*socket, "hi"));
  EXPECT_EQ(Read(*socket, 2), "yo");
  EXPECT_FALSE(socket->Handover());
  EXPECT_NE(socket->native_handle(), nullptr);
}

// OpenSSL as the client, blocking on its own thread: connects to `port`, verifying the
// server's certificate, and runs `script` once the handshake is done.
class OpenSslClient {
 public:
  OpenSslClient(const std::string& ca_file, uint16_t port, std::function<void(SSL*)> script) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    EXPECT_EQ(SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr), 1);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_block_padding(ctx_, 512);  // padded records, which the server must strip
    thread_ = std::thread([this, port, script = std::move(script)] {
      asio::io_context io;
      tcp::socket s(io);
      s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, s.native_handle());
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
      if (SSL_connect(ssl) == 1) {
        script(ssl);
      } else {
        ADD_FAILURE() << "client handshake failed";
      }
      SSL_free(ssl);
    });
  }
  ~OpenSslClient() {
    thread_.join();
    SSL_CTX_free(ctx_);
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  std::thread thread_;
};

class TlsServerSocketTest : public TlsSocketTest {
 protected:
  // A serving context as the metrics server makes one: the handover enabled, and (unless
  // `tickets`) no session tickets.
  std::unique_ptr<asio::ssl::context> ServerContext(bool tickets) {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    const net::CertAndKey cert = pki_.ServerCert();
    ctx->use_certificate_chain(asio::buffer(cert.cert_pem));
    ctx->use_private_key(asio::buffer(cert.key_pem), asio::ssl::context::pem);
    if (!tickets) SSL_CTX_set_num_tickets(ctx->native_handle(), 0);
    EnableRecordLayerHandover(ctx->native_handle());
    return ctx;
  }

  std::unique_ptr<TlsSocket> Accept(tcp::acceptor& acceptor, asio::ssl::context& ctx) {
    tcp::socket s(io_);
    acceptor.accept(s);
    auto socket = std::make_unique<TlsSocket>(std::move(s), ctx);
    boost::system::error_code result = asio::error::would_block;
    socket->async_server_handshake([&](boost::system::error_code ec, std::size_t) { result = ec; });
    Run();
    EXPECT_FALSE(result) << result.message();
    return socket;
  }

  boost::system::error_code Shutdown(TlsSocket& s) {
    boost::system::error_code result = asio::error::would_block;
    s.async_shutdown([&](boost::system::error_code ec, std::size_t) { result = ec; });
    Run();
    return result;
  }

  tcp::acceptor acceptor_{io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
};

std::string ClientRead(SSL* ssl, std::size_t n) { return ServerRead(ssl, n); }
void ClientWrite(SSL* ssl, std::string_view data) { ServerWrite(ssl, data); }

TEST_F(TlsServerSocketTest, HandedOverServerConnectionCarriesDataKeyUpdatesAndCloseNotify) {
  const std::string up = Pattern(70'000, 'u');       // five padded records from the client
  const std::string down = Pattern(1'000'000, 'd');  // 62 records, four batches of them
  OpenSslClient client(pki_.ca_file(), acceptor_.local_endpoint().port(), [&](SSL* ssl) {
    ClientWrite(ssl, "hello");
    EXPECT_EQ(ClientRead(ssl, 5), "world");
    ClientWrite(ssl, up);
    EXPECT_EQ(ClientRead(ssl, down.size()), down);
    // A key update asking for the server's: its next record only opens if it answered.
    EXPECT_EQ(SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED), 1);
    ClientWrite(ssl, "after-update");
    EXPECT_EQ(ClientRead(ssl, 3), "ack");
    EXPECT_EQ(SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    ClientWrite(ssl, "second");
    EXPECT_EQ(ClientRead(ssl, 4), "bye!");
    // The server's close_notify: a clean end of the stream.
    char byte = 0;
    std::size_t got = 0;
    EXPECT_EQ(SSL_read_ex(ssl, &byte, 1, &got), 0);
    EXPECT_EQ(SSL_get_error(ssl, 0), SSL_ERROR_ZERO_RETURN);
  });
  auto ctx = ServerContext(false);
  auto socket = Accept(acceptor_, *ctx);
  ASSERT_TRUE(socket->Handover());
  EXPECT_EQ(socket->native_handle(), nullptr);
  EXPECT_EQ(Read(*socket, 5), "hello");
  ASSERT_FALSE(Write(*socket, "world"));
  EXPECT_EQ(Read(*socket, up.size()), up);
  ASSERT_FALSE(Write(*socket, down));
  EXPECT_EQ(Read(*socket, 12), "after-update");
  ASSERT_FALSE(Write(*socket, "ack"));
  EXPECT_EQ(Read(*socket, 6), "second");
  ASSERT_FALSE(Write(*socket, "bye!"));
  EXPECT_FALSE(Shutdown(*socket));
}

TEST_F(TlsServerSocketTest, OneWriteGathersManyBuffersIntoBatchesOfRecords) {
  // 3,000 pieces of 1 to 400 bytes (as a list's encoded items are), then one of 300,000: every
  // byte arrives, in order, whatever record and batch boundaries fall where.
  std::vector<std::string> pieces;
  std::string all;
  for (int i = 0; i < 3000; ++i) {
    pieces.push_back(Pattern(1 + static_cast<std::size_t>(i * 37 % 400), static_cast<char>(i)));
    all += pieces.back();
  }
  pieces.push_back(Pattern(300'000, 'z'));
  all += pieces.back();
  std::promise<void> send_done;
  std::shared_future<void> send_done_at = send_done.get_future().share();
  OpenSslClient client(pki_.ca_file(), acceptor_.local_endpoint().port(), [&](SSL* ssl) {
    ClientWrite(ssl, "go");
    EXPECT_EQ(ClientRead(ssl, all.size()), all);
    EXPECT_EQ(ClientRead(ssl, 4), "more");
    send_done_at.wait_for(std::chrono::seconds(10));
    ClientWrite(ssl, "done");
  });
  auto ctx = ServerContext(false);
  auto socket = Accept(acceptor_, *ctx);
  ASSERT_TRUE(socket->Handover());
  EXPECT_EQ(Read(*socket, 2), "go");
  std::vector<asio::const_buffer> buffers;
  for (const std::string& p : pieces) buffers.push_back(asio::buffer(p));
  boost::system::error_code result = asio::error::would_block;
  std::size_t written = 0;
  asio::async_write(*socket, buffers, [&](boost::system::error_code ec, std::size_t n) {
    result = ec;
    written = n;
  });
  Run();
  ASSERT_FALSE(result) << result.message();
  EXPECT_EQ(written, all.size());
  // The batch buffer stays for the response's next write until released.
  EXPECT_GT(socket->write_buffer_capacity(), Tls13Records::kMaxPlaintext);
  socket->ReleaseBuffers();
  EXPECT_EQ(socket->write_buffer_capacity(), 0u);
  ASSERT_FALSE(Write(*socket, "more"));
  EXPECT_GT(socket->write_buffer_capacity(), 0u);
  // Waiting to read releases it too (the client sends "done" only once the read waits).
  std::string done(4, '\0');
  asio::async_read(*socket, asio::buffer(done),
                   [&](boost::system::error_code ec, std::size_t) { result = ec; });
  io_.restart();
  io_.poll();
  EXPECT_EQ(socket->write_buffer_capacity(), 0u);
  send_done.set_value();
  Run();
  EXPECT_FALSE(result) << result.message();
  EXPECT_EQ(done, "done");
}

TEST_F(TlsServerSocketTest, ServerThatSendsSessionTicketsKeepsItsSslObject) {
  OpenSslClient client(pki_.ca_file(), acceptor_.local_endpoint().port(), [&](SSL* ssl) {
    ClientWrite(ssl, "hi");
    EXPECT_EQ(ClientRead(ssl, 2), "yo");
  });
  auto ctx = ServerContext(true);
  auto socket = Accept(acceptor_, *ctx);
  EXPECT_FALSE(socket->Handover());
  EXPECT_NE(socket->native_handle(), nullptr);
  EXPECT_EQ(Read(*socket, 2), "hi");
  ASSERT_FALSE(Write(*socket, "yo"));
}

}  // namespace
}  // namespace net
