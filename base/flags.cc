#include "base/flags.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <sstream>

#include <arpa/inet.h>

#include "base/duration.h"

namespace base {
namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ",";
    out += item;
  }
  return out;
}

std::vector<std::string> SplitComma(const std::string& value) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(value);
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool ParseBoolValue(const std::string& v, bool* out) {
  if (v == "true" || v == "1" || v == "t" || v == "T" || v == "True" || v == "TRUE") {
    *out = true;
  } else if (v == "false" || v == "0" || v == "f" || v == "F" || v == "False" || v == "FALSE") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

}  // namespace

FlagSet::FlagSet(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void FlagSet::Group(std::string title) { current_group_ = std::move(title); }

void FlagSet::Add(std::string name, std::string type, std::string help, std::string default_text,
                  bool is_bool, std::function<bool(const std::string&, std::string*)> set) {
  Flag flag;
  flag.name = std::move(name);
  flag.type = std::move(type);
  flag.help = std::move(help);
  flag.default_text = std::move(default_text);
  flag.group = current_group_;
  flag.is_bool = is_bool;
  flag.set = std::move(set);
  flags_.push_back(std::move(flag));
}

FlagSet::Flag* FlagSet::FindShorthand(char letter) {
  for (auto& f : flags_) {
    if (f.shorthand == letter || (f.name.size() == 1 && f.name[0] == letter)) return &f;
  }
  return nullptr;
}

FlagSet::Flag* FlagSet::Find(const std::string& name) {
  for (auto& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool FlagSet::WasSet(const std::string& name) const {
  return std::find(set_flags_.begin(), set_flags_.end(), name) != set_flags_.end();
}

void FlagSet::String(const std::string& name, std::string* target, std::string help) {
  Add(name, "string", std::move(help), *target, false,
      [target](const std::string& v, std::string*) {
        *target = v;
        return true;
      });
}

void FlagSet::Bool(const std::string& name, bool* target, std::string help) {
  Add(name, "", std::move(help), *target ? "true" : "false", true,
      [target](const std::string& v, std::string* err) {
        if (!ParseBoolValue(v, target)) {
          *err = "expected true or false";
          return false;
        }
        return true;
      });
}

void FlagSet::Int(const std::string& name, int64_t* target, std::string help) {
  Add(name, "int", std::move(help), std::to_string(*target), false,
      [target](const std::string& v, std::string* err) {
        int64_t parsed = 0;
        auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
        if (ec != std::errc() || ptr != v.data() + v.size()) {
          *err = "expected an integer";
          return false;
        }
        *target = parsed;
        return true;
      });
}

void FlagSet::Duration(const std::string& name, std::chrono::nanoseconds* target,
                       std::string help) {
  Add(name, "duration", std::move(help), FormatDuration(*target), false,
      [target](const std::string& v, std::string* err) {
        auto parsed = ParseDuration(v);
        if (!parsed.ok()) {
          *err = parsed.error();
          return false;
        }
        *target = *parsed;
        return true;
      });
}

void FlagSet::StringList(const std::string& name, std::vector<std::string>* target,
                         std::string help) {
  // The "first occurrence replaces the default" state lives with the setter: a reference to
  // the Flag itself would dangle once flags_ grows.
  auto touched = std::make_shared<bool>(false);
  Add(name, "strings", std::move(help), Join(*target), false,
      [target, touched](const std::string& v, std::string*) {
        if (!*touched) target->clear();
        *touched = true;
        for (auto& item : SplitComma(v)) target->push_back(item);
        return true;
      });
}

void FlagSet::StringArray(const std::string& name, std::vector<std::string>* target,
                          std::string help) {
  Add(name, "stringArray", std::move(help), "", false,
      [target](const std::string& v, std::string*) {
        target->push_back(v);
        return true;
      });
}

void FlagSet::Shorthand(char letter, const std::string& name) {
  if (Flag* f = Find(name)) f->shorthand = letter;
}

void FlagSet::NoEffect(const std::string& name, const std::string& type, std::string reason,
                       std::string same_as_here) {
  const bool is_bool = type == "bool";
  Add(name, is_bool ? "" : type, "No effect here: " + reason, "", is_bool, nullptr);
  Flag& flag = flags_.back();
  flag.no_effect = true;
  flag.same_as_here = std::move(same_as_here);
  // The value lives with the setter: the FlagSet (and flags_) may move.
  flag.last_value = std::make_shared<std::string>();
  flag.set = [last = flag.last_value, type](const std::string& v, std::string* err) {
    std::string value = v;
    if (type == "bool") {
      bool b = false;
      if (!ParseBoolValue(v, &b)) {
        *err = "expected true or false";
        return false;
      }
      value = b ? "true" : "false";
    } else if (type == "int") {
      int64_t parsed = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
      if (ec != std::errc() || ptr != v.data() + v.size()) {
        *err = "expected an integer";
        return false;
      }
    } else if (type == "float") {
      char* end = nullptr;
      std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size()) {
        *err = "expected a number";
        return false;
      }
    } else if (type == "duration") {
      auto parsed = ParseDuration(v);
      if (!parsed.ok()) {
        *err = parsed.error();
        return false;
      }
      if (parsed->count() == 0) value = "0s";  // "0", "0m", "0s" ask for the same
    } else if (type == "ip") {
      unsigned char addr[16];
      if (inet_pton(AF_INET, v.c_str(), addr) != 1 && inet_pton(AF_INET6, v.c_str(), addr) != 1) {
        *err = "expected an IP address";
        return false;
      }
    }
    *last = std::move(value);
    return true;
  };
}

std::vector<std::string> FlagSet::IneffectiveFlags() const {
  std::vector<std::string> out;
  std::vector<std::string> seen;
  for (const auto& name : set_flags_) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
    seen.push_back(name);
    for (const auto& f : flags_) {
      if (f.name != name || !f.no_effect) continue;
      if (!f.same_as_here.empty() && *f.last_value == f.same_as_here) continue;
      out.push_back("--" + f.name + " (" + f.help.substr(std::string("No effect here: ").size()) +
                    ")");
    }
  }
  return out;
}

std::vector<std::string> FlagSet::Parse(int argc, const char* const* argv) {
  std::vector<std::string> errors;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    std::string name;
    std::string value;
    bool has_value = false;
    Flag* flag = nullptr;
    if (arg.rfind("--", 0) == 0 && arg.size() > 2) {
      name = arg.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
        has_value = true;
      }
      flag = Find(name);
      if (!flag) {
        errors.push_back("unknown flag --" + name);
        continue;
      }
    } else if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      // Shorthand, as pflag reads it: -v=2, -v 2, -v2, -l app=x, -lapp=x.
      flag = FindShorthand(arg[1]);
      if (!flag) {
        errors.push_back("unknown shorthand flag '" + std::string(1, arg[1]) + "' in " + arg);
        continue;
      }
      name = flag->name;
      if (arg.size() > 2) {
        value = arg.substr(arg[2] == '=' ? 3 : 2);
        has_value = true;
        if (flag->is_bool && arg[2] != '=') {
          errors.push_back("unexpected \"" + arg.substr(2) + "\" after -" + arg[1]);
          continue;
        }
      }
    } else {
      errors.push_back("unexpected argument \"" + arg + "\" (flags start with --)");
      continue;
    }
    if (!has_value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        errors.push_back("flag --" + name + " needs a value");
        continue;
      }
    }
    std::string err;
    if (!flag->set(value, &err)) {
      errors.push_back("invalid value \"" + value + "\" for --" + name + ": " + err);
      continue;
    }
    set_flags_.push_back(name);
  }
  return errors;
}

