// The graph language: TOML with locations, extends, vars, --set overrides, printing.
#include <doctest/doctest.h>

#include "engine/core/graph.hpp"
#include "engine/core/sections.hpp"
#include "engine/core/spec.hpp"
#include "tests/support.hpp"

using namespace engine;

TEST_SUITE("spec") {
  TEST_CASE("values remember file, line and column") {
    test::TempDir dir;
    auto f = dir.write("g.toml", "name = \"x\"\n[train]\nlr = 0.5\n");
    Value v = parse_toml_file(f);
    const Value& lr = *v.find("train")->find("lr");
    CHECK(lr.as_float("lr") == 0.5);
    CHECK(lr.loc.line == 3);
    CHECK(lr.loc.col == 6);
    CHECK(lr.loc.file == f.string());
  }

  TEST_CASE("keys keep the order they were written in") {
    Value v = parse_toml_string("zeta = 1\nalpha = 2\nmid = 3\n", "t");
    CHECK(v.keys() == std::vector<std::string>{"zeta", "alpha", "mid"});
  }

  TEST_CASE("extends merges tables deeply, child wins, arrays replace, chains resolve") {
    test::TempDir dir;
    dir.write("a.toml", "name = \"a\"\n[train]\nlr = 0.1\nepochs = 5\n[vars]\nw = [1, 2, 3]\n");
    dir.write("b.toml", "extends = \"a.toml\"\n[train]\nlr = 0.2\n[vars]\nw = [9]\n");
    auto c = dir.write("sub/c.toml", "extends = \"../b.toml\"\nname = \"c\"\n[vars]\nact = \"gelu\"\n");
    Value v = parse_toml_file(c);  // without following extends
    CHECK(v.find("extends"));
    Value r = load_spec(c);
    CHECK(r.find("name")->s == "c");
    CHECK(r.find("train")->find("lr")->as_float("") == 0.2);
    CHECK(r.find("train")->find("epochs")->i == 5);
    CHECK(r.find("vars")->find("w")->as_ints("") == std::vector<int64_t>{9});
    CHECK(r.find("vars")->find("act")->s == "gelu");
    CHECK_FALSE(r.find("extends"));
    // lr came from b.toml: its location says so.
    CHECK(r.find("train")->find("lr")->loc.file.find("b.toml") != std::string::npos);
  }

  TEST_CASE("a variant without its own name is named after its file, not its parent") {
    test::TempDir dir;
    dir.write("base.toml", "name = \"base\"\n");
    auto v = dir.write("3.3-D.toml", "extends = \"base.toml\"\n");
    CHECK(load_spec(v).find("name")->s == "3.3-D");
  }

  TEST_CASE("extends errors name both files") {
    test::TempDir dir;
    auto a = dir.write("a.toml", "extends = \"b.toml\"\n");
    dir.write("b.toml", "extends = \"a.toml\"\n");
    try {
      load_spec(a);
      FAIL("a loop must be an error");
    } catch (const SpecError& e) {
      std::string m = e.what();
      CHECK(m.find("loop") != std::string::npos);
      CHECK(m.find("a.toml") != std::string::npos);
      CHECK(m.find("b.toml") != std::string::npos);
    }
    auto m = dir.write("m.toml", "extends = \"missing.toml\"\n");
    CHECK_THROWS_WITH_AS(load_spec(m), doctest::Contains("m.toml:1:11: extends 'missing.toml': no such file"),
                         SpecError);
  }

  TEST_CASE("vars substitute anywhere outside [vars]; $classes comes from the data section") {
    test::TempDir dir;
    auto f = dir.write("g.toml",
                       "name = \"g\"\n[vars]\nw = [8, 16]\nact = \"elu\"\n[data]\nclasses = [\"a\", \"b\", \"c\"]\n"
                       "[[layers]]\nop = \"$act\"\nwidths = \"$w\"\n[[layers]]\nop = \"linear\"\nout = \"$classes\"\n");
    Value r = load_spec(f);
    const Value& layers = *r.find("layers");
    CHECK(layers.items[0].find("op")->s == "elu");
    CHECK(layers.items[0].find("widths")->as_ints("") == std::vector<int64_t>{8, 16});
    CHECK(layers.items[1].find("out")->i == 3);
    CHECK(layers.items[1].find("out")->loc.line == 12);  // points at the use, not the definition

    auto idx =
        dir.write("idx.toml", "name = \"g\"\n[vars]\nw = [8, 16]\n[[layers]]\nop = \"conv2d\"\nout = \"$w[1]\"\n");
    CHECK(load_spec(idx).find("layers")->items[0].find("out")->i == 16);
    auto past = dir.write("past.toml", "name = \"g\"\n[vars]\nw = [8, 16]\n[[layers]]\nout = \"$w[2]\"\n");
    CHECK_THROWS_WITH_AS(load_spec(past),
                         doctest::Contains("past.toml:5:7: '$w[2]': $w is [8, 16], which has no item 2"), SpecError);

    auto bad = dir.write("bad.toml", "name = \"g\"\n[vars]\nwidth = 3\n[[layers]]\nop = \"$widht\"\n");
    CHECK_THROWS_WITH_AS(
        load_spec(bad), doctest::Contains("bad.toml:5:6: unknown variable '$widht'; did you mean 'width'?"), SpecError);
  }

  TEST_CASE("--set overrides any key after inheritance, before vars") {
    test::TempDir dir;
    auto f = dir.write("g.toml",
                       "name = \"g\"\n[vars]\nact = \"relu\"\n[train]\nlr = 0.1\n[[layers]]\nop = \"$act\"\n"
                       "[[layers]]\nop = \"linear\"\nout = 4\n");
    Value r = load_spec(
        f, {"train.lr=0.01", "vars.act=gelu", "layers.1.out=7", "train.optimizer=\"sgd\"", "data.augment.flip=true"});
    CHECK(r.find("train")->find("lr")->f == doctest::Approx(0.01));
    CHECK(r.find("train")->find("optimizer")->s == "sgd");
    CHECK(r.find("layers")->items[0].find("op")->s == "gelu");
    CHECK(r.find("layers")->items[1].find("out")->i == 7);
    CHECK(r.find("data")->find("augment")->find("flip")->b);
    CHECK_THROWS_WITH_AS(load_spec(f, {"layers.9.out=1"}), doctest::Contains("not an index"), SpecError);
    CHECK_THROWS_WITH_AS(load_spec(f, {"nonsense"}), doctest::Contains("KEY.PATH=VALUE"), SpecError);
  }

  TEST_CASE("to_toml prints a document that parses back to the same values") {
    test::TempDir dir;
    auto f = dir.write(
        "g.toml",
        "name = \"g\"\ntitle = \"q\\\"uote\"\n[train]\nlr = 1e-3\nsteps = [1, 2]\n[data.augment]\nflip = true\n"
        "[[layers]]\nop = \"conv2d\"\nout = 8\n[[layers]]\nop = \"relu\"\n");
    Value r = load_spec(f);
    Value back = parse_toml_string(to_toml(r), "printed");
    CHECK(flatten(back) == flatten(r));
  }

  TEST_CASE("did_you_mean suggests only close names") {
    CHECK(did_you_mean("kernal", {"kernel", "stride"}) == "; did you mean 'kernel'?");
    CHECK(did_you_mean("zzzzzz", {"kernel", "stride"}).empty());
  }

  TEST_CASE("sections get documented defaults, and unknown section keys are errors") {
    Value v = parse_toml_string("name = \"g\"\n[train]\nepochs = 3\n[[layers]]\nop = \"relu\"\n", "g.toml");
    complete_sections(v);
    TrainConfig t = train_config(v);
    CHECK(t.epochs == 3);
    CHECK(t.lr == doctest::Approx(1e-3));
    CHECK(t.optimizer == "adam");
    CHECK(annotated_toml(v).find("# number of epochs") != std::string::npos);

    Value bad = parse_toml_string("name = \"g\"\n[train]\nepoch = 3\n[[layers]]\nop = \"relu\"\n", "g.toml");
    CHECK_THROWS_WITH_AS(complete_sections(bad),
                         doctest::Contains("g.toml:3:9: [train]: unknown key 'epoch'; did you mean 'epochs'?"),
                         SpecError);
  }

  // A bad value is reported where it was written; when it came through "$name", the message
  // then says where it was used.
  TEST_CASE("errors point at the origin of a value that came through a variable, extends or --set") {
    test::TempDir dir;
    auto base = dir.write("base.toml", R"(name = "base"
[input]
shape = [3, 16, 16]
[vars]
act = "relu"
widths = [8, 16]
[[layers]]
op = "conv2d"
out = "$widths[0]"
kernel = 3
[[layers]]
op = "$act"
[[layers]]
op = "resnet_stages"
widths = "$widths"
blocks = [1]
[[layers]]
op = "flatten"
)");
    auto message = [](const std::filesystem::path& f, std::vector<std::string> sets = {}) -> std::string {
      try {
        load_graph(f, sets);
      } catch (const SpecError& e) {
        return e.what();
      }
      return "no error";
    };
    auto starts = [](const std::string& s, const std::string& head) { return s.rfind(head, 0) == 0; };
    auto ends = [](const std::string& s, const std::string& tail) {
      return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
    };
    CHECK(message(base) == "no error");
    std::string used_act = " (used at " + base.string() + ":12:6 through $act)";

    // extends: the typo is in the variant, used in its base.
    auto variant =
        dir.write("act-typo.toml", "extends = \"base.toml\"\nname = \"act-typo\"\n\n[vars]\nact = \"gleu\"\n");
    std::string m = message(variant);
    CHECK(starts(m, variant.string() + ":5:7: unknown op 'gleu'; did you mean 'gelu'? (known ops: "));
    CHECK(ends(m, used_act));

    // the same file: [vars] line, then the use.
    auto same = dir.write("same.toml",
                          "name = \"same\"\n[vars]\nk = 0\n[[layers]]\nop = \"conv2d\"\nout = 4\nkernel = \"$k\"\n");
    CHECK(message(same) == same.string() +
                               ":3:5: layers[0] (conv2d_0, conv2d).kernel = 0 is too small: it must be at "
                               "least 1 (used at " +
                               same.string() + ":7:10 through $k)");

    // --set: the override is the origin.
    m = message(base, {"vars.act=gleu"});
    CHECK(starts(m, "--set vars.act=gleu: unknown op 'gleu'; did you mean 'gelu'?"));
    CHECK(ends(m, used_act));

    // An item of an array variable, by index and inside a composite's expansion.
    CHECK(message(base, {"vars.widths=[0,16]"}) ==
          "--set vars.widths=[0,16]: layers[0] (conv2d_0, conv2d).out = 0 is too small: it must be at least 1 "
          "(used at " +
              base.string() + ":9:7 through $widths[0])");
    m = message(base, {"vars.widths=[8,1024]"});
    CHECK(starts(m,
                 "--set vars.widths=[8,1024]: layers[2] (resnet_stages_2, resnet_stages) > layer2.0 (basic_block) > "
                 "conv1 (conv2d): 1024 output channels exceed limits.max_channels = 512"));
    CHECK(ends(m, " (used at " + base.string() + ":15:10 through $widths)"));

    // A value set directly has no use to add, wherever it fails.
    CHECK(message(base, {"layers.0.kernel=0"}) ==
          "--set layers.0.kernel=0: layers[0] (conv2d_0, conv2d).kernel = 0 is too small: it must be at least 1");
    CHECK(starts(message(base, {"layers.0.kernel=40"}),
                 "--set layers.0.kernel=40: layers[0] (conv2d_0, conv2d): "
                 "the input 3x16x16 is too small for kernel 40"));
  }

  TEST_CASE("a resolved graph nests at most 100 levels, whether a file, --set or a variable deepens it") {
    test::TempDir dir;
    std::string dots;
    for (int k = 0; k < 60; ++k) dots += "a.";
    auto deep = dir.write("deep.toml", "name = \"g\"\n" + dots + dots + "b = 1\n");
    CHECK_THROWS_WITH_AS(load_spec(deep), doctest::Contains("deep.toml:2:201: tables and arrays nest more than 100"),
                         SpecError);
    auto half = dir.write("half.toml", "name = \"g\"\n[vars]\n" + dots + "b = 1\n[train]\n" + dots + "c = \"$a\"\n");
    CHECK_THROWS_WITH_AS(load_spec(half), doctest::Contains("through $a)"), SpecError);
    auto ok = dir.write("ok.toml", "name = \"g\"\n" + dots + "b = 1\n");
    CHECK(load_spec(ok).find("a"));
    CHECK_THROWS_WITH_AS(load_spec(ok, {"x." + dots + dots + "y=1"}), doctest::Contains("--set x."), SpecError);
  }

  TEST_CASE("characters toml++ 3.3 cannot classify read back in strings and are errors outside them") {
    // § µ Κ ぁ ﻯ: in the ranges where toml++ reaches __builtin_unreachable; then a Private Use one.
    std::string text = "\xc2\xa7 \xc2\xb5 \xce\x9a \xe3\x81\x81 \xef\xbb\xaf \xee\x80\x80";
    std::string toml = "t = \"" + text + "\"\n\"" + text + "\" = 1\ns = \"\"\"\\\n  " + text + "\"\"\"\n";
    Value v = parse_toml_string(toml, "u.toml");
    CHECK(v.find("t")->s == text);
    CHECK(v.find(text));
    CHECK(v.find("s")->s == text);  // after a line-ending backslash
    CHECK_THROWS_WITH_AS(parse_toml_string("x = 3\xce\x9a\n", "u.toml"),
                         doctest::Contains("u.toml:1:6: TOML syntax error: unexpected '\xce\x9a' outside a string"),
                         SpecError);
    // A value that starts like a number runs through quotes, for toml++ too.
    CHECK_THROWS_WITH_AS(parse_toml_string("x = 0x\"\xef\xbb\xaf\"\n", "u.toml"),
                         doctest::Contains("u.toml:1:8: TOML syntax error: unexpected"), SpecError);
    CHECK_THROWS_WITH_AS(parse_toml_string("x = \"\"\"\\\xc2\xa7\"\"\"\n", "u.toml"),
                         doctest::Contains("unknown escape sequence '\\\xc2\xa7'"), SpecError);
  }
}
