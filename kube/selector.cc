#include "kube/selector.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace kube {
namespace {

// ---- Validation (k8s.io/apimachinery/pkg/util/validation) ----

constexpr std::size_t kQualifiedNameMaxLength = 63;
constexpr std::size_t kLabelValueMaxLength = 63;
constexpr std::size_t kDns1123SubdomainMaxLength = 253;

constexpr char kQualifiedNameErrMsg[] =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
constexpr char kQualifiedNameFmt[] = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr char kLabelValueErrMsg[] =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character";
constexpr char kLabelValueFmt[] = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr char kDns1123SubdomainErrMsg[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character";
constexpr char kDns1123SubdomainFmt[] =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

std::string RegexError(std::string_view msg, std::string_view fmt,
                       std::initializer_list<std::string_view> examples) {
  std::string out(msg);
  out += " (e.g. ";
  bool first = true;
  for (std::string_view e : examples) {
    if (!first) out += " or ";
    first = false;
    out += "'";
    out += e;
    out += "', ";
  }
  out += "regex used for validation is '";
  out += fmt;
  out += "')";
  return out;
}

std::string MaxLenError(std::size_t n) {
  return "must be no more than " + std::to_string(n) + " characters";
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], anchored.
bool MatchesQualifiedNamePart(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool MatchesDns1123Subdomain(std::string_view s) {
  // Dot-separated DNS-1123 labels: [a-z0-9]([-a-z0-9]*[a-z0-9])?
  std::size_t start = 0;
  while (true) {
    std::size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || !IsLowerAlnum(label.front()) || !IsLowerAlnum(label.back())) return false;
    for (char c : label) {
      if (!IsLowerAlnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[(c >> 4) & 0xf];
      out += kHex[c & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

// field.Invalid(path, value, detail).Error()
std::string InvalidError(std::string_view path, std::string_view value, std::string_view detail) {
  std::string out;
  if (!path.empty()) {
    out += path;
    out += ": ";
  }
  out += "Invalid value: ";
  out += GoQuote(value);
  out += ": ";
  out += detail;
  return out;
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (*begin == '+') ++begin;  // strconv.ParseInt accepts a leading '+'
  if (begin == end) return false;
  auto [ptr, ec] = std::from_chars(begin, end, *out);
  return ec == std::errc() && ptr == end;
}

// ---- Lexer (k8s.io/apimachinery/pkg/labels/selector.go) ----

enum class Token {
  kError,
  kEnd,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

struct Item {
  Token tok;
  std::string literal;
};

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsSpecialSymbol(char c) {
  switch (c) {
    case '=':
    case '!':
    case '(':
    case ')':
    case ',':
    case '>':
    case '<':
      return true;
    default:
      return false;
  }
}

std::optional<Token> LiteralToken(std::string_view s) {
  if (s == ")") return Token::kClosedPar;
  if (s == ",") return Token::kComma;
  if (s == "!") return Token::kDoesNotExist;
  if (s == "==") return Token::kDoubleEquals;
  if (s == "=") return Token::kEquals;
  if (s == ">") return Token::kGreaterThan;
  if (s == "in") return Token::kIn;
  if (s == "<") return Token::kLessThan;
  if (s == "!=") return Token::kNotEquals;
  if (s == "notin") return Token::kNotIn;
  if (s == "(") return Token::kOpenPar;
  return std::nullopt;
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Item Lex() {
    while (pos_ < s_.size() && IsWhitespace(s_[pos_])) ++pos_;
    // A NUL byte ends the input, as in the Go lexer (read() returns 0 at the end).
    if (pos_ >= s_.size() || s_[pos_] == '\0') return {Token::kEnd, ""};
    if (IsSpecialSymbol(s_[pos_])) return ScanSpecialSymbol();
    return ScanIdOrKeyword();
  }

 private:
  Item ScanIdOrKeyword() {
    std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != '\0' && !IsSpecialSymbol(s_[pos_]) &&
           !IsWhitespace(s_[pos_])) {
      ++pos_;
    }
    std::string lit(s_.substr(start, pos_ - start));
    if (auto t = LiteralToken(lit)) return {*t, lit};
    return {Token::kIdentifier, lit};
  }

  // Longest operator made of special symbols, e.g. "!=" rather than "!".
  Item ScanSpecialSymbol() {
    std::string buffer;
    std::optional<Item> last;
    while (pos_ < s_.size() && IsSpecialSymbol(s_[pos_])) {
      buffer += s_[pos_];
      ++pos_;
      if (auto t = LiteralToken(buffer)) {
        last = Item{*t, buffer};
      } else if (last) {
        --pos_;
        break;
      }
    }
    if (!last) return {Token::kError, "error expected: keyword found '" + buffer + "'"};
    return *last;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

enum class Context { kKeyAndOperator, kValues };

class Parser {
 public:
  explicit Parser(std::string_view text) {
    Lexer lexer(text);
    while (true) {
      Item item = lexer.Lex();
      bool end = item.tok == Token::kEnd;
      items_.push_back(std::move(item));
      if (end) break;
    }
  }

  base::Result<std::vector<LabelRequirement>> Parse() {
    std::vector<LabelRequirement> requirements;
    while (true) {
      auto [tok, lit] = Lookahead(Context::kValues);
      switch (tok) {
        case Token::kIdentifier:
        case Token::kDoesNotExist: {
          auto r = ParseRequirement();
          if (!r.ok()) return base::MakeError("unable to parse requirement: " + r.error());
          requirements.push_back(std::move(r.value()));
          auto [t, l] = Consume(Context::kValues);
          if (t == Token::kEnd) return requirements;
          if (t == Token::kComma) {
            auto [t2, l2] = Lookahead(Context::kValues);
            if (t2 != Token::kIdentifier && t2 != Token::kDoesNotExist) {
              return base::MakeError("found '" + l2 + "', expected: identifier after ','");
            }
            break;
          }
          return base::MakeError("found '" + l + "', expected: ',' or 'end of string'");
        }
        case Token::kEnd:
          return requirements;
        default:
          return base::MakeError("found '" + lit +
                                 "', expected: !, identifier, or 'end of string'");
      }
    }
  }

 private:
  std::pair<Token, std::string> Lookahead(Context context) const {
    const Item& item = items_[position_];
    return {Adjust(item.tok, context), item.literal};
  }
  std::pair<Token, std::string> Consume(Context context) {
    const Item& item = items_[position_];
    if (position_ + 1 < items_.size()) ++position_;  // the end token repeats forever
    return {Adjust(item.tok, context), item.literal};
  }
  // "in" and "notin" are identifiers where values are expected ("x in (in)").
  static Token Adjust(Token tok, Context context) {
    if (context == Context::kValues && (tok == Token::kIn || tok == Token::kNotIn)) {
      return Token::kIdentifier;
    }
    return tok;
  }

  base::Result<LabelRequirement> ParseRequirement() {
    LabelRequirement req;
    bool does_not_exist = false;
    auto [tok, literal] = Consume(Context::kValues);
    if (tok == Token::kDoesNotExist) {
      does_not_exist = true;
      std::tie(tok, literal) = Consume(Context::kValues);
    }
    if (tok != Token::kIdentifier) {
      return base::MakeError("found '" + literal + "', expected: identifier");
    }
    if (auto errs = ValidateQualifiedName(literal); !errs.empty()) {
      return base::MakeError(InvalidError("", literal, Join(errs, "; ")));
    }
    req.key = literal;
    auto [next, unused] = Lookahead(Context::kValues);
    (void)unused;
    if (does_not_exist || next == Token::kEnd || next == Token::kComma) {
      // "!key" followed by anything but ',' or the end is caught by the caller.
      req.op = does_not_exist ? LabelRequirement::Op::kDoesNotExist : LabelRequirement::Op::kExists;
      return req;
    }
    auto op = ParseOperator();
    if (!op.ok()) return op.status();
    req.op = *op;
    base::Result<std::vector<std::string>> values = std::vector<std::string>{};
    switch (req.op) {
      case LabelRequirement::Op::kIn:
      case LabelRequirement::Op::kNotIn:
        values = ParseValues();
        break;
      default:
        values = ParseExactValue();
        break;
    }
    if (!values.ok()) return values.status();
    req.values = std::move(values.value());
    std::sort(req.values.begin(), req.values.end());
    req.values.erase(std::unique(req.values.begin(), req.values.end()), req.values.end());
    if (auto s = ValidateRequirement(req); !s.ok()) return s;
    return req;
  }

  base::Result<LabelRequirement::Op> ParseOperator() {
    auto [tok, lit] = Consume(Context::kKeyAndOperator);
    switch (tok) {
      case Token::kIn:
        return LabelRequirement::Op::kIn;
      case Token::kEquals:
        return LabelRequirement::Op::kEquals;
      case Token::kDoubleEquals:
        return LabelRequirement::Op::kDoubleEquals;
      case Token::kGreaterThan:
        return LabelRequirement::Op::kGreaterThan;
      case Token::kLessThan:
        return LabelRequirement::Op::kLessThan;
      case Token::kNotIn:
        return LabelRequirement::Op::kNotIn;
      case Token::kNotEquals:
        return LabelRequirement::Op::kNotEquals;
      default:
        return base::MakeError("found '" + lit + "', expected: in, notin, =, ==, !=, gt, lt");
    }
  }

  base::Result<std::vector<std::string>> ParseValues() {
    auto [tok, lit] = Consume(Context::kValues);
    if (tok != Token::kOpenPar) return base::MakeError("found '" + lit + "' expected: '('");
    std::tie(tok, lit) = Lookahead(Context::kValues);
    switch (tok) {
      case Token::kIdentifier:
      case Token::kComma: {
        auto s = ParseIdentifiersList();
        if (!s.ok()) return s;
        if (Consume(Context::kValues).first != Token::kClosedPar) {
          return base::MakeError("found '" + lit + "', expected: ')'");
        }
        return s;
      }
      case Token::kClosedPar:  // "()"
        Consume(Context::kValues);
        return std::vector<std::string>{""};
      default:
        return base::MakeError("found '" + lit + "', expected: ',', ')' or identifier");
    }
  }

  // A possibly empty list of comma-separated, possibly empty identifiers.
  base::Result<std::vector<std::string>> ParseIdentifiersList() {
    std::vector<std::string> s;
    while (true) {
      auto [tok, lit] = Consume(Context::kValues);
      if (tok == Token::kIdentifier) {
        s.push_back(lit);
        auto [tok2, lit2] = Lookahead(Context::kValues);
        if (tok2 == Token::kComma) continue;
        if (tok2 == Token::kClosedPar) return s;
        return base::MakeError("found '" + lit2 + "', expected: ',' or ')'");
      }
      if (tok == Token::kComma) {  // "(," ",)" ",," all stand for empty values
        if (s.empty()) s.push_back("");
        auto [tok2, unused] = Lookahead(Context::kValues);
        (void)unused;
        if (tok2 == Token::kClosedPar) {
          s.push_back("");
          return s;
        }
        if (tok2 == Token::kComma) {
          Consume(Context::kValues);
          s.push_back("");
        }
        continue;
      }
      return base::MakeError("found '" + lit + "', expected: ',', or identifier");
    }
  }

  base::Result<std::vector<std::string>> ParseExactValue() {
    auto [tok, unused] = Lookahead(Context::kValues);
    (void)unused;
    if (tok == Token::kEnd || tok == Token::kComma) return std::vector<std::string>{""};
    auto [tok2, lit] = Consume(Context::kValues);
    if (tok2 == Token::kIdentifier) return std::vector<std::string>{lit};
    return base::MakeError("found '" + lit + "', expected: identifier");
  }

  // NewRequirement's checks on the operator's values.
  static base::Status ValidateRequirement(const LabelRequirement& req) {
    std::vector<std::string> errs;
    using Op = LabelRequirement::Op;
    if (req.op == Op::kGreaterThan || req.op == Op::kLessThan) {
      for (std::size_t i = 0; i < req.values.size(); ++i) {
        int64_t unused;
        if (!ParseInt64(req.values[i], &unused)) {
          errs.push_back(InvalidError("values[" + std::to_string(i) + "]", req.values[i],
                                      "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      }
    }
    for (std::size_t i = 0; i < req.values.size(); ++i) {
      if (auto v = ValidateLabelValue(req.values[i]); !v.empty()) {
        errs.push_back(InvalidError("values[" + std::to_string(i) + "][" + req.key + "]",
                                    req.values[i], Join(v, "; ")));
      }
    }
    if (errs.empty()) return base::Status::Ok();
    if (errs.size() == 1) return base::Status::Error(errs[0]);
    return base::Status::Error("[" + Join(errs, ", ") + "]");
  }

  std::vector<Item> items_;
  std::size_t position_ = 0;
};

}  // namespace

std::vector<std::string> ValidateQualifiedName(std::string_view value) {
  std::vector<std::string> errs;
  std::string_view name = value;
  std::size_t slashes = std::count(value.begin(), value.end(), '/');
  if (slashes > 1) {
    errs.push_back(
        "a qualified name " +
        RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    return errs;
  }
  if (slashes == 1) {
    std::size_t slash = value.find('/');
    std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      if (prefix.size() > kDns1123SubdomainMaxLength) {
        errs.push_back("prefix part " + MaxLenError(kDns1123SubdomainMaxLength));
      }
      if (!MatchesDns1123Subdomain(prefix)) {
        errs.push_back("prefix part " +
                       RegexError(kDns1123SubdomainErrMsg, kDns1123SubdomainFmt, {"example.com"}));
      }
    }
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > kQualifiedNameMaxLength) {
    errs.push_back("name part " + MaxLenError(kQualifiedNameMaxLength));
  }
  if (!MatchesQualifiedNamePart(name)) {
    errs.push_back("name part " + RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt,
                                             {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> ValidateLabelValue(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kLabelValueMaxLength) errs.push_back(MaxLenError(kLabelValueMaxLength));
  if (!value.empty() && !MatchesQualifiedNamePart(value)) {
    errs.push_back(RegexError(kLabelValueErrMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

// ---- LabelRequirement / LabelSelector ----

bool LabelRequirement::Matches(const Labels& labels) const {
  auto it = labels.find(key);
  bool has = it != labels.end();
  auto has_value = [&](std::string_view v) {
    return std::binary_search(values.begin(), values.end(), v);
  };
  switch (op) {
    case Op::kIn:
    case Op::kEquals:
    case Op::kDoubleEquals:
      return has && has_value(it->second);
    case Op::kNotIn:
    case Op::kNotEquals:
      return !has || !has_value(it->second);
    case Op::kExists:
      return has;
    case Op::kDoesNotExist:
      return !has;
    case Op::kGreaterThan:
    case Op::kLessThan: {
      if (!has || values.size() != 1) return false;
      int64_t label_value, required;
      if (!ParseInt64(it->second, &label_value) || !ParseInt64(values[0], &required)) return false;
      return op == Op::kGreaterThan ? label_value > required : label_value < required;
    }
  }
  return false;
}

std::string LabelRequirement::String() const {
  std::string out;
  if (op == Op::kDoesNotExist) out += '!';
  out += key;
  switch (op) {
    case Op::kEquals:
      out += '=';
      break;
    case Op::kDoubleEquals:
      out += "==";
      break;
    case Op::kNotEquals:
      out += "!=";
      break;
    case Op::kIn:
      out += " in ";
      break;
    case Op::kNotIn:
      out += " notin ";
      break;
    case Op::kGreaterThan:
      out += '>';
      break;
    case Op::kLessThan:
      out += '<';
      break;
    case Op::kExists:
    case Op::kDoesNotExist:
      return out;
  }
  bool set = op == Op::kIn || op == Op::kNotIn;
  if (set) out += '(';
  out += Join(values, ",");
  if (set) out += ')';
  return out;
}

base::Result<LabelSelector> LabelSelector::Parse(std::string_view text) {
  auto requirements = Parser(text).Parse();
  if (!requirements.ok()) return requirements.status();
  LabelSelector selector;
  selector.requirements_ = std::move(requirements.value());
  std::stable_sort(
      selector.requirements_.begin(), selector.requirements_.end(),
      [](const LabelRequirement& a, const LabelRequirement& b) { return a.key < b.key; });
  return selector;
}

LabelSelector LabelSelector::FromLabels(const Labels& labels) {
  LabelSelector selector;
  for (const auto& [key, value] : labels) {  // already sorted by key
    selector.requirements_.push_back(
        {std::string(key), LabelRequirement::Op::kEquals, {std::string(value)}});
  }
  return selector;
}

bool LabelSelector::Matches(const Labels& labels) const {
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const LabelRequirement& r) { return r.Matches(labels); });
}

std::string LabelSelector::String() const {
  std::string out;
  for (std::size_t i = 0; i < requirements_.size(); ++i) {
    if (i > 0) out += ',';
    out += requirements_[i].String();
  }
  return out;
}

LabelSelector LabelSelector::And(const LabelSelector& other) const {
  LabelSelector out = *this;
  out.requirements_.insert(out.requirements_.end(), other.requirements_.begin(),
                           other.requirements_.end());
  std::stable_sort(
      out.requirements_.begin(), out.requirements_.end(),
      [](const LabelRequirement& a, const LabelRequirement& b) { return a.key < b.key; });
  return out;
}

// ---- FieldSelector (k8s.io/apimachinery/pkg/fields/selector.go) ----

namespace {

// Splits on commas that are not escaped by a backslash.
std::vector<std::string_view> SplitTerms(std::string_view s) {
  std::vector<std::string_view> terms;
  if (s.empty()) return terms;
  std::size_t start = 0;
  bool slash = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (slash) {
      slash = false;
    } else if (s[i] == '\\') {
      slash = true;
    } else if (s[i] == ',') {
      terms.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  terms.push_back(s.substr(start));
  return terms;
}

// The first operator from the left; at each position "!=" and "==" win over "=".
bool SplitTerm(std::string_view term, std::string_view* lhs, std::string_view* op,
               std::string_view* rhs) {
  static constexpr std::string_view kOps[] = {"!=", "==", "="};
  for (std::size_t i = 0; i < term.size(); ++i) {
    for (std::string_view o : kOps) {
      if (term.substr(i, o.size()) == o) {
        *lhs = term.substr(0, i);
        *op = o;
        *rhs = term.substr(i + o.size());
        return true;
      }
    }
  }
  return false;
}

base::Result<std::string> UnescapeValue(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool slash = false;
  for (char c : s) {
    if (slash) {
      if (c != '\\' && c != ',' && c != '=') {
        return base::MakeError(std::string("invalid field selector: invalid escape sequence: \\") +
                               c);
      }
      out += c;
      slash = false;
      continue;
    }
    if (c == '\\') {
      slash = true;
    } else if (c == ',' || c == '=') {
      return base::MakeError(std::string("invalid field selector: unescaped character in value: ") +
                             c);
    } else {
      out += c;
    }
  }
  if (slash) return base::MakeError("invalid field selector: invalid escape sequence: \\");
  return out;
}

}  // namespace

std::string EscapeFieldValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == ',' || c == '=') out += '\\';
    out += c;
  }
  return out;
}

base::Result<FieldSelector> FieldSelector::Parse(std::string_view text) {
  std::vector<std::string_view> parts = SplitTerms(text);
  std::sort(parts.begin(), parts.end());  // as apimachinery does, for a deterministic order
  FieldSelector selector;
  for (std::string_view part : parts) {
    if (part.empty()) continue;
    std::string_view lhs, op, rhs;
    if (!SplitTerm(part, &lhs, &op, &rhs)) {
      return base::MakeError("invalid selector: '" + std::string(text) + "'; can't understand '" +
                             std::string(part) + "'");
    }
    auto value = UnescapeValue(rhs);
    if (!value.ok()) return value.status();
    selector.requirements_.push_back(
        {std::string(lhs),
         op == "!=" ? FieldRequirement::Op::kNotEquals : FieldRequirement::Op::kEquals,
         std::move(value.value())});
  }
  return selector;
}

bool FieldSelector::Matches(const FieldGetter& get) const {
  for (const FieldRequirement& r : requirements_) {
    std::optional<std::string_view> v = get(r.field);
    std::string_view actual = v ? *v : std::string_view();
    bool equal = actual == r.value;
    if (equal != (r.op == FieldRequirement::Op::kEquals)) return false;
  }
  return true;
}

std::string FieldSelector::String() const {
  std::string out;
  for (std::size_t i = 0; i < requirements_.size(); ++i) {
    if (i > 0) out += ',';
    const FieldRequirement& r = requirements_[i];
    out += r.field;
    out += r.op == FieldRequirement::Op::kEquals ? "=" : "!=";
    out += EscapeFieldValue(r.value);
  }
  return out;
}

}  // namespace kube