std::string FlagSet::Usage() const {
  std::ostringstream out;
  out << summary_ << "\n\nUsage:\n  " << program_ << " [flags]\n";
  std::vector<std::string> groups;
  for (const auto& f : flags_) {
    if (std::find(groups.begin(), groups.end(), f.group) == groups.end()) {
      groups.push_back(f.group);
    }
  }
  for (const auto& group : groups) {
    out << "\n" << (group.empty() ? "Flags" : group) << ":\n";
    for (const auto& f : flags_) {
      if (f.group != group) continue;
      std::string left = f.name.size() == 1 ? "  -" + f.name
                         : f.shorthand != 0 ? "  -" + std::string(1, f.shorthand) + ", --" + f.name
                                            : "      --" + f.name;
      if (!f.type.empty()) left += " " + f.type;
      out << left;
      if (left.size() < 48) {
        out << std::string(48 - left.size(), ' ');
      } else {
        out << "\n" << std::string(48, ' ');
      }
      out << f.help;
      if (!f.default_text.empty() && f.default_text != "false") {
        out << " (default " << (f.type == "string" ? "\"" + f.default_text + "\"" : f.default_text)
            << ")";
      }
      out << "\n";
    }
  }
  out << "\n  -h, --help" << std::string(36, ' ') << "help for " << program_ << "\n";
  return out.str();
}

}  // namespace base
