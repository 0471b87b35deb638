// Command-line flags in the style of Kubernetes components (pflag): `--name=value`,
// `--name value`, booleans as `--name` or `--name=false`, lists comma-separated and repeatable,
// durations in Go syntax. Single-letter flags and shorthands take one dash (`-v=2`, `-v 2`,
// `-v2`, `-l app=x`).
//
// Flags another implementation defines but that mean nothing here can be accepted with
// NoEffect(): their values are still checked, and IneffectiveFlags() names those given, with why,
// so that main can say so once at start.
//
// A FlagSet writes into variables owned by the caller, which must outlive it. Parse() reports
// every problem at once; range checks belong to the component's own Validate(). Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
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
  // Repeatable; each occurrence is appended verbatim (commas included).
  void StringArray(const std::string& name, std::vector<std::string>* target, std::string help);
  // `-<letter>` is another name for the already registered flag `name` (pflag's shorthand).
  void Shorthand(char letter, const std::string& name);
  // Accepts `name` without acting on it. `type` checks the value as pflag would: "bool" (no
  // value needed), "int", "float", "duration", "ip"; anything else takes any string. A given
  // value equal to `same_as_here` (for bools: "true"/"false") asks for what this program does
  // anyway and is not reported by IneffectiveFlags().
  void NoEffect(const std::string& name, const std::string& type, std::string reason,
                std::string same_as_here = "");

  // Parses argv[1..]. Returns the errors found (empty on success). `--help`/`-h` sets
  // help_requested() and stops nothing else.
  std::vector<std::string> Parse(int argc, const char* const* argv);

  bool help_requested() const { return help_requested_; }
  // Names of the flags given on the command line, in order.
  const std::vector<std::string>& set_flags() const { return set_flags_; }
  bool WasSet(const std::string& name) const;
  // The NoEffect() flags given on the command line (last value each, in the order first given)
  // whose value differs from `same_as_here`, as "--name (reason)".
  std::vector<std::string> IneffectiveFlags() const;

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
    std::function<bool(const std::string&, std::string*)> set;  // value -> ok / error text
    char shorthand = 0;
    bool no_effect = false;
    std::string same_as_here;  // NoEffect(): the value this program behaves as
    // NoEffect(): the value given last (bools normalised), shared with the setter.
    std::shared_ptr<std::string> last_value;
  };
  void Add(std::string name, std::string type, std::string help, std::string default_text,
           bool is_bool, std::function<bool(const std::string&, std::string*)> set);
  Flag* Find(const std::string& name);
  Flag* FindShorthand(char letter);

  std::string program_;
  std::string summary_;
  std::string current_group_;
  std::vector<Flag> flags_;
  std::vector<std::string> set_flags_;
  bool help_requested_ = false;
};

}  // namespace base
