// Command-line flags in the style of Kubernetes components (pflag): `--name=value`,
// `--name value`, booleans as `--name` or `--name=false`, lists comma-separated and repeatable,
// durations in Go syntax. Single-letter flags may also be written with one dash (`-v=2`).
//
// A FlagSet writes into variables owned by the caller, which must outlive it. Parse() reports
// every problem at once; range checks belong to the component's own Validate(). Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace base {

class FlagSet {
 public:
  FlagSet(std::string program, std::string summary);

  // Flags registered after this call are listed under `title` in Usage().
  void Group(std::string title);

  void String(const std::string& name, std::string* target, std::string help);
  void Bool(const std::string& name, bool* target, std::string help);
  void Int(const std::string& name, int64_t* target, std::string help);
  void Duration(const std::string& name, std::chrono::nanoseconds* target, std::string help);
  // Comma-separated; the first occurrence replaces the default, later ones append.
  void StringList(const std::string& name, std::vector<std::string>* target, std::string help);

  // Parses argv[1..]. Returns the errors found (empty on success). `--help`/`-h` sets
  // help_requested() and stops nothing else.
  std::vector<std::string> Parse(int argc, const char* const* argv);

  bool help_requested() const { return help_requested_; }
  // Names of the flags given on the command line, in order.
  const std::vector<std::string>& set_flags() const { return set_flags_; }
  bool WasSet(const std::string& name) const;

  // Help text: summary, then each group's flags with type, default and description.
  std::string Usage() const;

 private:
  struct Flag {
    std::string name;
    std::string type;  // shown in help: string, bool, int, duration, strings
    std::string help;
    std::string default_text;
    std::string group;
    bool is_bool = false;
    bool list_touched = false;
    std::function<bool(const std::string&, std::string*)> set;  // value -> ok / error text
  };
  void Add(Flag flag);
  Flag* Find(const std::string& name);

  std::string program_;
  std::string summary_;
  std::string current_group_;
  std::vector<Flag> flags_;
  std::vector<std::string> set_flags_;
  bool help_requested_ = false;
};

}  // namespace base
