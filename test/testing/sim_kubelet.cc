#include "test/testing/sim_kubelet.h"

#include <openssl/ssl.h>

#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/zlib/deflate_stream.hpp>
#include <boost/crc.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "net/tls_socket.h"
#include "test/testing/exposition_protobuf.h"

namespace testing_support {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kIdleTimeout = std::chrono::seconds(90);
constexpr auto kWriteTimeout = std::chrono::seconds(60);

constexpr char kProtobufType[] =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
    "encoding=delimited; escaping=underscores";

// Whether promhttp (expfmt.Negotiate) would answer `accept` with the delimited protobuf form:
// the media ranges are taken by falling q, and the first that names the protobuf form or the
// text format (text/plain with version 0.0.4 or none) decides; anything else means text.
bool PrefersProtobuf(std::string_view accept) {
  double best_q = -1;
  bool protobuf = false;
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept.remove_prefix(comma == std::string_view::npos ? accept.size() : comma + 1);
    double q = 1;
    if (size_t at = range.find("q="); at != std::string_view::npos) {
      q = std::atof(std::string(range.substr(at + 2)).c_str());
    }
    bool is_protobuf =
        range.find("application/vnd.google.protobuf") != std::string_view::npos &&
        range.find("proto=io.prometheus.client.MetricFamily") != std::string_view::npos &&
        range.find("encoding=delimited") != std::string_view::npos;
    bool is_text = range.find("text/plain") != std::string_view::npos &&
                   (range.find("version=") == std::string_view::npos ||
                    range.find("version=0.0.4") != std::string_view::npos);
    if ((is_protobuf || is_text) && q > best_q) {
      best_q = q;
      protobuf = is_protobuf;
    }
  }
  return protobuf;
}

}  // namespace

// gzip (RFC 1952) at the fastest level, one compressor reused for every response of a
// SimKubelets (they all run on one thread).
class SimKubelets::Gzip {
 public:
  Gzip() { deflate_.reset(1, 15, 8, beast::zlib::Strategy::normal); }

  void Compress(const std::string& in, std::string* out) {
    static constexpr unsigned char kHeader[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
    deflate_.reset();
    out->assign(reinterpret_cast<const char*>(kHeader), sizeof kHeader);
    out->resize(sizeof kHeader + deflate_.upper_bound(in.size()) + 8);
    beast::zlib::z_params z;
    z.next_in = in.data();
    z.avail_in = in.size();
    z.next_out = out->data() + sizeof kHeader;
    z.avail_out = out->size() - sizeof kHeader - 8;
    beast::error_code ec;
    deflate_.write(z, beast::zlib::Flush::finish, ec);
    out->resize(sizeof kHeader + z.total_out);
    boost::crc_32_type crc;
    crc.process_bytes(in.data(), in.size());
    uint32_t trailer[2] = {crc.checksum(), static_cast<uint32_t>(in.size())};  // little-endian
    out->append(reinterpret_cast<const char*>(trailer), sizeof trailer);
  }

 private:
  beast::zlib::deflate_stream deflate_;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, asio::ssl::context& tls, int node,
          std::shared_ptr<const SimKubelets::Render> render,
          std::shared_ptr<const SimKubelets::Render> summary,
          std::shared_ptr<std::atomic<uint64_t>> responses, std::shared_ptr<SimKubelets::Gzip> gzip,
          bool protobuf, bool go_framing)
      : stream_(std::move(socket), tls),
        node_(node),
        render_(std::move(render)),
        summary_(std::move(summary)),
        responses_(std::move(responses)),
        gzip_(std::move(gzip)),
        protobuf_(protobuf),
        go_framing_(go_framing) {}

