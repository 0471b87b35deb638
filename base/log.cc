#include "base/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

namespace base {
namespace {

// %j: the message, escaped for a JSON string.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            dest.append(std::string_view(buf));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

}  // namespace

void LogOptions::AddFlags(FlagSet& flags) {
  flags.Int("v", &verbosity, "number for the log level verbosity");
  flags.String("logging-format", &format, "Sets the log format. Permitted formats: text, json.");
  flags.NoEffect("vmodule", "string",
                 "per-file verbosity is not supported; -v sets the verbosity of every message");
  flags.NoEffect("log-flush-frequency", "duration",
                 "log lines are written to stderr unbuffered, so there is nothing to flush");
  flags.NoEffect("log-text-split-stream", "bool", "all log output goes to stderr", "false");
  flags.NoEffect("log-text-info-buffer-size", "string", "log output is not buffered");
  flags.NoEffect("log-json-split-stream", "bool", "all log output goes to stderr", "false");
  flags.NoEffect("log-json-info-buffer-size", "string", "log output is not buffered");
}

std::vector<std::string> LogOptions::Validate() const {
  std::vector<std::string> errors;
  if (verbosity < 0) errors.push_back("-v must not be negative");
  if (format != "text" && format != "json") {
    errors.push_back("--logging-format: unknown log format \"" + format + "\" (want text or json)");
  }
  return errors;
}

Status SetupLogging(int verbosity, const std::string& format) {
  std::string pattern;
  if (format == "text") {
    pattern = "%^%L%m%d %H:%M:%S.%f%$ %t] %v";  // klog-like: I1121 12:00:00.000000 1234] msg
  } else if (format == "json") {
    pattern = R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","thread":%t,"msg":"%j"})";
  } else {
    return Status::Error("unknown log format \"" + format + "\" (want text or json)");
  }
  auto logger = spdlog::stderr_logger_mt("cpp-metrics-server");
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonEscapedMessage>('j').set_pattern(pattern);
  logger->set_formatter(std::move(formatter));
  if (verbosity >= 5) {
    logger->set_level(spdlog::level::trace);
  } else if (verbosity >= 2) {
    logger->set_level(spdlog::level::debug);
  } else {
    logger->set_level(spdlog::level::info);
  }
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  return Status::Ok();
}

}  // namespace base
