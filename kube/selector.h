// Label and field selectors with the syntax and semantics of Kubernetes
// (k8s.io/apimachinery/pkg/labels/selector.go and pkg/fields/selector.go).
//
// One parser serves the caches (informer-side filtering, --node-selector) and the API server's
// `labelSelector` / `fieldSelector` query parameters. Selectors are immutable values once parsed;
// const methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "kube/objects.h"

namespace kube {

// One term of a label selector.
struct LabelRequirement {
  enum class Op {
    kEquals,        // key=value
    kDoubleEquals,  // key==value
    kNotEquals,     // key!=value
    kIn,            // key in (a,b)
    kNotIn,         // key notin (a,b)
    kExists,        // key
    kDoesNotExist,  // !key
    kGreaterThan,   // key>1 (integer comparison; apimachinery accepts these too)
    kLessThan,      // key<1
  };
  std::string key;
  Op op = Op::kExists;
  std::vector<std::string> values;  // sorted and de-duplicated; empty for kExists/kDoesNotExist

  bool Matches(const Labels& labels) const;
  // Canonical text, e.g. "env in (a,b)", "!tier", "app=web".
  std::string String() const;
};

// A parsed label selector: the AND of its requirements. The empty selector matches everything.
class LabelSelector {
 public:
  LabelSelector() = default;  // matches everything

  // Parses the full grammar: comma-separated requirements `k=v`, `k==v`, `k!=v`, `k in (v,...)`,
  // `k notin (v,...)`, `k`, `!k`, `k>n`, `k<n`, with free whitespace. Keys are validated as
  // qualified names (optional DNS-subdomain prefix + "/" + name of at most 63 chars), values as
  // label values (at most 63 chars, alphanumeric at both ends, `-_.` inside). Errors use
  // apimachinery's texts where reasonable, e.g.
  //   `found '', expected: identifier after ','`
  //   `values[0][env]: Invalid value: "-x": a valid label must be ...`.
  // Requirements are kept sorted by key as apimachinery does. Empty or all-blank text = Everything.
  static base::Result<LabelSelector> Parse(std::string_view text);

  // Builds a selector that requires exactly these labels (key=value each), e.g. from a map.
  static LabelSelector FromLabels(const Labels& labels);

  bool Matches(const Labels& labels) const;
  bool Empty() const { return requirements_.empty(); }
  // Canonical text: requirements joined by ",". Parse(String()) yields an equal selector.
  std::string String() const;
  const std::vector<LabelRequirement>& Requirements() const { return requirements_; }

  // The AND of this selector and `other` (for --node-selector combined with a request's).
  LabelSelector And(const LabelSelector& other) const;

 private:
  std::vector<LabelRequirement> requirements_;
};

// One term of a field selector.
struct FieldRequirement {
  enum class Op {
    kEquals,     // field=value or field==value
    kNotEquals,  // field!=value
  };
  std::string field;  // e.g. "metadata.name"
  Op op = Op::kEquals;
  std::string value;  // unescaped
};

// Looks up a field of the object being matched; nullopt = the object has no such field.
using FieldGetter = std::function<std::optional<std::string_view>(std::string_view field)>;

// A parsed field selector: the AND of its terms. The empty selector matches everything.
class FieldSelector {
 public:
  FieldSelector() = default;

  // Parses comma-separated `field=value`, `field==value`, `field!=value` terms. In values, `\,`
  // `\=` and `\\` are escapes; any other backslash sequence, or an unescaped `,`/`=` inside a
  // value, is an error (`invalid field selector: ...`). Fields are taken literally (no escapes).
  // Empty text = Everything.
  static base::Result<FieldSelector> Parse(std::string_view text);

  // A field the getter does not know counts as the empty string, as in
  // apimachinery's fields.Set ("metadata.namespace=" matches an object without a namespace;
  // "metadata.namespace!=x" matches it too).
  bool Matches(const FieldGetter& get) const;
  bool Empty() const { return requirements_.empty(); }
  // Canonical text with values escaped, terms in the order given.
  std::string String() const;
  // For callers that accept only some fields ("field label not supported: x").
  const std::vector<FieldRequirement>& Requirements() const { return requirements_; }

 private:
  std::vector<FieldRequirement> requirements_;
};

// Escapes `\`, `,` and `=` in a field-selector value (apimachinery fields.EscapeValue).
std::string EscapeFieldValue(std::string_view value);

// Validation helpers shared with other parsers (ConfigMap keys etc.). Each returns the list of
// problems in apimachinery's wording; empty = valid.
std::vector<std::string> ValidateQualifiedName(std::string_view name);
std::vector<std::string> ValidateLabelValue(std::string_view value);

}  // namespace kube
