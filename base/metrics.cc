#include "base/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace base {
namespace {

void AppendNumber(std::string& out, double v) {
  if (std::isinf(v)) {
    out.append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (std::isnan(v)) {
    out.append("NaN");
    return;
  }
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    // The shortest text that reads back as the same double (Go's FormatFloat(v, 'g', -1)).
    for (int precision = 15; precision <= 17; ++precision) {
      std::snprintf(buf, sizeof buf, "%.*g", precision, v);
      if (std::strtod(buf, nullptr) == v) break;
    }
  }
  out.append(buf);
}

void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const std::string& le = "") {
  if (names.empty() && le.empty()) return;
  out.push_back('{');
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!first) out.push_back(',');
    first = false;
    out += names[i] + "=\"" + EscapeLabelValue(values[i]) + "\"";
  }
  if (!le.empty()) {
    if (!first) out.push_back(',');
    out += "le=\"" + le + "\"";
  }
  out.push_back('}');
}

}  // namespace

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

MetricFamily::MetricFamily(std::string name, std::string help, Type type,
                           std::vector<std::string> labels, std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      labels_(std::move(labels)),
      buckets_(std::move(buckets)) {
  std::sort(buckets_.begin(), buckets_.end());
}

void MetricFamily::Add(const std::vector<std::string>& label_values, double v) {
  base::MutexLock lock(mu_);
  series_[label_values].value += v;
}

void MetricFamily::Set(const std::vector<std::string>& label_values, double v) {
  base::MutexLock lock(mu_);
  series_[label_values].value = v;
}

void MetricFamily::Observe(const std::vector<std::string>& label_values, double v) {
  size_t bucket = std::lower_bound(buckets_.begin(), buckets_.end(), v) - buckets_.begin();
  base::MutexLock lock(mu_);
  Series& s = series_[label_values];
  if (s.bucket_counts.empty()) s.bucket_counts.assign(buckets_.size() + 1, 0);
  s.bucket_counts[bucket]++;
  s.sum += v;
  s.count++;
}

void MetricFamily::ObserveAll(const std::vector<std::string>& label_values,
                              const std::vector<double>& vs) {
  base::MutexLock lock(mu_);
  Series& s = series_[label_values];
  if (s.bucket_counts.empty()) s.bucket_counts.assign(buckets_.size() + 1, 0);
  for (double v : vs) {
    s.bucket_counts[std::lower_bound(buckets_.begin(), buckets_.end(), v) - buckets_.begin()]++;
    s.sum += v;
  }
  s.count += vs.size();
}

void MetricFamily::Clear() {
  base::MutexLock lock(mu_);
  series_.clear();
}

void MetricFamily::Render(std::string& out) const {
  static const char* const kTypes[] = {"counter", "gauge", "histogram"};
  out += "# HELP " + name_ + " " + help_ + "\n";
  out += "# TYPE " + name_ + " " + kTypes[static_cast<int>(type_)] + "\n";
  base::MutexLock lock(mu_);
  for (const auto& [values, s] : series_) {
    if (type_ != Type::kHistogram) {
      out += name_;
      AppendLabels(out, labels_, values);
      out.push_back(' ');
      AppendNumber(out, s.value);
      out.push_back('\n');
      continue;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= buckets_.size(); ++i) {
      cumulative += s.bucket_counts.empty() ? 0 : s.bucket_counts[i];
      std::string le;
      if (i < buckets_.size()) {
        AppendNumber(le, buckets_[i]);
      } else {
        le = "+Inf";
      }
      out += name_ + "_bucket";
      AppendLabels(out, labels_, values, le);
      out += " " + std::to_string(cumulative) + "\n";
    }
    out += name_ + "_sum";
    AppendLabels(out, labels_, values);
    out.push_back(' ');
    AppendNumber(out, s.sum);
    out += "\n" + name_ + "_count";
    AppendLabels(out, labels_, values);
    out += " " + std::to_string(s.count) + "\n";
  }
}

MetricFamily& MetricsRegistry::Counter(std::string name, std::string help,
                                       std::vector<std::string> labels) {
  base::MutexLock lock(mu_);
  families_.push_back(std::make_unique<MetricFamily>(
      std::move(name), std::move(help), MetricFamily::Type::kCounter, std::move(labels)));
  return *families_.back();
}

MetricFamily& MetricsRegistry::Gauge(std::string name, std::string help,
                                     std::vector<std::string> labels) {
  base::MutexLock lock(mu_);
  families_.push_back(std::make_unique<MetricFamily>(
      std::move(name), std::move(help), MetricFamily::Type::kGauge, std::move(labels)));
  return *families_.back();
}

MetricFamily& MetricsRegistry::Histogram(std::string name, std::string help,
                                         std::vector<std::string> labels,
                                         std::vector<double> buckets) {
  base::MutexLock lock(mu_);
  families_.push_back(std::make_unique<MetricFamily>(std::move(name), std::move(help),
                                                     MetricFamily::Type::kHistogram,
                                                     std::move(labels), std::move(buckets)));
  return *families_.back();
}

void MetricsRegistry::AddCollector(std::function<void()> refresh) {
  base::MutexLock lock(mu_);
  collectors_.push_back(std::move(refresh));
}

std::string MetricsRegistry::Render() const {
  std::vector<std::function<void()>> collectors;
  {
    base::MutexLock lock(mu_);
    collectors = collectors_;
  }
  for (const auto& c : collectors) c();
  std::string out;
  base::MutexLock lock(mu_);
  for (const auto& f : families_) f->Render(out);
  return out;
}

}  // namespace base
