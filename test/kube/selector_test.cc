#include "kube/selector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace kube {
namespace {

using ::testing::HasSubstr;

LabelSelector MustParse(std::string_view text) {
  auto s = LabelSelector::Parse(text);
  EXPECT_TRUE(s.ok()) << text << ": " << (s.ok() ? "" : s.error());
  return s.ok() ? s.value() : LabelSelector();
}

std::string ParseError(std::string_view text) {
  auto s = LabelSelector::Parse(text);
  EXPECT_FALSE(s.ok()) << text << " parsed as " << (s.ok() ? s->String() : "");
  return s.ok() ? "" : s.error();
}

TEST(LabelSelectorTest, EmptyMatchesEverything) {
  for (const char* text : {"", " ", "\t\n"}) {
    LabelSelector s = MustParse(text);
    EXPECT_TRUE(s.Empty()) << text;
    EXPECT_TRUE(s.Matches({}));
    EXPECT_TRUE(s.Matches({{"a", "b"}}));
    EXPECT_EQ(s.String(), "");
  }
  EXPECT_TRUE(LabelSelector().Matches({{"x", "y"}}));
}

// The cases of apimachinery's TestSelectorParse / TestLexer, normalized as String() prints them.
TEST(LabelSelectorTest, ParsesAndPrintsCanonically) {
  const std::map<std::string, std::string> cases = {
      {"x=a,y=b,z=c", "x=a,y=b,z=c"},
      {"x!=a,y=b", "x!=a,y=b"},
      {"x=,z= ", "x=,z="},
      {"x= ,z= ", "x=,z="},
      {"!x", "!x"},
      {"x>1", "x>1"},
      {"x>1,z<5", "x>1,z<5"},
      {"x==a", "x==a"},
      {"x in (a,b)", "x in (a,b)"},
      {"x in (b,a,a)", "x in (a,b)"},
      {"x notin (a)", "x notin (a)"},
      {"x in (),y", "x in (),y"},
      {"x in (,a)", "x in (,a)"},
      {"x in (a,,b)", "x in (,a,b)"},
      {"x in (a,)", "x in (,a)"},
      {"  x  in  ( a , b )  ,  !y  ", "x in (a,b),!y"},
      {"z,y,x", "x,y,z"},  // sorted by key
      {"x in (in),y notin (notin)", "x in (in),y notin (notin)"},
      {"example.com/app=web", "example.com/app=web"},
      {"a.b-c_d=E.f-G_h", "a.b-c_d=E.f-G_h"},
      {"x=a,x!=b", "x=a,x!=b"},  // stable for equal keys
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(MustParse(in).String(), want) << in;
    // Printing then parsing again yields the same selector.
    EXPECT_EQ(MustParse(MustParse(in).String()).String(), want) << in;
  }
}

TEST(LabelSelectorTest, RejectsBadSyntaxWithApimachineryTexts) {
  EXPECT_EQ(ParseError("x=a,"), "found '', expected: identifier after ','");
  EXPECT_EQ(ParseError(",x=a"), "found ',', expected: !, identifier, or 'end of string'");
  EXPECT_EQ(ParseError("x=a y=b"), "found 'y', expected: ',' or 'end of string'");
  EXPECT_EQ(ParseError("x in a"), "unable to parse requirement: found 'a' expected: '('");
  EXPECT_EQ(ParseError("x in (a"), "unable to parse requirement: found '', expected: ',' or ')'");
  EXPECT_EQ(ParseError("x (a)"),
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt");
  EXPECT_EQ(ParseError("!x=a"), "found '=', expected: ',' or 'end of string'");
  EXPECT_EQ(ParseError("x=(a)"), "unable to parse requirement: found '(', expected: identifier");
  EXPECT_EQ(ParseError("x in ((a)"),
            "unable to parse requirement: found '(', expected: ',', ')' or identifier");
  EXPECT_EQ(ParseError("!"), "unable to parse requirement: found '', expected: identifier");
  EXPECT_THAT(ParseError("x=a=b"), HasSubstr("expected: ',' or 'end of string'"));
  EXPECT_EQ(ParseError("x=!"), "unable to parse requirement: found '!', expected: identifier");
  // The lexer takes the longest operator: "<" then ">" (not an identifier).
  EXPECT_EQ(ParseError("x<>1"), "unable to parse requirement: found '>', expected: identifier");
  EXPECT_EQ(ParseError("x=>1"), "unable to parse requirement: found '>', expected: identifier");
}

TEST(LabelSelectorTest, ValidatesKeysAndValues) {
  EXPECT_EQ(ParseError("-x=a"),
            "unable to parse requirement: Invalid value: \"-x\": name part must consist of "
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
            "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  EXPECT_THAT(ParseError("a/b/c"), HasSubstr("a qualified name must consist of"));
  EXPECT_THAT(ParseError("/x"), HasSubstr("prefix part must be non-empty"));
  EXPECT_THAT(ParseError("x/"), HasSubstr("name part must be non-empty"));
  EXPECT_THAT(ParseError("Example.com/x"), HasSubstr("prefix part a lowercase RFC 1123 subdomain"));
  EXPECT_THAT(ParseError(std::string(64, 'k') + "=v"),
              HasSubstr("name part must be no more than 63 characters"));
  EXPECT_THAT(ParseError("x=" + std::string(64, 'v')),
              HasSubstr("values[0][x]: Invalid value: \"" + std::string(64, 'v') +
                        "\": must be no more than 63 characters"));
  EXPECT_THAT(ParseError("x=a."), HasSubstr("values[0][x]: Invalid value: \"a.\": a valid label"));
  EXPECT_THAT(ParseError("x in (a,-b)"), HasSubstr("values[0][x]: Invalid value: \"-b\""));
  EXPECT_THAT(ParseError("x>a"),
              HasSubstr("for 'Gt', 'Lt' operators, the value must be an integer"));
  EXPECT_THAT(ParseError("x<"), HasSubstr("the value must be an integer"));
  EXPECT_THAT(ParseError("x>-1"), HasSubstr("values[0][x]: Invalid value: \"-1\""));
  // Boundaries that are valid.
  MustParse(std::string(63, 'k') + "=" + std::string(63, 'v'));
  MustParse(std::string(253, 'p') + "/" + "k");
  EXPECT_THAT(ParseError(std::string(254, 'p') + "/k"),
              HasSubstr("prefix part must be no more than 253 characters"));
}

TEST(LabelSelectorTest, MatchesLikeApimachinery) {
  const Labels labels = {{"app", "web"}, {"tier", "frontend"}, {"n", "10"}, {"empty", ""}};
  struct Case {
    const char* selector;
    bool want;
  };
  const Case cases[] = {
      {"app=web", true},
      {"app==web", true},
      {"app=db", false},
      {"app!=db", true},
      {"app!=web", false},
      {"missing!=x", true},  // != and notin match when the label is absent
      {"missing notin (x)", true},
      {"missing in (x)", false},
      {"missing=", false},  // = requires the label to exist, even with an empty value
      {"empty=", true},
      {"empty", true},
      {"!empty", false},
      {"app in (db,web)", true},
      {"app notin (db,web)", false},
      {"app notin (db)", true},
      {"app", true},
      {"!app", false},
      {"!missing", true},
      {"missing", false},
      {"n>9", true},
      {"n>10", false},
      {"n<11", true},
      {"n<0", false},
      {"n<10", false},
      {"app>1", false},  // a non-integer label never satisfies > or <
      {"missing<1", false},
      {"app=web,tier=frontend", true},
      {"app=web,tier=backend", false},
      {"tier in (frontend),!missing,app", true},
      {"app in ()", false},  // () is the set {""}
      {"empty in ()", true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(MustParse(c.selector).Matches(labels), c.want) << c.selector;
  }
}

TEST(LabelSelectorTest, FromLabelsAndAnd) {
  LabelSelector s = LabelSelector::FromLabels({{"b", "2"}, {"a", "1"}});
  EXPECT_EQ(s.String(), "a=1,b=2");
  EXPECT_TRUE(s.Matches({{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  EXPECT_FALSE(s.Matches({{"a", "1"}}));
  EXPECT_TRUE(LabelSelector::FromLabels({}).Empty());

  LabelSelector both = MustParse("z").And(MustParse("a=1"));
  EXPECT_EQ(both.String(), "a=1,z");
  EXPECT_TRUE(both.Matches({{"a", "1"}, {"z", ""}}));
  EXPECT_FALSE(both.Matches({{"a", "1"}}));
  EXPECT_EQ(both.Requirements().size(), 2u);
}

TEST(LabelSelectorTest, RequirementsExposeStructure) {
  LabelSelector s = MustParse("env in (prod,dev),!canary");
  ASSERT_EQ(s.Requirements().size(), 2u);
  EXPECT_EQ(s.Requirements()[0].key, "canary");
  EXPECT_EQ(s.Requirements()[0].op, LabelRequirement::Op::kDoesNotExist);
  EXPECT_EQ(s.Requirements()[1].key, "env");
  EXPECT_EQ(s.Requirements()[1].op, LabelRequirement::Op::kIn);
  EXPECT_EQ(s.Requirements()[1].values, (std::vector<std::string>{"dev", "prod"}));
}

TEST(LabelSelectorTest, SurvivesHostileInput) {
  // Whatever the bytes, parsing returns a value; no crash, no exception.
  const std::string inputs[] = {std::string("x\0=a", 4),
                                "((((",
                                "))))",
                                "=,=,=",
                                "!!!x",
                                "x in",
                                "x notin",
                                "x in (a b)",
                                ",,,",
                                "x=a,,y=b",
                                std::string(10000, '(')};
  for (const std::string& in : inputs) {
    auto r = LabelSelector::Parse(in);
    if (r.ok()) {
      EXPECT_TRUE(LabelSelector::Parse(r->String()).ok()) << in;
    }
  }
  // A NUL byte ends the input as in the Go lexer.
  EXPECT_EQ(MustParse(std::string("x\0=a", 4)).String(), "x");
}

// ---- FieldSelector ----

FieldGetter Fields(std::map<std::string, std::string> m) {
  return [m = std::move(m)](std::string_view f) -> std::optional<std::string_view> {
    auto it = m.find(std::string(f));
    if (it == m.end()) return std::nullopt;
    return std::string_view(it->second);
  };
}

TEST(FieldSelectorTest, ParsesTermsWithEscapes) {
  auto s = FieldSelector::Parse("metadata.name=web\\,1,metadata.namespace!=kube-system");
  ASSERT_TRUE(s.ok()) << s.error();
  ASSERT_EQ(s->Requirements().size(), 2u);
  EXPECT_EQ(s->Requirements()[0].field, "metadata.name");
  EXPECT_EQ(s->Requirements()[0].value, "web,1");
  EXPECT_EQ(s->Requirements()[0].op, FieldRequirement::Op::kEquals);
  EXPECT_EQ(s->Requirements()[1].field, "metadata.namespace");
  EXPECT_EQ(s->Requirements()[1].op, FieldRequirement::Op::kNotEquals);
  EXPECT_EQ(s->String(), "metadata.name=web\\,1,metadata.namespace!=kube-system");

  auto d = FieldSelector::Parse("a==b");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->Requirements()[0].value, "b");
  EXPECT_EQ(d->Requirements()[0].op, FieldRequirement::Op::kEquals);

  auto esc = FieldSelector::Parse("k=\\\\\\=\\,");  // k=\\\=\,
  ASSERT_TRUE(esc.ok()) << esc.error();
  EXPECT_EQ(esc->Requirements()[0].value, "\\=,");
  EXPECT_EQ(EscapeFieldValue("\\=,"), "\\\\\\=\\,");

  auto empty_value = FieldSelector::Parse("a=");
  ASSERT_TRUE(empty_value.ok());
  EXPECT_EQ(empty_value->Requirements()[0].value, "");

  auto skip_empty_terms = FieldSelector::Parse(",a=b,,");
  ASSERT_TRUE(skip_empty_terms.ok());
  EXPECT_EQ(skip_empty_terms->Requirements().size(), 1u);

  auto everything = FieldSelector::Parse("");
  ASSERT_TRUE(everything.ok());
  EXPECT_TRUE(everything->Empty());
}

TEST(FieldSelectorTest, RejectsMalformed) {
  auto no_op = FieldSelector::Parse("a=b,metadata.name");
  ASSERT_FALSE(no_op.ok());
  EXPECT_EQ(no_op.error(),
            "invalid selector: 'a=b,metadata.name'; can't understand 'metadata.name'");
  auto bad_escape = FieldSelector::Parse("a=b\\c");
  ASSERT_FALSE(bad_escape.ok());
  EXPECT_EQ(bad_escape.error(), "invalid field selector: invalid escape sequence: \\c");
  auto trailing = FieldSelector::Parse("a=b\\");
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.error(), "invalid field selector: invalid escape sequence: \\");
  auto unescaped = FieldSelector::Parse("a=b=c");
  ASSERT_FALSE(unescaped.ok());
  EXPECT_EQ(unescaped.error(), "invalid field selector: unescaped character in value: =");
}

TEST(FieldSelectorTest, OperatorFoundLeftmost) {
  // "a!=b": != at index 1 wins over = at index 2; "a=!b" splits at "=" and keeps "!b".
  auto ne = FieldSelector::Parse("a!=b");
  ASSERT_TRUE(ne.ok());
  EXPECT_EQ(ne->Requirements()[0].op, FieldRequirement::Op::kNotEquals);
  EXPECT_EQ(ne->Requirements()[0].value, "b");
  auto eq = FieldSelector::Parse("a=!b");
  ASSERT_TRUE(eq.ok());
  EXPECT_EQ(eq->Requirements()[0].op, FieldRequirement::Op::kEquals);
  EXPECT_EQ(eq->Requirements()[0].value, "!b");
}

TEST(FieldSelectorTest, MatchesAbsentFieldsAsEmpty) {
  auto pod = Fields({{"metadata.name", "web"}, {"metadata.namespace", "default"}});
  auto node = Fields({{"metadata.name", "node-1"}});
  auto sel = [](const char* t) { return FieldSelector::Parse(t).value(); };
  EXPECT_TRUE(sel("metadata.name=web").Matches(pod));
  EXPECT_FALSE(sel("metadata.name=db").Matches(pod));
  EXPECT_TRUE(sel("metadata.name!=db").Matches(pod));
  EXPECT_TRUE(sel("metadata.name=web,metadata.namespace=default").Matches(pod));
  EXPECT_FALSE(sel("metadata.name=web,metadata.namespace=other").Matches(pod));
  EXPECT_FALSE(sel("metadata.namespace=x").Matches(node));
  EXPECT_TRUE(sel("metadata.namespace=").Matches(node));
  EXPECT_TRUE(sel("metadata.namespace!=x").Matches(node));
  EXPECT_TRUE(sel("").Matches(node));
}

}  // namespace
}  // namespace kube
