// The command line: exit codes, the catalogue of bad graphs, drawings, config printing.
#include <doctest/doctest.h>

#include <regex>

#include "tests/support.hpp"

namespace fs = std::filesystem;

TEST_SUITE("cli") {
  TEST_CASE("every graph under graphs/ checks out, one line each") {
    std::vector<std::string> args{"check"};
    for (const auto& e : fs::directory_iterator(test::source_dir() / "graphs"))
      if (e.path().extension() == ".toml" && e.path().filename() != "study.toml") args.push_back(e.path().string());
    auto r = test::run_cli(args);
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(r.out.find(" ok  params ") != std::string::npos);
  }

  // Each file in tests/bad starts with "# expect: [FILE:]LINE TEXT": `engine check` must exit 2
  // with a message naming that file (default: itself) and line and containing TEXT.
  TEST_CASE("the catalogue of bad graphs: exit code 2, file:line and the reason") {
    int cases = 0;
    for (const auto& e : fs::directory_iterator(test::source_dir() / "tests" / "bad")) {
      std::string first = test::read_file(e.path());
      first = first.substr(0, first.find('\n'));
      std::smatch m;
      REQUIRE(std::regex_match(first, m, std::regex("# expect: (?:(\\S+\\.toml):)?(\\d+) (.*)")));
      std::string file = m[1].matched ? m[1].str() : e.path().filename().string();
      auto r = test::run_cli({"check", e.path().string()});
      CAPTURE(e.path().filename().string());
      CAPTURE(r.out);
      CHECK(r.code == 2);
      CHECK(r.out.find("/" + file + ":" + m[2].str() + ":") != std::string::npos);
      CHECK(r.out.find(m[3].str()) != std::string::npos);
      ++cases;
    }
    CHECK(cases >= 15);
  }

  TEST_CASE("a missing file, a bad flag and a good file mixed with a bad one") {
    CHECK(test::run_cli({"check", "no/such/file.toml"}).code == 2);
    CHECK(test::run_cli({"check", "--no-such-flag"}).code == 2);
    CHECK(test::run_cli({"frobnicate"}).code == 2);
    auto typo = test::run_cli({"trian", "graphs/baseline.toml"});
    CHECK(typo.code == 2);
    CHECK(typo.err.find("unknown command 'trian'; did you mean 'train'?") != std::string::npos);
    CHECK(test::run_cli({"chek"}).err.find("did you mean 'check'?") != std::string::npos);
    auto r = test::run_cli({"check", (test::source_dir() / "graphs/baseline.toml").string(),
                            (test::source_dir() / "tests/bad/unknown_op.toml").string()});
    CHECK(r.code == 2);
    CHECK(r.out.find("1 ok, 1 failed") != std::string::npos);
  }

  TEST_CASE("engine draw writes an SVG with a box per node and stage clusters, and DOT that dot reads") {
    test::TempDir dir;
    auto baseline = (test::source_dir() / "graphs/baseline.toml").string();
    auto r = test::run_cli({"draw", baseline, "-o", (dir / "a.svg").string()});
    REQUIRE(r.code == 0);
    std::string svg = test::read_file(dir / "a.svg");
    CHECK(svg.find("<svg") != std::string::npos);
    CHECK(svg.find("</svg>") != std::string::npos);
    CHECK(svg.find("layer3.1") != std::string::npos);
    CHECK(svg.find("cluster_layer2") != std::string::npos);
    CHECK(svg.find("2,785,354") != std::string::npos);

    REQUIRE(test::run_cli({"draw", baseline, "--expand", "-o", (dir / "b.dot").string()}).code == 0);
    std::string dot = test::read_file(dir / "b.dot");
    CHECK(dot.find("layer2.0.downsample.0") != std::string::npos);  // blocks drawn open
    CHECK(std::system(("dot -Tsvg " + (dir / "b.dot").string() + " -o " + (dir / "b.svg").string()).c_str()) == 0);
    CHECK(fs::file_size(dir / "b.svg") > 1000);

    CHECK(test::run_cli({"draw", baseline, "-o", (dir / "a.bmpx").string()}).code == 2);
  }

  TEST_CASE("engine config prints the resolved graph with docs, and it checks again") {
    test::TempDir dir;
    auto r = test::run_cli({"config", (test::source_dir() / "graphs/baseline.toml").string(), "--set", "train.lr=0.5"});
    REQUIRE(r.code == 0);
    CHECK(r.out.find("lr = 0.5") != std::string::npos);
    CHECK(r.out.find("# learning rate") != std::string::npos);
    CHECK(r.out.find("[[layers]]") != std::string::npos);
    auto f = dir.write("resolved.toml", r.out);
    CHECK(test::run_cli({"check", f.string()}).code == 0);
  }

  TEST_CASE("engine ops and engine info list what the registry and the graph hold") {
    auto ops = test::run_cli({"ops"});
    for (const char* op : {"conv2d", "resnet_stages", "leaky_relu", "negative_slope"})
      CHECK(ops.out.find(op) != std::string::npos);
    auto info = test::run_cli({"info", (test::source_dir() / "graphs/baseline.toml").string()});
    CHECK(info.code == 0);
    CHECK(info.out.find("Total params: 2,785,354") != std::string::npos);
    CHECK(info.out.find("(layer1): Sequential") != std::string::npos);
  }
}