  void Start() {
    if (!stream_.ok()) return;
    stream_.expires_after(kHandshakeTimeout);
    stream_.async_server_handshake([self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) self->Read();
    });
  }

 private:
  // Waits for the next request without holding TLS record buffers: OpenSSL allocates its read
  // buffer as soon as SSL_read is called, so an idle connection first waits for the socket.
  void Read() {
    stream_.expires_after(kIdleTimeout);
    if (buffer_.size() > 0 || SSL_has_pending(stream_.native_handle()) == 1) return ReadRequest();
    stream_.socket().async_wait(tcp::socket::wait_read,
                                [self = shared_from_this()](beast::error_code ec) {
                                  if (!ec) self->ReadRequest();
                                });
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (!ec) self->Respond();
                     });
  }

  void Respond() {
    const auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    body_.clear();
    const char* encoding = "";
    bool chunked = false;
    const char* status = "200 OK";
    const char* type = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      status = "405 Method Not Allowed";
      type = "text/plain; charset=utf-8";
      body_ = "Method Not Allowed\n";
    } else if (path == "/stats/summary" && *summary_) {
      type = "application/json";
      (*summary_)(node_, now_ms, &body_);
    } else if (path != "/metrics/resource") {
      status = "404 Not Found";
      type = "text/plain; charset=utf-8";
      body_ = "404 page not found\n";
    } else {
      (*render_)(node_, now_ms, &body_);
      if (protobuf_ && PrefersProtobuf(req[http::field::accept])) {
        std::string text = std::move(body_);
        body_.clear();
        AppendAsDelimitedProtobuf(text, &body_);
        type = kProtobufType;
      }
      if (gzip_ && req[http::field::accept_encoding].find("gzip") != std::string_view::npos) {
        std::string plain = std::move(body_);
        gzip_->Compress(plain, &body_);
        encoding = "\r\nContent-Encoding: gzip";
      }
      chunked = go_framing_ && body_.size() > kGoChunkingBuffer;
    }
    head_ = "HTTP/1.1 ";
    head_ += status;
    head_ += "\r\nContent-Type: ";
    head_ += type;
    head_ += encoding;
    if (chunked) {
      head_ += "\r\nTransfer-Encoding: chunked";
    } else {
      head_ += "\r\nContent-Length: ";
      head_ += std::to_string(body_.size());
    }
    head_ += keep_alive_ ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
    if (req.method() == http::verb::head) body_.clear();
    stream_.expires_after(kWriteTimeout);
    if (go_framing_) {
      // Head and body as one stream, written 4 KiB at a time: one record and one send each.
      std::string wire = std::move(head_);
      if (!chunked) {
        wire += body_;
      } else if (req.method() != http::verb::head) {
        char size[20];
        for (std::size_t at = 0; at < body_.size(); at += kGoChunk) {
          const std::size_t n = std::min(kGoChunk, body_.size() - at);
          wire.append(size,
                      static_cast<std::size_t>(std::snprintf(size, sizeof size, "%zx\r\n", n)));
          wire.append(body_, at, n);
          wire += "\r\n";
        }
        wire += "0\r\n\r\n";
      }
      head_.clear();
      body_ = std::move(wire);
      return WritePiece(0);
    }
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(body_)};
    asio::async_write(stream_, buffers, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->Written(ec);
    });
  }

  // Writes body_ from `at` on, kGoWrite bytes per write.
  void WritePiece(std::size_t at) {
    if (at >= body_.size()) return Written({});
    const std::size_t n = std::min(kGoWrite, body_.size() - at);
    asio::async_write(stream_, asio::buffer(body_.data() + at, n),
                      [self = shared_from_this(), next = at + n](beast::error_code ec, size_t) {
                        if (ec) return self->Written(ec);
                        self->WritePiece(next);
                      });
  }

  void Written(beast::error_code ec) {
    body_ = std::string();  // an idle connection keeps no body
    if (ec) return;
    responses_->fetch_add(1, std::memory_order_relaxed);
    if (keep_alive_) Read();
  }

  static constexpr std::size_t kGoChunkingBuffer = 2048;
  static constexpr std::size_t kGoChunk = 4096;
  static constexpr std::size_t kGoWrite = 4096;

  net::TlsSocket stream_;
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::string head_, body_;
  bool keep_alive_ = true;
  int node_;
  std::shared_ptr<const SimKubelets::Render> render_;
  std::shared_ptr<const SimKubelets::Render> summary_;
  std::shared_ptr<std::atomic<uint64_t>> responses_;
  std::shared_ptr<SimKubelets::Gzip> gzip_;
  bool protobuf_;
  bool go_framing_;
};

}  // namespace

base::Result<std::shared_ptr<asio::ssl::context>> MakeKubeletServerContext(
    const net::CertAndKey& cert) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  // Like a kubelet (Go crypto/tls): resumption by session tickets only, no server-side cache.
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
  boost::system::error_code ec;
  ctx->use_certificate_chain(asio::buffer(cert.cert_pem), ec);
  if (!ec) ctx->use_private_key(asio::buffer(cert.key_pem), asio::ssl::context::pem, ec);
  if (ec) return base::MakeError("kubelet TLS context: " + ec.message());
  return ctx;
}

SimKubelets::SimKubelets(asio::io_context& io, std::shared_ptr<asio::ssl::context> tls,
                         Render render, bool gzip, Render summary, bool protobuf, bool go_framing)
    : io_(io),
      tls_(std::move(tls)),
      render_(std::make_shared<const Render>(std::move(render))),
      summary_(std::make_shared<const Render>(std::move(summary))),
      responses_(std::make_shared<std::atomic<uint64_t>>(0)),
      gzip_(gzip ? std::make_shared<Gzip>() : nullptr),
      protobuf_(protobuf),
      go_framing_(go_framing) {}

SimKubelets::~SimKubelets() { Close(); }

base::Result<uint16_t> SimKubelets::Listen(int node, uint16_t port) {
  boost::system::error_code ec;
  auto acceptor = std::make_unique<tcp::acceptor>(io_);
  tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), port);
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(1024, ec);
  if (ec)
    return base::MakeError("listen on 127.0.0.1:" + std::to_string(port) + ": " + ec.message());
  uint16_t bound = acceptor->local_endpoint().port();
  listeners_.push_back({std::move(acceptor), node});
  Accept(listeners_.size() - 1);
  return bound;
}

void SimKubelets::Accept(std::size_t index) {
  Listener& l = listeners_[index];
  l.acceptor->async_accept([this, index](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    Listener& l = listeners_[index];
    if (!ec) {
      std::make_shared<Session>(std::move(socket), *tls_, l.node, render_, summary_, responses_,
                                gzip_, protobuf_, go_framing_)
          ->Start();
    } else if (ec == asio::error::no_descriptors) {
      // Out of file descriptors: let connections close before accepting again.
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([this, index, timer](beast::error_code) { Accept(index); });
      return;
    }
    if (l.acceptor->is_open()) Accept(index);
  });
}

void SimKubelets::Close() {
  for (auto& l : listeners_) {
    boost::system::error_code ignored;
    l.acceptor->close(ignored);
  }
}

}  // namespace testing_support
