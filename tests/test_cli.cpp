// The command line: exit codes, the catalogue of bad graphs, drawings, config printing, and the
// conventions of docs/cli.md (version, help, one spelling per meaning, --json, completion).
#include <doctest/doctest.h>

#include <regex>

#include "engine/nn/build_info.hpp"
#include "tests/support.hpp"

namespace fs = std::filesystem;

namespace {
std::string baseline() { return (test::source_dir() / "graphs/baseline.toml").string(); }

// Runs a Python check on a JSON file (toml++ reads no JSON): exit 0 when `assertions` hold.
int python_json_check(const fs::path& file, const std::string& assertions) {
  const std::string code = "import json,sys; d=json.load(open(sys.argv[1])); " + assertions;
  return std::system(("/usr/bin/python3 -c '" + code + "' " + file.string()).c_str());
}

// The working directory for a scope: commands that write runs/<name> write into a temporary one.
struct InDir {
  fs::path old = fs::current_path();
  explicit InDir(const fs::path& dir) { fs::current_path(dir); }
  ~InDir() { fs::current_path(old); }
};
}  // namespace

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

  TEST_CASE("engine --version names the engine, LibTorch, CUDA and oneDNN with its ISA") {
    auto r = test::run_cli({"--version"});
    CHECK(r.code == 0);
    INFO(r.out);
    CHECK(r.out.find(std::string("engine ") + ENGINE_VERSION + "\n") != std::string::npos);
    CHECK(std::regex_search(r.out, std::regex("\nLibTorch [0-9]+\\.[0-9]+")));
    CHECK(std::regex_search(r.out, std::regex("\nCUDA (yes|no|built in)")));
    CHECK(std::regex_search(r.out, std::regex("\noneDNN .*ISA [a-z0-9_]+")));

    CHECK(std::regex_search(r.out, std::regex("\nkernels loops (avx512|avx2|baseline)")));
    // The cap as oneDNN takes it: AVX2 has no bf16 at all.
    setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 1);
    auto capped = test::run_cli({"--version"});
    unsetenv("ONEDNN_MAX_CPU_ISA");
    CHECK(capped.out.find("ISA avx2, bf16 none, ONEDNN_MAX_CPU_ISA=AVX2") != std::string::npos);
  }

  TEST_CASE("engine help CMD shows the command's flags with their defaults; a misspelt one gets a suggestion") {
    auto all = test::run_cli({"help"});
    CHECK(all.code == 0);
    CHECK(all.out.find("report") != std::string::npos);
    auto time = test::run_cli({"help", "time"});
    CHECK(time.code == 0);
    INFO(time.out);
    CHECK(time.out.find("--iterations") != std::string::npos);
    CHECK(std::regex_search(time.out, std::regex("--iterations [^\n]*=10")));               // the default
    CHECK(test::run_cli({"help", "train"}).out.find("--stop-after") != std::string::npos);  // an alias
    auto typo = test::run_cli({"help", "rnu"});
    CHECK(typo.code == 2);
    CHECK(typo.err.find("did you mean 'run'?") != std::string::npos);
    CHECK(test::run_cli({"run", "--help"}).out.find("--run-dir") != std::string::npos);
  }

  TEST_CASE("an unknown flag gets the nearest known one, like an unknown command") {
    auto r = test::run_cli({"run", baseline(), "--stop-aftr", "1"});
    CHECK(r.code == 2);
    CHECK(r.err.find("engine run has no option '--stop-aftr'; did you mean '--stop-after'?") != std::string::npos);
    auto json = test::run_cli({"check", "--jsn", baseline()});
    CHECK(json.code == 2);
    CHECK(json.err.find("did you mean '--json'?") != std::string::npos);
    auto top = test::run_cli({"--versoin"});
    CHECK(top.code == 2);
    CHECK(top.err.find("did you mean '--version'?") != std::string::npos);
    CHECK(test::run_cli({"check", baseline(), "--set=train.lr=0.5"}).code == 0);  // --flag=value is known
  }

  TEST_CASE("a command that takes one file refuses a second; check, info and draw do every file") {
    const std::string other = (test::source_dir() / "graphs/3.1-A.toml").string();
    for (const char* cmd : {"run", "train", "test", "time", "config", "study"}) {
      auto r = test::run_cli({cmd, baseline(), other});
      CAPTURE(cmd);
      CHECK(r.code == 2);
      CHECK(r.err.find("takes one file, got 2") != std::string::npos);
    }
    auto info = test::run_cli({"info", baseline(), other});
    CHECK(info.code == 0);
    CHECK(info.out.find("baseline") != std::string::npos);
    CHECK(info.out.find("3.1-A") != std::string::npos);
    CHECK(info.out.find("(layer1): Sequential") != info.out.rfind("(layer1): Sequential"));  // two models

    test::TempDir dir;
    InDir in(dir.path());
    auto draw = test::run_cli({"draw", baseline(), other});
    CHECK(draw.code == 0);
    CHECK(fs::exists(dir / "runs/baseline/architecture.svg"));
    CHECK(fs::exists(dir / "runs/3.1-A/architecture.svg"));
    CHECK(test::run_cli({"draw", baseline(), other, "-o", "x.svg"}).code == 2);  // one -o, two graphs
  }

  TEST_CASE("one spelling per meaning: --run-dir, -o/--output; the old --out still works with a warning") {
    test::TempDir dir;
    auto draw = test::run_cli({"draw", baseline(), "--out", (dir / "old.svg").string()});
    CHECK(draw.code == 0);
    CHECK(fs::exists(dir / "old.svg"));
    CHECK(draw.err.find("warning: engine draw --out is now -o/--output") != std::string::npos);
    auto now = test::run_cli({"draw", baseline(), "--output", (dir / "new.svg").string()});
    CHECK(now.code == 0);
    CHECK(fs::exists(dir / "new.svg"));
    CHECK(now.err.find("warning") == std::string::npos);
    // run: the warning comes before anything runs (here the data check refuses the run).
    auto run = test::run_cli({"run", baseline(), "--out", (dir / "r").string(), "--data", (dir / "no-data").string()});
    CHECK(run.err.find("warning: engine run --out is now --run-dir") != std::string::npos);
    auto help = test::run_cli({"help", "run"});
    CHECK(help.out.find("--out") == std::string::npos);  // hidden from the help
  }

  TEST_CASE("engine run checks --data before it measures the plan or makes the run directory") {
    test::TempDir dir;
    auto missing =
        test::run_cli({"run", baseline(), "--run-dir", (dir / "run").string(), "--data", (dir / "no-data").string()});
    CHECK(missing.code == 2);
    CHECK(missing.err.find("does not exist") != std::string::npos);
    CHECK(missing.out.find("memory format") == std::string::npos);
    CHECK_FALSE(fs::exists(dir / "run"));
    // A folder, but not data: the format's own files are missing.
    auto not_data = test::run_cli(
        {"run", baseline(), "--run-dir", (dir / "run").string(), "--data", (test::source_dir() / "graphs").string()});
    CHECK(not_data.code == 2);
    CHECK(not_data.err.find("wnids.txt") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "run"));
  }

  TEST_CASE("engine report compares run directories trained anywhere, as well as graph files") {
    test::TempDir dir;
    test::write_tiny_dataset(dir / "data");
    auto graph = dir.write("tiny.toml", test::tiny_graph("tiny", "")).string();
    auto trained = test::run_cli({"run", graph, "--run-dir", (dir / "runs-alpha").string(), "--data",
                                  (dir / "data").string(), "--set", "train.epochs=1"});
    REQUIRE(trained.code == 0);
    fs::copy(dir / "runs-alpha", dir / "runs-beta", fs::copy_options::recursive);
    auto r = test::run_cli(
        {"report", (dir / "runs-alpha").string(), (dir / "runs-beta").string(), "-o", (dir / "report.md").string()});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const std::string md = test::read_file(dir / "report.md");
    CHECK(md.find("runs-alpha") != std::string::npos);
    CHECK(md.find("runs-beta") != std::string::npos);
    auto not_run = test::run_cli({"report", (dir / "data").string()});
    CHECK(not_run.code == 2);
    CHECK(not_run.err.find("not a run directory") != std::string::npos);
  }

  TEST_CASE("--json: check, info, ops and config print one object with stable keys") {
    test::TempDir dir;
    const std::string bad = (test::source_dir() / "tests/bad/unknown_op.toml").string();
    auto check = test::run_cli({"check", "--json", baseline(), bad});
    CHECK(check.code == 2);
    auto f = dir.write("check.json", check.out);
    CHECK(python_json_check(f,
                            "assert d[\"ok\"] == 1 and d[\"failed\"] == 1; a, b = d[\"files\"]; "
                            "assert a[\"kind\"] == \"graph\" and a[\"graph\"][\"params\"] == 2785354; "
                            "assert b[\"kind\"] == \"error\" and \"unknown_op.toml:\" in b[\"error\"]") == 0);
    auto info = test::run_cli({"info", "--json", baseline()});
    CHECK(info.code == 0);
    f = dir.write("info.json", info.out);
    CHECK(python_json_check(f,
                            "g = d[\"graphs\"][0]; assert g[\"name\"] == \"baseline\" and g[\"params\"] == 2785354; "
                            "assert len(g[\"output\"]) == 1; "
                            "assert \"layer2.0\" in [c[\"name\"] for n in g[\"nodes\"] for c in n[\"children\"]]; "
                            "assert \"Sequential\" in g[\"model\"]") == 0);
    auto ops = test::run_cli({"ops", "--json"});
    f = dir.write("ops.json", ops.out);
    CHECK(python_json_check(f,
                            "c = [o for o in d[\"ops\"] if o[\"name\"] == \"conv2d\"][0]; "
                            "p = {q[\"name\"]: q for q in c[\"params\"]}; assert c[\"kind\"] == \"conv\"; "
                            "assert p[\"out\"][\"required\"] and p[\"stride\"][\"default\"] == 1") == 0);
    auto config = test::run_cli({"config", "--json", baseline(), "--set", "train.lr=0.5"});
    f = dir.write("config.json", config.out);
    CHECK(python_json_check(f, "assert d[\"train\"][\"lr\"] == 0.5 and d[\"name\"] == \"baseline\"") == 0);
    // A failure fails the check (the helper itself can fail).
    CHECK(python_json_check(f, "assert d[\"train\"][\"lr\"] == 0.25") != 0);
  }

  TEST_CASE("bash completion: engine <TAB> lists the commands, engine run graphs/<TAB> the graph files") {
    test::TempDir dir;
    const std::string script = (test::source_dir() / "tools/engine-completion.bash").string();
    const std::string out = (dir / "out").string();
    auto complete = [&](const std::string& words, int cword) {
      return "COMP_WORDS=(" + std::string(ENGINE_BINARY) + " " + words + "); COMP_CWORD=" + std::to_string(cword) +
             "; _engine; printf '%s\\n' \"${COMPREPLY[@]}\" >> " + out + "; echo --- >> " + out + "; ";
    };
    const std::string commands = "source " + script + "; cd " + test::source_dir().string() + "; " + complete("''", 1) +
                                 complete("run graphs/", 2) + complete("run --stop", 2) + complete("help re", 2);
    dir.write("script.sh", commands);
    REQUIRE(std::system(("bash " + (dir / "script.sh").string()).c_str()) == 0);
    const std::string text = test::read_file(out);
    INFO(text);
    std::vector<std::string> parts;
    for (size_t at = 0, next; (next = text.find("---\n", at)) != std::string::npos; at = next + 4)
      parts.push_back(text.substr(at, next - at));
    REQUIRE(parts.size() == 4);
    // Every command the binary knows (its help lists them), and nothing else but --help/--version.
    auto help = test::run_cli({"help"}).out;
    std::string listed = help.substr(help.find("Subcommands:"));
    size_t commands_found = 0;
    const std::regex command_line("\n  ([a-z]+) ");
    for (std::sregex_iterator it(listed.begin(), listed.end(), command_line), end; it != end; ++it) {
      CHECK(("\n" + parts[0]).find("\n" + (*it)[1].str() + "\n") != std::string::npos);
      ++commands_found;
    }
    CHECK(commands_found >= 12);
    CHECK(parts[0].find("--version") != std::string::npos);
    CHECK(parts[1].find("graphs/baseline.toml\n") != std::string::npos);
    CHECK(parts[1].find("graphs/3.1-A.toml\n") != std::string::npos);
    CHECK(parts[2] == "--stop-after\n");
    CHECK(parts[3] == "report\n");
  }
}
