#include "base/flags.h"

#include <algorithm>
#include <charconv>
#include <memory>
#include <sstream>

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

}  // namespace

FlagSet::FlagSet(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void FlagSet::Group(std::string title) { current_group_ = std::move(title); }

void FlagSet::Add(Flag flag) {
  flag.group = current_group_;
  flags_.push_back(std::move(flag));
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
  Add({name, "string", std::move(help), *target, "", false, false,
       [target](const std::string& v, std::string*) {
         *target = v;
         return true;
       }});
}

void FlagSet::Bool(const std::string& name, bool* target, std::string help) {
  Add({name, "", std::move(help), *target ? "true" : "false", "", true, false,
       [target](const std::string& v, std::string* err) {
         if (v == "true" || v == "1" || v == "t" || v == "True" || v == "TRUE") {
           *target = true;
         } else if (v == "false" || v == "0" || v == "f" || v == "False" || v == "FALSE") {
           *target = false;
         } else {
           *err = "expected true or false";
           return false;
         }
         return true;
       }});
}

void FlagSet::Int(const std::string& name, int64_t* target, std::string help) {
  Add({name, "int", std::move(help), std::to_string(*target), "", false, false,
       [target](const std::string& v, std::string* err) {
         int64_t parsed = 0;
         auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
         if (ec != std::errc() || ptr != v.data() + v.size()) {
           *err = "expected an integer";
           return false;
         }
         *target = parsed;
         return true;
       }});
}

void FlagSet::Duration(const std::string& name, std::chrono::nanoseconds* target,
                       std::string help) {
  Add({name, "duration", std::move(help), FormatDuration(*target), "", false, false,
       [target](const std::string& v, std::string* err) {
         auto parsed = ParseDuration(v);
         if (!parsed.ok()) {
           *err = parsed.error();
           return false;
         }
         *target = *parsed;
         return true;
       }});
}

void FlagSet::StringList(const std::string& name, std::vector<std::string>* target,
                         std::string help) {
  // The "first occurrence replaces the default" state lives with the setter: a reference to
  // the Flag itself would dangle once flags_ grows.
  auto touched = std::make_shared<bool>(false);
  Add({name, "strings", std::move(help), Join(*target), "", false, false, nullptr});
  flags_.back().set = [target, touched](const std::string& v, std::string*) {
    if (!*touched) target->clear();
    *touched = true;
    for (auto& item : SplitComma(v)) target->push_back(item);
    return true;
  };
}

std::vector<std::string> FlagSet::Parse(int argc, const char* const* argv) {
  std::vector<std::string> errors;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    std::string body;
    if (arg.rfind("--", 0) == 0) {
      body = arg.substr(2);
    } else if (arg.size() >= 2 && arg[0] == '-' && (arg.size() == 2 || arg[2] == '=')) {
      body = arg.substr(1);  // single-letter flag, e.g. -v=2 or -v 2
    } else {
      errors.push_back("unexpected argument \"" + arg + "\" (flags start with --)");
      continue;
    }
    std::string name = body;
    std::string value;
    bool has_value = false;
    if (auto eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    Flag* flag = Find(name);
    if (!flag) {
      errors.push_back("unknown flag --" + name);
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
      std::string left = (f.name.size() == 1 ? "  -" : "      --") + f.name;
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
